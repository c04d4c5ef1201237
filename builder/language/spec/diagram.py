"""The `diagram:` section: how `builder render` (and the diagrams `build` and `train` write) draw a spec.

```yaml
diagram:
  show: [filters, kernel_size, units, output_shape, params]   # the facts in each box, in this order
  types: {Conv2D: {fill: "#BBDEFB", shape: box3d}}            # per layer type
  tags: {encoder: {fill: lightblue, label: encoder}}          # per tag (`tags: [encoder]` on nodes, block uses)
  fold: [activation, normalization]                           # into the node before, by catalogue family
  legend: true
  depth: 1
```

The models here give the structure (and the JSON Schema, whose name lists come from the catalogue and
Graphviz); the names themselves (fields, layer types, tags, colours) are checked by `problems`, which parse and
`builder render`'s flags share, so that each unknown name gets a did-you-mean.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, WithJsonSchema, model_validator

from builder.errors import did_you_mean, show
from builder.language.catalogue import catalogue
from builder.language.colors import GRAPHVIZ_COLORS, HEX_COLOR
from builder.language.spec.fields import ParamName, Strict

# facts a box can show besides layer arguments by name; "arguments": the ones that matter (the default)
FIELDS = {
    "arguments": "the arguments that matter (filters, kernel_size, strides, units, ...), those not at their default",
    "params": "the parameter count",
    "macs": "multiply-accumulates per sample",
    "output_shape": "the output shape (with shapes from Keras; none with --no-shapes)",
    "activation": "the activation, also when it is the default",
    "trainable": "trainable=true or false",
    "dtype": "the layer's dtype (float32 unless the spec gives one)",
}
DEFAULT_SHOW = ("arguments", "params")
# Graphviz node shapes worth a box (no record shapes, which read `|` and `{}` in labels; no plaintext or point)
SHAPES = ("box", "rect", "square", "ellipse", "oval", "circle", "doublecircle", "egg", "triangle", "invtriangle",
          "diamond", "trapezium", "invtrapezium", "parallelogram", "house", "invhouse", "pentagon", "hexagon",
          "septagon", "octagon", "doubleoctagon", "cylinder", "note", "tab", "folder", "box3d", "component", "cds",
          "star")
INPUT_TYPE = "Input"   # an input node's type, which `types:` may style like a layer type


def families() -> tuple[str, ...]:
    cat = catalogue()
    return tuple(sorted({cat.layer(name).family for name in cat.layers}))


def argument_names() -> list[str]:
    cat = catalogue()
    return sorted({arg for name in cat.layers for arg in cat.layer(name).args})


def type_names() -> list[str]:
    return [*catalogue().layer_names, INPUT_TYPE]


# the JSON Schema's definitions of the names, referenced (the colours are used twice): `builder.language.schema`
SCHEMA_DEFS = {
    "GraphvizColor": {"anyOf": [{"type": "string", "pattern": HEX_COLOR.pattern, "title": "#rrggbb"},
                                {"enum": list(GRAPHVIZ_COLORS), "title": "Graphviz colour name"}],
                      "description": "A Graphviz colour name (lightblue, gray90, ...) or #rrggbb."},
    "DiagramField": {"anyOf": [{"enum": list(FIELDS), "title": "fact",
                                "description": "; ".join(f"{name}: {text}" for name, text in FIELDS.items())},
                               {"enum": argument_names(), "title": "layer argument",
                                "description": "A layer argument by name: its value, or its default where the layer "
                                               "has it."}]},
}
# a stand-in that `schema.py` turns into a $ref to SCHEMA_DEFS (pydantic resolves a $ref written here in its own defs)
Color = Annotated[str, Field(max_length=64), WithJsonSchema({"$comment": "$defs/GraphvizColor"})]
ShowField = Annotated[str, Field(max_length=64), WithJsonSchema({"$comment": "$defs/DiagramField"})]


def referenced(schema):
    """The JSON Schema with each stand-in above as a $ref to its definition."""
    if isinstance(schema, list):
        return [referenced(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: referenced(value) for key, value in schema.items()}
    name = out.get("$comment", "")
    if isinstance(name, str) and name.startswith("$defs/") and name[6:] in SCHEMA_DEFS:
        del out["$comment"]
        out["$ref"] = "#/" + name
    return out
FamilyName = Literal[families()]  # type: ignore[valid-type]


class NodeStyle(Strict):
    """How the boxes of one layer type or tag look: colours and a Graphviz shape."""

    model_config = Strict.model_config | {"json_schema_extra": {
        "anyOf": [{"required": ["fill"]}, {"required": ["border"]}, {"required": ["shape"]}]}}

    fill: Color | None = Field(None, description="The box's colour: a Graphviz colour name or #rrggbb.")
    border: Color | None = Field(None, description="The outline's colour; default: the family's.")
    shape: Literal[SHAPES] | None = Field(None, description="A Graphviz node shape; default: a rounded box.")  # type: ignore[valid-type]
    label: str | None = Field(None, max_length=60, description="What the legend calls it; default: the type or "
                                                                "the tag.")

    @model_validator(mode="after")
    def _something(self):
        if self.fill is None and self.border is None and self.shape is None:
            raise ValueError("a style gives fill, border or shape")
        return self


Depth = Union[Annotated[int, Field(ge=0, le=64)], Literal["all"]]


class DiagramSpec(Strict):
    """How diagrams of this spec are drawn (`builder render`, and the diagrams of build and train runs);
    `builder render`'s flags override each key."""

    show: list[ShowField] | None = Field(
        None, max_length=32, description="What each box shows under its id and type, in this order: any layer "
        "argument by name, or arguments (the ones that matter, not at their default), params, macs, output_shape, "
        "activation, trainable, dtype. Default: [arguments, params]. Flag: --show.")
    types: dict[str, NodeStyle] = Field(
        default_factory=dict, max_length=1000,
        description="A style per layer type (or Input), over its family's colours: `{Conv2D: {fill: lightblue}}`. "
                    "Flag: --style Conv2D=fill:lightblue.",
        json_schema_extra={"propertyNames": {"enum": type_names()}})
    tags: dict[ParamName, NodeStyle] = Field(
        default_factory=dict, max_length=1000,
        description="A style per tag, over the type's: a node takes the style of its own tags first, then of the "
                    "tags of the block uses around it, innermost first. Flag: --style encoder=fill:lightblue.")
    fold: list[FamilyName] = Field(
        default_factory=list, max_length=32,
        description="Layer families (activation, normalization, regularization, ...) drawn inside the node before "
                    "(`+ BatchNormalization + ReLU`) where they are its only reader: parameters summed, edges "
                    "rewired. Flag: --fold.")
    legend: bool = Field(True, description="A legend of the families, types and tags drawn. Flag: --no-legend.")
    depth: Depth | None = Field(None, description="Expand nested blocks this many levels (deeper ones become single "
                                "boxes), or all. Default: all, or as deep as fits 40 boxes for big graphs. Flag: "
                                "--depth.")
    collapse: bool | None = Field(None, description="Draw the repeats of a block use once, marked xN. Default: "
                                  "above 150 nodes. Flag: --collapse.")
    rankdir: Literal["TB", "LR"] | None = Field(None, description="Top to bottom (TB, the default) or left to right. "
                                                "Flag: --rankdir.")


