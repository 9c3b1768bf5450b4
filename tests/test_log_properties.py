"""Model-based property test: any sequence of log operations reads back what a simple model says."""
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from msglib.log import Log, LogConfig, MemoryStorage, Record, RecordBatch

KEYS = st.sampled_from([b"a", b"b", b"c", b"d"])
VALUES = st.one_of(st.none(), st.binary(max_size=30))


class LogMachine(RuleBasedStateMachine):
    """The model is a dict offset -> (key, value), plus the log start and end offsets."""

    @initialize(compact=st.booleans(), segment_bytes=st.sampled_from([200, 500, 2000]),
                interval=st.sampled_from([0, 64, 4096]))
    def setup(self, compact, segment_bytes, interval):
        self.config = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=interval,
                                cleanup_policy="compact,delete" if compact else "delete",
                                retention_ms=-1, delete_retention_ms=10**12)
        self.storage = MemoryStorage()
        self.log = Log(storage=self.storage, config=self.config, clock=lambda: 0)
        self.model: dict[int, tuple] = {}
        self.start = 0
        self.end = 0

    @rule(records=st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=5), epoch=st.integers(0, 3))
    def append(self, records, epoch):
        info = self.log.append(RecordBatch([Record(k, v, 0) for k, v in records]),
                               leader_epoch=max(epoch, self.log.leader_epoch_cache.latest_epoch, 0))
        assert info.first_offset == self.end
        for i, (k, v) in enumerate(records):
            self.model[self.end + i] = (k, v)
        self.end += len(records)

    @rule()
    def roll(self):
        self.log.roll()

    @rule(data=st.data())
    def truncate(self, data):
        offset = data.draw(st.integers(self.start, self.end))
        self.log.truncate_to(offset)
        self.model = {o: kv for o, kv in self.model.items() if o < offset}
        self.end = min(self.end, offset)

    @rule(data=st.data())
    def delete_before(self, data):
        offset = data.draw(st.integers(self.start, self.end))
        self.log.delete_records_before(offset)
        self.start = max(self.start, offset)
        self.model = {o: kv for o, kv in self.model.items() if o >= self.start}

    @rule(data=st.data())
    def retention_by_size(self, data):
        self.config.retention_bytes = data.draw(st.integers(0, 3000))
        self.log.apply_retention(now_ms=0)
        self.config.retention_bytes = -1
        new_start = self.log.log_start_offset
        assert new_start >= self.start
        # Whole segments only: the new start is a segment base offset (or the end).
        assert new_start == self.start or new_start in self.log.base_offsets or new_start == self.end
        self.start = new_start
        self.model = {o: kv for o, kv in self.model.items() if o >= self.start}

    @precondition(lambda self: self.config.compact)
    @rule()
    def compact(self):
        cleanable_end = self.log.active_segment.base_offset
        self.log.compact(now_ms=0)
        latest = {}
        for o, (k, _) in sorted(self.model.items()):
            if o < cleanable_end:
                latest[k] = o
        self.model = {o: kv for o, kv in self.model.items() if o >= cleanable_end or latest[kv[0]] == o}

    @rule(clean=st.booleans())
    def reopen(self, clean):
        if clean:
            self.log.close()
            self.log = Log(storage=self.storage, config=self.config, clock=lambda: 0)
        else:
            self.log.flush()
            self.log = self.log.crash_and_reopen()

    @rule()
    def crash_without_flush(self):
        durable = self.log.recovery_point        # everything below was fsynced
        self.log = self.log.crash_and_reopen()
        assert self.log.log_end_offset <= max(self.end, self.start)
        # Only unflushed records may be lost. (A compacted log may also lose a trailing gap.)
        assert all(o < self.log.log_end_offset for o in self.model if o < durable)
        assert self.log.log_start_offset == self.start        # offsets never go back
        self.end = self.log.log_end_offset
        self.model = {o: kv for o, kv in self.model.items() if o < self.end}

    @invariant()
    def reads_match_the_model(self):
        if not hasattr(self, "log"):
            return
        assert (self.log.log_start_offset, self.log.log_end_offset) == (self.start, self.end)
        got = {r.offset: (r.key, r.value) for r in self.log.records()}
        assert got == self.model
        # A read from any offset starts at the first record at or after it.
        for offset in (self.start, (self.start + self.end) // 2):
            if offset < self.end:
                later = [o for o in sorted(self.model) if o >= offset]
                records = self.log.read(offset).records()
                assert [r.offset for r in records][:1] == later[:1]


LogMachine.TestCase.settings = settings(max_examples=int(__import__("os").environ.get("LOG_PROPERTY_EXAMPLES", 60)), stateful_step_count=25, database=None, deadline=None)
TestLogModel = LogMachine.TestCase
