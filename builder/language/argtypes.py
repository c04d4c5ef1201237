"""Types of layer arguments, defined once and shared by every layer.

Keras constructors carry no type annotations, so the catalogue gives only
names and defaults. Here each argument *name* that means the same thing
across layers (`units`, `filters`, `rate`, `kernel_size`, `activation`, ...)
gets one checker; an argument not named here is typed by its default (a
boolean default takes a boolean, an int default an int, and so on).
`Conv2D.padding` style keys override a name for one layer type.

Checkers are strict like the rest of the spec: `units: "8"` and `units: true`
are errors, not 8 and 1. A checker returns None when the value is fine, or the
message fragment after "expected ".
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from builder.errors import did_you_mean, show
from builder.language.applications import APPLICATIONS
from builder.language.catalogue import catalogue

Checker = Callable[[Any], "str | None"]

MAX_DIM = 2**31 - 1
# A separator, a home folder or a URL scheme. Not a leading '.': EinsumDense's '...c,c->...c' is an equation.
_PATHLIKE = re.compile(r"(^~)|(/|\\)|(^[a-zA-Z][a-zA-Z0-9+.-]*://)")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return (is_int(v) or isinstance(v, float)) and not (isinstance(v, float) and not math.isfinite(v))


def looks_like_path(text: str) -> bool:
    """Paths and URLs never belong in layer arguments: a spec names no file but its data."""
    return bool(_PATHLIKE.search(text))


# --- building blocks -----------------------------------------------------------

def positive_int(v):
    return None if is_int(v) and 0 < v <= MAX_DIM else "a positive integer"


def non_negative_int(v):
    return None if is_int(v) and 0 <= v <= MAX_DIM else "an integer >= 0"


def any_int(v):
    return None if is_int(v) and abs(v) <= MAX_DIM else "an integer"


def boolean(v):
    return None if isinstance(v, bool) else "true or false"


def number(v):
    return None if is_number(v) else "a finite number"


def positive_number(v):
    return None if is_number(v) and v > 0 else "a number > 0"


def non_negative_number(v):
    return None if is_number(v) and v >= 0 else "a number >= 0"


def fraction(v):
    return None if is_number(v) and 0 <= v < 1 else "a number in [0, 1)"


def unit_interval(v):
    return None if is_number(v) and 0 <= v <= 1 else "a number in [0, 1]"


# JSON Schema twins of the checkers above, for editors (see builder.language.schema).
positive_int.schema = {"type": "integer", "minimum": 1, "maximum": MAX_DIM}
non_negative_int.schema = {"type": "integer", "minimum": 0, "maximum": MAX_DIM}
any_int.schema = {"type": "integer", "minimum": -MAX_DIM, "maximum": MAX_DIM}
boolean.schema = {"type": "boolean"}
number.schema = {"type": "number"}
positive_number.schema = {"type": "number", "exclusiveMinimum": 0}
non_negative_number.schema = {"type": "number", "minimum": 0}
fraction.schema = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
unit_interval.schema = {"type": "number", "minimum": 0, "maximum": 1}


def optional(check: Checker) -> Checker:
    def checker(v):
        return None if v is None else check(v)
    for attr in ("choices", "group", "objects"):
        if hasattr(check, attr):
            setattr(checker, attr, getattr(check, attr))
    if hasattr(check, "schema"):
        checker.schema = {"anyOf": [{"type": "null"}, check.schema]}
    return checker


def int_or_tuple(check: Checker, max_len: int = 3) -> Checker:
    """An int, or a list of 1..max_len ints, each passing `check`."""
    def checker(v):
        if isinstance(v, list):
            ok = 1 <= len(v) <= max_len and all(check(x) is None for x in v)
        else:
            ok = check(v) is None
        return None if ok else f"{_describe(check)} or a list of up to {max_len} of them"
    item = getattr(check, "schema", {})
    checker.schema = {"anyOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": max_len}]}
    return checker


def _describe(check: Checker) -> str:
    for probe in (0, -1, 1.5, "x", None):
        message = check(probe)
        if message:
            return message
    return "a valid value"


def list_of(check: Checker, min_len: int = 0, max_len: int = 10_000) -> Checker:
    def checker(v):
        if isinstance(v, list) and min_len <= len(v) <= max_len and all(check(x) is None for x in v):
            return None
        return f"a list of {_describe(check)}"
    checker.schema = {"type": "array", "items": getattr(check, "schema", {}), "minItems": min_len, "maxItems": max_len}
    return checker


def one_of(*choices: str) -> Checker:
    def checker(v):
        return None if v in choices else "one of " + ", ".join(repr(c) for c in choices)
    checker.choices = choices  # type: ignore[attr-defined]
    checker.schema = {"enum": list(choices)}  # type: ignore[attr-defined]  (inside `either`, a list, a mapping)
    return checker


def name_from(group: str, allow_none: bool = True) -> Checker:
    """A name from one of the catalogue's closed lists (activations, initializers, ...)."""
    def checker(v):
        if v is None and allow_none:
            return None
        names = catalogue().names[group]
        if isinstance(v, str) and v in names:
            return None
        return f"the name of one of Keras' {group} (e.g. {', '.join(repr(n) for n in names[:4])}, ...)"
    checker.group = group  # type: ignore[attr-defined]
    return checker


