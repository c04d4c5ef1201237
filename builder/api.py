"""The Python API: the same steps as the command line, for notebooks and scripts.

    import builder

    graph = builder.load("specs/lenet.yaml", c1=8)   # validate; overrides like --set
    small = builder.load("specs/lenet.yaml", **{"layers.c5.units": 64, "train.epochs": 3})   # dotted paths
    models = builder.build(graph)                      # {name: keras.Model}
    builder.render(graph, "lenet.svg")                 # a diagram (Graphviz's dot)
    run = builder.train(graph, epochs=1)               # a run folder

The same functions are `builder.api.load`, ... (`import builder` stays light: they are
looked up on first use).

Every function takes a spec path or an already loaded graph. A bad spec raises
`builder.SpecError`, whose `.problems` carry file, line and column. `load` and
`render` never import Keras; `build` and `train` do (on the backend chosen by
$KERAS_BACKEND, as for the CLI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.errors import SpecError

__all__ = ["load", "load_graph", "build", "render", "train", "SpecError"]


def load_graph(path: str | Path, overrides: dict[str, Any] | None = None):
    """load -> parse -> resolve one spec file into a `Graph` (`builder.graph.load_graph`, the front door)."""
    from builder.graph import load_graph as front_door

    return front_door(path, overrides)


def load(path: str | Path, **overrides: Any):
    """Validate a spec file and return its resolved `Graph`.

    Args:
        path: the YAML spec.
        **overrides: what `builder validate --set NAME=VALUE` overrides: a spec parameter by name
            (`size=32`), or any value by its dotted path, passed as a dict
            (`**{"train.optimizer.learning_rate": 1e-4, "layers.c5.units": 64}`), checked and located
            like the spec itself.

    Returns:
        The resolved graph: `.name`, `.models`, `.warnings` (a list of `Problem`).

    Raises:
        SpecError: with `.problems`, each located at file, line and column.
    """
    return load_graph(path, overrides)


def _graph(spec, overrides: dict):
    if isinstance(spec, (str, Path)):
        return load_graph(spec, overrides)
    if overrides:
        raise TypeError(f"overrides apply to a spec path, not to a loaded graph. Received: {sorted(overrides)}")
    return spec


def build(spec, *, max_params: int | None = None, **overrides: Any):
    """Compile a spec (a path or a loaded graph) into Keras models.

    Returns:
        A dict of `keras.Model` by model name, with `.shapes` and `.params` per node.
    """
    from builder.training.backends.select import import_keras

    graph = _graph(spec, overrides)
    import_keras()
    from builder.model.compile import DEFAULT_MAX_PARAMS, compile_graph

    return compile_graph(graph, max_params or DEFAULT_MAX_PARAMS)


def render(spec, output: str | Path | None = None, *, shapes: bool = False, rankdir: str | None = None,
           collapse: bool | None = None, depth: int | str | None = "spec", **overrides: Any) -> str:
    """Draw a spec's architecture; write it to `output` (.svg, .png, .pdf or .dot) if given.

    Args:
        shapes: label edges with shapes and nodes with parameters, without weights (Keras is imported only for
            layers builder's own shape pass cannot follow).
        rankdir, collapse, depth: as `builder render`'s flags (depth: a whole number or "all"); by default the
            spec's `diagram:` section says, as it does for what the boxes show, colours and folding.

    Returns:
        The diagram as Graphviz DOT text.
    """
    from builder.graph import render as drawing

    if output is not None:
        drawing.check_dot(output)
    graph = _graph(spec, overrides)
    facts = {}
    if shapes:
        from builder.model.shapes import from_estimate, from_keras
        from builder.training.backends.select import import_keras

        found = from_estimate(graph)
        if found is None:
            import_keras()
            found = from_keras(graph)
        facts = {"shapes": found.shapes, "params": found.params}
    text = drawing.render(graph, rankdir=rankdir, collapse=collapse, depth=depth, **facts)
    if output is not None:
        drawing.write(text, output)
    return text


def train(spec, *, out: str | Path | None = None, epochs: int | None = None, batch_size: int | None = None,
          data: str | Path | None = None, **overrides: Any):
    """Train a spec into a run folder, as `builder train` does.

    Args:
        spec: a spec path, or a graph from `load` (the run keeps a copy of its file and its overrides).
        out: the run folder (default: runs/<name>-<time>).
        epochs, batch_size, data: override train.epochs, train.batch_size and train.data.path.

    Returns:
        The `RunFolder`: `.path`, `.history` (a CSV), `.summary` (JSON).
    """
    from builder.training.backends.select import import_keras

    graph = _graph(spec, overrides)
    import_keras()
    from builder.training import run as training

    options = training.TrainOptions(out=Path(out) if out else None, epochs=epochs, batch_size=batch_size,
                                    data_path=Path(data) if data else None, overrides=graph.overrides)
    return training.train(graph, graph.file, options)
