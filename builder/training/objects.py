"""The objects `compile` takes: optimizer, learning-rate schedule, losses and metrics.

Each comes from a closed table by an explicit constructor call (never `keras.*.get()` on a value
from a spec).

Public entry points: `make_optimizer(spec, steps_per_epoch, epochs)`, `make_schedule(...)`,
`losses_and_metrics(train, model, default_loss, one_hot)`.
"""

from __future__ import annotations

import keras

from builder.language.catalogue import catalogue
from builder.language.spec import LossSpec, MetricSpec, OptimizerSpec, ScheduleSpec, TrainSpec, loss_name

OPTIMIZER_CLASSES = {name.lower(): name for name in (
    "SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "Adafactor", "Ftrl", "Lamb", "Lion", "Nadam", "RMSprop")}


@keras.saving.register_keras_serializable(package="builder")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to the wrapped schedule's value over `warmup_steps`, then follows it."""

    def __init__(self, schedule, warmup_steps: int):
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        rate = self.schedule(keras.ops.maximum(step - self.warmup_steps, 0.0))
        return keras.ops.where(step < self.warmup_steps, rate * (step + 1.0) / self.warmup_steps, rate)

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["warmup_steps"])


def make_schedule(spec: ScheduleSpec, default_rate: float, steps_per_epoch: int, epochs: int):
    s = keras.optimizers.schedules
    rate = spec.initial_learning_rate or default_rate
    decay_steps = spec.decay_steps or max(1, steps_per_epoch * epochs - spec.warmup_steps)
    if spec.type == "cosine":
        # CosineDecay has its own warmup: from `initial_learning_rate` up to `warmup_target`
        if spec.warmup_steps:
            return s.CosineDecay(0.0, decay_steps, alpha=spec.alpha or 0.0, warmup_target=rate,
                                 warmup_steps=spec.warmup_steps)
        return s.CosineDecay(rate, decay_steps, alpha=spec.alpha or 0.0)
    if spec.type == "exponential":
        schedule = s.ExponentialDecay(rate, decay_steps, spec.decay_rate or 0.5)
    elif spec.type == "polynomial":
        schedule = s.PolynomialDecay(rate, decay_steps, spec.end_learning_rate or 0.0)
    elif spec.type == "inverse_time":
        schedule = s.InverseTimeDecay(rate, decay_steps, spec.decay_rate or 0.5)
    else:
        schedule = s.PiecewiseConstantDecay(spec.boundaries or [], spec.values or [rate])
    return LinearWarmup(schedule, spec.warmup_steps) if spec.warmup_steps else schedule


def make_optimizer(spec: OptimizerSpec | str, steps_per_epoch: int, epochs: int):
    if isinstance(spec, str):
        spec = OptimizerSpec(type=spec)
    cls = getattr(keras.optimizers, OPTIMIZER_CLASSES[spec.type])
    kwargs = dict(spec.args)
    default_rate = 0.01 if spec.type == "sgd" else 0.001
    if isinstance(spec.learning_rate, ScheduleSpec):
        kwargs["learning_rate"] = make_schedule(spec.learning_rate, default_rate, steps_per_epoch, epochs)
    elif spec.learning_rate is not None:
        kwargs["learning_rate"] = spec.learning_rate
    return cls(**kwargs)


def _loss(spec, one_hot: bool = False):
    """One loss: by name, Keras' function (or builder's loss, builder.model.losses); with arguments, its class
    built explicitly with them. The names and classes come from the catalogue's closed lists."""
    from builder.model.losses import LOSSES

    if isinstance(spec, LossSpec):
        cls, args = spec.cls, spec.args
        if one_hot and cls == "SparseCategoricalCrossentropy":   # MixUp/CutMix: the one-hot twin, same arguments
            cls, args = "CategoricalCrossentropy", {k: v for k, v in args.items() if k != "ignore_class"}
        own = {loss.__name__: loss for loss in LOSSES.values()}
        return own[cls](**args) if cls in own else getattr(keras.losses, cls)(**args)
    name = ONE_HOT_TWINS.get(spec, spec) if one_hot else spec
    return LOSSES[name]() if name in LOSSES else getattr(keras.losses, name)


_METRIC_CLASSES = {"accuracy": "Accuracy", "auc": "AUC", "precision": "Precision", "recall": "Recall"}

# Losses and metrics of integer labels -> their twins on one-hot labels: what a run whose labels MixUp or CutMix
# made one-hot compiles, logged under the spec's names (history.csv keeps its columns).
ONE_HOT_TWINS = {"sparse_categorical_crossentropy": "categorical_crossentropy",
                 "sparse_categorical_accuracy": "categorical_accuracy",
                 "sparse_top_k_categorical_accuracy": "top_k_categorical_accuracy"}


def _metric(name: str | MetricSpec, loss: str | None, one_hot: bool = False):
    if isinstance(name, MetricSpec):
        plain = catalogue().objects["metrics"]["classes"][name.cls].get("name")
        if name.args or plain is None:   # with arguments (or a class with no name form): the class itself
            return getattr(keras.metrics, name.cls)(**name.args)
        name = plain   # `{type: accuracy}` is `accuracy`, which follows the loss
    if one_hot and name in ONE_HOT_TWINS:
        return keras.metrics.MeanMetricWrapper(getattr(keras.metrics, ONE_HOT_TWINS[name]), name=name)
    if name == "accuracy":
        # what Keras' "accuracy" string means for this loss, built explicitly
        if loss == "sparse_categorical_crossentropy":
            return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        if loss == "binary_crossentropy":
            return keras.metrics.BinaryAccuracy(name="accuracy")
        if loss == "categorical_crossentropy":
            return keras.metrics.CategoricalAccuracy(name="accuracy")
        return keras.metrics.Accuracy(name="accuracy")
    if name in _METRIC_CLASSES:
        return getattr(keras.metrics, _METRIC_CLASSES[name])(name=name)
    return getattr(keras.metrics, name)


def losses_and_metrics(train: TrainSpec, model: keras.Model, default_loss: str, one_hot: bool = False):
    """The loss and metric objects `compile` takes, by the spec's names.

    Args:
        train: the spec's `train` section (`loss`, `metrics`).
        model: the model that trains (its output names).
        default_loss: the kind's loss when the spec names none (several outputs: one per output name).
        one_hot: the labels were made one-hot (MixUp, CutMix): losses and metrics
            of integer labels become their `ONE_HOT_TWINS`, under the same names.
    """
    def twin(name):
        return ONE_HOT_TWINS.get(name, name) if one_hot else name

    outputs = model.output_names
    per_output = train.loss if isinstance(train.loss, dict) else default_loss if train.loss is None else None
    if isinstance(per_output, dict):   # a loss per output (the spec's, or the kind's default for each output)
        names = {out: twin(loss_name(one)) for out, one in per_output.items()}
        loss = {out: _loss(per_output[out], one_hot) for out in outputs if out in per_output}
    else:
        one = train.loss or default_loss
        loss = _loss(one, one_hot)
        names = {out: twin(loss_name(one)) for out in outputs}
    if isinstance(train.metrics, dict):
        metrics = {out: [_metric(m, names.get(out), one_hot) for m in ms] for out, ms in train.metrics.items()}
    else:
        first = names.get(outputs[0]) if outputs else None
        metrics = [_metric(m, first, one_hot) for m in train.metrics]
        if len(outputs) > 1:
            metrics = {out: [_metric(m, names.get(out), one_hot) for m in train.metrics] for out in outputs}
    return loss, metrics