# --- initializers, regularizers, constraints: a name, or a mapping {type: Class, arguments...} ------------------
#
# Checked like a layer: the classes and their constructor arguments come from the catalogue (recorded from
# Keras' signatures by `builder catalogue`), each argument typed by this module (owner "initializers.Constant").
# compile builds the class it names, explicitly; there is no class_name, no config and no module path.

OBJECT_EXAMPLES = {"initializers": "{type: VarianceScaling, scale: 2.0, mode: fan_out}",
                   "regularizers": "{type: L2, l2: 1.0e-4}", "constraints": "{type: MaxNorm, max_value: 3}"}
OBJECT_SCHEMA_NAMES = {"initializers": "Initializer", "regularizers": "Regularizer", "constraints": "Constraint"}
TYPELESS = {"regularizers": "L1L2"}   # `{l1: x, l2: y}` without a type, as specs wrote regularizers before types

# (path below the argument, whether the problem is the key there rather than its value, message, hint)
ArgumentProblem = tuple[tuple, bool, str, "str | None"]


def object_class(group: str, type_name: Any) -> str | None:
    """The class a mapping's `type` names in one of the groups (a class name or Keras' other class-style
    name for it, such as IdentityInitializer), or None."""
    table = catalogue().objects.get(group, {})
    if not isinstance(type_name, str):
        return None
    if type_name in table.get("classes", {}):
        return type_name
    alias = table.get("aliases", {}).get(type_name)
    return alias if alias and type_name[:1].isupper() else None   # snake-case names are for the name form


def object_type(group: str, value: dict) -> Any:
    """What a mapping of the group names as its type: its `type`, or the class a typeless mapping stands for."""
    return value.get("type", TYPELESS.get(group))


def _object_expected(group: str) -> str:
    return f"the name of one of Keras' {group} or a mapping like {OBJECT_EXAMPLES[group]}"


