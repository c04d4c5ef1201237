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

from builder.model.layers.application import Application
from builder.model.layers.class_token import ClassToken
from builder.model.layers.layer_scale import LayerScale
from builder.model.layers.learned_constant import LearnedConstant
from builder.model.layers.modulated_conv import ModulatedConv2D
from builder.model.layers.noise_injection import NoiseInjection
from builder.model.layers.patch_embedding import PatchEmbedding
from builder.model.layers.patch_merging import PatchMerging
from builder.model.layers.position_embedding import PositionEmbedding
from builder.model.layers.positional import SinusoidalPositionEncoding
from builder.model.layers.sampling import VAESampling
from builder.model.layers.timestep_embedding import TimestepEmbedding
from builder.model.layers.token_and_position_embedding import TokenAndPositionEmbedding
from builder.model.layers.transformer_decoder import TransformerDecoderBlock
from builder.model.layers.transformer_encoder import TransformerEncoderBlock
from builder.model.layers.window_attention import WindowAttention

__all__ = [
    "Application",
    "ClassToken",
    "LayerScale",
    "LearnedConstant",
    "ModulatedConv2D",
    "NoiseInjection",
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
