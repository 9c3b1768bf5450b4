"""Checks for module 07 (event sourcing).

Each exercise's function is plugged into msglib's real event store:

* ``07-apply``        - ``apply(account, event)`` becomes BankAccount's apply: commands
                        record through it, loads replay through it; compared with
                        msglib's account over seeded command sequences;
* ``07-append_retry`` - ``append_with_retry(store, stream, decide, max_attempts)`` runs
                        the command handler while a rival writer races it;
* ``07-upcaster``     - ``upcast_deposit_v1(data)`` is registered with the store and
                        old events are read through it;
* ``07-saga``         - ``next_step(transfer)`` orchestrates the transfer saga while
                        crashes and refusals are injected at every step, and account
                        owners cash out and close accounts between a crash and the
                        resume; judged by ``msglib.check.saga`` (money conserved).
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.cqrs.commands import CommandHandler, Deposit, OpenAccount, Withdraw
from msglib.es import BankAccount, DomainError, EventStore, NewEvent, Repository
from msglib.es.errors import ConcurrencyError, EventStoreError
from msglib.es.events import ANY, RecordedEvent
from msglib.grading.core import CheckFailed, guarded, quiet, require_callable, seeds
from msglib.check.saga import check_transfer
from msglib.patterns.saga import InjectedCrash, TransferSagas, next_step as _reference_next_step

EX_APPLY = "07-apply"
EX_RETRY = "07-append_retry"
EX_UPCAST = "07-upcaster"
EX_SAGA = "07-saga"


class _LearnerBug(Exception):
    """The learner's function raised: reported as a CheckFailed by the caller."""


def _guard(fn: Callable, exercise: str, seed: int | None, case: Callable[[], str],
           passthrough: tuple[type[BaseException], ...] = ()) -> Callable:
    """Call the learner's function; its own crashes become a CheckFailed that names the case."""
    return guarded(fn, exercise, seed=seed, case=lambda *a, **k: case(), passthrough=(InjectedCrash,) + passthrough)


# -- exercise 1: apply ---------------------------------------------------------------

def _account_ops(rng: random.Random, n: int) -> list[tuple]:
    """A seeded sequence of account commands, some of which the account must refuse."""
    ops: list[tuple] = [("open", "ada")]
    transfers: list[str] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.4:
            tid = None
            if rng.random() < 0.3:
                tid = rng.choice(transfers) if transfers and rng.random() < 0.5 else f"t{i}"
                transfers.append(tid)
            ops.append(("deposit", rng.randint(1, 50), tid))
        elif roll < 0.85:
            ops.append(("withdraw", rng.randint(1, 60), None))
        elif roll < 0.93:
            ops.append(("withdraw_all",))
        else:
            ops.append(("close",))
    return ops


def _do(repo: Repository, op: tuple) -> str:
    """Run one op through load -> command -> save; return 'ok' or the refusal's class name."""
    try:
        if op[0] == "open":
            acc = repo.cls.open("a1", op[1])
        else:
            acc = repo.load("a1")
            if op[0] == "deposit":
                acc.deposit(op[1], transfer_id=op[2])
            elif op[0] == "withdraw":
                acc.withdraw(op[1], transfer_id=op[2])
            elif op[0] == "withdraw_all":
                if acc.balance > 0:
                    acc.withdraw(acc.balance)
            else:
                acc.close()
        repo.save(acc)
        return "ok"
    except DomainError as exc:
        return type(exc).__name__


def _state(acc: BankAccount) -> dict:
    return {"version": acc.version, "owner": acc.owner, "balance": acc.balance, "opened": acc.opened,
            "closed": acc.closed, "transfers": sorted(acc.transfers)}


def _show(op: tuple) -> str:
    if op[0] == "open":
        return f"open(owner={op[1]!r})"
    if op[0] in ("deposit", "withdraw"):
        return f"{op[0]}({op[1]}" + (f", transfer_id={op[2]!r})" if op[2] else ")")
    return f"{op[0]}()"


