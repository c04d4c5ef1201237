"""A spec's `search:` section: where each dimension's values go, and the concrete spec of one trial.

A dimension is addressed by a path into the spec as written (`params.c1`,
`layers.c1.filters`, `layers.stage2.repeat`, `blocks.residual.params.filters`,
`train.optimizer.learning_rate`). A trial's values are placed into a copy of
the loaded data at those paths: a spec parameter exactly as `--set` gives it,
a layer argument or block parameter where the spec writes it. Nothing is
edited as text and nothing is evaluated. The copy, without its `search:`
section, is an ordinary spec and goes through load, parse and resolve again.

This module knows nothing of Keras or Optuna: `resolve` calls `problems` so
that `builder validate` checks a search space (paths that name nothing, each
range's ends and every choice giving a valid spec), and `render --search`
draws it with `annotations`.

Public entry points: `targets(spec, document)`, `concrete(...)`,
`problems(spec, document, overrides)`, `annotations(graph, document)`,
`dump(data)`.
"""

from __future__ import annotations

import copy
import inspect
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from builder.errors import Location, Problem, SpecError, did_you_mean, show
from builder.language.catalogue import catalogue
from builder.language.loader import Document, resolve_plain_scalar
from builder.language.spec import Choice, OptimizerSpec, Spec, TrainSpec

STRUCTURAL_KEYS = ("id", "type", "inputs", "call")   # `when` is searchable: a node in or out
MAX_PROBED_CHOICES = 20


class PathError(Exception):
    """A search path that names nothing in the spec; `hint` suggests what it may have meant."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Target:
    """Where one dimension's values go in the spec's data."""

    path: str                   # the dimension as written, e.g. "layers.c1.filters"
    at: tuple                   # the key path in the loaded data, e.g. ("layers", 1, "filters")
    node: tuple | None = None   # the layer or block-use node it changes, for diagrams
    param: str | None = None    # the spec parameter it sets (`params.NAME`)


# --- paths -------------------------------------------------------------------------------------------

def _find_node(layers: Any, ref: str, where: tuple) -> tuple[tuple, dict]:
    """The node of a layers list named by its id (or its 0-based position)."""
    items = layers if isinstance(layers, list) else []
    if ref.isdigit():
        if int(ref) < len(items) and isinstance(items[int(ref)], dict):
            return where + (int(ref),), items[int(ref)]
        raise PathError(f"{'.'.join(map(str, where))} has {len(items)} nodes; there is no node {ref}")
    ids = [item.get("id") for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("id") == ref:
            return where + (i,), item
    raise PathError(f"no node {show(ref)} in {'.'.join(map(str, where))}",
                    did_you_mean(ref, ids) or (f"its nodes with ids: {', '.join(ids)}" if ids else
                                               "give the node an `id` to search over its arguments"))


def _node_target(data: dict, layers: Any, rest: list[str], where: tuple) -> tuple[tuple, tuple]:
    """(data path, node path) of an argument of a layer node or a parameter of a block instance."""
    if len(rest) < 2:
        raise PathError("a path into layers names a node and an argument, e.g. layers.c1.filters")
    node_path, node = _find_node(layers, rest[0], where)
    args = rest[1:]
    if args == ["when"] and "model" not in node:   # a layer or block use in or out: `layers.se.when=false`
        return node_path + ("when",), node_path
    if "block" in node:
        block = (data.get("blocks") or {}).get(node["block"])
        declared = list((block or {}).get("params") or {}) if isinstance(block, dict) else []
        if args == ["repeat"]:
            return node_path + ("repeat",), node_path
        name = args[1] if args[0] == "with" and len(args) == 2 else args[0]
        if len(args) == (2 if args[0] == "with" else 1) and name in declared:
            return node_path + ("with", name), node_path
        raise PathError(f"block instance {show(rest[0])} has no parameter {show('.'.join(args))}",
                        did_you_mean(name, declared + ["repeat", "when"])
                        or f"it takes: {', '.join(['repeat', 'when'] + declared)}")
    if "model" in node:
        raise PathError(f"node {show(rest[0])} calls a model: it has no arguments to search over")
    if len(args) != 1:
        raise PathError(f"a layer argument is one name after the node: {'.'.join(rest[:2])}")
    info = catalogue().layer(node.get("type")) if isinstance(node.get("type"), str) else None
    if args[0] in STRUCTURAL_KEYS:
        raise PathError(f"{show(args[0])} is part of the graph's structure, not a layer argument to search over")
    if info is not None and args[0] not in info.args:
        raise PathError(f"{info.name} has no argument {show(args[0])}",
                        did_you_mean(args[0], sorted(info.args)) or f"{info.name} takes: {', '.join(sorted(info.args))}")
    return node_path + (args[0],), node_path


def _params_target(data: dict, rest: list[str]) -> Target:
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    if len(rest) != 1 or rest[0] not in params:
        name = ".".join(rest)
        raise PathError(f"the spec has no parameter {show(name)}",
                        did_you_mean(name, sorted(params)) or f"its parameters are: {', '.join(params) or 'none'}")
    return Target("", ("params", rest[0]), param=rest[0])


def _layers_target(data: dict, rest: list[str]) -> Target:
    at, node = _node_target(data, data.get("layers"), rest, ("layers",))
    return Target("", at, node=node)


def _models_target(data: dict, rest: list[str]) -> Target:
    models = data.get("models") if isinstance(data.get("models"), dict) else {}
    if not rest or rest[0] not in models:
        name = rest[0] if rest else ""
        raise PathError(f"the spec has no model {show(name)}", did_you_mean(name, sorted(models)))
    if len(rest) < 2 or rest[1] != "layers":
        raise PathError(f"a path into a model goes through its layers: models.{rest[0]}.layers.ID.ARGUMENT")
    at, node = _node_target(data, models[rest[0]].get("layers"), rest[2:], ("models", rest[0], "layers"))
    return Target("", at, node=node)


def _blocks_target(data: dict, rest: list[str]) -> Target:
    blocks = data.get("blocks") if isinstance(data.get("blocks"), dict) else {}
    if not rest or rest[0] not in blocks:
        name = rest[0] if rest else ""
        raise PathError(f"the spec has no block {show(name)}", did_you_mean(name, sorted(blocks)))
    block = blocks[rest[0]]
    if len(rest) == 3 and rest[1] == "params":
        declared = list(block.get("params") or {})
        if rest[2] in declared:
            return Target("", ("blocks", rest[0], "params", rest[2]))
        raise PathError(f"block {show(rest[0])} has no parameter {show(rest[2])}", did_you_mean(rest[2], declared))
    if len(rest) >= 2 and rest[1] == "layers":
        at, node = _node_target(data, block.get("layers"), rest[2:], ("blocks", rest[0], "layers"))
        return Target("", at, node=node)
    raise PathError(f"a path into a block is blocks.{rest[0]}.params.NAME or blocks.{rest[0]}.layers.ID.ARGUMENT")


def _model_classes(annotation) -> list[type]:
    """The pydantic models an annotation may hold."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _model_classes(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [cls for arg in get_args(annotation) for cls in _model_classes(arg)]
    return [annotation] if inspect.isclass(annotation) and issubclass(annotation, BaseModel) else []