def _object_problems(group: str, arg: str, value: Any) -> list[ArgumentProblem]:
    singular = group[:-1]
    wrong = ((), False, f"expected {_object_expected(group)}. Received: {arg}={show(value)}")
    if value is None:
        return []
    if isinstance(value, str):
        names = catalogue().names[group]
        if value in names:
            return []
        hint = did_you_mean(value, names)
        if object_class(group, value):   # a class that needs its arguments written out (Constant, STFT)
            hint = f"write it as a mapping with its arguments: {{type: {value}, ...}}"
        return [(*wrong, hint)]
    if not isinstance(value, dict):
        return [(*wrong, None)]
    table = catalogue().objects.get(group, {"classes": {}, "aliases": {}})
    type_name = object_type(group, value)
    if type_name is None or not value:
        return [(*wrong, f"a configured {singular} names its class under `type`: {OBJECT_EXAMPLES[group]} "
                         "(no class_name, no config)")]
    cls = object_class(group, type_name)
    if cls is None:
        classes = sorted(table["classes"])
        if not isinstance(type_name, str):
            return [(("type",), False, f"expected text, the name of a Keras {singular} class such as {classes[0]}. "
                                       f"Received: type={show(type_name)}", None)]
        alias = table["aliases"].get(type_name)
        hint = (f"a mapping's type is the class: did you mean {alias!r}?" if alias else did_you_mean(type_name, classes))
        where = f": a spec names {group} from a closed list, never a module path" if "." in type_name else ""
        return [(("type",), False, f"unknown {singular} type {show(type_name)}{where}",
                 hint or f"the {group}: {', '.join(classes)}")]
    entries = table["classes"][cls]["args"]
    problems = []
    for key, item in value.items():
        if key == "type":
            continue
        entry = entries.get(key)
        if entry is None:
            takes = f"{cls} takes: {', '.join(entries)}" if entries else f"{cls} takes no arguments"
            problems.append(((key,), True, f"{singular} {cls} has no argument {show(key)}",
                             did_you_mean(key, sorted(entries)) or takes))
            continue
        owner = f"{group}.{cls}"
        message = check_value(owner, key, item, entry)
        if message:
            problems.append(((key,), False, message, hint_for(owner, key, item, entry)))
    return problems


def configured(group: str) -> Checker:
    """An initializer, regularizer or constraint argument: a name Keras knows, or a mapping {type: Class, ...}."""
    def checker(v):
        return _object_expected(group) if _object_problems(group, "value", v) else None
    checker.objects = group  # type: ignore[attr-defined]
    checker.schema = {"$ref": f"#/$defs/{OBJECT_SCHEMA_NAMES[group]}"}  # type: ignore[attr-defined]
    return checker


INITIALIZER, REGULARIZER, CONSTRAINT = (configured(group) for group in OBJECT_EXAMPLES)


def _object_arg(arg: str) -> Checker | None:
    """Every `*_initializer` (and builder's `initializer`), `*_regularizer` and `*_constraint` argument."""
    for suffix, check in (("initializer", INITIALIZER), ("regularizer", REGULARIZER), ("constraint", CONSTRAINT)):
        if arg == suffix or arg.endswith("_" + suffix):
            return check
    return None


def margins(rank: int) -> Checker:
    """Cropping and ZeroPadding: one integer for every side; in 1D a pair [before, after]; in 2D and 3D one entry
    per spatial axis, each an integer (both sides) or a pair [before, after], as Keras takes them."""
    count = non_negative_int
    pair = list_of(count, 2, 2)
    if rank == 1:
        return either(count, pair, expected="an integer >= 0 or a pair [before, after] of them")
    side = either(count, pair, expected="an integer >= 0 or a pair [before, after]")
    return either(count, list_of(side, rank, rank),
                  expected=f"an integer >= 0, or a list of {rank} entries (one per axis), each an integer >= 0 or "
                           "a pair [before, after] like [[1, 0], [1, 0]]")


def plain_string(v):
    if not isinstance(v, str):
        return "text"
    if looks_like_path(v):
        return "text that is not a path or URL (files come only from the command line or `train.data`)"
    return None


plain_string.schema = {"type": "string", "not": {"pattern": _PATHLIKE.pattern}}


def json_value(v):
    """Arguments with no known type: scalars and lists of them, never mappings."""
    if v is None or isinstance(v, bool) or is_number(v):
        return None
    if isinstance(v, str):
        return plain_string(v)
    if isinstance(v, list):
        return None if all(json_value(x) is None for x in v) else "a list of numbers, text or booleans"
    return "a number, text, boolean, or a list of them (mappings would smuggle objects in)"


