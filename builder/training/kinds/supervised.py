"""Supervised learning: Keras' own `fit` step on (inputs, labels). (Autoencoders: `autoencoder.py`.)"""

from __future__ import annotations

from builder.training.kinds.base import KindMismatch, Plan, training_kind


@training_kind("supervised")
def supervised(graph, models, data) -> Plan:
    """The main model maps inputs to labels; classes (integer labels) default to a cross-entropy."""
    if data.y_train is None:
        raise KindMismatch("supervised training needs labels; this data has none")
    classes = data.y_train.dtype.kind in "iu"
    return Plan(models[graph.main], data.x_train, data.y_train, data.x_val, data.y_val,
                "sparse_categorical_crossentropy" if classes else "mean_squared_error")
