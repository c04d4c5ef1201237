"""`builder diff`: what differs between two specs (or two runs, or a spec and its `--set` version), node by node.

Both sides are resolved graphs, so the comparison is of what the compiler sees: a value and the
`${...}` that gives it, flow and block style, key order, an argument left out and one given at its
Keras default, `3` and `[3, 3]` for a size all compare equal.

- Nodes are matched by id through blocks and repeats: repeat k of a block use is the same place
  whether the use repeats once (`conv2.block.conv1`) or several times (`conv2.block_1.conv1`), so a
  deeper stack shows only the repeats it adds.
- Nodes left over on both sides pair as renamed when they have the same type, the same arguments
  and the same neighbours (inputs or consumers), following chains of renamed nodes.
- A changed node lists the arguments that differ with both values, a new type, or new inputs; a
  node that is the same but whose output shape or parameter count moved (a BatchNormalization after
  a widened convolution) is listed as affected. Shapes and counts come from `builder.graph.estimate`
  (no Keras); a layer it cannot count shows `?`.
- `train:` is compared setting by setting, with its defaults filled in.

Public entry points: `compare(a, b)` -> `Diff` (`.equal`, `.text()`, `.json()`, `.dot()`), where `a`
and `b` are `builder.graph.resolved.open_spec(...)` results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from builder.graph.estimate import Estimate, estimate
from builder.graph.ir import Graph, ModelGraph, Node, Ref
from builder.graph.resolved import Opened, _defaults
from builder.language.catalogue import catalogue

ADDED, REMOVED, CHANGED, RENAMED, AFFECTED = "added", "removed", "changed", "renamed", "affected"
SIGN = {ADDED: "+", REMOVED: "-", CHANGED: "~", RENAMED: ">", AFFECTED: "*"}
_MISSING = object()


@dataclass
class NodeChange:
    """One node that differs: its id on each side (None where it is not), what differs, and its size."""

    kind: str
    model: str
    a: str | None
    b: str | None
    type: str
    changes: list = field(default_factory=list)   # (what, value in A, value in B): arguments, type, inputs
    shapes: tuple = (None, None)                  # output shape in A and in B, batch axis left out
    params: tuple = (None, None)                  # parameters in A and in B (None: not there, or not counted)
    block: str | None = None                      # a whole block instance added or removed: its block's name
    nodes: int = 1                                # how many nodes it stands for
    group: str | None = None                      # a whole instance: the block use it is a repeat of
    repeats: tuple = ()                           # a whole instance: which repeats of that use it stands for

    @property
    def id(self) -> str:
        return self.b if self.b is not None else self.a

    def to_dict(self) -> dict:
        return {"change": self.kind, "model": self.model, "a": self.a, "b": self.b, "type": self.type,
                "block": self.block, "nodes": self.nodes,
                "differences": [{"what": what, "a": _plain(x), "b": _plain(y)} for what, x, y in self.changes],
                "shape": [_plain(s) for s in self.shapes], "params": list(self.params)}


@dataclass
class Diff:
    """The differences of two opened specs (`builder.graph.resolved.Opened`)."""

    a: Opened
    b: Opened
    nodes: list[NodeChange] = field(default_factory=list)        # every node that differs, model by model
    train: list[tuple] = field(default_factory=list)             # (dotted path, value in A, value in B)
    outputs: list[tuple] = field(default_factory=list)           # (model, outputs in A, outputs in B)
    models: list[tuple] = field(default_factory=list)            # (model, "added" or "removed")
    totals: dict = field(default_factory=dict)                   # model -> (params in A, params in B)
    uncounted: dict = field(default_factory=dict)                # model -> (layers A leaves out, B leaves out)
    drawing: dict = field(default_factory=dict, repr=False)      # for .dot(): model -> _Pairing

    @property
    def equal(self) -> bool:
        return not (self.nodes or self.train or self.outputs or self.models)

    def grouped(self) -> list[NodeChange]:
        """The changes with each block instance that was added or removed whole as one line."""
        out, seen = [], set()
        for change in self.nodes:
            pairing = self.drawing.get(change.model)
            whole = pairing.whole(change) if pairing is not None else None
            if whole is None:
                out.append(change)
            elif whole.id not in seen:
                seen.add(whole.id)
                last = out[-1] if out else None
                if last is not None and last.block == whole.block and last.kind == whole.kind and \
                        last.group == whole.group and last.repeats[-1] + 1 == whole.repeats[0] and \
                        last.shapes == whole.shapes and last.params == whole.params:   # repeats alike: one line
                    out[-1] = replace(whole, a=_span(last.a, whole.a), b=_span(last.b, whole.b),
                                      nodes=last.nodes + whole.nodes, repeats=last.repeats + whole.repeats)
                else:
                    out.append(whole)
        return out

    def counts(self) -> dict:
        counted: dict = {}
        for change in self.nodes:
            counted[change.kind] = counted.get(change.kind, 0) + 1
        return counted

    # -- text
    def text(self) -> str:
        lines = [f"--- {self.a.label}{_sets(self.a)}", f"+++ {self.b.label}{_sets(self.b)}"]
        for name, kind in self.models:
            lines.append(f"model {name}: {kind}")
        grouped = self.grouped()
        for model, (before, after) in self.totals.items():
            changes = [c for c in grouped if c.model == model]
            outputs = [o for o in self.outputs if o[0] == model]
            if not changes and not outputs and before == after:
                continue
            lines.append(f"model {model}: {_count(before)} -> {_count(after)} parameters ({_delta(before, after)})"
                         + _uncounted(self.uncounted.get(model)))
            width = min(max((len(_shown_id(c)) for c in changes), default=0), 48)
            for change in changes:
                lines.append(f"  {SIGN[change.kind]} {change.kind:<8} {_shown_id(change):<{width}}  "
                             + _details(change))
            for _, before_out, after_out in outputs:
                lines.append(f"  ~ outputs  {', '.join(before_out)} -> {', '.join(after_out)}")
        if self.train:
            lines.append("train:")
            for path, before, after in self.train:
                lines.append(f"  ~ {path}: {_value(before)} -> {_value(after)}")
        counts = self.counts()
        if self.equal:
            lines.append("no differences: the specs build the same model and train it alike")
        else:
            parts = [f"{counts[k]} {k}" for k in (ADDED, REMOVED, CHANGED, RENAMED, AFFECTED) if counts.get(k)]
            parts = [f"nodes: {', '.join(parts)}"] if parts else []
            parts += [f"outputs of {len(self.outputs)} model{'s' * (len(self.outputs) != 1)}"] if self.outputs else []
            parts += [f"{len(self.train)} train setting{'s' * (len(self.train) != 1)}"] if self.train else []
            before = sum(a for a, _ in self.totals.values())
            after = sum(b for _, b in self.totals.values())
            lines.append(f"{'; '.join(parts)}; parameters {_count(before)} -> {_count(after)} ({_delta(before, after)})")
        return "\n".join(lines) + "\n"

    def json(self) -> dict:
        return {"a": self.a.label, "b": self.b.label, "equal": self.equal,
                "models": [{"model": m, "change": kind} for m, kind in self.models],
                "nodes": [change.to_dict() for change in self.nodes],
                "outputs": [{"model": m, "a": a, "b": b} for m, a, b in self.outputs],
                "params": {m: {"a": a, "b": b, "delta": b - a} for m, (a, b) in self.totals.items()},
                "train": [{"path": p, "a": _plain(a), "b": _plain(b)} for p, a, b in self.train],
                "summary": self.counts()}

    # -- the drawing
    def dot(self, rankdir: str = "TB") -> str:
        """One diagram: B's graph with A's removed nodes, added nodes green, removed red, changed amber,
        block instances without a change drawn as one box."""
        from builder.graph.render import Marks, render

        models, params, shapes = {}, {}, {}
        marks = Marks()
        for name, pairing in self.drawing.items():
            models[name], params[name], shapes[name] = pairing.merged(marks)
        used = {mark[:2] for mark in list(marks.nodes.values()) + list(marks.boxes.values())}
        marks.legend = {label: style for label, style in LEGEND.items() if style in used}   # the colours drawn
        title = f"{self.a.label}{_sets(self.a)} -> {self.b.label}{_sets(self.b)}"
        b = self.b.graph
        graph = Graph(name=title, file=b.file, models=models, spec=b.spec, params=b.params, document=b.document)
        return render(graph, shapes=shapes, params=params, rankdir=rankdir, collapse=False, depth=None, marks=marks)


# fill and border of each kind in the drawing; unchanged nodes are grey, so that the changes stand out
STYLE = {ADDED: ("#C8E6C9", "#2E7D32"), REMOVED: ("#FFCDD2", "#C62828"), CHANGED: ("#FFE0B2", "#EF6C00"),
         RENAMED: ("#FFE0B2", "#EF6C00"), AFFECTED: ("#FFF8E1", "#FFB300"), "same": ("#F5F5F5", "#BDBDBD")}
LEGEND = {"added": STYLE[ADDED], "removed": STYLE[REMOVED], "changed (arguments, type, inputs, id)": STYLE[CHANGED],
          "affected (shape or parameters)": STYLE[AFFECTED], "unchanged": STYLE["same"]}


# --- matching -------------------------------------------------------------------------------------------

def key(node: Node, reader: Node | None = None) -> str:
    """A node's place through blocks and repeats: `conv2/block#1/conv1` for both `conv2.block.conv1` (a use
    of one repeat) and `conv2.block_1.conv1` (the first of several). As `reader`'s input, the last repeat of a
    use outside the reader's own instances is `#last`: the output of a stage, however deep."""
    parts, parent = [], ""
    shared = len(node.scopes)
    if reader is not None:
        shared = next((i for i, (s, r) in enumerate(zip(node.scopes, reader.scopes)) if s.id != r.id),
                      min(len(node.scopes), len(reader.scopes)))
    for i, scope in enumerate(node.scopes):
        use = scope.group[len(parent) + 1:] if parent else scope.group
        parts.append(f"{use}#{'last' if i >= shared and scope.repeat == scope.repeats else scope.repeat}")
        parent = scope.id
    parts.append(node.id[len(parent) + 1:] if parent else node.id)
    return "/".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return None if value is _MISSING else value


