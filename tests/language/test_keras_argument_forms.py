"""Every argument form Keras itself constructs a layer with, the parser and the JSON Schema accept.

The forms come from the installed Keras, so a Keras upgrade brings its new forms in: the `layers.X(...)` calls
of each layer's docstring examples and of `keras/src/layers/**/*_test.py`, the `init_kwargs` of their
`run_layer_test` calls, and, in a test file's dict literals (its parameterized cases), the values under an
argument name of the layers its module defines. A hand table adds the forms Keras documents only in words
(nested croppings, equations, axis lists, null where allowed). A form counts only when Keras constructs the
layer with it; then `check_layer` must accept it, the JSON Schema too, and builder's own constructor call
(lists where Keras' examples write tuples) must build the layer. What builder refuses on purpose is listed in
REFUSED_ON_PURPOSE with the reason.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")

import jsonschema  # noqa: E402

from builder.language import schema  # noqa: E402
from builder.language.catalogue import catalogue  # noqa: E402
from builder.language.parser import check_layer  # noqa: E402
from builder.language import argtypes  # noqa: E402
from builder.model.compile import configured_object, make_layer  # noqa: E402

KERAS_LAYERS = sorted(name for name, entry in catalogue().layers.items() if entry["family"] != "builder")
LAYERS_SOURCE = Path(keras.__file__).parent / "src" / "layers"

# A valid value for each required argument, so that one argument's form can be tried on its own.
REQUIRED = {"activation": "relu", "axes": 1, "dims": [2, 1], "equation": "ab,bc->ac", "output_shape": 4,
            "factor": 0.2, "filters": 2, "head_dim": 2, "height": 4, "width": 4, "height_factor": 0.2,
            "width_factor": 0.2, "input_dim": 4, "output_dim": 2, "kernel_size": 3, "key_dim": 2, "max_number": 2,
            "n": 2, "num_bins": 2, "num_heads": 2, "num_key_value_heads": 1, "num_query_heads": 2, "output_size": 2,
            "pool_size": 2, "rate": 0.5, "scale": 2.0, "stddev": 0.1, "target_shape": [2, 2], "units": 2}

# Forms Keras documents in words rather than in an example: (layer, arguments).
DOCUMENTED = [
    ("Cropping1D", {"cropping": [1, 2]}),
    ("Cropping2D", {"cropping": [[1, 0], [1, 0]]}),
    ("Cropping2D", {"cropping": [[1, 0], 2]}),
    ("Cropping2D", {"cropping": [1, 2]}),
    ("Cropping3D", {"cropping": [[1, 0], [1, 0], [0, 2]]}),
    ("ZeroPadding1D", {"padding": [1, 2]}),
    ("ZeroPadding2D", {"padding": [[1, 0], [1, 0]]}),
    ("ZeroPadding2D", {"padding": [1, 2]}),
    ("ZeroPadding3D", {"padding": [[1, 0], [1, 0], [1, 0]]}),
    ("ZeroPadding3D", {"padding": [1, 2, 3]}),
    ("EinsumDense", {"equation": "...c,c->...c", "output_shape": [4]}),
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [None, 64], "bias_axes": "d"}),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4, "activation": "relu"}),
    ("Conv2D", {"filters": 2, "kernel_size": [3, 1], "strides": [2, 1], "dilation_rate": 1}),
    ("Conv1D", {"filters": 2, "kernel_size": [3], "padding": "causal", "dilation_rate": [2]}),
    ("MaxPooling2D", {"pool_size": [2, 2], "strides": None}),
    ("LayerNormalization", {"axis": [1, 2, 3]}),
    ("Normalization", {"axis": None}),
    ("Dot", {"axes": [1, 2]}),
    ("Permute", {"dims": [2, 1]}),
    ("Reshape", {"target_shape": [-1, 2]}),
    ("UpSampling2D", {"size": [1, 2]}),
    ("GroupNormalization", {"groups": -1}),
    ("LSTM", {"units": 2, "use_cudnn": False}),
    ("RandomZoom", {"height_factor": [-0.2, 0.3], "width_factor": None}),
    ("Dense", {"units": 2, "dtype": "mixed_float16", "kernel_regularizer": "l2", "kernel_constraint": "non_neg"}),
    ("Dense", {"units": 2, "kernel_initializer": {"type": "VarianceScaling", "scale": 2.0, "mode": "fan_out",
                                                  "distribution": "truncated_normal", "seed": 1},
               "bias_initializer": {"type": "Constant", "value": 1.0e-6},
               "kernel_regularizer": {"type": "L1L2", "l1": 0.01, "l2": 0.01},
               "kernel_constraint": {"type": "MaxNorm", "max_value": 3, "axis": [0]}}),
]

# (argument, a pattern its value matches): why builder refuses forms Keras constructs a layer with.
REFUSED_ON_PURPOSE = {
    ("dtype", r".+_from_.+"): "quantized dtype policies (int8_from_float32, gptq/4/8_from_float32, ...) are for "
                              "quantizing a trained model, which a spec does not describe; builder builds float models",
}


def _literal(node):
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _layer_called(func) -> str | None:
    """`X` of `layers.X` or `keras.layers.X`, when X is a catalogue layer."""
    if isinstance(func, ast.Attribute) and (
            (isinstance(func.value, ast.Name) and func.value.id == "layers")
            or (isinstance(func.value, ast.Attribute) and func.value.attr == "layers")):
        return func.attr if func.attr in KERAS_LAYERS else None
    return None


def _forms_in(tree, own_layers: set[str]):
    """(layer, arguments, complete) for each form in one parsed file; complete: every argument was a literal."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (name := _layer_called(node.func)):
            names = list(inspect.signature(getattr(keras.layers, name).__init__).parameters)[1:]
            arguments, complete = {}, True
            for param, arg in [*zip(names, node.args), *((k.arg, k.value) for k in node.keywords)]:
                ok, value = _literal(arg)
                complete &= ok and param is not None
                if ok and param is not None:
                    arguments[param] = value
            yield name, arguments, complete
        if isinstance(node, ast.Call) and node.args and (name := _layer_called(node.args[0])):
            for keyword in node.keywords:   # run_layer_test(layers.X, init_kwargs={...})
                ok, value = _literal(keyword.value)
                if keyword.arg == "init_kwargs" and ok and isinstance(value, dict):
                    yield name, value, True
        if isinstance(node, ast.Dict):   # parameterized cases: {"cropping": ((1, 2), (3, 4)), ...}
            for key, item in zip(node.keys, node.values):
                ok, value = _literal(item)
                if ok and isinstance(key, ast.Constant):
                    for name in own_layers:
                        if key.value in catalogue().layers[name]["args"]:
                            yield name, {key.value: value}, False


