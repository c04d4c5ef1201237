"""Pieces shared by `TransformerEncoderBlock` and `TransformerDecoderBlock`."""

import keras

from builder.model.layers import _checks


class TransformerBlock(keras.layers.Layer):
    """The arguments, checks and config both blocks share; each block builds and calls its own sub-layers."""

    def __init__(self, num_heads, intermediate_dim, key_dim=None, dropout=0.0, activation="relu",
                 norm_first=False, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _checks.positive_int("num_heads", num_heads)
        self.intermediate_dim = _checks.positive_int("intermediate_dim", intermediate_dim)
        self.key_dim = _checks.optional_positive_int("key_dim", key_dim)
        self.dropout = _checks.fraction("dropout", dropout)
        self.activation = _checks.activation("activation", activation)
        self.norm_first = _checks.boolean("norm_first", norm_first)
        self.epsilon = _checks.positive_number("epsilon", epsilon)
        self.supports_masking = True

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                "key_dim": self.key_dim, "dropout": self.dropout, "activation": self.activation,
                "norm_first": self.norm_first, "epsilon": self.epsilon}


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
