"""Checks for module 09 (retries and dead letters).

Each learner function runs inside msglib.dlq or msglib.queue.sqs through a seam:

* ``09-backoff``      -- ``backoff(retry, base_ms, cap_ms, rng) -> ms`` (exponential with a cap and
  full jitter): bounds, reproducibility from ``rng``, the distribution (Kolmogorov-Smirnov against
  the uniform law over seeds), then as the delay policy of a :class:`RetryProcessor`;
* ``09-classify``     -- ``is_transient(exc) -> bool`` decides every failure of a retry processor
  running a seeded workload of flaky, poison and permanently failing messages;
* ``09-retry_router`` -- ``route_failure(topology, failed_topic, now_ms, fatal) -> (topic, due_ms)``
  routes every failed record of a Spring-style retry-topic pipeline on msglib.log;
* ``09-redrive``      -- ``redrive(dlq, destination, budget)`` is the mover of an SQS message move
  task, every simulated second, while the destination has outages.

Every run's history also goes through :func:`msglib.check.dlq.check_dlq` where it applies.
"""
from __future__ import annotations

import json
import math
import random
from typing import Any, Callable

from msglib.check.dlq import check_dlq
from msglib.dlq import (DeserializationError, ExponentialBackoff, FixedBackoff, HttpError, MessageConversionError,
                        PermanentError, RetryProcessor, RetryTopicPipeline, RetryTopology, TransientError,
                        exponential_ceiling, make_workload, route_failure)
from msglib.dlq.retry import ScriptedHandler, RetryMessage
from msglib.grading.core import CheckFailed, call_learner, quiet, require_callable, seeds
from msglib.queue.sqs import DAY, ORIGINAL_ID, QueueUnavailable, RedrivePolicy, SqsQueue
from msglib.sim import Simulation

EX_BACKOFF = "09-backoff"
EX_CLASSIFY = "09-classify"
EX_ROUTER = "09-retry_router"
EX_REDRIVE = "09-redrive"


class _LearnerError(Exception):
    def __init__(self, failure: CheckFailed) -> None:
        super().__init__(str(failure))
        self.failure = failure


# ------------------------------------------------------------------ exercise 1: backoff with full jitter
def _ks_uniform(samples: list[float], hi: float) -> float:
    """Kolmogorov-Smirnov distance between the samples and the uniform law on [0, hi]."""
    xs = sorted(x / hi for x in samples)
    n = len(xs)
    return max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(xs))


