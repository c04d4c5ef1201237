import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="builder")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Adds the fixed sine/cosine position encoding of "Attention Is All You Need".

    Has no weights. Even channels get `sin(pos / 10000^(2i/d))`, odd channels
    the cosine.

    Args:
        max_wavelength: Positive float, the longest wavelength. Defaults to 10000.

    Input shape:
        `(batch, sequence_length, channels)`, `channels` even.

    Output shape:
        Same as the input. A Keras mask passes through.

    Example:

    ```yaml
    - {type: SinusoidalPositionEncoding}
    ```
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        if max_wavelength <= 0:
            raise ValueError(f"expected a positive number. Received: max_wavelength={max_wavelength}")
        self.max_wavelength = float(max_wavelength)
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % 2:
            raise ValueError(f"expected an even number of channels. Received: input_shape={tuple(input_shape)}")

    def call(self, inputs):
        length, channels = ops.shape(inputs)[1], ops.shape(inputs)[2]
        positions = ops.cast(ops.arange(length), "float32")[:, None]
        rates = ops.exp(ops.cast(ops.arange(0, channels, 2), "float32") * (-math.log(self.max_wavelength) / channels))
        angles = positions * rates[None, :]
        encoding = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (length, channels))
        return inputs + ops.cast(encoding, inputs.dtype)[None, :, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}
