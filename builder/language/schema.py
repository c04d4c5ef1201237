"""The JSON Schema of the spec language, for editors (yaml-language-server) and tools.

Generated from the same sources validation uses: the pydantic models of
`builder.language.spec` for the structure, and the layer catalogue plus
`builder.language.argtypes` for each layer type's arguments (an `if`/`then` per
type, so an editor completes every type and then `units` after `type: Dense`; one
`oneOf` variant per optimizer), each argument described by Keras' docstring for
hover. `builder schema` writes it into the package (`builder/resources/`) and,
in a checkout, to `schemas/spec.schema.json` for editors; a test fails
when either drifts. `builder schema -o PATH` writes it anywhere, for specs
outside a checkout. What parse refuses, the schema refuses too wherever JSON
Schema can say it (sizes, closed argument lists, the validators' cross-field
rules, which the models state in `json_schema_extra`); what it cannot say
(low <= high, a reference to a node, 8.0 as an integer) only parse catches.
"""

from __future__ import annotations

import json
from pathlib import Path

from builder import resources
from builder.language import argtypes
from builder.language.catalogue import catalogue
from builder.language.spec import OptimizerSpec, Spec
from builder.language.spec import diagram

# A name, not an address: the schema is a file the user writes (`builder schema -o PATH`) and points the
# modeline at, never fetched, and builder has no web home to fetch it from.
SCHEMA_ID = "urn:builder:spec-schema"
# A comment, not a description: an editor's hover shows the innermost description, which would hide the
# argument's own (`units: ${classes}` should show what units means). The title tells it apart from the value
# alternatives beside it (see `_described`).
PLACEHOLDER = {"type": "string", "pattern": r"^\$\{[^{}]{1,200}\}$", "title": "parameter",
               "$comment": "A parameter: ${name} or ${expression}."}
PARAMETER = {"$ref": "#/$defs/Placeholder"}


