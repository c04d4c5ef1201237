"""Stage 3, render: a resolved `Graph` -> a Graphviz drawing of the architecture.

Nodes are rounded boxes coloured by layer family (with a legend of the
families present), showing id, type, the arguments that matter and, when the
caller knows them, parameter counts; edges carry tensor shapes. Block
instances are (nested) clusters, repeats of one block use can collapse into one
cluster marked `xN` ("first of N", with the parameters of all N), block
instances deeper than `depth` become single boxes (`auto_depth` picks a depth for
big graphs), and with several models each model is a cluster, a call to another
model being a box with a dashed edge to the called model's cluster. The spec's
`diagram:` section (`builder.graph.diagram.Diagram`, render's flags over it) picks
the facts in each box, colours and shapes per layer type or tag (the legend
listing those drawn), layers folded into the one before, depth, collapse and
direction.

The DOT text is written here by hand, so every user string (ids, argument
values, block parameters) goes through `_escape` and labels stay plain text
(never HTML labels; the only user-chosen attributes are a `diagram:` section's colours
and shapes, names parse checked, quoted too); the output is byte-identical
for the same spec. This module never imports Keras: shapes and parameter counts
come from the caller (`builder.model.shapes.shapes_without_weights(graph)` gives both
as `.shapes` and `.params`, allocating no weight); without them, parameter counts come from
`builder.graph.estimate`, a pure-Python pass, and the title says it is an estimate.

Public entry point: `render(graph, ...)` -> DOT text; `write(dot_text, path)`
turns it into .svg/.png/.pdf with Graphviz's `dot` (or writes .dot as is).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from builder.errors import CommandError
from builder.graph.cost import cost, si
from builder.graph.diagram import Diagram, folds
from builder.graph.estimate import estimate
from builder.graph.ir import Graph, ModelGraph, Node, Scope
from builder.language.catalogue import catalogue
from builder.language.spec.diagram import FIELDS, field_problem

AUTO_COLLAPSE_NODES = 150   # above this many nodes, repeats collapse unless asked not to
# Without --depth, a drawing of more boxes than this is drawn shallower. Measured with dot at 144 dpi,
# a box in a chain takes ~130 px of height (~160 with shapes on the edges): 40 boxes stay under ~6,000
# px, where the library's big networks drawn whole reach 8,500-27,500 px (ResNet50/152: 98 boxes,
# 1376x15260; EfficientNetB0: 164 boxes, 1336x27514) and their depth-1 or depth-0 drawings 2,800-5,900.
AUTO_DEPTH_BOXES = 40
DOT_TIMEOUT_S = 60          # dot can run for hours on huge graphs
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
INSTALL_HINT = "sudo apt-get install graphviz (macOS: brew install graphviz)"
VALUE_CHARS = 28            # the longest argument value shown before it is cut
LINE_CHARS = 34             # arguments wrap onto a new line past this width
MAX_LINES = 7               # a label shows at most this many lines

# legend label and (fill, border) colours per family; several families share a legend entry
FAMILY_STYLE = {
    "input": ("input / output", "#C8E6C9", "#66BB6A"),
    "convolution": ("convolution", "#BBDEFB", "#42A5F5"),
    "dense": ("dense / embedding", "#FFE0B2", "#FFA726"),
    "recurrent": ("recurrent", "#F8BBD0", "#EC407A"),
    "attention": ("attention", "#E1BEE7", "#AB47BC"),
    "normalization": ("normalization", "#FFF59D", "#FBC02D"),
    "pooling": ("pooling", "#B2EBF2", "#26C6DA"),
    "merge": ("merge", "#D7CCC8", "#8D6E63"),
    "activation": ("activation / dropout", "#F0F4C3", "#C0CA33"),
    "reshape": ("reshape", "#CFD8DC", "#78909C"),
    "preprocessing": ("preprocessing", "#DCEDC8", "#8BC34A"),
    "builder": ("builder layer", "#FFCCBC", "#FF7043"),
    "model": ("model call", "#C5CAE9", "#5C6BC0"),
    "block": ("block", "#ECEFF1", "#90A4AE"),
    "other": ("other", "#FFFFFF", "#9E9E9E"),
}
FAMILY_ALIASES = {"output": "input", "regularization": "activation"}

# the arguments worth a place in a label, in the order shown
SHOWN_ARGS = ("units", "filters", "kernel_size", "strides", "pool_size", "padding", "dilation_rate",
              "depth_multiplier", "groups", "num_heads", "num_query_heads", "num_key_value_heads", "key_dim",
              "head_dim", "value_dim", "input_dim", "output_dim", "equation", "output_shape", "target_shape",
              "dims", "size", "cropping", "n", "axis", "rate", "stddev", "negative_slope", "max_value",
              "num_groups", "return_sequences", "return_state", "go_backwards", "dropout", "recurrent_dropout",
              "layer", "merge_mode", "activation", "use_bias")
CLUSTER_FILLS = ("#F5F7FA", "#EBEFF4", "#E1E7EE", "#D7DFE8")   # deeper blocks, darker fill

GRAPH_STYLE = ('fontname="Helvetica", fontsize=13, fontcolor="#37474F", compound=true, newrank=true, '
               'nodesep=0.3, ranksep=0.35, pad=0.3, bgcolor="white", labelloc=t')
NODE_STYLE = ('shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, fontcolor="#263238", '
              'penwidth=1.1, margin="0.14,0.06"')
EDGE_STYLE = 'color="#90A4AE", penwidth=1.1, arrowsize=0.6, fontname="Helvetica", fontsize=9, fontcolor="#607D8B"'


class RenderError(CommandError):
    """The drawing could not be written (no `dot`, an unknown format, `dot` failing or timing out)."""


@dataclass
class Marks:
    """Colours a caller gives instead of the families' (`builder diff`): `nodes` {(model, node id): (fill, border,
    extra label lines)}, `boxes` {block instance id: (fill, border, lines)} drawn as one box whatever the depth,
    and `legend` {label: (fill, border)} in place of the families' legend."""

    nodes: dict = field(default_factory=dict)
    boxes: dict = field(default_factory=dict)
    legend: dict = field(default_factory=dict)


