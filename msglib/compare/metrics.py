"""The same metrics for every model: what was delivered, twice, out of order, late, and what it cost to store.

:class:`Recorder` is the only thing the models tell about consumption: "subscriber
S's consumer C processed message M at time t" (an *effect*), "... received M and
threw it away" (client-side filtering), and "the broker now holds N message
copies". :class:`Report` turns that into numbers, the same way for every model:

* **delivered / missing**: messages a subscriber wanted (matching its pattern,
  published after it joined) that it processed at least once / not by the end
  of the run (lost, or still waiting for a redelivery);
* **duplicates**: effects beyond the first for the same message;
* **order violations**: a message processed for the first time *after* a later
  message of the same key had been processed (per subscriber, per key);
* **replay**: of the messages published *before* a subscriber joined that it
  asked for (``from_beginning``), how many it processed;
* **latency**: first processing time minus publish time, in simulated ms;
* **storage**: message copies the broker holds (one per queue a message sits
  in, one per log it is appended to), sampled after every publish, and bytes =
  copies x message size (record and index overheads left out, the same for all).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msglib.compare.workload import Message, Subscriber, Workload
from msglib.stats import percentile
from msglib.queue import topic_matches


@dataclass
class SubscriberStats:
    """One subscriber's view of a run."""

    name: str
    wanted: int = 0               # matching messages published at or after it joined
    delivered: int = 0            # ... processed at least once
    missing: int = 0              # ... not processed by the end of the run
    effects: int = 0              # every processing that took effect (first or not)
    duplicates: int = 0           # effects beyond the first per message
    order_violations: int = 0
    keys_out_of_order: int = 0
    replay_wanted: int = 0        # matching messages published before it joined, if it asked for them
    replayed: int = 0             # ... of those, processed
    unwanted: int = 0             # messages its consumers received only to throw away
    latencies: list[float] = field(default_factory=list)
    first_out_of_order: tuple | None = None   # (key, seq, after seq) of the first violation

    @property
    def replay_fraction(self) -> float | None:
        return None if not self.replay_wanted else self.replayed / self.replay_wanted


class Recorder:
    """Collects what consumers did during one run."""

    def __init__(self, messages: list[Message], subscribers: tuple[Subscriber, ...]) -> None:
        self.messages = {m.id: m for m in messages}
        self.subscribers = {s.name: s for s in subscribers}
        self.effects: dict[str, list[tuple[float, int, str]]] = {s.name: [] for s in subscribers}
        self.unwanted: dict[str, int] = {s.name: 0 for s in subscribers}
        self.storage: list[tuple[float, int]] = []

    def processed(self, sub: str, msg: Message, consumer: str, now: float) -> None:
        """Consumer ``consumer`` of ``sub`` applied the effect of ``msg`` at ``now``."""
        self.effects[sub].append((now, msg.id, consumer))

    def threw_away(self, sub: str, msg: Message) -> None:
        """``sub`` received ``msg`` but does not want it (client-side filtering)."""
        self.unwanted[sub] += 1

    def stored(self, now: float, copies: int) -> None:
        self.storage.append((now, copies))

    # ------------------------------------------------------------------ the numbers
    def stats(self, sub: Subscriber) -> SubscriberStats:
        st = SubscriberStats(sub.name, unwanted=self.unwanted[sub.name])
        wanted_after, wanted_before = set(), set()
        for m in self.messages.values():
            if m.tenant != "main" or (sub.pattern is not None and not topic_matches(sub.pattern, m.routing_key)):
                continue
            if m.produced_at >= sub.joins_at:
                wanted_after.add(m.id)
            elif sub.from_beginning:
                wanted_before.add(m.id)
        st.wanted, st.replay_wanted = len(wanted_after), len(wanted_before)
        first: dict[int, float] = {}
        highest: dict[str, int] = {}      # key -> highest seq processed so far
        bad_keys: set[str] = set()
        for now, mid, _ in sorted(self.effects[sub.name], key=lambda e: e[0]):
            st.effects += 1
            if mid in first:
                st.duplicates += 1
                continue
            first[mid] = now
            m = self.messages[mid]
            top = highest.get(m.key, -1)
            if m.seq < top:
                st.order_violations += 1
                bad_keys.add(m.key)
                if st.first_out_of_order is None:
                    st.first_out_of_order = (m.key, m.seq, top)
            else:
                highest[m.key] = m.seq
        st.keys_out_of_order = len(bad_keys)
        st.delivered = sum(1 for mid in wanted_after if mid in first)
        st.missing = st.wanted - st.delivered
        st.replayed = sum(1 for mid in wanted_before if mid in first)
        st.latencies = [first[mid] - self.messages[mid].produced_at for mid in sorted(wanted_after) if mid in first]
        return st


@dataclass
class Report:
    """Everything measured in one run of one model."""

    model: str
    workload: Workload
    seed: int
    subscribers: dict[str, SubscriberStats]
    storage: list[tuple[float, int]]
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    effects: dict[str, list[tuple[float, int, str]]] = field(default_factory=dict, repr=False)  # raw, per subscriber

    def _sum(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.subscribers.values())

    @property
    def wanted(self) -> int:
        return self._sum("wanted")

    @property
    def delivered(self) -> int:
        return self._sum("delivered")

    @property
    def missing(self) -> int:
        return self._sum("missing")

    @property
    def duplicates(self) -> int:
        return self._sum("duplicates")

    @property
    def order_violations(self) -> int:
        return self._sum("order_violations")

    @property
    def keys_out_of_order(self) -> int:
        return self._sum("keys_out_of_order")

    @property
    def unwanted(self) -> int:
        return self._sum("unwanted")

    @property
    def replay_fraction(self) -> float | None:
        """Of the history that late subscribers asked for, the fraction they got (None: nobody asked)."""
        want = self._sum("replay_wanted")
        return None if not want else self._sum("replayed") / want

    @property
    def latencies(self) -> list[float]:
        return [x for s in self.subscribers.values() for x in s.latencies]

    def latency(self, p: float) -> float:
        return percentile(self.latencies, p)

    @property
    def peak_copies(self) -> int:
        return max((c for _, c in self.storage), default=0)

    @property
    def end_copies(self) -> int:
        return self.storage[-1][1] if self.storage else 0

    @property
    def peak_bytes(self) -> int:
        return self.peak_copies * self.workload.message_bytes

    @property
    def end_bytes(self) -> int:
        return self.end_copies * self.workload.message_bytes

    def row(self) -> dict[str, Any]:
        """The headline numbers, one flat dict (a table row)."""
        replay = self.replay_fraction
        return {
            "model": self.model, "delivered": self.delivered, "missing": self.missing, "duplicates": self.duplicates,
            "order violations": self.order_violations, "keys out of order": self.keys_out_of_order,
            "replay": "-" if replay is None else f"{replay:.0%}", "unwanted": self.unwanted,
            "p50 ms": round(self.latency(50), 1), "p99 ms": round(self.latency(99), 1),
            "peak copies": self.peak_copies, "stored at end": self.end_copies,
        }

    def __repr__(self) -> str:
        r = self.row()
        return f"Report({', '.join(f'{k}={v}' for k, v in r.items())})"


__all__ = ["percentile", "SubscriberStats", "Recorder", "Report"]
