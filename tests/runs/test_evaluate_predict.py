"""`builder evaluate` and `builder predict` on a run folder: the run's own metrics, and classes by name."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("keras")

from spec_helpers import graph_of, iris_mlp  # noqa: E402

from builder.cli import main  # noqa: E402

IRIS_MLP = iris_mlp()


def train_spec(tmp_path, text):
    from builder.training.run import TrainOptions, train

    return train(graph_of(tmp_path, text), tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0))


def test_evaluate_and_predict_from_a_run(tmp_path):
    run = train_spec(tmp_path, IRIS_MLP)
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(run.path), "--format", "json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    summary = json.loads(run.summary.read_text())
    assert metrics["accuracy"] == pytest.approx(summary["final"]["val_accuracy"], abs=1e-6)

    from sklearn.datasets import load_iris

    iris = load_iris()
    np.save(tmp_path / "flowers.npy", iris.data[::10].astype("float32"))
    result = runner.invoke(main, ["predict", str(run.path), str(tmp_path / "flowers.npy"),
                                  "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert list(rows[0]) == ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    predicted = [row["prediction"] for row in rows]
    expected = [iris.target_names[t] for t in iris.target[::10]]
    assert np.mean([p == e for p, e in zip(predicted, expected)]) > 0.8
