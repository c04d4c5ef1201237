import keras
from keras import ops


@keras.saving.register_keras_serializable(package="builder")
class NoiseInjection(keras.layers.Layer):
    """Adds per-pixel Gaussian noise, scaled by a learned factor per channel (StyleGAN's noise inputs).

    Karras et al., "A Style-Based Generator Architecture for Generative
    Adversarial Networks" (CVPR 2019): after each convolution of the synthesis
    network, one map of N(0, 1) noise per sample (the same for every channel)
    is added, times a learned `strength` per channel. The styles set what is
    drawn; the noise sets its stochastic detail (the exact placement of
    strokes). The strengths start at 0, as in StyleGAN2, so the network
    learns how much noise each layer uses. The noise is drawn at every call,
    in training and in inference alike: two samples from the same z differ
    only in their detail.

    Args:
        seed: Optional integer seed for the noise.

    Input shape:
        `(batch, height, width, channels)` with known channels.

    Output shape:
        Same as the input.

    Example:

    ```yaml
    - {id: conv1, type: ModulatedConv2D, filters: 64, style_index: 1, inputs: {inputs: up, style: styles}}
    - {id: noise1, type: NoiseInjection}
    - {id: act1, type: LeakyReLU, negative_slope: 0.2}
    ```
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"expected a non-negative integer or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError("expected a feature map, (batch, height, width, channels) with known channels. "
                             f"Received: input_shape={tuple(input_shape)}")
        self.strength = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="strength")

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        noise = keras.random.normal((shape[0], shape[1], shape[2], 1), dtype=inputs.dtype, seed=self.seed_generator)
        return inputs + noise * ops.cast(self.strength, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
