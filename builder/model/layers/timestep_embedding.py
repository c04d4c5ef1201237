import math

import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class TimestepEmbedding(keras.layers.Layer):
    """Embeds a diffusion timestep (or any scalar) as sines and cosines of several frequencies.

    The timestep embedding of DDPM (Ho et al., 2020), after the position
    encoding of "Attention Is All You Need": for `t` and `half = dim / 2`,
    `[sin(t * f_0), ..., sin(t * f_{half-1}), cos(t * f_0), ..., cos(t * f_{half-1})]`
    with `f_i = max_period^(-i / half)`. Has no weights: follow it with Dense
    layers to learn from it.

    Args:
        dim: Positive even integer, the size of the embedding.
        max_period: Positive float, the longest period. Defaults to 10000.

    Input shape:
        `(batch,)` or `(batch, 1)` timesteps, integers or floats.

    Output shape:
        `(batch, dim)`.

    Example:

    ```yaml
    inputs: {timestep: {shape: [1], dtype: int32}}
    layers:
      - {type: TimestepEmbedding, dim: 64, inputs: timestep}
      - {type: Dense, units: 128, activation: swish}
    ```
    """

    def __init__(self, dim, max_period=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = _checks.positive_int("dim", dim)
        if dim % 2:
            raise ValueError(f"expected an even number. Received: dim={dim!r}")
        self.max_period = _checks.positive_number("max_period", max_period)

    def build(self, input_shape):
        if len(input_shape) > 2 or (len(input_shape) == 2 and input_shape[-1] not in (1, None)):
            raise ValueError(f"expected one timestep per sample, (batch,) or (batch, 1). "
                             f"Received: input_shape={tuple(input_shape)}")

    def call(self, inputs):
        t = ops.reshape(ops.cast(inputs, "float32"), (-1, 1))
        half = self.dim // 2
        frequencies = ops.exp(ops.arange(half, dtype="float32") * (-math.log(self.max_period) / half))
        angles = t * frequencies[None, :]
        return ops.cast(ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}
