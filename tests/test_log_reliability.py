"""Reliability: kill -9 during fsync'd appends; random corruption of segment and index files.

Small counts here; ``python -m benchmarks.bench_log`` runs >= 200 kills and >= 1,000 corruptions.
"""
import pytest

from msglib.log.torture import corruption_trial, kill_trial


def test_kill_minus_nine_never_loses_an_acknowledged_record(tmp_path):
    directory = str(tmp_path / "kill-0")
    ends = []
    for seed in range(4):                       # the same directory crashes again and again
        result = kill_trial(directory, seed, max_acks=15)
        assert result.recovered_end > result.acked
        ends.append(result.recovered_end)
    assert ends == sorted(ends)                 # nothing once recovered is lost later


@pytest.mark.parametrize("start", [0, 100])
def test_corruption_never_returns_a_wrong_record(start):
    results = [corruption_trial(seed) for seed in range(start, start + 60)]
    files = {r.file.rsplit(".", 1)[-1] for r in results}
    assert files == {"log", "index", "timeindex"}          # every kind of file was damaged
    assert any(r.kept < r.records for r in results)        # and some damage forced a cut
    assert {r.kind for r in results} == {"flip", "truncate"}
