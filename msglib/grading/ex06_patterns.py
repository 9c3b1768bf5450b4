"""Checks for module 06, part 2 (exactly-once beyond Kafka).

Each learner function runs inside the real mechanism, on a SQLite file that
is reopened after every injected crash, and a msglib.log topic as the broker:

* ``06-idempotent_handle`` -- ``handle(conn, message)`` is the handler of an
  :class:`~msglib.patterns.idempotent.IdempotentConsumer` topping up wallets
  from a topic that holds redelivered messages; the process is crashed at
  every single fault point in turn (before each statement, around each
  commit, before the offset commit), then under seeded random schedules. The
  verdict: every distinct message's top-up counted exactly once;
* ``06-outbox_relay`` -- ``relay_once(conn, topic, batch_size)`` is the step
  of an :class:`~msglib.patterns.outbox.OutboxRelay`, crashed at every point,
  with broker errors and with the application committing new orders while it
  runs. The verdict: every committed event reaches the topic, in commit
  order (duplicates are allowed: at-least-once), with its id header.
"""
from __future__ import annotations

import itertools
import random
import sqlite3
import tempfile
from typing import Any, Callable

from msglib.grading.core import CheckFailed, learner_error, quiet, require_callable, seeds
from msglib.log import Topic
from msglib.patterns import outbox as ob
from msglib.patterns.crash import CrashSchedule, CrashingConnection, InjectedCrash, connect
from msglib.patterns.idempotent import (DUPLICATE, PROCESSED, IdempotentConsumer, Message, balances,
                                        create_tables)

EX_IDEM = "06-idempotent_handle"
EX_RELAY = "06-outbox_relay"

CONSUMER_ID = "wallet-service"
_RUNS = itertools.count()        # every run gets a fresh database file
IDEM_HINT = ("insert the message id and do the top-up in ONE transaction (`with conn:`); if the id is already "
             "there (sqlite3.IntegrityError, or a SELECT finds it) return 'duplicate' without a top-up")


# ================================================================== exercise 1: the idempotent handle

def _topup(mid: str, account: str, amount: int) -> Message:
    return Message(mid, {"account": account, "amount": amount})


def _show_messages(deliveries: list[Message]) -> str:
    return ", ".join(f"{m.id}({m.payload['account']} +{m.payload['amount']})" for m in deliveries)


def _expected(deliveries: list[Message]) -> dict[str, int]:
    want: dict[str, int] = {}
    seen: set[str] = set()
    for m in deliveries:
        if m.id not in seen:
            seen.add(m.id)
            want[m.payload["account"]] = want.get(m.payload["account"], 0) + m.payload["amount"]
    return want


class _Run:
    """One consumer run of the learner's handle over ``deliveries`` under ``schedule``."""

    def __init__(self, handle: Callable, deliveries: list[Message], schedule: CrashSchedule, workdir: str,
                 name: str, seed: int | None) -> None:
        self.deliveries = deliveries
        self.schedule = schedule
        self.seed = seed
        self.current: Message | None = None
        self.crashed_in: list[str] = []
        topic = Topic("wallet-topups", 1, clock=lambda: 0)
        for m in deliveries:
            m.send_to(topic, 0)
        path = f"{workdir}/{name}-{next(_RUNS)}.db"
        self.consumer = IdempotentConsumer(topic, path, CONSUMER_ID, self._handle(handle), fault=self._fault)

    def _fault(self, point: str) -> None:
        try:
            self.schedule(point)
        except InjectedCrash:
            where = f"while handling {self.current.id}" if self.current else ""
            self.crashed_in.append(f"{self.schedule.describe().split(', ')[-1]} {where}".strip())
            raise

    def case(self) -> str:
        crashes = "; ".join(self.crashed_in) or "no crash"
        return f"messages delivered in this order: {_show_messages(self.deliveries)}; {crashes}"

    def _handle(self, fn: Callable) -> Callable:
        def run(conn: Any, message: Message) -> Any:
            self.current = message
            try:
                with quiet():
                    return fn(conn, message)
            except (InjectedCrash, CheckFailed):
                raise
            except sqlite3.IntegrityError as exc:
                raise CheckFailed(f"handle raised IntegrityError ({exc}) for message {message.id}: a redelivered "
                                  f"message must be acknowledged, not crash the consumer", case=self.case(),
                                  seed=self.seed, exercise=EX_IDEM,
                                  hint="catch sqlite3.IntegrityError from the id insert and return 'duplicate'") \
                    from None
            except Exception as exc:
                raise learner_error(exc, fn, EX_IDEM, case=self.case(), seed=self.seed) from None
        return run

    def go(self) -> dict[str, int]:
        try:
            self.consumer.run(max_restarts=60)
        except ValueError as exc:          # the consumer refused the handle's return value
            raise CheckFailed(str(exc), case=self.case(), seed=self.seed, exercise=EX_IDEM) from None
        except InjectedCrash:
            raise CheckFailed("the consumer never got past the crashes (60 restarts)", case=self.case(),
                              seed=self.seed, exercise=EX_IDEM) from None
        got = balances(self.consumer.conn)
        self.consumer.close()
        return got


