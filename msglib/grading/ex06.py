"""Checks for module 06 (transactions and exactly-once).

Each learner function runs inside the real mechanism through a seam:

* ``06-last_stable_offset`` -- ``last_stable_offset(high_watermark, open_transactions)`` is the
  partition leader's rule (``Policies(last_stable_offset=fn)``) that bounds every read_committed
  fetch; seeded runs interleave the transactions of several producers with plain writes, and
  every record a read_committed reader gets is judged against the leader's log at that moment;
* ``06-filter_aborted`` -- ``filter_aborted(batches, aborted_transactions)`` is the read_committed
  consumer's filter (``KafkaConsumer(aborted_filter=fn)``), run on hand-made fetches (docs/transactions.md T9) and
  in the same interleaved runs, where committed, aborted and open transactions alternate;
* ``06-eos_step`` -- ``eos_step(consumer, producer, transform)`` is the body of every
  application's consume-transform-produce loop (``msglib.txn.eos.run_eos``), run while
  applications crash, stall (and come back as zombies), and see transactions fail; the
  verdict is :func:`msglib.check.eos.check_eos`: each input's output exactly once among the
  committed output.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.client.consumer import filter_aborted as reference_filter
from msglib.client.errors import KafkaError
from msglib.cluster.policies import last_stable_offset as reference_lso
from msglib.grading.core import CheckFailed, call_learner, guarded, require_callable, seeds
from msglib.log import RecordBatch
from msglib.txn.eos import INPUT, AppCrashed, EosEvent, parse_output, random_events, run_eos
from msglib.txn.interleaving import run_interleaving

EX_LSO = "06-last_stable_offset"
EX_FILTER = "06-filter_aborted"
EX_EOS = "06-eos_step"


# ================================================================== exercise 1: the last stable offset
# (high_watermark, open transactions {producer id: offset of its first record here}, expected)
LSO_VISIBLE = [
    (10, {}, 10),                 # no open transaction: everything below the HW is stable (docs/transactions.md T7)
    (2, {7: 0}, 0),               # docs/transactions.md T8: a transaction wrote x@0 and is open; a plain y@1 after it is not readable
    (10, {7: 4, 8: 6}, 4),        # the earliest open transaction decides
    (10, {8: 6, 7: 4}, 4),        # ...whatever the order of the dict
    (3, {7: 4}, 3),               # the open transaction's first record is not even below the HW yet
]
LSO_HIDDEN = [
    (4, {7: 9, 8: 5}, 4),
    (5, {7: 5}, 5),
    (0, {}, 0),                   # an empty partition
    (100, {1: 99, 2: 0, 3: 50}, 0),
    (7, {4: 6}, 6),               # the open transaction starts just below the HW
]


def _lso_case(hw: int, open_txns: dict) -> str:
    return f"last_stable_offset(high_watermark={hw}, open_transactions={open_txns})"


def _lso_unit(fn: Callable, hw: int, open_txns: dict, expected: int, seed: int | None = None) -> None:
    case = _lso_case(hw, open_txns)
    got = call_learner(fn, hw, dict(open_txns), exercise=EX_LSO, what=case, seed=seed)
    if not isinstance(got, int) or isinstance(got, bool):
        raise CheckFailed(f"last_stable_offset returned {got!r}; it must return an int offset", case=case,
                          seed=seed, exercise=EX_LSO)
    if got != expected:
        raise CheckFailed(f"you returned {got}; the last stable offset is {expected}", case=case, seed=seed,
                          exercise=EX_LSO,
                          hint="a read_committed consumer may read neither the first record of the earliest "
                               "open transaction (nor anything after it) nor anything at or past the "
                               "high-water mark: take the smaller of the two")


def _interleaving_check(exercise: str, seed: int, **seam: Callable) -> None:
    def learner_failure(exc: BaseException) -> CheckFailed:
        return CheckFailed(f"your function raised {type(exc).__name__}: {exc} (inside a read_committed fetch "
                           f"of an interleaved run)", seed=seed, exercise=exercise)
    fn = next(iter(seam.values()))
    wrapped = guarded(fn, exercise, seed=seed, case="inside a read_committed fetch of an interleaved run")
    try:
        res = run_interleaving(seed, **{k: wrapped for k in seam})
    except CheckFailed:
        raise
    except TypeError as exc:      # the mechanism's own type checks (an int offset, a list of batches)
        raise CheckFailed(str(exc), seed=seed, exercise=exercise) from None
    except KafkaError as exc:
        raise learner_failure(exc) from None
    if not res.valid:
        f = res.findings[0]
        story = "; ".join(res.steps[:12]) + ("; ..." if len(res.steps) > 12 else "")
        raise CheckFailed(f"[{f.kind}] {f.message}", case=f"the run began: {story}", seed=seed, exercise=exercise)


def check_last_stable_offset(fn: Callable, seed: int | None = None) -> None:
    """Visible check: docs/transactions.md T7/T8's cases, then two interleaved runs with read_committed readers."""
    require_callable(fn, "last_stable_offset", EX_LSO)
    for hw, open_txns, expected in LSO_VISIBLE:
        _lso_unit(fn, hw, open_txns, expected)
    for s in ([seed] if seed is not None else seeds(EX_LSO, 2)):
        _interleaving_check(EX_LSO, s, last_stable_offset=fn)


