import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class PatchMerging(keras.layers.Layer):
    """Halves a feature map's height and width by merging each 2x2 group of pixels (Swin's downsampling).

    As in "Swin Transformer" (Liu et al., 2021): the four pixels of each 2x2
    group are concatenated into one vector of `4 x channels`, normalised by a
    LayerNormalization and projected by a Dense without bias to `units`
    (by default `2 x channels`, Swin's doubling of the width per stage).

    Args:
        units: Positive integer, the output channels. Defaults to twice the
            input's channels.
        epsilon: Float > 0, the layer normalisation's epsilon. Defaults to 1e-5.

    Input shape:
        `(batch, height, width, channels)`, height and width even.

    Output shape:
        `(batch, height // 2, width // 2, units)`.

    Example:

    ```yaml
    - {id: merge2, type: PatchMerging}            # 56x56x96 -> 28x28x192
    - {id: merge3, type: PatchMerging, units: 256}
    ```
    """

    def __init__(self, units=None, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.units = _checks.optional_positive_int("units", units)
        self.epsilon = _checks.positive_number("epsilon", epsilon)

    def build(self, input_shape):
        _checks.feature_map(input_shape)
        height, width, channels = input_shape[1:]
        if height % 2 or width % 2:
            raise ValueError(f"expected an even height and width. Received: input_shape={tuple(input_shape)}")
        merged = (input_shape[0], height // 2, width // 2, 4 * channels)
        self.norm = keras.layers.LayerNormalization(epsilon=self.epsilon, dtype=self.dtype_policy, name="norm")
        self.reduction = keras.layers.Dense(self.units or 2 * channels, use_bias=False, dtype=self.dtype_policy,
                                            name="reduction")
        self.norm.build(merged)
        self.reduction.build(merged)

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        # (row pair, column pair) -> channels ordered as Swin's concat of x[0::2, 0::2], x[1::2, 0::2],
        # x[0::2, 1::2], x[1::2, 1::2]: the column offset varies slowest
        x = ops.reshape(inputs, (-1, height // 2, 2, width // 2, 2, channels))
        x = ops.transpose(x, (0, 1, 3, 4, 2, 5))
        x = ops.reshape(x, (-1, height // 2, width // 2, 4 * channels))
        return self.reduction(self.norm(x))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height // 2, None if width is None else width // 2,
                self.units or 2 * channels)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "epsilon": self.epsilon}
