"""Reading a built model: its layers (nested models included) and shapes as text.

Plain attribute walks: importing this module imports neither Keras nor NumPy.
"""

from __future__ import annotations

from typing import Iterator


def every_layer(model) -> Iterator:
    """Each layer of `model`, and of the models it calls (encoder, decoder, discriminator), depth first."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):   # a nested model
            yield from every_layer(layer)


def shape_text(shape) -> str:
    """A shape as Python writes the tuple: (None, 28, 28, 6); (None,) for one axis."""
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
