import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class ClassToken(keras.layers.Layer):
    """Prepends one learned vector, the class token, to a sequence (BERT's [CLS], ViT).

    After the transformer blocks, the class token's output (`index 0` of the
    sequence) summarises the whole sequence for a classifier head. A Keras
    mask, if any, gets a `true` in front.

    Args:
        initializer: Initializer of the token. Defaults to `"zeros"`, as in ViT.

    Input shape:
        `(batch, length, channels)`.

    Output shape:
        `(batch, length + 1, channels)`.

    Example:

    ```yaml
    - {type: PatchEmbedding, patch_size: 4, embed_dim: 64}   # 32x32 images -> 64 patches
    - {type: ClassToken}                                     # -> 65 tokens
    - {type: PositionEmbedding, sequence_length: 65}
    - {type: TransformerEncoderBlock, num_heads: 4, intermediate_dim: 128, norm_first: true}
    - {id: cls, type: Cropping1D, cropping: [0, 64]}         # keep the class token's output only
    - {type: Flatten}
    ```
    """

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = _checks.initializer("initializer", initializer)
        self.supports_masking = True

    def build(self, input_shape):
        _checks.sequence_of_vectors(input_shape)
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer=self.initializer, name="token")

    def call(self, inputs):
        # zeros_like(first step) + token broadcasts over a batch of any size, on every backend
        token = ops.zeros_like(inputs[:, :1, :]) + ops.cast(self.token, inputs.dtype)
        return ops.concatenate([token, inputs], axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "initializer": keras.initializers.serialize(self.initializer)}
