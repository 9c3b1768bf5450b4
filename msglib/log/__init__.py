"""msglib.log -- a partition's commit log, in Kafka's own on-disk format.

Read it in this order:

* ``records.py``   -- Record and RecordBatch v2: the bytes on disk and on the wire
* ``segment.py``   -- LogSegment: a .log file plus its sparse .index and .timeindex
* ``log.py``       -- Log: segments, offsets, append, read, truncate
* ``retention.py`` -- which old segments to delete
* ``cleaner.py``   -- compaction: the latest value per key
* ``recovery.py``  -- opening a directory after a crash
* ``storage.py``   -- the same files in memory or on disk
* ``partitioner.py``, ``topic.py`` -- keys to partitions; a topic of N logs

Quick start::

    from msglib.log import Log, Record
    log = Log()                                    # in memory
    info = log.append([Record(b"user-1", b"signed up")])
    log.read(info.first_offset).records()
"""
from .config import LogConfig
from .cleaner import CleanerStats, should_retain
from .epoch_cache import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, LeaderEpochCache
from .errors import (CorruptRecordError, InvalidArgumentError, InvalidRecordError, LogDirectoryError, LogError,
                     OffsetOutOfRangeError, RecordTooLargeError, RecordTypeError, UnexpectedAppendOffsetError,
                     UnsupportedCompressionError)
from .log import (EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, FetchData, Log, LogAppendInfo, choose_segment)
from .records import (BatchHeader, Compression, ControlType, Record, RecordBatch, TimestampType, iter_batches,
                      read_header)
from .recovery import RecoveryReport
from .retention import SegmentInfo, deletable_segments
from .segment import LogSegment, OffsetIndex, TimeIndex, floor_lookup, segment_name
from .storage import DiskStorage, MemoryStorage
from .partitioner import (BuiltInPartitioner, DefaultPartitioner, RoundRobinPartitioner, StickyPartition,
                          default_partition, murmur2, update_sticky)
from .topic import RecordMetadata, Topic

__all__ = [
    "LogConfig", "CleanerStats", "should_retain", "UNDEFINED_EPOCH", "UNDEFINED_EPOCH_OFFSET",
    "LeaderEpochCache", "CorruptRecordError", "InvalidArgumentError", "InvalidRecordError", "LogDirectoryError",
    "LogError", "OffsetOutOfRangeError",
    "RecordTooLargeError", "RecordTypeError", "UnexpectedAppendOffsetError", "UnsupportedCompressionError",
    "EARLIEST_TIMESTAMP", "LATEST_TIMESTAMP", "FetchData", "Log", "LogAppendInfo", "choose_segment",
    "BatchHeader", "Compression", "ControlType", "Record", "RecordBatch", "TimestampType", "iter_batches",
    "read_header", "RecoveryReport", "SegmentInfo", "deletable_segments", "LogSegment", "OffsetIndex",
    "TimeIndex", "floor_lookup", "segment_name", "DiskStorage", "MemoryStorage",
    "BuiltInPartitioner", "DefaultPartitioner", "RoundRobinPartitioner", "StickyPartition", "update_sticky",
    "default_partition", "murmur2", "RecordMetadata", "Topic",
]
