import keras
import numpy as np
from keras import ops

from builder.model.layers import _checks

MASKED = -100.0   # added to the logits of pairs a shifted window must not attend to (as in Swin)


@keras.saving.register_keras_serializable(package="builder")
class WindowAttention(keras.layers.Layer):
    """Multi-head self-attention inside non-overlapping windows of a feature map, optionally shifted (Swin).

    As in "Swin Transformer: Hierarchical Vision Transformer using Shifted
    Windows" (Liu et al., 2021): the map is cut into `window_size x
    window_size` windows and each pixel attends only to the pixels of its
    window, so the cost grows linearly with the image, not quadratically.
    Each head adds a learned relative position bias, one per offset between
    two pixels of a window. With `shift_size > 0` the windows are displaced
    by `shift_size` pixels (a cyclic roll of the map, undone afterwards), so
    that alternating plain and shifted layers let information cross window
    borders; pixels that the roll brings together from opposite edges of the
    map are masked from each other.

    Swin's rule for small maps applies: when the map's smaller side is at
    most `window_size`, the window is the whole map's smaller side and there
    is no shift.

    The layer is the attention only (queries, keys and values from one Dense,
    attention, an output Dense); a Swin block wraps it in LayerNormalization
    and a residual `Add`, followed by an MLP (see specs/swin.yaml).

    Args:
        num_heads: Positive integer, the number of attention heads; the input's
            channels must be divisible by it.
        window_size: Positive integer, the side of each window, in pixels.
        shift_size: Integer in `[0, window_size)`, how far the windows are
            shifted (Swin alternates 0 and `window_size // 2`). Defaults to 0.
        dropout: Float in [0, 1), the dropout rate of the attention weights.
            Defaults to 0.
        use_bias: Boolean, whether the query/key/value and output projections
            have biases. Defaults to true.

    Input shape:
        `(batch, height, width, channels)`, height and width known and
        multiples of the window (after the small-map rule).

    Output shape:
        Same as the input.

    Example:

    ```yaml
    - {id: norm1, type: LayerNormalization, epsilon: 1.0e-5}
    - {id: attention, type: WindowAttention, num_heads: 3, window_size: 7, shift_size: 3}   # SW-MSA
    - {id: residual1, type: Add, inputs: [$in, attention]}
    ```
    """

    def __init__(self, num_heads, window_size, shift_size=0, dropout=0.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _checks.positive_int("num_heads", num_heads)
        self.window_size = _checks.positive_int("window_size", window_size)
        if isinstance(shift_size, bool) or not isinstance(shift_size, int) or not 0 <= shift_size < window_size:
            raise ValueError(f"expected an integer in [0, window_size={window_size}). "
                             f"Received: shift_size={shift_size!r}")
        self.shift_size = shift_size
        self.dropout = _checks.fraction("dropout", dropout)
        self.use_bias = _checks.boolean("use_bias", use_bias)

    def build(self, input_shape):
        _checks.feature_map(input_shape)
        height, width, channels = input_shape[1:]
        if channels % self.num_heads:
            raise ValueError(f"expected channels divisible by num_heads={self.num_heads}. "
                             f"Received: input_shape={tuple(input_shape)}")
        # Swin's rule: a map no larger than the window is one window, unshifted
        self.window, self.shift = self.window_size, self.shift_size
        if min(height, width) <= self.window_size:
            self.window, self.shift = min(height, width), 0
        if height % self.window or width % self.window:
            raise ValueError(f"expected height and width to be multiples of window_size={self.window_size}. "
                             f"Received: input_shape={tuple(input_shape)}")
        self.head_dim = channels // self.num_heads
        self.qkv = keras.layers.Dense(3 * channels, use_bias=self.use_bias, dtype=self.dtype_policy, name="qkv")
        self.projection = keras.layers.Dense(channels, use_bias=self.use_bias, dtype=self.dtype_policy,
                                             name="projection")
        self.attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy,
                                                      name="attention_dropout")
        tokens = self.window * self.window
        self.qkv.build((None, tokens, channels))
        self.projection.build((None, tokens, channels))
        self.relative_position_bias = self.add_weight(
            shape=((2 * self.window - 1) ** 2, self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02), name="relative_position_bias")
        self.relative_index = relative_position_index(self.window)
        self.shift_mask = shifted_window_mask(height, width, self.window, self.shift) if self.shift else None

    def call(self, inputs, training=None):
        _, height, width, channels = inputs.shape
        window, tokens = self.window, self.window * self.window
        x = inputs
        if self.shift:
            x = ops.roll(x, shift=(-self.shift, -self.shift), axis=(1, 2))
        x = partition_windows(x, window)                                     # (batch * windows, tokens, channels)
        qkv = ops.reshape(self.qkv(x), (-1, tokens, 3, self.num_heads, self.head_dim))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))                            # (3, batch * windows, heads, tokens, d)
        query, key, value = qkv[0], qkv[1], qkv[2]
        logits = ops.matmul(query * ops.cast(self.head_dim ** -0.5, query.dtype), ops.swapaxes(key, -1, -2))
        bias = ops.take(ops.convert_to_tensor(self.relative_position_bias), self.relative_index, axis=0)
        logits = logits + ops.cast(ops.transpose(ops.reshape(bias, (tokens, tokens, self.num_heads)), (2, 0, 1)),
                                   logits.dtype)[None]
        if self.shift_mask is not None:
            count = self.shift_mask.shape[0]
            logits = ops.reshape(logits, (-1, count, self.num_heads, tokens, tokens))
            logits = logits + ops.cast(self.shift_mask, logits.dtype)[None, :, None]
            logits = ops.reshape(logits, (-1, self.num_heads, tokens, tokens))
        # a one-pixel window (a 1x1 map) attends to itself alone: weight 1, without a softmax over one logit
        weights = ops.softmax(logits, axis=-1) if tokens > 1 else ops.ones_like(logits)
        weights = self.attention_dropout(weights, training=training)
        x = ops.reshape(ops.transpose(ops.matmul(weights, value), (0, 2, 1, 3)), (-1, tokens, channels))
        x = merge_windows(self.projection(x), window, height, width)
        if self.shift:
            x = ops.roll(x, shift=(self.shift, self.shift), axis=(1, 2))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "window_size": self.window_size,
                "shift_size": self.shift_size, "dropout": self.dropout, "use_bias": self.use_bias}


