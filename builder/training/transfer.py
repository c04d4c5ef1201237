"""Transfer learning: initial weights from earlier work (`train.init`) and frozen nodes (`freeze`, `trainable`).

`load_initial_weights` copies weights node by node into a freshly built model
from a source model: a run folder (rebuilt from its own spec, then its
weights loaded: nothing is deserialised), a `.keras` file (opened with
`safe_mode` on), or a `.weights.h5` file (which names no layers, so it must
come from a model of this same spec). A node takes the weights of the source
node with its id (a `model:` node: the source's model of that name, whole),
or of the node `map` names; `map: {head: null}` keeps a
node's fresh weights. Every node with weights ends up in one list of the
report: loaded, mismatched (the shapes differ, the weights stay fresh), or
skipped (no source node).

`apply_freeze` sets `layer.trainable` on the model's layers: frozen are the
`freeze.until` node and every node it reads from, plus nodes the spec marks
`trainable: false`. In Keras 3 a BatchNormalization layer that is not
trainable also runs in inference mode (its moving statistics neither used
from the batch nor updated), which is the fine-tuning rule.

Public entry points: `load_initial_weights(...)` -> `InitReport`, `frozen_nodes(graph, target)`,
`apply_freeze(graph, model, frozen)`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from builder import files
from builder.errors import Location, SpecError, did_you_mean, show
from builder.graph.ir import Graph, ModelGraph
from builder.model.compile import layer_name


@dataclass
class InitReport:
    """Which nodes took weights from the source, and which did not (and why)."""

    source: str
    loaded: list[str] = field(default_factory=list)
    mismatched: list[dict] = field(default_factory=list)   # {node, source, shapes, source_shapes}
    skipped: list[str] = field(default_factory=list)        # nodes with weights and no source node (or map: null)

    def to_dict(self) -> dict:
        return {"from": self.source, "loaded": self.loaded, "mismatched": self.mismatched, "skipped": self.skipped}

    def lines(self) -> list[str]:
        out = [f"init: {len(self.loaded)} node{'s' * (len(self.loaded) != 1)} loaded from {self.source}"
               + (f": {', '.join(self.loaded)}" if self.loaded else "")]
        for item in self.mismatched:
            out.append(f"init: {item['node']} not loaded: shapes {item['shapes']} here, {item['source_shapes']} in "
                       f"{item['source']!r} of the source")
        if self.skipped:
            out.append(f"init: fresh weights (no source node): {', '.join(self.skipped)}")
        return out


# --- the source -----------------------------------------------------------------------------------

def _source_model(path: Path, graph: Graph, location: Location, max_params: int):
    """The model whose weights are copied: from a run folder, a .keras file, or a .weights.h5 file."""
    import keras

    from builder.model.compile import compile_graph

    if path.is_dir():
        from builder.training.run_folder import RunFolder, run_graph

        run = RunFolder.open(path)
        weights = run.model if run.model.exists() else run.checkpoint
        if not weights.exists():
            raise SpecError.single(location, f"the run {str(path)!r} has no model.keras and no checkpoint yet",
                                   "train it for at least one epoch first")
        source_graph = run_graph(run)
        models = compile_graph(source_graph, max_params)
        model = models[source_graph.main]
        return _load_weights(model, weights, location)
    if not path.exists():
        raise SpecError.single(location, f"no such file or run folder: {str(path)!r}",
                               "init paths are relative to the spec's folder (or give --init PATH)")
    try:
        files.regular_file(path)   # a FIFO or a device would block or never end
    except files.FileProblem as problem:
        raise SpecError.single(location, str(problem)) from None
    if path.name.endswith(".weights.h5"):
        models = compile_graph(graph, max_params)
        return _load_weights(models[graph.main], path, location,
                             "a .weights.h5 file names no layers: it loads only into a model of the spec it was "
                             "saved from; give a run folder or a .keras file to load part of a model")
    if path.suffix == ".keras":
        try:
            return keras.models.load_model(path, compile=False)   # safe_mode stays on
        except Exception as exc:  # a corrupt or foreign file raises many types
            raise SpecError.single(location, f"cannot open {str(path)!r}: {type(exc).__name__}: "
                                             f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    raise SpecError.single(location, f"expected a run folder, a .keras or a .weights.h5 file. Received: "
                                     f"from={str(path)!r}")


def _load_weights(model, weights: Path, location: Location, hint: str | None = None):
    """`model.load_weights`, all or nothing: Keras only warns about parts of the file it skips."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(weights)
        skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
        if skipped:
            raise ValueError(skipped[0])
    except Exception as exc:  # Keras raises ValueError, KeyError, OSError for a file of another model
        raise SpecError.single(location, f"cannot load {str(weights)!r}: {type(exc).__name__}: "
                                         f"{(str(exc).splitlines() or [''])[0][:200]}", hint) from None
    return model


