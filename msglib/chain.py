"""A chain of services, called synchronously (RPC) or decoupled by queues.

Module 00's simulation. A request has to pass through services S1 → S2 → … → Sn.

* **RPC mode**: the client calls S1, which calls S2, and so on; everyone waits
  for the whole chain. The client's latency is the sum of every hop, and if any
  hop fails the client sees the failure: availability multiplies down the chain.
* **Queue mode**: the client publishes the request to a queue and returns as
  soon as the broker has it. Each service consumes from its own queue and
  publishes its result to the next one. A failing service does not fail the
  client; its messages wait in its queue and are redelivered until it recovers.

Both modes use the same services with the same seeded latencies, failures and
outages, so the difference you measure is the architecture, nothing else.

Two seams take the learner's code (module 00's exercises):

* ``call_chain(calls) -> total_latency``: the synchronous caller. ``calls`` is
  the list of hops, each a zero-argument function that returns that hop's
  latency in ms or raises :class:`ServiceDown`.
* ``handle(message, service, forward) -> bool``: one queue consumer's delivery
  handler. Call ``service(message)`` (may raise :class:`ServiceDown`), pass the
  result to ``forward``, and return True to acknowledge the message or False to
  leave it on the queue for redelivery.
"""
from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.sim import Simulation
from msglib.stats import percentile


class ServiceDown(Exception):
    """A call to a service failed: it crashed, timed out, or is in an outage."""


@dataclass
class ServiceSpec:
    """How one service behaves: latency per call, random failures, outages."""

    name: str
    mean_latency_ms: float = 20.0
    failure_prob: float = 0.0
    outages: list[tuple[float, float]] = field(default_factory=list)  # [start, end) in ms

    def __post_init__(self) -> None:
        if self.mean_latency_ms <= 0:
            raise ValueError(f"{self.name}: mean_latency_ms must be > 0, got {self.mean_latency_ms}")
        if not 0.0 <= self.failure_prob <= 1.0:
            raise ValueError(f"{self.name}: failure_prob is a probability in [0, 1], got {self.failure_prob}")
        for start, end in self.outages:
            if end < start:
                raise ValueError(f"{self.name}: outage ({start}, {end}) ends before it starts")

    def is_down(self, now: float) -> bool:
        return any(start <= now < end for start, end in self.outages)


@dataclass
class ChainConfig:
    """One experiment: the services, the load, and the queue consumers."""

    services: list[ServiceSpec]
    arrival_rate_per_s: float = 100.0      # Poisson arrivals of client requests
    duration_ms: float = 10_000.0          # requests arrive during [0, duration)
    publish_latency_ms: float = 1.0        # client → broker acknowledgement (queue mode)
    workers_per_service: int = 4           # parallel consumers per queue (queue mode)
    retry_delay_ms: float = 100.0          # a nacked message is redelivered after this
    drain_ms: float = 60_000.0             # queue mode: keep running this long after the last arrival

    @classmethod
    def uniform(cls, n: int, *, failure_prob: float = 0.0, mean_latency_ms: float = 20.0,
                outage: tuple[int, float, float] | None = None, **kwargs: Any) -> "ChainConfig":
        """``n`` identical services; ``outage=(k, start, end)`` takes service k (1-based) down."""
        if n < 1:
            raise ValueError(f"a chain needs at least one service, got n={n}")
        specs = [ServiceSpec(f"S{i + 1}", mean_latency_ms, failure_prob) for i in range(n)]
        if outage is not None:
            k, start, end = outage
            if not 1 <= k <= n:
                raise ValueError(f"outage names service {k}, but the chain has services 1..{n}")
            specs[k - 1].outages.append((start, end))
        return cls(specs, **kwargs)


@dataclass
class RequestOutcome:
    """What happened to one client request."""

    request_id: int
    sent_at: float
    client_latency_ms: float | None = None   # how long the client waited; None if it is still waiting
    client_ok: bool = False                  # did the client get a success answer?
    completed_at: float | None = None        # when the last service finished the work (None: never)
    error: str | None = None

    @property
    def end_to_end_ms(self) -> float | None:
        return None if self.completed_at is None else self.completed_at - self.sent_at


