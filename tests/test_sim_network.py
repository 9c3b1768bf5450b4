"""The simulated network, nodes, faults and histories."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from msglib.sim import (Crash, Cut, FaultSchedule, Heal, HealAll, History, Network, Node, Partition,
                        Pause, Restart, Resume, Simulation, Slow, apply_fault, random_schedule)


class Recorder(Node):
    def __init__(self, name, network):
        super().__init__(name, network)
        self.got = []
        self.restarts = 0
        self.crashes = []

    def on_message(self, src, msg):
        self.got.append((self.sim.now, src, msg))

    def on_crash(self, power_loss):
        self.crashes.append(power_loss)

    def on_restart(self):
        self.restarts += 1


def make(n=3, **kw):
    sim = Simulation(seed=kw.pop("seed", 1))
    net = Network(sim, **kw)
    nodes = [Recorder(f"n{i}", net) for i in range(n)]
    return sim, net, nodes


def test_messages_arrive_after_latency_in_fifo_order():
    sim, net, (a, b, _) = make(latency_ms=(1.0, 10.0))
    for i in range(50):
        a.send("n1", i)
    sim.run()
    assert [m for _, _, m in b.got] == list(range(50))
    times = [t for t, _, _ in b.got]
    assert times == sorted(times) and all(1.0 <= t <= 10.0 for t in times)


def test_without_fifo_messages_can_overtake():
    sim, net, (a, b, _) = make(latency_ms=(1.0, 10.0), fifo=False)
    for i in range(50):
        a.send("n1", i)
    sim.run()
    got = [m for _, _, m in b.got]
    assert sorted(got) == list(range(50)) and got != list(range(50))


def test_same_seed_same_deliveries_different_seed_differs():
    def run(seed):
        sim, net, (a, b, _) = make(seed=seed, latency_ms=(1.0, 10.0), loss=0.2, duplicate=0.1)
        for i in range(200):
            a.send("n1", i)
        sim.run()
        return b.got
    assert run(7) == run(7)
    assert run(7) != run(8)


def test_loss_and_duplication_rates_are_roughly_right():
    sim, net, (a, b, _) = make(loss=0.3, duplicate=0.2)
    for i in range(2000):
        a.send("n1", i)
    sim.run()
    assert 450 < net.stats["dropped_loss"] < 750
    assert 200 < net.stats["duplicated"] < 400
    assert len(b.got) == 2000 - net.stats["dropped_loss"] + net.stats["duplicated"]


def test_cut_drops_both_ways_and_in_flight_messages_heal_restores():
    sim, net, (a, b, c) = make(latency_ms=(5.0, 5.0))
    a.send("n1", "in flight")
    sim.run(until=1.0)
    net.cut("n0", "n1")
    a.send("n1", "x")
    b.send("n0", "y")
    a.send("n2", "z")
    sim.run()
    assert b.got == [] and a.got == [] and [m for *_, m in c.got] == ["z"]
    net.heal("n0", "n1")
    a.send("n1", "after")
    sim.run()
    assert [m for *_, m in b.got] == ["after"]


def test_one_way_cut():
    sim, net, (a, b, _) = make()
    net.cut("n0", "n1", one_way=True)
    a.send("n1", 1)
    b.send("n0", 2)
    sim.run()
    assert b.got == [] and [m for *_, m in a.got] == [2]


def test_partition_splits_groups_but_leaves_unnamed_nodes_connected():
    sim, net, (a, b, c) = make()
    client = Recorder("client", net)
    net.partition([["n0"], ["n1", "n2"]])
    a.send("n1", "no")
    b.send("n2", "yes")
    client.send("n0", "c0")
    client.send("n1", "c1")
    sim.run()
    assert [m for *_, m in b.got] == ["c1"] and [m for *_, m in c.got] == ["yes"]
    assert [m for *_, m in a.got] == ["c0"]
    net.heal_all()
    a.send("n1", "ok")
    sim.run()
    assert [m for *_, m in b.got] == ["c1", "ok"]  # "no" was dropped for good


def test_slow_node_adds_latency():
    sim, net, (a, b, _) = make(latency_ms=(1.0, 1.0))
    net.slow("n1", 100.0)
    a.send("n1", 1)
    sim.run()
    assert b.got[0][0] == pytest.approx(101.0)


def test_crash_kills_timers_and_drops_messages_restart_runs_again():
    sim, net, (a, b, _) = make()
    fired = []
    b.after(10.0, fired.append, "old timer")
    b.crash(power_loss=True)
    a.send("n1", "lost")
    sim.run()
    assert fired == [] and b.got == [] and b.crashes == [True]
    assert net.stats["dropped_dead"] == 1
    b.restart()
    b.after(1.0, fired.append, "new timer")
    a.send("n1", "seen")
    sim.run()
    assert fired == ["new timer"] and [m for *_, m in b.got] == ["seen"] and b.restarts == 1


def test_pause_holds_timers_and_messages_until_resume_in_order():
    sim, net, (a, b, _) = make(latency_ms=(1.0, 1.0))
    order = []
    b.on_message = lambda src, msg: order.append(("msg", msg, sim.now))
    b.after(5.0, lambda: order.append(("timer", None, sim.now)))
    b.pause()
    a.send("n1", "m1")
    sim.run(until=6.0)
    a.send("n1", "m2")
    sim.run(until=50.0)
    assert order == []
    b.resume()
    sim.run()
    assert [(k, m) for k, m, _ in order] == [("msg", "m1"), ("timer", None), ("msg", "m2")]
    assert all(t == 50.0 for *_, t in order)


def test_bad_arguments_are_explained():
    sim = Simulation()
    with pytest.raises(ValueError, match="probability"):
        Network(sim, loss=1.5)
    with pytest.raises(ValueError, match="latency_ms"):
        Network(sim, latency_ms=(5, 1))
    net = Network(sim)
    Recorder("a", net)
    with pytest.raises(ValueError, match="already on this network"):
        Recorder("a", net)
    with pytest.raises(ValueError, match="no node named 'zz'"):
        net.cut("a", "zz")
    with pytest.raises(ValueError, match="no node named 'zz'"):  # a typo would otherwise heal nothing, silently
        net.heal("zz", "a")


def test_run_until_refuses_to_reenter_from_a_callback():
    sim = Simulation()
    errors = []

    def inner():
        try:
            sim.run_until(lambda: False)
        except RuntimeError as e:
            errors.append(str(e))
    sim.schedule(1.0, inner)
    sim.run()
    assert errors and "inside a simulation callback" in errors[0]


def test_run_until_stops_when_done_or_at_deadline():
    sim = Simulation()
    box = []
    sim.schedule(10.0, box.append, 1)
    sim.schedule(20.0, box.append, 2)
    assert sim.run_until(lambda: len(box) == 1) and sim.now == 10.0
    assert not sim.run_until(lambda: len(box) == 5, until=15.0) and sim.now == 15.0
    assert sim.run_until(lambda: len(box) == 2) and sim.now == 20.0


# -- faults ------------------------------------------------------------------------

def test_apply_fault_drives_network_and_nodes():
    sim, net, (a, b, c) = make()
    apply_fault(Crash("n1"), net)
    assert not b.alive
    apply_fault(Restart("n1"), net)
    assert b.alive
    apply_fault(Partition((("n0",), ("n1", "n2"))), net)
    assert not net.connected("n0", "n1") and net.connected("n1", "n2")
    apply_fault(HealAll(), net)
    apply_fault(Cut("n0", "n2"), net)
    assert not net.connected("n2", "n0")
    apply_fault(Heal("n0", "n2"), net)
    assert net.cuts == set()
    apply_fault(Pause("n2"), net)
    assert c.paused
    apply_fault(Resume("n2"), net)
    assert not c.paused
    apply_fault(Slow("n2", 30.0), net)
    with pytest.raises(ValueError, match="no node named"):
        apply_fault(Crash("nope"), net)


def test_schedule_round_trips_through_json():
    sched = FaultSchedule([(10.0, Crash("b0", power_loss=True)), (5.0, Partition((("b0",), ("b1", "b2")))),
                           (20.0, Slow("b1", 12.5)), (30.0, HealAll()), (40.0, Restart("b0"))])
    assert [t for t, _ in sched] == [5.0, 10.0, 20.0, 30.0, 40.0]
    again = FaultSchedule.from_json(json.loads(sched.dumps()))
    assert again.entries == sched.entries
    assert "power loss" in sched.describe()


@settings(database=None, deadline=None, max_examples=60)
@given(seed=st.integers(0, 10**6), max_down=st.one_of(st.none(), st.integers(1, 3)))
def test_random_schedules_are_reproducible_consistent_and_end_healed(seed, max_down):
    nodes = ["b0", "b1", "b2"]
    s1 = random_schedule(seed, nodes, 5000.0, max_down=max_down)
    assert s1.entries == random_schedule(seed, nodes, 5000.0, max_down=max_down).entries
    crashed, paused, slowed, cuts, parted = set(), set(), set(), set(), False
    for t, f in s1:
        assert 0 <= t <= 5000.0
        if isinstance(f, Crash):
            assert f.node not in crashed
            crashed.add(f.node)
            paused.discard(f.node)
            assert max_down is None or len(crashed) <= max_down
        elif isinstance(f, Restart):
            crashed.remove(f.node)
        elif isinstance(f, Pause):
            assert f.node not in crashed
            paused.add(f.node)
        elif isinstance(f, Resume):
            paused.remove(f.node)
        elif isinstance(f, Slow):
            (slowed.add if f.extra_ms else slowed.discard)(f.node)
        elif isinstance(f, Cut):
            cuts.add((f.a, f.b))
        elif isinstance(f, Heal):
            cuts.discard((f.a, f.b))
        elif isinstance(f, Partition):
            parted = True
        elif isinstance(f, HealAll):
            cuts, parted = set(), False
    assert not crashed and not paused and not slowed and not cuts and not parted


def test_random_schedule_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown fault kinds"):
        random_schedule(1, ["a", "b"], 100.0, kinds=["meteor"])


# -- histories ---------------------------------------------------------------------

def test_history_records_pairs_prints_saves_and_loads(tmp_path):
    h = History(meta={"seed": 3})
    inv = h.invoke(1.0, "p1", "send", {"key": "t-0", "value": 7})
    h.fault(2.0, Crash("b1"))
    h.complete(inv, 3.0, "ok", {"key": "t-0", "value": 7, "offset": 4})
    pinv = h.invoke(4.0, "r", "poll", {"from": {"t-0": 0}})
    text = h.format()
    assert "t-0 7 @ offset 4" in text and "crash b1" in text
    pairs = list(h.completions())
    assert [(i.index, c.index if c else None) for i, c in pairs] == [(0, 2), (3, None)]
    path = tmp_path / "h.json"
    h.save(path)
    back = History.load(path)
    assert back.same_as(h) and back.meta == {"seed": 3}
    sub = h.subset([2])
    assert [op.index for op in sub] == [0, 2]
    assert pinv.type == "invoke"
    with pytest.raises(ValueError, match="not an invoke"):
        h.complete(h[2], 5.0, "ok")
    with pytest.raises(ValueError, match="runner"):
        h.replay()


def test_a_restarted_node_does_not_receive_messages_sent_to_its_previous_life():
    sim, net, (a, b, _) = make(latency_ms=(10.0, 10.0))
    a.send("n1", "to the old process")
    sim.run(until=2.0)
    b.crash()
    b.restart()
    a.send("n1", "to the new one")
    sim.run()
    assert [m for *_, m in b.got] == ["to the new one"]


# -- gaps found by mutation spot checks ----------------------------------------------

def test_a_slow_sender_is_slow_too_and_zero_restores_normal_latency():
    sim, net, (a, b, _) = make(latency_ms=(1.0, 1.0))
    net.slow("n0", 40.0)
    assert net.slowed == {"n0": 40.0}
    a.send("n1", "slow")
    sim.run()
    net.slow("n0", 0.0)
    assert net.slowed == {}
    start = sim.now
    a.send("n1", "normal")
    sim.run()
    assert [(t, m) for t, _, m in b.got] == [(pytest.approx(41.0), "slow"), (pytest.approx(start + 1.0), "normal")]
    with pytest.raises(ValueError, match="cannot be negative"):
        net.slow("n0", -5.0)
    with pytest.raises(ValueError, match="no node named"):
        net.slow("zz", 5.0)


def test_latency_can_be_a_function_of_the_link():
    sim = Simulation(seed=1)
    net = Network(sim, latency_ms=lambda rng, src, dst: 3.0 if dst == "n1" else 30.0)
    a, b, c = (Recorder(f"n{i}", net) for i in range(3))
    a.send("n1", "near")
    a.send("n2", "far")
    sim.run()
    assert b.got[0][0] == 3.0 and c.got[0][0] == 30.0


def test_isolate_cuts_a_node_off_in_both_directions():
    sim, net, (a, b, c) = make()
    net.isolate("n1")
    a.send("n1", "in")
    b.send("n0", "out")
    a.send("n2", "others still talk")
    sim.run()
    assert b.got == [] and a.got == [] and [m for *_, m in c.got] == ["others still talk"]
    assert net.cuts == {("n1", "n0"), ("n0", "n1"), ("n1", "n2"), ("n2", "n1")}


def test_a_paused_node_sends_nothing():
    sim, net, (a, b, _) = make()
    a.pause()
    a.send("n1", "from a frozen process")
    sim.run()
    assert b.got == [] and net.stats["sent"] == 0


def test_a_crash_while_paused_forgets_what_was_held():
    sim, net, (a, b, _) = make(latency_ms=(1.0, 1.0))
    fired = []
    b.after(2.0, fired.append, "timer")
    b.pause()
    a.send("n1", "held")
    sim.run(until=10.0)
    b.crash()
    b.restart()
    b.pause()
    b.resume()  # releases only what the new process was given: nothing
    sim.run()
    assert b.got == [] and fired == []


def test_restarting_a_running_node_or_crashing_a_dead_one_changes_nothing():
    sim, net, (a, b, _) = make(latency_ms=(5.0, 5.0))
    a.send("n1", "still for this process")
    b.restart()  # already running: no new incarnation, messages in flight still arrive
    sim.run()
    assert b.restarts == 0 and b.incarnation == 0 and [m for *_, m in b.got] == ["still for this process"]
    b.crash()
    b.crash(power_loss=True)
    assert b.crashes == [False] and b.incarnation == 1


def test_every_fault_kind_round_trips_and_describes_itself():
    faults = [Crash("b0"), Crash("b1", power_loss=True), Restart("b0"), Cut("b0", "b1"),
              Cut("b0", "b2", one_way=True), Heal("b0", "b1"), Partition((("b0",), ("b1", "b2"))), HealAll(),
              Pause("b2"), Resume("b2"), Slow("b1", 12.5), Slow("b1", 0.0)]
    sched = FaultSchedule([(float(i), f) for i, f in enumerate(faults)])
    assert FaultSchedule.from_json(json.loads(sched.dumps())).entries == sched.entries
    text = sched.describe().splitlines()
    assert [line.split("ms  ", 1)[1] for line in text] == [
        "crash b0", "crash b1 (power loss: unflushed writes lost)", "restart b0", "cut b0 <-> b1", "cut b0 -> b2",
        "heal b0 <-> b1", "partition b0 | b1,b2", "heal all links", "pause b2", "resume b2", "slow b1 by 12.5 ms",
        "unslow b1"]
    assert FaultSchedule().describe() == "(no faults)"
    with pytest.raises(ValueError, match="unknown fault kind 'meteor'"):
        FaultSchedule.from_json([[1.0, {"kind": "meteor"}]])


def test_faults_added_at_the_same_time_keep_their_order():
    sched = FaultSchedule().add(10.0, Restart("b0")).add(5.0, Crash("b0")).add(10.0, HealAll())
    assert [(t, f.kind) for t, f in sched] == [(5.0, "crash"), (10.0, "restart"), (10.0, "heal_all")]


def test_random_schedule_network_only_nodes_are_cut_but_never_crashed_and_power_loss_is_passed_on():
    kinds_seen = {"controller_in_a_cut_or_partition": 0}
    for seed in range(40):
        sched = random_schedule(seed, ["b0", "b1", "b2"], 3000.0, mean_interval_ms=100.0, power_loss=True,
                                network_only=["controller"])
        for _, f in sched:
            if isinstance(f, (Crash, Restart, Pause, Resume, Slow)):
                assert f.node != "controller"
            if isinstance(f, Crash):
                assert f.power_loss
            if (isinstance(f, Cut) and "controller" in (f.a, f.b)) or (
                    isinstance(f, Partition) and any("controller" in g for g in f.groups)):
                kinds_seen["controller_in_a_cut_or_partition"] += 1
    assert kinds_seen["controller_in_a_cut_or_partition"] > 0


def test_random_schedule_needs_two_nodes_for_network_faults():
    with pytest.raises(ValueError, match="at least two nodes"):
        random_schedule(1, ["b0"], 100.0, kinds=["cut"])
    assert all(isinstance(f, (Crash, Restart)) for _, f in random_schedule(1, ["b0"], 2000.0, kinds=["crash"]))
    # one broker plus a network-only node is enough for a cut
    assert len(random_schedule(1, ["b0"], 2000.0, kinds=["cut"], network_only=["controller"])) > 0


def test_history_shows_reads_and_long_histories_briefly():
    h = History()
    inv = h.invoke(0.0, "r", "poll", {"from": {"t-0": 3}})
    assert "t-0 from 3" in inv.describe()
    done = h.complete(inv, 1.0, "ok", {"reads": {"t-0": [[o, o * 10] for o in range(3, 12)], "t-1": []}})
    line = done.describe()
    assert "t-0 [3:30, 4:40, 5:50, 6:60, 7:70, 8:80, ... (9 records)]" in line and "t-1 []" in line
    for i in range(5):
        h.invoke(2.0 + i, "p", "send", {"key": "t-0", "value": i})
    text = h.format(limit=3)
    assert len(text.splitlines()) == 4 and text.endswith("... 4 more ops")
    assert h.processes() == ["r", "p"]


def test_subset_pulls_in_the_completion_of_a_chosen_invoke():
    h = History()
    a = h.invoke(0.0, "p", "send", {"key": "k", "value": 1})
    b = h.invoke(0.5, "p", "send", {"key": "k", "value": 2})
    h.complete(b, 1.0, "ok", {"key": "k", "value": 2, "offset": 0})
    h.complete(a, 2.0, "info", error="timeout")
    assert [op.index for op in h.subset([0])] == [0, 3]
    assert [op.index for op in h.subset([2])] == [1, 2]
    assert h.subset([0]).meta == h.meta
