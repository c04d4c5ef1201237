"""Stage 3, the graph: a parsed `Spec` becomes a `Graph` of plain nodes, and a `Graph` becomes a diagram.

Modules, in the order they import each other:

    ir            Graph, ModelGraph, Node, Ref, Scope: what every later stage reads
    expressions   `${...}` parameter expressions (parsed with ast, never eval)
    expand        blocks and repeats expanded, references and the graph checked
    roles         which spec model is the generator, discriminator, encoder or decoder of a kind
    search_space  the `search:` section: paths, probes at each range's ends, concrete specs
    render        Graph -> Graphviz DOT (and svg/png/pdf through `dot`)

Public entry points: `resolve(spec, document, overrides)` and `load_graph(path, overrides)`, the
front door every command, the Python API and the benchmarks use. Nothing here imports Keras.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.graph import expand, roles, search_space
from builder.graph.ir import Graph
from builder.language import Document, Spec, load, parse

__all__ = ["Graph", "load_graph", "resolve"]


def resolve(spec: Spec, document: Document, overrides: dict[str, Any] | None = None) -> Graph:
    """Expand and check a parsed spec, its search section included; a `SpecError` lists every problem."""
    graph, errors = expand.expand(spec, document, overrides)
    if graph is not None:
        errors += roles.problems(graph)   # the networks a GAN kind trains
    if spec.search is not None:   # its values are tried only in a spec that is valid as written
        errors += search_space.problems(spec, document, overrides, probe=not errors)
    expand.raise_errors(errors)
    return graph


def load_graph(source: str | Path | Document, overrides: dict[str, Any] | None = None) -> Graph:
    """load -> parse -> resolve one spec (a file, or a `Document` from `load_text`) into a `Graph` that
    remembers its `--set` overrides."""
    overrides = dict(overrides or {})
    document = source if isinstance(source, Document) else load(source)
    graph = resolve(parse(document), document, overrides)
    graph.overrides = overrides
    return graph
