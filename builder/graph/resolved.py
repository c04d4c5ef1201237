"""`builder resolve`: the fully expanded spec the compiler sees, every value marked with where it came from.

The resolved spec is itself a spec that builds the same model: every `${...}` filled in, `when` and
`repeat` applied, every node with its final arguments and explicit inputs. Node ids inside block
instances (`conv2.block_2.conv1`) cannot be written as ids, so each block instance becomes a block of
its own, without parameters, used once under its instance id; instances that come out alike (the
identity repeats of a ResNet stage) share one such block, and a use whose repeats are alike stays one
`repeat: N` use. A value's source is one of:

- the spec's line (`line 45`);
- an expression and the source of each name in it: a block parameter from the `with:`,
  `per_repeat:` or default of the instance that set it (traced through blocks that pass it on), a
  spec parameter from `params:`, a `--set`, the run's `--set` (run.json) or `--small`, or `repeat_index`;
- a dotted `--set` (`--set layers.c5.units=64`), or a search trial's value (a trial's spec file
  `<search>/specs/trial-NNN.yaml` or its run folder `<search>/trials/NNN`);
- a Keras default from the layer catalogue (`--defaults`), or a block use's `trainable: false`.

Public entry points: `open_spec(path, overrides, small)` -> `Opened` (a spec file or a run folder, with
where each override came from; `builder diff` reads its sides with it too) and
`resolve_spec(opened, defaults)` -> `Resolved` (`.yaml()`, `.json()`). Nothing here imports Keras.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from builder import files
from builder.errors import Location, SpecError, show
from builder.graph import load_graph, search_space
from builder.graph.expressions import REPEAT_NAMES, placeholder_names
from builder.graph.ir import Graph, ModelGraph, Node, Ref, Scope
from builder.language.catalogue import catalogue
from builder.language.loader import Document, load, resolve_plain_scalar
from builder.language.parser import has_placeholder

COMMENT_COLUMN = 44   # comments start here when the code is shorter


@dataclass(frozen=True)
class Source:
    """Where one value came from: `kind` is spec, expression, set, run, small, search, default or block."""

    kind: str
    text: str
    line: int | None = None

    def to_dict(self) -> dict:
        return {"from": self.kind, "text": self.text, "line": self.line}


@dataclass
class Opened:
    """One spec as a command reads it: a spec file or a run folder, resolved with its overrides."""

    label: str               # what the user named
    file: str                # the spec file read
    graph: Graph
    original: Document       # the spec as loaded, before --set and train's ${...} were filled
    given: dict = field(default_factory=dict)    # parameter name -> Source of its override
    placed: dict = field(default_factory=dict)   # data path -> Source of a value placed there (dotted --set, trial)
    command: str = ""                            # the --set and --small options it was opened with


# --- opening a spec or a run folder ---------------------------------------------------------------------

def _text(value: Any) -> str:
    return value if isinstance(value, str) and len(value) <= 60 else show(value)


def _recorded_overrides(info: Path) -> dict:
    """The overrides a run folder's run.json says the run was started with."""
    try:
        data = json.loads(files.read_text(info, files.MAX_JSON_BYTES))
    except files.FileProblem as problem:
        raise SpecError.single(Location(str(info)), problem.reason, problem.hint) from None
    except ValueError as exc:
        raise SpecError.single(Location(str(info)), f"not valid JSON: {exc}") from None
    overrides = data.get("overrides", {}) if isinstance(data, dict) else None
    if not isinstance(overrides, dict):
        raise SpecError.single(Location(str(info)), f"expected `overrides` to be a mapping of --set values. "
                                                    f"Received: {show(overrides)}")
    return overrides


def _trial(named: Path, spec_file: Path) -> tuple[Path, int] | None:
    """(search folder, trial number) for a trial's spec file or run folder of a `builder search` folder."""
    if named.is_dir() and named.parent.name == "trials" and named.name.isdigit():
        folder, number = named.parent.parent, int(named.name)
    else:
        match = re.fullmatch(r"trial-(\d+)\.ya?ml", spec_file.name)
        if match is None or spec_file.parent.name != "specs":
            return None
        folder, number = spec_file.parent.parent, int(match[1])
    if not (folder / "search.json").is_file() or not (folder / "spec.yaml").is_file():
        return None
    return folder, number


