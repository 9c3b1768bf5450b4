"""msglib: the mechanics of messaging systems, small enough to read.

Each subpackage is one mechanism from the course (the log, the simulated
cluster, consumer groups, transactions, queues, event sourcing...). The
notebooks in ``notebooks/`` walk through them module by module.
"""
__version__ = "0.1.0"