@lru_cache(maxsize=1)
def harvested() -> list[tuple[str, dict, bool]]:
    forms = []
    for path in sorted(LAYERS_SOURCE.rglob("*_test.py")):
        module = ".".join(path.relative_to(LAYERS_SOURCE.parent.parent).with_suffix("").parts)[:-len("_test")]
        own = {name for name in KERAS_LAYERS if getattr(keras.layers, name).__module__ == module}
        forms += _forms_in(ast.parse(path.read_text()), own)
    for name in KERAS_LAYERS:
        lines = (getattr(keras.layers, name).__doc__ or "").splitlines()
        code = "\n".join(re.sub(r"^\s*(>>>|\.\.\.) ?", "", line) for line in lines
                         if re.match(r"^\s*(>>>|\.\.\.)", line))
        try:
            forms += _forms_in(ast.parse(code), {name})
        except SyntaxError:
            continue
    return forms


def _plain(value):
    """As YAML would give it: tuples are lists; None where the value is not plain data."""
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return None if any(i is _NOT_PLAIN for i in items) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return _NOT_PLAIN


_NOT_PLAIN = object()


def _keras_accepts(name: str, arguments: dict) -> bool:
    """Keras constructs the layer with these arguments. A configured initializer, regularizer or constraint is
    made by calling its class, as compile does, so that Keras' constructor checks its arguments."""
    try:
        getattr(keras.layers, name)(**{k: configured_object(group, v) if (group := _object_group(name, k)) else v
                                       for k, v in arguments.items()})
    except Exception:   # noqa: BLE001 - whatever Keras refuses, the form is not one of its forms
        return False
    return True


def _object_group(name: str, argument: str) -> str | None:
    info = catalogue().layer(name)
    return getattr(argtypes.checker_for(info.name, argument, info.args.get(argument, {})), "objects", None)


@lru_cache(maxsize=1)
def forms() -> list[tuple[str, dict]]:
    """The distinct (layer, arguments) cases Keras constructs, as a spec writes them."""
    cases, seen = [], set()
    for name, arguments, complete in [*harvested(), *((n, a, None) for n, a in DOCUMENTED)]:
        documented, complete = complete is None, complete is not False
        info = catalogue().layer(name)
        arguments = {k: v for k, v in arguments.items() if k in info.args and info.args[k].get("kind") != "layer"}
        groups = [arguments] if complete else [{k: v} for k, v in arguments.items()]
        for group in groups:
            if not group or any(r not in group and r not in REQUIRED for r in info.required_args):
                continue
            full = {**{r: REQUIRED[r] for r in info.required_args if r not in group}, **group}
            plain = full if documented else {k: _plain(v) for k, v in full.items()}   # (Keras' own: no mappings)
            if any(v is _NOT_PLAIN for v in plain.values()):
                continue
            key = (name, json.dumps(plain, sort_keys=True, default=str))
            if key not in seen and _keras_accepts(name, full):
                seen.add(key)
                cases.append((name, plain))
    return cases


