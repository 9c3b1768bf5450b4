"""Module 00's simulation: the two architectures behave as the notebook says."""
from __future__ import annotations

import pytest

from msglib import chain
from msglib.chain import ChainConfig, ServiceSpec, simulate


def test_rpc_availability_is_the_product_of_hop_availabilities():
    p, n = 0.05, 4
    runs = [simulate(ChainConfig.uniform(n, failure_prob=p, duration_ms=20_000), "rpc", seed) for seed in range(3)]
    measured = sum(r.availability for r in runs) / len(runs)
    assert abs(measured - (1 - p) ** n) < 0.02


def test_queue_mode_finishes_every_request_exactly_once_through_failures_and_an_outage():
    cfg = ChainConfig.uniform(3, failure_prob=0.2, outage=(2, 500, 1_500), duration_ms=3_000)
    run = simulate(cfg, "queue", seed=3)
    assert run.availability == 1.0 and run.completion_rate == 1.0
    assert set(run.forwarded.values()) == {1}
    assert max(max(d) for _, d in run.queue_depth) > 10  # the backlog built up during the outage


def test_an_outage_fails_rpc_requests_only_while_it_lasts():
    cfg = ChainConfig.uniform(3, outage=(2, 1_000, 2_000), duration_ms=3_000)
    run = simulate(cfg, "rpc", seed=0)
    failed = [o.sent_at for o in run.outcomes if not o.client_ok]
    assert failed and all(900 < t < 2_000 for t in failed)
    assert all(o.client_ok for o in run.outcomes if o.sent_at < 900 or o.sent_at >= 2_000)


def test_latency_adds_up_in_rpc_and_not_for_the_queue_client():
    short = simulate(ChainConfig.uniform(1), "rpc", 0).summary()["client_p50_ms"]
    long = simulate(ChainConfig.uniform(6), "rpc", 0).summary()["client_p50_ms"]
    assert long > 4 * short
    assert simulate(ChainConfig.uniform(6), "queue", 0).summary()["client_p50_ms"] == 1.0


def test_same_seed_same_run():
    cfg = ChainConfig.uniform(3, failure_prob=0.1, duration_ms=2_000)
    for mode in ("rpc", "queue"):
        assert simulate(cfg, mode, 5).summary() == simulate(cfg, mode, 5).summary()


def test_seams_default_to_the_reference_and_accept_a_learner_function():
    cfg = ChainConfig.uniform(2, failure_prob=0.1, duration_ms=1_000)
    assert chain.simulate_rpc(cfg, 1).summary() == chain.simulate_rpc(cfg, 1, call_chain=chain.call_chain).summary()
    lossy = chain.simulate_queue(cfg, 1, handle=lambda m, s, f: True)  # acks without doing anything
    assert lossy.completion_rate == 0.0


@pytest.mark.parametrize("kwargs,match", [
    ({"failure_prob": 1.5}, "probability"),
    ({"mean_latency_ms": 0}, "mean_latency_ms"),
])
def test_bad_service_settings_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ServiceSpec("S1", **kwargs)


def test_bad_chain_settings_are_clear_errors():
    with pytest.raises(ValueError, match="at least one service"):
        ChainConfig.uniform(0)
    with pytest.raises(ValueError, match="services 1..3"):
        ChainConfig.uniform(3, outage=(4, 0, 1))
    with pytest.raises(ValueError, match="'rpc' or 'queue'"):
        simulate(ChainConfig.uniform(1), "rest")