# Recursive (lists of lists), so it lives in the schema's $defs: see SCHEMA_DEFS.
json_value.schema = {"$ref": "#/$defs/ArgumentValue"}
SCHEMA_DEFS = {"ArgumentValue": {
    "description": "A number, text (not a path or URL), boolean or null, or a list of them; never a mapping.",
    "anyOf": [{"type": ["null", "boolean", "number"]}, plain_string.schema,
              {"type": "array", "items": {"$ref": "#/$defs/ArgumentValue"}}]}}


def inline_vocabulary(v):
    """A vocabulary written out in the spec: Keras reads a *text* value as a file name and loads that file."""
    if isinstance(v, str) and looks_like_path(v):
        return "a list of tokens written in the spec, not a path or URL (files come only from the command line or " \
               "`train.data`)"
    if not isinstance(v, list):
        return "a list of tokens written in the spec (a text would be read as a file name)"
    if len(v) > 1_000_000 or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in v):
        return "a list of up to 1,000,000 tokens (text or integers)"
    return None


inline_vocabulary.schema = {"type": "array", "maxItems": 1_000_000, "items": {"type": ["string", "integer"]}}


def inline_numbers(v):
    """Weights, statistics or boundaries written in the spec: a number or a list of numbers, never a file name."""
    if is_number(v) or (isinstance(v, list) and len(v) <= 1_000_000 and all(is_number(x) for x in v)):
        return None
    return "a number or a list of numbers written in the spec"


inline_numbers.schema = {"anyOf": [{"type": "number"},
                                   {"type": "array", "items": {"type": "number"}, "maxItems": 1_000_000}]}


def either(*checks: Checker, expected: str) -> Checker:
    """A value that any of `checks` accepts (its schema: any of theirs)."""
    def checker(v):
        return None if any(check(v) is None for check in checks) else expected
    checker.schema = {"anyOf": [getattr(check, "schema", {}) for check in checks]}
    return checker


def reshape_dim(v):
    """One entry of Reshape's `target_shape`: a size, or -1 for the one Keras infers."""
    return None if is_int(v) and (0 < v <= MAX_DIM or v == -1) else "a positive integer or -1"


reshape_dim.schema = {"anyOf": [positive_int.schema, {"const": -1}]}


DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "bool", "string", "mixed_float16", "mixed_bfloat16")
number_or_pair = either(number, list_of(number, 2, 2), expected="a number or a pair [low, high]")

# --- the shared table -----------------------------------------------------------

ARG_TYPES: dict[str, Checker] = {
    # sizes
    "units": positive_int, "filters": positive_int, "num_heads": positive_int,
    "key_dim": positive_int, "value_dim": optional(positive_int), "output_dim": positive_int,
    "input_dim": positive_int, "n": positive_int, "groups": positive_int,
    "depth_multiplier": positive_int, "num_tokens": optional(positive_int),
    "max_tokens": optional(positive_int), "num_bins": optional(positive_int),
    "sequence_length": positive_int, "vocabulary_size": positive_int, "max_length": positive_int,
    "intermediate_dim": positive_int, "num_layers": positive_int, "patch_size": int_or_tuple(positive_int, 2),
    "projection_dim": positive_int,
    "height": positive_int, "width": positive_int, "embed_dim": positive_int,
    "kernel_size": int_or_tuple(positive_int), "strides": int_or_tuple(positive_int),
    "pool_size": int_or_tuple(positive_int), "dilation_rate": int_or_tuple(positive_int),
    "size": int_or_tuple(positive_int), "output_size": int_or_tuple(positive_int),
    "target_shape": list_of(reshape_dim, 1, 8),
    "dims": list_of(positive_int, 1, 8),
    # rates and scalars
    "rate": fraction, "dropout": fraction, "recurrent_dropout": fraction,
    "epsilon": positive_number, "momentum": unit_interval, "stddev": non_negative_number,
    "alpha": number, "negative_slope": non_negative_number, "max_value": optional(non_negative_number),
    "threshold": number, "kl_weight": non_negative_number, "max_wavelength": positive_number,
    "scale": number, "offset": number, "factor": json_value,
    # names from closed lists
    "activation": name_from("activations"), "recurrent_activation": name_from("activations"),
    "padding": one_of("valid", "same", "causal"),
    "data_format": optional(one_of("channels_last", "channels_first")),
    "merge_mode": optional(one_of("concat", "sum", "mul", "ave")),
    "interpolation": one_of("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"),
    "dtype": optional(one_of(*DTYPES)),
    "axis": either(any_int, list_of(any_int, 1, 8), expected="an integer or a list of integers"),
    "seed": optional(non_negative_int),
    "trainable": boolean,
}
# (every `*_initializer`, `*_regularizer` and `*_constraint` argument: see `_object_arg`)
ARG_TYPES.update({"use_cudnn": either(boolean, one_of("auto"), expected="true, false or 'auto'"),
                  **{name: number_or_pair for name in ("height_factor", "width_factor", "x_factor", "y_factor",
                                                       "threshold_factor", "addition_factor")}})
