"""A Keras model as plain spec nodes: one node per layer call, named after the layer, arguments as a spec writes them.

The model's own functional config is the source (`get_config()`: plain data, the calls of every layer with the
tensors they read); the live layers serve only to compare against Keras' defaults and to count outputs. So:

- a node keeps only the arguments that differ from what the layer's constructor gives by default, found by
  building a default layer of the class and comparing configs (Dense's `activation: linear` is its default);
- a layer called twice with weights becomes a spec model holding that one layer, called twice (`model:` nodes
  share weights, as the Keras layer did); one without weights becomes one node per call (nothing to share);
- a nested model becomes a spec model of its own, called by `{model: ...}` nodes;
- nodes are put in an order where each reads the node before wherever the graph allows, so that `inputs` is
  written only where a node reads something else.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from builder.errors import Location, SpecError, show
from builder.graph.expressions import snake
from builder.importing.source import MODEL_CLASSES, unwritable_layers
from builder.language.catalogue import catalogue
from builder.language.spec import InputSpec
from builder.model.compile import layer_class, make_layer

INPUT_DTYPES = set(InputSpec.model_fields["dtype"].annotation.__args__)
OBJECT_GROUPS = ("initializers", "regularizers", "constraints")


class ImportProblem(Exception):
    """Something of the model that no spec can say; the command turns it into one located error."""


@dataclass(frozen=True)
class Ref:
    node: str
    index: int | None = None

    def text(self) -> str:
        return self.node if self.index is None else f"{self.node}[{self.index}]"


@dataclass
class Call:
    """One node of a spec model: a layer call, or a call of another spec model."""

    id: str
    op: str                                   # "layer" or "model"
    type: str                                 # catalogue layer name, or the called spec model's name
    args: dict = field(default_factory=dict)  # arguments that differ from Keras' defaults, in Keras' order
    defaults: dict = field(default_factory=dict)  # the other arguments' default values, as a spec writes them
    inputs: list = field(default_factory=list)    # positional Refs (a merge's list, or the one main input)
    keywords: dict = field(default_factory=dict)  # keyword tensor inputs: name -> Ref | list[Ref]
    main: str | None = None                   # the main input's name, for the keyword form
    many: bool = False                        # inputs written as a list (a merge)
    call: dict = field(default_factory=dict)  # boolean call flags
    source: str = ""                          # the Keras layer it came from
    outputs: int = 1

    def sources(self) -> list[Ref]:
        refs = list(self.inputs)
        for value in self.keywords.values():
            refs.extend(value if isinstance(value, list) else [value])
        return refs


@dataclass
class SpecModel:
    name: str
    inputs: dict                      # id -> {"shape": [...], "dtype": ...}
    calls: list                       # Calls in writing order
    outputs: list                     # Refs
    keras: Any = None                 # the live Keras model (or the shared layer)
    shared_layer: str | None = None   # set when this model stands for one shared Keras layer


@dataclass
class Network:
    name: str
    models: dict                      # spec model name -> SpecModel; called models first, the imported one last
    notes: list = field(default_factory=list)

    @property
    def main(self) -> SpecModel:
        return list(self.models.values())[-1]


# --- names -----------------------------------------------------------------------------------------

def valid_id(name: str) -> str:
    """A Keras name as a spec id: [A-Za-z_][A-Za-z0-9_]*, at most 64 characters."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    if not text or text[0].isdigit():
        text = "_" + text
    return text[:64]


def unique(base: str, used: set) -> str:
    name, k = base, 2
    while name in used:
        suffix = f"_{k}"
        name = base[: 64 - len(suffix)] + suffix
        k += 1
    used.add(name)
    return name


# --- values ------------------------------------------------------------------------------------------

def normal(value):
    """A config value in one comparable form: tuples as lists, recursively."""
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def _flat(value) -> list:
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]