# --- text -------------------------------------------------------------------------------------------

_SPECIAL = re.compile(r'[\\"{}|<>]')


def _escape(text: str) -> str:
    """Make any text safe inside a quoted DOT string and a plain or record label."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text))   # newlines, tabs: no line break a user controls
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _quote(text: str) -> str:
    return '"' + _escape(text) + '"'


def _label(lines: list[str]) -> str:
    """A multi-line label from raw lines: each line escaped, at most MAX_LINES."""
    lines = [line for line in lines if line]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + ["..."]
    return '"' + "\\n".join(_escape(line) for line in lines) + '"'


def _cut(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _value(value) -> str:
    """An argument value as short text: 5x5 for sizes, true/false, nested layers by type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, int) and not isinstance(v, bool) or v is None for v in value):
            return _cut("x".join("?" if v is None else str(v) for v in value))
        return _cut("[" + ", ".join(_value(v) for v in value) + "]")
    if isinstance(value, dict):
        if "type" in value:   # a wrapped layer (Bidirectional, TimeDistributed)
            inner = [f"{k}={_value(v)}" for k, v in value.items() if k in SHOWN_ARGS]
            return _cut(f"{value['type']}({', '.join(inner)})")
        return _cut("{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}")
    return _cut(str(value))


def _same(value, default) -> bool:
    """An argument equal to its default, counting `1` equal to `[1, 1]`."""
    if value == default:
        return True
    if isinstance(default, (list, tuple)) and not isinstance(value, (list, tuple)):
        return all(d == value for d in default)
    return False


def _shape(shape) -> str:
    """(None, 28, 28, 6) -> 28x28x6: batch axis dropped, ? for unknown sizes."""
    dims = list(shape)[1:]
    return "x".join("?" if d is None else str(d) for d in dims) if dims else "scalar"


def _count(n: int) -> str:
    return f"{n:,} param{'s' * (n != 1)}"


def _wrap(parts: list[str]) -> list[str]:
    lines, current = [], ""
    for part in parts:
        if current and len(current) + 2 + len(part) > LINE_CHARS:
            lines.append(current)
            current = part
        else:
            current = f"{current}  {part}" if current else part
    return lines + [current] if current else lines


def _argument_parts(node: Node) -> list[tuple[str, str]]:
    """(name, text) of the arguments that matter: SHOWN_ARGS not at their default, and the call flags set."""
    info = catalogue().layer(node.type) if node.op == "layer" else None
    declared = info.args if info else {}
    parts = []
    for name in SHOWN_ARGS:
        if name in node.args:
            value = node.args[name]
            if "default" in declared.get(name, {}) and _same(value, declared[name]["default"]):
                continue
            parts.append((name, f"{name}={_value(value)}"))
    return parts + [(name, name) for name, on in node.call.items() if on]


def _arguments(node: Node) -> list[str]:
    return _wrap([text for _, text in _argument_parts(node)])


IMPLIED = {"dtype": "float32"}   # what an argument left at None means (Keras' default dtype policy)


def _named(node: Node, name: str) -> str | None:
    """`name=value` for a diagram field naming an argument: the node's value, else the layer's default; None when
    the layer has no such argument."""
    info = catalogue().layer(node.type)
    entry = info.args.get(name, {}) if info else {}
    if name in node.args:
        value = node.args[name]
    elif "default" in entry:
        value = entry["default"]
    elif "default_text" in entry:
        return f"{name}={_cut(entry['default_text'])}"
    else:
        return None
    return f"{name}={_value(IMPLIED.get(name) if value is None and name in IMPLIED else value)}"


def _folded(node: Node) -> str:
    """How a node drawn inside the one before reads: `+ relu` for an Activation, else `+ Type`."""
    if node.type == "Activation" and isinstance(node.args.get("activation"), str):
        return "+ " + node.args["activation"]
    return "+ " + node.type