def _run_apply_case(apply: Callable, ops: list[tuple], seed: int | None) -> None:
    done: list[tuple] = []
    guarded = _guard(apply, EX_APPLY, seed, lambda: "after " + ", ".join(_show(o) for o in done))

    class LearnerAccount(BankAccount):
        def apply(self, event: Any) -> None:
            guarded(self, event)

    ref = Repository(EventStore(":memory:"), BankAccount)
    mine = Repository(EventStore(":memory:"), LearnerAccount)
    for op in ops:
        done.append(op)
        expected = _do(ref, op)
        case = " -> ".join(_show(o) for o in done)
        try:
            got = _do(mine, op)
        except EventStoreError as exc:
            raise CheckFailed(f"saving the account failed with {type(exc).__name__}: {exc}", case=case, seed=seed,
                              exercise=EX_APPLY, hint="apply changes state only; record() and replay() keep "
                                                      "the version") from None
        if expected != got:
            raise CheckFailed(f"the last command should have been {'accepted' if expected == 'ok' else 'refused'} "
                              f"({expected}), but with your apply it was {got}; the account's state was wrong "
                              f"before it", case=case, seed=seed, exercise=EX_APPLY,
                              hint="commands decide on the state your apply builds")
        want, have = _state(ref.load("a1")), _state(mine.load("a1"))
        if want != have:
            diff = {k: (have[k], want[k]) for k in want if want[k] != have[k]}
            raise CheckFailed("after replaying the stored events the account is wrong: "
                              + "; ".join(f"{k} is {h!r}, expected {w!r}" for k, (h, w) in diff.items()),
                              case=case, seed=seed, exercise=EX_APPLY,
                              hint="apply changes state for one event; replay sets version itself"
                              if "version" in diff else None)


def _check_unknown_type(apply: Callable) -> None:
    acc = BankAccount("a1")
    event = RecordedEvent(7, "account-a1", 3, "AccountRenamed", {"owner": "bob"}, "e", 0.0)
    try:
        with quiet():
            apply(acc, event)
    except NotImplementedError:
        raise CheckFailed("`apply` is not implemented yet (it raised NotImplementedError)", exercise=EX_APPLY,
                          hint="replace `raise NotImplementedError()` with your code") from None
    except Exception as exc:
        if "AccountRenamed" not in str(exc):
            raise CheckFailed(f"an unknown event type raised {type(exc).__name__}: {exc!s} - the message "
                              f"should name the type 'AccountRenamed'", case="apply(account, AccountRenamed)",
                              exercise=EX_APPLY) from None
        return
    raise CheckFailed("an unknown event type was silently ignored; replay must stop and name it (an unknown "
                      "event means the code and the stored history disagree)",
                      case="apply(account, event of type 'AccountRenamed')", exercise=EX_APPLY,
                      hint="raise UnknownEventTypeError or ValueError naming event.type")


def _check_never_refuses(apply: Callable) -> None:
    """Stored events are facts: replay must apply them even where today's rules would refuse the command.

    (An older version of the code allowed an overdraft; a refund reached an account after it closed.)
    """
    history = [("AccountOpened", {"owner": "ada"}), ("MoneyDeposited", {"amount": 10}),
               ("MoneyWithdrawn", {"amount": 25}), ("AccountClosed", {}), ("MoneyDeposited", {"amount": 5})]
    events = [RecordedEvent(v, "account-a1", v, t, d, f"e{v}", 0.0) for v, (t, d) in enumerate(history, 1)]
    case = "replay of " + " -> ".join(f"{t} {d}" for t, d in history)

    class LearnerAccount(BankAccount):
        def apply(self, event: Any) -> None:
            apply(self, event)

    try:
        with quiet():
            acc = LearnerAccount.replay("a1", events)
    except NotImplementedError:
        raise CheckFailed("`apply` is not implemented yet (it raised NotImplementedError)", exercise=EX_APPLY,
                          hint="replace `raise NotImplementedError()` with your code") from None
    except Exception as exc:
        raise CheckFailed(f"apply refused a stored event ({type(exc).__name__}: {exc}); stored events already "
                          f"happened, so replay must apply them whatever today's rules say", case=case,
                          exercise=EX_APPLY, hint="checks belong in the command methods (withdraw, deposit), "
                                                  "not in apply") from None
    if (acc.balance, acc.closed, acc.version) != (-10, True, 5):
        raise CheckFailed(f"after replay: balance {acc.balance}, closed {acc.closed}, version {acc.version}; "
                          f"expected balance -10, closed True, version 5", case=case, exercise=EX_APPLY)


