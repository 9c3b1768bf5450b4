"""Checks for module 00 (why messaging): the synchronous caller and the queue consumer.

Both exercises run the learner's function inside :mod:`msglib.chain`'s
simulation: ``call_chain`` answers every client request of a seeded RPC run,
``handle`` consumes every delivery of a seeded queue run. The checks then look
at what happened, request by request.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib import chain
from msglib.chain import ChainConfig, ServiceDown
from msglib.grading.core import CheckFailed, call_learner, guarded, learner_error, quiet, require_callable, seeds

EX_CALL = "00-call_chain"
EX_HANDLE = "00-queue_handler"


# -- exercise 1: call_chain ---------------------------------------------------

def _unit_case(fn: Callable, latencies: list[float | None]) -> str | None:
    """Run ``fn`` on hand-made hops (None = that hop fails). Returns a problem or None."""
    called: list[int] = []

    def hop(i: int, latency: float | None) -> Callable[[], float]:
        def call() -> float:
            called.append(i)
            if latency is None:
                raise ServiceDown(f"S{i + 1} is down")
            return latency
        return call

    desc = " → ".join("fails" if x is None else f"{x:g} ms" for x in latencies)
    first_fail = next((i for i, x in enumerate(latencies) if x is None), None)
    try:
        with quiet():
            result = fn([hop(i, x) for i, x in enumerate(latencies)])
    except ServiceDown:
        if first_fail is None:
            return f"hops [{desc}]: you raised ServiceDown although every hop answered"
        if called != list(range(first_fail + 1)):
            return (f"hops [{desc}]: you called {_names(called)}; a synchronous chain calls "
                    f"S1..S{first_fail + 1} in order and stops at the first failure")
        return None
    except NotImplementedError as exc:
        raise learner_error(exc, fn, EX_CALL) from None
    except Exception as exc:
        return f"hops [{desc}]: your function raised {type(exc).__name__}: {exc}"
    if first_fail is not None:
        return (f"hops [{desc}]: you returned {result!r}, but S{first_fail + 1} failed: the failure must "
                "reach the caller (let ServiceDown propagate)")
    if called != list(range(len(latencies))):
        return f"hops [{desc}]: you called {_names(called)}; every hop must be called once, in order"
    expected = sum(latencies)  # type: ignore[arg-type]
    if not isinstance(result, (int, float)) or abs(result - expected) > 1e-9:
        return f"hops [{desc}]: you returned {result!r}; the client waits for every hop: {expected:g} ms"
    return None


def _names(indices: list[int]) -> str:
    return ", ".join(f"S{i + 1}" for i in indices) or "no service"


def _check_rpc_run(fn: Callable, config: ChainConfig, seed: int) -> None:
    run = chain.simulate_rpc(config, seed, call_chain=_guarded(fn, EX_CALL, seed), record_calls=True)
    for outcome in run.outcomes:
        trace = outcome.calls  # type: ignore[attr-defined]
        hops = ", ".join(f"S{i + 1} {'failed' if lat is None else f'{lat:.1f} ms'}" for i, lat in trace)
        where = f"request {outcome.request_id} at t={outcome.sent_at:.1f} ms ({hops or 'no hop called'})"
        indices = [i for i, _ in trace]
        if indices != list(range(len(indices))):
            raise CheckFailed("hops were not called once each, in order S1, S2, ...", case=where, seed=seed,
                              exercise=EX_CALL)
        failed = any(lat is None for _, lat in trace)
        if failed:
            if trace[-1][1] is not None:
                raise CheckFailed("you kept calling services after one had failed", case=where, seed=seed,
                                  exercise=EX_CALL, hint="stop at the first ServiceDown")
            if outcome.client_ok:
                raise CheckFailed("a request whose chain failed was reported to the client as a success",
                                  case=where, seed=seed, exercise=EX_CALL,
                                  hint="let ServiceDown propagate to the caller")
        else:
            if len(trace) != len(config.services):
                raise CheckFailed(f"only {len(trace)} of {len(config.services)} services were called",
                                  case=where, seed=seed, exercise=EX_CALL)
            total = sum(lat for _, lat in trace)
            if abs((outcome.client_latency_ms or 0.0) - total) > 1e-6:
                raise CheckFailed(f"you returned {outcome.client_latency_ms!r} ms, but the hops took "
                                  f"{total:.3f} ms in total", case=where, seed=seed, exercise=EX_CALL)


def _guarded(fn: Callable, exercise: str, seed: int) -> Callable:
    """The learner's seam: ServiceDown is the mechanism's own signal and passes through."""
    def describe(*args: Any) -> str | None:
        return f"delivery of {args[0]!r}" if args and isinstance(args[0], dict) else None
    return guarded(fn, exercise, seed=seed, case=describe, passthrough=(ServiceDown,))


def check_call_chain(call_chain: Callable, seed: int | None = None) -> None:
    """Visible check: a few hand-made chains, then one seeded RPC run of 3 services."""
    require_callable(call_chain, "call_chain", EX_CALL)
    for latencies in ([5.0, 7.0], [5.0, None, 3.0], [10.0, 20.0, 30.0]):
        problem = _unit_case(call_chain, latencies)
        if problem:
            raise CheckFailed(problem, exercise=EX_CALL)
    for s in ([seed] if seed is not None else seeds(EX_CALL, 1)):
        _check_rpc_run(call_chain, ChainConfig.uniform(3, failure_prob=0.1, duration_ms=2_000), s)


def hidden_call_chain(call_chain: Callable, seed: int | None = None) -> None:
    """Hidden check: edge cases (one hop, first/last hop failing), then varied seeded runs."""
    require_callable(call_chain, "call_chain", EX_CALL)
    for latencies in ([4.0], [None], [None, 1.0, 1.0], [1.0, 1.0, None], [0.5, 0.25, 0.125, 2.0]):
        problem = _unit_case(call_chain, latencies)
        if problem:
            raise CheckFailed(problem, exercise=EX_CALL)
    for i, s in enumerate([seed] if seed is not None else seeds(EX_CALL, 4, hidden=True)):
        n = 1 + (s % 6)
        config = ChainConfig.uniform(n, failure_prob=(0.02, 0.1, 0.3)[i % 3], duration_ms=1_500,
                                     outage=(1 + s % n, 300.0, 900.0))
        _check_rpc_run(call_chain, config, s)


# -- exercise 2: the queue consumer's handler -----------------------------------

class _Delivery:
    """What the learner's handler did with one delivery."""

    def __init__(self, message: dict) -> None:
        self.message = message
        self.calls: list[bool] = []      # each service call: True = succeeded
        self.results: list[Any] = []     # what successful calls returned
        self.forwarded: list[Any] = []
        self.acked: bool | None = None

    def describe(self) -> str:
        calls = ", ".join("ok" if ok else "ServiceDown" for ok in self.calls) or "none"
        return (f"message {self.message}: service calls [{calls}], forwarded {len(self.forwarded)}x, "
                f"returned {'ack (True)' if self.acked else 'nack (False)'}")


