import keras

from builder.model.layers import _transformer


@keras.saving.register_keras_serializable(package="builder")
class TransformerDecoderBlock(_transformer.TransformerBlock):
    """One transformer decoder block: causal self-attention, cross-attention, feed-forward.

    As in "Attention Is All You Need" (Vaswani et al., 2017). Position `t`
    attends only to positions `<= t` (causal), so the block suits
    autoregressive generation. With a `context` input (the encoder's output)
    a cross-attention sub-layer attends from every position to the whole
    context; without one the block is a GPT block (decoder-only). Each
    sub-layer has a residual connection and a layer normalisation (post-norm,
    or pre-norm with `norm_first: true`).

    Padding: Keras masks on the input and on the context (from
    `mask_zero: true` embeddings) are honoured; the input's mask passes on.
    Boolean `(batch, length)` tensors can also be given explicitly as
    `inputs_mask` (or `mask`) and `context_mask`.

    Args:
        num_heads: Positive integer, the number of attention heads.
        intermediate_dim: Positive integer, the hidden size of the
            feed-forward network.
        key_dim: Positive integer, the size of each head's queries and keys.
            Defaults to `embed_dim // num_heads`, as in the paper and KerasHub's
            `TransformerEncoder`, so the attention keeps embed_dim^2-sized
            projections whatever the head count. keras.io's "text classification
            with Transformer" example passes `key_dim=embed_dim` instead: heads x
            larger projections (10,656 against 6,464 parameters per block at
            embed_dim 32, 2 heads, intermediate_dim 32); give `key_dim` to match it.
        dropout: Float in [0, 1), the dropout rate. Defaults to 0.
        activation: The feed-forward network's activation, by name.
            Defaults to `"relu"`.
        norm_first: Boolean; true for pre-norm (as GPT-2). Defaults to false.
        epsilon: Float > 0, the layer normalisations' epsilon. Defaults to 1e-5,
            as in KerasHub's transformer layers and PyTorch; a bare
            `LayerNormalization` defaults to 1e-3.

    Call arguments:
        inputs: The target sequence, `(batch, length, embed_dim)`.
        context: Optional encoder output, `(batch, context_length,
            context_dim)`. A block built with a context must always get one,
            and one built without must never.

    Input shape:
        `inputs`: `(batch, length, embed_dim)`; `context`:
        `(batch, context_length, context_dim)`.

    Output shape:
        `(batch, length, embed_dim)`.

    Example:

    ```yaml
    # encoder-decoder: the context is a keyword input
    - {id: dec1, type: TransformerDecoderBlock, num_heads: 4, intermediate_dim: 512,
       inputs: {inputs: target_embedding, context: encoder_out}}
    # decoder-only (GPT)
    - {type: TransformerDecoderBlock, num_heads: 4, intermediate_dim: 512, norm_first: true}
    ```
    """

    def build(self, inputs_shape, context_shape=None):
        width, key_dim = _transformer.embed_dim(self, inputs_shape, "inputs_shape")
        self.self_attention = _transformer.attention(self, key_dim, "self_attention")
        self.self_attention_norm = _transformer.norm(self, "self_attention_norm")
        self.self_attention_dropout = _transformer.dropout(self, "self_attention_dropout")
        self.self_attention.build(inputs_shape, inputs_shape)
        self.self_attention_norm.build(inputs_shape)
        self.has_context = context_shape is not None
        if self.has_context:
            if len(context_shape) != 3 or context_shape[-1] is None:
                raise ValueError("expected a context of shape (batch, context_length, context_dim) with known "
                                 f"context_dim. Received: context_shape={tuple(context_shape)}")
            self.cross_attention = _transformer.attention(self, key_dim, "cross_attention")
            self.cross_attention_norm = _transformer.norm(self, "cross_attention_norm")
            self.cross_attention_dropout = _transformer.dropout(self, "cross_attention_dropout")
            self.cross_attention.build(inputs_shape, context_shape)
            self.cross_attention_norm.build(inputs_shape)
        _transformer.build_feedforward(self, inputs_shape, width)

    def call(self, inputs, context=None, mask=None, inputs_mask=None, context_mask=None, training=None):
        if (context is not None) != self.has_context:
            raise ValueError(f"{self.name} was built {'with' if self.has_context else 'without'} a context; "
                             f"call it the same way. Received: context={'a tensor' if context is not None else None}")
        padding = inputs_mask if inputs_mask is not None else mask

        def attend(y):
            y = self.self_attention(y, y, value_mask=padding, use_causal_mask=True, training=training)
            return self.self_attention_dropout(y, training=training)

        x = _transformer.residual(self, inputs, self.self_attention_norm, attend)
        if self.has_context:
            def cross(y):
                y = self.cross_attention(y, context, value_mask=context_mask, training=training)
                return self.cross_attention_dropout(y, training=training)

            x = _transformer.residual(self, x, self.cross_attention_norm, cross)
        return _transformer.feedforward(self, x, training)

    def compute_output_shape(self, inputs_shape, context_shape=None):
        return tuple(inputs_shape)
