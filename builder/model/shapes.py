"""Every node's output shape and parameter count without a single weight, for drawings and costs.

Two sources, tried in this order, give what a real build gives (tests/model/test_shapes.py builds the
whole spec library to check both):

- `builder.graph.estimate`, the pure-Python shape pass. Where it follows every node of a graph
  (`Estimate.complete`), its shapes and counts are Keras' own and Keras is not even imported: ResNet152
  draws with shapes in about half a second, where importing Keras alone takes seconds and a build with
  weights 10-14 s and 1.26 GB. Its rules refuse the inputs Keras refuses (ranks, sizes that do not
  match, a dimension shrunk to zero), so a spec with such a mistake goes to Keras, which says where.
- Otherwise Keras' symbolic build, `compile_graph(weights=False)`: every layer is built and called on
  symbolic tensors inside a `StatelessScope`, so its variables get shapes and never values (nothing is
  allocated), and a node Keras refuses is a located `SpecError`.

Shapes come in Keras' form, the batch axis first (`(None, 28, 28, 6)`; a list of them for a node with
several outputs), as `builder.graph.render.render` and `builder.graph.cost.cost` take them.

Public entry points: `from_estimate(graph)` -> `Shapes` or None (no Keras), `from_keras(graph)` -> `Shapes`
(imports Keras: choose the backend first), and `shapes_without_weights(graph)`, the first that answers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from builder.graph.estimate import estimate
from builder.graph.ir import Graph

# Nothing is allocated on either path, so no parameter budget applies: a drawing of a 3 G-parameter
# network costs what any other does.
NO_BUDGET = 2**63 - 1


@dataclass
class Shapes:
    """`shapes[model][node]`: the output shape, batch axis first; `params[model][node]`: the parameter count of
    each node that is not an input; `source`: "estimate" (no Keras) or "keras" (its symbolic build)."""

    shapes: dict
    params: dict
    source: str


def _with_batch(shape):
    return [_with_batch(s) for s in shape] if isinstance(shape, list) else (None, *shape)


def from_estimate(graph: Graph, inputs: dict | None = None) -> Shapes | None:
    """The Keras-free pass's shapes and counts when it follows every node of the graph; None when it does not.

    inputs: `{model: {input: shape}}` (no batch axis) filling the sizes a spec leaves open, as for `estimate`."""
    found = estimate(graph, inputs)
    if not found.complete(graph):
        return None
    shapes = {name: {node: _with_batch(shape) for node, shape in by_node.items()}
              for name, by_node in found.shapes.items()}
    return Shapes(shapes, found.params, "estimate")


def _filled(graph: Graph, inputs: dict) -> Graph:
    """The graph with its inputs' open sizes given (`inputs` as for `from_estimate`), for Keras to build."""
    models = {}
    for name, model in graph.models.items():
        given = inputs.get(name, {})
        nodes = {node_id: dataclasses.replace(node, args={**node.args, "shape": list(given[node_id])})
                 if node_id in given else node for node_id, node in model.nodes.items()}
        models[name] = dataclasses.replace(model, nodes=nodes)
    return dataclasses.replace(graph, models=models)


def from_keras(graph: Graph, inputs: dict | None = None) -> Shapes:
    """Keras' shapes and counts from a build without weights: variables with shapes and no values. Raises
    `SpecError` for the nodes Keras refuses. Imports Keras (`import_keras` first, for the chosen backend)."""
    from builder.model.compile import compile_graph

    built = compile_graph(_filled(graph, inputs) if inputs else graph, max_params=NO_BUDGET, weights=False)
    return Shapes(built.shapes, built.params, "keras")


def shapes_without_weights(graph: Graph, inputs: dict | None = None) -> Shapes:
    """The estimate's shapes where it follows every node, else Keras' (see the module's docstring)."""
    return from_estimate(graph, inputs) or from_keras(graph, inputs)
