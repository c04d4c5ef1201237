"""Stage 3, the graph: a parsed `Spec` becomes a `Graph` of plain nodes, and a `Graph` becomes a diagram.

Modules, in the order they import each other:

    ir            Graph, ModelGraph, Node, Ref, Scope: what every later stage reads
    expressions   `${...}` parameter expressions (parsed with ast, never eval)
    expand        blocks and repeats expanded, references and the graph checked
    roles         which spec model is the generator, discriminator, encoder or decoder of a kind
    wiring        a node with several outputs (an LSTM's states) read whole where one tensor goes
    search_space  the `search:` section: paths, probes at each range's ends, concrete specs
    overrides     `--set`: a spec parameter by name, any other value by its dotted path (search's paths)
    train_values  `${...}` in `train:`, filled from the params before parse
    render        Graph -> Graphviz DOT (and svg/png/pdf through `dot`)
    resolved      `builder resolve`: the expanded spec the compiler sees, each value with where it came from
    diff          `builder diff`: two specs (or runs) compared node by node through blocks and repeats

Public entry points: `resolve(spec, document, overrides)` and `load_graph(path, overrides)`, the
front door every command, the Python API and the benchmarks use. Nothing here imports Keras.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.errors import Location, Problem, SpecError, show
from builder.graph import expand, overrides as setting, roles, search_space, train_values, wiring
from builder.graph.ir import Graph
from builder.language import Document, Spec, load, parse
from builder.language.parser import salvage

__all__ = ["Graph", "load_graph", "resolve"]


def resolve(spec: Spec, document: Document, overrides: dict[str, Any] | None = None) -> Graph:
    """Expand and check a parsed spec, its search section included; a `SpecError` lists every problem."""
    graph, errors = expand.expand(spec, document, overrides)
    if graph is not None:
        errors += roles.problems(graph)   # the networks a GAN kind trains
        errors += wiring.problems(graph)  # several outputs read whole where one tensor goes
    if spec.search is not None:   # its values are tried only in a spec that is valid as written
        errors += search_space.problems(spec, document, overrides, probe=not errors)
    expand.raise_errors(errors)
    return graph


def _parse(document: Document, overrides: dict[str, Any] | None) -> Spec:
    """parse; when it fails, the `SpecError` holds the problems resolve finds in the rest of the spec too, so
    that every independent problem of a file comes out in one run."""
    try:
        return parse(document)
    except SpecError as error:
        expand.raise_errors(error.problems + _independent_problems(document, overrides))
        raise


def _independent_problems(document: Document, overrides: dict[str, Any] | None) -> list[Problem]:
    """The problems of the graph's own checks (duplicate ids, references, blocks) in a spec that parse refused,
    run on what `salvage` keeps of it, less what only echoes parse's problems: a problem at the place of a
    part cut out or of a node with an argument problem, or one naming what went with them. The checks that
    need the whole spec (unused inputs, the train section's names, roles, search) wait until it parses.
    """
    kept = salvage(document)
    if kept.spec is None:
        return []
    errors = expand.expand(kept.spec, document, overrides, complete=False)[1]
    places = {document.locate(path, key) for path in kept.doubtful for key in (False, True)}
    for path in kept.doubtful:   # a node with a part cut out may read another node, or none: its own place too
        if "layers" in path[:-1]:
            item = path[: max(i for i, part in enumerate(path[:-1]) if part == "layers") + 2]
            places.add(document.locate(item))
    names = [f"{show(name)[:-1]}{end}" for name in kept.names for end in ("'", ".")]
    return [p for p in errors if p.location not in places and not any(name in p.message for name in names)]


def load_graph(source: str | Path | Document, overrides: dict[str, Any] | None = None, small: bool = False) -> Graph:
    """load -> parse -> resolve one spec (a file, or a `Document` from `load_text`) into a `Graph` that
    remembers its `--set` overrides: spec parameters by name (`size`), other values by dotted path
    (`train.epochs`, `layers.c5.units`), placed into the data before parse so that they are checked
    and located like the spec. `small` starts from the spec's `small:` values (`--small`), which the
    overrides then override."""
    overrides = dict(overrides or {})
    document = source if isinstance(source, Document) else load(source)
    if small:
        overrides = _small_values(document) | overrides
    document, params, placed, problems = setting.apply(document, overrides)
    document, unfilled = train_values.fill(document, params)   # ${...} in train:, before parse checks it
    problems += unfilled
    try:
        graph = resolve(_parse(document, params), document, params)
    except SpecError as error:
        unfilled_at = {problem.location for problem in unfilled}   # parse's "expected a number" there only echoes
        later = [problem for problem in error.problems if problem.location not in unfilled_at]
        raise SpecError(problems + setting.noted(later, placed)) from None
    if problems:
        raise SpecError(problems)
    graph.overrides = overrides
    return graph


def _small_values(document: Document) -> dict[str, Any]:
    """The spec's `small:` parameter values, for `--small` (a run records them with its overrides)."""
    values = document.data.get("small") if isinstance(document.data, dict) else None
    if not isinstance(values, dict) or not values:
        raise SpecError.single(Location(document.file), "--small: this spec has no `small:` section",
                               "add e.g. `small: {width: 16}` beside `params:`: parameter values for a version "
                               "that trains on a CPU in minutes")
    return dict(values)