def _judge_balances(run: _Run, got: dict[str, int]) -> None:
    want = _expected(run.deliveries)
    got = {k: v for k, v in got.items() if v}
    if got == want:
        return
    more, less = sum(got.values()) > sum(want.values()), sum(got.values()) < sum(want.values())
    if more:
        what = "a top-up was applied twice: a redelivered message was not recognised as a duplicate"
    elif less:
        what = "a top-up was lost: a message was acknowledged (or skipped as a duplicate) without its effect"
    else:
        what = "top-ups went to the wrong wallets"
    raise CheckFailed(f"{what}. The wallets hold {got}, expected {want}", case=run.case(), seed=run.seed,
                      exercise=EX_IDEM, hint=IDEM_HINT)


def _check_direct(handle: Callable, workdir: str) -> None:
    """Called by hand on one connection: processed, then duplicate, then another message processed."""
    conn = CrashingConnection(connect(f"{workdir}/direct.db"))
    create_tables(conn)
    steps = [(_topup("m1", "ada", 10), PROCESSED), (_topup("m1", "ada", 10), DUPLICATE),
             (_topup("m2", "ada", 5), PROCESSED)]
    done: list[str] = []
    for message, want in steps:
        done.append(f"handle(conn, {message.id}: ada +{message.payload['amount']})")
        case = " -> ".join(done)
        try:
            with quiet():
                got = handle(conn, message)
        except sqlite3.IntegrityError as exc:
            raise CheckFailed(f"handle raised IntegrityError ({exc}) for a message it had already processed",
                              case=case, exercise=EX_IDEM,
                              hint="a duplicate is not an error: catch it and return 'duplicate'") from None
        except Exception as exc:
            raise learner_error(exc, handle, EX_IDEM, case=case) from None
        if got != want:
            raise CheckFailed(f"handle returned {got!r}, expected {want!r}", case=case, exercise=EX_IDEM,
                              hint="return 'processed' after doing the top-up, 'duplicate' when the id was seen")
        if conn.raw.in_transaction:
            raise CheckFailed("handle returned with its transaction still open (nothing is committed yet: a crash "
                              "now would lose the top-up, yet the consumer acknowledges the message next)",
                              case=case, exercise=EX_IDEM, hint="use `with conn:` so the transaction commits")
    fresh = connect(f"{workdir}/direct.db")           # what another process (or a restart) sees
    got = balances(fresh)
    fresh.close()
    conn.close()
    if got != {"ada": 15}:
        raise CheckFailed(f"after processing m1, m1 again and m2 the committed wallets are {got}, expected "
                          f"{{'ada': 15}}", case=" -> ".join(done), exercise=EX_IDEM, hint=IDEM_HINT)


def _check_clean_outcomes(handle: Callable, deliveries: list[Message], workdir: str, seed: int | None) -> int:
    """A crash-free run: right balances and the right outcome for every delivery; returns the fault points."""
    dry = CrashSchedule.at()
    run = _Run(handle, deliveries, dry, workdir, "clean", seed)
    _judge_balances(run, run.go())
    seen: set[str] = set()
    want = []
    for m in deliveries:
        want.append((m.id, DUPLICATE if m.id in seen else PROCESSED))
        seen.add(m.id)
    got = run.consumer.stats.outcomes
    for (mid, w), (_, g) in zip(want, got):
        if w != g:
            raise CheckFailed(f"message {mid} was reported {g!r}, expected {w!r}", case=run.case(), seed=seed,
                              exercise=EX_IDEM, hint="return 'duplicate' exactly when the id was processed before")
    return len(dry.points)