def _recording(fn: Callable, deliveries: list[_Delivery], seed: int, errors: list[CheckFailed]) -> Callable:
    """Wrap the learner's handler to record what it does with each delivery.

    The simulation treats a handler that raises as a crashed consumer (no ack,
    redelivery), which is right for the system but would hide the learner's
    bug; the first such error is kept and reported after the run.
    """
    def wrapped(message: dict, service: Callable, forward: Callable) -> bool:
        d = _Delivery(dict(message))
        deliveries.append(d)

        def watched_service(msg: Any) -> Any:
            try:
                result = service(msg)
            except ServiceDown:
                d.calls.append(False)
                raise
            d.calls.append(True)
            d.results.append(result)
            return result

        def watched_forward(result: Any) -> None:
            d.forwarded.append(result)
            forward(result)

        try:
            d.acked = bool(_guarded(fn, EX_HANDLE, seed)(message, watched_service, watched_forward))
        except CheckFailed as exc:
            errors.append(exc)
            raise
        return d.acked
    return wrapped


def _check_queue_run(fn: Callable, config: ChainConfig, seed: int) -> None:
    deliveries: list[_Delivery] = []
    errors: list[CheckFailed] = []
    run = chain.simulate_queue(config, seed, handle=_recording(fn, deliveries, seed, errors))
    if errors:
        raise errors[0]
    for d in deliveries:  # the first wrong delivery is the smallest case
        succeeded = any(d.calls)
        if not d.calls and d.acked:
            raise CheckFailed("a message was acknowledged without calling the service: its work is lost",
                              case=d.describe(), seed=seed, exercise=EX_HANDLE)
        if d.forwarded and not succeeded:
            raise CheckFailed("a result was forwarded although the service call failed", case=d.describe(),
                              seed=seed, exercise=EX_HANDLE, hint="forward what service() returned, after it returned")
        if any(r not in d.results for r in d.forwarded):
            raise CheckFailed("you forwarded something other than what service() returned", case=d.describe(),
                              seed=seed, exercise=EX_HANDLE)
        if sum(d.calls) > 1:
            raise CheckFailed(f"the service did this delivery's work {sum(d.calls)} times: every successful call "
                              "is a side effect (an order placed, a card charged)", case=d.describe(), seed=seed,
                              exercise=EX_HANDLE, hint="call service(message) once per delivery, and keep its result")
        if len(d.forwarded) > 1:
            raise CheckFailed("one delivery forwarded its result more than once: the next service gets duplicates",
                              case=d.describe(), seed=seed, exercise=EX_HANDLE)
        if d.acked and not d.forwarded:
            raise CheckFailed("a message was acknowledged but nothing was forwarded: the broker deletes it and the "
                              "request is lost", case=d.describe(), seed=seed, exercise=EX_HANDLE,
                              hint="return False when the service fails, so the broker redelivers")
        if not d.acked and d.forwarded:
            raise CheckFailed("the result was forwarded but the message was not acknowledged: the broker redelivers "
                              "it and the work is done twice", case=d.describe(), seed=seed, exercise=EX_HANDLE)
    for outcome in run.outcomes:
        if outcome.completed_at is None:
            raise CheckFailed(f"request {outcome.request_id} never got through the whole chain", seed=seed,
                              exercise=EX_HANDLE)
    duplicates = {rid: k for rid, k in run.forwarded.items() if k > 1}
    if duplicates:
        rid, k = next(iter(duplicates.items()))
        raise CheckFailed(f"request {rid} reached the end of the chain {k} times", seed=seed, exercise=EX_HANDLE)


