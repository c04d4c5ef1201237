"""TensorBoard logs on every backend: Keras' scalar tags per epoch, and the run's hparams for the HParams tab.

Runs on every backend (tests/conftest.py EVERY_BACKEND): `pytest --backend jax` / `--backend torch`.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("keras")
pytest.importorskip("tensorboard")

from spec_helpers import graph_of, iris_mlp  # noqa: E402

from builder.training.backends import tensorflow_hidden  # noqa: E402
from builder.training.run_folder import read_history  # noqa: E402

# iris_mlp with its hidden width as a spec parameter, so the hparams show a --set override, and Adam at
# Keras' default learning rate, which the spec does not give
IRIS_WIDTH = iris_mlp(epochs=2).replace("name: iris-mlp", "name: iris-mlp\nparams: {width: 16}").replace(
    "units: 16", 'units: "${width}"').replace("optimizer: {type: adam, learning_rate: 0.02}", "optimizer: adam")


def events(folder):
    """TensorBoard's own reader on one folder of the logs (without TensorFlow, as TensorBoard reads without it)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with tensorflow_hidden():   # a JAX or torch test process never imports TensorFlow
        accumulator = EventAccumulator(str(folder))
        accumulator.Reload()
    return accumulator


def scalars(accumulator) -> dict:
    """{tag: [(step, value), ...]} of the scalar summaries (written as tensors, as tf.summary.scalar does)."""
    from tensorboard.util.tensor_util import make_ndarray

    return {tag: [(event.step, float(make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()["tensors"] if not tag.startswith("_hparams_/")}


def logged_hparams(accumulator) -> dict:
    from google.protobuf.json_format import MessageToDict
    from tensorboard.plugins.hparams import metadata

    content = accumulator.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    return MessageToDict(metadata.parse_session_start_info_plugin_data(content))


def test_a_run_logs_keras_scalar_tags_per_epoch_and_its_hparams_once(tmp_path):
    from builder.training.run import TrainOptions, train

    graph = graph_of(tmp_path, IRIS_WIDTH, overrides={"width": 8})
    run = train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0, batch_size=8))

    history = read_history(run.history)
    train_log, validation_log = scalars(events(run.logs / "train")), scalars(events(run.logs / "validation"))
    assert sorted(train_log) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert sorted(validation_log) == ["epoch_accuracy", "epoch_loss"]
    # one point per epoch, counted from 0 as Keras' callback counts, with the values history.csv has
    assert [step for step, _ in train_log["epoch_loss"]] == [0, 1]
    assert [value for _, value in train_log["epoch_loss"]] == pytest.approx([row["loss"] for row in history])
    assert [value for _, value in validation_log["epoch_accuracy"]] == pytest.approx(
        [row["val_accuracy"] for row in history])
    assert [value for _, value in train_log["epoch_learning_rate"]] == pytest.approx([0.001, 0.001])

    session = logged_hparams(events(run.logs))
    assert session["hparams"] == {
        "spec": "iris-mlp", "width": 8,   # the parameter as --set made it, not the spec's 16
        "train.kind": "supervised", "train.optimizer.type": "adam",
        "train.optimizer.learning_rate": 0.001,   # Keras' default for Adam, read from the optimizer
        "train.loss": "sparse_categorical_crossentropy", "train.batch_size": 8, "train.epochs": 2, "train.seed": 3}
    assert session["groupName"] == str(run.path.resolve())   # one HParams row per run folder
    assert len(list(run.logs.glob("events.out.tfevents.*"))) == 1   # written once


def test_hparams_that_are_no_number_or_text_are_logged_as_json_and_unset_ones_are_left_out(tmp_path):
    from builder.training.tensorboard import hparams

    spec = iris_mlp().replace("optimizer: {type: adam, learning_rate: 0.02}",
                              "optimizer: {type: sgd, learning_rate: {type: cosine, initial_learning_rate: 0.1, "
                              "decay_steps: 100}}")
    graph = graph_of(tmp_path, spec)
    logged = hparams(graph, graph.spec.train, epochs=5, batch_size=4)
    assert json.loads(logged["train.optimizer.learning_rate"]) == {"type": "cosine", "initial_learning_rate": 0.1,
                                                                   "decay_steps": 100, "warmup_steps": 0}
    assert logged["train.optimizer.type"] == "sgd" and logged["train.epochs"] == 5

    unseeded = graph_of(tmp_path / "plain", iris_mlp().replace("  seed: 3\n", "").replace(
        "optimizer: {type: adam, learning_rate: 0.02}", "optimizer: rmsprop"))
    logged = hparams(unseeded, unseeded.spec.train, epochs=1, batch_size=1)
    assert "train.seed" not in logged and "train.optimizer.learning_rate" not in logged   # nothing to say
    assert logged["train.optimizer.type"] == "rmsprop"