# --- names: parse and render's flags check them alike ---------------------------------------------------

def field_problem(name: Any) -> tuple[str, str | None] | None:
    if not isinstance(name, str) or name in FIELDS or name in argument_names():
        return None
    return (f"unknown diagram field {show(name)}", did_you_mean(name, [*FIELDS, *argument_names()])
            or f"a field is a layer argument by name (filters, units, ...) or one of: {', '.join(FIELDS)}")


def color_problem(key: str, value: Any) -> tuple[str, str | None] | None:
    if not isinstance(value, str) or value in GRAPHVIZ_COLORS or HEX_COLOR.match(value):
        return None
    hint = did_you_mean(value, GRAPHVIZ_COLORS)
    if hint is None and value.startswith("#"):
        hint = "write six hex digits: #1e88e5"
    return f"expected a Graphviz colour name or #rrggbb. Received: {key}={show(value)}", \
        hint or "names such as lightblue, gray90, salmon: https://graphviz.org/doc/info/colors.html"


def type_problem(name: Any) -> tuple[str, str | None] | None:
    if not isinstance(name, str) or name == INPUT_TYPE or catalogue().layer(name) is not None:
        return None
    return (f"unknown layer type {show(name)}", did_you_mean(name, type_names()) or "run `builder layers` to see them")


def tag_problem(name: Any, tags: list[str]) -> tuple[str, str | None] | None:
    if not isinstance(name, str) or name in tags:
        return None
    hint = did_you_mean(name, tags) or (f"the tags in this spec: {', '.join(tags)}" if tags else
                                        "give nodes or block uses `tags: [" + name + "]`")
    return f"no node or block use has the tag {show(name)}", hint


def written_tags(data: Any) -> list[str]:
    """Every tag written on a node or block use, anywhere in the spec's data, in the order written."""
    found: dict[str, None] = {}

    def walk(layers):
        for node in layers if isinstance(layers, list) else []:
            tags = node.get("tags") if isinstance(node, dict) else None
            for tag in tags if isinstance(tags, list) else []:
                if isinstance(tag, str):
                    found.setdefault(tag)

    if isinstance(data, dict):
        walk(data.get("layers"))
        for group in ("models", "blocks"):
            section = data.get(group)
            for item in section.values() if isinstance(section, dict) else []:
                if isinstance(item, dict):
                    walk(item.get("layers"))
    return list(found)


def style_problems(style: Any, at: tuple) -> list[tuple[tuple, bool, str, str | None]]:
    """Problems with the colours of one style mapping, as (path, at the key?, message, hint)."""
    out = []
    for key in ("fill", "border"):
        found = color_problem(key, style.get(key)) if isinstance(style, dict) else None
        if found:
            out.append((at + (key,), False, *found))
    return out


def problems(data: Any) -> list[tuple[tuple, bool, str, str | None]]:
    """The name problems of a spec's `diagram:` section (fields, layer types, tags, colours), each as (path into
    the data, located at the key?, message, hint); its structure is pydantic's."""
    section = data.get("diagram") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return []
    out = []
    fields = section.get("show")
    for i, name in enumerate(fields if isinstance(fields, list) else []):
        found = field_problem(name)
        if found:
            out.append((("diagram", "show", i), False, *found))
    for group in ("types", "tags"):
        styles = section.get(group)
        tags = written_tags(data) if group == "tags" else []
        for name, style in styles.items() if isinstance(styles, dict) else []:
            found = type_problem(name) if group == "types" else tag_problem(name, tags)
            if found:
                out.append((("diagram", group, name), True, *found))
            out += style_problems(style, ("diagram", group, name))
    return out