def partition_windows(x, window):
    """(batch, height, width, channels) -> (batch * windows, window * window, channels), windows row by row."""
    _, height, width, channels = x.shape
    x = ops.reshape(x, (-1, height // window, window, width // window, window, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, window * window, channels))


def merge_windows(x, window, height, width):
    """The inverse of `partition_windows`."""
    channels = x.shape[-1]
    x = ops.reshape(x, (-1, height // window, width // window, window, window, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, height, width, channels))


def relative_position_index(window):
    """For each pair of a window's pixels (row-major), the row of the bias table holding their offset."""
    rows, cols = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()])                        # (2, tokens)
    offset = coords[:, :, None] - coords[:, None, :] + (window - 1)        # (2, tokens, tokens), each in [0, 2w-2]
    return (offset[0] * (2 * window - 1) + offset[1]).ravel().astype("int32")


def shifted_window_mask(height, width, window, shift):
    """(windows, tokens, tokens): 0 where two pixels of a rolled window were neighbours, MASKED where the roll
    brought them together from opposite edges of the map."""
    regions = np.zeros((height, width), "int32")
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, (rows, cols) in enumerate((r, c) for r in bands for c in bands):
        regions[rows, cols] = i
    labels = regions.reshape(height // window, window, width // window, window).transpose(0, 2, 1, 3)
    labels = labels.reshape(-1, window * window)
    return np.where(labels[:, :, None] == labels[:, None, :], 0.0, MASKED).astype("float32")
