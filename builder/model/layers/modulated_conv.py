import math

import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class ModulatedConv2D(keras.layers.Layer):
    """A 2-D convolution whose kernel is modulated per sample by a style (StyleGAN2).

    Weight modulation and demodulation of Karras et al., "Analyzing and
    Improving the Image Quality of StyleGAN" (CVPR 2020): a learned affine map
    turns the style vector `w` into one scale `s_i` per input channel (its bias
    starts at 1), the kernel's input channel `i` is multiplied by `s_i`, and,
    with `demodulate`, each output channel is divided by the norm of its
    modulated kernel, so the output has unit variance whatever the style. This
    replaces AdaIN (StyleGAN 1) without its blob artefacts. It is computed as
    the paper's equivalent "scale the activations, convolve, scale the output"
    form: one shared convolution, so it runs on every backend at the cost of a
    plain Conv2D. Weights are stored at unit variance and scaled at run time
    by `1 / sqrt(fan_in)` (the paper's equalised learning rate).

    The style is one vector per sample, or, with `style_index`, row
    `style_index` of a per-layer style input `(batch, layers, w_dim)`: a
    synthesis network then takes one style per layer (w repeated, or two
    w's mixed at a crossover layer; see specs/stylegan.yaml).

    Args:
        filters: Positive integer, the number of output channels.
        kernel_size: Positive integer or a list of two, the kernel's height and
            width. Defaults to 3. Padding is `same`, stride 1.
        style_index: Non-negative integer, the row of a `(batch, layers,
            w_dim)` style input this layer reads. Defaults to `None`: the
            style is `(batch, w_dim)`.
        demodulate: Boolean, whether to normalise each output channel by its
            modulated kernel's norm. Defaults to `True`; `False` for the
            toRGB (toGray) layer of a synthesis network.
        use_bias: Boolean, whether to add a learned bias per output channel.
            Defaults to `True`.
        epsilon: Float > 0 added under the square root of the
            demodulation. Defaults to 1e-8.

    Call arguments:
        inputs: The feature map, `(batch, height, width, channels)`.
        style: `(batch, w_dim)`, or `(batch, layers, w_dim)` with
            `style_index`.

    Input shape:
        `inputs`: `(batch, height, width, channels)` with known channels;
        `style`: `(batch, w_dim)`, or `(batch, layers, w_dim)`.

    Output shape:
        `(batch, height, width, filters)`.

    Example:

    ```yaml
    # styles: (batch, 4, 64), one w per layer; this conv reads the second
    - {id: conv1, type: ModulatedConv2D, filters: 64, kernel_size: 3, style_index: 1,
       inputs: {inputs: upsampled, style: styles}}
    - {id: to_gray, type: ModulatedConv2D, filters: 1, kernel_size: 1, style_index: 3, demodulate: false,
       inputs: {inputs: conv1, style: styles}}
    ```
    """

    def __init__(self, filters, kernel_size=3, style_index=None, demodulate=True, use_bias=True, epsilon=1e-8,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = _checks.positive_int("filters", filters)
        self.kernel_size = _checks.int_pair("kernel_size", kernel_size)
        if style_index is not None and (isinstance(style_index, bool) or not isinstance(style_index, int)
                                        or style_index < 0):
            raise ValueError(f"expected a non-negative integer or None. Received: style_index={style_index!r}")
        self.style_index = style_index
        self.demodulate = _checks.boolean("demodulate", demodulate)
        self.use_bias = _checks.boolean("use_bias", use_bias)
        self.epsilon = _checks.positive_number("epsilon", epsilon)

    def build(self, inputs_shape, style_shape):
        if len(inputs_shape) != 4 or inputs_shape[-1] is None:
            raise ValueError("expected a feature map, (batch, height, width, channels) with known channels. "
                             f"Received: inputs_shape={tuple(inputs_shape)}")
        wanted = 2 if self.style_index is None else 3
        if len(style_shape) != wanted or style_shape[-1] is None:
            form = "(batch, w_dim)" if wanted == 2 else f"(batch, layers, w_dim) (style_index={self.style_index})"
            raise ValueError(f"expected a style of shape {form} with known w_dim. "
                             f"Received: style_shape={tuple(style_shape)}")
        if wanted == 3 and style_shape[1] is not None and self.style_index >= style_shape[1]:
            raise ValueError(f"expected style_index below the style input's {style_shape[1]} layers. "
                             f"Received: style_index={self.style_index}")
        channels, w_dim = int(inputs_shape[-1]), int(style_shape[-1])
        unit = keras.initializers.RandomNormal(stddev=1.0, seed=None)
        self.kernel = self.add_weight(shape=(*self.kernel_size, channels, self.filters), initializer=unit,
                                      name="kernel")
        self.style_kernel = self.add_weight(shape=(w_dim, channels), initializer=unit, name="style_kernel")
        self.style_bias = self.add_weight(shape=(channels,), initializer="ones", name="style_bias")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None
        self.kernel_gain = 1.0 / math.sqrt(self.kernel_size[0] * self.kernel_size[1] * channels)
        self.style_gain = 1.0 / math.sqrt(w_dim)

    def call(self, inputs, style):
        w = style if self.style_index is None else style[:, self.style_index]
        s = ops.matmul(w, self.style_kernel * self.style_gain) + self.style_bias           # (batch, channels)
        kernel = self.kernel * self.kernel_gain
        # conv(x * s, k) == conv(x, k * s): modulating the input is modulating the kernel, per sample
        y = ops.conv(inputs * s[:, None, None, :], kernel, strides=1, padding="same")
        if self.demodulate:
            # ||k * s|| per (sample, output channel) = sqrt(s^2 . sum over the window of k^2)
            energy = ops.matmul(ops.square(s), ops.sum(ops.square(kernel), axis=(0, 1)))  # (batch, filters)
            y = y * ops.rsqrt(energy + self.epsilon)[:, None, None, :]
        if self.use_bias:
            y = y + self.bias
        return y

    def compute_output_shape(self, inputs_shape, style_shape=None):
        return (*tuple(inputs_shape)[:3], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "style_index": self.style_index, "demodulate": self.demodulate, "use_bias": self.use_bias,
                "epsilon": self.epsilon}
