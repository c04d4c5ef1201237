"""Layers builder adds to Keras, for what `keras.layers` lacks.

Each layer lives in its own module, uses only `keras.ops` and public Keras
APIs (so it runs on every backend), and registers itself at its definition
with `keras.saving.register_keras_serializable(package="builder")`, so that
`keras.models.load_model` reopens a saved model after `import builder`.

To add a layer: write its module here, list it in `__all__`, and run
`builder catalogue` so specs may name it (a test fails until you do).
"""

from builder.layers.sampling import VAESampling
from builder.layers.positional import SinusoidalPositionEncoding

__all__ = ["SinusoidalPositionEncoding", "VAESampling"]
