"""The JSON Schema of the spec language, for editors (yaml-language-server) and tools.

Generated from the same sources validation uses: the pydantic models of
`builder.language.spec` for the structure, and the layer catalogue plus
`builder.language.argtypes` for each layer type's arguments (one `oneOf` variant per
type, so an editor completes `units` after `type: Dense`; one per optimizer
likewise). `builder schema` writes it into the package (`builder/resources/`)
and, in a checkout, to `schemas/spec.schema.json` for editors; a test fails
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

# A name, not an address: the schema is a file the user writes (`builder schema -o PATH`) and points the
# modeline at, never fetched, and builder has no web home to fetch it from.
SCHEMA_ID = "urn:builder:spec-schema"
PLACEHOLDER = {"type": "string", "pattern": r"^\$\{[^{}]{1,200}\}$",
               "description": "A parameter: ${name} or ${expression}."}
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
        out["properties"] = {key: {"anyOf": [value, PARAMETER]} for key, value in out["properties"].items()}
    return out


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


def _layer_variants(common: dict) -> list[dict]:
    cat = catalogue()
    variants = []
    for name in cat.layer_names:
        info = cat.layer(name)
        properties = dict(common)
        properties["type"] = {"const": name, "description": info.summary}
        if "call" in properties:   # only this layer's boolean call arguments, as parse checks
            flags = {"type": "object", "properties": {flag: {"type": "boolean"} for flag in info.flag_call_args},
                     "additionalProperties": False}
            properties["call"] = {**common["call"], "anyOf": [flags, {"type": "null"}]}
        for arg, entry in sorted(info.args.items()):
            properties[arg] = _arg_schema(info.name, arg, entry)
        variants.append({"type": "object", "title": name, "properties": properties,
                         "required": ["type", *info.required_args], "additionalProperties": False})
    return variants


def _optimizer_variants(pydantic_schema: dict) -> list[dict]:
    """One closed variant per optimizer, with its Keras constructor arguments typed as the parser checks them
    (no `${...}`: optimizer arguments take no parameters). Without `type` a mapping is the default optimizer."""
    default = OptimizerSpec.model_fields["type"].default
    variants = []
    for name, args in sorted(catalogue().optimizers.items()):
        properties = {"type": {"const": name, "description": pydantic_schema["properties"]["type"]["description"]},
                      "learning_rate": pydantic_schema["properties"]["learning_rate"]}
        for arg, entry in sorted(args.items()):
            properties.setdefault(arg, _arg_schema("optimizer", arg, entry, placeholders=False))
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


def spec_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a builder spec."""
    schema = Spec.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    layer = defs["LayerNode"]
    defs["LayerNodeCommon"] = layer  # referenced, not copied, by every variant
    common = {k: {"$ref": f"#/$defs/LayerNodeCommon/properties/{k}"} for k in layer["properties"] if k != "type"}
    defs["Placeholder"] = PLACEHOLDER
    defs.update(_parameters_inside(argtypes.SCHEMA_DEFS))   # used by layer arguments only
    defs["LayerNode"] = {"description": layer.get("description", ""), "oneOf": _layer_variants(common)}
    optimizer = defs["OptimizerSpec"]
    defs["OptimizerSpec"] = {"description": optimizer["description"], "oneOf": _optimizer_variants(optimizer)}
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
