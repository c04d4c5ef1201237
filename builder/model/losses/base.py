"""The closed table of builder's losses, filled where each is defined, and what they share."""

from __future__ import annotations

from keras import ops

from builder.registry import Registry

LOSSES = Registry("loss")
builder_loss = LOSSES.register   # @builder_loss("contrastive") registers a loss class under the name a spec writes


def positive(name: str, value) -> float:
    """A constructor argument that must be a number > 0, in Keras' style of message."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"expected a number > 0. Received: {name}={value!r}")
    return float(value)


def same_rank(y_true, y_pred):
    """`y_true` as floats of `y_pred`'s rank: labels of shape (batch,) against outputs of shape (batch, 1)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    if len(y_true.shape) == len(y_pred.shape) - 1:
        y_true = ops.expand_dims(y_true, -1)
    return y_true, y_pred