def _same(x: Any, y: Any) -> bool:
    """Equal as Keras reads them: `3` and `[3, 3]` for a size, a tuple and a list."""
    x, y = _plain(x), _plain(y)
    if x == y and type(x) is type(y) or (x == y and not isinstance(x, bool) and not isinstance(y, bool)):
        return True
    if isinstance(x, list) and not isinstance(y, (list, dict)) and y is not None:
        return bool(x) and all(_same(v, y) for v in x)
    if isinstance(y, list) and not isinstance(x, (list, dict)) and x is not None:
        return bool(y) and all(_same(x, v) for v in y)
    return False


def effective(node: Node) -> dict:
    """A node's arguments with its layer's Keras defaults filled in."""
    if node.op != "layer":
        return dict(node.args)
    return {**_defaults(node.type), **node.args}


def _signature(node: Node) -> str:
    return json.dumps([node.op, node.type, effective(node), node.call], sort_keys=True, default=str)


class _Pairing:
    """One model on both sides: which node is which, and what differs."""

    def __init__(self, name: str, a: ModelGraph | None, b: ModelGraph | None, sizes_a: Estimate, sizes_b: Estimate):
        self.name, self.a, self.b = name, a, b
        self.sizes_a, self.sizes_b = sizes_a, sizes_b
        a_nodes = a.nodes if a is not None else {}
        b_nodes = b.nodes if b is not None else {}
        a_keys = {key(n): n for n in a_nodes.values()}
        b_keys = {key(n): n for n in b_nodes.values()}
        self.a2b = {a_keys[k].id: b_keys[k].id for k in a_keys if k in b_keys}
        taken = set(self.a2b.values())
        for node_id in a_nodes:   # the same id from other blocks (`fire2_1` a use of its own, or repeat 1 of `fire2`)
            if node_id not in self.a2b and node_id in b_nodes and node_id not in taken:
                self.a2b[node_id] = node_id
        self.renamed: set[str] = set()
        self.rename(a_nodes, b_nodes)
        self.b2a = {v: k for k, v in self.a2b.items()}
        self.changes: list[NodeChange] = []
        self.kinds: dict[tuple[str, str], str] = {}   # ("a"/"b", node id) -> its kind
        for node in a_nodes.values():
            if node.id not in self.a2b:
                self.note(NodeChange(REMOVED, name, node.id, None, node.type, shapes=(self.shape_a(node.id), None),
                                     params=(self.count_a(node.id), None)), node)
        for node in b_nodes.values():
            if node.id in self.b2a:
                self.compare(a_nodes[self.b2a[node.id]], node)
            else:
                self.note(NodeChange(ADDED, name, None, node.id, node.type, shapes=(None, self.shape_b(node.id)),
                                     params=(None, self.count_b(node.id))), node)
        position = {("b", k): i for i, k in enumerate(b_nodes)} | {("a", k): i for i, k in enumerate(a_nodes)}
        self.changes.sort(key=lambda c: (c.kind == REMOVED, position[("a", c.a) if c.b is None else ("b", c.b)]))

    def note(self, change: NodeChange, node: Node) -> None:
        self.changes.append(change)
        self.kinds[("a" if change.b is None else "b", change.id)] = change.kind

    def shape_a(self, node_id):
        return self.sizes_a.shapes.get(self.name, {}).get(node_id)

    def shape_b(self, node_id):
        return self.sizes_b.shapes.get(self.name, {}).get(node_id)

    def count_a(self, node_id):
        return self.sizes_a.params.get(self.name, {}).get(node_id)

    def count_b(self, node_id):
        return self.sizes_b.params.get(self.name, {}).get(node_id)

    # renames: same type and arguments, same neighbours
    def rename(self, a_nodes: dict, b_nodes: dict) -> None:
        taken = set(self.a2b.values())
        removed = [n for n in a_nodes.values() if n.id not in self.a2b]
        added = [n for n in b_nodes.values() if n.id not in taken]
        if not removed or not added:
            return
        consumers_a, consumers_b = _consumers(a_nodes), _consumers(b_nodes)
        signatures = {id(n): _signature(n) for n in removed + added}
        while True:
            found = 0
            by_inputs: dict = {}
            by_consumers: dict = {}
            for node in added:
                if node.id in taken:
                    continue
                signature = signatures[id(node)]
                by_inputs.setdefault((signature, _refs(node)), []).append(node)
                by_consumers.setdefault((signature, frozenset(consumers_b[node.id])), []).append(node)
            for node in removed:   # in A's order: a chain of renamed nodes pairs in one pass
                if node.id in self.a2b:
                    continue
                signature = signatures[id(node)]
                inputs = self.mapped(node)
                users = frozenset(self.a2b.get(c) for c in consumers_a[node.id])
                candidates = [c for c in by_inputs.get((signature, inputs), []) if c.id not in taken] if \
                    inputs is not None and inputs else []
                if not candidates and users and None not in users:
                    candidates = [c for c in by_consumers.get((signature, users), []) if c.id not in taken]
                if candidates:
                    self.a2b[node.id] = candidates[0].id
                    self.renamed.add(node.id)
                    taken.add(candidates[0].id)
                    found += 1
            if not found:
                return

    def mapped(self, node: Node) -> tuple | None:
        """A node's inputs (and keyword inputs) as B's ids, or None when one of them has no counterpart."""
        refs = []
        for ref in node.inputs:
            if ref.node not in self.a2b:
                return None
            refs.append((self.a2b[ref.node], ref.index))
        named = []
        for name, value in sorted(node.kwargs.items()):
            for ref in value if isinstance(value, tuple) else (value,):
                if ref.node not in self.a2b:
                    return None
                named.append((name, self.a2b[ref.node], ref.index))
        return tuple(refs) + tuple(named)

    def compare(self, a: Node, b: Node) -> None:
        changes = []
        if (a.op, a.type) != (b.op, b.type):
            changes.append(("type", a.type, b.type))
        before, after = effective(a), effective(b)
        for name in list(before) + [k for k in after if k not in before]:
            x, y = before.get(name, _MISSING), after.get(name, _MISSING)
            if not _same(x, y):
                changes.append((name, x, y))
        for name in sorted(set(a.call) | set(b.call)):
            if bool(a.call.get(name)) != bool(b.call.get(name)):
                changes.append((f"call.{name}", a.call.get(name, _MISSING), b.call.get(name, _MISSING)))
        if not self.same_inputs(a, b):
            changes.append(("inputs", self.shown_inputs(a), _shown_refs(b)))
        shapes = (self.shape_a(a.id), self.shape_b(b.id))
        params = (self.count_a(a.id), self.count_b(b.id))
        kind = RENAMED if a.id in self.renamed and not changes else CHANGED if changes or a.id in self.renamed \
            else AFFECTED if shapes[0] != shapes[1] or params[0] != params[1] else None
        if kind is not None:
            self.note(NodeChange(kind, self.name, a.id, b.id, b.type, changes, shapes, params), b)

    def same_inputs(self, a: Node, b: Node) -> bool:
        """Whether two paired nodes read the same: each input the counterpart of the other's, or at the same
        place, a use's last repeat as `#last` (a node that reads a stage reads the same whether the stage
        repeats 5 or 35 times)."""
        reads_a, reads_b = _reads(a), _reads(b)
        if [(name, ref.index) for name, ref in reads_a] != [(name, ref.index) for name, ref in reads_b]:
            return False
        for (_, x), (_, y) in zip(reads_a, reads_b):
            if self.a2b.get(x.node) == y.node:
                continue
            if key(self.a.nodes[x.node], a) != key(self.b.nodes[y.node], b):
                return False
        return True

    def shown_inputs(self, node: Node) -> list[str]:
        return [str(Ref(self.a2b.get(ref.node, ref.node), ref.index)) for ref in node.sources]

    # whole block instances, for the text
    def whole(self, change: NodeChange) -> NodeChange | None:
        """The outermost block instance around an added, removed or affected node whose every node was added,
        removed or affected alike, as one change; None when there is none."""
        if change.kind not in (ADDED, REMOVED, AFFECTED):
            return None
        side = "a" if change.kind == REMOVED else "b"
        node = (self.a if side == "a" else self.b).nodes[change.id]
        for scope in node.scopes:
            members = self.members(side).get(scope.id, [])
            if len(members) > 1 and all(self.kinds.get((side, m)) == change.kind for m in members):
                before = [self.b2a[m] for m in members] if change.kind == AFFECTED else members
                counts_a = [self.count_a(m) for m in before] if change.kind != ADDED else []
                counts_b = [self.count_b(m) for m in members] if side == "b" else []
                totals = tuple(None if None in counts or not counts else sum(counts) for counts in (counts_a, counts_b))
                shapes = (self.shape_a(before[-1]) if change.kind != ADDED else None,
                          self.shape_b(members[-1]) if side == "b" else None)
                return NodeChange(change.kind, self.name, scope.id if change.kind != ADDED else None,
                                  scope.id if side == "b" else None, scope.block, shapes=shapes, params=totals,
                                  block=scope.block, nodes=len(members), group=scope.group, repeats=(scope.repeat,))
        return None

    def members(self, side: str) -> dict:
        cache = "_members_" + side
        if not hasattr(self, cache):
            found: dict = {}
            for node in (self.b if side == "b" else self.a).nodes.values():
                for scope in node.scopes:
                    found.setdefault(scope.id, []).append(node.id)
            setattr(self, cache, found)
        return getattr(self, cache)

    # the drawing
    def merged(self, marks) -> tuple[ModelGraph, dict, dict]:
        """B's model with A's removed nodes put in, their marks, parameter counts and shapes for `render`."""
        base = self.b if self.b is not None else self.a
        nodes = dict(self.b.nodes) if self.b is not None else {}
        shapes = {k: _batch(v) for k, v in self.sizes_b.shapes.get(self.name, {}).items()} if self.b else {}
        params = dict(self.sizes_b.params.get(self.name, {})) if self.b else {}
        removed = {}
        if self.a is not None:
            for node in self.a.nodes.values():
                if node.id not in self.a2b:
                    removed[node.id] = node.id if node.id not in nodes else f"{node.id} (removed)"

            def moved(ref: Ref) -> Ref:
                return Ref(self.a2b.get(ref.node) or removed[ref.node], ref.index)

            for node in self.a.nodes.values():
                if node.id in removed:
                    new = removed[node.id]
                    kwargs = {k: tuple(moved(r) for r in v) if isinstance(v, tuple) else moved(v)
                              for k, v in node.kwargs.items()}
                    nodes[new] = replace(node, id=new, inputs=tuple(moved(r) for r in node.inputs), kwargs=kwargs)
                    shapes[new] = _batch(self.shape_a(node.id))
                    if self.count_a(node.id) is not None:
                        params[new] = self.count_a(node.id)
        by_b = {c.b: c for c in self.changes if c.b is not None}
        for node_id, node in nodes.items():
            change = by_b.get(node_id) if node_id not in removed.values() or self.b is None else None
            kind = REMOVED if node_id in removed.values() else change.kind if change else "same"
            lines = []
            if change is not None and change.kind == RENAMED or (change and change.a and change.a != change.b):
                lines.append(f"was {change.a}")
            if change is not None:
                lines += [f"{what}: {_value(x)} -> {_value(y)}" for what, x, y in change.changes if what != "inputs"]
                lines += ["inputs changed"] * any(what == "inputs" for what, _, _ in change.changes)
                if kind in (CHANGED, AFFECTED, RENAMED) and change.params[0] != change.params[1]:
                    lines.append(f"params {_count(change.params[0])} -> {_count(change.params[1])}")
            marks.nodes[(self.name, node_id)] = (*STYLE[kind], [kind] * (kind in (ADDED, REMOVED)) + lines)
        # block instances whose nodes are all unchanged, all added or all removed: one box each
        kinds: dict[str, set] = {}
        for node_id, node in nodes.items():
            for scope in node.scopes:
                kinds.setdefault(scope.id, set()).add(marks.nodes[(self.name, node_id)][:2])
        for scope_id, styles in kinds.items():
            if len(styles) == 1 and next(iter(styles)) in (STYLE["same"], STYLE[ADDED], STYLE[REMOVED]):
                fill, border = next(iter(styles))
                label = {STYLE[ADDED]: ["added"], STYLE[REMOVED]: ["removed"]}.get((fill, border), [])
                marks.boxes[scope_id] = (fill, border, label)
        outputs = base.outputs
        return ModelGraph(self.name, base.inputs, nodes, outputs, base.location), params, shapes


