"""Layers builder adds to Keras, for what `keras.layers` lacks.

Each layer lives in its own module, uses only `keras.ops` and public Keras
APIs (so it runs on every backend), and registers itself at its definition
with `keras.saving.register_keras_serializable(package="builder")`, so that
`keras.models.load_model` reopens a saved model after `import builder`.

To add a layer: write its module here, list it in `__all__`, add an example
to `EXAMPLES` in tests/test_layers.py (the contract test fails until you do),
and run `builder catalogue` so specs may name it (a test fails until you do).
A layer that reads a list of several tensors sets the class attribute
`builder_many_inputs = True`.
"""

from builder.layers.application import Application
from builder.layers.class_token import ClassToken
from builder.layers.patch_embedding import PatchEmbedding
from builder.layers.patch_merging import PatchMerging
from builder.layers.position_embedding import PositionEmbedding
from builder.layers.positional import SinusoidalPositionEncoding
from builder.layers.sampling import VAESampling
from builder.layers.timestep_embedding import TimestepEmbedding
from builder.layers.token_and_position_embedding import TokenAndPositionEmbedding
from builder.layers.transformer_decoder import TransformerDecoderBlock
from builder.layers.transformer_encoder import TransformerEncoderBlock
from builder.layers.window_attention import WindowAttention

__all__ = [
    "Application",
    "ClassToken",
    "PatchEmbedding",
    "PatchMerging",
    "PositionEmbedding",
    "SinusoidalPositionEncoding",
    "TimestepEmbedding",
    "TokenAndPositionEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "VAESampling",
    "WindowAttention",
]
