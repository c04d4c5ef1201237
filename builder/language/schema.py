"""The JSON Schema of the spec language, for editors (yaml-language-server) and tools.

Generated from the same sources validation uses: the pydantic models of
`builder.language.spec` for the structure, and the layer catalogue plus
`builder.language.argtypes` for each layer type's arguments (one `oneOf` variant per
type, so an editor completes `units` after `type: Dense`). `builder schema`
writes it into the package (`builder/resources/`) and, in a checkout, to
`schemas/spec.schema.json` for editors; a test fails when either drifts.
"""

from __future__ import annotations

import json
from pathlib import Path

from builder import resources
from builder.language import argtypes
from builder.language.catalogue import catalogue
from builder.language.spec import Spec

SCHEMA_ID = "https://builder.invalid/schemas/spec.schema.json"
PLACEHOLDER = {"type": "string", "pattern": r"^\$\{[^{}]{1,200}\}$",
               "description": "A parameter: ${name} or ${expression}."}


def _arg_schema(layer: str, name: str, entry: dict) -> dict:
    check = argtypes.checker_for(layer, name, entry)
    schema = dict(getattr(check, "schema", {}))
    if "group" in getattr(check, "__dict__", {}):
        schema = {"enum": [None, *catalogue().names[check.group]]}
    elif "choices" in getattr(check, "__dict__", {}):
        schema = {"enum": list(check.choices)}
    if entry.get("kind") == "layer":
        schema = {"$ref": "#/$defs/LayerNode"}
    if "default" in entry:
        schema["default"] = entry["default"]
    return {"anyOf": [schema, {"$ref": "#/$defs/Placeholder"}]} if schema else {}


def _layer_variants(common: dict) -> list[dict]:
    cat = catalogue()
    variants = []
    for name in cat.layer_names:
        info = cat.layer(name)
        properties = dict(common)
        properties["type"] = {"const": name, "description": info.summary}
        for arg, entry in sorted(info.args.items()):
            properties[arg] = _arg_schema(info.name, arg, entry)
        variants.append({"type": "object", "title": name, "properties": properties,
                         "required": ["type", *info.required_args], "additionalProperties": False})
    return variants


def spec_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a builder spec."""
    schema = Spec.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    layer = defs["LayerNode"]
    defs["LayerNodeCommon"] = layer  # referenced, not copied, by every variant
    common = {k: {"$ref": f"#/$defs/LayerNodeCommon/properties/{k}"} for k in layer["properties"] if k != "type"}
    defs["Placeholder"] = PLACEHOLDER
    defs["LayerNode"] = {"description": layer.get("description", ""), "oneOf": _layer_variants(common)}
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
