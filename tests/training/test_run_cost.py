"""A run's summary.json gives what the model costs (builder.graph.cost) and the FLOP/s its training achieved."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("keras")

from spec_helpers import graph_of, iris_mlp


def test_summary_gives_macs_memory_and_the_achieved_flops(tmp_path):
    from builder.training.run import TrainOptions, train

    graph = graph_of(tmp_path, iris_mlp(epochs=2))
    run = train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0))
    summary = json.loads(run.summary.read_text())
    cost = summary["cost"]
    assert cost["model"] == graph.main and cost["macs"] == 4 * 16 + 16 * 3 and not cost["macs_at_least"]
    assert cost["parameters"] == summary["parameters"] == 4 * 16 + 16 + 16 * 3 + 3
    assert cost["weight_bytes"] == {"float32": 4 * 131, "bfloat16": 2 * 131}
    assert cost["optimizer"] == {"type": "adam", "slots": 2, "bytes": 2 * 131 * 4, "at_least": False}
    assert cost["achieved_flops_per_second"] == pytest.approx(summary["samples_per_second"] * 3 * 2 * 112)
    assert ("fraction_of_peak" in cost) == ("H100" in summary["device"] or "H200" in summary["device"])