def _number(value: Any, what: str, seed: int | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise CheckFailed(f"{what} returned {value!r}; a delay is a finite number of milliseconds",
                          seed=seed, exercise=EX_BACKOFF)
    return float(value)


def _check_backoff(fn: Callable, combos: list[tuple[float, float]], seed_list: list[int], samples: int) -> None:
    require_callable(fn, "backoff", EX_BACKOFF)
    for base, cap in combos:                                   # bounds, smallest retry first
        for retry in range(1, 16):
            ceiling = exponential_ceiling(retry, base, cap)
            for k in range(5):
                rng = random.Random(1000 * retry + k)
                what = f"backoff({retry}, base_ms={base:g}, cap_ms={cap:g}, rng)"
                d = _number(call_learner(fn, retry, base, cap, rng, exercise=EX_BACKOFF, what=what), what, None)
                if not 0 <= d <= ceiling:
                    bound = "the cap" if ceiling == cap else f"base · 2^(retry-1) = {ceiling:g}"
                    raise CheckFailed(f"{what} returned {d:g} ms, outside [0, {ceiling:g}] ({bound})",
                                      case=what, exercise=EX_BACKOFF,
                                      hint="ceiling = min(cap, base · 2^(retry-1)); full jitter = "
                                           "rng.uniform(0, ceiling)")
    base, cap = combos[0]
    for retry in (1, 4):
        what = f"backoff({retry}, {base:g}, {cap:g}, rng)"
        a = call_learner(fn, retry, base, cap, random.Random(7), exercise=EX_BACKOFF, what=what)
        b = call_learner(fn, retry, base, cap, random.Random(7), exercise=EX_BACKOFF, what=what)
        if a != b:
            raise CheckFailed(f"two calls with identically seeded rngs gave {a!r} and {b!r}: your jitter does not "
                              "come from `rng`", case=what, exercise=EX_BACKOFF,
                              hint="draw with rng.uniform(...), not random.uniform(...): a seed must replay a run")
    for seed in seed_list:
        rng = random.Random(seed)
        for base, cap in combos:
            capped = next(r for r in range(1, 64) if base * 2 ** (r - 1) >= cap) + 1
            for retry in sorted({1, 3, capped}):
                ceiling = exponential_ceiling(retry, base, cap)
                what = f"backoff({retry}, {base:g}, {cap:g}, rng)"
                xs = [_number(call_learner(fn, retry, base, cap, rng, exercise=EX_BACKOFF, what=what, seed=seed),
                              what, seed) for _ in range(samples)]
                d = _ks_uniform(xs, ceiling)
                if d > 2.69 / math.sqrt(samples):              # KS at alpha = 1e-6: a correct answer never fails
                    mean = sum(xs) / len(xs)
                    spread = "every draw is the same value: there is no jitter" if max(xs) - min(xs) < 1e-9 else \
                        f"mean {mean:.0f} ms, expected {ceiling / 2:.0f}; at the cap {sum(x >= ceiling - 1e-9 for x in xs)} draws"
                    raise CheckFailed(f"{samples} delays of {what} are not spread uniformly over [0, {ceiling:g}] ms "
                                      f"(Kolmogorov-Smirnov distance {d:.3f}): {spread}", case=what, seed=seed,
                                      exercise=EX_BACKOFF,
                                      hint="cap the ceiling first, then draw uniformly below it; capping the "
                                           "drawn delay piles delays up at the cap")
        _backoff_in_processor(fn, combos[0], seed)


def _backoff_in_processor(fn: Callable, combo: tuple[float, float], seed: int) -> None:
    base, cap = combo
    chosen: list[tuple[int, float]] = []

    def policy(retry: int, rng: random.Random) -> float:
        d = call_learner(fn, retry, base, cap, rng, exercise=EX_BACKOFF, seed=seed,
                         what=f"backoff({retry}, {base:g}, {cap:g}, rng)")
        chosen.append((retry, d))
        return d

    sim = Simulation(seed)
    plans = make_workload(sim.random("workload"), 40, flaky=0.5, poison=0.2, permanent=0.0)
    handler = ScriptedHandler(plans)
    proc = RetryProcessor(sim, handler, max_attempts=5, backoff=policy)
    for i, mid in enumerate(plans):
        proc.submit(mid, i, at=i * 10.0)
    proc.run()
    times: dict[str, list[float]] = {}
    for a in proc.attempts:
        times.setdefault(a.message_id, []).append(a.time)
    for a in proc.attempts:
        if a.next_step == "retry":
            nxt = times[a.message_id][a.attempt]             # the time of attempt a.attempt + 1
            if abs((nxt - a.time) - a.delay_ms) > 1e-6:
                raise CheckFailed(f"{a.message_id}: attempt {a.attempt + 1} came {nxt - a.time:g} ms after attempt "
                                  f"{a.attempt}, but the backoff said {a.delay_ms:g} ms", seed=seed, exercise=EX_BACKOFF)
    result = check_dlq(proc.history)
    if not result.valid:
        raise CheckFailed("with your backoff, the retry processor's accounting broke: " + result.summary(),
                          seed=seed, exercise=EX_BACKOFF)


def check_backoff(backoff: Callable, seed: int | None = None) -> None:
    """Visible: bounds for base 100 / cap 5000 and base 50 / cap 1000, reproducibility, the
    distribution at retries 1, 3 and the first capped retry (1500 draws each), one retry-processor run."""
    _check_backoff(backoff, [(100.0, 5_000.0), (50.0, 1_000.0)],
                   [seed] if seed is not None else seeds(EX_BACKOFF, 1), 1_500)


def hidden_backoff(backoff: Callable, seed: int | None = None) -> None:
    """Hidden: odd bases and caps (a cap below 2 x base, a cap equal to the base), 2 seeds of 2000 draws."""
    _check_backoff(backoff, [(100.0, 5_000.0), (30.0, 45.0), (250.0, 250.0), (7.0, 60_000.0)],
                   [seed] if seed is not None else seeds(EX_BACKOFF, 2, hidden=True), 2_000)


# ------------------------------------------------------------------ exercise 2: transient or permanent
class _SlowDatabase(TimeoutError):
    pass


class _BrokenPipe(TransientError):
    pass


class _BadSchema(PermanentError):
    pass


CLASSIFY_CASES: list[tuple[Callable[[], BaseException], bool]] = [
    (lambda: TimeoutError("payment service timed out"), True),
    (lambda: ConnectionError("connection refused"), True),
    (lambda: TransientError("try again"), True),
    (lambda: HttpError(503, "unavailable"), True),
    (lambda: HttpError(500, "internal error"), True),
    (lambda: HttpError(429, "too many requests"), True),
    (lambda: HttpError(400, "bad request"), False),
    (lambda: HttpError(404, "not found"), False),
    (lambda: DeserializationError("bad bytes"), False),
    (lambda: PermanentError("never"), False),
    (lambda: ValueError("quantity -3"), False),
    (lambda: KeyError("shipping_address"), False),
    (lambda: RuntimeError("something else"), True),
]
HIDDEN_CLASSIFY_CASES: list[tuple[Callable[[], BaseException], bool]] = [
    (lambda: HttpError(408, "request timeout"), True),
    (lambda: HttpError(502, "bad gateway"), True),
    (lambda: HttpError(504, "gateway timeout"), True),
    (lambda: HttpError(599), True),
    (lambda: HttpError(401, "unauthorized"), False),
    (lambda: HttpError(409, "conflict"), False),
    (lambda: HttpError(422, "unprocessable"), False),
    (lambda: ConnectionRefusedError("refused"), True),
    (lambda: ConnectionResetError("reset"), True),
    (lambda: _SlowDatabase("slow"), True),
    (lambda: _BrokenPipe("pipe"), True),
    (lambda: _BadSchema("schema v3"), False),
    (lambda: MessageConversionError("amount is not a number"), False),
    (lambda: json.JSONDecodeError("Expecting value", "{", 0), False),
    (lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), False),
    (lambda: TypeError("unsupported operand"), False),
    (lambda: AttributeError("'NoneType' object has no attribute 'id'"), False),
    (lambda: OSError("disk full"), True),
]