def _local(qualified: str, parent: Scope | None) -> str:
    """An id without its enclosing instance's prefix: `stage1_2.conv_a` in `stage1_2` -> `conv_a`."""
    prefix = parent.id + "." if parent else ""
    return _cut(qualified[len(prefix):] if qualified.startswith(prefix) else qualified, 40)


def _scope_params(scope: Scope, repeats: dict | None = None) -> list[str]:
    """`filters=64  stride=2`; for collapsed repeats, a value that varies reads `stride=2/1/1/...`."""
    parts = []
    for name, value in scope.params:
        values = [dict(params).get(name) for _, params in sorted(repeats.items())] if repeats else [value]
        if any(v != values[0] for v in values):
            shown = values if len(values) <= 4 else values[:3]
            text = "/".join(_value(v) for v in shown) + ("/..." if len(shown) < len(values) else "")
        else:
            text = _value(value)
        parts.append(f"{name}={_cut(text)}")
    return parts


# --- the drawing ----------------------------------------------------------------------------------

class _Cluster:
    """A block instance in the drawing: its nodes, boxes and inner instances, in the order first met."""

    def __init__(self, scope: Scope | None):
        self.scope = scope
        self.items: list = []           # node statements (str), _Boxes and inner _Clusters
        self.children: dict = {}        # scope id -> _Cluster


class _Box:
    """A block instance nested deeper than `depth`, drawn as one node."""

    def __init__(self, dot_id: str, scope: Scope, parent: Scope | None, scopes: tuple = ()):
        self.dot_id, self.scope, self.parent = dot_id, scope, parent
        self.scopes = scopes or (scope,)   # the instances it sits in, outermost first, itself last (for its tags)
        self.members = 0