def _trial_values(named: Path, spec_file: Path, document: Document) -> dict:
    """Data path -> Source for each value a search trial placed into its spec (the base spec's search paths)."""
    trial = _trial(named, spec_file)
    if trial is None:
        return {}
    folder, number = trial
    try:
        base = load(folder / "spec.yaml").data
    except SpecError:
        return {}
    space = (base.get("search") or {}).get("space") if isinstance(base.get("search"), dict) else None
    placed = {}
    for path in space if isinstance(space, dict) else {}:
        try:
            at = search_space.target(document.data, path).at
        except search_space.PathError:
            continue
        value = _raw(document.data, at)
        placed[at] = Source("search", f"search trial {number} of {folder.name}: {path}={_text(value)}")
    return placed


def open_spec(path: str | Path, overrides: dict | None = None, small: bool = False) -> Opened:
    """Load and resolve a spec file, or a run folder's spec.yaml with the overrides in its run.json (the
    command line's win), remembering where each override came from. A `SpecError` says what is wrong."""
    named, overrides = Path(path), dict(overrides or {})
    recorded: dict = {}
    if named.is_dir():
        spec_file, info = named / "spec.yaml", named / "run.json"
        if not spec_file.is_file() or not info.is_file():
            raise SpecError.single(Location(str(named)), "a folder here must be a run folder: it has no "
                                   f"{'spec.yaml' if not spec_file.is_file() else 'run.json'}",
                                   "give a spec file, or a run folder that `builder train` wrote")
        recorded = _recorded_overrides(info)
    else:
        spec_file = named
    document = load(spec_file)
    graph = load_graph(document, {**recorded, **overrides}, small=small)
    given: dict = {}
    for name, value in graph.overrides.items():
        if name in overrides:
            given[name] = Source("set", f"--set {name}={_text(value)}")
        elif name in recorded:
            given[name] = Source("run", f"--set {name}={_text(value)} in run.json")
        else:
            line = document.locate(("small", name)).line
            given[name] = Source("small", f"--small: small.{name}={_text(value)}, line {line}", line)
    placed = {}
    for name, source in given.items():
        if "." in name:   # a dotted --set: the value placed at its path
            try:
                placed[search_space.target(document.data, name).at] = source
            except search_space.PathError:
                continue
    placed.update(_trial_values(named, spec_file, graph.document))
    command = "".join(f" --set {k}={_text(v)}" for k, v in overrides.items()) + " --small" * small
    return Opened(str(path), str(spec_file), graph, document,
                  {k: v for k, v in given.items() if "." not in k}, placed, command)


# --- where each value came from ---------------------------------------------------------------------------

_MISSING = object()


def _raw(data: Any, at: tuple) -> Any:
    for key in at:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


@lru_cache(maxsize=4096)
def _names(text: str) -> tuple:
    return tuple(sorted(placeholder_names(text)))


def _mentions(value: Any) -> tuple:
    return _names(value) if isinstance(value, str) else tuple(sorted(placeholder_names(value)))


_LONE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")


