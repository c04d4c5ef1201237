"""Field types every part of the spec language shares: ids, names, references, sizes, free text."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field

# --- shared field types ----------------------------------------------------------

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64,
                              description="A node id: a letter or _, then letters, digits or _ (at most 64).")]
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
SpecName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64,
                                description="The spec's name: letters, digits, `_`, `.`, `-`.")]
REF_PATTERN = r"^\$?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*(\[[0-9]{1,3}\])?$"
RefName = Annotated[str, Field(pattern=REF_PATTERN, max_length=200,
                               description="A node id, an input name, `block.node` for a node inside a block "
                                           "instance, `$name` for a block's input, with `[k]` for a node's k-th "
                                           "output.")]
RelativeRef = Annotated[int, Field(le=-1, ge=-1000, description="-1 is the node before, -2 the one before it.")]
Ref = Union[RelativeRef, RefName]
Inputs = Union[Ref, Annotated[list[Ref], Field(max_length=1024)], dict[ParamName, Union[Ref, list[Ref]]]]
Placeholder = Annotated[str, Field(pattern=r"^\$\{[^{}]{1,200}\}$",
                                  description="`${name}` or `${expression}` over parameters (+ - * / // %, "
                                              "int, round, min, max, abs, comparisons, and/or/not, `a if "
                                              "condition else b`), filled in by resolve.")]
Size = Annotated[int, Field(ge=1, le=2**31 - 1)]
Dim = Union[Size, Placeholder]
Value = Any  # block parameters: scalars or lists; checked where they land
Description = Annotated[str, Field(max_length=2000, description="Free text, shown in diagrams and docs.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, allow_inf_nan=False)


# --- cross-field rules in the JSON Schema ---------------------------------------------

def _why(schema: dict, why: str | None) -> dict:
    # `errorMessage`: yaml-language-server shows it instead of its own "Incorrect type. Expected null"
    return {**schema, "errorMessage": why} if why else schema


def presence(given: tuple[str, ...] = (), absent: tuple[str, ...] = (), why: str | None = None) -> dict:
    """A JSON Schema twin of a model validator's rule: keys in `given` are there and not null, keys in `absent`
    missing or null (pydantic takes a null as not given); `why` is what an editor says when it fails. Used in
    `json_schema_extra`, so that an editor refuses what parse refuses."""
    properties = {name: {"not": {"type": "null"}} for name in given} | \
                 {name: _why({"type": "null"}, why) for name in absent}
    return {"required": list(given), "properties": properties} if given else {"properties": properties}


def one_of_values(field: str, values, why: str | None = None) -> dict:
    """A JSON Schema condition: `field` is given and is one of `values`."""
    return {"required": [field], "properties": {field: _why({"enum": list(values)}, why)}}
