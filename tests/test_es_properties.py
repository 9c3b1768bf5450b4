"""Model-based property test: the SQLite store against a plain Python model of streams."""
from hypothesis import given, settings, strategies as st

from msglib.es import ANY, NO_STREAM, STREAM_EXISTS, ConcurrencyError, EventStore, NewEvent

op = st.tuples(
    st.sampled_from(["a", "b", "c"]),                                   # stream
    st.sampled_from(["exact", "stale", "ahead", ANY, NO_STREAM, STREAM_EXISTS]),
    st.integers(1, 3),                                                  # events in the batch
    st.booleans(),                                                      # retry the previous batch (same ids)?
)


@settings(database=None, deadline=None, max_examples=60)
@given(ops=st.lists(op, max_size=30))
def test_store_behaves_like_the_model(ops):
    store = EventStore(":memory:")
    model: dict[str, list[str]] = {}        # stream -> event ids, in order
    order: list[str] = []                   # $all order of event ids
    last_batch: tuple[str, list[NewEvent]] | None = None
    for stream, kind, n, retry in ops:
        version = len(model.get(stream, []))
        if retry and last_batch is not None:
            stream, batch = last_batch
            result = store.append(stream, batch, expected_version=ANY)
            assert result.idempotent and store.last_position() == len(order)
            continue
        expected = {"exact": version, "stale": version - 1, "ahead": version + 1}.get(kind, kind)
        if expected == -1:
            expected = 0 if version else 1
        ok = {ANY: True, NO_STREAM: version == 0, STREAM_EXISTS: version > 0}.get(expected, expected == version) \
            if isinstance(expected, str) else expected == version
        batch = [NewEvent("E", {"i": len(order) + j}) for j in range(n)]
        try:
            result = store.append(stream, batch, expected_version=expected)
        except ConcurrencyError as err:
            assert not ok and err.actual == version and err.expected == expected
            continue
        assert ok
        assert (result.first_version, result.last_version) == (version + 1, version + n)
        assert (result.first_position, result.last_position) == (len(order) + 1, len(order) + n)
        ids = [e.event_id for e in batch]
        model.setdefault(stream, []).extend(ids)
        order.extend(ids)
        last_batch = (stream, batch)
    assert [e.event_id for e in store.read_all()] == order
    assert [e.position for e in store.read_all()] == list(range(1, len(order) + 1))
    for stream, ids in model.items():
        events = store.read_stream(stream)
        assert [e.event_id for e in events] == ids
        assert [e.version for e in events] == list(range(1, len(ids) + 1))
        assert store.stream_version(stream) == len(ids)
