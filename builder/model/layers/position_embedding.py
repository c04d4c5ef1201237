import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position to a sequence of vectors.

    The learned counterpart of `SinusoidalPositionEncoding`, as in ViT and
    BERT: `inputs + position_embedding(0, 1, ..., length - 1)`. Keras masks
    pass through.

    Args:
        sequence_length: Positive integer, the longest sequence the layer
            accepts (the number of learned positions).
        initializer: Initializer of the embedding. Defaults to
            `"glorot_uniform"`.

    Input shape:
        `(batch, length, channels)`, `length <= sequence_length`.

    Output shape:
        Same as the input.

    Example:

    ```yaml
    - {type: PatchEmbedding, patch_size: 4, embed_dim: 64}   # 32x32 images -> 64 patches
    - {type: ClassToken}                                     # -> 65 tokens
    - {type: PositionEmbedding, sequence_length: 65}
    ```
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = _checks.positive_int("sequence_length", sequence_length)
        self.initializer = _checks.initializer("initializer", initializer)
        self.supports_masking = True

    def build(self, input_shape):
        _checks.sequence_of_vectors(input_shape)
        length = input_shape[1]
        if length is not None and length > self.sequence_length:
            raise ValueError(f"expected sequences of at most sequence_length={self.sequence_length} steps. "
                             f"Received: input_shape={tuple(input_shape)}")
        self.position_embeddings = self.add_weight(
            shape=(self.sequence_length, input_shape[-1]), initializer=self.initializer, name="position_embeddings")

    def call(self, inputs):
        length, channels = ops.shape(inputs)[1], ops.shape(inputs)[2]
        positions = ops.slice(ops.convert_to_tensor(self.position_embeddings), (0, 0), (length, channels))
        return inputs + ops.cast(positions, inputs.dtype)[None, :, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer)}