@dataclass
class ChainRun:
    """The result of one simulated run, with the figures module 00 plots."""

    mode: str
    seed: int
    outcomes: list[RequestOutcome]
    # (time, messages per queue held by the broker: ready + waiting for redelivery)
    queue_depth: list[tuple[float, list[int]]] = field(default_factory=list)
    forwarded: dict[int, int] = field(default_factory=dict)  # queue mode: request id → times it reached the sink
    deliveries: int = 0                                       # queue mode: deliveries to handlers

    @property
    def availability(self) -> float:
        """Fraction of requests the client saw succeed."""
        return sum(o.client_ok for o in self.outcomes) / max(1, len(self.outcomes))

    @property
    def completion_rate(self) -> float:
        """Fraction of requests whose work was finished by the whole chain."""
        return sum(o.completed_at is not None for o in self.outcomes) / max(1, len(self.outcomes))

    def client_latencies(self) -> list[float]:
        return [o.client_latency_ms for o in self.outcomes if o.client_ok and o.client_latency_ms is not None]

    def end_to_end(self) -> list[float]:
        return [o.end_to_end_ms for o in self.outcomes if o.end_to_end_ms is not None]

    def summary(self) -> dict[str, float]:
        lat = self.client_latencies()
        e2e = self.end_to_end()
        return {
            "requests": len(self.outcomes),
            "availability": round(self.availability, 4),
            "completion_rate": round(self.completion_rate, 4),
            "client_p50_ms": round(percentile(lat, 50), 2),
            "client_p99_ms": round(percentile(lat, 99), 2),
            "end_to_end_p50_ms": round(percentile(e2e, 50), 2),
            "end_to_end_p99_ms": round(percentile(e2e, 99), 2),
        }


# -- the reference implementations of the two seams -------------------------

def call_chain(calls: list[Callable[[], float]]) -> float:
    """Synchronous RPC: call each hop in order and wait for it.

    The client waits for the sum of all hops. The first failure ends the
    request: later services are never called, and the failure propagates to
    the client (that is what "one service down → the whole chain fails" means).
    """
    total = 0.0
    for call in calls:
        total += call()          # raises ServiceDown: we stop here and so does the client
    return total


def handle(message: Any, service: Callable[[Any], Any], forward: Callable[[Any], None]) -> bool:
    """Queue consumer: process, forward the result, then acknowledge.

    Acknowledge only after the result is safely forwarded; on failure return
    False so the broker keeps the message and redelivers it later.
    """
    try:
        result = service(message)
    except ServiceDown:
        return False
    forward(result)
    return True


# -- the simulation ----------------------------------------------------------

def _arrivals(sim: Simulation, config: ChainConfig) -> list[float]:
    rng = sim.random("arrivals")
    times, t = [], 0.0
    rate_per_ms = config.arrival_rate_per_s / 1000.0
    if rate_per_ms <= 0:
        raise ValueError(f"arrival_rate_per_s must be > 0, got {config.arrival_rate_per_s}")
    while True:
        t += rng.expovariate(rate_per_ms)
        if t >= config.duration_ms:
            return times
        times.append(t)


class _ServiceModel:
    """A service's seeded behaviour: each call's latency and whether it fails."""

    def __init__(self, spec: ServiceSpec, sim: Simulation) -> None:
        self.spec = spec
        self.rng = sim.random(f"service/{spec.name}")

    def attempt(self, now: float) -> float:
        """One call at time ``now``: its latency in ms, or ServiceDown."""
        latency = self.rng.expovariate(1.0 / self.spec.mean_latency_ms)
        failed = self.rng.random() < self.spec.failure_prob
        if self.spec.is_down(now) or failed:
            raise ServiceDown(f"{self.spec.name} is down at t={now:.1f} ms")
        return latency


def simulate_rpc(config: ChainConfig, seed: int = 0,
                 call_chain: Callable[[list[Callable[[], float]]], float] = call_chain,
                 record_calls: bool = False) -> ChainRun:
    """Run the chain as synchronous RPC. ``call_chain`` is the seam.

    With ``record_calls``, each outcome gets ``calls``: the hops actually
    invoked, in order, and what each returned (a check uses it).
    """
    sim = Simulation(seed)
    models = [_ServiceModel(spec, sim) for spec in config.services]
    outcomes: list[RequestOutcome] = []
    for request_id, sent_at in enumerate(_arrivals(sim, config)):
        outcome = RequestOutcome(request_id, sent_at)
        clock = [sent_at]          # time moves forward as each hop answers
        trace: list[tuple[int, float | None]] = []

        def make_call(index: int, model: _ServiceModel) -> Callable[[], float]:
            def call() -> float:
                try:
                    latency = model.attempt(clock[0])
                except ServiceDown:
                    trace.append((index, None))
                    raise
                clock[0] += latency
                trace.append((index, latency))
                return latency
            return call

        calls = [make_call(i, m) for i, m in enumerate(models)]
        try:
            total = call_chain(calls)
        except ServiceDown as exc:
            outcome.error = str(exc)
            outcome.client_latency_ms = clock[0] - sent_at
        else:
            outcome.client_ok = True
            outcome.client_latency_ms = total
            outcome.completed_at = sent_at + total
        if record_calls:
            outcome.calls = trace  # type: ignore[attr-defined]
        outcomes.append(outcome)
    return ChainRun("rpc", seed, outcomes)


