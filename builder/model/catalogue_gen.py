"""Generates `builder/resources/keras_layers.json`, the catalogue of layer types a spec may name.

Validation must not import Keras (it would cost seconds), yet it must check
layer arguments against the real constructor signatures. So this module, the
one place that introspects Keras for that purpose, writes the signatures of
every public `keras.layers` class and every builder layer into a JSON file,
and `builder.language.catalogue` reads that file. A test regenerates it and fails on
drift. Run `builder catalogue` after adding a layer or upgrading Keras.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path

from builder import resources

CATALOGUE_PATH = resources.source_path(resources.CATALOGUE)

# Classes that are not graph nodes, or that would run or load code a spec must
# not be able to name. The reason is shown to a user who asks for them.
EXCLUDED = {
    "Lambda": "it runs arbitrary Python code; write a builder layer instead",
    "TFSMLayer": "it loads a SavedModel from a path; load weights through `train.init`",
    "JaxLayer": "it wraps a Python function",
    "FlaxLayer": "it wraps a Python module",
    "TorchModuleWrapper": "it wraps a Python module",
    "Layer": "it is the abstract base class; name a concrete layer",
    "Wrapper": "it is an abstract base class; use Bidirectional, TimeDistributed, ...",
    "InputLayer": "inputs are declared under `inputs:`",
    "InputSpec": "it is not a layer",
    "Pipeline": "list the layers in order instead",
    "StackedRNNCells": "stack recurrent layers instead",
    "RNN": "use SimpleRNN, LSTM or GRU",
    "SimpleRNNCell": "cells are used inside RNN layers; use SimpleRNN",
    "LSTMCell": "cells are used inside RNN layers; use LSTM",
    "GRUCell": "cells are used inside RNN layers; use GRU",
}

FAMILY_BY_MODULE = {
    "activations": "activation",
    "attention": "attention",
    "convolutional": "convolution",
    "core": "dense",
    "merging": "merge",
    "normalization": "normalization",
    "pooling": "pooling",
    "regularization": "regularization",
    "reshaping": "reshape",
    "rnn": "recurrent",
    "preprocessing": "preprocessing",
}

# Constructor arguments that take a nested layer spec rather than a value.
LAYER_ARGS = {"layer", "backward_layer"}
# Arguments builder sets itself or that would smuggle objects in.
HIDDEN_ARGS = {"self", "name", "weights", "input_shape", "batch_input_shape", "batch_size",
               "quantization_config"}
BASE_ARGS = {"trainable": True, "dtype": None}
# Layers that are not merges but are called on a list of tensors.
LIST_INPUT = {"Attention", "AdditiveAttention", "HashedCrossing"}


def _json_default(value):
    """A signature default as JSON, or a marker when it is an object."""
    if isinstance(value, tuple):
        value = list(value)
    if value is None or isinstance(value, (bool, int, str)):
        return {"default": value}
    if isinstance(value, float):
        return {"default": value} if math.isfinite(value) else {"default_text": repr(value)}
    if isinstance(value, list) and all(isinstance(v, (bool, int, float, str)) or v is None for v in value):
        return {"default": value}
    return {"default_text": repr(value)[:80]}


def _params(fn, skip: set[str]) -> dict:
    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in skip or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        entry = {"required": True} if p.default is inspect.Parameter.empty else _json_default(p.default)
        if name in LAYER_ARGS:
            entry["kind"] = "layer"
        out[name] = entry
    return out


def _family(cls) -> str:
    module = cls.__module__
    if module.startswith("builder."):
        return "builder"
    for part in module.split(".")[::-1]:
        if part in FAMILY_BY_MODULE:
            return FAMILY_BY_MODULE[part]
    return "other"


ARG_SECTIONS = ("Args:", "Arguments:")
CALL_SECTIONS = ("Call arguments:", "Call args:", "Call Args:")
_ARG_LINE = re.compile(r"(\w+)(?: \([^)]*\))?: ?(.*)")   # `name: text` or `name (type): text`


def _doc_section(doc: str, headers: tuple[str, ...]) -> dict[str, str]:
    """{argument: its description} from one Google-style section of a docstring (`Args:` and its indented
    `name: text` entries, continuation lines indented further), as Keras writes its docstrings."""
    lines = doc.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() in headers), None)
    if start is None:
        return {}
    out: dict[str, list[str]] = {}
    level, name = None, None
    for line in lines[start:]:
        if not line.strip():   # a paragraph break inside an argument's text (or before the next one)
            if name:
                out[name].append("\n")
            continue
        indent = len(line) - len(line.lstrip())
        level = indent if level is None else level
        if indent < level:   # the next section (`Input shape:`, `Example:`, ...)
            break
        entry = _ARG_LINE.fullmatch(line.strip()) if indent == level else None
        if entry:
            name = entry[1]
            out[name] = [entry[2]]
        elif name:
            out[name].append(line.strip())
    return {arg: re.sub(r"\s*\n\s*", "\n\n", " ".join(parts).strip()) for arg, parts in out.items()}


def _docs(cls, headers: tuple[str, ...]) -> dict[str, str]:
    """Argument descriptions from the class and its bases (a subclass documents what it changes, and
    `Layer` documents `trainable` and `dtype`); the nearest class that documents an argument wins."""
    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        for source in (klass.__dict__.get("__doc__"), getattr(klass.__dict__.get("__init__"), "__doc__", None)):
            for arg, text in _doc_section(inspect.cleandoc(source) if isinstance(source, str) else "",
                                          headers).items():
                docs.setdefault(arg, text)
    return docs


def _with_docs(params: dict, docs: dict[str, str]) -> dict:
    """Each argument's entry with its description, for editors' hover and `builder layers`."""
    for name, entry in params.items():
        if docs.get(name):
            entry["description"] = docs[name]
    return params


def describe(cls, merge_base) -> dict:
    # `weights` (initial arrays) is hidden for Keras' layers; builder's Application names its weights with it
    args = _params(cls.__init__, HIDDEN_ARGS - {"weights"} if cls.__module__.startswith("builder.") else HIDDEN_ARGS)
    for name, default in BASE_ARGS.items():
        args.setdefault(name, {"default": default})
    _with_docs(args, _docs(cls, ARG_SECTIONS))
    call = _with_docs(_params(cls.call, {"self"}), _docs(cls, CALL_SECTIONS))
    positional = [n for n, p in inspect.signature(cls.call).parameters.items()
                  if n != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    doc = inspect.getdoc(cls) or ""
    return {
        "family": _family(cls),
        "many_inputs": bool(issubclass(cls, merge_base) or cls.__name__ in LIST_INPUT
                            or getattr(cls, "builder_many_inputs", False)),
        "input_arg": positional[0] if positional else None,
        "args": args,
        "call": {n: v for n, v in call.items() if n != (positional[0] if positional else None)},
        "summary": doc.split("\n\n")[0].replace("\n", " ")[:200],
    }


OPTIMIZERS = ("SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "Adafactor", "Ftrl",
              "Lamb", "Lion", "Nadam", "RMSprop")
_NOT_NAMES = {"get", "serialize", "deserialize"}


def _lower_callables(module) -> list[str]:
    return sorted(n for n in dir(module) if n[:1].islower() and n not in _NOT_NAMES
                  and callable(getattr(module, n)))


def _names(keras) -> dict:
    """Names a spec may give as strings; each resolves through a closed table."""
    from keras.src import constraints, initializers, regularizers

    return {
        "activations": _lower_callables(keras.activations),
        "regularizers": sorted(set(regularizers.ALL_OBJECTS_DICT) - {"Regularizer", "regularizer"}),
        # every name Keras' own lookup accepts, minus those that need arguments (constant, stft, min_max_norm)
        "initializers": sorted(set(initializers.ALL_OBJECTS_DICT) - {
            "Initializer", "initializer", "Constant", "constant", "STFT", "STFTInitializer", "stft"}),
        "constraints": sorted(set(constraints.ALL_OBJECTS_DICT) - {"Constraint", "constraint", "MinMaxNorm",
                                                                    "min_max_norm"}),
        # Keras' loss functions and builder's own losses (builder.model.losses: contrastive, triplet)
        "losses": sorted([n for n in _lower_callables(keras.losses) if n != "ctc"] + list(_builder_losses())),
        "metrics": sorted(set(_lower_callables(keras.metrics)) | {"accuracy", "auc", "precision", "recall"}),
    }


OBJECT_BASES = {"initializers": "Initializer", "regularizers": "Regularizer", "constraints": "Constraint"}


def _objects() -> dict:
    """The initializer, regularizer and constraint classes a spec may configure (`{type: VarianceScaling,
    scale: 2.0}`): each class's constructor arguments, as for layers, and every other name Keras exports
    for it (`IdentityInitializer`, `variance_scaling`) -> the class. All of them take plain values."""
    import keras

    objects = {}
    for group, base_name in OBJECT_BASES.items():
        module = getattr(keras, group)
        base = getattr(module, base_name)
        classes, aliases = {}, {}
        for name in sorted(dir(module)):
            cls = getattr(module, name)
            if not (inspect.isclass(cls) and issubclass(cls, base)) or cls is base:
                continue
            if name != cls.__name__:
                aliases[name] = cls.__name__
                continue
            doc = inspect.getdoc(cls) or ""
            classes[name] = {"args": _with_docs(_params(cls.__init__, {"self"}), _docs(cls, ARG_SECTIONS)),
                             "summary": doc.split("\n\n")[0].replace("\n", " ")[:200]}
        for name, cls in getattr(keras.src, group).ALL_OBJECTS_DICT.items():   # the snake-case names
            if name not in classes and cls.__name__ in classes:
                aliases.setdefault(name, cls.__name__)
        objects[group] = {"classes": classes, "aliases": dict(sorted(aliases.items()))}
    return objects


def _name_aliases(names: dict) -> dict:
    """Keras' own short names for losses and metrics (mse, MAE, bce, ...) -> the name they stand for.

    Exactly what `keras.losses.get` / `keras.metrics.get` accept besides class and function names, so a
    spec may write what a Keras user writes; parse turns each into the name it stands for.
    """
    from keras.src import losses, metrics
    from keras.src.utils.naming import to_snake_case

    aliases = {}
    for group, module in (("losses", losses), ("metrics", metrics)):
        table = {}
        for alias, obj in module.ALL_OBJECTS_DICT.items():
            canonical = to_snake_case(obj.__name__)   # a loss function's own name, or a metric class's
            if alias not in (obj.__name__, canonical) and canonical in names[group]:
                table[alias] = canonical
        aliases[group] = table
    return aliases


def _builder_losses() -> dict:
    from builder.model.losses import LOSSES

    return LOSSES


# Loss and metric classes a spec may configure, by group: (Keras' base class, classes left out and why)
TRAINING_OBJECTS = {
    "losses": ("Loss", {"CTC": "it needs label and output lengths builder does not feed"}),
    "metrics": ("Metric", {"MeanMetricWrapper": "it wraps a Python function", "Mean": "it averages values, not "
                           "targets and predictions", "Sum": "it sums values, not targets and predictions"}),
}


def _training_objects(names: dict) -> dict:
    """The loss and metric classes a spec may configure (`{type: sparse_categorical_crossentropy, from_logits:
    true}`, `{type: AUC, curve: PR}`), in `_objects`' form: each class's constructor arguments (with `name`
    for the metrics, whose name is what the run logs), its `name` in the name form (`loss:
    sparse_categorical_crossentropy`) when it has one, and every name that stands for it (that name, and
    Keras' aliases such as mse) -> the class. builder's own losses (builder.model.losses) are among them."""
    import keras
    from keras.src.utils.naming import to_snake_case

    aliases_of = _name_aliases(names)
    out = {}
    for group, (base_name, left_out) in TRAINING_OBJECTS.items():
        module = getattr(keras, group)
        base = getattr(module, base_name)
        hidden = {"self", "dtype"} | ({"name"} if group == "losses" else set())
        found = [(name, getattr(module, name)) for name in sorted(dir(module))]
        own = {cls: name for name, cls in _builder_losses().items()} if group == "losses" else {}
        found += [(cls.__name__, cls) for cls in own]
        classes, aliases = {}, {}
        for name, cls in found:
            if not (inspect.isclass(cls) and issubclass(cls, base)) or cls is base or name in left_out \
                    or name != cls.__name__:
                continue
            plain = own.get(cls) or to_snake_case(name)
            doc = inspect.getdoc(cls) or ""
            classes[name] = {"args": _with_docs(_params(cls.__init__, hidden), _docs(cls, ARG_SECTIONS)),
                             "summary": doc.split("\n\n")[0].replace("\n", " ")[:200],
                             "name": plain if plain in names[group] else None}
            if plain in names[group]:
                aliases[plain] = name
        for alias, plain in aliases_of[group].items():   # mse, MAE, bce, ...
            if plain in aliases:
                aliases.setdefault(alias, aliases[plain])
        out[group] = {"classes": classes, "aliases": dict(sorted(aliases.items()))}
    return out


def generate() -> dict:
    """The catalogue as a dict (imports Keras and builder's layers)."""
    import keras
    from keras.src.layers.merging.base_merge import Merge

    import builder.model.layers as builder_layers

    layers, aliases = {}, {}
    seen: dict[type, str] = {}
    for name in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, name)
        if name.startswith("_") or not inspect.isclass(cls) or name in EXCLUDED:
            continue
        if not issubclass(cls, keras.layers.Layer):
            continue
        canonical = cls.__name__ if hasattr(keras.layers, cls.__name__) else name
        if canonical != name:
            aliases[name] = canonical
            continue
        seen[cls] = name
        layers[name] = describe(cls, Merge)
    for name in builder_layers.__all__:
        layers[name] = describe(getattr(builder_layers, name), Merge)
    names = _names(keras)
    return {
        "generated_by": "builder catalogue",
        "names": names,
        "name_aliases": _name_aliases(names),
        "optimizers": {name.lower(): _with_docs(_params(getattr(keras.optimizers, name).__init__, {"self", "name"}),
                                                _docs(getattr(keras.optimizers, name), ARG_SECTIONS))
                       for name in OPTIMIZERS},
        "objects": _objects() | _training_objects(names),
        "keras_version": keras.__version__,
        "layers": layers,
        "aliases": aliases,
        "excluded": EXCLUDED,
    }


def write(path: Path = CATALOGUE_PATH) -> Path:
    path.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n")
    return path