class _Drawing:
    """The DOT text of one graph; one instance per `render` call."""

    def __init__(self, graph: Graph, shapes: dict, params: dict, rankdir: str, collapse: bool, depth,
                 search: tuple[dict, list] | None = None, uncounted: dict | None = None):
        self.graph, self.shapes, self.params = graph, shapes, params
        self.macs: dict = {}   # {model: {node: MACs or None}} when the labels show them ("macs" in diagram.show)
        self.marks: Marks | None = None   # render's `marks`
        self.diagram = Diagram()          # render's `diagram`: fields, styles, folding, legend
        self.used: dict = {}              # (kind, name) -> NodeStyle of the type and tag styles drawn, for the legend
        self.chains: dict = {}            # node id -> the nodes drawn inside it (`fold`), in the model drawn
        self.fold_root: dict = {}         # folded node id -> the node it is drawn in
        # uncounted: {model: {node: type}} when `params` is builder.graph.estimate's (None: counted by Keras)
        self.uncounted = uncounted
        self.search_notes, self.search_lines = search or ({}, [])
        self.rankdir, self.collapse, self.depth = rankdir, collapse, depth
        self.families: dict[str, None] = {}     # families drawn (a dict: no hash order anywhere)
        self.clusters = 0
        self.model_cluster = {name: f"cluster_m{i}" for i, name in enumerate(graph.models)}
        # a call to a model points at the model's first input, clipped at its cluster (lhead)
        self.model_entry = {name: self.node_id(name, m.inputs[0]) for name, m in graph.models.items() if m.inputs}

    def dot(self) -> str:
        several = len(self.graph.models) > 1
        total = sum(self.total(m) for m in self.graph.models.values())
        title = self.graph.name + self.size(total, [t for m in (self.uncounted or {}).values() for t in m.values()])
        lines = [f"digraph {_quote(self.graph.name)} {{",
                 f"  graph [{GRAPH_STYLE}, rankdir={self.rankdir}, label={_label([title])}];",
                 f"  node [{NODE_STYLE}];", f"  edge [{EDGE_STYLE}];"]
        calls: list[str] = []
        for i, model in enumerate(self.graph.models.values()):
            body = self.model(model, i, calls)
            if several:
                own = self.total(model)
                label = model.name + self.size(own, list((self.uncounted or {}).get(model.name, {}).values()))
                lines += [f"  subgraph {self.model_cluster[model.name]} {{",
                          f'    graph [label={_label([label])}, style="rounded", color="#78909C", penwidth=1.4, '
                          f'fontsize=14, labeljust=l, margin=14];']
                lines += ["  " + line for line in body] + ["  }"]
            else:
                lines += body
        return "\n".join(lines + calls + self.search_box() + self.legend() + ["}"]) + "\n"

    def search_box(self) -> list[str]:
        """A note listing the search dimensions that belong to no node (train settings)."""
        if not self.search_lines:
            return []
        return [f'  "search" [label={_label(["search space", *self.search_lines])}, shape=note, style=filled, '
                f'fillcolor="#FFF8E1", color="#C62828", fontsize=9];']

    def total(self, model: ModelGraph) -> int:
        counts = self.params.get(model.name, {})
        return sum(counts.get(n, 0) for n in model.nodes)

    def size(self, total: int, uncounted: list[str]) -> str:
        """`  (1,234 params)` after a title; an estimate says so, and names the layer types it left out."""
        if self.uncounted is None:
            return f"  ({_count(total)})" if total else ""
        if not total and not uncounted:
            return ""
        text = f"~{_count(total)}, estimated"
        if uncounted:
            kinds = sorted(set(uncounted))
            text += (f"; {len(uncounted)} layer{'s' * (len(uncounted) != 1)} not counted: "
                     + ", ".join(kinds[:3]) + (", ..." if len(kinds) > 3 else ""))
        return f"  ({text})"

    def sums(self, model: ModelGraph) -> None:
        """Parameters per block instance and per repeated use (all its repeats), and which hold an uncounted layer."""
        counts = self.params.get(model.name, {})
        missing = (self.uncounted or {}).get(model.name, {})
        self.scope_params: dict[str, int] = {}
        self.scope_missing: set[str] = set()
        for node in model.nodes.values():
            for key in {k for s in node.scopes for k in (s.id, "group:" + s.group)}:
                self.scope_params[key] = self.scope_params.get(key, 0) + counts.get(node.id, 0)
                if node.id in missing:
                    self.scope_missing.add(key)

    def scope_count(self, scope: Scope) -> str:
        """The parameters a cluster or box stands for: `1,234 params`, of all repeats when collapsed."""
        key = "group:" + scope.group if self.collapsed(scope) else scope.id
        count = self.scope_params.get(key, 0)
        if not count:
            return ""
        text = ("at least " if key in self.scope_missing else "") + _count(count)
        return text + (f" in all {scope.repeats}" if self.collapsed(scope) else "")

    def node_id(self, model: str, node: str) -> str:
        return _quote(f"{model}/{node}")

    # -- one model
    def model(self, model: ModelGraph, index: int, calls: list[str]) -> list[str]:
        """The model's node, cluster and edge lines; dashed edges to called models go to `calls`."""
        self.current, self.index = model, index
        self.first, self.repeat_params = self.collapsed_groups(model)
        self.folding(model)
        self.sums(model)
        root = _Cluster(None)
        shown = self.place_nodes(model, root)
        edges: dict[tuple, str] = {}    # (tail, head, output index) -> shape label, in the order met
        for node in model.nodes.values():
            for ref in node.sources:
                tail, head = shown[ref.node], shown[node.id]
                if tail != head and not self.across_repeats(model.nodes[ref.node], node):
                    edges.setdefault((tail, head, ref.index), self.shape_label(ref.node, ref.index))
        for k, ref in enumerate(model.outputs):   # a terminal per output, so its shape has an edge to sit on
            out_id = self.node_id(model.name, f"output:{k}")
            name = "output" if len(model.outputs) == 1 else f"output {k + 1}"
            root.items.append(f'{out_id} [label={_label([name])}, {self.style("input")}, style="rounded,filled,bold"];')
            edges.setdefault((shown[ref.node], out_id, ref.index), self.shape_label(ref.node, ref.index))
        body = self.cluster_lines(root, 1)
        for (tail, head, _), label in edges.items():
            body.append(f"  {tail} -> {head}" + (f" [label={_label([label])}]" if label else "") + ";")
        for node in model.nodes.values():
            if node.op == "model" and node.type in self.model_entry:
                line = (f"  {shown[node.id]} -> {self.model_entry[node.type]} [lhead={self.model_cluster[node.type]}, "
                        f'style=dashed, color="{FAMILY_STYLE["model"][2]}", arrowhead=empty];')
                if line not in calls:
                    calls.append(line)
        return body

    def place_nodes(self, model: ModelGraph, root: _Cluster) -> dict[str, str]:
        """Put each drawn node or box in its cluster; return node id -> the DOT id it is drawn as."""
        shown: dict[str, str] = {}
        boxes: dict[str, _Box] = {}
        for node in model.nodes.values():
            rep = model.nodes[self.representative(node.id, model.nodes)]
            level = self.box_level(rep)
            if level is not None:
                scope = rep.scopes[level]
                if scope.id not in boxes:
                    boxes[scope.id] = _Box(self.node_id(model.name, "block:" + scope.id), scope,
                                           rep.scopes[level - 1] if level else None, rep.scopes[:level + 1])
                    self.cluster_for(root, rep.scopes[:level]).items.append(boxes[scope.id])
                shown[node.id] = boxes[scope.id].dot_id
                if rep is node:
                    boxes[scope.id].members += 1
                continue
            drawn = self.fold_root.get(rep.id, rep.id)   # a folded node is drawn in the node before it
            shown[node.id] = self.node_id(model.name, drawn)
            if rep is node and drawn == node.id:
                self.cluster_for(root, node.scopes).items.append(self.node_statement(node))
        return shown

    def folding(self, model: ModelGraph) -> None:
        """The nodes of `model` drawn inside the node before them (`diagram.fold`); never a node a search or a
        diff marks, whose own box carries that news."""
        keep = {node for m, node in self.search_notes if m == model.name}
        keep |= {node for m, node in (self.marks.nodes if self.marks is not None else {}) if m == model.name}
        self.chains = folds(model, self.diagram.fold, keep)
        self.fold_root = {member: root for root, members in self.chains.items() for member in members}

    def box_level(self, node: Node) -> int | None:
        """The level of the block instance a node is drawn in as one box: past `depth`, or one `marks` boxes."""
        levels = [i for i, s in enumerate(node.scopes) if self.marks is not None and s.id in self.marks.boxes][:1]
        if self.depth is not None and len(node.scopes) > self.depth:
            levels.append(self.depth)
        return min(levels) if levels else None

    def paint(self, family: str, mark: tuple | None, styles: list = ()) -> str:
        """A node's colours (and shape): the caller's mark; else its family's with the `diagram` styles that apply
        over them (`Diagram.style_for`, weakest first). The family and each style that shows are noted for the
        legend."""
        if mark is not None:
            return f'fillcolor="{mark[0]}", color="{mark[1]}"'
        if not styles:
            return self.style(family)
        family = FAMILY_ALIASES.get(family, family)
        family = family if family in FAMILY_STYLE else "other"
        values = {"fill": FAMILY_STYLE[family][1], "border": FAMILY_STYLE[family][2]}
        owner = {"fill": ("family", family), "border": ("family", family)}
        for kind, name, style in styles:
            for key in ("fill", "border", "shape"):
                if getattr(style, key) is not None:
                    values[key], owner[key] = getattr(style, key), (kind, name, style)
        for who in owner.values():
            if who[0] == "family":
                self.families.setdefault(family)
            else:
                self.used.setdefault(who[:2], who[2])
        attrs = f"fillcolor={_quote(values['fill'])}, color={_quote(values['border'])}"
        return attrs + (f", shape={_quote(values['shape'])}" if "shape" in values else "")

    # -- collapsing repeats
    def collapsed_groups(self, model: ModelGraph) -> tuple[dict, dict]:
        """group -> the scope id of its first repeat, and group -> {repeat: params}, for collapsed groups."""
        first: dict[str, str] = {}
        repeat_params: dict[str, dict] = {}
        members: dict[str, list] = {}
        if not self.collapse:
            return first, repeat_params
        for node in model.nodes.values():
            for scope in node.scopes:
                if scope.repeats > 1:
                    members.setdefault(scope.group, []).append(node)
                    repeat_params.setdefault(scope.group, {})[scope.repeat] = scope.params
                    if scope.repeat == 1:
                        first[scope.group] = scope.id
        # a group collapses only if each node of a later repeat has a twin in the first
        # (a nested `repeat: ${n}` can differ from repeat to repeat)
        for group in list(first):
            for node in members[group]:
                scope = next(s for s in node.scopes if s.group == group)
                if scope.repeat != 1 and first[group] + node.id[len(scope.id):] not in model.nodes:
                    del first[group]
                    break
        return first, repeat_params

    def boxes(self) -> list[int]:
        """The boxes (nodes, blocks drawn as one, output terminals) a drawing has at depth 0, 1, ...; the last
        entry is the whole drawing."""
        deepest = max((len(n.scopes) for m in self.graph.models.values() for n in m.nodes.values()), default=0)
        counts = [0] * (deepest + 1)
        for model in self.graph.models.values():
            self.first, self.repeat_params = self.collapsed_groups(model)
            self.folding(model)
            reps = [model.nodes[self.representative(n, model.nodes)] for n in model.nodes]
            reps = [rep for rep in reps if rep.id not in self.fold_root]   # drawn inside the node before
            for depth in range(deepest + 1):
                drawn = {rep.scopes[depth].id if len(rep.scopes) > depth else "/" + rep.id for rep in reps}
                counts[depth] += len(drawn) + len(model.outputs)   # ("/": a box and a node never share a key)
        return counts

    def representative(self, node_id: str, nodes: dict) -> str:
        """The node drawn for `node_id`: its twin in the first repeat of every collapsed group."""
        while True:
            for scope in nodes[node_id].scopes:
                if scope.group in self.first and scope.repeat != 1:
                    node_id = self.first[scope.group] + node_id[len(scope.id):]
                    break
            else:
                return node_id

    def across_repeats(self, a: Node, b: Node) -> bool:
        """An edge from one repeat of a collapsed group into the next, or from outside into a later repeat (a
        `chain: {prev: $in}` input from the second repeat on): drawn as nothing, since only the first is drawn."""
        repeats = {s.group: s.repeat for s in a.scopes if s.group in self.first}
        return any(s.group in self.first and repeats.get(s.group, 1) != s.repeat for s in b.scopes)

    def collapsed(self, scope: Scope) -> bool:
        return scope.group in self.first and scope.repeats > 1

    def scope_text(self, scope: Scope, parent: Scope | None) -> tuple[str, list[str]]:
        """The instance's local id (the use's id when collapsed) and its parameters."""
        collapsed = self.collapsed(scope)
        name = _local(scope.group if collapsed else scope.id, parent)
        return name, _scope_params(scope, self.repeat_params.get(scope.group) if collapsed else None)

    # -- statements
    def cluster_for(self, root: _Cluster, scopes: tuple) -> _Cluster:
        cluster = root
        for scope in scopes:
            if scope.id not in cluster.children:
                cluster.children[scope.id] = _Cluster(scope)
                cluster.items.append(cluster.children[scope.id])
            cluster = cluster.children[scope.id]
        return cluster

    def cluster_lines(self, cluster: _Cluster, level: int) -> list[str]:
        """DOT lines of a cluster's items; a collapsed one is titled `stage1 · residual  filters=64  x3`."""
        lines = []
        for item in cluster.items:
            if isinstance(item, str):
                lines.append("  " + item)
            elif isinstance(item, _Box):
                lines.append("  " + self.box_statement(item))
            else:
                self.clusters += 1
                scope = item.scope
                name, params = self.scope_text(scope, cluster.scope)
                title = [_cut(f"{name} · {scope.block}  " + "  ".join(params), 150).rstrip()]
                if self.collapsed(scope):   # what is drawn is the first repeat: say so, and what all of them hold
                    title[0] += f"  x{scope.repeats}"
                    total = self.scope_count(scope)
                    title.append(f"first of {scope.repeats} drawn" + (f" · {total}" if total else ""))
                fill = CLUSTER_FILLS[min(level - 1, len(CLUSTER_FILLS) - 1)]
                border = '"#546E7A", penwidth=2' if self.collapsed(scope) else '"#B0BEC5", penwidth=1'
                lines += [f"  subgraph cluster_m{self.index}_{self.clusters} {{",
                          f'    graph [label={_label(title)}, style="rounded,filled", fillcolor="{fill}", '
                          f'color={border}, fontsize=11, labeljust=l, margin=10];']
                lines += ["  " + line for line in self.cluster_lines(item, level + 1)] + ["  }"]
        return lines

    def shape_label(self, node_id: str, index) -> str:
        shape = self.shapes.get(self.current.name, {}).get(node_id)
        if shape is None:
            return ""
        if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):   # several outputs
            if index is None:
                return _cut(" | ".join(_shape(s) for s in shape), 60)
            if index >= len(shape):
                return ""
            shape = shape[index]
        return _cut(_shape(shape), 40)

    def style(self, family: str) -> str:
        family = FAMILY_ALIASES.get(family, family)
        family = family if family in FAMILY_STYLE else "other"
        self.families.setdefault(family)
        _, fill, border = FAMILY_STYLE[family]
        return f'fillcolor="{fill}", color="{border}"'

    def node_statement(self, node: Node) -> str:
        name = self.node_id(self.current.name, node.id)
        local = _local(node.id, node.scopes[-1] if node.scopes else None)
        mark = self.marks.nodes.get((self.current.name, node.id)) if self.marks is not None else None
        if node.op == "input":
            dims = "x".join("?" if d is None else str(d) for d in node.args.get("shape", []))
            dtype = node.args.get("dtype") or "float32"
            lines = [node.id, "Input " + (dims or "scalar") + ("" if dtype == "float32" else f" {dtype}")]
            paint = self.paint("input", mark, self.diagram.style_for(node))
            return f"{name} [label={_label(lines + list(mark[2] if mark else []))}, {paint}];"
        if node.op == "model":
            callee = self.graph.models.get(node.type)
            inner = self.total(callee) if callee else 0
            lines = [local, f"model: {node.type}", _count(inner) if inner else "", *(mark[2] if mark else [])]
            paint = self.paint("model", mark, self.diagram.style_for(node))
            return f'{name} [label={_label(lines)}, {paint}, style="rounded,filled,bold"];'
        searched = self.search_notes.get((self.current.name, node.id), [])
        members = [self.current.nodes[member] for member in self.chains.get(node.id, [])]
        lines = [f"{local} : {node.type}", *_wrap([_folded(m) for m in members]), *searched,
                 *self.fields(node, members)]
        if mark is not None:
            lines[1:1] = mark[2]   # what the caller says of it, under the id
        border = ', penwidth=2.2, color="#C62828"' if searched else ""
        return f"{name} [label={_label(lines)}, {self.paint(node.family, mark, self.diagram.style_for(node))}{border}];"

    def fields(self, node: Node, members: list[Node]) -> list[str]:
        """The label lines `diagram.show` asks for, in its order: arguments and named fields share wrapped lines;
        params, macs and output_shape take a line each, counting the nodes folded in (`members`)."""
        lines: list[str] = []
        parts: list[str] = []
        named: set[str] = set()
        ids = [node.id] + [m.id for m in members]
        for shown in self.diagram.show:
            if shown in LINE_FIELDS:
                lines += _wrap(parts) + [LINE_FIELDS[shown](self, ids)]
                parts = []
                continue
            found = _argument_parts(node) if shown == "arguments" else [(shown, _named(node, shown))]
            parts += [text for name, text in found if text and name not in named]
            named |= {name for name, text in found if text}
        return lines + _wrap(parts)

    def params_line(self, ids: list[str]) -> str:
        counts = self.params.get(self.current.name, {})
        count = sum(counts.get(i) or 0 for i in ids)
        return _count(count) if count else ""

    def macs_line(self, ids: list[str]) -> str:
        known = self.macs.get(self.current.name, {})
        if ids[0] not in known:
            return ""
        found = [known.get(i) for i in ids]
        macs = None if None in found else sum(found)
        return "MACs unknown" if macs is None else f"{si(macs)} MACs" if macs else ""

    def shape_line(self, ids: list[str]) -> str:
        shape = self.shape_label(ids[-1], None)   # after the last node folded in
        return f"output {shape}" if shape else ""

    def box_statement(self, box: _Box) -> str:
        scope = box.scope
        name, params = self.scope_text(scope, box.parent)
        layers = f"{scope.block} ({box.members} layer{'s' * (box.members != 1)})"
        mark = self.marks.boxes.get(scope.id) if self.marks is not None else None
        lines = [name, layers + (f"  x{scope.repeats}" if self.collapsed(scope) else ""), *(mark[2] if mark else []),
                 *_wrap(params), self.scope_count(scope)]
        tags = dict.fromkeys(t for s in reversed(box.scopes) for t in s.tags)   # the use's own tags first
        styles = [("tag", tag, self.diagram.tags[tag]) for tag in reversed(tags) if tag in self.diagram.tags]
        paint = self.paint("block", mark, styles)
        return f'{box.dot_id} [label={_label(lines)}, {paint}, style="rounded,filled,bold"];'

    def legend(self) -> list[str]:
        """The families drawn, in FAMILY_STYLE's order, then the `diagram` styles drawn (types, then tags, in the
        spec's order), one under the other; none with `diagram.legend` false (unless the caller's marks need one)."""
        if not self.diagram.legend and not (self.marks is not None and self.marks.legend):
            return []
        entries: dict[str, str] = {}
        for family in FAMILY_STYLE:
            if family in self.families:
                entries.setdefault(FAMILY_STYLE[family][0], family)
        lines = ["  subgraph cluster_legend {",
                 '    graph [label="legend", style="rounded,filled", fillcolor="#FAFBFC", color="#CFD8DC", '
                 'fontsize=9, fontcolor="#78909C", margin=8];']
        names = []
        rows = [(family, label, *FAMILY_STYLE[family][1:], None) for label, family in entries.items()]
        for kind, group in (("type", self.diagram.types), ("tag", self.diagram.tags)):
            rows += [(f"{kind}:{name}", style.label or name, style.fill or "#FFFFFF", style.border or "#90A4AE",
                      style.shape) for name, style in group.items() if (kind, name) in self.used]
        if self.marks is not None and self.marks.legend:   # the caller's colours mean something else
            rows = [(label, label, fill, border, None) for label, (fill, border) in self.marks.legend.items()]
        for key, label, fill, border, shape in rows:
            names.append(_quote("legend/" + key))
            lines.append(f'    {names[-1]} [label={_label([label])}, fillcolor={_quote(fill)}, color={_quote(border)}, '
                         + (f"shape={_quote(shape)}, " if shape else "") + 'fontsize=8, width=1.3, height=0.3, penwidth=0.8];')
        if len(names) > 1:   # invisible edges stack the entries
            lines.append("    " + " -> ".join(names) + " [style=invis];")
        return lines + ["  }"]


