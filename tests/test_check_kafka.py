"""The history checker against hand-made histories (each anomaly, and clean ones)."""
import random

from hypothesis import given, settings, strategies as st

from msglib.check import check, divergences
from msglib.sim import Crash, History


class Builder:
    """Write histories by hand: each call advances the clock by 1 ms."""

    def __init__(self):
        self.h = History()
        self.t = 0.0

    def tick(self):
        self.t += 1.0
        return self.t

    def send(self, key, value, offset=None, type="ok", proc="p1", error=None):
        inv = self.h.invoke(self.tick(), proc, "send", {"key": key, "value": value})
        done = {"key": key, "value": value, "offset": offset} if type == "ok" else None
        self.h.complete(inv, self.tick(), type, done, error)
        return inv

    def invoke_send(self, key, value, proc="p1"):
        return self.h.invoke(self.tick(), proc, "send", {"key": key, "value": value})

    def complete(self, inv, offset=None, type="ok", error=None):
        v = dict(inv.value, offset=offset) if type == "ok" else None
        return self.h.complete(inv, self.tick(), type, v, error)

    def poll(self, key, reads, start=None, hw=None, proc="r"):
        start = reads[0][0] if start is None and reads else (start or 0)
        inv = self.h.invoke(self.tick(), proc, "poll", {"from": {key: start}})
        value = {"reads": {key: [list(r) for r in reads]},
                 "hw": {key: hw if hw is not None else (reads[-1][0] + 1 if reads else start)}}
        return self.h.complete(inv, self.tick(), "ok", value)

    def fault(self, fault):
        return self.h.fault(self.tick(), fault)


def test_a_clean_history_is_valid():
    b = Builder()
    for i in range(5):
        b.send("t-0", i, offset=i)
    b.poll("t-0", [(i, i) for i in range(3)])
    b.poll("t-0", [(3, 3), (4, 4)])
    r = check(b.h)
    assert r.valid and r.anomalies == [] and r.lost == set()
    assert "no anomalies" in r.summary()


def test_lost_write_saw_offset_2_but_never_offset_1():
    b = Builder()
    b.send("t-0", "a", 0)
    lost = b.send("t-0", "b", 1)
    b.send("t-0", "c", 2)
    b.fault(Crash("b0"))
    poll = b.poll("t-0", [(0, "a"), (2, "c")])
    r = check(b.h)
    assert not r.valid
    [a] = r.of_kind("lost-write")
    assert a.key == "t-0" and a.values == ["b"] and r.lost == {("t-0", "b")}
    assert lost.index in a.ops and poll.index in a.ops
    assert "acknowledged at offset 1" in a.message
    sub = a.sub_history(b.h)
    assert any(op.f == "crash" for op in sub), "faults inside the window belong in the story"
    assert len(sub) < len(b.h)
    assert r.of_kind("int-poll-skip"), "the read skipped offset 1, which was acknowledged"


def test_unseen_when_no_read_reaches_the_acknowledged_offset():
    b = Builder()
    b.send("t-0", "a", 0)
    b.send("t-0", "b", 1)
    b.poll("t-0", [(0, "a")])
    r = check(b.h)
    assert r.counts == {"unseen": 1} and r.lost == {("t-0", "b")}
    assert "no read ever returned it" in r.anomalies[0].message


def test_duplicate_value_at_two_offsets():
    b = Builder()
    b.send("t-0", "a", 0)
    b.send("t-0", "b", 1)
    b.poll("t-0", [(0, "a"), (1, "b"), (2, "a")])
    r = check(b.h)
    assert r.counts == {"duplicate": 1} and r.duplicated == {("t-0", "a")}
    assert "offsets [0, 2]" in r.anomalies[0].message
    assert check(b.h, allowed={"duplicate"}).valid


def test_inconsistent_offsets_and_the_lost_write_behind_them():
    b = Builder()
    b.send("t-0", "a", 0)
    b.send("t-0", "b", 1)  # acked at 1 ...
    b.poll("t-0", [(0, "a"), (1, "z")])  # ... but offset 1 later holds z
    r = check(b.h)
    assert set(r.counts) == {"inconsistent-offsets", "lost-write"}
    [inc] = r.of_kind("inconsistent-offsets")
    assert sorted(inc.values) == ["b", "z"] and "offset 1" in inc.message


def test_reorder_within_a_partition_from_one_producer():
    b = Builder()
    first = b.invoke_send("t-0", "a")
    second = b.invoke_send("t-0", "b")
    b.complete(second, 0)
    b.complete(first, 1)
    b.poll("t-0", [(0, "b"), (1, "a")])
    r = check(b.h)
    assert r.counts == {"reorder": 1}
    assert first.index in r.anomalies[0].ops and second.index in r.anomalies[0].ops
    # two different producers may interleave in any order
    b2 = Builder()
    b2.send("t-0", "a", 1, proc="p1")
    b2.send("t-0", "b", 0, proc="p2")
    b2.poll("t-0", [(0, "b"), (1, "a")])
    assert check(b2.h).valid


def test_read_past_the_high_water_mark():
    b = Builder()
    b.send("t-0", "a", 0)
    b.send("t-0", "b", 1)
    b.poll("t-0", [(0, "a"), (1, "b")], hw=1)
    assert check(b.h).counts == {"read-past-hw": 1}