def hidden_last_stable_offset(fn: Callable, seed: int | None = None) -> None:
    """Hidden check: edge cases (open transaction at or past the HW, empty partition), 300 random
    inputs per seed against the rule, and more interleaved runs."""
    require_callable(fn, "last_stable_offset", EX_LSO)
    for hw, open_txns, expected in LSO_VISIBLE + LSO_HIDDEN:
        _lso_unit(fn, hw, open_txns, expected)
    for s in ([seed] if seed is not None else seeds(EX_LSO, 4, hidden=True)):
        rng = random.Random(s)
        for _ in range(300):
            hw = rng.randint(0, 60)
            open_txns = {pid: rng.randint(0, 70) for pid in rng.sample(range(1, 20), rng.randint(0, 4))}
            _lso_unit(fn, hw, open_txns, reference_lso(hw, open_txns), seed=s)
        _interleaving_check(EX_LSO, s, last_stable_offset=fn)


# ================================================================== exercise 2: the aborted-transaction filter
def data(offset: int, pid: int, *values: str, transactional: bool = True) -> RecordBatch:
    """A data batch at ``offset`` by producer ``pid`` (one record per value)."""
    return RecordBatch([v.encode() for v in values] or [b"v"], base_offset=offset, producer_id=pid,
                       producer_epoch=0, base_sequence=0, is_transactional=transactional)


def marker(offset: int, pid: int, kind: str) -> RecordBatch:
    """A COMMIT or ABORT marker of producer ``pid`` at ``offset``."""
    return RecordBatch.control(kind, producer_id=pid, producer_epoch=0, base_offset=offset)


def _show_batches(batches: list) -> str:
    out = []
    for b in batches:
        who = f"pid {b.producer_id}"
        if b.is_control:
            out.append(f"{b.control_type.name}@{b.base_offset} ({who})")
        else:
            vals = ",".join(r.value.decode(errors="replace") for r in b.records)
            kind = "txn" if b.is_transactional else "plain"
            out.append(f"{vals}@{b.base_offset}-{b.last_offset} ({kind}, {who})")
    return "[" + ", ".join(out) + "]"


def _filter_cases_visible() -> list[tuple[str, list, list]]:
    return [
        # docs/transactions.md T9: T aborted with a@0, b@1, ABORT@2; then c@3 committed (COMMIT@4)
        ("docs/transactions.md T9", [data(0, 7, "a"), data(1, 7, "b"), marker(2, 7, "ABORT"), data(3, 7, "c"), marker(4, 7, "COMMIT")],
         [(7, 0)]),
        ("no aborted transaction", [data(0, 7, "a"), marker(1, 7, "COMMIT"), data(2, -1, "p", transactional=False)],
         []),
        ("two producers: only the aborting one's batches go",
         [data(0, 7, "x"), data(1, 9, "y"), data(2, 7, "z"), marker(3, 7, "ABORT"), marker(4, 9, "COMMIT")],
         [(7, 0)]),
    ]


