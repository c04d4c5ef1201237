"""Parameter counts without Keras: a shape pass over a resolved graph for the common layers.

A drawing made without Keras (`render --no-shapes`, or a spec Keras cannot build) still gives the
network's size from this estimate: each rule below takes a node's arguments and its input shapes
(batch axis dropped, `None` for an unknown size) and returns its output shape and parameter
count with Keras' own formulas. A layer without a rule, or whose input shape is unknown, is left
uncounted (`Estimate.uncounted`) unless its family has no weights. Where it counts a node, the
count is exact: tests/graph/test_estimate.py compares every rule with Keras' real counts, over the
spec library and a spec that uses the rules the library does not.

Public entry point: `estimate(graph)` -> `Estimate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from builder.graph.ir import Graph, ModelGraph, Node, Ref
from builder.language.catalogue import catalogue

# families whose layers never have weights (PReLU, the exception, has a rule of its own)
WEIGHTLESS_FAMILIES = {"activation", "regularization", "pooling", "reshape", "merge", "preprocessing"}
WEIGHTED = {"PReLU"}


@dataclass
class Estimate:
    """What the pass found, per model: `params[model][node]` for the nodes it counted, `shapes[model][node]`
    for the output shapes it knows (a tuple without the batch axis, or a list of them for several outputs),
    and `uncounted[model][node]` the type of each layer with weights it could not count."""

    params: dict[str, dict[str, int]] = field(default_factory=dict)
    shapes: dict[str, dict] = field(default_factory=dict)
    uncounted: dict[str, dict[str, str]] = field(default_factory=dict)

    def total(self, model: str) -> int:
        return sum(self.params.get(model, {}).values())

    def complete(self, graph: Graph) -> bool:
        """Whether the pass followed every node of every model (a shape for each output, a count for each
        layer): then it gives what Keras would, and nothing needs Keras (`builder.model.shapes`)."""
        def known(shape) -> bool:
            return shape is not None and (not isinstance(shape, list) or all(s is not None for s in shape))

        return all(not self.uncounted.get(name) and self.shapes.get(name, {}).keys() == model.nodes.keys()
                   and all(known(s) for s in self.shapes[name].values())
                   and all(n in self.params[name] for n, node in model.nodes.items() if node.op != "input")
                   for name, model in graph.models.items())


class _Unknown(Exception):
    """A shape or argument the pass cannot follow: the node is left uncounted."""


# --- the rules ------------------------------------------------------------------------------------

RULES: dict = {}   # canonical layer type -> rule(args, inputs, named) -> (output shape, params)


def _rule(*names: str):
    def register(function):
        for name in names:
            RULES[name] = function
        return function
    return register


def _known(shape) -> tuple:
    if shape is None or isinstance(shape, list):
        raise _Unknown
    return shape


def _last(shape) -> int:
    """The channel (last) axis, which must be known."""
    shape = _known(shape)
    if not shape or shape[-1] is None:
        raise _Unknown
    return int(shape[-1])


def _ints(value, rank: int) -> tuple:
    value = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(value) != rank:
        raise _Unknown
    return value


def _bias(args: dict, default: bool = True) -> int:
    return 1 if args.get("use_bias", default) else 0


def _channels_last(args: dict) -> None:
    if args.get("data_format") not in (None, "channels_last"):
        raise _Unknown


def _conv_length(n, kernel: int, stride: int, dilation: int, padding: str):
    if n is None:
        return None
    if padding == "valid":
        length = (n - dilation * (kernel - 1) - 1) // stride + 1
    elif padding in ("same", "causal"):
        length = (n - 1) // stride + 1
    else:
        raise _Unknown
    if length <= 0:
        raise _Unknown   # Keras refuses it, located, when it builds
    return length


def _spatial(args: dict, x: tuple, rank: int, kernel: tuple) -> tuple:
    """The spatial sizes after a convolution with these arguments (Keras' conv output shape)."""
    if len(x) != rank + 1:
        raise _Unknown
    strides = _ints(args.get("strides", 1), rank)
    dilation = _ints(args.get("dilation_rate", 1), rank)
    padding = str(args.get("padding", "valid")).lower()
    return tuple(_conv_length(n, k, s, d, padding) for n, k, s, d in zip(x[:-1], kernel, strides, dilation))


def _conv(rank: int):
    def rule(args, inputs, named):
        _channels_last(args)
        x, channels = _known(inputs[0]), _last(inputs[0])
        kernel = _ints(args["kernel_size"], rank)
        groups = args.get("groups", 1) or 1
        filters = args["filters"]
        if channels % groups or filters % groups:
            raise _Unknown   # Keras refuses groups that do not divide both: left to it, located
        params = math.prod(kernel) * (channels // groups) * filters + _bias(args) * filters
        return _spatial(args, x, rank, kernel) + (filters,), params
    return rule


for _rank in (1, 2, 3):
    _rule(f"Conv{_rank}D")(_conv(_rank))


def _transposed_length(n, kernel: int, stride: int, dilation: int, padding: str, extra):
    if n is None:
        return None
    kernel = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (n - 1) * stride + (max(kernel, stride) if extra is None else kernel + extra)
    if padding == "same":
        return n * stride if extra is None else (n - 1) * stride + kernel % 2 + extra
    raise _Unknown


def _conv_transpose(rank: int):
    def rule(args, inputs, named):
        _channels_last(args)
        x, channels = _known(inputs[0]), _last(inputs[0])
        if len(x) != rank + 1:
            raise _Unknown
        kernel = _ints(args["kernel_size"], rank)
        strides = _ints(args.get("strides", 1), rank)
        dilation = _ints(args.get("dilation_rate", 1), rank)
        extra = args.get("output_padding")
        extra = (None,) * rank if extra is None else _ints(extra, rank)
        padding = str(args.get("padding", "valid")).lower()
        sizes = tuple(_transposed_length(n, k, s, d, padding, e)
                      for n, k, s, d, e in zip(x[:-1], kernel, strides, dilation, extra))
        filters = args["filters"]
        return sizes + (filters,), math.prod(kernel) * channels * filters + _bias(args) * filters
    return rule


for _rank in (1, 2, 3):
    _rule(f"Conv{_rank}DTranspose")(_conv_transpose(_rank))


def _depthwise(rank: int, separable: bool):
    def rule(args, inputs, named):
        _channels_last(args)
        x, channels = _known(inputs[0]), _last(inputs[0])
        kernel = _ints(args["kernel_size"], rank)
        width = channels * (args.get("depth_multiplier", 1) or 1)
        params = math.prod(kernel) * width
        if separable:
            filters = args["filters"]
            params += width * filters + _bias(args) * filters
        else:
            filters = width
            params += _bias(args) * width
        return _spatial(args, x, rank, kernel) + (filters,), params
    return rule


for _rank in (1, 2):
    _rule(f"DepthwiseConv{_rank}D")(_depthwise(_rank, separable=False))
    _rule(f"SeparableConv{_rank}D")(_depthwise(_rank, separable=True))


def _pooling(rank: int):
    def rule(args, inputs, named):
        _channels_last(args)
        x = _known(inputs[0])
        if len(x) != rank + 1:
            raise _Unknown
        pool = _ints(args.get("pool_size", 2), rank)
        strides = _ints(args.get("strides") or pool, rank)
        padding = str(args.get("padding", "valid")).lower()
        sizes = []
        for n, p, s in zip(x[:-1], pool, strides):
            if n is None:
                sizes.append(None)
                continue
            size = (n - p) // s + 1 if padding == "valid" else (n - 1) // s + 1
            if size <= 0:
                raise _Unknown
            sizes.append(size)
        return tuple(sizes) + (x[-1],), 0
    return rule


def _global_pooling(rank: int):
    def rule(args, inputs, named):
        _channels_last(args)
        x = _known(inputs[0])
        if len(x) != rank + 1:
            raise _Unknown
        return ((1,) * rank if args.get("keepdims") else ()) + (x[-1],), 0
    return rule


for _rank in (1, 2, 3):
    for _kind in ("Max", "Average"):
        _rule(f"{_kind}Pooling{_rank}D")(_pooling(_rank))
        _rule(f"Global{_kind}Pooling{_rank}D")(_global_pooling(_rank))


@_rule("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
       "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
       "UnitNormalization", "Identity", "Masking", "Rescaling", "RandomFlip", "RandomRotation", "RandomZoom",
       "RandomTranslation", "RandomContrast", "RandomBrightness", "SinusoidalPositionEncoding")
def _same_shape(args, inputs, named):
    return inputs[0], 0


@_rule("PReLU")
def _prelu(args, inputs, named):
    x = _known(inputs[0])
    shared = args.get("shared_axes") or ()
    shared = {shared} if isinstance(shared, int) else set(shared)
    sizes = [1 if axis in shared else n for axis, n in enumerate(x, start=1)]
    if None in sizes:
        raise _Unknown
    return x, math.prod(sizes)


@_rule("Dense")
def _dense(args, inputs, named):
    if args.get("lora_rank"):
        raise _Unknown
    x, channels = _known(inputs[0]), _last(inputs[0])
    units = args["units"]
    return x[:-1] + (units,), channels * units + _bias(args) * units


@_rule("Embedding")
def _embedding(args, inputs, named):
    if args.get("lora_rank"):
        raise _Unknown
    return _known(inputs[0]) + (args["output_dim"],), args["input_dim"] * args["output_dim"]


def _axes(args: dict, x: tuple, default=-1) -> list[int]:
    axis = args.get("axis", default)
    axes = [axis] if isinstance(axis, int) else list(axis)
    rank = len(x) + 1   # with the batch axis, as Keras counts `axis`
    return [a + rank if a < 0 else a for a in axes]


def _sizes(x: tuple, axes: list[int]) -> int:
    sizes = [x[a - 1] for a in axes if 0 < a <= len(x)]
    if len(sizes) != len(axes) or None in sizes:
        raise _Unknown
    return math.prod(sizes)


@_rule("BatchNormalization")
def _batch_norm(args, inputs, named):
    x = _known(inputs[0])
    per_axis = 2 + bool(args.get("center", True)) + bool(args.get("scale", True))   # + moving mean, variance
    return x, per_axis * _sizes(x, _axes(args, x))


@_rule("LayerNormalization")
def _layer_norm(args, inputs, named):
    if args.get("rms_scaling"):
        raise _Unknown
    x = _known(inputs[0])
    return x, (bool(args.get("center", True)) + bool(args.get("scale", True))) * _sizes(x, _axes(args, x))


@_rule("GroupNormalization")
def _group_norm(args, inputs, named):
    x = _known(inputs[0])
    return x, (bool(args.get("center", True)) + bool(args.get("scale", True))) * _sizes(x, _axes(args, x))


@_rule("Normalization")
def _normalization(args, inputs, named):
    x = _known(inputs[0])
    if args.get("mean") is not None:
        return x, 0   # given mean and variance are constants, not weights
    kept = 1 if "axis" in args and args["axis"] is None else _sizes(x, _axes(args, x))
    return x, 2 * kept + 1   # mean, variance and the count of samples adapted on


@_rule("Flatten")
def _flatten(args, inputs, named):
    x = _known(inputs[0])
    return ((None if None in x else math.prod(x)),), 0


@_rule("Reshape")
def _reshape(args, inputs, named):
    x = _known(inputs[0])
    target = tuple(args["target_shape"])
    if target.count(-1) > 1:
        raise _Unknown
    whole = None if None in x else math.prod(x)
    if -1 in target:
        known = math.prod(n for n in target if n != -1)
        if whole is not None and known and whole % known:
            raise _Unknown   # no whole size for -1: Keras refuses it, located
        size = None if whole is None or not known else whole // known
        target = tuple(size if n == -1 else n for n in target)
    elif whole is not None and math.prod(target) != whole:
        raise _Unknown   # the total size changes: Keras refuses it, located
    return target, 0


@_rule("Permute")
def _permute(args, inputs, named):
    x = _known(inputs[0])
    return tuple(x[d - 1] for d in args["dims"]), 0


@_rule("RepeatVector")
def _repeat_vector(args, inputs, named):
    return (args["n"],) + _known(inputs[0]), 0


def _upsampling(rank: int):
    def rule(args, inputs, named):
        _channels_last(args)
        x = _known(inputs[0])
        if len(x) != rank + 1:
            raise _Unknown
        size = _ints(args.get("size", 2), rank)
        return tuple(None if n is None else n * s for n, s in zip(x[:-1], size)) + (x[-1],), 0
    return rule


def _pairs(value, rank: int) -> tuple:
    """Keras' padding/cropping forms: n, (a, b) per axis, or ((a, b), ...) for each axis."""
    if isinstance(value, int):
        return ((value, value),) * rank
    value = tuple(value)
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value,)
    if len(value) != rank:
        raise _Unknown
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)