def _every_single_crash(handle: Callable, deliveries: list[Message], workdir: str, seed: int | None,
                        tag: str) -> None:
    n = _check_clean_outcomes(handle, deliveries, workdir, seed)
    for k in range(1, n + 1):
        run = _Run(handle, deliveries, CrashSchedule.at(k), workdir, f"{tag}-{k}", seed)
        _judge_balances(run, run.go())


def _random_deliveries(rng: random.Random, n: int) -> list[Message]:
    accounts = ["ada", "bob", "cy"]
    messages = [_topup(f"msg-{rng.randrange(16 ** 6):06x}-{i}", rng.choice(accounts), rng.randint(1, 50))
                for i in range(n)]
    deliveries = list(messages)
    for _ in range(rng.randint(1, n // 2 + 1)):          # producer retries and redrives: same id, later
        i = rng.randrange(len(deliveries))
        deliveries.insert(rng.randint(i + 1, len(deliveries)), deliveries[i])
    return deliveries


def _random_runs(handle: Callable, run_seeds: list[int], n: int, workdir: str) -> None:
    for s in run_seeds:
        rng = random.Random(s)
        deliveries = _random_deliveries(rng, n)
        run = _Run(handle, deliveries, CrashSchedule.random(s, rate=0.12, max_crashes=6), workdir, f"r{s}", s)
        _judge_balances(run, run.go())


VISIBLE_DELIVERIES = [_topup("m1", "ada", 10), _topup("m2", "bob", 5), _topup("m1", "ada", 10),
                      _topup("m3", "ada", 1)]


def check_idempotent_handle(handle: Callable, seed: int | None = None) -> None:
    """Visible: direct calls, a crash-free run with a redelivery, a crash at every point in turn, one seeded run."""
    require_callable(handle, "handle", EX_IDEM)
    with tempfile.TemporaryDirectory(prefix="msglib-06-") as workdir:
        _check_direct(handle, workdir)
        _every_single_crash(handle, VISIBLE_DELIVERIES, workdir, None, "v")
        _random_runs(handle, [seed] if seed is not None else seeds(EX_IDEM, 1), 8, workdir)


def hidden_idempotent_handle(handle: Callable, seed: int | None = None) -> None:
    """Hidden: triple deliveries, every single crash and every pair of adjacent crashes, many seeded runs."""
    require_callable(handle, "handle", EX_IDEM)
    with tempfile.TemporaryDirectory(prefix="msglib-06-") as workdir:
        _check_direct(handle, workdir)
        triple = [_topup("a", "ada", 3), _topup("a", "ada", 3), _topup("b", "bob", 4), _topup("a", "ada", 3),
                  _topup("b", "bob", 4), _topup("c", "ada", 7)]
        _every_single_crash(handle, triple, workdir, None, "h")
        # two different messages with the same content (ada tops up 5 twice): only the id says "the same message"
        twins = [_topup("t1", "ada", 5), _topup("t2", "ada", 5), _topup("t1", "ada", 5)]
        _check_clean_outcomes(handle, twins, workdir, None)
        n = _check_clean_outcomes(handle, triple, workdir, None)
        for k in range(1, n):                              # crash, and crash again right after the restart
            run = _Run(handle, triple, CrashSchedule.at(k, k + 1), workdir, f"p{k}", None)
            _judge_balances(run, run.go())
        _random_runs(handle, [seed] if seed is not None else seeds(EX_IDEM, 30, hidden=True), 12, workdir)


# ================================================================== exercise 2: the outbox relay

RELAY_HINT = ("select the unpublished rows ORDER BY id, publish each, and mark it published only after its "
              "publish returned; if a publish fails, stop (let the error propagate) so no later row overtakes it")


def _event_ids(rng: random.Random, n: int) -> list[str]:
    """Unique event ids that do NOT sort in commit order (as UUIDs do not)."""
    ids: list[str] = []
    while len(ids) < n:
        e = f"evt-{rng.randrange(16 ** 8):08x}"
        if e not in ids:
            ids.append(e)
    if ids == sorted(ids):
        ids.reverse()
    return ids


class _RelayRun:
    """Orders committed by the application (some while the relay runs), the learner's relay, a judge."""

    def __init__(self, relay: Callable, workdir: str, name: str, *, orders: int, batch_size: int,
                 schedule: CrashSchedule, seed: int | None, during: int = 0, unavailable: set[int] = frozenset(),
                 partitions: int = 1, id_seed: int = 0) -> None:
        self.path = f"{workdir}/{name}-{next(_RUNS)}.db"
        self.app = connect(self.path)
        ob.create_tables(self.app)
        self.seed = seed
        self.schedule = schedule
        self.batch_size = batch_size
        self.unavailable = unavailable
        self.orders = orders
        self.during = during
        rng = random.Random(id_seed)
        self.event_ids = _event_ids(rng, orders + during)
        self.committed: list[str] = []
        self.aggregates: dict[str, str] = {}
        self.payloads: dict[str, str] = {}
        self.pending = list(range(orders, orders + during))
        for i in range(orders):
            self._place(i)
        self.topic = Topic("outbox.event.order", partitions, clock=lambda: 0)
        self.returns: list[Any] = []
        self.relay = ob.OutboxRelay(self.path, self.topic, self._guard(relay), batch_size=batch_size, fault=schedule,
                                    unavailable=lambda n: n in unavailable, on_append=self._app_writes)

    def _place(self, i: int) -> None:
        order_id = f"o{i + 1}"
        eid = ob.place_order(self.app, order_id, ["ada", "bob", "cy"][i % 3], 10 * (i + 1),
                             event_id=self.event_ids[i])
        self.committed.append(eid)
        self.aggregates[eid] = order_id
        self.payloads[eid] = self.app.execute("SELECT payload FROM outbox WHERE event_id = ?", (eid,)).fetchone()[0]

    def _app_writes(self) -> None:
        """After an append the application commits its next order (if the relay's lock lets it)."""
        if self.pending:
            try:
                self._place(self.pending[0])
            except sqlite3.OperationalError:       # the relay holds a write lock: the app tries again later
                self.app.rollback()
                return
            self.pending.pop(0)

    def case(self) -> str:
        parts = [f"{self.orders} orders in the outbox" + (f" (+{self.during} committed while the relay runs)"
                                                           if self.during else ""),
                 f"batch_size={self.batch_size}", self.schedule.describe()]
        if self.unavailable:
            parts.append("broker unavailable on append " + ", ".join(str(n) for n in sorted(self.unavailable)))
        parts.append("committed: " + ", ".join(self.committed))
        got = ob.delivered_ids(self.topic)
        shown = ", ".join(got[:16]) + (f", ... ({len(got)} records in all)" if len(got) > 16 else "")
        parts.append("topic received: " + (shown or "nothing"))
        return "; ".join(parts)

    def _guard(self, fn: Callable) -> Callable:
        def run(conn: Any, topic: Any, batch_size: int) -> Any:
            before = sum(self.topic.end_offsets())
            try:
                with quiet():
                    n = fn(conn, topic, batch_size)
            except (InjectedCrash, CheckFailed, ob.BrokerUnavailableError):
                raise
            except Exception as exc:
                raise learner_error(exc, fn, EX_RELAY, case=self.case(), seed=self.seed) from None
            if not isinstance(n, int) or isinstance(n, bool):
                raise CheckFailed(f"relay_once returned {n!r}; it must return how many rows it published (an "
                                  f"int, 0 when there was nothing to do)", case=self.case(), seed=self.seed,
                                  exercise=EX_RELAY)
            published = sum(self.topic.end_offsets()) - before
            if published > batch_size:       # how much one call may do: one batch, however long the backlog
                raise CheckFailed(f"one relay_once call published {published} rows with batch_size={batch_size}",
                                  case=self.case(), seed=self.seed, exercise=EX_RELAY,
                                  hint="select at most batch_size rows (ORDER BY id LIMIT ?): a call handles one "
                                       "batch, and the next call the next one")
            self.returns.append(n)
            return n
        return run

    def go(self) -> ob.DeliveryReport:
        self.relay.run(max_steps=300)
        while self.pending:                       # orders the lock kept out: commit them now, relay again
            try:
                self._place(self.pending[0])
            except sqlite3.OperationalError as exc:
                raise CheckFailed(f"the application could not commit an order ({exc}): relay_once returned "
                                  f"with a write transaction still open, which blocks every other writer",
                                  case=self.case(), seed=self.seed, exercise=EX_RELAY,
                                  hint="commit each mark (`with conn:`) before relay_once returns") from None
            self.pending.pop(0)
            self.relay.run(max_steps=300)
        left = ob.unpublished_count(self.app)
        if left:
            raise CheckFailed(f"after 300 relay steps {left} outbox row(s) are still unpublished as far as the "
                              f"committed database says (and the topic holds {sum(self.topic.end_offsets())} "
                              f"records): the relay must mark each row published, or delete it, and commit, once "
                              f"its publish returned", case=self.case(),
                              seed=self.seed, exercise=EX_RELAY, hint=RELAY_HINT)
        self.last_return = self.relay.step()      # one more step on the now-empty outbox
        self.relay.close()
        self.app.close()
        report = ob.judge_delivery(self.committed, ob.delivered_ids(self.topic))
        # Order is a per-partition promise: with several partitions, judge each one on its own.
        report.first_out_of_order = None
        for p in range(self.topic.num_partitions):
            got = ob.delivered_ids(self.topic, p)
            want = [e for e in self.committed if e in set(got)]
            report.first_out_of_order = report.first_out_of_order or ob.judge_delivery(want, got).first_out_of_order
        return report

    def judge(self, report: ob.DeliveryReport, max_duplicates: int | None = None) -> None:
        """``max_duplicates``: allowed repeats per interruption (crash or failed append); None: any."""
        if report.unexpected:
            raise CheckFailed(f"the topic holds records whose 'id' header is not a committed event id: "
                              f"{report.unexpected[:3]}", case=self.case(), seed=self.seed, exercise=EX_RELAY,
                              hint="publish each row with publish(topic, event_id, aggregate_id, event_type, "
                                   "payload): the event id travels in the 'id' header")
        if report.lost:
            raise CheckFailed(f"event(s) {', '.join(report.lost)} never reached the topic, yet the outbox counts "
                              f"them as published: lost", case=self.case(), seed=self.seed, exercise=EX_RELAY,
                              hint=RELAY_HINT)
        if report.first_out_of_order:
            late, early = report.first_out_of_order
            raise CheckFailed(f"event {early} was committed before {late} but reached the topic after it: "
                              f"consumers see the orders out of order", case=self.case(), seed=self.seed,
                              exercise=EX_RELAY, hint=RELAY_HINT)
        interruptions = len(self.schedule.crashes) + self.relay.stats.broker_errors
        if max_duplicates is not None and report.duplicates > max_duplicates * interruptions:
            raise CheckFailed(f"the topic holds {report.duplicates} duplicate(s) in a run with "
                              f"{len(self.schedule.crashes)} crash(es) and {self.relay.stats.broker_errors} failed "
                              f"append(s); a relay may only repeat what it published but had not marked yet when "
                              f"it was interrupted", case=self.case(), seed=self.seed,
                              exercise=EX_RELAY, hint=RELAY_HINT)
        for p in range(self.topic.num_partitions):
            for r in self.topic[p].records():
                eid = dict(r.headers).get("id", b"").decode()
                if r.key != self.aggregates[eid].encode() or r.value != self.payloads[eid].encode():
                    raise CheckFailed(f"event {eid} was published with key {r.key!r} and value {r.value!r}; "
                                      f"expected key {self.aggregates[eid]!r} (the aggregate id, so one order's "
                                      f"events stay in one partition) and the row's payload",
                                      case=self.case(), seed=self.seed, exercise=EX_RELAY,
                                      hint="publish(topic, event_id, aggregate_id, event_type, payload)")


def _relay_clean(relay: Callable, workdir: str, seed: int | None, **kw: Any) -> int:
    """A crash-free run: everything, in order, no duplicates, the returns add up; returns the fault points."""
    dry = CrashSchedule.at()
    run = _RelayRun(relay, workdir, "clean", schedule=dry, seed=seed, **kw)
    report = run.go()
    run.judge(report, max_duplicates=0)     # no interruption: no duplicate
    if sum(run.returns) != len(run.committed):
        raise CheckFailed(f"relay_once's return values add up to {sum(run.returns)}, but "
                          f"{len(run.committed)} rows were published", case=run.case(), seed=seed,
                          exercise=EX_RELAY, hint="return how many rows this call published")
    if run.last_return != 0:
        raise CheckFailed("relay_once on an empty outbox must return 0", case=run.case(), seed=seed,
                          exercise=EX_RELAY)
    return len(dry.points)


def _relay_every_crash(relay: Callable, workdir: str, tag: str, **kw: Any) -> None:
    n = _relay_clean(relay, workdir, None, **kw)
    for k in range(1, n + 1):
        run = _RelayRun(relay, workdir, f"{tag}{k}", schedule=CrashSchedule.at(k), seed=None, **kw)
        run.judge(run.go(), max_duplicates=kw["batch_size"])


def _relay_random(relay: Callable, workdir: str, run_seeds: list[int], orders: int) -> None:
    for s in run_seeds:
        rng = random.Random(s)
        batch = rng.randint(1, 4)
        unavailable = {n for n in range(1, 4 * orders) if rng.random() < 0.15}
        schedule = CrashSchedule.random(s, rate=0.1, max_crashes=5)
        run = _RelayRun(relay, workdir, f"r{s}", orders=orders, batch_size=batch, schedule=schedule, seed=s,
                        during=rng.randint(1, 4), unavailable=unavailable, partitions=rng.choice([1, 3]),
                        id_seed=s)
        run.judge(run.go(), max_duplicates=batch)


def check_outbox_relay(relay_once: Callable, seed: int | None = None) -> None:
    """Visible: a clean run, a crash at every point, a broker error, orders committed mid-run, one seeded run."""
    require_callable(relay_once, "relay_once", EX_RELAY)
    with tempfile.TemporaryDirectory(prefix="msglib-06-") as workdir:
        _relay_every_crash(relay_once, workdir, "v", orders=4, batch_size=2)
        run = _RelayRun(relay_once, workdir, "unavailable", orders=5, batch_size=5, schedule=CrashSchedule.at(),
                        seed=None, unavailable={3})
        run.judge(run.go(), max_duplicates=2)
        run = _RelayRun(relay_once, workdir, "during", orders=3, batch_size=3, schedule=CrashSchedule.at(),
                        seed=None, during=3)
        run.judge(run.go(), max_duplicates=2)
        _relay_random(relay_once, workdir, [seed] if seed is not None else seeds(EX_RELAY, 1), 8)


def hidden_outbox_relay(relay_once: Callable, seed: int | None = None) -> None:
    """Hidden: batch sizes 1 and 3 under every single crash, an empty outbox, broker errors, many seeded runs."""
    require_callable(relay_once, "relay_once", EX_RELAY)
    with tempfile.TemporaryDirectory(prefix="msglib-06-") as workdir:
        _relay_every_crash(relay_once, workdir, "h1-", orders=3, batch_size=1, id_seed=1)
        _relay_every_crash(relay_once, workdir, "h3-", orders=5, batch_size=3, id_seed=2, during=2)
        empty = _RelayRun(relay_once, workdir, "empty", orders=0, batch_size=3, schedule=CrashSchedule.at(),
                          seed=None)
        empty.go()
        if empty.last_return != 0:
            raise CheckFailed("relay_once on an empty outbox must return 0", case="an empty outbox",
                              exercise=EX_RELAY)
        for bad in ({1}, {2, 3}, {4}):
            run = _RelayRun(relay_once, workdir, f"u{min(bad)}{len(bad)}", orders=5, batch_size=2,
                            schedule=CrashSchedule.at(), seed=None, unavailable=bad, id_seed=3)
            run.judge(run.go(), max_duplicates=2)
        _relay_random(relay_once, workdir, [seed] if seed is not None else seeds(EX_RELAY, 30, hidden=True), 12)
