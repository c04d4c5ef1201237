"""Pieces shared by `TransformerEncoderBlock` and `TransformerDecoderBlock`."""

import keras

from builder.model.layers import _checks


def check_args(layer, num_heads, intermediate_dim, key_dim, dropout, activation, norm_first, epsilon):
    layer.num_heads = _checks.positive_int("num_heads", num_heads)
    layer.intermediate_dim = _checks.positive_int("intermediate_dim", intermediate_dim)
    layer.key_dim = _checks.optional_positive_int("key_dim", key_dim)
    layer.dropout = _checks.fraction("dropout", dropout)
    layer.activation = _checks.activation("activation", activation)
    layer.norm_first = _checks.boolean("norm_first", norm_first)
    layer.epsilon = _checks.positive_number("epsilon", epsilon)


def config(layer):
    return {"num_heads": layer.num_heads, "intermediate_dim": layer.intermediate_dim, "key_dim": layer.key_dim,
            "dropout": layer.dropout, "activation": layer.activation, "norm_first": layer.norm_first,
            "epsilon": layer.epsilon}


def embed_dim(layer, shape, name="input_shape"):
    """The model width from a `(batch, length, embed_dim)` shape, and the per-head key size."""
    if len(shape) != 3 or shape[-1] is None:
        raise ValueError(f"{type(layer).__name__} expects a sequence of vectors, (batch, length, embed_dim) with "
                         f"known embed_dim. Received: {name}={tuple(shape)}")
    width = shape[-1]
    if layer.key_dim is not None:
        return width, layer.key_dim
    if width % layer.num_heads:
        raise ValueError(f"expected embed_dim (the input's last axis) to be divisible by num_heads, or an explicit "
                         f"key_dim. Received: {name}={tuple(shape)}, num_heads={layer.num_heads}")
    return width, width // layer.num_heads


def attention(layer, key_dim, name):
    return keras.layers.MultiHeadAttention(layer.num_heads, key_dim, dropout=layer.dropout,
                                           dtype=layer.dtype_policy, name=name)


def norm(layer, name):
    return keras.layers.LayerNormalization(epsilon=layer.epsilon, dtype=layer.dtype_policy, name=name)


def dropout(layer, name):
    return keras.layers.Dropout(layer.dropout, dtype=layer.dtype_policy, name=name)


def build_feedforward(layer, shape, width):
    layer.feedforward_inner = keras.layers.Dense(layer.intermediate_dim, activation=layer.activation,
                                                 dtype=layer.dtype_policy, name="feedforward_inner")
    layer.feedforward_outer = keras.layers.Dense(width, dtype=layer.dtype_policy, name="feedforward_outer")
    layer.feedforward_norm = norm(layer, "feedforward_norm")
    layer.feedforward_dropout = dropout(layer, "feedforward_dropout")
    layer.feedforward_inner.build(shape)
    layer.feedforward_outer.build((*shape[:-1], layer.intermediate_dim))
    layer.feedforward_norm.build(shape)


def residual(layer, x, norm_layer, sublayer):
    """`x + f(norm(x))` (pre-norm) or `norm(x + f(x))` (post-norm)."""
    if layer.norm_first:
        return x + sublayer(norm_layer(x))
    return norm_layer(x + sublayer(x))


def feedforward(layer, x, training):
    def f(y):
        return layer.feedforward_dropout(layer.feedforward_outer(layer.feedforward_inner(y)), training=training)
    return residual(layer, x, layer.feedforward_norm, f)
