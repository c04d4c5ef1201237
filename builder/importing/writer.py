"""Spec models, blocks and uses -> YAML text, one node per line as the library's specs are written.

Every value is written so that builder's YAML 1.2 loader reads it back as the same value (floats by `repr`,
text quoted wherever it would read as something else), and `inputs` only where a node does not read the
node before it.
"""

from __future__ import annotations

import json
import re

from builder.importing.network import Call, Network, Ref, SpecModel
from builder.importing.structure import Structure, Use
from builder.language.loader import resolve_plain_scalar

PLAIN = re.compile(r"^[$A-Za-z_][A-Za-z0-9_.\-]*$")   # ids, names, $in


def scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if resolve_plain_scalar(text) == value else json.dumps(text)
    text = str(value)
    if PLAIN.match(text) and resolve_plain_scalar(text) == text:
        return text
    return json.dumps(text)   # JSON's double-quoted strings are YAML's


def flow(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, Ref):
        return scalar(value.text())
    return scalar(value)


def _refs(value):
    return [_refs(v) for v in value] if isinstance(value, list) else value.text()


def node_line(call: Call, previous: str | None) -> str:
    """`{id: ..., type: ..., arguments..., inputs: ...}`; inputs left out where the node reads `previous`."""
    parts: dict = {"id": call.id}
    if call.op == "model":
        parts["model"] = call.type
    else:
        parts["type"] = call.type
        parts.update(call.args)
        if call.call:
            parts["call"] = call.call
    if call.keywords:
        main = [] if call.op == "model" else [(call.main, _refs(call.inputs if call.many else call.inputs[0]))]
        parts["inputs"] = dict(main + [(k, _refs(v)) for k, v in call.keywords.items()])
    elif call.many or len(call.inputs) > 1:
        parts["inputs"] = _refs(call.inputs)
    elif not call.inputs or call.inputs[0].text() != previous:
        parts["inputs"] = call.inputs[0].text()
    return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in parts.items()) + "}"


def use_line(use: Use, previous: str | None) -> str:
    parts: dict = {"id": use.id, "block": use.block}
    if use.repeat != 1:
        parts["repeat"] = use.repeat
    if use.with_:
        parts["with"] = use.with_
    if use.per_repeat:
        parts["per_repeat"] = use.per_repeat
    if use.reads.text() != previous:
        parts["inputs"] = use.reads.text()
    return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in parts.items()) + "}"


def _model_lines(model: SpecModel, items: list, outputs: list, indent: str) -> list[str]:
    lines = [f"{indent}inputs:"]
    for name, spec in model.inputs.items():
        shape = {"shape": spec["shape"]}
        if spec["dtype"] != "float32":
            shape["dtype"] = spec["dtype"]
        lines.append(f"{indent}  {scalar(name)}: {flow(shape)}")
    lines.append(f"{indent}layers:")
    previous = next(iter(model.inputs)) if len(model.inputs) == 1 else None
    for item in items:
        if isinstance(item, Use):
            lines.append(f"{indent}  - {use_line(item, previous)}")
            previous = item.id
        else:
            lines.append(f"{indent}  - {node_line(item, previous)}")
            previous = item.id
    outputs = [ref.text() for ref in outputs]
    if outputs != [previous]:
        lines.append(f"{indent}outputs: {flow(outputs)}")
    return lines


def write_spec(network: Network, structure: Structure, header: list[str]) -> str:
    lines = [f"# {line}" if line else "#" for line in header]
    lines += ["", f"name: {scalar(network.name)}"]
    if structure.blocks:
        lines += ["", "blocks:"]
        for block in structure.blocks.values():
            lines.append(f"  {scalar(block.name)}:")
            lines.append(f"    description: {scalar(block.description)}")
            if block.params:
                lines.append(f"    params: {flow(block.params)}")
            lines.append("    layers:")
            previous = "$in"
            for call in block.layers:
                lines.append(f"      - {node_line(call, previous)}")
                previous = call.id
    if len(network.models) == 1:
        model = network.main
        lines.append("")
        lines += _model_lines(model, structure.items[model.name], structure.outputs[model.name], "")
    else:
        lines += ["", "models:"]
        for name, model in network.models.items():
            lines.append(f"  {scalar(name)}:")
            lines += _model_lines(model, structure.items[name], structure.outputs[name], "    ")
    return "\n".join(lines) + "\n"