def _train_target(data: dict, rest: list[str]) -> Target:
    """A train setting, following TrainSpec's fields (and an optimizer's Keras arguments)."""
    model: type[BaseModel] = TrainSpec
    raw: Any = data.get("train") if isinstance(data.get("train"), dict) else {}
    at: tuple = ("train",)
    for i, name in enumerate(rest):
        last = i == len(rest) - 1
        fields = model.model_fields
        if model is OptimizerSpec and name not in fields:
            kind = raw.get("type", "adam") if isinstance(raw, dict) else raw
            known = catalogue().optimizers.get(kind, {}) if isinstance(kind, str) else {}
            if name not in known:
                raise PathError(f"optimizer {show(kind)} has no argument {show(name)}",
                                did_you_mean(name, sorted(known) + ["learning_rate", "type"]))
        elif name not in fields:
            where = ".".join(("train",) + tuple(rest[:i]))
            raise PathError(f"{where} has no setting {show(name)}", did_you_mean(name, sorted(fields)))
        at += (name,)
        if last:
            return Target("", at)
        raw = raw.get(name) if isinstance(raw, dict) else None
        if isinstance(raw, str) and name in ("optimizer", "generator", "discriminator", "critic"):
            raw = {"type": raw}   # `optimizer: adam` is `{type: adam}`
        candidates = _model_classes(fields[name].annotation) if name in fields else []
        if len(candidates) > 1 and isinstance(raw, dict) and all("source" in c.model_fields for c in candidates):
            # train.data: the branch of the spec's `source`
            candidates = [c for c in candidates if raw.get("source") in get_args(c.model_fields["source"].annotation)]
        if len(candidates) != 1:
            raise PathError(f"{'.'.join(at)} has no settings inside it to search over")
        model = candidates[0]
        raw = raw if isinstance(raw, dict) else {}
    raise PathError("a path into train names a setting, e.g. train.batch_size")


_SECTIONS = {"params": _params_target, "layers": _layers_target, "models": _models_target,
             "blocks": _blocks_target, "train": _train_target}
SECTIONS = tuple(_SECTIONS)   # where a path may start (a dotted `--set` takes the same paths)


