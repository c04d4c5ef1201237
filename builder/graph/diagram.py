"""What a diagram shows and how it looks: the spec's `diagram:` section, with `builder render`'s flags over it.

`Diagram.of(section)` reads the section (`builder.language.spec.DiagramSpec`, whose names parse checked);
`Diagram.with_flags(...)` lays the command line over it, checking the flags' names as parse checks the section's
(a `DiagramFlagError` names the flag, the bad value and the closest name). `folds(model, ...)` says which nodes
are drawn inside the node before them (`fold:`). `builder.graph.render` draws with all of it; this module never
imports Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from builder.errors import did_you_mean
from builder.errors import show as quoted   # `show` is also a setting here
from builder.graph.ir import ModelGraph, Node
from builder.language.catalogue import catalogue
from builder.language.spec import DiagramSpec, NodeStyle
from builder.language.spec import diagram as names

STYLE_KEYS = ("fill", "border", "shape", "label")


class DiagramFlagError(ValueError):
    """A `builder render` flag with a bad value: `flag` names it, the message says what and the closest name."""

    def __init__(self, flag: str, message: str, hint: str | None = None):
        super().__init__(message + (f"; {hint}" if hint else ""))
        self.flag = flag


@dataclass(frozen=True)
class Diagram:
    """The settings of one drawing. `depth`, `collapse`, `rankdir`: None when neither the spec nor a flag says."""

    show: tuple = names.DEFAULT_SHOW
    types: dict = field(default_factory=dict)   # canonical layer type (or Input) -> NodeStyle
    tags: dict = field(default_factory=dict)    # tag -> NodeStyle
    fold: tuple = ()                            # catalogue families drawn inside the node before
    legend: bool = True
    depth: int | str | None = None              # a whole number or "all"
    collapse: bool | None = None
    rankdir: str | None = None

    @classmethod
    def of(cls, section: DiagramSpec | None) -> Diagram:
        if section is None:
            return cls()
        return cls(show=tuple(section.show) if section.show is not None else names.DEFAULT_SHOW,
                   types={_canonical(name): style for name, style in section.types.items()}, tags=dict(section.tags),
                   fold=tuple(section.fold), legend=section.legend, depth=section.depth, collapse=section.collapse,
                   rankdir=section.rankdir)

    def with_flags(self, *, show: tuple = (), styles: tuple = (), fold: tuple = (), legend: bool | None = None,
                   depth=None, collapse: bool | None = None, rankdir: str | None = None, tags: list[str] = ()) \
            -> Diagram:
        """These settings with `builder render`'s flags over them; a flag not given keeps the spec's value.

        show, fold: items, each possibly comma-separated (`--show filters,params`; `--fold none` folds nothing);
        styles: `NAME=KEY:VALUE,...` (`Conv2D=fill:lightblue,shape:box3d`), NAME a layer type or one of `tags`
        (the tags written in the spec), merged key by key over the spec's style of that name."""
        out = self
        fields = _items(show)
        if fields:
            for name in fields:
                found = names.field_problem(name)
                if found:
                    raise DiagramFlagError("--show", *found)
            out = replace(out, show=tuple(fields))
        families = _items(fold)
        if families:
            families = [] if families == ["none"] else families
            for name in families:
                if name not in names.families():
                    raise DiagramFlagError("--fold", f"unknown layer family {quoted(name)}",
                                           did_you_mean(name, [*names.families(), "none"])
                                           or f"the families: {', '.join(names.families())}, or none")
            out = replace(out, fold=tuple(families))
        types, tagged = dict(out.types), dict(out.tags)
        for text in styles:
            name, style = _style_flag(text, tags)
            if names.type_problem(name) is None:
                types[_canonical(name)] = _merged(types.get(_canonical(name)), style, text)
            else:
                tagged[name] = _merged(tagged.get(name), style, text)
        out = replace(out, types=types, tags=tagged)
        given = {"legend": legend, "depth": depth, "collapse": collapse, "rankdir": rankdir}
        return replace(out, **{key: value for key, value in given.items() if value is not None})

    def style_for(self, node: Node) -> list[tuple[str, str, NodeStyle]]:
        """The styles that apply to a node, weakest first: its type's, then its tags' from the outermost block use
        in to its own (own tags win)."""
        found = [("type", node.type, self.types[node.type])] if node.type in self.types else []
        return found + [("tag", tag, self.tags[tag]) for tag in reversed(node.tags) if tag in self.tags]