def _show(exc: BaseException) -> str:
    return f"{type(exc).__name__}({exc})"


def _check_classify(fn: Callable, cases: list, seed_list: list[int]) -> None:
    require_callable(fn, "is_transient", EX_CLASSIFY)
    for make, transient in cases:
        exc = make()
        got = call_learner(fn, exc, exercise=EX_CLASSIFY, what=f"is_transient({_show(exc)})")
        if not isinstance(got, bool):
            raise CheckFailed(f"is_transient({_show(exc)}) returned {got!r}; return True or False",
                              exercise=EX_CLASSIFY)
        if got != transient:
            what = "transient (worth a retry)" if transient else "permanent (no retry can fix it)"
            raise CheckFailed(f"is_transient({_show(exc)}) returned {got}; this failure is {what}",
                              case=_show(exc), exercise=EX_CLASSIFY,
                              hint="408, 429 and 5xx are transient, other 4xx permanent; mind subclasses "
                                   "(isinstance, not type(...) ==)")
    for seed in seed_list:
        def learner(exc: BaseException) -> Any:
            return call_learner(fn, exc, exercise=EX_CLASSIFY, seed=seed, what=f"is_transient({_show(exc)})")

        sim = Simulation(seed)
        plans = make_workload(sim.random("workload"), 60, flaky=0.3, poison=0.15, permanent=0.25)
        handler = ScriptedHandler(plans)
        proc = RetryProcessor(sim, handler, max_attempts=4, backoff=FixedBackoff(100), classifier=learner)
        for i, mid in enumerate(plans):
            proc.submit(mid, i, at=i * 5.0)
        proc.run()
        for mid, plan in plans.items():
            calls = handler.calls.get(mid, 0)
            first = _show(plan.errors[0]) if plan.errors else ""
            if plan.kind == "permanent" and calls != 1:
                raise CheckFailed(f"{mid} failed with {first} and was attempted {calls} times: a permanent "
                                  "failure must go to the DLQ at once", case=f"{mid}: {first}", seed=seed,
                                  exercise=EX_CLASSIFY)
            if plan.kind == "flaky" and mid not in proc.processed:
                errors = ", ".join(_show(e) for e in plan.errors)
                raise CheckFailed(f"{mid} failed transiently ({errors}) and would have succeeded on a retry, but "
                                  f"it was dead-lettered after {calls} attempt(s)", case=f"{mid}: {errors}",
                                  seed=seed, exercise=EX_CLASSIFY)
            if plan.kind == "poison" and calls != 4:
                raise CheckFailed(f"{mid} keeps failing with {first}: a transient error is retried until "
                                  f"max_attempts=4, but it was attempted {calls} times", case=f"{mid}: {first}",
                                  seed=seed, exercise=EX_CLASSIFY)
        result = check_dlq(proc.history)
        if not result.valid:
            raise CheckFailed("the retry processor's accounting broke: " + result.summary(), seed=seed,
                              exercise=EX_CLASSIFY)