def target(data: dict, path: str) -> Target:
    """Where the values of the dimension at `path` go; raises `PathError` when it names nothing."""
    first, *rest = path.split(".")
    if first not in _SECTIONS:
        raise PathError(f"a search path starts with {', '.join(_SECTIONS)}. Received: {show(path)}",
                        did_you_mean(first, list(_SECTIONS)))
    found = _SECTIONS[first](data, rest)
    return Target(path, found.at, found.node, found.param)


def targets(spec: Spec, document: Document) -> tuple[dict[str, Target], list[Problem]]:
    """Every dimension's target, and a located problem for each path that names nothing."""
    found, problems = {}, []
    for path in (spec.search.space if spec.search else {}):
        try:
            found[path] = target(document.data, path)
        except PathError as error:
            problems.append(Problem(document.locate(("search", "space", path), key=True),
                                    f"search path {show(path)}: {error}", error.hint))
    return found, problems


# --- one trial's spec -----------------------------------------------------------------------------------

def place(data: dict, at: tuple, value: Any) -> None:
    """Put `value` at key path `at` in `data` (in place), making the mappings on the way."""
    node = data
    for i, key in enumerate(at[:-1]):
        child = node[key] if isinstance(node, list) else node.get(key)
        if isinstance(child, str):   # `optimizer: adam` -> `{type: adam, ...}`
            child = {"type": child}
        if child is None:
            child = {}
        node[key] = child
        node = child
    key = at[-1]
    if isinstance(node, dict) and key in ("optimizer",) and isinstance(node.get(key), dict) and isinstance(value, str):
        node[key]["type"] = value    # a choice of optimizers keeps the optimizer's other settings
    else:
        node[key] = value


def concrete(data: dict, values: dict, found: dict[str, Target], overrides: dict | None = None,
             epochs: int | None = None, spec_dir: Path | None = None) -> dict:
    """A copy of the spec's data with the search section removed, `--set` overrides and the trial's values in.

    A relative `train.data.path` is made absolute (from `spec_dir`), so the spec trains from any folder.
    """
    out = copy.deepcopy({k: v for k, v in data.items() if k != "search"})
    for name, value in (overrides or {}).items():   # a parameter by name, anything else by its dotted path
        place(out, target(out, name).at if "." in name else ("params", name), value)
    for path, value in values.items():
        place(out, found[path].at, value)
    if epochs is not None:
        place(out, ("train", "epochs"), epochs)
    source = (out.get("train") or {}).get("data") if isinstance(out.get("train"), dict) else None
    if spec_dir is not None and isinstance(source, dict) and isinstance(source.get("path"), str) \
            and not Path(source["path"]).is_absolute():
        source["path"] = str((Path(spec_dir) / source["path"]).resolve())
    return out


def probes(dimension) -> list:
    """The values a dimension is checked with before any trial: both ends of a range, each choice."""
    if isinstance(dimension, Choice):
        return list(dimension.values[:MAX_PROBED_CHOICES])
    return list(dict.fromkeys([dimension.low, dimension.high]))


def check_document(data: dict, document: Document) -> None:
    """Parse and resolve spec data that shares `document`'s layout (its marks still point into the file)."""
    from builder.graph.expand import expand, raise_errors
    from builder.language.parser import parse

    probe = Document(data=data, file=document.file, marks=document.marks, key_marks=document.key_marks)
    raise_errors(expand(parse(probe), probe)[1])


def _objective_problems(spec: Spec, document: Document) -> list[Problem]:
    """Each objective names `params` or a metric the run logs (loss, or one of train.metrics, val_ or not)."""
    train = spec.train or TrainSpec()
    logged = train.logged_metrics()
    if logged is None:
        return []   # other kinds log their own names (g_loss, d_loss, ...): checked when the first trial ends
    known = ["params"] + logged
    problems = []
    where = ("search", "objectives") if spec.search.objectives else ("search", "objective")
    for i, goal in enumerate(spec.search.goals):
        at = where + ((i,) if spec.search.objectives else ()) + ("metric",)
        if goal.metric not in known:
            problems.append(Problem(document.locate(at), f"the objective {show(goal.metric)} is not a metric the "
                                    f"runs log (they log: {', '.join(known)})",
                                    did_you_mean(goal.metric, known) or "add it to train.metrics"))
        elif goal.metric.startswith("val_") and getattr(train.data, "validation_split", 0.2) == 0:
            problems.append(Problem(document.locate(at), f"the objective {show(goal.metric)} needs validation "
                                    "data, and train.data.validation_split is 0"))
    return problems