class _Converter:
    """Keras config values -> the values a spec writes (non-default arguments only)."""

    def __init__(self):
        self.cat = catalogue()
        self.default_configs: dict = {}
        self.compact_cache: dict = {}

    def layer(self, entry: dict, where: str, wrapped: bool = False) -> tuple[str, dict, dict]:
        """(catalogue type, non-default arguments, default values of the others) of a serialised layer. In a
        wrapper (Bidirectional's layer), settings outside the constructor's arguments are the wrapper's to make
        (`zero_output_for_mask`): left out, and the import's check sees that the wrapper made them again."""
        cls = entry.get("class_name")
        info = self.cat.layer(cls) if isinstance(cls, str) else None
        problems = list(unwritable_layers({"class_name": "Functional", "config": {"layers": [entry]}}))
        if info is None or problems:
            message, hint = problems[0] if problems else (f"layer {show(where)} is a {show(cls)}, which builder "
                                                          f"cannot write", None)
            raise ImportProblem(message + (f"\n  hint: {hint}" if hint else ""))
        config = entry.get("config") or {}
        required = {k: self.value(config[k], where, k) for k in info.required_args if k in config}
        default = self.default_config(info.name, required)
        # compared: the constructor's arguments (a setting outside them left unset, as `quantization_config: null`)
        compared = [k for k in config if k != "name" and (k in info.args or (config[k] not in (None, False)
                                                                              and not wrapped))]
        written, defaults = set(required), {}
        for key in compared:
            if key not in written and (default is None or default.get(key, object()) != normal(config[key])):
                written.add(key)
        for _ in range(4):   # a default that follows another argument (pooling strides: the pool size) is written
            args = {k: self.spec_argument(info, k, config[k], where, required) for k in config if k in written}
            rebuilt = self.default_config(info.name, args)
            wrong = {k for k in compared if k not in written and
                     (rebuilt is None or rebuilt.get(k, object()) != normal(config[k]))}
            if not wrong:
                break
            written |= wrong
        for key in config:
            if key != "name" and key not in written and key in info.args:
                defaults[key] = self.compact(info.name, key, self.value(config[key], where, key), required,
                                             normal(config[key]))
        return info.name, args, defaults

    def spec_argument(self, info, key: str, value, where: str, required: dict):
        if key not in info.args:
            raise ImportProblem(f"layer {show(where)} ({info.name}) has {key}={show(value)}, an argument "
                                f"builder's catalogue does not list for {info.name}")
        return self.compact(info.name, key, self.value(value, where, key), required, normal(value))

    def default_config(self, type_name: str, required: dict) -> dict | None:
        key = (type_name, json.dumps(required, sort_keys=True, default=str))
        if key not in self.default_configs:
            try:
                self.default_configs[key] = normal(make_layer(type_name, required).get_config())
            except Exception:   # a layer whose defaults cannot be built alone: every argument is written
                self.default_configs[key] = None
        return self.default_configs[key]

    def compact(self, type_name: str, key: str, value, required: dict, original):
        """[3, 3] as 3 (kernel sizes, strides, margins) where Keras reads the number as the same list."""
        if not isinstance(value, list) or len(value) < 2:
            return value
        flat = _flat(value)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in flat) or len(set(flat)) != 1:
            return value
        cache_key = (type_name, key, json.dumps(original), json.dumps(required, sort_keys=True, default=str))
        if cache_key not in self.compact_cache:
            try:
                built = make_layer(type_name, {**required, key: flat[0]}).get_config()
                self.compact_cache[cache_key] = normal(built.get(key)) == original
            except Exception:   # Keras refuses the number: keep the list
                self.compact_cache[cache_key] = False
        return flat[0] if self.compact_cache[cache_key] else value

    def value(self, value, where: str, key: str):
        if isinstance(value, (list, tuple)):
            return [self.value(v, where, key) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            raise ImportProblem(f"layer {show(where)}: {key}={value} is not a finite number, which a spec cannot "
                                f"write")
        if not isinstance(value, dict):
            return value
        cls, module = value.get("class_name"), str(value.get("module") or "")
        if cls == "__tuple__":
            return self.value((value.get("config") or {}).get("value"), where, key)
        group = module.split(".")[1] if module.startswith("keras.") else None
        if group in OBJECT_GROUPS:
            return self.configured(group, cls, value.get("config") or {}, where, key)
        if cls is not None and "Policy" in str(cls):   # a dtype policy: its name
            return (value.get("config") or {}).get("name")
        if cls is not None and isinstance(value.get("config"), dict) and self.cat.layer(cls):   # a wrapped layer
            type_name, args, _ = self.layer(value, f"{where}.{key}", wrapped=True)
            return {"type": type_name, **args}
        if cls is not None:
            raise ImportProblem(f"layer {show(where)}: {key} holds a {cls} object ({module or 'no module'}), which a "
                                f"spec cannot write" + (": a Python function runs code" if cls == "function" else ""))
        return {k: self.value(v, where, key) for k, v in value.items()}

    def configured(self, group: str, cls, config: dict, where: str, key: str):
        """An initializer, regularizer or constraint: its name where it has no arguments, else {type: ..., ...}."""
        table = self.cat.objects.get(group, {"classes": {}, "aliases": {}})
        cls = table["aliases"].get(cls, cls) if cls not in table["classes"] else cls
        if cls not in table["classes"]:
            raise ImportProblem(f"layer {show(where)}: {key} is a {cls}, outside the {group} a spec can name")
        entries = table["classes"][cls]["args"]
        args = {}
        for name, item in config.items():
            if name in entries and "default" in entries[name] and normal(item) == normal(entries[name]["default"]):
                continue
            if name not in entries:
                if item is None:
                    continue
                raise ImportProblem(f"layer {show(where)}: {key} is a {cls} with {name}={show(item)}, an argument "
                                    f"builder's catalogue does not list")
            args[name] = self.value(item, where, key)
        if not args:
            names = self.cat.names.get(group, [])
            aliases = [a for a, c in table["aliases"].items() if c == cls and a in names and a == a.lower()]
            if aliases:
                return snake(cls) if snake(cls) in aliases else aliases[0]
        return {"type": cls, **args}


# --- reading a model -----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _call_arguments(type_name: str) -> list[str]:
    """The names of a layer's call arguments after its main input, in order (MultiHeadAttention: value, key, ...)."""
    return list(inspect.signature(layer_class(type_name).call).parameters)[1:]


def _is_tensor(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _history(tensor: dict) -> tuple:
    layer, node, index = (tensor.get("config") or {}).get("keras_history")
    return layer, node, index


def _triples(value) -> list:
    """`input_layers` / `output_layers`: one [name, node, index] or a list of them."""
    if isinstance(value, dict):
        return list(value.values())
    if value and isinstance(value[0], str):
        return [value]
    return list(value)


def _functional_config(model) -> dict:
    """A functional model's config as `get_config()` writes it, but read from the live graph so that every node
    index counts the calls made in this model only (Keras' own config counts a nested model's outputs from 1
    and the tensors its calls read from 0)."""
    import keras
    from keras.src.ops.function import make_node_key

    own = model._nodes
    index, calls = {}, {}
    for op in model.operations:
        kept = [i for i in range(len(op._inbound_nodes)) if make_node_key(op, i) in own]
        index.update({(id(op), i): n for n, i in enumerate(kept)})
        calls[id(op)] = [op._inbound_nodes[i] for i in kept]

    def history(tensor) -> list:
        op, i, t = tensor._keras_history
        return [op.name, index[(id(op), i)], t]

    def plain(value):
        if isinstance(value, keras.KerasTensor):
            return {"class_name": "__keras_tensor__", "config": {"shape": list(value.shape), "dtype": value.dtype,
                                                                 "keras_history": history(value)}}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    layers = []
    for op in model.operations:
        entry = keras.saving.serialize_keras_object(op)
        entry["name"] = op.name
        entry["inbound_nodes"] = [{"args": plain(list(node.arguments.args)), "kwargs": plain(dict(node.arguments.kwargs))}
                                  for node in calls[id(op)] if node.input_tensors]
        layers.append(entry)
    return {"name": model.name, "layers": layers, "input_layers": [history(x) for x in model.inputs],
            "output_layers": [history(x) for x in model.outputs]}


def _recomputed_masks(entries: list, layers: dict, config: dict) -> set:
    """The keras.ops operations (NotEqual, LogicalOr, ...) that only make masks Keras passes along by itself (an
    Embedding with mask_zero, read by an LSTM or an attention layer): a spec leaves them out and the rebuilt model
    makes them again. An operation whose result reaches anything but a `*mask` argument or another such
    operation stays, and is reported as what a spec cannot write."""
    import keras

    masks = {name for name, op in layers.items() if not isinstance(op, keras.layers.Layer)}
    readers: dict = {}   # operation -> [(reader, as a mask)]

    def visit(value, reader, as_mask):
        if _is_tensor(value):
            readers.setdefault(_history(value)[0], []).append((reader, as_mask))
        elif isinstance(value, (list, dict)):
            for v in value.values() if isinstance(value, dict) else value:
                visit(v, reader, as_mask)

    for entry in entries:
        for node in entry.get("inbound_nodes") or []:
            visit(node.get("args"), entry["name"], False)
            for key, value in (node.get("kwargs") or {}).items():
                visit(value, entry["name"], key.endswith("mask"))
    masks -= {layer for layer, _, _ in _triples(config["output_layers"])}
    while True:
        kept = {op for op in masks if not all(as_mask or reader in masks for reader, as_mask in readers.get(op, []))}
        if not kept:
            return masks
        masks -= kept


def _chain_config(model) -> dict:
    """A Sequential model's config in the functional form: each layer reads the one before."""
    config = model.get_config()
    entries = [dict(e) for e in config.get("layers", [])]
    if entries and entries[0].get("class_name") == "InputLayer":
        first = entries.pop(0)
        first["name"] = first["config"]["name"]
    else:
        shape = config.get("build_input_shape")
        if shape is None:
            raise ImportProblem(f"the Sequential model {show(model.name)} has no input shape: it was never built\n"
                                f"  hint: start it with keras.Input(shape=...), or call it on data once, and save it again")
        first = {"class_name": "InputLayer", "name": "input", "config": {"batch_shape": list(shape),
                                                                        "dtype": "float32"}}
    first["inbound_nodes"] = []
    previous = first["name"]
    for entry in entries:
        entry["name"] = entry["config"]["name"]
        entry["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__",
                                            "config": {"keras_history": [previous, 0, 0]}}], "kwargs": {}}]
        previous = entry["name"]
    return {"name": config.get("name"), "layers": [first] + entries, "input_layers": [first["name"], 0, 0],
            "output_layers": [previous, 0, 0]}