# the diagram fields that take a line of their own (the others are arguments, sharing wrapped lines), by name;
# `builder.language.spec.diagram.FIELDS` names them for the spec (a test holds the two together)
LINE_FIELDS = {"params": _Drawing.params_line, "macs": _Drawing.macs_line, "output_shape": _Drawing.shape_line}


# --- entry points -----------------------------------------------------------------------------------

def _collapse(graph: Graph, collapse: bool | None) -> bool:
    return graph.node_count() > AUTO_COLLAPSE_NODES if collapse is None else collapse


def auto_depth(graph: Graph, collapse: bool | None = None, diagram: Diagram | None = None) -> int | None:
    """The depth to draw a graph to when the user gives none: None (every level) when the whole drawing has at
    most AUTO_DEPTH_BOXES boxes, else the deepest depth whose drawing has at most that many, or 0 when none
    has. `collapse` as for `render` (the boxes are counted as they would be drawn, without those `diagram`
    folds; default: the spec's `diagram:` section)."""
    diagram = Diagram.of(graph.spec.diagram) if diagram is None else diagram
    drawing = _Drawing(graph, {}, {}, "TB", _collapse(graph, collapse), None)
    drawing.diagram = diagram
    counts = drawing.boxes()
    if counts[-1] <= AUTO_DEPTH_BOXES:
        return None
    depth = max((d for d, n in enumerate(counts) if n <= AUTO_DEPTH_BOXES), default=0)
    return None if counts[depth] == counts[-1] else depth   # no shallower drawing is smaller: draw it all


