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


def trainable_counts(graph, models, layer_name) -> dict:
    """`{model: {node: trainable parameters}}` as Keras counts them; `layer_name(node id)` is the node's layer's name
    (`builder.model.compile.layer_name`)."""
    counts = {}
    for name, mgraph in graph.models.items():
        layers = {layer.name: layer for layer in models[name].layers}
        counts[name] = {node.id: sum(_values(w) for w in layers[layer_name(node.id)].trainable_weights)
                        for node in mgraph.nodes.values() if node.op == "layer" and layer_name(node.id) in layers}
    return counts


def _values(weight) -> int:
    count = 1
    for d in weight.shape:
        count *= int(d)
    return count
