"""Checks for module 01 (queue patterns).

Each learner function runs inside msglib.queue through a seam:

* ``01-topic_match``   -- ``matches(pattern, routing_key) -> bool`` becomes a topic exchange's
  matcher (``Broker(topic_matcher=...)``); seeded bindings and keys are routed through it;
* ``01-dispatch``      -- ``choose_consumer(consumers, next_index) -> int | None`` picks the
  consumer for every delivery (``Broker(dispatcher=...)``) while consumers of different speeds
  and prefetch limits work through a queue;
* ``01-idempotent_worker`` -- ``handle(delivery, channel, process, seen)`` answers every
  delivery of a work queue whose workers crash and lose acks (``simulate_work_queue(handle=...)``);
* ``01-group_queue``   -- ``group_queue(broker, exchange, group, member) -> queue`` is called by
  every member of every consumer group (``simulate_groups(group_queue=...)``).

Each check compares with msglib's own implementation or with the invariants of the
mechanism, and reports the smallest case and the seed.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.grading.core import CheckFailed, call_learner, quiet, require_callable, seeds
from msglib.queue import Broker, ConsumerView, DispatchError, round_robin, topic_matches
from msglib.queue.work import WorkConfig, WorkerCrashed, WorkerSpec, simulate_groups, simulate_work_queue
from msglib.sim import Simulation

EX_TOPIC = "01-topic_match"
EX_DISPATCH = "01-dispatch"
EX_WORKER = "01-idempotent_worker"
EX_GROUPS = "01-group_queue"


class _LearnerError(Exception):
    """Carries a CheckFailed through msglib code that would otherwise catch it."""

    def __init__(self, failure: CheckFailed) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _guard(fn: Callable, exercise: str, what: Callable[..., str], seed: int | None) -> Callable:
    def run(*args: Any) -> Any:
        try:
            return call_learner(fn, *args, exercise=exercise, what=what(*args), seed=seed)
        except CheckFailed as exc:
            raise _LearnerError(exc) from None
    return run


# ------------------------------------------------------------------ exercise 1: the topic matcher
TOPIC_CASES = [
    ("order.created", "order.created"), ("order.created", "order.paid"), ("order.*", "order.created"),
    ("order.*", "order.eu.created"), ("order.*", "order"), ("order.#", "order.eu.created"), ("order.#", "order"),
    ("#.created", "order.created"), ("#.created", "created"), ("*.created", "created"), ("#", "a.b.c"),
    ("order", "orders"), ("order.#.paid", "order.paid"), ("order.#.paid", "order.eu.de.paid"),
]
HIDDEN_TOPIC_CASES = [
    ("#", ""), ("*", ""), ("*.*", "a.b"), ("*.*", "a.b.c"), ("#.#", "a"), ("a.*.#", "a"), ("a.*.#", "a.b"),
    ("a.#.#.b", "a.b"), ("#.a.#", "b.a.c"), ("#.a.#", "b.c"), ("a.b", "a.b.c"), ("a.b.c", "a.b"),
    ("*.b.*", "a.b.c"), ("*.b.*", "b.c"), ("#.*", ""), ("#.*", "a"), ("a.*", "a.b.c"), ("a.#", "ab.c"),
    # the empty binding key: zero words, so it matches only the empty routing key ("".split(".") is [""],
    # one empty word, which no routing key with words matches and which wrongly fails the empty key)
    ("", ""), ("", "a"), ("a", ""),
]
WORDS = ["a", "b", "c"]


def _random_pattern(rng: random.Random) -> str:
    return ".".join(rng.choice(WORDS + ["*", "#"]) for _ in range(rng.randint(1, 4)))


def _random_key(rng: random.Random) -> str:
    return ".".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5)))


def _rule_hint(pattern: str) -> str:
    if "#" in pattern:
        return "'#' matches zero or more whole words (so 'order.#' matches 'order' itself)"
    if "*" in pattern:
        return "'*' matches exactly one whole word, never zero and never two"
    return "without wildcards, a pattern matches only the identical key, word for word"


def _check_topic(fn: Callable, cases: list[tuple[str, str]], seed_list: list[int], n_bindings: int) -> None:
    require_callable(fn, "matches", EX_TOPIC)
    for pattern, key in cases:
        got = call_learner(fn, pattern, key, exercise=EX_TOPIC, what=f"matches({pattern!r}, {key!r})")
        if not isinstance(got, bool):
            raise CheckFailed(f"matches({pattern!r}, {key!r}) returned {got!r}; return True or False",
                              exercise=EX_TOPIC, hint="e.g. `return re.fullmatch(...) is not None`")
        want = topic_matches(pattern, key)
        if got != want:
            raise CheckFailed(f"matches({pattern!r}, {key!r}) returned {got}; it should be {want}",
                              case=f"pattern {pattern!r}, routing key {key!r}", exercise=EX_TOPIC,
                              hint=_rule_hint(pattern))
    for seed in seed_list:
        rng = random.Random(seed)
        patterns = list(dict.fromkeys(_random_pattern(rng) for _ in range(n_bindings)))
        keys = [_random_key(rng) for _ in range(60)]
        learner = _guard(fn, EX_TOPIC, lambda p, k: f"matches({p!r}, {k!r})", seed)
        broker = Broker(Simulation(seed), topic_matcher=learner)
        broker.declare_exchange("events", "topic")
        for i, p in enumerate(patterns):
            broker.declare_queue(f"q{i}")
            broker.bind(f"q{i}", "events", p)
        wrong: list[tuple[str, str, bool]] = []
        for key in keys:
            try:
                routed = set(broker.publish("events", key).routed)
            except _LearnerError as exc:
                raise exc.failure from None
            for i, p in enumerate(patterns):
                want = topic_matches(p, key)
                if (f"q{i}" in routed) != want:
                    wrong.append((p, key, want))
        if wrong:
            p, key, want = min(wrong, key=lambda w: (len(w[0]) + len(w[1]), w))
            verb = "should reach" if want else "should not reach"
            raise CheckFailed(f"routing through your matcher: a message with key {key!r} {verb} the queue bound "
                              f"with {p!r} ({len(wrong)} wrong routing decisions in this run)",
                              case=f"pattern {p!r}, routing key {key!r}", seed=seed, exercise=EX_TOPIC,
                              hint=_rule_hint(p))


def check_topic_match(matches: Callable, seed: int | None = None) -> None:
    """Visible: the rules on 14 hand-picked cases, then 2 seeded exchanges with 8 bindings each."""
    _check_topic(matches, TOPIC_CASES, [seed] if seed is not None else seeds(EX_TOPIC, 2), 8)


def hidden_topic_match(matches: Callable, seed: int | None = None) -> None:
    """Hidden: corner cases (empty keys, several '#', '*' next to '#'), then 8 seeded exchanges."""
    _check_topic(matches, TOPIC_CASES + HIDDEN_TOPIC_CASES,
                 [seed] if seed is not None else seeds(EX_TOPIC, 8, hidden=True), 14)


# ------------------------------------------------------------------ exercise 2: the dispatcher
def _views(spec: list[tuple[int, int]]) -> list[ConsumerView]:
    return [ConsumerView(f"c{i}", prefetch, unacked) for i, (prefetch, unacked) in enumerate(spec)]


DISPATCH_CASES = [
    ([(1, 0), (1, 0), (1, 0)], 0), ([(1, 0), (1, 0), (1, 0)], 2), ([(1, 1), (1, 0), (1, 0)], 0),
    ([(1, 0), (1, 1), (1, 1)], 1), ([(1, 1), (1, 1), (1, 1)], 1), ([(2, 1), (2, 2)], 1), ([(0, 7), (1, 1)], 1),
    ([(3, 3)], 0), ([(3, 2)], 0),
]
HIDDEN_DISPATCH_CASES = [
    ([(0, 0)], 0), ([(0, 100), (0, 3)], 0), ([(5, 5), (5, 5), (5, 4)], 0), ([(5, 4), (5, 5), (5, 5)], 2),
    ([(2, 2), (0, 9), (2, 2)], 2), ([(1, 0)], 0), ([(1, 1), (1, 1), (1, 1), (1, 0)], 0),
]


def _describe_views(views: list[ConsumerView]) -> str:
    return "[" + ", ".join(f"{v.tag}: {v.unacked} unacked of prefetch {v.prefetch or '0 (unlimited)'}"
                           for v in views) + "]"


def _dispatch_problem(views: list[ConsumerView], next_index: int, got: Any, seed: int | None) -> CheckFailed | None:
    """None if ``got`` is the right choice, else the finding that explains it."""
    want = round_robin(views, next_index)
    if got == want and (got is None or isinstance(got, int)):
        return None
    if want is None:
        why = "every consumer is at its prefetch limit, so the message must wait: return None"
    elif got is None:
        why = f"consumer {want} has room, so the message must go to it, not wait"
    elif isinstance(got, int) and 0 <= got < len(views) and not views[got].has_room:
        why = f"consumer {got} is already at its prefetch limit"
    else:
        why = f"going round from next_index={next_index}, the first consumer with room is {want}"
    return CheckFailed(f"choose_consumer returned {got!r}; expected {want!r}: {why}",
                       case=f"consumers {_describe_views(views)}, next_index={next_index}", seed=seed,
                       exercise=EX_DISPATCH,
                       hint="start at next_index, wrap around once, take the first consumer with "
                            "prefetch == 0 or unacked < prefetch; None if there is none")


def _ask(fn: Callable, views: list[ConsumerView], next_index: int, seed: int | None) -> Any:
    return call_learner(fn, list(views), next_index, exercise=EX_DISPATCH, seed=seed,
                        what=f"choose_consumer({_describe_views(views)}, next_index={next_index})")


def _dispatch_run(fn: Callable, seed: int, specs: list[tuple[int, float]], n: int) -> None:
    """Consumers (prefetch, mean ms) work through n messages; every dispatch decision is compared."""
    sim = Simulation(seed)

    def learner(views: Any, next_index: int) -> Any:
        views = list(views)
        try:
            got = _ask(fn, views, next_index, seed)
        except CheckFailed as exc:
            raise _LearnerError(exc) from None
        problem = _dispatch_problem(views, next_index, got, seed)
        if problem is not None:
            raise _LearnerError(problem)
        return got

    broker = Broker(sim, dispatcher=learner)
    broker.declare_queue("work")
    rng = sim.random("consumers")
    counts = [0] * len(specs)
    for i, (prefetch, mean) in enumerate(specs):
        def cb(d: Any, i: int = i, mean: float = mean) -> None:
            counts[i] += 1
            sim.schedule(rng.expovariate(1.0 / mean), broker.ack, d.delivery_tag)
        broker.consume("work", cb, prefetch=prefetch, consumer_tag=f"c{i}")
    for k in range(n):
        sim.at(k * 2.0, broker.publish, "", "work", k)
    try:
        sim.run()
    except _LearnerError as exc:
        raise exc.failure from None
    except DispatchError as exc:
        raise CheckFailed(f"the broker refused your choice: {exc}", seed=seed, exercise=EX_DISPATCH) from None
    if sum(counts) != n:
        raise CheckFailed(f"only {sum(counts)} of {n} messages were delivered", seed=seed, exercise=EX_DISPATCH)


def _check_dispatch(fn: Callable, cases: list, runs: list[tuple[int, list[tuple[int, float]], int]]) -> None:
    require_callable(fn, "choose_consumer", EX_DISPATCH)
    for spec, next_index in cases:
        views = _views(spec)
        problem = _dispatch_problem(views, next_index, _ask(fn, views, next_index, None), None)
        if problem is not None:
            raise problem
    for seed, specs, n in runs:
        _dispatch_run(fn, seed, specs, n)


def check_dispatch(choose_consumer: Callable, seed: int | None = None) -> None:
    """Visible: 9 hand-made states, then one broker run with a fast and a slow consumer."""
    s = seed if seed is not None else seeds(EX_DISPATCH, 1)[0]
    _check_dispatch(choose_consumer, DISPATCH_CASES, [(s, [(2, 5.0), (1, 20.0), (3, 8.0)], 200)])


def hidden_dispatch(choose_consumer: Callable, seed: int | None = None) -> None:
    """Hidden: more states (unlimited prefetch, wrap-around), then 5 broker runs of varied consumers."""
    runs = []
    for i, s in enumerate([seed] if seed is not None else seeds(EX_DISPATCH, 5, hidden=True)):
        rng = random.Random(s)
        specs = [(rng.choice([0, 1, 1, 2, 5]), rng.choice([2.0, 5.0, 20.0, 50.0])) for _ in range(1 + i % 4 + 1)]
        runs.append((s, specs, 150))
    _check_dispatch(choose_consumer, DISPATCH_CASES + HIDDEN_DISPATCH_CASES, runs)


# ------------------------------------------------------------------ exercise 3: the idempotent worker
def _history_of(run: Any, message_id: str) -> str:
    lines = [d.describe() for d in run.deliveries if d.message_id == message_id]
    return "\n    " + "\n    ".join(lines) if lines else " (never delivered)"


def _check_worker_run(fn: Callable, config: WorkConfig, seed: int) -> None:
    errors: list[CheckFailed] = []

    def learner(delivery: Any, channel: Any, process: Callable, seen: Any) -> Any:
        def process_its_body(body: Any) -> Any:
            # the work is this delivery's body: anything else does some other task (or none)
            if body is not delivery.body and body != delivery.body:
                errors.append(CheckFailed(f"process() was given {body!r}, not the delivery's body "
                                          f"{delivery.body!r}", case=f"delivery of {delivery.message_id}",
                                          seed=seed, exercise=EX_WORKER, hint="call process(delivery.body)"))
            return process(body)

        try:
            with quiet():
                return fn(delivery, channel, process_its_body, seen)
        except WorkerCrashed:
            raise
        except NotImplementedError:
            errors.append(CheckFailed("`handle` is not implemented yet (it raised NotImplementedError)",
                                      exercise=EX_WORKER, hint="replace `raise NotImplementedError()`"))
        except Exception as exc:
            errors.append(CheckFailed(f"your handler raised {type(exc).__name__}: {exc}",
                                      case=f"delivery of {delivery.message_id} (redelivered={delivery.redelivered})",
                                      seed=seed, exercise=EX_WORKER,
                                      hint="catch ProcessingFailed (a transient failure) and nack; let "
                                           "WorkerCrashed propagate"))
        return None

    run = simulate_work_queue(config, seed, handle=learner)
    if errors:
        raise errors[0]
    for d in run.deliveries:
        if d.outcome == "" and not d.answered and not d.ack_lost:
            raise CheckFailed("a delivery was neither processed nor answered: the message stays unacknowledged "
                              "for ever and blocks the worker's prefetch", case=d.describe(), seed=seed,
                              exercise=EX_WORKER, hint="every delivery ends in channel.ack or channel.nack")
        if d.outcome in ("done", "failed") and not d.answered and not d.ack_lost:
            raise CheckFailed("a delivery was not answered (no ack, no nack): the message stays unacknowledged",
                              case=d.describe(), seed=seed, exercise=EX_WORKER)
        if "nack-drop" in d.answered:
            raise CheckFailed("a message was nacked with requeue=False: this queue has no dead-letter exchange, "
                              "so the broker drops it and the task is lost", case=d.describe(), seed=seed,
                              exercise=EX_WORKER, hint="a transient failure deserves another try: requeue=True")
        if len(d.answered) > 1:
            raise CheckFailed("one delivery was answered twice (ack/nack); the second answer is an error in AMQP",
                              case=d.describe(), seed=seed, exercise=EX_WORKER)
    for mid in run.lost:
        raise CheckFailed(f"task {mid} was never done, yet it is gone from the queue", seed=seed, exercise=EX_WORKER,
                          case=f"the deliveries of {mid}:{_history_of(run, mid)}",
                          hint="acknowledge only after the work is done, and never skip work that was not done")
    for mid in run.duplicated:
        raise CheckFailed(f"task {mid} was done {run.effects[mid]} times", seed=seed, exercise=EX_WORKER,
                          case=f"the deliveries of {mid}:{_history_of(run, mid)}",
                          hint="a redelivered message may already be done (its ack got lost): remember what you "
                               "did in `seen`, keyed by the message id, and skip it")
    if run.left_in_queue:
        raise CheckFailed(f"{run.left_in_queue} message(s) were still in the queue when the run ended",
                          seed=seed, exercise=EX_WORKER)


def check_idempotent_worker(handle: Callable, seed: int | None = None) -> None:
    """Visible: 3 workers, 120 tasks, crashes, lost acks and transient failures (5% / 5% / 15%)."""
    require_callable(handle, "handle", EX_WORKER)
    for s in ([seed] if seed is not None else seeds(EX_WORKER, 1)):
        _check_worker_run(handle, WorkConfig.uniform(3, crash_prob=0.05, ack_loss_prob=0.05, failure_prob=0.15,
                                                     n_messages=120), s)


def hidden_idempotent_worker(handle: Callable, seed: int | None = None) -> None:
    """Hidden: 4 runs with 1-4 workers, prefetch 1-5, heavier fault rates."""
    require_callable(handle, "handle", EX_WORKER)
    for i, s in enumerate([seed] if seed is not None else seeds(EX_WORKER, 4, hidden=True)):
        workers = [WorkerSpec(f"w{k + 1}", mean_ms=(10.0, 25.0, 40.0)[k % 3], crash_prob=(0.03, 0.1)[i % 2],
                              ack_loss_prob=(0.1, 0.04)[i % 2]) for k in range(1 + i)]
        _check_worker_run(handle, WorkConfig(workers, n_messages=100, prefetch=1 + (s % 5),
                                             failure_prob=(0.1, 0.3, 0.05, 0.2)[i]), s)


# ------------------------------------------------------------------ exercise 4: consumer groups
def _check_groups_run(fn: Callable, groups: dict[str, int], n: int, seed: int) -> None:
    learner = _guard(fn, EX_GROUPS, lambda b, ex, g, m: f"group_queue(broker, {ex!r}, {g!r}, {m!r})", seed)
    try:
        run = simulate_groups(groups, n, seed, group_queue=learner)
    except _LearnerError as exc:
        raise exc.failure from None
    except ValueError as exc:
        raise CheckFailed(str(exc), seed=seed, exercise=EX_GROUPS) from None
    except Exception as exc:        # e.g. PreconditionFailed from redeclaring a queue differently
        raise CheckFailed(f"the broker refused what your function did: {type(exc).__name__}: {exc}", seed=seed,
                          exercise=EX_GROUPS) from None
    layout = ", ".join(f"{g}: {n_} member(s)" for g, n_ in groups.items())
    for g, members in run.groups.items():
        got = run.per_group(g)
        per_msg: dict[str, int] = {}
        for m in got:
            per_msg[m] = per_msg.get(m, 0) + 1
        missing = [m for m in run.message_ids if m not in per_msg]
        extra = {m: k for m, k in per_msg.items() if k > 1}
        queues = sorted({run.queues[(g, m)] for m in members})
        where = f"groups {{{layout}}}; group {g!r} consumed from {queues}"
        if extra:
            m, k = next(iter(extra.items()))
            raise CheckFailed(f"group {g!r} received {m} {k} times: its members each got their own copy",
                              case=where, seed=seed, exercise=EX_GROUPS,
                              hint="members of one group must share one queue: name it after the group, not the member")
        if missing:
            raise CheckFailed(f"group {g!r} never received {len(missing)} of the {n} messages (e.g. {missing[0]})",
                              case=where, seed=seed, exercise=EX_GROUPS,
                              hint="every group needs its own queue, bound to the exchange")
        if len(members) > 1 and n >= 4 * len(members):
            idle = [m for m in members if not run.received[(g, m)]]
            if idle:
                raise CheckFailed(f"member {idle[0]} of group {g!r} got no work although its group had {n} messages",
                                  case=where, seed=seed, exercise=EX_GROUPS)


def check_group_queue(group_queue: Callable, seed: int | None = None) -> None:
    """Visible: three groups (2, 1 and 3 members), 30 messages."""
    require_callable(group_queue, "group_queue", EX_GROUPS)
    for s in ([seed] if seed is not None else seeds(EX_GROUPS, 1)):
        _check_groups_run(group_queue, {"billing": 2, "email": 1, "audit": 3}, 30, s)


def _same_group_on_two_exchanges(fn: Callable) -> None:
    """Group names repeat across exchanges (the orders app and the payments app each run a `billing` service):
    each exchange's group gets its own queue, which receives that exchange's messages only."""
    broker = Broker(Simulation(0))
    names = {}
    for exchange in ("orders", "payments"):
        broker.declare_exchange(exchange, "fanout")
    for exchange in ("orders", "payments"):
        names[exchange] = call_learner(fn, broker, exchange, "billing", f"{exchange}-billing-1", exercise=EX_GROUPS,
                                       what=f"group_queue(broker, {exchange!r}, 'billing', '{exchange}-billing-1')")
    routed = {exchange: set(broker.publish(exchange, "", {"from": exchange}).routed) for exchange in names}
    for exchange, queue in names.items():
        other = "payments" if exchange == "orders" else "orders"
        if queue in routed[other] or queue not in routed[exchange]:
            raise CheckFailed(f"the `billing` group of the {exchange!r} exchange consumes from {queue!r}, which also "
                              f"receives the {other!r} exchange's messages" if queue in routed[other] else
                              f"the queue {queue!r} returned for {exchange!r} does not receive its messages",
                              case="two fanout exchanges, 'orders' and 'payments', each with a group named 'billing'",
                              exercise=EX_GROUPS, hint="queue names are global in a broker: name the queue after the "
                                                       "exchange and the group")


def hidden_group_queue(group_queue: Callable, seed: int | None = None) -> None:
    """Hidden: the same group name on two exchanges, then 4 seeded layouts of 1-4 groups with 1-4 members."""
    require_callable(group_queue, "group_queue", EX_GROUPS)
    _same_group_on_two_exchanges(group_queue)
    for s in ([seed] if seed is not None else seeds(EX_GROUPS, 4, hidden=True)):
        rng = random.Random(s)
        names = rng.sample(["search", "email", "audit", "billing", "stats", "push"], rng.randint(1, 4))
        _check_groups_run(group_queue, {g: rng.randint(1, 4) for g in names}, 40, s)


__all__ = ["check_topic_match", "hidden_topic_match", "check_dispatch", "hidden_dispatch",
           "check_idempotent_worker", "hidden_idempotent_worker", "check_group_queue", "hidden_group_queue"]
