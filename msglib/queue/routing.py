"""Exchanges and bindings: how a published message finds its queues.

A publisher never writes to a queue directly. It publishes to an *exchange*
with a *routing key*; *bindings* (queue, exchange, key or arguments) tell the
exchange which queues want which messages. Four exchange types:

=========  ====================================================================
direct     queues bound with exactly the routing key
fanout     every bound queue; the key is ignored (publish-subscribe)
topic      queues whose binding *pattern* matches the key, word by word:
           ``*`` is exactly one word, ``#`` is zero or more words
headers    queues whose binding arguments match the message headers
           (``x-match: all`` every pair, ``any`` at least one)
=========  ====================================================================

The default exchange ``""`` is a direct exchange every queue is bound to by
its own name, which is why ``publish("", "tasks", ...)`` "sends to the queue
tasks".

A message routed to several queues is *copied*: each queue holds and delivers
its own copy. No queue matched → the message is *unroutable* and dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")

TopicMatcher = Callable[[str, str], bool]


def topic_matches(pattern: str, routing_key: str) -> bool:
    """Does the binding ``pattern`` match ``routing_key`` (topic-exchange rules)?

    Both are dot-separated words. ``*`` matches exactly one word; ``#`` matches
    zero or more words; any other word matches only itself. An empty key has
    no words (so ``#`` matches it and ``*`` does not).

    >>> topic_matches("order.*", "order.created"), topic_matches("order.*", "order.eu.created")
    (True, False)
    >>> topic_matches("order.#", "order"), topic_matches("#.created", "order.eu.created")
    (True, True)
    """
    pattern_words = pattern.split(".") if pattern else []
    key_words = routing_key.split(".") if routing_key else []
    end = len(pattern_words)

    def skip_hashes(states: set[int]) -> set[int]:
        # '#' may match zero words: being before a '#' means also being after it.
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < end and pattern_words[i] == "#" and i + 1 not in states:
                states.add(i + 1)
                todo.append(i + 1)
        return states

    # states: positions in the pattern reachable after reading the key's words so far
    states = skip_hashes({0})
    for word in key_words:
        following: set[int] = set()
        for i in states:
            if i == end:
                continue                       # the pattern is used up; this word cannot match
            if pattern_words[i] == "#":
                following.add(i)               # '#' swallows this word and may swallow more
            elif pattern_words[i] == "*" or pattern_words[i] == word:
                following.add(i + 1)
        states = skip_hashes(following)
        if not states:
            return False
    return end in states


def headers_match(binding_args: dict, headers: dict) -> bool:
    """The headers exchange's rule. ``x-match`` is ``all`` (default) or ``any``;
    binding keys starting with ``x-`` are ignored (``all-with-x`` / ``any-with-x``
    include them)."""
    mode = binding_args.get("x-match", "all")
    if mode not in ("all", "any", "all-with-x", "any-with-x"):
        raise ValueError(f"x-match must be 'all', 'any', 'all-with-x' or 'any-with-x', got {mode!r}")
    with_x = mode.endswith("-with-x")
    pairs = [(k, v) for k, v in binding_args.items() if k != "x-match" and (with_x or not k.startswith("x-"))]
    hits = [k in headers and headers[k] == v for k, v in pairs]
    if mode.startswith("all"):
        return all(hits)
    return any(hits)


@dataclass(frozen=True)
class Binding:
    """``queue`` receives messages from ``exchange`` that match ``routing_key`` / ``arguments``."""

    exchange: str
    queue: str
    routing_key: str = ""
    arguments: tuple = ()          # headers exchange: sorted (key, value) pairs

    @property
    def args(self) -> dict:
        return dict(self.arguments)


@dataclass
class Exchange:
    """A named router. ``route`` returns the queues a message goes to."""

    name: str
    type: str = "direct"
    matcher: TopicMatcher = topic_matches      # the topic rule (a seam: module 01 swaps it)
    bindings: list[Binding] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.type not in EXCHANGE_TYPES:
            raise ValueError(f"unknown exchange type {self.type!r}; use one of {', '.join(EXCHANGE_TYPES)}")

    def route(self, routing_keys: list[str], headers: dict) -> list[str]:
        """Queues (in binding order, each once) for a message with these keys and headers."""
        out: dict[str, None] = {}
        for b in self.bindings:
            if self.type == "fanout":
                hit = True
            elif self.type == "direct":
                hit = b.routing_key in routing_keys
            elif self.type == "topic":
                hit = any(self._topic(b.routing_key, key) for key in routing_keys)
            else:
                hit = headers_match(b.args, headers)
            if hit:
                out.setdefault(b.queue, None)
        return list(out)

    def _topic(self, pattern: str, key: str) -> bool:
        return bool(self.matcher(pattern, key))   # a truthy match object counts as a match


__all__ = ["EXCHANGE_TYPES", "topic_matches", "headers_match", "Binding", "Exchange", "TopicMatcher"]