def check_apply(apply: Callable, seed: int | None = None) -> None:
    """Visible: a hand-written history, an unknown event type, one seeded run."""
    require_callable(apply, "apply", EX_APPLY)
    _run_apply_case(apply, [("open", "ada"), ("deposit", 100, None), ("withdraw", 30, None),
                            ("withdraw", 80, None), ("withdraw_all",), ("close",), ("deposit", 5, None)], None)
    _check_unknown_type(apply)
    _check_never_refuses(apply)
    for s in ([seed] if seed is not None else seeds(EX_APPLY, 1)):
        _run_apply_case(apply, _account_ops(random.Random(s), 25), s)


def hidden_apply(apply: Callable, seed: int | None = None) -> None:
    """Hidden: transfer ids (idempotent steps), many seeded runs."""
    require_callable(apply, "apply", EX_APPLY)
    _run_apply_case(apply, [("open", "ada"), ("deposit", 40, "t1"), ("deposit", 40, "t1"),
                            ("withdraw", 30, "t2"), ("withdraw", 30, "t2"), ("withdraw", 15, None)], None)
    _check_unknown_type(apply)
    _check_never_refuses(apply)
    for s in ([seed] if seed is not None else seeds(EX_APPLY, 8, hidden=True)):
        _run_apply_case(apply, _account_ops(random.Random(s), 40), s)


# -- exercise 2: append with optimistic concurrency and retry --------------------------

