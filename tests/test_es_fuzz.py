"""Property-based fuzzing of the event store: random data, metadata and arguments (bounded for CI).

Rule: a call is refused with an EventStoreError and writes nothing, or the event reads back exactly
as given (tuples as lists); the store stays readable. Long runs: ``python -m benchmarks.bench_es_fuzz``.
"""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from benchmarks.bench_es_fuzz import _CALLS, check_append, check_call, run
from msglib.es import EventStore, NewEvent

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
def stores():
    """A fresh in-memory store for each example (so reads stay short), closed after the module."""
    made = []

    def make() -> EventStore:
        made.append(EventStore(":memory:", clock=lambda: 1.0))
        return made[-1]
    yield make
    for s in made:
        s.close()


@FUZZ
@given(data=st.one_of(values, st.dictionaries(keys, values, max_size=4)),
       metadata=st.one_of(st.none(), values, st.dictionaries(keys, values, max_size=3)))
def test_any_data_and_metadata_is_stored_exactly_or_refused(stores, data, metadata):
    check_append(stores(), "s", data, metadata)


@FUZZ
@given(data=st.dictionaries(st.text(max_size=5), json_like, max_size=4),
       metadata=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), json_like, max_size=3)))
def test_json_objects_are_always_stored_and_read_back_exactly(stores, data, metadata):
    assert check_append(stores(), "json", data, metadata)


@FUZZ
@given(method=st.sampled_from(sorted(_CALLS)), data=st.data())
def test_reading_methods_with_any_arguments_give_results_or_msglib_errors(stores, method, data):
    store = stores()
    store.append("s", NewEvent("E", {"i": 1}))
    low, high = _CALLS[method]
    args = tuple(data.draw(st.one_of(values, st.integers(-3, 5))) for _ in range(data.draw(st.integers(low, high))))
    check_call(store, method, args)


def test_the_long_run_script_runs_on_a_few_cases(capsys):
    assert run(400, 0, 200, quick=True) == 0
    assert "es fuzz: 400 cases" in capsys.readouterr().out


any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=6)   # surrogates and NUL too


@FUZZ
@given(stream=any_text, event_type=any_text, event_id=st.one_of(st.none(), any_text),
       correlation_id=st.one_of(st.none(), any_text, st.integers()))
def test_any_names_and_ids_are_stored_or_refused_by_name(stores, stream, event_type, event_id, correlation_id):
    store = stores()
    from benchmarks.bench_es_fuzz import Finding
    from msglib.es import EventStoreError

    before = len(store.read_all())
    try:
        result = store.append(stream, NewEvent(event_type, {"x": 1}, event_id=event_id),
                              correlation_id=correlation_id)
    except EventStoreError:
        assert len(store.read_all()) == before
    except Exception as exc:  # noqa: BLE001 - NewEvent itself refuses an empty type with a ValueError
        if not (isinstance(exc, ValueError) and not event_type):
            raise Finding(f"{type(exc).__name__}: {exc}") from exc
    else:
        stored = store.read_all(after=result.last_position - 1, limit=1)[0]
        assert stored.stream == stream and (result.idempotent or stored.type == event_type)