def _filter_cases_hidden() -> list[tuple[str, list, list]]:
    return [
        ("the same producer commits, aborts, then commits again",
         [data(0, 7, "c1"), marker(1, 7, "COMMIT"), data(2, 7, "ab"), data(3, 9, "other"), marker(4, 7, "ABORT"),
          data(5, 7, "c2"), data(6, -1, "plain", transactional=False), marker(7, 7, "COMMIT")], [(7, 2)]),
        ("the fetch starts inside the aborted transaction (its first offset is before the first batch)",
         [data(3, 7, "late"), marker(4, 7, "ABORT"), data(5, 8, "ok"), marker(6, 8, "COMMIT")], [(7, 1)]),
        ("a plain batch inside an aborted transaction stays",
         [data(0, 7, "ab"), data(1, -1, "plain", transactional=False), marker(2, 7, "ABORT")], [(7, 0)]),
        ("two aborted transactions of two producers, nested",
         [data(0, 7, "a"), data(1, 8, "b"), marker(2, 8, "ABORT"), data(3, 7, "c"), marker(4, 7, "ABORT"),
          data(5, 8, "d"), marker(6, 8, "COMMIT")], [(7, 0), (8, 1)]),
        ("a batch of several records", [data(0, 7, "a", "b", "c"), marker(3, 7, "ABORT"), data(4, 7, "d", "e"),
                                         marker(6, 7, "COMMIT")], [(7, 0)]),
        ("only markers", [marker(0, 7, "ABORT"), marker(1, 8, "COMMIT")], []),
        ("an empty fetch", [], []),
    ]


def _random_fetch(rng: random.Random) -> tuple[str, list, list]:
    """A random log of committed, aborted and plain writes, and a fetch window over it."""
    batches: list = []
    aborted: list[tuple[int, int, int]] = []          # (pid, first offset, marker offset)
    open_first: dict[int, int] = {}
    offset = 0
    for _ in range(rng.randint(3, 14)):
        pid = rng.choice([1, 2, 3, -1])
        if pid == -1:
            n = rng.randint(1, 2)
            batches.append(data(offset, -1, *[f"p{offset + i}" for i in range(n)], transactional=False))
            offset += n
        elif pid in open_first and rng.random() < 0.45:
            kind = "ABORT" if rng.random() < 0.5 else "COMMIT"
            batches.append(marker(offset, pid, kind))
            if kind == "ABORT":
                aborted.append((pid, open_first[pid], offset))
            del open_first[pid]
            offset += 1
        else:
            n = rng.randint(1, 2)
            open_first.setdefault(pid, offset)
            batches.append(data(offset, pid, *[f"t{pid}.{offset + i}" for i in range(n)]))
            offset += n
    for pid, first in sorted(open_first.items(), key=lambda x: x[1]):   # end what is open
        kind = rng.choice(["ABORT", "COMMIT"])
        batches.append(marker(offset, pid, kind))
        if kind == "ABORT":
            aborted.append((pid, first, offset))
        offset += 1
    start = rng.choice([b.base_offset for b in batches])
    window = [b for b in batches if b.base_offset >= start]
    in_range = [(pid, first) for pid, first, end in aborted if end >= start]
    rng.shuffle(in_range)                              # the broker gives no particular order
    return f"a random fetch from offset {start}", window, in_range