def _layers_by_name(model) -> dict:
    """Every layer of a model by name, nested models' layers included (a spec model calling another)."""
    out = {}
    for layer in model._flatten_layers(include_self=False):
        out.setdefault(layer.name, layer)
    return out


def _source_layer(layers: dict, node_id: str | None):
    """The source's layer for a node id (models saved before block scopes were written '-' use '.')."""
    if node_id is None:   # `map: {node: null}`: this node keeps its fresh weights
        return None
    return layers.get(layer_name(node_id), layers.get(node_id))


def _shapes(layer) -> list[tuple]:
    return [tuple(int(d) for d in w.shape) for w in layer.weights]


# --- loading ------------------------------------------------------------------------------------------

def load_initial_weights(graph: Graph, model, init, source: Path, locate, max_params: int) -> InitReport:
    """Copy weights from `source` into `model`'s layers, node by node; see the module docstring."""
    location = locate("init", "from")
    mapping = dict(init.map) if init is not None else {}   # its keys are nodes here: resolve checked them
    source_model = _source_model(Path(source), graph, location, max_params)
    old = _layers_by_name(source_model)
    report = InitReport(str(source))
    unknown = [(new, name) for new, name in mapping.items() if name is not None and _source_layer(old, name) is None]
    if unknown:
        new, name = unknown[0]
        raise SpecError.single(locate("init", "map", new), f"init.map takes {show(new)} from {show(name)}, which "
                               f"is no layer of the source", did_you_mean(name, sorted(old)))
    for node_id, node in graph.models[graph.main].nodes.items():
        if node.op not in ("layer", "model"):
            continue
        # a `model:` node calls a spec model (shared by its calls): it takes the source's model of that name, whole
        default = node_id if node.op == "layer" else node.type
        layer = model.get_layer(layer_name(default))
        if not layer.weights:
            continue
        name = mapping.get(node_id, default)
        source = _source_layer(old, name)
        if source is None or not source.weights:
            report.skipped.append(node_id)
            continue
        here, there = _shapes(layer), _shapes(source)
        if here != there:
            report.mismatched.append({"node": node_id, "source": name, "shapes": here, "source_shapes": there})
            continue
        layer.set_weights(source.get_weights())
        report.loaded.append(node_id)
    return report


# --- freezing -------------------------------------------------------------------------------------------

def frozen_nodes(graph: Graph, target: str) -> set[str]:
    """The node `target` (or every node of the block instance `target`) and every node it reads from.

    `target` names a node or block instance of the main model: `builder.graph.resolve` refused the spec otherwise.
    """
    mgraph: ModelGraph = graph.models[graph.main]
    start = [node_id for node_id, node in mgraph.nodes.items()
             if node_id == target or any(target in (s.id, s.group) for s in node.scopes)]
    frozen, todo = set(), list(start)
    while todo:
        node_id = todo.pop()
        if node_id in frozen:
            continue
        frozen.add(node_id)
        todo.extend(ref.node for ref in mgraph.nodes[node_id].sources if ref.node in mgraph.nodes)
    return frozen


def apply_freeze(graph: Graph, model, frozen: set[str]) -> dict:
    """Set every layer node's `trainable`: off when frozen or marked `trainable: false` in the spec, else on.

    Returns {"frozen": [...], "trainable": [...]} over the nodes that have weights.
    """
    out = {"frozen": [], "trainable": []}
    for node_id, node in graph.models[graph.main].nodes.items():
        if node.op != "layer":
            continue
        layer = model.get_layer(layer_name(node_id))
        trainable = node.args.get("trainable", True) is not False and node_id not in frozen
        layer.trainable = trainable
        if layer.weights:
            out["trainable" if trainable else "frozen"].append(node_id)
    return out
