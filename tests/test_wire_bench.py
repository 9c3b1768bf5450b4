"""The msglib serve benchmark runs end to end with tiny counts (no speed is asserted, nothing is recorded)."""
from __future__ import annotations

import importlib.util
import json

import pytest

from benchmarks import bench_serve, results


def test_bench_serve_quick_runs_and_records_nothing(capsys):
    if importlib.util.find_spec("kafka") is None:
        pytest.skip("kafka-python is not installed (pip install -e '.[course]')")
    before = serve_figures()
    assert bench_serve.main(["--quick"]) == 0
    out = capsys.readouterr().out
    names = ["serve.kafka_python.produce", "serve.kafka_python.consume", "serve.embedded.produce",
             "serve.embedded.consume"]
    if importlib.util.find_spec("confluent_kafka") is not None:
        names += ["serve.confluent.produce", "serve.confluent.consume", "where the server's time goes"]
    for name in names:
        assert name in out
    assert "ratio" in out and "embedded: " in out
    assert serve_figures() == before


def serve_figures() -> dict:
    """The serve.* entries only: other benchmarks may write results.json at the same time."""
    if not results.RESULTS.exists():
        return {}
    return {k: v for k, v in json.loads(results.RESULTS.read_text()).items() if k.startswith("serve.")}
