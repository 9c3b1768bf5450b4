"""Property-based fuzzing of the event store: random data, metadata and arguments (bounded for CI).

Rule: a call is refused with an EventStoreError and writes nothing, or the event reads back exactly
as given (tuples as lists); the store stays readable. Long runs: ``python -m benchmarks.bench_es_fuzz``.
"""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from benchmarks.bench_es_fuzz import _CALLS, check_append, check_call, run
from msglib.es import EventStore

FUZZ = settings(database=None, deadline=None, max_examples=250, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8), st.binary(max_size=4), st.sets(st.integers(), max_size=2),
                    st.builds(object), st.complex_numbers(max_magnitude=5))
keys = st.one_of(st.text(max_size=5), st.integers(), st.floats(), st.none(), st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.tuples(inner, inner),
                                                       st.dictionaries(keys, inner, max_size=3)), max_leaves=8)
json_like = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                                                                                      allow_infinity=False),
                                   st.text(max_size=8)),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                         max_leaves=8)


@pytest.fixture(scope="module")
def store():
    s = EventStore(":memory:", clock=lambda: 1.0)
    yield s
    s.close()


@FUZZ
@given(data=st.one_of(values, st.dictionaries(keys, values, max_size=4)),
       metadata=st.one_of(st.none(), values, st.dictionaries(keys, values, max_size=3)))
def test_any_data_and_metadata_is_stored_exactly_or_refused(store, data, metadata):
    check_append(store, "s", data, metadata)


@FUZZ
@given(data=st.dictionaries(st.text(max_size=5), json_like, max_size=4),
       metadata=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), json_like, max_size=3)))
def test_json_objects_are_always_stored_and_read_back_exactly(store, data, metadata):
    assert check_append(store, "json", data, metadata)


@FUZZ
@given(method=st.sampled_from(sorted(_CALLS)), data=st.data())
def test_reading_methods_with_any_arguments_give_results_or_msglib_errors(store, method, data):
    low, high = _CALLS[method]
    args = tuple(data.draw(st.one_of(values, st.integers(-3, 5))) for _ in range(data.draw(st.integers(low, high))))
    check_call(store, method, args)


def test_the_long_run_script_runs_on_a_few_cases(capsys):
    assert run(400, 0, 200, quick=True) == 0
    assert "es fuzz: 400 cases" in capsys.readouterr().out