# the arguments of the initializers, regularizers and constraints (owner "<group>.<class>", see `_object_problems`)
ARG_TYPES.update({
    "input_axes": optional(ARG_TYPES["axis"]), "output_axes": optional(ARG_TYPES["axis"]), "gain": number,
    "l1": non_negative_number, "l2": non_negative_number,
    "initializers.VarianceScaling.scale": positive_number,
    "initializers.VarianceScaling.mode": one_of("fan_in", "fan_out", "fan_avg"),
    "initializers.VarianceScaling.distribution": one_of("truncated_normal", "untruncated_normal", "uniform",
                                                        "normal"),
    "initializers.Constant.value": number,   # "A Python scalar", as Keras documents it
    "initializers.RandomNormal.mean": number, "initializers.TruncatedNormal.mean": number,
    "initializers.STFT.side": one_of("real", "imag"),
    "initializers.STFT.window": optional(either(plain_string, list_of(number, 1, 1_000_000),
                                                expected="the name of a scipy window or a list of numbers")),
    "initializers.STFT.scaling": optional(one_of("density", "spectrum")),
    "regularizers.OrthogonalRegularizer.factor": non_negative_number,
    "regularizers.OrthogonalRegularizer.mode": one_of("rows", "columns"),
    "constraints.MaxNorm.max_value": positive_number,
    "constraints.MinMaxNorm.min_value": non_negative_number, "constraints.MinMaxNorm.max_value": non_negative_number,
    "constraints.MinMaxNorm.rate": unit_interval,
})
# optimizers (checked as "optimizer.<argument>"): Keras leaves these untyped (default None)
ARG_TYPES.update({f"optimizer.{name}": positive_number for name in
                  ("clipnorm", "clipvalue", "global_clipnorm", "epsilon", "loss_scale_factor")})
ARG_TYPES.update({"optimizer.weight_decay": non_negative_number, "optimizer.gradient_accumulation_steps": positive_int,
                  "optimizer.ema_overwrite_frequency": positive_int, "optimizer.ema_momentum": fraction,
                  "optimizer.beta_1": fraction, "optimizer.beta_2": fraction, "optimizer.momentum": fraction})
# losses and metrics with arguments (train.loss, train.metrics: `{type: AUC, curve: PR}`); no layer takes these names
ARG_TYPES.update({
    "reduction": optional(one_of("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")),
    "label_smoothing": unit_interval, "margin": positive_number, "delta": positive_number, "gamma": non_negative_number,
    "ignore_class": optional(any_int), "from_logits": boolean, "curve": one_of("ROC", "PR"),
    "summation_method": one_of("interpolation", "minoring", "majoring"), "num_thresholds": positive_int,
    "k": positive_int, "top_k": optional(positive_int), "class_id": optional(non_negative_int),
    "average": optional(one_of("micro", "macro", "weighted")),
})
# arguments Keras would also take as a file name: only values written in the spec
ARG_TYPES.update({"vocabulary": inline_vocabulary, "idf_weights": inline_numbers, "mean": inline_numbers,
                  "variance": inline_numbers, "bin_boundaries": inline_numbers})