def _parameters_inside(schema):
    """The schema with `${...}` also allowed for each list item and mapping value, as parse allows (it leaves
    any value holding a `${...}` to resolve): `target_shape: [${steps}, 1]`, `kernel_regularizer: {l2: ${wd}}`."""
    if isinstance(schema, list):
        return [_parameters_inside(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _parameters_inside(value) for key, value in schema.items()}
    if isinstance(out.get("items"), dict):
        out["items"] = {"anyOf": [out["items"], PARAMETER]}
    if "properties" in out:
        out["properties"] = {key: _or_parameter(value) for key, value in out["properties"].items()}
    return out


def _or_parameter(value: dict) -> dict:
    """`value` or `${...}`, its description kept on top (for hover, and for tools that read it there)."""
    lifted = {"description": value["description"]} if isinstance(value, dict) and "description" in value else {}
    return {**lifted, "anyOf": [value, PARAMETER]}


def _arg_schema(layer: str, name: str, entry: dict, placeholders: bool = True) -> dict:
    check = argtypes.checker_for(layer, name, entry)
    schema = dict(getattr(check, "schema", {}))
    names = catalogue().names[check.group] if "group" in getattr(check, "__dict__", {}) \
        else getattr(check, "choices", None)
    if names is not None:
        schema = {"enum": [*([None] if check(None) is None else []), *names]}
    if entry.get("kind") == "layer":
        schema = {"$ref": "#/$defs/LayerNode"}
    if "default" in entry:
        schema["default"] = entry["default"]
    if not placeholders:
        return schema
    return {"anyOf": [_parameters_inside(schema), PARAMETER]} if schema else {}


_ANNOTATIONS = {"anyOf", "default", "description"}


INLINED = {"ArgumentValue"}   # small: copied into each untyped argument (the big definitions stay referenced)


def _inlined(alternative):
    """A `$ref` to ArgumentValue (an `anyOf` of plain values) as the definition itself, for `_flat`."""
    name = alternative.get("$ref", "").removeprefix("#/$defs/") if isinstance(alternative, dict) else ""
    definition = argtypes.SCHEMA_DEFS.get(name) if name in INLINED else None
    if definition is None or not set(definition) <= _ANNOTATIONS or not set(alternative) <= _ANNOTATIONS | {"$ref"}:
        return alternative
    return {**{k: v for k, v in alternative.items() if k != "$ref"}, "anyOf": _parameters_inside(definition)["anyOf"]}


def _flat(schema: dict) -> dict:
    """`anyOf: [anyOf: [A, B], C]` as `anyOf: [A, B, C]`: the same values, one level for `_described`."""
    if "anyOf" not in schema:
        return schema
    flat, out = [], dict(schema)
    for alternative in map(_inlined, schema["anyOf"]):
        if isinstance(alternative, dict) and "anyOf" in alternative and set(alternative) <= _ANNOTATIONS:
            inner = _flat(alternative)
            if "default" in inner:
                out.setdefault("default", inner["default"])
            alternatives = inner["anyOf"]
        else:
            alternatives = [alternative]
        flat.extend(a for a in alternatives if a not in flat)
    out["anyOf"] = flat
    return out


def _described(schema: dict, entry: dict, owner: str) -> dict:
    """The argument's schema with Keras' description of it (from the docstring, via the catalogue), for hover.

    Shaped for yaml-language-server, whose hover shows the title and description of the innermost matched schema
    that has them, and which takes an `anyOf` for matched in full, and then shows its alternatives' titles joined
    by `||` instead, when the matched schemas look like all its alternatives (same title, description and
    properties, often all absent). So nested `anyOf`s are flattened, each alternative but `${...}` is titled with
    the layer (`owner`), and a `$ref` alternative carries the description over its definition's own."""
    text = entry.get("description")
    schema = _flat(schema)
    if "anyOf" in schema:
        schema = {**schema, "anyOf": [alternative if alternative == PARAMETER else
                                      {**alternative, "title": owner,
                                       **({"description": text} if text and "$ref" in alternative else {})}
                                      for alternative in schema["anyOf"]]}
    return {"description": text, **schema} if text else schema


def _layer_node(layer: dict) -> dict:
    """One schema for every layer node: `type` takes any layer name, and an `if`/`then` per layer type closes the
    node to that type's arguments and types each one.

    Not one `oneOf` variant per type: yaml-language-server scores each variant on its own while completing, so it
    offered only the types that need nothing but `type` (none of Dense, Conv2D, LSTM, ...)."""
    cat = catalogue()
    names_of: dict[str, list[str]] = {}
    for name in cat.layer_names:   # canonical names first, then aliases (Convolution2D -> Conv2D)
        names_of.setdefault(cat.layer(name).name, []).append(name)
    common = {key: True for key in layer["properties"]}   # checked once, by the properties below
    rules = []
    for canonical, names in names_of.items():
        info = cat.layer(canonical)
        properties = dict(common)
        if "call" in properties:   # only this layer's boolean call arguments, as parse checks
            flags = {"type": "object", "additionalProperties": False, "properties": {
                flag: _described({"type": "boolean"}, info.call[flag], canonical) for flag in info.flag_call_args}}
            properties["call"] = {"anyOf": [flags, {"type": "null"}]}
        for arg, entry in sorted(info.args.items()):
            properties[arg] = _described(_arg_schema(info.name, arg, entry), entry, canonical)
        # a pattern, not an enum, for aliases: yaml-language-server's hover lists every `enum` of every `if`
        when = {"const": names[0]} if len(names) == 1 else {"pattern": f"^({'|'.join(names)})$"}
        rules.append({"if": {"properties": {"type": when}, "required": ["type"]},
                      "then": {"title": canonical, "properties": properties, "required": info.required_args,
                               "additionalProperties": False}})
    # each name titled and with its summary, which completion and hover show; no description around them, which
    # hover would show instead
    type_schema = {"type": "string", "anyOf": [{"const": name, "title": name, "description": cat.layer(name).summary}
                                               for name in cat.layer_names]}
    return {"type": "object", "description": layer.get("description", ""), "required": ["type"],
            "properties": {**{key: {"$ref": f"#/$defs/LayerNodeCommon/properties/{key}"}
                              for key in layer["properties"]}, "type": type_schema},
            "allOf": rules}


def _optimizer_variants(pydantic_schema: dict) -> list[dict]:
    """One closed variant per optimizer, with its Keras constructor arguments typed as the parser checks them
    (`${...}` is added with the rest of train:, `_train_only`). Without `type` a mapping is the default optimizer."""
    default = OptimizerSpec.model_fields["type"].default
    variants = []
    for name, args in sorted(catalogue().optimizers.items()):
        properties = {"type": {"const": name, "description": pydantic_schema["properties"]["type"]["description"]},
                      "learning_rate": pydantic_schema["properties"]["learning_rate"]}
        for arg, entry in sorted(args.items()):
            properties.setdefault(arg, _described(_arg_schema("optimizer", arg, entry, placeholders=False), entry,
                                                     name))
        variants.append({"type": "object", "title": name, "properties": properties,
                         "required": [] if name == default else ["type"], "additionalProperties": False})
    return variants


def _close_keyed_mappings(node) -> None:
    """A mapping whose keys pydantic checks by a pattern (node ids, parameter names) refuses other keys;
    pydantic's schema gives only `patternProperties`, which lets them through."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_keyed_mappings(value)
    elif isinstance(node, list):
        for value in node:
            _close_keyed_mappings(value)


def _referenced(node) -> set[str]:
    """The names of the $defs that `node` refers to directly."""
    if isinstance(node, list):
        return set().union(*map(_referenced, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    ref = node.get("$ref", "")
    found = {ref.split("/")[2]} if ref.startswith("#/$defs/") else set()
    return found.union(*(_referenced(value) for key, value in node.items() if key != "$ref"))


def _train_only(schema: dict) -> set[str]:
    """The $defs the `train:` section uses and the rest of a spec does not (layer nodes, initialisers: shared)."""
    defs = schema["$defs"]

    def closure(names: set[str]) -> set[str]:
        seen, todo = set(), list(names)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += _referenced(defs[name])
        return seen

    rest = {key: value for key, value in schema["properties"].items() if key != "train"}
    return closure(_referenced(schema["properties"]["train"])) - closure(_referenced(rest)) - {"Placeholder"}


def spec_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a builder spec."""
    schema = Spec.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    layer = defs["LayerNode"]
    defs["LayerNodeCommon"] = layer  # its properties referenced, not copied, by the layer node schema
    defs["Placeholder"] = PLACEHOLDER
    defs.update(_parameters_inside(argtypes.schema_defs()))   # used by layer arguments only
    defs.update(diagram.SCHEMA_DEFS)   # the names a `diagram:` section may use
    defs["LayerNode"] = _layer_node(layer)
    optimizer = defs["OptimizerSpec"]
    defs["OptimizerSpec"] = {"description": optimizer["description"], "oneOf": _optimizer_variants(optimizer)}
    schema = diagram.referenced(schema)
    for name in _train_only(schema):   # `${...}` anywhere in train: (builder.graph.train_values fills it)
        schema["$defs"][name] = _parameters_inside(schema["$defs"][name])
    _close_keyed_mappings(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "builder spec"
    return schema


def schema_text() -> str:
    return json.dumps(spec_schema(), indent=1, sort_keys=True) + "\n"


def default_paths() -> list[Path]:
    """Where `builder schema` writes: the packaged copy, and the editors' copy in a checkout."""
    editors = resources.checkout_schema_path()
    return [resources.source_path(resources.SPEC_SCHEMA), *([editors] if editors else [])]