def render(graph: Graph, *, shapes: dict | None = None, params: dict | None = None, rankdir: str | None = None,
           collapse: bool | None = None, depth: int | str | None = "spec",
           search: tuple[dict, list] | None = None, show: tuple | None = None, marks: Marks | None = None,
           diagram: Diagram | None = None) -> str:
    """Draw a resolved graph as DOT text.

    shapes: `{model: {node_id: shape}}`, a shape being a Keras output shape with
        the batch axis first (`(None, 28, 28, 6)`), or a list of them for a node
        with several outputs; edges are labelled with it (`28x28x6`).
    params: `{model: {node_id: count}}`, shown in labels and titles; None: counted
        without Keras by `builder.graph.estimate`, the title saying it is an estimate.
    rankdir: TB or LR; None: the diagram's, else TB.
    collapse: draw the repeats of a block use once, marked xN; None: the diagram's, else only for
        graphs of more than AUTO_COLLAPSE_NODES nodes.
    depth: draw block instances nested deeper than this as single boxes; None or "all":
        every level; "auto": `auto_depth`'s choice; "spec": the diagram's (every level when it says none).
    search: `builder.graph.search_space.annotations(...)`: lines added to the nodes a search changes (drawn with
        a red border), and a note listing the dimensions of no node.
    show: the facts in the node labels, in order (`builder.language.spec.diagram.FIELDS` or layer arguments by
        name; "macs": multiply-accumulates per sample, from `builder.graph.cost`); None: the diagram's.
    marks: colours and label lines of the caller's own (`Marks`), in place of the families' (`builder diff`).
    diagram: fields, styles per type and tag, folding, legend (`builder.graph.diagram.Diagram`); None: the spec's
        `diagram:` section.
    """
    diagram = Diagram.of(graph.spec.diagram) if diagram is None else diagram
    if show is not None:
        bad = [name for name in show if field_problem(name)]
        if bad:
            raise ValueError(f"show takes layer arguments by name and {', '.join(FIELDS)}. Received: {bad[0]!r}")
        diagram = replace(diagram, show=tuple(show))
    rankdir = rankdir or diagram.rankdir or "TB"
    collapse = diagram.collapse if collapse is None else collapse
    depth = diagram.depth if depth == "spec" else depth
    depth = None if depth == "all" else depth
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir is TB or LR. Received: rankdir={rankdir!r}")
    if depth not in (None, "auto") and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth is a whole number from 0, None or 'auto'. Received: depth={depth!r}")
    collapse = _collapse(graph, collapse)
    if depth == "auto":
        depth = auto_depth(graph, collapse, diagram)
    uncounted = None
    if params is None:
        found = estimate(graph)
        params, uncounted = found.params, found.uncounted
    drawing = _Drawing(graph, shapes or {}, params, rankdir, collapse, depth, search, uncounted)
    drawing.marks, drawing.diagram = marks, diagram
    if "macs" in diagram.show:
        found = cost(graph, shapes or None, None if uncounted is not None else params)
        drawing.macs = {name: {n: c.macs for n, c in model.nodes.items()} for name, model in found.models.items()}
    return drawing.dot()