class _RivalStore:
    """The store as the learner's function sees it: after some reads, a rival writer
    appends to the same stream (as another process would), and every append is logged."""

    def __init__(self, store: EventStore, rng: random.Random, race_prob: float, max_races: int) -> None:
        self._store = store
        self._rng = rng
        self.race_prob = race_prob
        self.races_left = max_races
        self.reads: list[int] = []           # versions the learner saw
        self.appends: list[Any] = []         # expected versions the learner sent
        self.races = 0                       # rival appends so far

    def read_stream(self, stream: str, **kwargs: Any) -> list[RecordedEvent]:
        events = self._store.read_stream(stream, **kwargs)
        self.reads.append(events[-1].version if events else 0)
        if self.races_left and events and self._rng.random() < self.race_prob:
            self.races_left -= 1
            acc = BankAccount.replay(stream.split("-", 1)[1], self._store.read_stream(stream))
            self.races += 1
            if acc.balance >= 10 and self._rng.random() < 0.6:
                self._store.append(stream, NewEvent("MoneyWithdrawn", {"amount": 10}), expected_version=ANY)
            else:
                self._store.append(stream, NewEvent("MoneyDeposited", {"amount": 5}), expected_version=ANY)
        return events

    def stream_version(self, stream: str) -> int:
        version = self._store.stream_version(stream)
        self.reads.append(version)
        return version

    def append(self, stream: str, events: Any, expected_version: Any = ANY, **kwargs: Any) -> Any:
        self.appends.append(expected_version)
        return self._store.append(stream, events, expected_version, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _run_retry_case(fn: Callable, seed: int, n: int, race_prob: float, max_attempts: int) -> None:
    rng = random.Random(seed)
    store = EventStore(":memory:")
    rival = _RivalStore(store, rng, race_prob, max_races=10 ** 6)
    log: list[str] = []

    def learner_append(tagged_store: Any, stream: str, decide: Callable, attempts: int) -> Any:
        # CommandHandler hands its store wrapper; give the learner the racing store under it.
        guarded = _guard(fn, EX_RETRY, seed, lambda: " ; ".join(log[-4:]), (DomainError, ConcurrencyError))
        return guarded(_Tagging(rival, tagged_store), stream, decide, attempts)

    handler = CommandHandler(store, append=learner_append, max_attempts=max_attempts)
    CommandHandler(store).handle(OpenAccount("a1", "ada"))
    CommandHandler(store).handle(Deposit("a1", 60))
    accepted = 0
    for i in range(n):
        cmd = Deposit("a1", rng.randint(1, 30)) if rng.random() < 0.5 else Withdraw("a1", rng.randint(1, 40))
        before_appends, before_races = len(rival.appends), rival.races
        log.append(repr(cmd))
        try:
            result = handler.handle(cmd)
        except ConcurrencyError:
            # Giving up is allowed only after max_attempts conflicting appends.
            tries = len(rival.appends) - before_appends
            if tries != max_attempts:
                raise CheckFailed(f"ConcurrencyError reached the caller after {tries} append attempt(s); "
                                  f"with max_attempts={max_attempts} you must try exactly {max_attempts} times",
                                  case=" ; ".join(log[-3:]), seed=seed, exercise=EX_RETRY) from None
            if rival.races - before_races < tries:
                raise CheckFailed(f"you gave up after {tries} attempts although only {rival.races - before_races} "
                                  f"of them met a rival write: a retry must read the stream again and decide on "
                                  f"the fresh history", case=" ; ".join(log[-3:]), seed=seed, exercise=EX_RETRY,
                                  hint="re-read inside the loop, and use the new version as expected_version")
            continue
        except DomainError:
            continue
        tries = len(rival.appends) - before_appends
        if tries > max_attempts:
            raise CheckFailed(f"{tries} appends for one command with max_attempts={max_attempts}",
                              case=" ; ".join(log[-3:]), seed=seed, exercise=EX_RETRY)
        if result is None:
            raise CheckFailed("your function returned None for a command whose events were not stored "
                              "(return the store's AppendResult, or raise after the last attempt)",
                              case=" ; ".join(log[-3:]), seed=seed, exercise=EX_RETRY)
        accepted += 1
    for expected in rival.appends:
        if expected == ANY or expected == "any":
            raise CheckFailed("you appended with expected_version=ANY: nothing stops a rival's write "
                              "from slipping in between your read and your append",
                              case=" ; ".join(log[-3:]), seed=seed, exercise=EX_RETRY,
                              hint="pass expected_version = the version of the history you decided on")
    events = store.read_stream("account-a1")
    balance = 0
    for e in events:
        if e.type == "MoneyDeposited":
            balance += e.data["amount"]
        elif e.type == "MoneyWithdrawn":
            balance -= e.data["amount"]
        if balance < 0:
            raise CheckFailed(f"the account went overdrawn ({balance}) at version {e.version}: a withdrawal "
                              f"was decided on a stale balance", case=" ; ".join(log[-3:]), seed=seed,
                              exercise=EX_RETRY, hint="after a ConcurrencyError read the stream again and "
                                                      "call decide on the fresh history")


class _Tagging:
    """Reads go to the racing store; appends keep the command's correlation id tagging."""

    def __init__(self, rival: _RivalStore, tagged: Any) -> None:
        self._rival = rival
        self._tagged = tagged

    def append(self, stream: str, events: Any, expected_version: Any = ANY, **kwargs: Any) -> Any:
        self._rival.appends.append(expected_version)
        return self._tagged.append(stream, events, expected_version, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rival, name)


def _retry_unit(fn: Callable) -> None:
    """No race at all: one read, one append, the result returned; and the first event of a new stream."""
    store = EventStore(":memory:")
    fresh = _guard(fn, EX_RETRY, None, lambda: "a new stream 'n' with no events yet, nobody else writes")(
        store, "n", lambda history: [NewEvent("AccountOpened", {"owner": "ada"})], 3)
    if store.stream_version("n") != 1 or getattr(fresh, "last_version", None) != 1:
        raise CheckFailed(f"appending the first event of a new stream: the stream is at version "
                          f"{store.stream_version('n')} and you returned {fresh!r}; expected version 1 and its "
                          f"AppendResult", case="a new stream 'n' with no events yet, nobody else writes",
                          exercise=EX_RETRY, hint="an empty history means version 0 (history[-1] does not exist)")
    store.append("s", NewEvent("MoneyDeposited", {"amount": 1}))
    calls: list[int] = []

    def decide(history: list) -> list:
        calls.append(len(history))
        return [NewEvent("MoneyDeposited", {"amount": 2})]

    result = _guard(fn, EX_RETRY, None, lambda: "one stream, no rival")(store, "s", decide, 3)
    if calls != [1]:
        raise CheckFailed(f"decide was called {len(calls)} time(s) with histories of {calls} events; without any "
                          f"rival it should be called once with the 1 stored event", exercise=EX_RETRY,
                          case="stream 's' holds 1 event, nobody else writes")
    if store.stream_version("s") != 2 or result is None or getattr(result, "last_version", None) != 2:
        raise CheckFailed(f"expected one event appended at version 2 and its AppendResult returned; the stream "
                          f"is at version {store.stream_version('s')} and you returned {result!r}",
                          exercise=EX_RETRY, case="stream 's' holds 1 event, nobody else writes")


def check_append_retry(append_with_retry: Callable, seed: int | None = None) -> None:
    require_callable(append_with_retry, "append_with_retry", EX_RETRY)
    _retry_unit(append_with_retry)
    for s in ([seed] if seed is not None else seeds(EX_RETRY, 2)):
        _run_retry_case(append_with_retry, s, n=25, race_prob=0.4, max_attempts=3)


def hidden_append_retry(append_with_retry: Callable, seed: int | None = None) -> None:
    require_callable(append_with_retry, "append_with_retry", EX_RETRY)
    _retry_unit(append_with_retry)
    for i, s in enumerate([seed] if seed is not None else seeds(EX_RETRY, 6, hidden=True)):
        _run_retry_case(append_with_retry, s, n=40, race_prob=(0.3, 0.7, 0.95)[i % 3], max_attempts=1 + i % 4)


# -- exercise 3: an upcaster ---------------------------------------------------------

def _reference_upcast(data: dict) -> dict:
    return {"amount": round(data["amount_eur"] * 100), "currency": "EUR"}


def _run_upcast_case(fn: Callable, amounts: list[float], seed: int | None) -> None:
    store = EventStore(":memory:")
    # Version 1 of the app wrote deposits as euros (a float) without a currency, schema 1.
    store.append("account-a1", [NewEvent("AccountOpened", {"owner": "ada"})]
                 + [NewEvent("MoneyDeposited", {"amount_eur": a}) for a in amounts])
    seen: list[dict] = []

    def spy(data: dict) -> Any:
        seen.append(dict(data))
        return fn(data)

    spy.__name__ = getattr(fn, "__name__", "upcast_deposit_v1")

    def case() -> str:
        return f"stored v1 event data {seen[-1] if seen else None}"

    store.register_upcaster("MoneyDeposited", 1, _guard(spy, EX_UPCAST, seed, case))
    try:
        upcast_events = store.read_stream("account-a1")[1:]
    except EventStoreError as exc:
        raise CheckFailed(str(exc), case=case(), seed=seed, exercise=EX_UPCAST,
                          hint="build and return a new dict") from None
    for event, a in zip(upcast_events, amounts):
        want = _reference_upcast({"amount_eur": a})
        amount = event.data.get("amount")
        if event.data == want and type(amount) is not int:
            raise CheckFailed(f"upcast gave amount {amount!r}, a {type(amount).__name__}; schema 2 stores an int "
                              f"number of cents", case=f"stored v1 event data {{'amount_eur': {a!r}}}", seed=seed,
                              exercise=EX_UPCAST, hint="round(x) returns an int; round(x, 2) returns a float")
        if event.data != want:
            raise CheckFailed(f"upcast gave {event.data!r}, expected {want!r} (integer cents, currency EUR)",
                              case=f"stored v1 event data {{'amount_eur': {a!r}}}", seed=seed, exercise=EX_UPCAST,
                              hint="12.29 * 100 is 1228.9999999999998 in floating point: round, do not truncate"
                              if isinstance(event.data.get("amount"), int) and
                              abs(event.data["amount"] - want["amount"]) == 1 else None)
    # New events are written at schema 2 and are not passed through the upcaster again.
    store.append("account-a1", NewEvent("MoneyDeposited", {"amount": 700, "currency": "EUR"}))
    acc = Repository(store, BankAccount).load("a1")
    if acc.balance != sum(_reference_upcast({"amount_eur": a})["amount"] for a in amounts) + 700:
        raise CheckFailed(f"the account loaded through your upcaster has balance {acc.balance}",
                          case=f"{len(amounts)} old deposits then one new", seed=seed, exercise=EX_UPCAST)


def check_upcaster(upcast_deposit_v1: Callable, seed: int | None = None) -> None:
    require_callable(upcast_deposit_v1, "upcast_deposit_v1", EX_UPCAST)
    _run_upcast_case(upcast_deposit_v1, [12.5, 3.0, 0.1], None)
    for s in ([seed] if seed is not None else seeds(EX_UPCAST, 1)):
        rng = random.Random(s)
        _run_upcast_case(upcast_deposit_v1, [rng.randint(1, 99999) / 100 for _ in range(20)], s)


def hidden_upcaster(upcast_deposit_v1: Callable, seed: int | None = None) -> None:
    require_callable(upcast_deposit_v1, "upcast_deposit_v1", EX_UPCAST)
    _run_upcast_case(upcast_deposit_v1, [12.29, 0.29, 1.15, 4.35, 19.99, 0.57], None)
    for s in ([seed] if seed is not None else seeds(EX_UPCAST, 3, hidden=True)):
        rng = random.Random(s)
        _run_upcast_case(upcast_deposit_v1, [rng.randint(1, 99999) / 100 for _ in range(100)], s)


# -- exercise 4: the transfer saga's orchestration --------------------------------------

POINTS = [f"{when}_{step}" for step in ("debit", "credit", "refund", "complete", "fail")
          for when in ("before", "during", "after")]


def _cash_out_and_close(accounts: Repository, name: str) -> None:
    """The owner empties the account and closes it (no transfer id: not the saga's business)."""
    acc = accounts.load(name)
    if acc.closed:
        return
    if acc.balance > 0:
        acc.withdraw(acc.balance)
    acc.close()
    accounts.save(acc)


def _run_saga_case(fn: Callable, seed: int | None, source_balance: int, amount: int, refuse: str | None,
                   crash_at: list[str], closes: dict[str, str] | None = None) -> None:
    """One transfer of ``amount`` from src to dst (balance 10) under a fault schedule: ``refuse`` a step,
    crash at the points of ``crash_at`` (resuming after each), and at the points of ``closes`` let that
    account's owner cash out and close it. Judged by the saga checker (money conserved, steps applied once,
    an honest status), then compared with msglib's orchestration on the same schedule."""
    closes = dict(closes or {})
    desc = (f"source balance {source_balance}, transfer {amount}"
            + (f", the {refuse} step is refused" if refuse else "")
            + (f", crashes at {crash_at}" if crash_at else "")
            + "".join(f", at {p} the owner of {a} cashes out and closes it" for p, a in closes.items()))
    guarded = _guard(fn, EX_SAGA, seed, lambda: desc)
    try:
        status, balances, store = _saga_run(guarded, source_balance, amount, refuse, crash_at, closes)
    except (ValueError, RuntimeError) as exc:
        raise CheckFailed(str(exc), case=desc, seed=seed, exercise=EX_SAGA) from None
    verdict = check_transfer(store, "t1")
    if verdict.problems:
        raise CheckFailed(verdict.problems[0], case=desc, seed=seed, exercise=EX_SAGA,
                          hint="compensate only a step that happened (refund after a refused credit, never after "
                               "a refused debit), and stop (None) when the refund itself was refused: 'stuck' "
                               "tells a person the money is owed; 'failed' would say it was returned")
    want_status, want_balances, _ = _saga_run(_reference_next_step, source_balance, amount, refuse, crash_at,
                                              closes)
    if status != want_status:
        raise CheckFailed(f"the transfer ended {status!r}; on this schedule it should end {want_status!r}",
                          case=desc, seed=seed, exercise=EX_SAGA,
                          hint="every path must reach a terminal status: completed, failed, or stuck when the "
                               "compensation itself is refused")
    if balances != want_balances:
        raise CheckFailed(f"balances end at source {balances[0]}, target {balances[1]}; expected source "
                          f"{want_balances[0]}, target {want_balances[1]}", case=desc, seed=seed, exercise=EX_SAGA)


def _saga_run(next_step: Callable, source_balance: int, amount: int, refuse: str | None, crash_at: list[str],
              closes: dict[str, str]) -> tuple[str, tuple[int, int], EventStore]:
    store = EventStore(":memory:")
    accounts = Repository(store, BankAccount)
    for name, balance in (("src", source_balance), ("dst", 10)):
        acc = BankAccount.open(name, name)
        if balance:
            acc.deposit(balance)
        accounts.save(acc)
    schedule = list(crash_at)
    closing = dict(closes)

    def fault(point: str) -> None:
        if point in closing:                       # the owner acts first; the crash (if any) comes after
            _cash_out_and_close(accounts, closing.pop(point))
        if schedule and schedule[0] == point:
            schedule.pop(0)
            raise InjectedCrash(point)
        if refuse and point == f"during_{refuse}":
            raise DomainError(f"{refuse} refused by the bank")

    sagas = TransferSagas(store, next_step=next_step, fault=fault, max_steps=12)
    for _ in range(len(crash_at) + 1):
        try:
            sagas.transfer("t1", "src", "dst", amount)
            break
        except InjectedCrash:
            continue
    status = sagas.transfers.load("t1").status
    return status, (accounts.load("src").balance, accounts.load("dst").balance), store


# Crashes interleaved with closes: the schedules where a replayed step meets an account closed in between.
CLOSE_SCHEDULES: list[tuple[str | None, list[str], dict[str, str]]] = [
    (None, ["after_credit"], {"after_credit": "dst"}),      # credited, crash, the target cashes out and closes
    (None, ["after_debit"], {"after_debit": "src"}),        # debited, crash, the source cashes out and closes
    ("credit", [], {"before_refund": "src"}),               # credit refused, the source closes: the refund is too
]


def check_saga(next_step: Callable, seed: int | None = None) -> None:
    require_callable(next_step, "next_step", EX_SAGA)
    _run_saga_case(next_step, None, 100, 30, None, [])
    _run_saga_case(next_step, None, 20, 30, None, [])
    _run_saga_case(next_step, None, 100, 30, "credit", [])
    _run_saga_case(next_step, None, 100, 30, None, ["after_debit"])
    for refuse, crashes, closes in CLOSE_SCHEDULES:
        _run_saga_case(next_step, None, 100, 30, refuse, crashes, closes)


def hidden_saga(next_step: Callable, seed: int | None = None) -> None:
    require_callable(next_step, "next_step", EX_SAGA)
    for refuse in (None, "debit", "credit"):
        for point in POINTS:
            _run_saga_case(next_step, None, 100, 30, refuse, [point])
            for who in ("src", "dst"):             # the same crash, with an owner closing an account there
                _run_saga_case(next_step, None, 100, 30, refuse, [point], {point: who})
    for s in ([seed] if seed is not None else seeds(EX_SAGA, 10, hidden=True)):
        rng = random.Random(s)
        crashes = rng.sample(POINTS, rng.randint(0, 4))
        closes = {p: rng.choice(["src", "dst"]) for p in rng.sample(POINTS, rng.randint(0, 2))}
        _run_saga_case(next_step, s, rng.randint(0, 100), rng.randint(1, 80), rng.choice([None, "debit", "credit"]),
                       crashes, closes)