def _pad_or_crop(rank: int, name: str, sign: int, default):
    def rule(args, inputs, named):
        _channels_last(args)
        x = _known(inputs[0])
        if len(x) != rank + 1:
            raise _Unknown
        pairs = _pairs(args.get(name, default), rank)
        return tuple(None if n is None else n + sign * (a + b) for n, (a, b) in zip(x[:-1], pairs)) + (x[-1],), 0
    return rule


for _rank in (1, 2, 3):
    _rule(f"UpSampling{_rank}D")(_upsampling(_rank))
    _rule(f"ZeroPadding{_rank}D")(_pad_or_crop(_rank, "padding", 1, 1))
    _rule(f"Cropping{_rank}D")(_pad_or_crop(_rank, "cropping", -1, 1 if _rank == 1 else 0))


@_rule("Resizing", "CenterCrop")
def _resizing(args, inputs, named):
    _channels_last(args)
    x = _known(inputs[0])
    return (args["height"], args["width"], x[-1]), 0


@_rule("Concatenate")
def _concatenate(args, inputs, named):
    shapes = [_known(s) for s in inputs]
    rank = len(shapes[0])
    axis = args.get("axis", -1)
    axis = axis + rank if axis < 0 else axis - 1   # Keras' axis counts the batch axis
    if not 0 <= axis < rank or any(len(s) != rank for s in shapes):
        raise _Unknown   # the batch axis, past the rank, or ranks that differ: Keras refuses them, located
    for sizes in zip(*(s[:axis] + s[axis + 1:] for s in shapes)):
        if len({n for n in sizes if n is not None}) > 1:
            raise _Unknown   # sizes that differ off the axis (Keras' own rule also drops axes of 1: left to it)
    parts = [s[axis] for s in shapes]
    out = list(shapes[0])
    out[axis] = None if None in parts else sum(parts)
    return tuple(out), 0


