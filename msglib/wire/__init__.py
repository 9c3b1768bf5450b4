"""``msglib serve``: Kafka's wire protocol in front of msglib's logs and coordinators.

``codec`` and ``specs`` (the binary encoding and the field tables of the messages served) sit on the
protocol floor; ``broker``, ``handlers`` and ``server`` drive the mechanisms (logs, group and transaction
coordinators) and sit above them. See docs/wire-protocol.md.
"""
