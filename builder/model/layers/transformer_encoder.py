import keras

from builder.model.layers import _transformer


@keras.saving.register_keras_serializable(package="builder")
class TransformerEncoderBlock(_transformer.TransformerBlock):
    """One transformer encoder block: self-attention then a feed-forward network.

    As in "Attention Is All You Need" (Vaswani et al., 2017) and BERT: each of
    the two sub-layers is wrapped in a residual connection and a layer
    normalisation, after the sum (`norm_first: false`, the original
    post-norm) or before the sub-layer (`norm_first: true`, pre-norm, which
    trains deep stacks more stably). The width `embed_dim` is the input's
    last axis and is kept.

    Padding: if the input carries a Keras mask (from
    `TokenAndPositionEmbedding` or `Embedding` with `mask_zero: true`), masked
    positions are not attended to, and the mask passes on to the next layer.
    A boolean `(batch, length)` tensor can also be given as the `mask` input.

    Args:
        num_heads: Positive integer, the number of attention heads.
        intermediate_dim: Positive integer, the hidden size of the
            feed-forward network (typically 4 x embed_dim).
        key_dim: Positive integer, the size of each head's queries and keys.
            Defaults to `embed_dim // num_heads`, as in the paper and KerasHub's
            `TransformerEncoder`, so the attention keeps embed_dim^2-sized
            projections whatever the head count. keras.io's "text classification
            with Transformer" example passes `key_dim=embed_dim` instead: heads x
            larger projections (10,656 against 6,464 parameters per block at
            embed_dim 32, 2 heads, intermediate_dim 32); give `key_dim` to match it.
        dropout: Float in [0, 1), the dropout rate of the attention weights
            and of both sub-layers' outputs. Defaults to 0.
        activation: The feed-forward network's activation, by name.
            Defaults to `"relu"` (BERT uses `"gelu"`).
        norm_first: Boolean; true for pre-norm. Defaults to false.
        epsilon: Float > 0, the layer normalisations' epsilon. Defaults to 1e-5,
            as in KerasHub's transformer layers and PyTorch; a bare
            `LayerNormalization` defaults to 1e-3.

    Input shape:
        `(batch, length, embed_dim)`.

    Output shape:
        Same as the input.

    Example:

    ```yaml
    - {type: TokenAndPositionEmbedding, vocabulary_size: 20000, sequence_length: 128, embed_dim: 256,
       mask_zero: true}
    - {type: TransformerEncoderBlock, num_heads: 4, intermediate_dim: 1024, dropout: 0.1}
    # or explicit padding: {type: TransformerEncoderBlock, ..., inputs: {inputs: -1, mask: padding}}
    ```
    """

    def build(self, input_shape):
        width, key_dim = _transformer.embed_dim(self, input_shape)
        self.self_attention = _transformer.attention(self, key_dim, "self_attention")
        self.self_attention_norm = _transformer.norm(self, "self_attention_norm")
        self.self_attention_dropout = _transformer.dropout(self, "self_attention_dropout")
        self.self_attention.build(input_shape, input_shape)
        self.self_attention_norm.build(input_shape)
        _transformer.build_feedforward(self, input_shape, width)

    def call(self, inputs, mask=None, training=None):
        def attend(y):
            y = self.self_attention(y, y, value_mask=mask, training=training)
            return self.self_attention_dropout(y, training=training)

        x = _transformer.residual(self, inputs, self.self_attention_norm, attend)
        return _transformer.feedforward(self, x, training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