def problems(spec: Spec, document: Document, overrides: dict | None = None, probe: bool = True) -> list[Problem]:
    """Problems of a spec's search section, each located at its dimension.

    Paths must name something and objectives must be logged; then (with `probe`, when the spec as written
    is valid) the spec with each range's ends and each choice (one dimension at a time, the others as
    written) must pass parse's and resolve's checks like any spec.
    """
    if spec.search is None:
        return []
    found, problems_ = targets(spec, document)
    problems_ += _objective_problems(spec, document)
    if problems_ or not probe:
        return problems_
    for path, dimension in spec.search.space.items():
        for value in probes(dimension):
            try:
                check_document(concrete(document.data, {path: value}, found, overrides), document)
            except SpecError as error:
                first = error.errors[0] if error.errors else error.problems[0]
                problems_.append(Problem(document.locate(("search", "space", path)),
                                         f"search path {show(path)}: the value {show(value)} gives an invalid spec: "
                                         f"{first.message}", f"at {first.location}" + (f"; {first.hint}"
                                                                                        if first.hint else "")))
                break
    return problems_


# --- writing a concrete spec ----------------------------------------------------------------------------

class _SpecDumper(yaml.SafeDumper):
    """YAML that builder's loader (YAML 1.2) reads back to the same values: text that would read as a
    number, boolean or null is quoted."""


def _represent_text(dumper: yaml.SafeDumper, text: str):
    value = resolve_plain_scalar(text)
    if not (isinstance(value, str) and value == text) or text != text.strip() or not text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="'")
    return dumper.represent_str(text)


_SpecDumper.add_representer(str, _represent_text)


def dump(data: dict, header: str = "") -> str:
    """Spec data as YAML text, leaf mappings and lists written inline like the specs in specs/."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.dump(data, Dumper=_SpecDumper, sort_keys=False, default_flow_style=None, width=110,
                               allow_unicode=True)


# --- diagrams ---------------------------------------------------------------------------------------------

def describe(dimension) -> str:
    """A short text of a dimension: `4..16 step 2`, `0.0001..0.01 log`, `{adam, sgd}`."""
    if isinstance(dimension, Choice):
        return "{" + ", ".join(str(v) for v in dimension.values) + "}"
    text = f"{dimension.low:g}..{dimension.high:g}"
    if dimension.log:
        text += " log"
    if dimension.step not in (None, 1):
        text += f" step {dimension.step:g}"
    return text


def _mentions(value: Any, name: str) -> bool:
    return bool(re.search(r"\$\{[^{}]*\b" + re.escape(name) + r"\b[^{}]*\}", str(value)))


def annotations(graph, document: Document) -> tuple[dict, list[str]]:
    """What `render --search` draws: `{(model, node id): [lines]}`, and lines for dimensions of no node.

    A layer argument annotates its node (every instance of it, inside blocks); a block instance's repeat or
    parameter annotates the instance's nodes; a spec parameter annotates each node whose arguments use it.
    """
    spec = graph.spec
    if spec.search is None:
        return {}, []
    found, _ = targets(spec, document)
    by_location: dict[Location, list[tuple[str, str]]] = {}
    for model in graph.models.values():
        for node in model.nodes.values():
            by_location.setdefault(node.location, []).append((model.name, node.id))
    written = {mark: path for path, mark in document.marks.items() if path and isinstance(path[-1], int)}
    notes: dict = {}
    unplaced = []
    for path, dimension in spec.search.space.items():
        where = found.get(path)
        if where is None:
            continue
        name = f"${{{where.param}}}" if where.param else path.rsplit(".", 1)[-1]
        line = f"search {name}: {describe(dimension)}"
        hits: list[tuple[str, str]] = []
        if where.node is not None and where.at[len(where.node)] in ("repeat", "with"):
            scope_at = document.locate(where.node)
            hits = [(m.name, n.id) for m in graph.models.values() for n in m.nodes.values()
                    if any(s.location == scope_at for s in n.scopes)]
        elif where.node is not None:
            hits = by_location.get(document.locate(where.node), [])
        elif where.param is not None:
            for m in graph.models.values():
                for n in m.nodes.values():
                    written_at = [n.location] + [scope.location for scope in n.scopes]   # the node, its blocks
                    if any(_mentions(_raw_at(document.data, written.get(at)), where.param) for at in written_at):
                        hits.append((m.name, n.id))
        for hit in hits:
            notes.setdefault(hit, []).append(line)
        if not hits:
            unplaced.append(f"{path}: {describe(dimension)}")
    return notes, unplaced


def _raw_at(data: dict, path: tuple | None) -> Any:
    """The arguments of the layer node written at `path`, or None."""
    node: Any = data
    for key in path or ():
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    if path is None or not isinstance(node, dict):
        return None
    return {k: v for k, v in node.items() if k not in STRUCTURAL_KEYS}
