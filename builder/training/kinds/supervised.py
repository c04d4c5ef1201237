"""Supervised learning: Keras' own `fit` step on (inputs, labels). (Autoencoders: `autoencoder.py`.)"""

from __future__ import annotations

from builder.errors import SpecError, did_you_mean, show
from builder.training.kinds.base import KindMismatch, Plan, evaluation, scored_as_trained, training_kind


@training_kind("supervised")
def supervised(graph, models, data) -> Plan:
    """The main model maps inputs to labels; classes (integer labels) default to a cross-entropy.

    Named targets (`train.data.targets`) go to the model's outputs in its own order, as Keras pairs
    them; a loss that reads no targets (builder's triplet loss) gets zeros when the data has none.
    """
    model = models[graph.main]
    y, y_val = data.y_train, data.y_val
    if y is None and _reads_no_targets(graph.spec.train.loss):
        y, y_val = _zeros(data.x_train), None if data.x_val is None else _zeros(data.x_val)
    if y is None:
        raise KindMismatch("supervised training needs labels; this data has none")
    if isinstance(y, dict):
        y, y_val = by_output(graph, model, y), None if y_val is None else by_output(graph, model, y_val)
    targets = y if isinstance(y, list) else [y]
    defaults = ["sparse_categorical_crossentropy" if t.dtype.kind in "iu" else "mean_squared_error" for t in targets]
    default = defaults[0] if len(defaults) == 1 else dict(zip(model.output_names, defaults))
    return Plan(model, data.x_train, y, data.x_val, y_val, default,
                sample_weight=data.w_train, sample_weight_val=data.w_val)


# `builder evaluate` scores what fit saw: named targets in the model's output order
evaluation("supervised")(scored_as_trained(supervised))


def by_output(graph, model, targets: dict):
    """{output name: targets} -> the targets in the model's output order (one output: its array)."""
    names = list(model.output_names)
    for name in targets:
        if name not in names:
            raise SpecError.single(graph.locate("train", "data", "targets", name), f"train.data.targets names "
                                   f"{show(name)}, which is no output of model {show(model.name)} (its outputs: "
                                   f"{', '.join(names)})", did_you_mean(name, names))
    missing = [name for name in names if name not in targets]
    if missing:
        raise SpecError.single(graph.locate("train", "data", "targets"), f"model {show(model.name)} has the "
                               f"output {show(missing[0])}, which train.data.targets gives no targets",
                               f"add `{missing[0]}: ...` to train.data.targets")
    ordered = [targets[name] for name in names]
    return ordered[0] if len(ordered) == 1 else ordered


def _reads_no_targets(loss) -> bool:
    """Whether the spec's loss (one, or every one per output) is a builder loss that ignores its targets."""
    from builder.language.spec import loss_name
    from builder.model.losses import LOSSES

    losses = list(loss.values()) if isinstance(loss, dict) else [loss]
    names = [loss_name(one) for one in losses]
    return bool(names) and all(name in LOSSES and not getattr(LOSSES[name], "reads_targets", True) for name in names)


def _zeros(x):
    import numpy as np

    count = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    return np.zeros((count, 1), dtype="float32")