def check_handle(handle: Callable, seed: int | None = None) -> None:
    """Visible check: 3 services with random failures and an outage of S2."""
    require_callable(handle, "handle", EX_HANDLE)
    for s in ([seed] if seed is not None else seeds(EX_HANDLE, 1)):
        config = ChainConfig.uniform(3, failure_prob=0.2, duration_ms=1_500, outage=(2, 200.0, 700.0),
                                     arrival_rate_per_s=50, drain_ms=10_000)
        _check_queue_run(handle, config, s)


def hidden_handle(handle: Callable, seed: int | None = None) -> None:
    """Hidden check: varied chains, one worker per queue, outages at either end, heavy failure rates."""
    require_callable(handle, "handle", EX_HANDLE)
    for i, s in enumerate([seed] if seed is not None else seeds(EX_HANDLE, 4, hidden=True)):
        n = 1 + (s % 5)
        config = ChainConfig.uniform(n, failure_prob=(0.05, 0.4, 0.2, 0.0)[i % 4], duration_ms=1_000,
                                     outage=((1, n)[i % 2], 100.0, 600.0), arrival_rate_per_s=40,
                                     workers_per_service=1 + i % 3, drain_ms=15_000)
        _check_queue_run(handle, config, s)


__all__ = ["check_call_chain", "hidden_call_chain", "check_handle", "hidden_handle", "call_learner"]