def test_every_hand_written_form_is_one_keras_constructs():
    assert [(name, arguments) for name, arguments in DOCUMENTED if (name, arguments) not in forms()] == []


def test_the_harvest_finds_forms_of_most_layer_families():
    found = {name for name, _ in forms()}
    assert len(forms()) > 500
    assert {"Conv2D", "Cropping2D", "EinsumDense", "LSTM", "MultiHeadAttention", "Normalization",
            "ZeroPadding2D", "RandomZoom", "Dot"} <= found


def _on_purpose(argument: str, value) -> bool:
    return any(argument == arg and re.fullmatch(pattern, str(value)) for arg, pattern in REFUSED_ON_PURPOSE)


def _refused(name: str, arguments: dict) -> list[str]:
    """The parser's problems with a form (its `locate` gives the path), but those refused on purpose."""
    problems = check_layer({"type": name, **arguments}, lambda path, key=False: path, ())
    return [f"{name} {p.message}" for p in problems
            if not (p.location and _on_purpose(p.location[0], arguments.get(p.location[0])))]


def test_the_forms_refused_on_purpose_are_refused():
    assert _keras_accepts("Dense", {"units": 2, "dtype": "int8_from_float32"})
    assert check_layer({"type": "Dense", "units": 2, "dtype": "int8_from_float32"}, lambda path, key=False: path, ())


def test_the_parser_accepts_every_form_keras_constructs_a_layer_with():
    refused = [message for name, arguments in forms() for message in _refused(name, arguments)]
    assert refused == []


def _accepted() -> list[tuple[str, dict]]:
    return [(name, arguments) for name, arguments in forms()
            if not check_layer({"type": name, **arguments}, lambda path, key=False: path, ())]


@pytest.fixture(scope="module")
def validator():
    """The JSON Schema of one layer node, as builder generates it."""
    generated = schema.spec_schema()
    return jsonschema.Draft202012Validator({"$defs": generated["$defs"], "$ref": "#/$defs/LayerNode"})


def test_the_schema_accepts_every_form_keras_constructs_a_layer_with(validator):
    refused = [f"{name} {arguments}: {error.message[:200]}" for name, arguments in _accepted()
               for error in [jsonschema.exceptions.best_match(validator.iter_errors({"type": name, **arguments}))]
               if error is not None]
    assert refused == []


@pytest.mark.parametrize("node", [
    {"type": "Cropping1D", "cropping": [0, "${(size // patch) * (size // patch)}"]},   # specs/vit.yaml
    {"type": "Cropping2D", "cropping": [["${pad}", 0], [1, "${pad}"]]},
    {"type": "ZeroPadding2D", "padding": ["${pad}", [0, 1]]},
    {"type": "EinsumDense", "equation": "...c,c->...c", "output_shape": ["${width}"]},
    {"type": "Dense", "units": 2, "kernel_initializer": {"type": "Constant", "value": "${eps}"}},
])
def test_the_schema_accepts_parameters_inside_the_nested_forms(node, validator):
    assert [error.message for error in validator.iter_errors(node)] == []


def test_builder_constructs_every_accepted_form_as_keras_does():
    failed = []
    for name, arguments in _accepted():
        try:
            make_layer(name, arguments)
        except Exception as exc:   # noqa: BLE001 - the message is the test's answer
            failed.append(f"{name} {arguments}: {type(exc).__name__}: {str(exc)[:150]}")
    assert failed == []


@pytest.mark.parametrize("name, arguments", [
    ("Cropping2D", {"cropping": [[1, 0], [1, 0], [1, 0]]}),   # three entries for two axes
    ("Cropping2D", {"cropping": [[1, 0, 2], [1, 0]]}),        # a triple for one axis
    ("Cropping1D", {"cropping": [1, 2, 3]}),
    ("ZeroPadding2D", {"padding": [[-1, 0], [1, 0]]}),
    ("Dense", {"units": 2, "kernel_initializer": {"type": "VarianceScaling", "mode": "fan_up"}}),
])
def test_forms_keras_refuses_the_parser_refuses_too(name, arguments):
    assert not _keras_accepts(name, arguments)
    assert check_layer({"type": name, **arguments}, lambda path, key=False: path, ())