def check_classify(is_transient_fn: Callable, seed: int | None = None) -> None:
    """Visible: 13 failures from the rules, then one seeded workload of 60 messages."""
    _check_classify(is_transient_fn, CLASSIFY_CASES, [seed] if seed is not None else seeds(EX_CLASSIFY, 1))


def hidden_classify(is_transient_fn: Callable, seed: int | None = None) -> None:
    """Hidden: subclasses (ConnectionRefusedError, JSONDecodeError...), more status codes, 3 workloads."""
    _check_classify(is_transient_fn, CLASSIFY_CASES + HIDDEN_CLASSIFY_CASES,
                    [seed] if seed is not None else seeds(EX_CLASSIFY, 3, hidden=True))


# ------------------------------------------------------------------ exercise 3: the retry-topic router
def _router_problem(fn: Callable, topo: RetryTopology, topic: str, now: float, fatal: bool,
                    seed: int | None) -> CheckFailed | None:
    what = f"route_failure(topology, {topic!r}, now_ms={now:g}, fatal={fatal})"
    got = call_learner(fn, topo, topic, now, fatal, exercise=EX_ROUTER, seed=seed, what=what)
    want = route_failure(topo, topic, now, fatal)
    shown = f"topology: {topo.main} → {' → '.join(f'{t} ({d:g} ms)' for t, d in zip(topo.retry_topics, topo.delays))}" \
            f" → {topo.dlt}"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return CheckFailed(f"{what} returned {got!r}; return a pair (topic, due_ms)", case=shown, seed=seed,
                           exercise=EX_ROUTER)
    topic_got, due_got = got
    if topic_got != want[0]:
        hint = ("a fatal error skips the retries" if fatal else
                "the next topic in main → retry topics → DLT; after the last retry topic comes the DLT")
        return CheckFailed(f"{what} sent the record to {topic_got!r}; it should go to {want[0]!r}",
                           case=shown, seed=seed, exercise=EX_ROUTER, hint=hint)
    if want[1] is None and due_got is not None:
        return CheckFailed(f"{what} gave the DLT record a due time {due_got!r}; DLT records are not delayed: use None",
                           case=shown, seed=seed, exercise=EX_ROUTER)
    if want[1] is not None and (not isinstance(due_got, (int, float)) or abs(due_got - want[1]) > 1e-6):
        return CheckFailed(f"{what} returned due time {due_got!r}; the record is due at now + the delay of "
                           f"{want[0]!r} = {want[1]:g}", case=shown, seed=seed, exercise=EX_ROUTER,
                           hint="topology.delays[i] belongs to topology.retry_topics[i]")
    return None