class _Reader:
    def __init__(self):
        self.convert = _Converter()
        self.models: dict[str, SpecModel] = {}
        self.model_names: set = set()
        self.notes: list[str] = []
        self.seen: dict[int, str] = {}
        self.masks: set = set()

    def model(self, live) -> str:
        """Read a Keras model (and the models it calls) into `self.models`; its spec model name."""
        import keras

        if id(live) in self.seen:   # a model called from two places is one spec model
            return self.seen[id(live)]

        config = _chain_config(live) if isinstance(live, keras.Sequential) else _functional_config(live)
        name = unique(valid_id(live.name), self.model_names)
        entries = config["layers"]
        used: set = set()
        ids = {e["name"]: unique(valid_id(e["name"]), used) for e in entries}   # every layer keeps its name
        inputs, producer, several = {}, {}, {}
        for layer_name, _, _ in _triples(config["input_layers"]):
            entry = next(e for e in entries if e["name"] == layer_name)
            shape = list(entry["config"].get("batch_shape") or [None])[1:]
            dtype = entry["config"].get("dtype") or "float32"
            dtype = dtype.get("config", {}).get("name", "float32") if isinstance(dtype, dict) else dtype
            if dtype not in INPUT_DTYPES:
                raise ImportProblem(f"input {show(layer_name)} has dtype {dtype}; a spec input takes one of "
                                    f"{', '.join(sorted(INPUT_DTYPES))}")
            inputs[ids[layer_name]] = {"shape": shape, "dtype": dtype}
            producer[(layer_name, 0)] = ids[layer_name]
        calls, order = [], {}
        layers = {layer.name: layer for layer in getattr(live, "operations", live.layers)}
        self.masks = _recomputed_masks(entries, layers, config)
        for entry in entries:
            if entry["class_name"] == "InputLayer" or entry["name"] in self.masks:
                continue
            layer = layers[entry["name"]]
            if not isinstance(layer, keras.layers.Layer):
                raise ImportProblem(f"{show(entry['name'])} is a keras.ops {entry['class_name']} operation, not a "
                                    f"layer; a spec is made of layers\n  hint: do that computation in a layer "
                                    f"(a catalogue layer, or one of builder's own), save the model again, and import it")
            nodes = entry.get("inbound_nodes") or []
            several[entry["name"]] = self.outputs(layer)
            kinds = self.kind(entry, layer, nodes, ids)
            for k, node in enumerate(nodes):
                call_id = ids[entry["name"]] if k == 0 else unique(f"{ids[entry['name']]}_{k + 1}", used)
                producer[(entry["name"], k)] = call_id
                call = kinds(call_id, node, k)
                order[call_id] = len(order)
                calls.append(call)
        for call in calls:   # the tensors each call reads, now that every producer has an id
            self.link(call, producer, several)
        outputs = [self.ref(producer, several, (layer, node, index), "the model's outputs")
                   for layer, node, index in _triples(config["output_layers"])]
        spec_model = SpecModel(name, inputs, _writing_order(calls, inputs, order), outputs, live)
        self.models[name] = spec_model
        self.seen[id(live)] = name
        return name

    def outputs(self, layer) -> int:
        import keras

        if isinstance(layer, keras.Model):
            return len(layer.outputs)
        counts = [len(node.outputs) for node in getattr(layer, "_inbound_nodes", [])]
        return max(counts, default=1)

    def kind(self, entry: dict, layer, nodes: list, ids: dict):
        """A function (call id, serialised call, k) -> Call for this layer's calls."""
        import keras

        where = entry["name"]
        if entry["class_name"] in MODEL_CLASSES or isinstance(layer, keras.Model):
            callee = self.model(layer)
            return lambda call_id, node, k: self.model_call(call_id, callee, node, where)
        type_name, args, defaults = self.convert.layer(entry, where)
        if len(nodes) > 1 and layer.weights:
            callee = self.shared(entry, layer, nodes, ids[where], type_name, args, defaults)
            self.notes.append(f"{where} ({type_name}) is called {len(nodes)} times with one set of weights: model "
                              f"{callee} holds it, and each call is a `model: {callee}` node")
            return lambda call_id, node, k: self.shared_call(
                call_id, callee, self.layer_call(call_id, type_name, args, defaults, node, where))
        if len(nodes) > 1:
            self.notes.append(f"{where} ({type_name}) is called {len(nodes)} times and has no weights: one node per "
                              f"call")
        return lambda call_id, node, k: self.layer_call(call_id, type_name, args, defaults, node, where)

    def layer_call(self, call_id, type_name, args, defaults, node, where) -> Call:
        info = catalogue().layer(type_name)
        call = Call(call_id, "layer", type_name, dict(args), dict(defaults), source=where, main=info.input_arg)
        positional = list(node.get("args") or [])
        if not positional:
            raise ImportProblem(f"layer {show(where)} is called with no input tensor")
        first = positional[0]
        if isinstance(first, list) and all(_is_tensor(t) for t in first):
            if not info.many_inputs:
                raise ImportProblem(f"layer {show(where)} ({type_name}) is called on a list of tensors, which a "
                                    f"spec writes only for merge layers")
            call.inputs, call.many = list(first), True
        elif _is_tensor(first):
            call.inputs = [first]
        else:
            raise ImportProblem(f"layer {show(where)} ({type_name}) is called on {show(first)}, not a tensor")
        names = _call_arguments(type_name)
        for i, value in enumerate(positional[1:], start=1):
            self.call_argument(call, names[i] if i < len(names) else f"argument {i}", value, info, where)
        for key, value in (node.get("kwargs") or {}).items():
            self.call_argument(call, key, value, info, where)
        return call

    def call_argument(self, call: Call, key: str, value, info, where: str) -> None:
        if value is None or key == "training":   # Keras records the defaults; training follows the caller
            return
        if key.endswith("mask") and _is_tensor(value) and _history(value)[0] in self.masks:
            return   # an Embedding's mask_zero mask: the rebuilt model computes it again
        tensors = value if isinstance(value, list) else [value]
        if tensors and all(_is_tensor(t) for t in tensors):
            if key not in info.tensor_call_args:
                raise ImportProblem(f"layer {show(where)} ({info.name}) reads a tensor as {key}, which a spec "
                                    f"cannot wire")
            call.keywords[key] = value
        elif isinstance(value, bool) and key in info.flag_call_args:
            call.call[key] = value
        else:
            raise ImportProblem(f"layer {show(where)} ({info.name}) is called with {key}={show(value)}, which a "
                                f"spec cannot write")

    def model_call(self, call_id, callee: str, node, where) -> Call:
        call = Call(call_id, "model", callee, source=where)
        positional = list(node.get("args") or [])
        kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None and k != "training"}
        names = list(self.models[callee].inputs)
        if kwargs:
            raise ImportProblem(f"model {show(where)} is called with {', '.join(kwargs)}, which a spec cannot write")
        first = positional[0] if positional else None
        values = first if isinstance(first, list) else [first]
        if not all(_is_tensor(v) for v in values) or len(values) != len(names):
            raise ImportProblem(f"model {show(where)} is called on {show(first)}; a spec calls a model on its "
                                f"{len(names)} input tensor{'s' * (len(names) != 1)}")
        call.inputs = values
        return call

    def shared_call(self, call_id, callee: str, layer_call: Call) -> Call:
        """A call of a shared layer, as a call of the spec model that holds it: the layer's inputs, in order."""
        values = layer_call.inputs + [layer_call.keywords[k] for k in self.models[callee].calls[0].keywords]
        return Call(call_id, "model", callee, inputs=values, source=layer_call.source)

    def shared(self, entry, layer, nodes, layer_id, type_name, args, defaults) -> str:
        """A spec model holding one Keras layer that is called several times: its inputs are the layer's call
        arguments, shaped as the calls' tensors (a size they disagree on becomes null)."""
        where = entry["name"]
        name = unique(layer_id, self.model_names)
        calls = [self.layer_call(layer_id, type_name, args, defaults, node, where) for node in nodes]
        first = calls[0]
        for k, other in enumerate(calls[1:], start=2):
            if other.call != first.call or list(other.keywords) != list(first.keywords) or \
                    len(other.inputs) != len(first.inputs):
                raise ImportProblem(f"layer {show(where)} is called in different ways (call {k} differs from call "
                                    f"1), which one spec model cannot express")
        info = catalogue().layer(type_name)
        slots = ([f"{info.input_arg}_{i + 1}" for i in range(len(first.inputs))] if first.many
                 else [info.input_arg]) + list(first.keywords)
        inputs = {}
        for slot_index, slot in enumerate(slots):
            tensors = [(call.inputs + list(call.keywords.values()))[slot_index] for call in calls]
            if any(isinstance(t, list) for t in tensors):
                raise ImportProblem(f"layer {show(where)} reads a list of tensors as {slot}, which a shared "
                                    f"layer's spec model cannot take")
            shapes = [list((t.get("config") or {}).get("shape") or [None])[1:] for t in tensors]
            dtypes = {(t.get("config") or {}).get("dtype") or "float32" for t in tensors}
            if len({len(s) for s in shapes}) != 1 or len(dtypes) != 1 or dtypes - INPUT_DTYPES:
                raise ImportProblem(f"layer {show(where)} is called on tensors of different ranks or dtypes, which "
                                    f"one spec model cannot take")
            inputs[slot] = {"shape": [dims[0] if len(set(dims)) == 1 else None for dims in zip(*shapes)],
                            "dtype": dtypes.pop()}
        inner = Call(layer_id, "layer", type_name, dict(args), dict(defaults), source=where, main=info.input_arg,
                     many=first.many, call=dict(first.call), outputs=self.outputs(layer))
        inner.inputs = [Ref(s) for s in slots[: len(first.inputs)]]
        inner.keywords = {k: Ref(k) for k in first.keywords}
        outputs = [Ref(layer_id, i) for i in range(inner.outputs)] if inner.outputs > 1 else [Ref(layer_id)]
        self.models[name] = SpecModel(name, inputs, [inner], outputs, layer, shared_layer=where)
        return name

    def ref(self, producer: dict, several: dict, history: tuple, where: str) -> Ref:
        layer, node, index = history
        if (layer, node) not in producer:
            raise ImportProblem(f"{where} read {layer!r} (call {node}), which is not part of the model")
        return Ref(producer[(layer, node)], index if several.get(layer, 1) > 1 else None)

    def link(self, call: Call, producer: dict, several: dict) -> None:
        def resolve(value):
            if isinstance(value, list):
                return [resolve(v) for v in value]
            return self.ref(producer, several, _history(value), f"node {call.id!r}") if _is_tensor(value) else value
        call.inputs = resolve(call.inputs)
        call.keywords = {k: resolve(v) for k, v in call.keywords.items()}


