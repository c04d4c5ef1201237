import keras
from keras import ops

from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Embeds token ids and adds a learned embedding of each token's position.

    The input layer of BERT- and GPT-style models: `token_embedding(ids) +
    position_embedding(0, 1, ..., length - 1)`. Sequences may be shorter than
    `sequence_length` (only the first positions are used), never longer.

    Args:
        vocabulary_size: Positive integer, the number of token ids (ids are in
            `[0, vocabulary_size)`).
        sequence_length: Positive integer, the longest sequence the layer
            accepts (the number of learned positions).
        embed_dim: Positive integer, the size of each embedding.
        mask_zero: Boolean. If true, id 0 is padding: the layer emits a Keras
            mask that later layers (`TransformerEncoderBlock`,
            `GlobalAveragePooling1D`, RNNs) use to ignore those positions.
            Defaults to false.
        embeddings_initializer: Initializer of both embeddings. Defaults to
            `"uniform"`, as `keras.layers.Embedding`.

    Input shape:
        `(batch, length)` integer token ids, `length <= sequence_length`.

    Output shape:
        `(batch, length, embed_dim)`.

    Example:

    ```yaml
    inputs: {tokens: {shape: [64], dtype: int32}}
    layers:
      - {type: TokenAndPositionEmbedding, vocabulary_size: 20000, sequence_length: 64,
         embed_dim: 128, mask_zero: true}
    ```
    """

    def __init__(self, vocabulary_size, sequence_length, embed_dim, mask_zero=False,
                 embeddings_initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = _checks.positive_int("vocabulary_size", vocabulary_size)
        self.sequence_length = _checks.positive_int("sequence_length", sequence_length)
        self.embed_dim = _checks.positive_int("embed_dim", embed_dim)
        self.mask_zero = _checks.boolean("mask_zero", mask_zero)
        self.embeddings_initializer = _checks.initializer("embeddings_initializer", embeddings_initializer)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embed_dim, embeddings_initializer=self.embeddings_initializer,
            mask_zero=mask_zero, dtype=self.dtype_policy, name="token_embedding")
        self.supports_masking = mask_zero

    def build(self, input_shape):
        length = input_shape[-1]
        if length is not None and length > self.sequence_length:
            raise ValueError(f"expected sequences of at most sequence_length={self.sequence_length} tokens. "
                             f"Received: input_shape={tuple(input_shape)}")
        self.token_embedding.build(input_shape)
        self.position_embeddings = self.add_weight(
            shape=(self.sequence_length, self.embed_dim), initializer=self.embeddings_initializer,
            name="position_embeddings")

    def call(self, inputs):
        length = ops.shape(inputs)[-1]
        positions = ops.slice(ops.convert_to_tensor(self.position_embeddings), (0, 0), (length, self.embed_dim))
        tokens = self.token_embedding(inputs)
        return tokens + ops.cast(positions, tokens.dtype)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embed_dim)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "embed_dim": self.embed_dim, "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer)}