def _check_router(fn: Callable, topologies: list[RetryTopology], seed_list: list[int]) -> None:
    require_callable(fn, "route_failure", EX_ROUTER)
    for topo in topologies:
        for topic in topo.chain:
            for fatal in (False, True):
                problem = _router_problem(fn, topo, topic, 1_250.0, fatal, None)
                if problem:
                    raise problem
    for k, seed in enumerate(seed_list):
        topo = topologies[k % len(topologies)]

        def router(topology: RetryTopology, topic: str, now: float, fatal: bool) -> Any:
            problem = _router_problem(fn, topology, topic, now, fatal, seed)
            if problem:
                raise _LearnerError(problem)
            return route_failure(topology, topic, now, fatal)

        sim = Simulation(seed)
        plans = make_workload(sim.random("workload"), 30, flaky=0.4, poison=0.15, permanent=0.15,
                              max_flaky_failures=max(1, topo.attempts - 1))
        handler = ScriptedHandler(plans)
        pipe = RetryTopicPipeline(sim, topo, lambda r: handler(RetryMessage(r.message_id, r.payload, r.attempt)),
                                  router=router)
        for i, mid in enumerate(plans):
            pipe.submit({"n": i}, message_id=mid, at=i * 7.0)
        try:
            pipe.run()
        except _LearnerError as exc:
            raise exc.failure from None
        result = check_dlq(pipe.history)
        if not result.valid:
            raise CheckFailed("the pipeline's accounting broke: " + result.summary(), seed=seed, exercise=EX_ROUTER)


def check_retry_router(route: Callable, seed: int | None = None) -> None:
    """Visible: every topic of orders → retry-1000/2000/4000 → dlt, fatal or not; one pipeline run."""
    topo = RetryTopology.create("orders", 4, ExponentialBackoff(1000, 2))
    _check_router(route, [topo], [seed] if seed is not None else seeds(EX_ROUTER, 1))


def hidden_retry_router(route: Callable, seed: int | None = None) -> None:
    """Hidden: ladders of 1, 2, 3 and 6 attempts, fixed and capped backoff; 4 pipeline runs."""
    topos = [RetryTopology.create("orders", 4, ExponentialBackoff(1000, 2)),
             RetryTopology.create("payments", 1),
             RetryTopology.create("emails", 3, FixedBackoff(500)),
             RetryTopology.create("sms", 6, ExponentialBackoff(200, 3, 2_000)),
             RetryTopology.create("push", 2, ExponentialBackoff(50, 2))]
    _check_router(route, topos, [seed] if seed is not None else seeds(EX_ROUTER, 4, hidden=True))


