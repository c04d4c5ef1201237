"""The graph IR that resolve produces and every later stage reads: models as DAGs of plain nodes.

A `Graph` carries the `Document` it came from, so any stage can point at the spec's text with
`graph.locate(path)` without reading the file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.errors import Location, Problem
from builder.language.loader import Document
from builder.language.spec import Spec


@dataclass(frozen=True)
class Ref:
    """A reference to a node's output (`index` picks one output of several)."""

    node: str
    index: int | None = None

    def __str__(self) -> str:
        return self.node if self.index is None else f"{self.node}[{self.index}]"


@dataclass(frozen=True)
class Scope:
    """One block instance a node sits in."""

    id: str                 # qualified instance id, e.g. "stage1_2"
    block: str              # the block's name
    params: tuple           # ((name, value), ...) as used by this instance
    repeat: int = 1         # which repeat this is (1-based)
    repeats: int = 1        # how many repeats the use asked for
    group: str = ""         # the id shared by all repeats of one use
    location: Location = field(default_factory=Location)
    trainable: bool | None = None   # false: the instance is frozen (`trainable: false` on the block use)
    tags: tuple = ()        # the use's `tags`


@dataclass
class Node:
    """One node of a model graph: an input, a layer, or a call to another model."""

    id: str
    op: str                                  # "input", "layer" or "model"
    type: str                                # layer type, model name, or "Input"
    args: dict                               # layer constructor args; shape/dtype for inputs
    inputs: tuple = ()                       # positional Refs
    kwargs: dict = field(default_factory=dict)  # keyword tensor inputs: name -> Ref | tuple[Ref]
    call: dict = field(default_factory=dict)     # boolean call flags
    scopes: tuple = ()                       # enclosing Scopes, outermost first
    location: Location = field(default_factory=Location)
    family: str = "input"
    # its own `tags`, then those of the block uses around it, innermost first (deduplicated): the first that the
    # diagram styles wins
    tags: tuple = ()

    @property
    def sources(self) -> list[Ref]:
        refs = list(self.inputs)
        for value in self.kwargs.values():
            refs.extend(value if isinstance(value, tuple) else (value,))
        return refs


@dataclass
class ModelGraph:
    name: str
    inputs: list[str]
    nodes: dict[str, Node]                   # topological order
    outputs: list[Ref]
    location: Location = field(default_factory=Location)


@dataclass
class Graph:
    """A resolved spec: every model as a DAG of plain nodes."""

    name: str
    file: str
    models: dict[str, ModelGraph]            # dependencies first
    spec: Spec
    params: dict
    warnings: list[Problem] = field(default_factory=list)
    overrides: dict = field(default_factory=dict)   # the --set values it was resolved with (a run records them)
    document: Document | None = field(default=None, repr=False)   # the loaded spec, for locating its parts

    def locate(self, *path) -> Location:
        """Where `path` (keys and indexes, e.g. "train", "data") sits in the spec, or its nearest located
        ancestor; the file alone when the graph has no document."""
        if self.document is None:
            return Location(self.file)
        return self.document.locate(path)

    @property
    def main(self) -> str:
        """The model that trains (or the last model when the spec does not say)."""
        if self.spec.train is not None and self.spec.train.model:
            return self.spec.train.model
        return list(self.models)[-1]

    def node_count(self) -> int:
        return sum(len(m.nodes) for m in self.models.values())