@_rule("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
def _elementwise(args, inputs, named):
    shapes = [_known(s) for s in inputs]
    if len({len(s) for s in shapes}) != 1:
        raise _Unknown   # broadcasting across ranks: left to Keras
    if any(len({n for n in sizes if n not in (None, 1)}) > 1 for sizes in zip(*shapes)):
        raise _Unknown   # sizes Keras cannot broadcast: it refuses them, located
    return tuple(next((n for n in sizes if n not in (None, 1)), sizes[0]) for sizes in zip(*shapes)), 0


def _recurrent_params(type_name: str, args: dict, channels: int) -> int:
    units = args["units"]
    bias = _bias(args)
    if type_name == "SimpleRNN":
        return units * (channels + units) + bias * units
    if type_name == "LSTM":
        return 4 * (units * (channels + units) + bias * units)
    if type_name == "GRU":
        return 3 * units * (channels + units) + bias * 3 * units * (2 if args.get("reset_after", True) else 1)
    raise _Unknown


def _recurrent_output(args: dict, x: tuple, states: int):
    units = args["units"]
    out = (x[0], units) if args.get("return_sequences") else (units,)
    return [out] + [(units,)] * states if args.get("return_state") else out


@_rule("SimpleRNN", "LSTM", "GRU")
def _recurrent(args, inputs, named, type_name=None):
    x = _known(inputs[0])
    if len(x) != 2:
        raise _Unknown
    states = {"LSTM": 2}.get(type_name, 1)
    return _recurrent_output(args, x, states), _recurrent_params(type_name, args, _last(x))


@_rule("Bidirectional")
def _bidirectional(args, inputs, named):
    inner = dict(args["layer"])
    if args.get("backward_layer") is not None or inner.get("return_state"):
        raise _Unknown
    kind = catalogue().layer(inner.pop("type")).name
    if kind not in ("SimpleRNN", "LSTM", "GRU"):
        raise _Unknown
    out, params = _recurrent(inner, inputs, named, type_name=kind)
    mode = args.get("merge_mode", "concat")
    if mode is None:
        return [out, out], 2 * params
    return (out[:-1] + (2 * out[-1],) if mode == "concat" else out), 2 * params


@_rule("TimeDistributed")
def _time_distributed(args, inputs, named):
    inner = dict(args["layer"])
    kind = catalogue().layer(inner.pop("type")).name
    x = _known(inputs[0])
    out, params = _apply(kind, inner, [x[1:]], {})
    return (x[0],) + _known(out), params


@_rule("SpectralNormalization")
def _spectral_norm(args, inputs, named):
    inner = dict(args["layer"])
    kind = catalogue().layer(inner.pop("type")).name
    out, params = _apply(kind, inner, inputs, {})
    # the power iteration's vector u, as wide as the kernel's last axis (a transposed kernel ends in the input's)
    width = _last(inputs[0]) if kind.endswith("Transpose") else _last(out)
    return out, params + width


def _attention_inputs(inputs, named) -> tuple:
    query = named.get("query", inputs[0] if inputs else None)
    value = named.get("value", inputs[1] if len(inputs) > 1 else None)
    key = named.get("key", inputs[2] if len(inputs) > 2 else value)
    return _known(query), _known(value), _known(key)


@_rule("MultiHeadAttention")
def _multi_head_attention(args, inputs, named, scores=False):
    query, value, key = _attention_inputs(inputs, named)
    heads, key_dim = args["num_heads"], args["key_dim"]
    value_dim = args.get("value_dim") or key_dim
    bias = _bias(args)
    shape = args.get("output_shape")
    out = (_last(query),) if shape is None else _ints(shape, len(shape) if isinstance(shape, (list, tuple)) else 1)
    params = ((_last(query) + bias) * heads * key_dim + (_last(key) + bias) * heads * key_dim
              + (_last(value) + bias) * heads * value_dim + heads * value_dim * math.prod(out) + bias * math.prod(out))
    result = query[:-1] + out
    return ([result, (heads, query[0], key[0])] if scores else result), params


@_rule("Attention", "AdditiveAttention")
def _dot_attention(args, inputs, named, scores=False, type_name=None):
    query, value, _ = _attention_inputs(inputs, named)
    if type_name == "AdditiveAttention":
        params = _last(query) if args.get("use_scale", True) else 0
    else:
        params = bool(args.get("use_scale", False)) + (args.get("score_mode", "dot") == "concat")
    result = query[:-1] + (_last(value),)
    return ([result, query[:-1] + (value[0],)] if scores else result), params


# --- builder's own layers (builder/model/layers), with the sub-layers each builds

def _mha_params(heads: int, key_dim: int, width: int, context: int) -> int:
    """A MultiHeadAttention of `heads` x `key_dim`, query and output `width` wide, key and value `context`."""
    return (width + 1) * heads * key_dim + 2 * (context + 1) * heads * key_dim + heads * key_dim * width + width


def _transformer(args: dict, x: tuple, context: tuple | None) -> int:
    width = _last(x)
    heads = args["num_heads"]
    key_dim = args.get("key_dim") or width // heads
    ff = args["intermediate_dim"]
    params = _mha_params(heads, key_dim, width, width) + 2 * width                 # self-attention, its norm
    if context is not None:
        params += _mha_params(heads, key_dim, width, _last(context)) + 2 * width    # cross-attention, its norm
    return params + width * ff + ff + ff * width + width + 2 * width                 # feedforward, its norm


@_rule("TransformerEncoderBlock")
def _encoder_block(args, inputs, named):
    x = _known(named.get("inputs", inputs[0] if inputs else None))
    return x, _transformer(args, x, None)


@_rule("TransformerDecoderBlock")
def _decoder_block(args, inputs, named):
    x = _known(named.get("inputs", inputs[0] if inputs else None))
    context = named.get("context", inputs[1] if len(inputs) > 1 else None)
    return x, _transformer(args, x, None if context is None else _known(context))


@_rule("ClassToken")
def _class_token(args, inputs, named):
    x = _known(inputs[0])
    return (None if x[0] is None else x[0] + 1,) + x[1:], _last(x)


@_rule("PositionEmbedding")
def _position_embedding(args, inputs, named):
    return inputs[0], args["sequence_length"] * _last(inputs[0])


@_rule("TokenAndPositionEmbedding")
def _token_and_position(args, inputs, named):
    width = args["embed_dim"]
    return _known(inputs[0]) + (width,), (args["vocabulary_size"] + args["sequence_length"]) * width


@_rule("PatchEmbedding")
def _patch_embedding(args, inputs, named):
    x, channels = _known(inputs[0]), _last(inputs[0])
    rows, cols = _ints(args["patch_size"], 2)
    width = args["embed_dim"]
    count = None if None in x[:2] else (x[0] // rows) * (x[1] // cols)
    return (count, width), rows * cols * channels * width + width


@_rule("PatchMerging")
def _patch_merging(args, inputs, named):
    x, channels = _known(inputs[0]), _last(inputs[0])
    units = args.get("units") or 2 * channels
    halves = tuple(None if n is None else n // 2 for n in x[:2])
    return halves + (units,), 2 * 4 * channels + 4 * channels * units   # the norm over 4C, then Dense, no bias


@_rule("WindowAttention")
def _window_attention(args, inputs, named):
    x, channels = _known(inputs[0]), _last(inputs[0])
    if len(x) != 3 or None in x:
        raise _Unknown
    window = min(args["window_size"], min(x[:2]))   # a map no larger than the window is one window
    bias = _bias(args)
    return x, channels * 3 * channels + bias * 3 * channels + channels * channels + bias * channels \
        + (2 * window - 1) ** 2 * args["num_heads"]


@_rule("LayerScale")
def _layer_scale(args, inputs, named):
    return inputs[0], _last(inputs[0])   # a factor per channel


@_rule("TimestepEmbedding")
def _timestep_embedding(args, inputs, named):
    return (args["dim"],), 0


@_rule("VAESampling")
def _vae_sampling(args, inputs, named):
    return inputs[0], 0


@_rule("ModulatedConv2D")
def _modulated_conv(args, inputs, named):
    x = _known(named.get("inputs", inputs[0] if inputs else None))
    channels, w_dim = _last(x), _last(named.get("style", inputs[1] if len(inputs) > 1 else None))
    rows, cols = _ints(args.get("kernel_size", 3), 2)
    filters = args["filters"]
    # the kernel, the style's affine map (w -> a scale per input channel), the bias
    return x[:-1] + (filters,), rows * cols * channels * filters + w_dim * channels + channels \
        + _bias(args) * filters


@_rule("NoiseInjection")
def _noise_injection(args, inputs, named):
    return inputs[0], _last(inputs[0])   # a strength per channel


@_rule("LearnedConstant")
def _learned_constant(args, inputs, named):
    rows, cols = _ints(args.get("size", 4), 2)
    return (rows, cols, args["channels"]), rows * cols * args["channels"]


# --- the pass --------------------------------------------------------------------------------------

_NEEDS_TYPE = {"SimpleRNN", "LSTM", "GRU", "Attention", "AdditiveAttention"}   # rules shared by several types
_SCORES = {"MultiHeadAttention", "Attention", "AdditiveAttention"}             # return_attention_scores: 2 outputs


def _apply(type_name: str, args: dict, inputs: list, named: dict, call: dict | None = None):
    rule = RULES.get(type_name)
    if rule is None:
        raise _Unknown
    extra = {}
    if type_name in _NEEDS_TYPE:
        extra["type_name"] = type_name
    if type_name in _SCORES and (call or {}).get("return_attention_scores"):
        extra["scores"] = True
    return rule(args, inputs, named, **extra)


def _pick(shapes: dict, ref: Ref):
    shape = shapes.get(ref.node)
    if ref.index is None or shape is None:
        return shape
    return shape[ref.index] if isinstance(shape, list) and ref.index < len(shape) else None


def _model(graph: Graph, model: ModelGraph, result: Estimate, given: dict | None = None) -> None:
    shapes, params, uncounted = {}, {}, {}
    for node in model.nodes.values():
        if node.op == "input":
            shapes[node.id] = _input_shape(node, (given or {}).get(node.id))
            continue
        inputs = [_pick(shapes, ref) for ref in node.inputs]
        named = {name: _pick(shapes, ref) for name, ref in node.kwargs.items() if isinstance(ref, Ref)}
        if node.op == "model":
            callee = result.shapes.get(node.type, {})
            outputs = [_pick(callee, ref) for ref in graph.models[node.type].outputs]
            shapes[node.id] = outputs[0] if len(outputs) == 1 else outputs
            params[node.id] = 0   # the callee's weights are counted in the callee
            continue
        shape, count = _layer(node, inputs, named)
        if shape is not None:
            shapes[node.id] = shape
        if count is None:
            uncounted[node.id] = node.type
        else:
            params[node.id] = count
    result.shapes[model.name], result.params[model.name], result.uncounted[model.name] = shapes, params, uncounted


def _layer(node: Node, inputs: list, named: dict):
    info = catalogue().layer(node.type)
    kind = info.name if info else node.type
    try:
        shape, count = _apply(kind, node.args, inputs, named, node.call)
    except (_Unknown, KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError):
        weightless = info is not None and info.family in WEIGHTLESS_FAMILIES and kind not in WEIGHTED
        return None, 0 if weightless else None
    if shape is not None and not isinstance(shape, list) and any(n is not None and n <= 0 for n in shape):
        return None, count
    return shape, count


def _input_shape(node: Node, given) -> tuple:
    """The input's shape, its open (null) sizes filled from `given` (a shape of the same rank) where it has one."""
    shape = tuple(node.args.get("shape") or ())
    if given is None or len(given) != len(shape):
        return shape
    return tuple(g if n is None and isinstance(g, int) and g > 0 else n for n, g in zip(shape, given))


def estimate(graph: Graph, inputs: dict | None = None) -> Estimate:
    """Parameter counts (and shapes) of every model of a resolved graph, callees first, without Keras.

    inputs: `{model: {input: shape}}` (no batch axis) fills the sizes a spec leaves open (`shape: [null]`, a
    sequence length), e.g. from the data a run trains on; the sizes the spec gives are kept."""
    result = Estimate()
    for model in graph.models.values():
        _model(graph, model, result, (inputs or {}).get(model.name))
    return result