class _Origins:
    """The sources of values: the spec as written, the overrides placed into it, and the graph's block instances."""

    def __init__(self, opened: Opened):
        self.graph, self.data, self.doc = opened.graph, opened.original.data, opened.graph.document
        self.given, self.placed = opened.given, opened.placed
        self.items: dict[Location, tuple] = {}   # where a layer node or block use is written -> its data path
        lists = [("layers",)] + [("models", m, "layers") for m in (self.data.get("models") or {})] + \
                [("blocks", b, "layers") for b in (self.data.get("blocks") or {})]
        for where in lists:
            layers = _raw(self.data, where)
            for i in range(len(layers) if isinstance(layers, list) else 0):
                self.items.setdefault(self.doc.locate(where + (i,)), where + (i,))

    def line(self, at: tuple) -> int:
        return self.doc.locate(at).line

    def frames(self, node: Node) -> tuple:
        """The node's block instances, outermost first, each with the data path of its block use."""
        return tuple((scope, self.items.get(scope.location, ())) for scope in node.scopes)

    def value(self, at: tuple, frames: tuple, counting: Scope | None) -> Source:
        """The source of the value written at data path `at`, in the block instances `frames`."""
        if at in self.placed:
            return self.placed[at]
        raw = _raw(self.data, at)
        line = self.line(at)
        place = f"line {line}"
        if not has_placeholder(raw):
            return Source("spec", place, line)
        names = _mentions(raw)
        parts = [f"{name}={self.shown(name, frames, counting)} from {self.trace(name, frames, counting)}"
                 for name in names]
        return Source("expression", f"{_cut(raw)} ({place}): " + "; ".join(parts), line)

    def shown(self, name: str, frames: tuple, counting: Scope | None) -> str:
        """The value a name had where it was used."""
        if name in REPEAT_NAMES:
            return str(counting.repeat - 1 if name == "repeat_index" else counting.repeats) if counting else "?"
        if frames:
            params = dict(frames[-1][0].params)
            if name in params:
                return _text(params[name])
        return _text(self.graph.params.get(name))

    def trace(self, name: str, frames: tuple, counting: Scope | None) -> str:
        """Where a name's value was set: a block instance's with/per_repeat/default, a spec parameter, an override."""
        if name in REPEAT_NAMES:
            return f"repeat {counting.repeat} of {counting.repeats} of {counting.group}" if counting else "a repeat"
        if frames:
            scope, use = frames[-1]
            block = self.graph.spec.blocks.get(scope.block)
            if block is not None and name in block.params:
                return self.block_parameter(name, frames)
        if name in self.given:
            return self.given[name].text
        at = ("params", name)
        return self.placed[at].text if at in self.placed else f"params, line {self.line(at)}"

    def block_parameter(self, name: str, frames: tuple) -> str:
        """Where a block instance's parameter came from, following `${x}` passed on by enclosing instances."""
        scope, use = frames[-1]
        per_repeat = use + ("per_repeat", scope.repeat - 1, name)
        given = use + ("with", name)
        if per_repeat in self.placed or _raw(self.data, per_repeat) is not _MISSING:
            at, where = per_repeat, f"{scope.group}'s per_repeat[{scope.repeat - 1}]"
        elif given in self.placed or _raw(self.data, given) is not _MISSING:
            at, where = given, f"{scope.group}'s with"
        else:
            at, where = ("blocks", scope.block, "params", name), f"block {scope.block}'s default"
        if at in self.placed:
            return self.placed[at].text
        raw = _raw(self.data, at)
        if not has_placeholder(raw):
            return f"{where}, line {self.line(at)}"
        outer = frames[:-1]
        lone = _LONE.match(raw) if isinstance(raw, str) else None
        passed = outer and lone and lone[1] in getattr(self.graph.spec.blocks.get(outer[-1][0].block), "params", {})
        if passed:   # `${filters}` passes an enclosing instance's parameter on: say where that one was set
            return self.trace(lone[1], outer, scope)
        parts = [f"{n}={self.shown(n, outer, scope)} from {self.trace(n, outer, scope)}" for n in _mentions(raw)]
        return f"{_cut(raw)} in {where}, line {self.line(at)} ({'; '.join(parts)})"

    def argument(self, node: Node, frames: tuple, item: tuple, name: str) -> Source:
        at = item + (name,)
        if at not in self.placed and _raw(self.data, at) is _MISSING:
            frozen = next((scope for scope, _ in frames if scope.trainable is False), None)
            if name == "trainable" and frozen is not None:   # a frozen block use freezes each layer in it
                line = frozen.location.line
                return Source("block", f"trainable: false on {frozen.group}, line {line}", line)
            return Source("spec", f"line {self.line(item)}", self.line(item))
        return self.value(at, frames, frames[-1][0] if frames else None)