def _filter_unit(fn: Callable, name: str, batches: list, aborted: list, seed: int | None = None) -> None:
    case = f"{name}: filter_aborted({_show_batches(batches)}, aborted_transactions={aborted})"
    got = call_learner(fn, list(batches), list(aborted), exercise=EX_FILTER, what=case, seed=seed)
    if not isinstance(got, list):
        raise CheckFailed(f"filter_aborted returned {type(got).__name__}; it must return a list of batches",
                          case=case, seed=seed, exercise=EX_FILTER)
    # Control batches never reach the application anyway (the consumer skips them): judge the data batches.
    got_data = [b for b in got if isinstance(b, RecordBatch) and not b.is_control]
    want = [b for b in reference_filter(list(batches), list(aborted)) if not b.is_control]
    if [b.base_offset for b in got_data] != [b.base_offset for b in want]:
        extra = [b for b in got_data if b not in want]
        missing = [b for b in want if b not in got_data]
        what = (f"you kept {_show_batches(extra)}: aborted data, which read_committed must never return" if extra
                else f"you dropped {_show_batches(missing)}: it is not aborted")
        raise CheckFailed(f"{what}. The batches to keep: {_show_batches(want)}", case=case, seed=seed, exercise=EX_FILTER,
                          hint="a producer's transaction is aborted from its first offset up to that producer's "
                               "ABORT marker: drop its transactional batches in between, and nothing else")


def check_filter_aborted(fn: Callable, seed: int | None = None) -> None:
    """Visible check: docs/transactions.md T9's fetch and two more by hand, then two interleaved runs."""
    require_callable(fn, "filter_aborted", EX_FILTER)
    for name, batches, aborted in _filter_cases_visible():
        _filter_unit(fn, name, batches, aborted)
    for s in ([seed] if seed is not None else seeds(EX_FILTER, 2)):
        _interleaving_check(EX_FILTER, s, aborted_filter=fn)


def hidden_filter_aborted(fn: Callable, seed: int | None = None) -> None:
    """Hidden check: edge cases (a fetch starting inside an aborted transaction, the same producer's
    later transactions, nesting, multi-record batches), 200 random fetches per seed, more runs."""
    require_callable(fn, "filter_aborted", EX_FILTER)
    for name, batches, aborted in _filter_cases_visible() + _filter_cases_hidden():
        _filter_unit(fn, name, batches, aborted)
    for s in ([seed] if seed is not None else seeds(EX_FILTER, 4, hidden=True)):
        rng = random.Random(s)
        for _ in range(200):
            _filter_unit(fn, *_random_fetch(rng), seed=s)
        _interleaving_check(EX_FILTER, s, aborted_filter=fn)


# ================================================================== exercise 3: consume-transform-produce
def _describe(events: list[EosEvent]) -> str:
    return "; ".join(e.describe() for e in events) or "no faults"


