"""Losses and metrics as `compile` gets them: by name, or with arguments (`{type: ..., argument: value}`), each
built explicitly from the catalogue's closed table; per output; and under the names the run logs."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from builder.language.spec import TrainSpec  # noqa: E402
from builder.model.losses import ContrastiveLoss  # noqa: E402
from builder.training.objects import losses_and_metrics  # noqa: E402


def model(*outputs):
    x = keras.Input((4,), name="x")
    return keras.Model(x, [keras.layers.Dense(3, name=name)(x) for name in outputs])


def compiled(train: dict, *outputs, one_hot=False):
    return losses_and_metrics(TrainSpec.model_validate(train), model(*outputs), "mean_squared_error", one_hot)


def test_a_loss_with_arguments_is_its_keras_class_built_with_them():
    loss, _ = compiled({"loss": {"type": "sparse_categorical_crossentropy", "from_logits": True,
                                 "ignore_class": 0}}, "out")
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.fn.__name__ == "sparse_categorical_crossentropy" and loss._fn_kwargs["from_logits"] is True
    focal, _ = compiled({"loss": {"type": "BinaryFocalCrossentropy", "gamma": 3.0}}, "out")   # the class name too
    assert isinstance(focal, keras.losses.BinaryFocalCrossentropy) and focal._fn_kwargs["gamma"] == 3.0


def test_builders_losses_by_name_or_with_arguments_and_a_loss_per_output():
    loss, _ = compiled({"loss": {"a": {"type": "contrastive", "margin": 2.0}, "b": "contrastive", "c": "mse"}},
                       "a", "b", "c")
    assert isinstance(loss["a"], ContrastiveLoss) and loss["a"].margin == 2.0
    assert isinstance(loss["b"], ContrastiveLoss) and loss["b"].margin == 1.0
    assert loss["c"] is keras.losses.mean_squared_error   # a name without arguments: Keras' function, as before


def test_a_metric_with_arguments_is_its_class_and_the_run_logs_it_under_its_name():
    train = {"loss": "binary_crossentropy",
             "metrics": ["accuracy", {"type": "AUC", "curve": "PR"}, {"type": "Precision", "thresholds": 0.7,
                                                                       "name": "precision_70"}]}
    _, metrics = compiled(train, "out")
    accuracy, auc, precision = metrics
    assert isinstance(accuracy, keras.metrics.BinaryAccuracy)   # `accuracy` still follows the loss
    assert isinstance(auc, keras.metrics.AUC) and auc.curve.name == "PR" and auc.name == "auc"
    assert precision.name == "precision_70" and precision.thresholds == [0.7]
    assert TrainSpec.model_validate(train).logged_metrics()[:4] == ["loss", "accuracy", "auc", "precision_70"]


def test_mixed_labels_compile_a_configured_sparse_loss_as_its_one_hot_twin_with_the_same_arguments():
    loss, _ = compiled({"loss": {"type": "sparse_categorical_crossentropy", "from_logits": True}}, "out",
                       one_hot=True)
    assert isinstance(loss, keras.losses.CategoricalCrossentropy) and loss._fn_kwargs["from_logits"] is True
