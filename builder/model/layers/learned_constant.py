import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class LearnedConstant(keras.layers.Layer):
    """A learned constant feature map, one copy per sample: the start of StyleGAN's synthesis network.

    StyleGAN's synthesis network does not start from the latent code but from
    a learned `(size, size, channels)` tensor; the styles alone make the
    samples differ. The layer reads its input only for the batch size, so any
    input of the network will do (the per-layer styles, usually).

    Args:
        channels: Positive integer, the number of channels.
        size: Positive integer or a list of two, the height and width.
            Defaults to 4, StyleGAN's.
        initializer: Initializer of the constant. Defaults to
            `{"class_name": "RandomNormal", "config": {"stddev": 1.0}}` (as StyleGAN2's `torch.randn`).

    Input shape:
        Any tensor `(batch, ...)`; only its batch size is used.

    Output shape:
        `(batch, size, size, channels)`.

    Example:

    ```yaml
    inputs: {styles: {shape: [4, 64]}}
    layers:
      - {id: constant, type: LearnedConstant, channels: 64, size: 4, inputs: styles}
    ```
    """

    def __init__(self, channels, size=4, initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = _checks.positive_int("channels", channels)
        self.size = _checks.int_pair("size", size)
        self.initializer = (keras.initializers.RandomNormal(stddev=1.0) if initializer is None
                            else _checks.initializer("initializer", initializer))

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"expected an input with a batch axis. Received: input_shape={tuple(input_shape)}")
        self.constant = self.add_weight(shape=(*self.size, self.channels), initializer=self.initializer,
                                        name="constant")

    def call(self, inputs):
        anchor = inputs
        while len(anchor.shape) > 1:   # down to (batch,): its batch size, whatever the input's rank
            anchor = anchor[:, 0]
        # zeros of the batch's size + the constant broadcasts over a batch of any size, on every backend
        zeros = ops.zeros_like(anchor, dtype=self.compute_dtype)[:, None, None, None]
        return zeros + ops.cast(self.constant, self.compute_dtype)[None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": list(self.size),
                "initializer": keras.initializers.serialize(self.initializer)}
