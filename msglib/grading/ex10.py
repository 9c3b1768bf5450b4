"""Checks for module 10 (choosing a broker).

Each learner function runs inside msglib.compare, or is judged against what its models measure:

* ``10-key_dispatch``  -- ``choose_consumer(key, consumers) -> name | None`` becomes the dispatcher
  of a Pulsar-style key_shared subscription (``run("pulsar", ..., key_dispatcher=...)``): a queue
  with competing consumers that crash (their unacknowledged messages are redelivered) and join.
  Every key must be processed in order, and every message delivered;
* ``10-choose_broker`` -- ``choose_broker(req) -> "kafka" | "rabbitmq" | "sqs" | "pulsar" | None``
  is compared, requirement set by requirement set, with what the models *measure* on those
  requirements (``msglib.compare.scenarios.fit``): the answer must be a broker that meets them all
  with one of its configurations (Kafka: consumer group or share group; RabbitMQ: queue or stream;
  SQS: standard or FIFO; Pulsar: key_shared or shared), or None when none does;
* ``10-stored_bytes``  -- ``stored_bytes(broker, published, consumed, message_bytes)`` must predict
  the bytes each model stores while its subscribers are at different positions, measured on runs.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.compare import Subscriber, Workload, run
from msglib.compare.pulsar import ConsumerView, DispatchError
from msglib.compare.scenarios import MODEL_NAMES, Requirements, fit, fitting_configuration, storage_snapshot
from msglib.grading.core import CheckFailed, call_learner, require_callable, seeds

EX_KEY = "10-key_dispatch"
EX_CHOOSE = "10-choose_broker"
EX_STORAGE = "10-stored_bytes"


# ------------------------------------------------------------------ exercise 1: key-to-consumer dispatch
def _views(spec: list[tuple[str, bool, tuple[str, ...]]]) -> list[ConsumerView]:
    return [ConsumerView(name, room, frozenset(keys)) for name, room, keys in spec]


def _describe(views: list[ConsumerView]) -> str:
    parts = []
    for v in views:
        keys = "{" + ", ".join(sorted(v.keys)) + "}" if v.keys else "nothing"
        parts.append(f"{v.name} ({'has room' if v.has_room else 'full'}, holds unacked {keys})")
    return "[" + "; ".join(parts) + "]"


# (key, consumers, the acceptable answers)
KEY_CASES = [
    ("k1", [("a", True, ()), ("b", True, ("k1",))], {"b"}),
    ("k1", [("a", True, ("k2",)), ("b", False, ("k1",))], {None}),
    ("k1", [("a", False, ()), ("b", True, ("k2",))], {"b"}),
    ("k1", [("a", False, ("k1",)), ("b", False, ())], {None}),
    ("k1", [("a", True, ()), ("b", True, ())], {"a", "b"}),
    ("k1", [("a", False, ()), ("b", False, ("k2",))], {None}),
]
HIDDEN_KEY_CASES = [
    ("k9", [("a", True, ()), ("b", True, ("k2",)), ("c", True, ("k9", "k2"))], {"c"}),
    ("k9", [("a", True, ()), ("b", True, ()), ("c", False, ("k9",))], {None}),
    ("k9", [("a", True, ("k9",))], {"a"}),
    ("k9", [("a", True, ())], {"a"}),
    ("k9", [("a", False, ()), ("b", False, ()), ("c", True, ())], {"c"}),
]


def _key_case(fn: Callable, key: str, spec: list, accept: set) -> None:
    views = _views(spec)
    got = call_learner(fn, key, list(views), exercise=EX_KEY, what=f"choose_consumer({key!r}, {_describe(views)})")
    if got is not None and not isinstance(got, str):
        raise CheckFailed(f"choose_consumer returned {got!r}; return a consumer's name (a str) or None",
                          case=f"key {key!r}, consumers {_describe(views)}", exercise=EX_KEY,
                          hint="return c.name, not the view c itself")
    if got in accept:
        return
    holder = next((v for v in views if key in v.keys), None)
    if holder is not None and holder.has_room:
        why = f"{holder.name} holds unacknowledged messages of {key!r}: the next one must go there too"
    elif holder is not None:
        why = (f"{holder.name} holds unacknowledged messages of {key!r} and is full: the message must wait "
               "(return None); any other consumer could process it before the earlier ones")
    elif not any(v.has_room for v in views):
        why = "nobody has room: return None, the message waits"
    else:
        why = f"nobody holds {key!r}, so any consumer with room may take it: one of {sorted(a for a in accept if a)}"
    raise CheckFailed(f"choose_consumer returned {got!r}; {why}", case=f"key {key!r}, consumers {_describe(views)}",
                      exercise=EX_KEY)


def _key_run(fn: Callable, seed: int, consumers: int, scale_out: tuple[float, ...], slow: int,
             n_messages: int = 300) -> None:
    first_break: list[Any] = []

    def learner(key: str, views: Any) -> Any:
        views = list(views)
        got = call_learner(fn, key, views, exercise=EX_KEY, seed=seed,
                           what=f"choose_consumer({key!r}, {_describe(views)})")
        names = [v.name for v in views]
        if got is not None and not isinstance(got, str):
            raise CheckFailed(f"choose_consumer returned {got!r}; return a consumer's name (a str, e.g. "
                              f"{names[0]!r}) or None", case=f"key {key!r}, consumers {_describe(views)}", seed=seed,
                              exercise=EX_KEY, hint="return c.name, not the view c itself")
        holder = next((v for v in views if key in v.keys), None)
        if got is not None and holder is not None and got != holder.name and not first_break:
            first_break.append((key, views, got, holder.name))
        return got

    w = Workload(n_messages=n_messages, n_keys=12, interval_ms=0.5, prefetch=4, crash_prob=0.04, slow_consumers=slow,
                 slow_factor=5.0, subscribers=(Subscriber("app", consumers, scale_out=scale_out),))
    setup = (f"{consumers} consumers sharing a key_shared subscription, {n_messages} messages over 12 keys, "
             f"consumers crash (4% of messages) and come back, one more joins at t={list(scale_out)} ms")
    try:
        r = run("pulsar", w, seed, key_dispatcher=learner)
    except DispatchError as exc:
        raise CheckFailed(f"the subscription refused your choice: {exc}", case=setup, seed=seed, exercise=EX_KEY,
                          hint="only a consumer with has_room may be chosen; None makes the message wait") from None
    if first_break:
        key, views, got, holder = first_break[0]
        stats = r.subscribers["app"]
        result = (f"; in this run {stats.order_violations} messages of {stats.keys_out_of_order} keys were processed "
                  f"out of order" if stats.order_violations else "")
        raise CheckFailed(f"your function sent a message of key {key!r} to {got} while {holder} still held earlier, "
                          f"unacknowledged messages of that key: {got} may process it first{result}",
                          case=f"key {key!r}, consumers {_describe(views)}", seed=seed, exercise=EX_KEY,
                          hint="a key must stay with the consumer that holds its unacknowledged messages (and wait "
                               "if that one is full); a hash of the key over the current consumers moves keys "
                               "whenever a consumer crashes or joins")
    stats = r.subscribers["app"]
    if stats.order_violations:
        k, seq, after = stats.first_out_of_order
        raise CheckFailed(f"message {k}#{seq} was processed after {k}#{after}", case=setup, seed=seed,
                          exercise=EX_KEY)
    if stats.missing:
        raise CheckFailed(f"{stats.missing} of {stats.wanted} messages were never delivered: your function keeps "
                          "returning None for them although consumers have room", case=setup, seed=seed,
                          exercise=EX_KEY, hint="return None only when the key's consumer is full, or nobody has room")


def check_key_dispatch(choose_consumer: Callable, seed: int | None = None) -> None:
    """Visible: 6 hand-made states, then 2 runs of 3 consumers with crashes and a join."""
    require_callable(choose_consumer, "choose_consumer", EX_KEY)
    for key, spec, accept in KEY_CASES:
        _key_case(choose_consumer, key, spec, accept)
    for s in ([seed] if seed is not None else seeds(EX_KEY, 2)):
        _key_run(choose_consumer, s, 3, (40.0, 90.0), 0)


def hidden_key_dispatch(choose_consumer: Callable, seed: int | None = None) -> None:
    """Hidden: 5 more states, then 6 runs of 2-5 consumers, a slow one, joins at varied times."""
    require_callable(choose_consumer, "choose_consumer", EX_KEY)
    for key, spec, accept in KEY_CASES + HIDDEN_KEY_CASES:
        _key_case(choose_consumer, key, spec, accept)
    for s in ([seed] if seed is not None else seeds(EX_KEY, 6, hidden=True)):
        rng = random.Random(s)
        joins = tuple(sorted(rng.uniform(10.0, 150.0) for _ in range(rng.randint(1, 2))))
        _key_run(choose_consumer, s, rng.randint(2, 5), joins, rng.randint(0, 1), n_messages=350)


# ------------------------------------------------------------------ exercise 2: choose a broker
CHOICES = MODEL_NAMES + (None,)

CHOOSE_CASES = [
    Requirements(),
    Requirements(replay=True),
    Requirements(routing=True),
    Requirements(per_key_order=True),
    Requirements(fan_out=10, max_copies=1),
    Requirements(fan_out=3, max_copies=5),
    Requirements(offline_days=20),
    Requirements(offline_days=3, routing=True),
    Requirements(routing=True, offline_days=20),
    Requirements(replay=True, routing=True),
    Requirements(per_key_order=True, fan_out=20, max_copies=2, offline_days=30),
    Requirements(tolerate_slow_consumer=True),
    Requirements(tolerate_slow_consumer=True, replay=True),
    Requirements(tolerate_slow_consumer=True, per_key_order=True),
    Requirements(tolerate_slow_consumer=True, per_key_order=True, offline_days=20),
    Requirements(tolerate_slow_consumer=True, replay=True, routing=True),
]


# boundaries the random requirements rarely draw: exactly as many copies as allowed is not "too many"
HIDDEN_CHOOSE_CASES = [
    Requirements(tolerate_slow_consumer=True, per_key_order=True, fan_out=2, max_copies=2),
]


def _random_requirements(rng: random.Random) -> Requirements:
    return Requirements(replay=rng.random() < 0.3, per_key_order=rng.random() < 0.35,
                        fan_out=rng.choice([1, 2, 5, 20]), max_copies=rng.choice([None, None, 1, 2, 10]),
                        routing=rng.random() < 0.35, offline_days=rng.choice([0, 0, 1, 7, 13, 15, 30]),
                        tolerate_slow_consumer=rng.random() < 0.4)


def _choose_case(fn: Callable, req: Requirements, seed: int) -> None:
    got = call_learner(fn, req, exercise=EX_CHOOSE, what=f"choose_broker({req})", seed=seed)
    if got not in CHOICES:
        raise CheckFailed(f"choose_broker returned {got!r}; return one of {list(MODEL_NAMES)} or None",
                          case=repr(req), exercise=EX_CHOOSE)
    problems = {m: fit(m, req, seed) for m in MODEL_NAMES}
    fitting = [m for m in MODEL_NAMES if not problems[m]]
    if got is None and fitting:
        how = ", ".join(f"{m} ({fitting_configuration(m, req, seed)})" for m in fitting)
        raise CheckFailed(f"choose_broker returned None, but {how} meet(s) every requirement, measured",
                          case=repr(req), seed=seed, exercise=EX_CHOOSE)
    if got is not None and problems[got]:
        others = (f"brokers that meet all of them here: {', '.join(fitting)}" if fitting
                  else "no broker meets all of them: return None")
        raise CheckFailed(f"choose_broker chose {got!r}, but measured on the {got} models: "
                          f"{'; '.join(problems[got])}. {others[0].upper() + others[1:]}",
                          case=repr(req), seed=seed, exercise=EX_CHOOSE,
                          hint="run msglib.compare.scenarios.fit(broker, req) to see each configuration's "
                               "measurements")


def check_choose_broker(choose_broker: Callable, seed: int | None = None) -> None:
    """Visible: 16 requirement sets, judged against the models measured on seed 0."""
    require_callable(choose_broker, "choose_broker", EX_CHOOSE)
    s = seed if seed is not None else seeds(EX_CHOOSE, 1)[0]
    for req in CHOOSE_CASES:
        _choose_case(choose_broker, req, s)


def hidden_choose_broker(choose_broker: Callable, seed: int | None = None) -> None:
    """Hidden: 2 seeds x 20 random requirement sets, judged against the models measured on that seed."""
    require_callable(choose_broker, "choose_broker", EX_CHOOSE)
    for s in ([seed] if seed is not None else seeds(EX_CHOOSE, 2, hidden=True)):
        rng = random.Random(s)
        cases = CHOOSE_CASES + HIDDEN_CHOOSE_CASES + [_random_requirements(rng) for _ in range(20)]
        for req in cases:
            _choose_case(choose_broker, req, s)


# ------------------------------------------------------------------ exercise 3: storage
def _storage_case(fn: Callable, model: str, subscribers: int, seed: int, n_messages: int, message_bytes: int) -> None:
    snap = storage_snapshot(model, subscribers, seed=seed, n_messages=n_messages, message_bytes=message_bytes)
    args = (model, snap.published, list(snap.consumed), snap.message_bytes)
    what = f"stored_bytes{args}"
    got = call_learner(fn, *args, exercise=EX_STORAGE, what=what, seed=seed)
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        raise CheckFailed(f"{what} returned {got!r}; return a number of bytes", exercise=EX_STORAGE)
    if got != snap.stored_bytes:
        kind = ("a log keeps every message it holds (within retention) whoever has read it, once"
                if model in ("kafka", "pulsar") else
                "a queue keeps one copy per subscriber until that subscriber acknowledges it")
        raise CheckFailed(f"{what} returned {got}; the {model} model stores {snap.stored_bytes} bytes at that moment "
                          f"({snap.stored_bytes // snap.message_bytes} message copies of {snap.message_bytes} bytes)",
                          case=f"{model}: {snap.published} published, subscribers have acknowledged "
                               f"{list(snap.consumed)}", seed=seed, exercise=EX_STORAGE, hint=kind)


def check_stored_bytes(stored_bytes: Callable, seed: int | None = None) -> None:
    """Visible: each model with 1 and 3 subscribers, 60 messages of 100 bytes."""
    require_callable(stored_bytes, "stored_bytes", EX_STORAGE)
    for s in ([seed] if seed is not None else seeds(EX_STORAGE, 1)):
        for subscribers in (1, 3):
            for model in MODEL_NAMES:
                _storage_case(stored_bytes, model, subscribers, s, 60, 100)


def hidden_stored_bytes(stored_bytes: Callable, seed: int | None = None) -> None:
    """Hidden: 3 seeds, each model, 2-6 subscribers, other message counts and sizes."""
    require_callable(stored_bytes, "stored_bytes", EX_STORAGE)
    for s in ([seed] if seed is not None else seeds(EX_STORAGE, 3, hidden=True)):
        rng = random.Random(s)
        subscribers, n, size = rng.randint(2, 6), rng.randint(30, 80), rng.choice([64, 250, 1000])
        for model in MODEL_NAMES:
            _storage_case(stored_bytes, model, subscribers, s, n, size)


__all__ = ["check_key_dispatch", "hidden_key_dispatch", "check_choose_broker", "hidden_choose_broker",
           "check_stored_bytes", "hidden_stored_bytes"]