# ------------------------------------------------------------------ exercise 4: redrive
def _redrive_run(fn: Callable, seed: int, n: int, budget: int, outages: list[tuple[float, float]],
                 second_generation: float) -> None:
    sim = Simulation(seed)
    rng = random.Random(seed)
    dlq = SqsQueue(sim, "orders-dlq", retention_ms=14 * DAY, trace=True)
    src = SqsQueue(sim, "orders", redrive_policy=RedrivePolicy(dlq, 1))
    expected: dict[str, tuple[Any, dict, str]] = {}     # DLQ id -> body, attributes, original id
    for i in range(n):
        attrs = {"customer": f"c{rng.randint(1, 9)}"}
        if rng.random() < second_generation:            # redriven before: its first id is in the attribute
            attrs[ORIGINAL_ID] = f"orders-old-{i}"
        src.send_message({"order": i}, message_attributes=attrs)
        sim.run(until=sim.now + rng.choice([1.0, 5.0, 20.0]))
    while len(src):                                     # every message fails: into the DLQ
        src.receive_message(10, visibility_timeout_ms=0)
    for m in dlq.messages():
        attrs = m["message_attributes"]
        expected[m["message_id"]] = (m["body"], attrs, attrs.get(ORIGINAL_ID, m["message_id"]))
    start = sim.now
    src.outages = [(start + a, start + b) for a, b in outages]
    sent: list[tuple[float, Any, dict]] = []
    real_send = src.send_message

    refused: list[str] = []                            # bodies (as JSON) whose send met an outage

    def send_message(body: Any, **kwargs: Any) -> str:
        try:
            mid = real_send(body, **kwargs)           # raises QueueUnavailable during an outage
        except QueueUnavailable:
            refused.append(json.dumps(body, sort_keys=True))
            raise
        sent.append((sim.now, body, dict(kwargs.get("message_attributes") or {})))
        return mid

    src.send_message = send_message  # type: ignore[method-assign]
    errors: list[tuple[str, str | None]] = []        # (what, hint) of the first exception

    class _Receiving:
        """The DLQ as the mover sees it, noting what each call receives."""

        def __init__(self, real: SqsQueue) -> None:
            self._real = real
            self.received: list[Any] = []

        def __getattr__(self, name: str) -> Any:
            return getattr(self._real, name)

        def receive_message(self, *args: Any, **kwargs: Any) -> Any:
            got = self._real.receive_message(*args, **kwargs)
            self.received.extend(got)
            return got

    def mover(dlq_: SqsQueue, destination: SqsQueue, budget_: int) -> Any:
        ready, sent_before, refused_before = dlq_.approximate_number_of_messages, len(sent), len(refused)
        watched = _Receiving(dlq_)
        try:
            with quiet():
                result = fn(watched, destination, budget_)
        except QueueUnavailable as exc:
            errors.append((f"your redrive let QueueUnavailable escape ({exc}); the move task failed",
                           "catch QueueUnavailable: leave that message in the DLQ (do not delete it) and try "
                           "again in a later second"))
            raise
        except NotImplementedError:
            errors.append(("`redrive` is not implemented yet (it raised NotImplementedError)",
                           "replace `raise NotImplementedError()` with your code"))
            raise
        except Exception as exc:
            errors.append((f"your redrive raised {type(exc).__name__}: {exc}; the move task failed", None))
            raise
        if errors:
            return result
        # How much one call does: it returns what it moved; with the destination up it moves min(budget, ready)
        # messages (the task's rate); and a message it received but did not try to send is not left hidden for
        # the visibility timeout (one whose send failed may be: the spec allows either).
        moved, at = len(sent) - sent_before, (sim.now - start) / 1000
        tried = set(refused[refused_before:])
        state = {m["message_id"]: m["state"] for m in dlq_.messages()}
        hidden = [m.message_id for m in watched.received if state.get(m.message_id) == "in flight"
                  and json.dumps(m.body, sort_keys=True) not in tried]
        if hidden:
            errors.append((f"at {at:g} s your redrive received {len(hidden)} message(s) it neither moved nor tried "
                           f"to send (e.g. {hidden[0]}), and left them invisible in the DLQ for the visibility "
                           "timeout (30 s)", "receive only what you move, or release the rest with "
                                             "change_message_visibility(receipt_handle, 0)"))
        elif not refused[refused_before:] and moved < min(budget_, ready):
            errors.append((f"at {at:g} s the DLQ held {ready} message(s), the destination was up and the budget "
                           f"was {budget_}, but your redrive moved {moved}: the task ran below its rate",
                           "keep moving until `budget` messages are moved or the DLQ has none left"))
        elif result != moved:
            errors.append((f"at {at:g} s your redrive moved {moved} message(s) but returned {result!r}",
                           "return the number of messages this call moved"))
        return result

    task = dlq.start_message_move_task(max_per_second=budget, mover=mover)
    sim.run(until=start + 10 * 60_000)
    layout = (f"{n} dead letters, budget {budget}/s, destination down during "
              + (", ".join(f"[{a / 1000:g} s, {b / 1000:g} s)" for a, b in outages) or "never"))
    if errors:
        what, hint = errors[0]
        raise CheckFailed(what, case=layout, seed=seed, exercise=EX_REDRIVE, hint=hint)
    per_second: dict[float, int] = {}
    for t, _, _ in sent:
        per_second[t] = per_second.get(t, 0) + 1
    for t, k in per_second.items():
        if k > budget:
            raise CheckFailed(f"{k} messages were sent in the second starting at t={(t - start) / 1000:g} s; the "
                              f"rate cap is {budget} per second", case=layout, seed=seed, exercise=EX_REDRIVE,
                              hint="move at most `budget` messages per call (receive at most 10 at a time)")
    by_body = {json.dumps(body, sort_keys=True): dlq_id for dlq_id, (body, _, _) in expected.items()}

    def case_of(dlq_id: str) -> str:
        original = expected[dlq_id][2]
        steps = [f"{kind} at {(t - start) / 1000:g} s" for t, kind, mid, _ in dlq.events
                 if mid == dlq_id and t >= start and kind in ("received", "deleted")]
        history = "; ".join(steps[:6]) + (f"; ... ({len(steps)} in all)" if len(steps) > 6 else "") \
            if steps else "never received"
        return f"{layout}; {dlq_id} (original id {original}) in the DLQ: {history}"

    copies: dict[str, list[tuple[float, Any, dict]]] = {}
    for t, body, attrs in sent:
        dlq_id = by_body.get(json.dumps(body, sort_keys=True))
        if dlq_id is None:
            raise CheckFailed(f"a message with body {body!r} was sent to the destination; it is not one of the dead "
                              "letters (send the DLQ message's body unchanged)", case=layout, seed=seed,
                              exercise=EX_REDRIVE)
        original = expected[dlq_id][2]
        if attrs.get(ORIGINAL_ID) != original:
            raise CheckFailed(f"the copy of {dlq_id} carries {ORIGINAL_ID}={attrs.get(ORIGINAL_ID)!r}; it should be "
                              f"{original!r}, the id the message had when it was first sent", case=case_of(dlq_id),
                              seed=seed, exercise=EX_REDRIVE,
                              hint=f"keep an existing {ORIGINAL_ID} attribute; otherwise set it to the DLQ "
                                   "message's id (the destination gives the copy a new id, which breaks dedupe)")
        copies.setdefault(dlq_id, []).append((t, body, attrs))
    left = {m["message_id"] for m in dlq.messages()}
    for dlq_id, (body, attrs, original) in expected.items():
        got = copies.get(dlq_id, [])
        if not got and dlq_id not in left:
            raise CheckFailed(f"{dlq_id} is gone from the DLQ but never arrived at the destination: it was lost",
                              case=case_of(dlq_id), seed=seed, exercise=EX_REDRIVE,
                              hint="delete from the DLQ only after send_message returned")
        if len(got) > 1:
            raise CheckFailed(f"{dlq_id} arrived {len(got)} times at the destination", case=case_of(dlq_id),
                              seed=seed, exercise=EX_REDRIVE,
                              hint="delete each message from the DLQ once it is sent; an undeleted message "
                                   "reappears when its visibility timeout ends")
        if got and any(got[0][2].get(k) != v for k, v in attrs.items() if k != ORIGINAL_ID):
            raise CheckFailed(f"the copy of {dlq_id} lost its message attributes: got {got[0][2]!r}, the dead letter "
                              f"had {attrs!r}", case=case_of(dlq_id), seed=seed, exercise=EX_REDRIVE)
    if task.status != "COMPLETED" or left:
        raise CheckFailed(f"after 10 minutes the DLQ still holds {len(left)} message(s) and the task is "
                          f"{task.status}", case=layout, seed=seed, exercise=EX_REDRIVE)


def check_redrive(redrive: Callable, seed: int | None = None) -> None:
    """Visible: 12 dead letters, 5 per second, the destination down from 1.5 s to 4 s."""
    require_callable(redrive, "redrive", EX_REDRIVE)
    for s in ([seed] if seed is not None else seeds(EX_REDRIVE, 1)):
        _redrive_run(redrive, s, 12, 5, [(1_500.0, 4_000.0)], 0.3)


def hidden_redrive(redrive: Callable, seed: int | None = None) -> None:
    """Hidden: 4 runs, budgets 1 to 25 per second, several outages, more second-generation letters."""
    require_callable(redrive, "redrive", EX_REDRIVE)
    for i, s in enumerate([seed] if seed is not None else seeds(EX_REDRIVE, 4, hidden=True)):
        budget = (1, 3, 7, 25)[i]
        outages = [(500.0 + 3_000 * k, 2_000.0 + 3_000 * k) for k in range(1 + i % 3)]
        _redrive_run(redrive, s, 15 + 10 * i, budget, outages, 0.5)


__all__ = ["check_backoff", "hidden_backoff", "check_classify", "hidden_classify", "check_retry_router",
           "hidden_retry_router", "check_redrive", "hidden_redrive"]