def output_format(path: str | Path) -> str:
    """The Graphviz format a file name asks for; RenderError for an unknown extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise RenderError(f"cannot draw to {str(path)!r}: use a file ending in {', '.join(FORMATS)}")
    return FORMATS[suffix]


def _no_dot(path: Path) -> RenderError:
    return RenderError(f"drawing {path.suffix} needs Graphviz's `dot` program, which is not installed: "
                       f"{INSTALL_HINT}; or write a .dot file (-o model.dot)")


def check_dot(path: str | Path) -> None:
    """Fail early, before any slow work, when the format needs `dot` and it is not installed."""
    if output_format(path) != "dot" and shutil.which("dot") is None:
        raise _no_dot(Path(path))


def write(dot_text: str, path: str | Path, timeout: float = DOT_TIMEOUT_S) -> Path:
    """Write DOT text to `path`, as the format its extension names (.dot needs no Graphviz)."""
    path = Path(path)
    fmt = output_format(path)
    data = dot_text.encode("utf-8") if fmt == "dot" else _run_dot(dot_text, fmt, path, timeout)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise RenderError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    return path


def _run_dot(dot_text: str, fmt: str, path: Path, timeout: float) -> bytes:
    import graphviz
    from graphviz.backend.execute import run_check  # graphviz.pipe has no timeout

    command = graphviz.backend.dot_command.command("dot", fmt) + (["-Gdpi=144"] if fmt == "png" else [])
    try:
        result = run_check(command, input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout,
                           quiet=True)
    except graphviz.ExecutableNotFound:
        raise _no_dot(path) from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"dot ran for more than {timeout:g} s; draw less with --collapse or --depth 1, "
                          "or write a .dot file") from None
    except subprocess.CalledProcessError as exc:
        message = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"dot failed: {message[0] if message else f'exit code {exc.returncode}'}") from None
    return result.stdout


def write_diagram(graph: Graph, path: str | Path, models=None) -> Path:
    """Draw a graph beside a model or run: shapes and parameters from compiled `models` when given."""
    facts = {"shapes": models.shapes, "params": models.params} if models is not None else {}
    return write(render(graph, **facts), path)