def test_aborted_read_and_indefinite_sends():
    b = Builder()
    b.send("t-0", "a", 0)
    b.send("t-0", "x", type="fail", error="NotEnoughReplicasError")
    b.send("t-0", "maybe", type="info", error="KafkaTimeoutError")
    b.send("t-0", "never-read", type="info", error="KafkaTimeoutError")
    b.poll("t-0", [(0, "a"), (1, "x"), (2, "maybe")])
    r = check(b.h)
    assert r.counts == {"aborted-read": 1}
    assert "NotEnoughReplicasError" in r.anomalies[0].message


def test_info_send_that_was_read_must_have_committed():
    b = Builder()
    b.send("t-0", "a", type="info")
    b.send("t-0", "b", 1)
    b.poll("t-0", [(0, "a"), (1, "b")])
    b.poll("t-0", [(1, "b")], start=1, proc="r2")
    assert check(b.h).valid


def test_external_poll_skip_and_nonmonotonic():
    b = Builder()
    for i in range(4):
        b.send("t-0", i, i)
    b.poll("t-0", [(0, 0), (1, 1)])
    b.poll("t-0", [(3, 3)], start=2)  # continued from 2, got 3: skipped 2
    r = check(b.h)
    assert set(r.counts) == {"poll-skip", "lost-write"}  # and 2 was acknowledged, never read
    b.poll("t-0", [(2, 2)], start=2)  # a seek back to 2: no external check
    assert set(check(b.h).counts) == {"poll-skip"}
    c = Builder()
    for i in range(3):
        c.send("t-0", i, i)
    c.poll("t-0", [(0, 0), (1, 1), (0, 0), (2, 2)])
    assert set(check(c.h).counts) == {"int-nonmonotonic-poll", "int-poll-skip"}


def test_report_prints_words_and_sub_histories():
    b = Builder()
    b.send("t-0", "a", 0)
    b.send("t-0", "b", 1)
    b.send("t-0", "c", 2)
    b.poll("t-0", [(0, "a"), (2, "c")])
    text = check(b.h).report()
    assert text.startswith("INVALID") and "[lost-write]" in text and "t-0 'b' @ offset 1" in text


def _correct_history(rng, n_keys=2, n_sends=30, acks_unknown=0.2):
    """A history that a correct log could produce."""
    b = Builder()
    logs = {f"k-{k}": [] for k in range(n_keys)}
    hws = {k: 0 for k in logs}
    pos = {k: 0 for k in logs}
    for i in range(n_sends):
        key = rng.choice(sorted(logs))
        inv = b.invoke_send(key, i, proc=rng.choice(["p1", "p2"]))
        logs[key].append(i)
        if rng.random() < acks_unknown:
            b.complete(inv, type="info")
        else:
            b.complete(inv, len(logs[key]) - 1)
        hws[key] = rng.randint(hws[key], len(logs[key]))
        k = rng.choice(sorted(logs))
        if rng.random() < 0.5 and pos[k] < hws[k]:
            end = rng.randint(pos[k] + 1, hws[k])
            b.poll(k, [(o, logs[k][o]) for o in range(pos[k], end)], start=pos[k], hw=hws[k])
            pos[k] = end
    for k, log in logs.items():  # the final complete read
        b.poll(k, [(o, v) for o, v in enumerate(log)], start=0, hw=len(log), proc="final")
    return b


@settings(database=None, deadline=None, max_examples=60)
@given(seed=st.integers(0, 10**9))
def test_histories_of_a_correct_log_are_valid_and_every_dropped_read_is_found(seed):
    rng = random.Random(seed)
    b = _correct_history(rng)
    assert check(b.h).valid, check(b.h).report()
    # Remove one acknowledged value from every read: the checker must notice.
    acked = [(op.value["key"], op.value["value"]) for op in b.h if op.f == "send" and op.type == "ok"]
    if not acked:
        return
    key, value = rng.choice(acked)
    for op in b.h:
        if op.f == "poll" and op.type == "ok" and key in op.value["reads"]:
            op.value["reads"][key] = [r for r in op.value["reads"][key] if r[1] != value]
    r = check(b.h)
    assert (key, value) in r.lost, r.report()


def test_replica_divergence():
    same = [(0, 0, "a"), (1, 0, "b")]
    assert divergences("t-0", {0: same, 1: same[:1], 2: same}) == []
    [d] = divergences("t-0", {0: same, 1: [(0, 0, "a"), (1, 1, "c"), (2, 1, "d")]})
    assert d.offset == 1 and "disagree at offset 1" in d.describe()


def test_anomaly_timeline_draws(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    b = Builder()
    b.send("t-0", "a", 0)
    b.send("t-0", "b", 1)
    b.fault(Crash("b1"))
    b.send("t-0", "c", 2)
    b.poll("t-0", [(0, "a"), (2, "c")])
    [a] = check(b.h).of_kind("lost-write")
    ax = a.plot(b.h)
    assert ax.get_title() == "lost-write on t-0"
    labels = [t.get_text() for t in ax.texts]
    assert "b@1" in labels and "crash b1" in labels
    ax.figure.savefig(tmp_path / "lost.png")