def _batch(shape):
    if shape is None:
        return None
    if isinstance(shape, list):
        return [(None,) + tuple(s) for s in shape]
    return (None,) + tuple(shape)


def _consumers(nodes: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {k: [] for k in nodes}
    for node in nodes.values():
        for ref in node.sources:
            if ref.node in found:
                found[ref.node].append(node.id)
    return found


def _refs(node: Node) -> tuple:
    named = tuple((name, ref.node, ref.index) for name, value in sorted(node.kwargs.items())
                  for ref in (value if isinstance(value, tuple) else (value,)))
    return tuple((ref.node, ref.index) for ref in node.inputs) + named


def _reads(node: Node) -> list[tuple]:
    """(keyword or None, Ref) of each input, keyword inputs by name."""
    named = sorted(((name, ref) for name, value in node.kwargs.items()
                    for ref in (value if isinstance(value, tuple) else (value,))), key=lambda item: item[0])
    return [(None, ref) for ref in node.inputs] + named


def _shown_refs(node: Node) -> list[str]:
    return [str(ref) for ref in node.sources]


# --- train --------------------------------------------------------------------------------------------

def _flat(value: Any, path: str, out: dict) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat(v, f"{path}.{k}", out)
    else:
        out[path] = value


def _train(graph: Graph) -> tuple[dict, set]:
    """The train settings by dotted path, an optimizer's arguments left out at their Keras defaults (`{type:
    adam}` is adam with learning_rate 0.001), and the paths so filled in."""
    train = graph.spec.train.model_dump(mode="json", by_alias=True) if graph.spec.train is not None else {}
    filled = set()
    for group in (train, train.get("optimizers") or {}):   # `optimizer: adam` is `{type: adam}`
        for key, value in group.items():
            if (group is not train or key == "optimizer") and isinstance(value, str):
                group[key] = {"type": value}
    optimizers = [("optimizer", train.get("optimizer"))] + \
        [(f"optimizers.{k}", v) for k, v in (train.get("optimizers") or {}).items()]
    for where, optimizer in optimizers:
        if isinstance(optimizer, dict) and optimizer.get("type") in catalogue().optimizers:
            for name, entry in catalogue().optimizers[optimizer["type"]].items():
                if optimizer.get(name) is None and "default" in entry:
                    optimizer[name] = entry["default"]
                    filled.add(f"train.{where}.{name}")
    out: dict = {}
    _flat(train, "train", out)
    return out, filled


def _train_changes(a: Graph, b: Graph) -> list[tuple]:
    (before, filled_a), (after, filled_b) = _train(a), _train(b)
    changes = []
    for path in list(before) + [p for p in after if p not in before]:
        x, y = before.get(path, _MISSING), after.get(path, _MISSING)
        if (x is _MISSING and path in filled_b) or (y is _MISSING and path in filled_a):
            continue   # a default of one optimizer that the other does not take (adam's beta_1 against sgd)
        if not _same(x, y):
            changes.append((path, x, y))
    return changes


# --- text -----------------------------------------------------------------------------------------------

def _sets(opened: Opened) -> str:
    sets = " ".join(f"--set {k}={v}" for k, v in opened.graph.overrides.items())
    return f" ({sets})" if sets else ""


def _count(n) -> str:
    return "?" if n is None else f"{n:,}"


def _delta(before, after) -> str:
    if before is None or after is None:
        return "?"
    return f"{after - before:+,}"


def _uncounted(pair) -> str:
    if not pair or not any(pair):
        return ""
    return f"; layers not counted: {', '.join(sorted(set(pair[0]) | set(pair[1])))}"


def _value(value: Any) -> str:
    if value is _MISSING:
        return "(not given)"
    value = _plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return " | ".join(_shape(s) for s in shape)
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def _span(first: str | None, last: str | None) -> str | None:
    """`conv4.block_6` to `conv4.block_35` -> `conv4.block_6..35`, when only the repeat number differs."""
    if first is None or last is None:
        return None
    first = first.split("..")[0]
    stem = first.rsplit("_", 1)[0]
    return f"{first}..{last[len(stem) + 1:]}" if last.startswith(stem + "_") else f"{first}..{last}"


def _shown_id(change: NodeChange) -> str:
    if change.kind in (RENAMED, CHANGED) and change.a != change.b and change.a and change.b:
        return f"{change.a} -> {change.b}"
    return change.id


def _details(change: NodeChange) -> str:
    if change.block is not None and change.kind == AFFECTED:
        each = len(change.repeats)
        text = f"{each} repeats of block {change.block}, {change.nodes // each} nodes each" if each > 1 else \
            f"block {change.block}: {change.nodes} nodes"
        parts = [text + (" affected" if each == 1 else ", each affected")]
        if change.shapes[0] != change.shapes[1]:
            parts.append(f"out {_shape(change.shapes[0])} -> {_shape(change.shapes[1])}")
        if change.params[0] != change.params[1]:
            parts.append(f"params {_count(change.params[0])} -> {_count(change.params[1])}")
        return "; ".join(parts)
    if change.block is not None:
        count = change.params[1] if change.kind == ADDED else change.params[0]
        shape = change.shapes[1] if change.kind == ADDED else change.shapes[0]
        sign = "+" if change.kind == ADDED else "-"
        if len(change.repeats) > 1:   # alike repeats: each as much
            return (f"{len(change.repeats)} repeats of block {change.block}, {change.nodes // len(change.repeats)} "
                    f"nodes each, out {_shape(shape)}, {sign}{_count(count)} params each")
        return f"block {change.block}: {change.nodes} nodes, out {_shape(shape)}, {sign}{_count(count)} params"
    parts = [change.type]
    parts += [f"{what}: {_value(x)} -> {_value(y)}" for what, x, y in change.changes]
    before, after = change.shapes
    if change.kind == ADDED:
        parts.append(f"out {_shape(after)}, +{_count(change.params[1])} params")
    elif change.kind == REMOVED:
        parts.append(f"out {_shape(before)}, -{_count(change.params[0])} params")
    else:
        if before != after:
            parts.append(f"out {_shape(before)} -> {_shape(after)}")
        if change.params[0] != change.params[1]:
            parts.append(f"params {_count(change.params[0])} -> {_count(change.params[1])} "
                         f"({_delta(*change.params)})")
    return "; ".join(parts)


# --- the comparison ---------------------------------------------------------------------------------------

def compare(a: Opened, b: Opened) -> Diff:
    """What differs between two opened specs: nodes model by model, outputs, parameters and train settings."""
    result = Diff(a, b)
    sizes_a, sizes_b = estimate(a.graph), estimate(b.graph)
    models_a, models_b = a.graph.models, b.graph.models
    if a.graph.spec.models is None and b.graph.spec.models is None:   # one model each: the same, whatever its name
        pairs = [(list(models_b)[0], list(models_a.values())[0], list(models_b.values())[0])]
        if list(models_a)[0] != list(models_b)[0]:
            sizes_a = _renamed_estimate(sizes_a, list(models_a)[0], list(models_b)[0])
    else:
        pairs = [(name, models_a.get(name), models_b.get(name)) for name in models_b]
        pairs += [(name, model, None) for name, model in models_a.items() if name not in models_b]
    for name, model_a, model_b in pairs:
        if model_a is None or model_b is None:
            result.models.append((name, ADDED if model_a is None else REMOVED))
        pairing = _Pairing(name, model_a, model_b, sizes_a, sizes_b)
        result.drawing[name] = pairing
        result.nodes += pairing.changes
        before = sum(sizes_a.params.get(name, {}).values()) if model_a is not None else 0
        after = sum(sizes_b.params.get(name, {}).values()) if model_b is not None else 0
        result.totals[name] = (before, after)
        result.uncounted[name] = (list(sizes_a.uncounted.get(name, {}).values()),
                                  list(sizes_b.uncounted.get(name, {}).values()))
        if model_a is not None and model_b is not None:
            outs_a = [str(Ref(pairing.a2b.get(r.node, r.node), r.index)) for r in model_a.outputs]
            outs_b = [str(r) for r in model_b.outputs]
            if outs_a != outs_b:
                result.outputs.append((name, [str(r) for r in model_a.outputs], outs_b))
    result.train = _train_changes(a.graph, b.graph)
    return result


def _renamed_estimate(sizes: Estimate, old: str, new: str) -> Estimate:
    return Estimate(params={new: sizes.params.get(old, {})}, shapes={new: sizes.shapes.get(old, {})},
                    uncounted={new: sizes.uncounted.get(old, {})})
