"""msglib.dlq.backoff and classify: delays, caps, jitter distributions, transient vs permanent.

Each test's name states the behaviour. The real systems' rules and their sources (Spring Kafka, Celery,
RabbitMQ, SQS) are in docs/kafka-behaviours.md, "Retries and dead letters", and docs/fidelity.md, "SQS rules".
"""
from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given, settings, strategies as st

from msglib.dlq import (DeserializationError, ExceptionClassifier, ExponentialBackoff, FixedBackoff, HttpError,
                        MessageConversionError, PermanentError, TransientError, celery_countdown,
                        decorrelated_jitter, equal_jitter, exponential_ceiling, full_jitter, is_transient)


def test_exponential_ceiling_doubles_then_caps():
    assert [exponential_ceiling(n, 100, 1_000) for n in range(1, 7)] == [100, 200, 400, 800, 1_000, 1_000]
    assert exponential_ceiling(10_000, 100, 1_000) == 1_000          # no huge power computed
    with pytest.raises(ValueError, match="start at 1"):
        exponential_ceiling(0, 100, 1_000)


def test_spring_defaults():
    assert FixedBackoff()(1) == 1000 and FixedBackoff().ceilings(2) == [1000, 1000]
    exp = ExponentialBackoff()                     # 1000 ms x2, capped at 30 s
    assert exp.ceilings(7) == [1000, 2000, 4000, 8000, 16000, 30000, 30000]


@settings(database=None, deadline=None, max_examples=200)
@given(st.integers(1, 40), st.floats(1, 1_000), st.floats(1, 50), st.integers(0, 2**32))
def test_every_jitter_stays_within_its_bounds(retry, base, cap_factor, seed):
    cap = base * cap_factor
    rng = random.Random(seed)
    ceiling = exponential_ceiling(retry, base, cap)
    assert 0 <= full_jitter(retry, base, cap, rng) <= ceiling <= cap
    assert ceiling / 2 <= equal_jitter(retry, base, cap, rng) <= ceiling
    assert base <= decorrelated_jitter(ceiling, base, cap, rng) <= cap


def _ks_uniform(samples, lo, hi):
    xs = sorted((x - lo) / (hi - lo) for x in samples)
    n = len(xs)
    return max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(xs))


def test_full_jitter_is_uniform_over_zero_to_the_ceiling():
    rng = random.Random(42)
    samples = [full_jitter(4, 100, 10_000, rng) for _ in range(4_000)]
    assert _ks_uniform(samples, 0, 800) < 1.63 / 4_000 ** 0.5        # KS test at alpha = 0.01
    assert abs(statistics.fmean(samples) - 400) < 15


def test_equal_jitter_mean_is_three_quarters_of_the_ceiling():
    rng = random.Random(1)
    samples = [equal_jitter(3, 100, 10_000, rng) for _ in range(4_000)]
    assert abs(statistics.fmean(samples) - 300) < 6 and min(samples) >= 200


def test_jitter_is_reproducible_from_the_seed_and_needs_an_rng():
    b = ExponentialBackoff(100, 2, 5_000, jitter="full")
    assert [b(n, random.Random(3)) for n in range(1, 6)] == [b(n, random.Random(3)) for n in range(1, 6)]
    with pytest.raises(ValueError, match="seeded random.Random"):
        b(1)


def test_decorrelated_jitter_grows_from_the_previous_delay_and_resets():
    b = ExponentialBackoff(100, 2, 10_000, jitter="decorrelated")
    rng = random.Random(0)
    delays = [b(n, rng) for n in range(1, 12)]
    assert all(100 <= d <= 10_000 for d in delays) and max(delays) > 1_000
    assert b(1, rng) <= 300                          # a new message starts from the base again


def test_backoff_validation():
    with pytest.raises(ValueError, match="multiplier"):
        ExponentialBackoff(100, 0.5)
    with pytest.raises(ValueError, match="max_ms"):
        ExponentialBackoff(1000, 2, 500)
    with pytest.raises(ValueError, match="jitter"):
        ExponentialBackoff(jitter="some")


def test_celery_countdown():
    assert [celery_countdown(r, retry_jitter=False) for r in range(12)] == \
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    rng = random.Random(5)
    draws = [celery_countdown(3, rng=rng) for _ in range(2_000)]
    assert set(draws) == set(range(9))               # randrange(countdown + 1): 0..8 inclusive


# ---------------------------------------------------------------- classification
@pytest.mark.parametrize("exc,transient", [
    (TimeoutError(), True), (ConnectionError(), True), (TransientError(), True),
    (HttpError(503), True), (HttpError(500), True), (HttpError(429), True), (HttpError(408), True),
    (HttpError(400), False), (HttpError(404), False), (HttpError(422), False),
    (DeserializationError(), False), (MessageConversionError(), False), (PermanentError(), False),
    (ValueError(), False), (KeyError("x"), False), (TypeError(), False), (AttributeError(), False),
    (RuntimeError("unknown"), True), (OSError("disk"), True),
])
def test_default_classification(exc, transient):
    assert is_transient(exc) is transient


def test_spring_style_classifier_fatal_list_and_causes():
    c = ExceptionClassifier()
    assert c(TimeoutError()) and c(RuntimeError()) and not c(DeserializationError()) and not c(TypeError())
    wrapped = RuntimeError("listener failed")
    wrapped.__cause__ = DeserializationError("bad bytes")
    assert c(wrapped)                                # without cause traversal: RuntimeError -> retry
    assert not ExceptionClassifier(traverse_causes=True)(wrapped)
    c.add_fatal(KeyError)
    assert not c(KeyError())
    c.remove_fatal(TypeError)
    assert c(TypeError())
    assert ExceptionClassifier(retryable=[DeserializationError])(DeserializationError())
    assert not ExceptionClassifier(default_retryable=False)(RuntimeError())