def _writing_order(calls: list, inputs: dict, keras_order: dict) -> list:
    """A topological order in which a node follows the node it reads wherever it can (so that `inputs` is
    rarely written); ties go by Keras' own order. Keras orders a functional model's layers by the graph alone,
    so the order written changes nothing in the model built."""
    by_id = {c.id: c for c in calls}
    consumers: dict = {c.id: [] for c in calls}
    waiting = {}
    for call in calls:
        producers = {r.node for r in call.sources() if r.node in by_id}
        waiting[call.id] = len(producers)
        for p in producers:
            consumers[p].append(call.id)
    ready = {c.id for c in calls if waiting[c.id] == 0}
    order, last = [], None
    while ready:
        following = [c for c in consumers.get(last, []) if c in ready]
        chosen = min(following or ready, key=keras_order.__getitem__)
        ready.discard(chosen)
        order.append(by_id[chosen])
        last = chosen
        for c in consumers[chosen]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.add(c)
    return order


def read_network(model, where: str) -> Network:
    """The Keras model as spec models; an `ImportProblem` becomes a `SpecError` at `where`."""
    reader = _Reader()
    try:
        reader.model(model)
    except ImportProblem as problem:
        message, _, hint = str(problem).partition("\n  hint: ")
        raise SpecError.single(Location(where), message, hint or None) from None
    models = reader.models
    main = list(models)[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", model.name or "imported").lstrip("_.-")[:64] or "imported"
    return Network(name if name[0].isalnum() else "imported", {**{k: v for k, v in models.items() if k != main},
                                                               main: models[main]}, reader.notes)