class _KeyWatch:
    """The step's producer, noting every output sent without its input's key (input i has key b"key-i")."""

    def __init__(self, producer: Any, wrong: list[str]) -> None:
        self._producer = producer
        self._wrong = wrong

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def send(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> Any:
        try:
            want = f"key-{parse_output(value)[0]}".encode()
        except (TypeError, ValueError, KeyError):
            want = None                       # not transform()'s output: the run's checker names it
        if want is not None and key != want and not self._wrong:
            self._wrong.append(f"the output of input {parse_output(value)[0]} was sent with key={key!r}; its input "
                               f"record's key is {want!r}")
        return self._producer.send(topic, value, key=key, **kwargs)


def _eos_run(fn: Callable, seed: int, events: list[EosEvent], label: str) -> None:
    case = f"{label}: {_describe(events)}" if events else "a run without faults"
    learner = guarded(fn, EX_EOS, seed=seed, case=case, passthrough=(AppCrashed, KafkaError))
    wrong_keys: list[str] = []

    def step(consumer: Any, producer: Any, transform: Callable) -> Any:
        return learner(consumer, _KeyWatch(producer, wrong_keys), transform)

    res = run_eos(seed, step=step, events=events)
    if wrong_keys:
        raise CheckFailed(wrong_keys[0], case=case, seed=seed, exercise=EX_EOS,
                          hint=f"send each output with its input's key: producer.send(OUTPUT, transform(record), "
                               f"key=record.key), so the output keeps the {INPUT} topic's partitioning by key and "
                               "its per-key order")
    first = res.check.first()
    if first is not None:
        what = {"lost": "an input was never processed into the committed output",
                "duplicate": "an input has more than one output in the committed output",
                "aborted-read": "a read_committed reader saw output that was never committed",
                "precommitted-read": "a read_committed reader saw output before its transaction asked to commit",
                "unexpected": "the committed output names an input that was never produced"}[first.kind]
        last_notes = "; ".join(f"t={t:.0f} {n}" for t, n in res.notes[-6:])
        raise CheckFailed(f"{what}: {first.message} ({res.check.summary()})", case=f"{case}. Last events: {last_notes}",
                          seed=seed, exercise=EX_EOS,
                          hint="inside one transaction: send every output, then send_offsets_to_transaction(the "
                               "NEXT offsets, consumer.group_metadata()), then commit_transaction(); on a "
                               "KafkaError abort_transaction() and seek back to the batch's first offsets; let "
                               "ProducerFencedError through")
    if not res.drained:
        last_notes = "; ".join(f"t={t:.0f} {n}" for t, n in res.notes[-4:])
        raise CheckFailed("the applications never finished the input: some offsets were never committed, or a "
                          f"producer got stuck ({res.summary()})", case=f"{case}. Last events: {last_notes}",
                          seed=seed, exercise=EX_EOS,
                          hint="commit the input offsets inside the transaction (the next offset: last + 1), and "
                               "after an error abort the transaction so the producer can begin the next one")


def _fixed_schedules() -> list[tuple[str, list[EosEvent]]]:
    return [
        ("a crash between the steps", [EosEvent(250, "crash", 0, "commit"), EosEvent(450, "crash", 1, "commit_sent"),
                                       EosEvent(650, "crash", 0, "consumer_commit"), EosEvent(850, "crash", 1, "send")]),
        ("transactions fail", [EosEvent(200, "error", 0, "send"), EosEvent(400, "error", 1, "commit"),
                               EosEvent(600, "error", 0, "send_offsets")]),
        ("zombies", [EosEvent(300, "pause", 0, "send_offsets", duration_ms=600),
                     EosEvent(500, "pause", 1, "send", duration_ms=1_300)]),
    ]


def check_eos_step(fn: Callable, seed: int | None = None) -> None:
    """Visible check: a run without faults, crashes between the steps, failing transactions, zombies
    (two seeds each), then random crashes, stalls and errors."""
    require_callable(fn, "eos_step", EX_EOS)
    for s in ([seed] if seed is not None else seeds(EX_EOS, 2)):
        _eos_run(fn, s, [], "no faults")
        for label, events in _fixed_schedules():
            _eos_run(fn, s, events, label)
        _eos_run(fn, s, random_events(s, 1_500.0, count=3, kinds=("crash", "pause", "error")), "random faults")


def hidden_eos_step(fn: Callable, seed: int | None = None) -> None:
    """Hidden check: more seeds, random crashes/stalls/errors, broker and coordinator crashes, and the
    commit on its way when the application dies."""
    require_callable(fn, "eos_step", EX_EOS)
    for s in ([seed] if seed is not None else seeds(EX_EOS, 5, hidden=True)):
        _eos_run(fn, s, [EosEvent(300, "crash", 0, "commit_sent"), EosEvent(700, "crash", 1, "send_offsets")],
                 "crashes inside the commit")
        _eos_run(fn, s, random_events(s, 1_500.0, count=4, kinds=("crash", "pause", "error")), "random faults")
        _eos_run(fn, s, random_events(s + 1, 1_500.0, count=4,
                                      kinds=("crash", "error", "broker_crash", "txn_coordinator_crash",
                                             "group_coordinator_crash")), "random faults, brokers too")


# The idempotent consumer and outbox exercises (Part 2 of the notebook) live in ex06_patterns; their checks
# are reachable from here too (ex06.check_idempotent_handle).
from msglib.grading.ex06_patterns import (EX_IDEM, EX_RELAY, check_idempotent_handle,  # noqa: E402,F401
                                          check_outbox_relay, hidden_idempotent_handle, hidden_outbox_relay)
