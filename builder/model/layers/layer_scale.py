import keras

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class LayerScale(keras.layers.Layer):
    """Multiplies each channel by a learned factor, started small (CaiT, ConvNeXt).

    Placed on a residual branch before the add, `x + LayerScale(f(x))` starts
    each block close to the identity, which lets deep networks train: the
    factors grow as the block becomes useful. It holds one weight, `gamma`, of
    shape `(channels,)`, as `keras.applications`' ConvNeXt does, so their
    weights copy in one to one. Keras masks pass through.

    Args:
        init_values: Number, the value every factor starts at. Defaults to
            `1e-6`, ConvNeXt's (CaiT uses 1e-5 to 0.1 by depth).
        projection_dim: Positive integer, the number of channels; it must
            equal the input's last axis. Defaults to `None`: taken from the
            input.

    Input shape:
        Any shape `(batch, ..., channels)` with known channels.

    Output shape:
        Same as the input.

    Example:

    ```yaml
    # a ConvNeXt block's residual branch, 96 channels wide
    - {id: pointwise_conv_2, type: Dense, units: 96}
    - {id: layer_scale, type: LayerScale, init_values: 1.0e-6, projection_dim: 96}
    - {id: add, type: Add, inputs: [$in, layer_scale]}
    ```
    """

    def __init__(self, init_values=1e-6, projection_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.init_values = _checks.finite_number("init_values", init_values)
        self.projection_dim = _checks.optional_positive_int("projection_dim", projection_dim)
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or (self.projection_dim is not None and channels != self.projection_dim):
            wanted = "known channels" if self.projection_dim is None else f"projection_dim={self.projection_dim} channels"
            raise ValueError(f"expected inputs with {wanted} on the last axis. Received: input_shape={tuple(input_shape)}")
        self.gamma = self.add_weight(shape=(channels,), initializer=keras.initializers.Constant(self.init_values),
                                     name="gamma")

    def call(self, inputs):
        return inputs * self.gamma

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}
