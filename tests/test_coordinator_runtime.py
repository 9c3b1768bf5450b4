"""The one coordinator runtime (msglib.coordinator): persist-then-reply, load by replay, keyed timers, crashes."""
from __future__ import annotations

from typing import Any

import pytest

from msglib.coordinator import CoordinatorNode, CoordinatorRuntime
from msglib.sim.core import Simulation
from msglib.sim.network import Network


class KV:
    """A tiny shard: a table rebuilt from ["kv", name] records."""

    def __init__(self) -> None:
        self.table: dict[str, Any] = {}
        self.replayed = 0

    def replay(self, key: list, value: dict | None) -> None:
        self.replayed += 1
        if value is None:
            self.table.pop(key[1], None)
        else:
            self.table[key[1]] = value["v"]

    def reset(self) -> None:
        self.table = {}


class KVNode(CoordinatorNode):
    def __init__(self, network: Network, **kw: Any) -> None:
        self.kv = KV()
        super().__init__("kv-coordinator", network, self.kv, "__kv_state", **kw)
        self.fired: list[str] = []
        self.start()

    def put(self, name: str, v: Any) -> None:
        self.runtime.write([(["kv", name], {"v": v})])


def make(**kw: Any) -> tuple[Simulation, KVNode]:
    sim = Simulation(seed=1)
    return sim, KVNode(Network(sim), **kw)


def test_a_write_is_replayed_at_once_and_survives_a_power_loss():
    sim, node = make()
    node.put("a", 1)
    node.put("b", 2)
    node.runtime.write([(["kv", "a"], None)])             # a tombstone deletes
    assert node.kv.table == {"b": 2}
    node.crash(power_loss=True)
    assert node.kv.table == {}                             # a crash forgets the memory
    node.restart()
    assert node.kv.table == {"b": 2}                       # every written record was flushed before write returned
    assert node.trace[-1]["event"] == "coordinator restarted"


def test_without_flush_a_power_loss_loses_what_was_written():
    sim, node = make(flush=False)
    node.put("a", 1)
    node.crash(power_loss=True)
    node.restart()
    assert node.kv.table == {}                             # the contrast that makes the flush worth having


def test_load_replays_latest_value_per_key_and_compaction_keeps_the_table():
    sim, node = make(segment_bytes=512)
    for i in range(300):
        node.put(f"k{i % 3}", i)
    before = dict(node.kv.table)
    assert node.runtime.maybe_compact()
    assert len(list(node.runtime.records())) < 100
    assert node.runtime.load() == len(list(node.runtime.records()))
    assert node.kv.table == before == {"k0": 297, "k1": 298, "k2": 299}


def test_keyed_timers_replace_cancel_and_die_with_a_crash():
    sim, node = make()
    rt = node.runtime
    rt.schedule("x", 10, node.fired.append, "x-old")
    rt.schedule("x", 20, node.fired.append, "x")           # the same key: replaces the first
    rt.schedule("y", 5, node.fired.append, "y")
    rt.schedule("z", 5, node.fired.append, "z")
    assert rt.cancel("z") and not rt.cancel("z")
    sim.run(until=30)
    assert node.fired == ["y", "x"] and not rt.is_scheduled("x")
    rt.schedule("late", 10, node.fired.append, "late")
    node.crash()
    node.restart()
    sim.run(until=100)
    assert node.fired == ["y", "x"] and not rt.is_scheduled("late")


def test_bad_records_and_shards_are_refused_with_a_clear_error():
    sim, node = make()
    with pytest.raises(TypeError, match="JSON object"):
        node.runtime.write([(["kv", "a"], 5)])
    with pytest.raises(ValueError, match="non-empty JSON list"):
        node.runtime.write([([], {"v": 1})])
    with pytest.raises(TypeError, match="CoordinatorShard"):
        CoordinatorRuntime(node, object(), "__x")
    with pytest.raises(ValueError, match="delay_ms"):
        node.runtime.schedule("t", -1, print)
    node.crash()
    with pytest.raises(RuntimeError, match="not open"):
        node.put("a", 1)