def _canonical(name: str) -> str:
    info = catalogue().layer(name)
    return info.name if info is not None else name


def _items(values) -> list[str]:
    return [part.strip() for value in values or () for part in str(value).split(",") if part.strip()]


def _style_flag(text: str, tags: list[str]) -> tuple[str, dict]:
    """`Conv2D=fill:lightblue,shape:box3d` -> ("Conv2D", {"fill": "lightblue", "shape": "box3d"})."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise DiagramFlagError("--style", f"expected NAME=KEY:VALUE,... such as Conv2D=fill:lightblue,shape:box3d. "
                                          f"Received: {quoted(text)}")
    if names.type_problem(name) is not None and name not in tags:
        message, hint = names.tag_problem(name, tags)
        raise DiagramFlagError("--style", f"{quoted(name)} is no layer type, and {message}",
                               did_you_mean(name, [*tags, *names.type_names()]) or hint)
    style: dict = {}
    for part in rest.split(","):
        key, colon, value = (s.strip() for s in part.partition(":"))
        if not colon or not value:
            raise DiagramFlagError("--style", f"expected KEY:VALUE (keys {', '.join(STYLE_KEYS)}). Received: "
                                              f"{quoted(part.strip())} in {quoted(text)}")
        if key not in STYLE_KEYS:
            raise DiagramFlagError("--style", f"unknown style key {quoted(key)} in {quoted(text)}",
                                   did_you_mean(key, STYLE_KEYS) or f"the keys: {', '.join(STYLE_KEYS)}")
        if key in ("fill", "border") and names.color_problem(key, value):
            raise DiagramFlagError("--style", *names.color_problem(key, value))
        if key == "shape" and value not in names.SHAPES:
            raise DiagramFlagError("--style", f"unknown shape {quoted(value)}",
                                   did_you_mean(value, names.SHAPES) or f"the shapes: {', '.join(names.SHAPES)}")
        style[key] = value
    return name, style


def _merged(base: NodeStyle | None, style: dict, text: str) -> NodeStyle:
    values = {**(base.model_dump(exclude_none=True) if base is not None else {}), **style}
    try:
        return NodeStyle.model_validate(values)
    except ValueError as error:   # a label too long; the names were checked above
        raise DiagramFlagError("--style", f"{quoted(text)}: {error.errors()[0]['msg']}") from None


def _wrapper(node: Node) -> bool:
    """A layer that wraps another (SpectralNormalization, Bidirectional): folding it would hide the layer inside."""
    info = catalogue().layer(node.type)
    return info is None or any(entry.get("kind") == "layer" for entry in info.args.values())


def folds(model: ModelGraph, families, keep=frozenset()) -> dict[str, list[str]]:
    """Which nodes are drawn inside the node before them: {kept node id: [folded node ids, in order]}.

    A layer of one of `families` folds into the layer it reads when it reads that one layer whole, is its only
    reader (so no skip connection reads the value before it), sits in the same block instance, and neither is
    in `keep` (nodes a search or a diff marks) nor a model output; a chain (Conv2D, BatchNormalization, ReLU)
    folds into its first node."""
    families = set(families)
    if not families:
        return {}
    readers: dict[str, int] = {}
    for node in model.nodes.values():
        for ref in node.sources:
            readers[ref.node] = readers.get(ref.node, 0) + 1
    outputs = {ref.node for ref in model.outputs}
    root_of: dict[str, str] = {}
    chains: dict[str, list[str]] = {}
    for node in model.nodes.values():
        if node.op != "layer" or node.family not in families or node.kwargs or len(node.inputs) != 1 \
                or node.id in keep or _wrapper(node):
            continue
        ref = node.inputs[0]
        before = model.nodes.get(ref.node)
        if before is None or before.op != "layer" or ref.index is not None or before.id in keep \
                or readers.get(before.id) != 1 or before.id in outputs or before.scopes != node.scopes:
            continue
        root_of[node.id] = root_of.get(before.id, before.id)
        chains.setdefault(root_of[node.id], []).append(node.id)
    return chains
