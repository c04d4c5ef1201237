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


# Two inputs (a table and the rest) and two outputs, from an .npz file read by name.
IRIS_TWO = """
name: iris-two
inputs: {petal: {shape: [2]}, sepal: {shape: [2]}}
layers:
  - {id: both, type: Concatenate, inputs: [petal, sepal]}
  - {id: hidden, type: Dense, units: 16, activation: relu}
  - {id: species, type: Dense, units: 3, activation: softmax}
  - {id: wide, type: Dense, units: 1, inputs: hidden}
outputs: [species, wide]
train:
  data: {source: numpy, path: iris.npz, inputs: {petal: petal, sepal: sepal},
         targets: {species: species, wide: sepal_width}, sample_weight: weight}
  loss: {species: sparse_categorical_crossentropy, wide: mse}
  metrics: {species: [accuracy]}
  optimizer: {type: adam, learning_rate: 0.02}
  epochs: 20
  batch_size: 16
  seed: 3
"""


def test_evaluate_and_predict_on_a_model_of_two_inputs_and_two_outputs(tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris()
    data = iris.data.astype("float32")
    weight = np.where(iris.target == 0, 2.0, 1.0).astype("float32")
    np.savez(tmp_path / "iris.npz", petal=data[:, 2:], sepal=data[:, :2], species=iris.target,
             sepal_width=data[:, 1:2], weight=weight)
    run = train_spec(tmp_path, IRIS_TWO)
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(run.path), "--format", "json"])
    assert result.exit_code == 0, result.output
    final = json.loads(run.summary.read_text())["final"]
    # the validation pairs, weighed by the data's weights as training weighed them
    assert json.loads(result.output)["loss"] == pytest.approx(final["val_loss"], rel=1e-4)

    # predict: an array per input name, in the data's own units; an array per output name back
    np.savez(tmp_path / "new.npz", petal=data[::10, 2:], sepal=data[::10, :2])
    result = runner.invoke(main, ["predict", str(run.path), str(tmp_path / "new.npz"), "-o", str(tmp_path / "out.npz")])
    assert result.exit_code == 0, result.output
    out = np.load(tmp_path / "out.npz")
    assert sorted(out.files) == ["species", "wide"] and out["species"].shape == (15, 3) and out["wide"].shape == (15, 1)
    assert np.mean(out["species"].argmax(axis=1) == iris.target[::10]) > 0.8   # chance is 0.33
    from builder.runs.export import with_input_transform
    from builder.training.run_folder import load_run_model, read_transform

    # an export builds each input's standardisation in: the data's own units give predict's outputs
    exported = with_input_transform(load_run_model(run), read_transform(run))
    assert {"input_transform_petal", "input_transform_sepal"} <= {layer.name for layer in exported.layers}
    species, _ = exported.predict({"petal": data[::10, 2:], "sepal": data[::10, :2]}, verbose=0)
    np.testing.assert_allclose(np.asarray(species), out["species"], rtol=1e-4, atol=1e-6)

    result = runner.invoke(main, ["predict", str(run.path), str(tmp_path / "new.npz"), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "this model has 2 outputs (species, wide); write them to an .npz" in result.output
    np.savez(tmp_path / "half.npz", petal=data[:5, 2:], sepals=data[:5, :2])
    result = runner.invoke(main, ["predict", str(run.path), str(tmp_path / "half.npz"), "-o", str(tmp_path / "o.npz")])
    assert result.exit_code == 1 and "has no array 'sepal' for the model's input of that name" in result.output
    assert "did you mean 'sepals'?" in result.output