def _cut(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the expanded spec ----------------------------------------------------------------------------------

class _Instance:
    """A block instance of the graph (or the model itself: scope None), with what it reads from outside."""

    def __init__(self, scope: Scope | None, parent: _Instance | None):
        self.scope, self.parent = scope, parent
        self.chain: tuple = (parent.chain + (scope.id,)) if parent is not None else ()
        self.prefix = scope.id + "." if scope is not None else ""
        self.items: list = []            # Nodes and inner _Instances, in the graph's order
        self.children: dict[str, _Instance] = {}
        self.entries: list[Ref] = []     # what it reads from outside: its block's inputs in, in_2, ...
        self.output: str | None = None   # the node an enclosing block reads of it
        self.use_inputs: list[str] = []  # its entries as the enclosing block writes them
        self.name: str | None = None     # its block's name in the resolved spec

    def local(self, qualified: str) -> str:
        return qualified[len(self.prefix):]


def _input_name(i: int) -> str:
    return "in" if i == 0 else f"in_{i + 1}"


class _ModelWriter:
    """One model's layers as a resolved spec's items, its block instances as blocks of their own."""

    def __init__(self, builder: _Builder, model: ModelGraph):
        self.builder, self.model = builder, model
        self.root = _Instance(None, None)
        self.where: dict[str, _Instance] = {}
        for node in model.nodes.values():
            if node.op == "input":
                continue
            inst = self.root
            for scope in node.scopes:
                child = inst.children.get(scope.id)
                if child is None:
                    child = inst.children[scope.id] = _Instance(scope, inst)
                    inst.items.append(child)
                inst = child
            inst.items.append(node)
            self.where[node.id] = inst
        self.inputs = {node.id: self.node_inputs(self.where[node.id], node)
                       for node in model.nodes.values() if node.op != "input"}
        self.settle(self.root)

    # references, as the block that holds the reader writes them
    def ref(self, ctx: _Instance, ref: Ref) -> str:
        index = "" if ref.index is None else f"[{ref.index}]"
        if ctx.scope is None:   # the model's own layers read any node by its qualified id
            return ref.node + index
        target = self.model.nodes[ref.node]
        chain = tuple(scope.id for scope in target.scopes)
        if chain[:len(ctx.chain)] != ctx.chain:   # from outside: one of the block's inputs
            if ref not in ctx.entries:
                ctx.entries.append(ref)
            return "$" + _input_name(ctx.entries.index(ref))
        inside = chain[len(ctx.chain):]
        if not inside:
            return ctx.local(ref.node) + index
        inst = ctx
        for scope_id in inside:   # a node of an inner instance is read as that instance's output
            inst = inst.children[scope_id]
            self.require(inst, ref.node)
        return ctx.local(ctx.children[inside[0]].scope.id) + index

    def require(self, inst: _Instance, node_id: str) -> None:
        if inst.output not in (None, node_id):
            raise SpecError.single(inst.scope.location, f"block instance {show(inst.scope.id)} is read at two of "
                                   f"its nodes ({show(inst.output)} and {show(node_id)}) from the block around it, "
                                   "which a spec cannot write without its parameters",
                                   "builder resolve writes each instance as a block with one output")
        inst.output = node_id

    def node_inputs(self, ctx: _Instance, node: Node):
        refs = [self.ref(ctx, r) for r in node.inputs]
        named = {key: [self.ref(ctx, r) for r in value] if isinstance(value, tuple) else self.ref(ctx, value)
                 for key, value in node.kwargs.items()}
        info = catalogue().layer(node.type) if node.op == "layer" else None
        if named:
            main = info.input_arg if info is not None and info.input_arg else "inputs"
            return {main: refs[0] if len(refs) == 1 else refs, **named}
        if len(refs) == 1 and not (info is not None and info.many_inputs):
            return refs[0]
        return refs

    def settle(self, inst: _Instance) -> None:
        """Each instance's inputs as the block around it writes them (which may make them its inputs in turn)."""
        for child in inst.children.values():
            self.settle(child)
        if inst.scope is not None:
            inst.use_inputs = [self.ref(inst.parent, entry) for entry in inst.entries]

    # the items of a block (or of the model)
    def items(self, inst: _Instance, path: tuple, sources: dict) -> list:
        out, i = [], 0
        while i < len(inst.items):
            item = inst.items[i]
            if isinstance(item, Node):
                out.append(self.node_item(inst, item, path, sources))
                i += 1
                continue
            group = self.repeats(inst, i)
            first = inst.items[i]
            if group > 1:   # alike repeats: one use, `repeat: N`
                scope = first.scope
                local = inst.local(scope.group)
                out.append({"id": local, "block": self.builder.block(first), "repeat": group,
                            "inputs": _one(first.use_inputs), **_tags(scope)})
                sources[path + (local,)] = Source("spec", f"line {scope.location.line}: block {scope.block}, "
                                                          f"{group} repeats", scope.location.line)
                i += group
                continue
            scope = first.scope
            local = inst.local(scope.id)
            out.append({"id": local, "block": self.builder.block(first), "inputs": _one(first.use_inputs),
                        **_tags(scope)})
            of = f", repeat {scope.repeat} of {scope.repeats}" if scope.repeats > 1 else ""
            sources[path + (local,)] = Source("spec", f"line {scope.location.line}: block {scope.block}{of}",
                                              scope.location.line)
            i += 1
        return out

    def repeats(self, inst: _Instance, i: int) -> int:
        """How many instances from item i are the repeats of one use, all alike and each reading the one before
        (then one `repeat: N` use writes them all); 1 otherwise."""
        first = inst.items[i]
        scope = first.scope
        if scope.repeats <= 1 or scope.repeat != 1 or i + scope.repeats > len(inst.items):
            return 1
        run = inst.items[i:i + scope.repeats]
        for k, item in enumerate(run):
            if not isinstance(item, _Instance) or item.scope.group != scope.group or item.scope.repeat != k + 1:
                return 1
            if self.builder.block(item) != self.builder.block(first) or len(item.entries) != 1:
                return 1
            if k and (run[k - 1].output is None or item.entries[0] != Ref(run[k - 1].output)):
                return 1
        return scope.repeats

    def node_item(self, inst: _Instance, node: Node, path: tuple, sources: dict) -> dict:
        origins = self.builder.origins
        frames = origins.frames(node)
        item_path = origins.items.get(node.location, ())
        local = inst.local(node.id)
        item: dict = {"id": local, ("model" if node.op == "model" else "type"): node.type,
                      "inputs": self.inputs[node.id]}
        if node.call:
            item["call"] = dict(node.call)
        where = path + (local,)
        line = node.location.line
        sources[where] = Source("spec", f"line {line}" + (f" (block {node.scopes[-1].block})" if node.scopes else ""),
                                line)
        if node.call:
            sources[where + ("call",)] = origins.value(item_path + ("call",), frames, None)
        own = [tag for tag in node.tags if not any(tag in scope.tags for scope in node.scopes)]   # not the uses'
        if own:
            item["tags"] = own
            sources[where + ("tags",)] = Source("spec", f"line {line}", line)
        for name, value in node.args.items():
            item[name] = value
            sources[where + (name,)] = origins.argument(node, frames, item_path, name)
        if self.builder.defaults and node.op == "layer":
            for name, value in _defaults(node.type).items():
                if name not in item:
                    item[name] = value
                    sources[where + (name,)] = Source("default", "Keras default")
        return item

    def block_data(self, inst: _Instance) -> tuple[dict, dict]:
        """The block an instance becomes, and its sources (paths from the block)."""
        sources: dict = {}
        params = ", ".join(f"{k}={_text(v)}" for k, v in inst.scope.params)
        data: dict = {"description": _cut(f"block {inst.scope.block}" + (f": {params}" if params else ""), 2000)}
        names = [_input_name(i) for i in range(len(inst.entries))]
        if names != ["in"]:
            data["inputs"] = names
        data["layers"] = self.items(inst, ("layers",), sources)
        last = inst.items[-1]
        if inst.output is not None and not (isinstance(last, Node) and last.id == inst.output):
            data["output"] = self.ref(inst, Ref(inst.output))
        return data, sources


def _tags(scope) -> dict:
    """A block use's `tags`, when it has any."""
    return {"tags": list(scope.tags)} if scope.tags else {}


def _one(refs: list):
    return refs[0] if len(refs) == 1 else refs


@lru_cache(maxsize=None)
def _default_table(type_name: str) -> tuple:
    info = catalogue().layer(type_name)
    out = []
    for name, entry in (info.args.items() if info is not None else ()):
        if entry.get("required") or entry.get("kind") == "layer":   # a layer argument: none is a spec value
            continue
        if "default_text" in entry:
            try:
                value = _lists(ast.literal_eval(entry["default_text"]))
            except (ValueError, SyntaxError):
                continue
        else:
            value = entry.get("default")
        out.append((name, value))
    return tuple(out)


def _defaults(type_name: str) -> dict:
    """A layer type's Keras defaults (the catalogue's), as spec values."""
    return {name: json.loads(json.dumps(value)) for name, value in _default_table(type_name)}


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


class _Builder:
    def __init__(self, opened: Opened, defaults: bool):
        self.opened, self.defaults = opened, defaults
        self.origins = _Origins(opened)
        self.blocks: dict[str, tuple[dict, dict]] = {}   # name -> (data, sources)
        self.keys: dict[str, str] = {}                    # a block's content -> its name

    def block(self, inst: _Instance) -> str:
        """The name of the block an instance becomes; alike instances share one."""
        if inst.name is None:
            data, sources = self.writer.block_data(inst)
            key = json.dumps([data, {".".join(map(str, k)): v.text for k, v in sources.items()}], default=str)
            name = self.keys.get(key)
            if name is None:
                base, k = inst.scope.block[:56], 1
                name = base
                while name in self.blocks:
                    k += 1
                    name = f"{base}_{k}"
                self.keys[key] = name
                self.blocks[name] = (data, sources)
            inst.name = name
        return inst.name

    def build(self) -> Resolved:
        graph, origins = self.opened.graph, self.origins
        data: dict = {"name": graph.name}
        sources: dict = {}
        if graph.spec.description:
            data["description"] = graph.spec.description
        several = graph.spec.models is not None
        models: dict = {}
        for name, model in graph.models.items():
            self.writer = _ModelWriter(self, model)
            base = ("models", name) if several else ()
            inputs = {}
            for input_name in model.inputs:
                node = model.nodes[input_name]
                at = base + ("inputs", input_name)
                entry = {"shape": list(node.args["shape"])}
                sources[at + ("shape",)] = origins.value(at + ("shape",), (), None)
                if _raw(origins.data, at + ("dtype",)) is not _MISSING or self.defaults or \
                        node.args.get("dtype") != "float32":
                    entry["dtype"] = node.args.get("dtype")
                    sources[at + ("dtype",)] = origins.value(at + ("dtype",), (), None) \
                        if _raw(origins.data, at + ("dtype",)) is not _MISSING else Source("default", "default")
                inputs[input_name] = entry
            layers = self.writer.items(self.writer.root, base + ("layers",), sources)
            outputs = [str(ref) for ref in model.outputs]
            written = _raw(origins.data, base + ("outputs",)) is not _MISSING
            sources[base + ("outputs",)] = origins.value(base + ("outputs",), (), None) if written else \
                Source("default", "default: the last node")
            models[name] = {"inputs": inputs, "layers": layers, "outputs": outputs}
        if several:
            data["models"] = models
        else:
            data.update(next(iter(models.values())))
        ordered = dict(sorted(self.blocks.items(), key=lambda item: _order(item[0])))
        if ordered:
            data["blocks"] = {}
        for name, (block, block_sources) in ordered.items():
            data["blocks"][name] = block
            sources.update({("blocks", name) + k: v for k, v in block_sources.items()})
        train = _raw(graph.document.data, ("train",))
        if train is not _MISSING and train is not None:
            data["train"] = train
            self.train_sources(train, ("train",), sources)
        diagram = _raw(graph.document.data, ("diagram",))   # how it is drawn, as written
        if diagram is not _MISSING and diagram is not None:
            data["diagram"] = diagram
            self.train_sources(diagram, ("diagram",), sources)
        return Resolved(self.opened, data, sources, self.header())

    def train_sources(self, value: Any, at: tuple, sources: dict) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self.train_sources(item, at + (key,), sources)
            return
        sources[at] = self.origins.value(at, (), None)

    def header(self) -> list[str]:
        opened, graph = self.opened, self.opened.graph
        lines = [f"builder resolve {opened.label}{opened.command}" + (" --defaults" if self.defaults else ""),
                 "The spec the compiler sees: every ${...} filled in, every node with its final arguments and",
                 "inputs, each block instance a block of its own (alike ones share one). Each comment says where",
                 "a value came from. Parameters:"]
        lines += [f"  {name}={_text(value)}: {self.origins.trace(name, (), None)}" for name, value in graph.params.items()]
        return lines


def _order(name: str) -> tuple:
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return match[1], int(match[2] or 1)


# --- the result and its text ------------------------------------------------------------------------------

@dataclass
class Resolved:
    """A resolved spec: `data` (a spec as plain data), `sources` (data path -> Source; a layer node's path names
    it by id, as search paths do: `layers.conv1.filters`, `blocks.bottleneck.layers.conv1.filters`)."""

    opened: Opened
    data: dict
    sources: dict
    header: list[str]

    def json(self) -> dict:
        return {"spec": self.data, "sources": {".".join(map(str, k)): v.to_dict() for k, v in self.sources.items()}}

    def yaml(self) -> str:
        lines: list[tuple[str, str]] = [(f"# {line}", "") for line in self.header]
        for key, value in self.data.items():
            if key in ("name", "description"):
                lines.append((f"{key}: {_flow(value)}", ""))
            elif key == "models":
                lines.append(("models:", ""))
                for name, model in value.items():
                    lines.append((f"  {_key(name)}:", ""))
                    self.model(model, ("models", name), "    ", lines)
            elif key == "inputs":
                self.model({"inputs": value, "layers": self.data["layers"], "outputs": self.data["outputs"]}, (),
                           "", lines)
            elif key == "blocks":
                lines.append(("blocks:", ""))
                for name, block in value.items():
                    lines.append((f"  {_key(name)}:", ""))
                    for part, content in block.items():
                        if part == "layers":
                            lines.append(("    layers:", ""))
                            self.layers(content, ("blocks", name, "layers"), "      ", lines)
                        else:
                            lines.append((f"    {part}: {_flow(content)}", ""))
            elif key in ("train", "diagram"):
                lines.append((f"{key}:", ""))
                self.mapping(value, (key,), "  ", lines)
        return "".join(_line(code, comment) for code, comment in lines)

    def model(self, model: dict, at: tuple, indent: str, lines: list) -> None:
        lines.append((f"{indent}inputs:", ""))
        for name, entry in model["inputs"].items():
            comment = _combined([self.sources.get(at + ("inputs", name, key)) for key in entry])
            lines.append((f"{indent}  {_key(name)}: {_flow(entry)}", comment))
        lines.append((f"{indent}layers:", ""))
        self.layers(model["layers"], at + ("layers",), indent + "  ", lines)
        lines.append((f"{indent}outputs: {_flow(model['outputs'])}", self.comment(at + ("outputs",))))

    def comment(self, at: tuple) -> str:
        source = self.sources.get(at)
        return source.text if source is not None else ""

    def layers(self, items: list, at: tuple, indent: str, lines: list) -> None:
        for item in items:
            where = at + (item["id"],)
            node = self.sources.get(where)
            values = [k for k in item if k not in ("id", "type", "model", "block", "inputs", "repeat")]
            own = [self.sources.get(where + (k,)) for k in values]
            if "block" in item or all(s is not None and s.kind == "spec" and s.line == (node and node.line)
                                      for s in own):
                lines.append((f"{indent}- {_flow(item)}", node.text if node else ""))   # all from the node's line
                continue
            for k, (key, value) in enumerate(item.items()):
                lead = f"{indent}- " if k == 0 else f"{indent}  "
                comment = (node.text if node else "") if k == 0 else self.comment(where + (key,)) \
                    if key in values else ""
                lines.append((f"{lead}{_key(key)}: {_flow(value)}", comment))

    def mapping(self, value: dict, at: tuple, indent: str, lines: list) -> None:
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines.append((f"{indent}{_key(key)}:", ""))
                self.mapping(item, at + (key,), indent + "  ", lines)
            else:
                lines.append((f"{indent}{_key(key)}: {_flow(item)}", self.comment(at + (key,))))


def _combined(sources: list) -> str:
    texts = list(dict.fromkeys(s.text for s in sources if s is not None))
    return "; ".join(texts)


def _line(code: str, comment: str) -> str:
    if not comment:
        return code + "\n"
    comment = re.sub(r"[\x00-\x1f]+", " ", comment)
    return f"{code.ljust(COMMENT_COLUMN - 1)} # {comment}\n"


_PLAIN = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.$/-]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _scalar(value: Any) -> str:
    """A YAML 1.2 scalar that builder's loader reads back to `value`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)   # specs refuse inf and nan
    text = str(value)
    if _PLAIN.match(text) and resolve_plain_scalar(text) == text:
        return text
    if re.search(r"[\x00-\x1f\x7f\\]", text):
        return json.dumps(text)   # a double-quoted YAML scalar, escapes and all
    return "'" + text.replace("'", "''") + "'"


def _key(key: Any) -> str:
    text = str(key)
    return text if _KEY.match(text) and resolve_plain_scalar(text) == text else "'" + text.replace("'", "''") + "'"


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def resolve_spec(opened: Opened, defaults: bool = False) -> Resolved:
    """The fully expanded spec of an opened spec, every value with its source; `defaults` adds each layer's
    Keras defaults for the arguments it does not give."""
    return _Builder(opened, defaults).build()