def simulate_queue(config: ChainConfig, seed: int = 0,
                   handle: Callable[[Any, Callable[[Any], Any], Callable[[Any], None]], bool] = handle,
                   sample_every_ms: float = 100.0) -> ChainRun:
    """Run the chain decoupled by queues. ``handle`` is the seam.

    A message is a dict ``{"request_id": ..., "stage": ...}``; each service
    returns a new dict for the next stage. Queues are FIFO; a nacked message
    goes back to the queue after ``retry_delay_ms``. Forwarded results become
    visible to the next stage when the handler's processing time has passed.
    """
    sim = Simulation(seed)
    n = len(config.services)
    models = [_ServiceModel(spec, sim) for spec in config.services]
    queues: list[deque] = [deque() for _ in range(n)]
    idle = [config.workers_per_service] * n
    retrying = [0] * n                       # nacked messages the broker holds until their redelivery
    outcomes: list[RequestOutcome] = []
    run = ChainRun("queue", seed, outcomes)

    def dispatch(stage: int) -> None:
        while idle[stage] and queues[stage]:
            idle[stage] -= 1
            deliver(stage, queues[stage].popleft())

    def publish(stage: int, message: dict) -> None:
        if stage == n:                               # past the last service: the work is done
            rid = message["request_id"]
            run.forwarded[rid] = run.forwarded.get(rid, 0) + 1
            if outcomes[rid].completed_at is None:
                outcomes[rid].completed_at = sim.now
            return
        queues[stage].append(message)
        dispatch(stage)

    def deliver(stage: int, message: dict) -> None:
        run.deliveries += 1
        spent = [0.0]
        out: list[dict] = []

        def service(msg: Any) -> dict:
            if not isinstance(msg, dict) or "request_id" not in msg:
                raise TypeError(f"service() expects the message it was delivered, got {msg!r}")
            try:
                spent[0] += models[stage].attempt(sim.now + spent[0])
            except ServiceDown:
                spent[0] += 1.0              # a failed call still costs a little time
                raise
            return {"request_id": msg["request_id"], "stage": stage + 1}

        try:
            acked = bool(handle(dict(message), service, out.append))
        except Exception:                    # a crashing handler is a crashed consumer: no ack
            acked = False
        sim.schedule(spent[0], finish, stage, message, acked, out)

    def finish(stage: int, message: dict, acked: bool, out: list[dict]) -> None:
        for result in out:
            if isinstance(result, dict) and "request_id" in result:
                publish(stage + 1, {"request_id": result["request_id"], "stage": stage + 1})
        if not acked:                        # leave it with the broker: redeliver later
            retrying[stage] += 1
            sim.schedule(config.retry_delay_ms, redeliver, stage, message)
        idle[stage] += 1
        dispatch(stage)

    def redeliver(stage: int, message: dict) -> None:
        retrying[stage] -= 1
        publish(stage, message)

    def arrive(request_id: int) -> None:
        outcome = RequestOutcome(request_id, sim.now)
        outcome.client_ok = True                 # the broker took it: the client is done
        outcome.client_latency_ms = config.publish_latency_ms
        outcomes.append(outcome)
        sim.schedule(config.publish_latency_ms, publish, 0, {"request_id": request_id, "stage": 0})

    def sample() -> None:
        depth = [len(q) + r for q, r in zip(queues, retrying)]
        run.queue_depth.append((sim.now, depth))
        if sim.now < config.duration_ms + config.drain_ms:
            sim.schedule(sample_every_ms, sample)

    for request_id, t in enumerate(_arrivals(sim, config)):
        sim.at(t, arrive, request_id)
    sim.at(0.0, sample)
    sim.run(until=config.duration_ms + config.drain_ms)
    return run


def simulate(config: ChainConfig, mode: str, seed: int = 0, **seams: Any) -> ChainRun:
    """Run ``mode`` ("rpc" or "queue") with the given seams."""
    if mode == "rpc":
        return simulate_rpc(config, seed, **seams)
    if mode == "queue":
        return simulate_queue(config, seed, **seams)
    raise ValueError(f"mode must be 'rpc' or 'queue', got {mode!r}")


def availability_table(lengths: list[int], failure_probs: list[float], seed: int = 0,
                       **config_kwargs: Any) -> dict[tuple[str, int, float], dict[str, float]]:
    """Measured availability and latency for every (mode, chain length, failure prob)."""
    table = {}
    for n in lengths:
        for p in failure_probs:
            config = ChainConfig.uniform(n, failure_prob=p, **config_kwargs)
            for mode in ("rpc", "queue"):
                table[(mode, n, p)] = simulate(config, mode, seed).summary()
    return table


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