# Per-layer overrides, for names that mean something else in one layer. (No override is needed
# where the layer's own default already tells the type apart: see `checker_for`.)
for _rank, _dim in enumerate(("1D", "2D", "3D"), start=1):
    ARG_TYPES[f"ZeroPadding{_dim}.padding"] = ARG_TYPES[f"Cropping{_dim}.cropping"] = margins(_rank)
ARG_TYPES.update({
    "GroupNormalization.groups": either(positive_int, one_of(-1), expected="a positive integer, or -1 (a group per "
                                                                           "channel)"),
    "Normalization.axis": optional(ARG_TYPES["axis"]),   # None: one mean and variance for all values
    "STFTSpectrogram.scaling": optional(one_of("density", "spectrum")),
    "TextVectorization.standardize": optional(one_of("lower_and_strip_punctuation", "lower", "strip_punctuation")),
    "TextVectorization.split": optional(one_of("whitespace", "character")),
})
def _application(v: Any) -> str | None:
    return None if v in APPLICATIONS else "a network of keras.applications such as MobileNetV2, ResNet50, " \
                                          "EfficientNetB0 or ConvNeXtTiny (see builder/language/applications.py)"


_application.choices = APPLICATIONS  # type: ignore[attr-defined]
ARG_TYPES["Application.architecture"] = _application
ARG_TYPES["Application.weights"] = one_of("imagenet", "none")
ARG_TYPES["Application.pooling"] = optional(one_of("avg", "max"))
def _factor_range(v: Any) -> str | None:
    """`CutMix.factor`: a number f in [0, 1] (the range [0, f]), or a pair [low, high] within [0, 1]."""
    if unit_interval(v) is None:
        return None
    if isinstance(v, list) and len(v) == 2 and all(unit_interval(x) is None for x in v) and v[0] <= v[1]:
        return None
    return "a number in [0, 1], or a pair [low, high] with 0 <= low <= high <= 1"


_factor_range.schema = {"anyOf": [unit_interval.schema,   # type: ignore[attr-defined]
                                  {"type": "array", "items": unit_interval.schema, "minItems": 2, "maxItems": 2}]}
ARG_TYPES["CutMix.factor"] = _factor_range
ARG_TYPES["MixUp.alpha"] = positive_number   # the Beta distribution's parameter
ARG_TYPES["Dot.axes"] = either(any_int, list_of(any_int, 2, 2), expected="an integer or a list of two integers")


def _by_default(entry: dict) -> Checker:
    """A checker inferred from the catalogue's default for arguments not in the table."""
    if "default" not in entry:
        return json_value
    default = entry["default"]
    if isinstance(default, bool):
        return boolean
    if is_int(default):
        return any_int
    if isinstance(default, float):
        return number
    if isinstance(default, str):
        return plain_string
    return json_value


def checker_for(layer_type: str, arg: str, entry: dict) -> Checker:
    """The checker for one argument of one layer type.

    A Keras default is always a valid value, so: a shared type that would
    reject the layer's own default does not apply to that layer (the default
    types the argument instead), and a default of None admits None.
    """
    check = ARG_TYPES.get(f"{layer_type}.{arg}") or ARG_TYPES.get(arg) or _object_arg(arg)
    if check is None:
        return _by_default(entry)
    if "default" in entry:
        default = entry["default"]
        if default is None:
            return optional(check)
        if check(default) is not None:
            return _by_default(entry)
    return check


def check_value(layer_type: str, arg: str, value: Any, entry: dict) -> str | None:
    """None, or an error message in Keras' style: "expected ... Received: arg=value"."""
    expected = checker_for(layer_type, arg, entry)(value)
    if expected is None:
        return None
    return f"expected {expected}. Received: {arg}={show(value)}"


def hint_for(layer_type: str, arg: str, value: Any, entry: dict) -> str | None:
    """A did-you-mean for a misspelt name, or a YAML 1.1 reminder for yes/no."""
    check = checker_for(layer_type, arg, entry)
    if isinstance(value, str):
        choices = getattr(check, "choices", None)
        group = getattr(check, "group", None)
        if group:
            choices = catalogue().names[group]
        if choices:
            return did_you_mean(value, choices)
        if value.lower() in ("yes", "no", "on", "off", "y", "n") and check is boolean:
            return "write true or false (YAML 1.2: yes/no/on/off are text)"
        if check in (positive_int, non_negative_int, any_int, number, positive_number, fraction):
            return number_hint(value)
    return None


