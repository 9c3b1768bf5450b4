"""Module 02's pictures draw without error and say what they show."""
import matplotlib

matplotlib.use("Agg")

from msglib.log import Log, LogConfig, Record  # noqa: E402
from msglib.viz import log as viz  # noqa: E402


def small_log(**cfg):
    log = Log(config=LogConfig(segment_bytes=600, index_interval_bytes=150, **cfg), clock=lambda: 0)
    for i in range(30):
        log.append([Record(b"k%d" % (i % 4), b"v" * 30, i)])
    return log


def test_hexdump_labels_every_header_field():
    text = viz.hexdump_batch(viz.example_batch())
    for field in ("base_offset", "batch_length", "partition_leader_epoch", "magic", "crc", "attributes",
                  "last_offset_delta", "base_timestamp", "max_timestamp", "producer_id", "record_count",
                  "key_length", "value_length"):
        assert field in text
    assert "b'user-1'" in text and " 42 " in text


def test_plots_draw(tmp_path):
    log = small_log(cleanup_policy="compact")
    assert "5 segments" in viz.plot_segments(log).axes[0].get_title()
    assert "read offset 17" in viz.plot_index_lookup(log, 17).axes[0].get_title()
    before = list(log.records())
    log.roll()
    log.compact(now_ms=0)
    assert "30 records -> 4" in viz.plot_compaction(before, list(log.records())).axes[0].get_title()
    assert viz.plot_benchmarks(str(tmp_path / "missing.json")).axes[0].get_title().endswith(
        "(figures measured when the notebook was written)")


def test_directory_listing(tmp_path):
    log = Log(directory=str(tmp_path / "orders-0"), config=LogConfig(segment_bytes=600))
    for i in range(20):
        log.append([b"x" * 50])
    log.close()
    text = viz.directory_listing(str(tmp_path / "orders-0"))
    assert "orders-0/" in text and "00000000000000000000.log" in text and "offset index" in text


def test_widget_builds():
    box = viz.segment_widget()
    assert len(box.children) == 3
