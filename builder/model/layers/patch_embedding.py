import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class PatchEmbedding(keras.layers.Layer):
    """Cuts images into non-overlapping patches and projects each to a vector (ViT).

    A `Conv2D` whose kernel and stride are the patch size, reshaped from a
    grid of patches to a sequence: a 32x32 image with `patch_size: 4` becomes
    64 vectors. Image sides that are not a multiple of the patch size drop
    their last pixels (`"valid"` padding).

    Args:
        patch_size: Positive integer or a list of two, `[height, width]`.
        embed_dim: Positive integer, the size of each patch's vector.
        kernel_initializer: Initializer of the projection. Defaults to
            `"glorot_uniform"`.

    Input shape:
        `(batch, height, width, channels)` (channels last).

    Output shape:
        `(batch, (height // patch_height) * (width // patch_width), embed_dim)`.

    Example:

    ```yaml
    inputs: {image: {shape: [32, 32, 3]}}
    layers:
      - {type: PatchEmbedding, patch_size: 4, embed_dim: 64}
    ```
    """

    def __init__(self, patch_size, embed_dim, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _checks.int_pair("patch_size", patch_size)
        self.embed_dim = _checks.positive_int("embed_dim", embed_dim)
        self.kernel_initializer = _checks.initializer("kernel_initializer", kernel_initializer)
        self.projection = keras.layers.Conv2D(
            embed_dim, self.patch_size, strides=self.patch_size, padding="valid",
            kernel_initializer=self.kernel_initializer, data_format="channels_last",
            dtype=self.dtype_policy, name="projection")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError("expected images, (batch, height, width, channels) with known channels. "
                             f"Received: input_shape={tuple(input_shape)}")
        for side, size, name in zip(input_shape[1:3], self.patch_size, ("height", "width")):
            if side is not None and side < size:
                raise ValueError(f"expected an image {name} of at least the patch size {size}. "
                                 f"Received: input_shape={tuple(input_shape)}")
        self.projection.build(input_shape)

    def call(self, inputs):
        grid = self.projection(inputs)
        shape = ops.shape(grid)
        return ops.reshape(grid, (-1, shape[1] * shape[2], self.embed_dim))

    def compute_output_shape(self, input_shape):
        rows, cols = (None if side is None else side // size
                      for side, size in zip(input_shape[1:3], self.patch_size))
        count = None if rows is None or cols is None else rows * cols
        return (input_shape[0], count, self.embed_dim)

    def get_config(self):
        return {**super().get_config(), "patch_size": list(self.patch_size), "embed_dim": self.embed_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
