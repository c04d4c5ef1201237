"""The import checks itself: the written spec is loaded, validated and built like any spec, then compared with
the model it came from, layer by layer.

- every layer's config equals its original's, names aside (so every argument was written, or is a default);
- the models have the same parameter count and the same weight tensors, of the same shapes, in the same order;
- with the original's weights copied in, layer by layer, every weight tensor equals the original's in order,
  and the outputs on a random input agree.

A difference is a bug in the importer, never the user's: `Mismatch` says which layer and how. The weights copied
in are what `--weights` saves as `.weights.h5` (which names no layers: it loads into a model of this spec).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.errors import SpecError
from builder.importing.network import Network, normal
from builder.importing.structure import Structure, Use
from builder.language.catalogue import catalogue
from builder.model.compile import DEFAULT_MAX_PARAMS, compile_graph, layer_name

TOLERANCE = 1e-5


class Mismatch(RuntimeError):
    """The written spec does not rebuild the model: a bug in `builder import`."""


@dataclass
class Checked:
    params: int
    weights: int
    layers: int
    difference: float | None      # the largest output difference on a random input (None: not run)


def _strip_names(value):
    """A layer config without the layers' own names (a spec renames the layers inside blocks)."""
    if isinstance(value, dict):
        if "class_name" in value and isinstance(value.get("config"), dict) and catalogue().layer(value["class_name"]):
            return {**value, "config": _strip_names({k: v for k, v in value["config"].items() if k != "name"})}
        return {k: _strip_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_names(v) for v in value]
    return value


def _config(layer) -> dict:
    return _strip_names(normal({k: v for k, v in layer.get_config().items() if k != "name"}))


def pairs(network: Network, structure: Structure) -> list[tuple]:
    """(original layer, spec model name, built layer name) for every layer node of every spec model."""
    out = []
    for name, model in network.models.items():
        if model.shared_layer is not None:
            out.append((model.keras, name, model.calls[0].id))
            continue
        for item in structure.items[name]:
            if isinstance(item, Use):
                block = structure.blocks[item.block]
                for instance, calls in item.instances:
                    for call, local in zip(calls, block.layers):
                        out.append((model.keras.get_layer(call.source), name, layer_name(f"{instance}.{local.id}")))
            elif item.op == "layer":
                out.append((model.keras.get_layer(item.source), name, item.id))
    return out


def _numpy(value):
    """A tensor or variable of any backend as float64 NumPy (a torch tensor that requires grad too)."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype="float64")


def _random_inputs(model) -> list:
    rng = np.random.default_rng(0)
    values = []
    for tensor in model.inputs:
        shape = (2, *(d if d is not None else 4 for d in tensor.shape[1:]))
        dtype = str(tensor.dtype)
        # token ids 0 and 1 (every Embedding has them; 0 is what mask_zero masks)
        values.append(rng.uniform(0.0, 1.0, shape).astype(dtype) if "float" in dtype else
                      rng.integers(0, 2, shape).astype(dtype))
    return values


def check(spec_path: Path, network: Network, structure: Structure, original) -> tuple[Checked, object]:
    """Build the spec at `spec_path`, compare it with `original`, copy the weights in; (what was checked, the
    built model holding the original's weights)."""
    from builder.graph import load_graph

    try:
        graph = load_graph(spec_path)
    except SpecError as error:
        raise Mismatch(f"the spec written to {spec_path} does not validate:\n{error}") from None
    budget = max(DEFAULT_MAX_PARAMS, 2 * original.count_params())
    try:
        built = compile_graph(graph, budget)
    except SpecError as error:
        raise Mismatch(f"the spec written to {spec_path} does not build:\n{error}") from None
    model = built[graph.main]
    copied = set()
    for layer, model_name, built_name in pairs(network, structure):
        twin = built[model_name].get_layer(built_name)
        if _config(twin) != _config(layer):
            mine, theirs = _config(twin), _config(layer)
            keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise Mismatch(f"layer {layer.name!r} ({type(layer).__name__}) is rebuilt as {built_name!r} with another "
                           f"config: " + "; ".join(f"{k}: {theirs.get(k)!r} became {mine.get(k)!r}" for k in keys))
        if id(twin) in copied:
            continue
        copied.add(id(twin))
        shapes = [tuple(w.shape) for w in layer.weights], [tuple(w.shape) for w in twin.weights]
        if shapes[0] != shapes[1]:
            raise Mismatch(f"layer {layer.name!r} has weights of shapes {shapes[0]}, its rebuilt {built_name!r} "
                           f"{shapes[1]}")
        if layer.weights:
            twin.set_weights(layer.get_weights())
    if model.count_params() != original.count_params() or len(model.weights) != len(original.weights):
        raise Mismatch(f"the spec builds {model.count_params():,} parameters in {len(model.weights)} tensors; the "
                       f"model has {original.count_params():,} in {len(original.weights)}")
    for mine, theirs in zip(model.weights, original.weights):
        if tuple(mine.shape) != tuple(theirs.shape) or not np.array_equal(_numpy(mine), _numpy(theirs)):
            raise Mismatch(f"weight {mine.path} ({tuple(mine.shape)}) stands where the model has {theirs.path} "
                           f"({tuple(theirs.shape)}): the weights are in another order or not all copied")
    difference = None
    inputs = _random_inputs(original)
    try:
        expected = original(inputs if len(inputs) > 1 else inputs[0], training=False)
    except Exception:   # an input size the model cannot take with every null dimension as 4: no output check
        expected = None
    if expected is not None:
        got = model(inputs if len(inputs) > 1 else inputs[0], training=False)
        expected = expected if isinstance(expected, (list, tuple)) else [expected]
        got = got if isinstance(got, (list, tuple)) else [got]
        difference = max(float(np.max(np.abs(_numpy(a) - _numpy(b)))) for a, b in zip(got, expected))
        scale = max(float(np.max(np.abs(_numpy(b)))) for b in expected)
        if not difference <= TOLERANCE * max(1.0, scale):
            raise Mismatch(f"with the model's weights copied in, the spec's outputs differ by {difference:.3g}")
    return Checked(model.count_params(), len(model.weights), len(pairs(network, structure)), difference), model
