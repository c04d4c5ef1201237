"""After compile, the way back: an existing Keras model becomes a readable spec that rebuilds it exactly.

Modules, in the order they import each other:

    source     the model: a `.keras` file (its archive and config checked first, then opened with
               safe_mode) or `keras.applications.NAME` (weights=None: nothing downloaded)
    network    the Keras model -> spec models of plain nodes: ids from layer names, only the arguments
               that differ from Keras' defaults; shared layers and nested models as models called by
               `{model: ...}` nodes
    structure  repeated sub-graphs -> blocks with parameters, `repeat` and `per_repeat`
    writer     YAML text, one node per line, with a header saying where it came from
    check      the written spec built again and compared with the model layer by layer, the weights
               copied across

Public entry point: `import_model(source, output, flat=False, weights=False, input_shape=None)` -> `Imported`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from builder import __version__
from builder.importing.check import Checked, Mismatch, check
from builder.importing.network import read_network
from builder.importing.source import open_source
from builder.importing.structure import Structure, Use, find_blocks
from builder.importing.writer import write_spec

__all__ = ["Imported", "Mismatch", "import_model"]


@dataclass
class Imported:
    spec: Path
    weights: Path | None
    nodes: int                    # layer nodes written (block layers once)
    layers: int                   # the model's layer calls
    blocks: int
    lines: int
    checked: Checked
    notes: list = field(default_factory=list)
    model: object = field(default=None, repr=False)      # the spec's model, built, with the original's weights
    original: object = field(default=None, repr=False)   # the model imported

    def report(self) -> list[str]:
        out = [f"wrote {self.spec}: {self.lines} lines, {self.layers} layers as {self.nodes} nodes"
               + (f" and {self.blocks} block{'s' * (self.blocks != 1)}" if self.blocks else "")]
        difference = "" if self.checked.difference is None else ", the same outputs on a random input" \
            if self.checked.difference == 0 else f", outputs within {self.checked.difference:.1g} of the model's"
        out.append(f"checked: it builds the same {self.checked.params:,} parameters in {self.checked.weights} "
                   f"weight tensors, layer configs equal{difference}")
        out += [f"note: {note}" for note in self.notes]
        if self.weights is not None:
            out.append(f"wrote {self.weights} (builder build {self.spec} --init {self.weights}, or train.init)")
        return out


def _header(origin: str, network, structure: Structure, flat: bool, weights: Path | None, keras_version: str,
            original) -> list[str]:
    lines = [f"Imported by `builder import` (builder {__version__}, Keras {keras_version}) from",
             f"  {origin}",
             f"{sum(len(m.calls) for m in network.models.values() if m.shared_layer is None)} layer calls, "
             f"{original.count_params():,} parameters in {len(original.weights)} weight tensors.",
             "It rebuilds that model exactly: the same layers with the same arguments (those that differ from",
             "Keras' defaults are written), the weights in the same order, and, with the weights copied in, the",
             "same outputs; `builder import` checked this when it wrote the file."]
    if structure.blocks:
        lines.append("Repeated structure is written as blocks (`builder import --flat`: one node per layer).")
    elif not flat:
        lines.append("No repeated structure was found: one node per layer.")
    for note in network.notes:
        lines.append(f"Shared: {note}.")
    if weights is not None:
        lines.append(f"Weights: {weights.name} beside this file (`builder build SPEC --init {weights.name}`, or "
                     f"train.init.from).")
    return lines


def import_model(source, output: str | Path, flat: bool = False, weights: bool = False,
                 input_shape: tuple | None = None) -> Imported:
    """Write `output` (a spec) from the model `source` (a `.keras` path, `keras.applications.NAME`, or a
    `keras.Model` in memory); with `weights`, also `<output stem>.weights.h5` beside it."""
    import keras

    output = Path(output)
    if isinstance(source, keras.Model):
        model, origin, where = source, f"the Keras model {source.name!r} (from Python)", source.name
    else:
        model, origin = open_source(str(source), input_shape)
        where = str(source)
    network = read_network(model, where)
    if flat:
        structure = Structure(items={name: list(m.calls) for name, m in network.models.items()},
                              outputs={name: list(m.outputs) for name, m in network.models.items()})
    else:
        structure = find_blocks(network)
    stem = output.name[: -len(".yaml")] if output.name.endswith(".yaml") else output.stem
    weights_path = output.with_name(f"{stem}.weights.h5") if weights else None
    text = write_spec(network, structure, _header(origin, network, structure, flat, weights_path, keras.__version__,
                                                  model))
    output.parent.mkdir(parents=True, exist_ok=True)
    draft = output.with_name(f".{output.name}.importing")
    draft.write_text(text)
    try:
        checked, built = check(draft, network, structure, model)
        os.replace(draft, output)
    except Mismatch as error:
        failed = output.with_name(f"{stem}.failed.yaml")
        os.replace(draft, failed)
        raise Mismatch(f"{error}\n(the spec is kept as {failed} for the bug report)") from None
    finally:
        draft.unlink(missing_ok=True)   # an interrupt leaves no half-checked draft behind
    if weights_path is not None:
        built.save_weights(weights_path)
    nodes = sum(len(b.layers) for b in structure.blocks.values()) + sum(
        1 for items in structure.items.values() for item in items if not isinstance(item, Use))
    layers = sum(len(m.calls) if m.shared_layer is None else 0 for m in network.models.values())
    return Imported(output, weights_path, nodes, layers, len(structure.blocks), text.count("\n"), checked,
                    list(network.notes), built, model)