def number_hint(text: str) -> str | None:
    """The hint for text where a number belongs: unquote it when it is one ('0.5'); a word ('ten') gets none."""
    try:
        float(text)
    except ValueError:
        return None
    return "remove the quotes to write a number"


def describe(layer_type: str, arg: str, entry: dict) -> str:
    """What one argument of one layer type takes, in words (`builder layers Conv2D`): "a positive integer"."""
    check = checker_for(layer_type, arg, entry)
    group = getattr(check, "group", None)
    if getattr(check, "objects", None):
        return _object_expected(check.objects)
    return f"the name of one of Keras' {group}" if group else _describe(check)


def argument_problems(layer_type: str, arg: str, value: Any, entry: dict) -> list[ArgumentProblem]:
    """Every problem with one argument's value, each placed below the argument: a configured initializer,
    regularizer or constraint is checked key by key (`{type: VarianceScalng}` at its type, an unknown argument
    at its key); any other value is one problem at the value."""
    check = checker_for(layer_type, arg, entry)
    group = getattr(check, "objects", None)
    if group:
        return _object_problems(group, arg, value)
    message = check_value(layer_type, arg, value, entry)
    return [((), False, message, hint_for(layer_type, arg, value, entry))] if message else []


def schema_defs() -> dict:
    """The schema's shared definitions for argument values: `ArgumentValue`, and `Initializer`, `Regularizer`
    and `Constraint` (a name, or a mapping whose `type` picks the class and, by an if/then per class as for
    layers, its arguments)."""
    defs = dict(SCHEMA_DEFS)
    cat = catalogue()
    for group, title in OBJECT_SCHEMA_NAMES.items():
        classes = cat.objects.get(group, {}).get("classes", {})
        spellings = {cls: [cls] for cls in classes}   # the class name, then Keras' other class-style names for it
        for alias, cls in cat.objects.get(group, {}).get("aliases", {}).items():
            if object_class(group, alias):
                spellings[cls].append(alias)
        rules = []
        for cls, info in classes.items():
            properties = {"type": True}
            for arg, entry in info["args"].items():
                check = checker_for(f"{group}.{cls}", arg, entry)
                choices = getattr(check, "choices", None)
                schema = {"enum": [*([None] if check(None) is None else []), *choices]} if choices \
                    else dict(getattr(check, "schema", {}))
                schema.update({key: entry[key] for key in ("default", "description") if key in entry})
                properties[arg] = schema
            names = {"const": cls} if len(spellings[cls]) == 1 else {"enum": spellings[cls]}
            rules.append({"if": {"properties": {"type": names}, "required": ["type"]},
                          "then": {"title": cls, "properties": properties, "additionalProperties": False}})
        mapping = {"type": "object", "required": ["type"], "allOf": rules,
                   "properties": {"type": {"description": f"The {group[:-1]} class.",
                                           "anyOf": [{"const": name, "description": info.get("summary", "")}
                                                     for cls, info in classes.items() for name in spellings[cls]]}}}
        alternatives = [{"enum": [None, *cat.names.get(group, [])]}, mapping]
        if group in TYPELESS:   # {l1: x, l2: y}: the typeless form, checked as the class it stands for
            typeless = next((rule["then"] for rule in rules if rule["then"]["title"] == TYPELESS[group]), None)
            if typeless:
                alternatives.append({"type": "object", "minProperties": 1, "additionalProperties": False,
                                     "properties": {k: v for k, v in typeless["properties"].items() if k != "type"}})
        defs[title] = {"description": f"One of Keras' {group}: its name, or a mapping like {OBJECT_EXAMPLES[group]}.",
                       "anyOf": alternatives}
    return defs
