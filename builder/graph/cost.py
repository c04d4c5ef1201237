"""Cost before build: multiply-accumulates, activation and weight memory, and optimizer state, from shapes.

For every node and in total, without allocating a weight: parameters (trainable and not), multiply-
accumulates per sample (MACs), the values a node outputs per sample (activation memory = values x
bytes per value: 4, or 2 under mixed precision), weight memory in float32 and bfloat16, and the
optimizer state a training run keeps (Adam: two slots per trainable weight, SGD with momentum one, ...).

MACs count the products of matrix multiplications and convolutions (Dense, Conv*, attention's
projections, scores and weighted sums, recurrent cells' gate matrices), the convention of papers and of
tensor-core peaks: ResNet50 at 224x224 is 4.1 G MACs. Elementwise work (activations, normalisation,
pooling, additions, softmax, biases) is not a multiply-accumulate and is not counted; FLOPs are 2 x MACs.
Each layer type has one rule in `MACS`, or is in a family that does no multiply-accumulates
(`ZERO_MAC_FAMILIES`), or is named in `NO_FORMULA` with the reason; a node without a count (no formula,
or a shape left open: `shape: [null]`) is never counted as zero: the total says "at least" and names it.

Shapes come from `builder.graph.estimate` (no Keras: `builder validate --cost`, `render`) or from
Keras (`builder build`; `validate --cost` and `render` for a layer the estimate cannot follow, built
without weights: `builder.model.shapes`), which knows every layer's shape.
tests/graph/test_cost.py checks the counts against TensorFlow's profiler on the models' graphs.

Public entry points: `cost(graph, ...)` -> `Cost`, its `lines()` for a report, and `training_summary(...)`
for a run's summary.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from builder.errors import SpecError
from builder.graph import roles
from builder.graph.estimate import estimate
from builder.graph.ir import Graph, ModelGraph, Node, Ref
from builder.language.catalogue import catalogue

# families whose layers do no multiply-accumulates (elementwise, pooling, reshaping, lookups); a rule in
# MACS wins over the family (Dot, SpectralNormalization)
ZERO_MAC_FAMILIES = {"activation", "regularization", "pooling", "reshape", "merge", "preprocessing", "normalization"}
NO_FORMULA = {
    "Application": "a whole keras.applications network in one node",
    "STFTSpectrogram": "no formula for its framed Fourier transform",
    "MelSpectrogram": "no formula for its framed Fourier transform",
}
FLOAT32, BFLOAT16 = 4, 2   # bytes per value


class _Unknown(Exception):
    """A shape or argument a rule cannot follow: the node's MACs stay unknown."""


# --- the rules ----------------------------------------------------------------------------------------
# rule(args, inputs, named, out) -> MACs per sample; `inputs` the input shapes (no batch axis), `named` the
# keyword inputs' shapes, `out` the node's output shape (a list of shapes for several outputs)

MACS: dict = {}


def _rule(*names: str):
    def register(function):
        for name in names:
            MACS[name] = function
        return function
    return register


def _known(shape) -> tuple:
    """A single, fully known shape."""
    if shape is None or isinstance(shape, list) or any(not isinstance(n, int) for n in shape):
        raise _Unknown
    return tuple(shape)


def _first(out) -> tuple:
    """The main output of a node that may return several (attention scores, recurrent states)."""
    return _known(out[0] if isinstance(out, list) else out)


def _ints(value, rank: int) -> tuple:
    value = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(value) != rank:
        raise _Unknown
    return value


def _positions(shape: tuple) -> int:
    """The places a per-vector operation applies to: every axis but the last."""
    return math.prod(shape[:-1])


@_rule("Embedding", "ReversibleEmbedding", "Identity", "Masking", "ClassToken", "PositionEmbedding",
       "TokenAndPositionEmbedding", "LayerScale", "TimestepEmbedding", "VAESampling", "SinusoidalPositionEncoding",
       "LearnedConstant", "NoiseInjection")
def _no_products(args, inputs, named, out):
    """Lookups, concatenations and elementwise scaling: no multiply-accumulates."""
    return 0


def _conv(rank: int):
    def rule(args, inputs, named, out):
        x, y = _known(inputs[0]), _first(out)
        groups = args.get("groups", 1) or 1
        return _positions(y) * math.prod(_ints(args["kernel_size"], rank)) * (x[-1] // groups) * y[-1]
    return rule


def _conv_transpose(rank: int):
    def rule(args, inputs, named, out):   # every input value meets kernel x filters weights
        x, y = _known(inputs[0]), _first(out)
        return _positions(x) * math.prod(_ints(args["kernel_size"], rank)) * x[-1] * y[-1]
    return rule


def _depthwise(rank: int, separable: bool):
    def rule(args, inputs, named, out):
        x, y = _known(inputs[0]), _first(out)
        width = x[-1] * (args.get("depth_multiplier", 1) or 1)
        macs = _positions(y) * math.prod(_ints(args["kernel_size"], rank)) * width
        return macs + (_positions(y) * width * y[-1] if separable else 0)   # the pointwise 1x1 convolution
    return rule


for _rank in (1, 2, 3):
    _rule(f"Conv{_rank}D")(_conv(_rank))
    _rule(f"Conv{_rank}DTranspose")(_conv_transpose(_rank))
for _rank in (1, 2):
    _rule(f"DepthwiseConv{_rank}D")(_depthwise(_rank, separable=False))
    _rule(f"SeparableConv{_rank}D")(_depthwise(_rank, separable=True))


@_rule("Dense")
def _dense(args, inputs, named, out):
    x, y = _known(inputs[0]), _first(out)
    rank = args.get("lora_rank") or 0   # the low-rank path x -> rank -> units beside the kernel
    return _positions(y) * (x[-1] * y[-1] + rank * (x[-1] + y[-1]))


@_rule("EinsumDense")
def _einsum_dense(args, inputs, named, out):
    """One product per combination of the equation's letters (batch letter excluded: per sample)."""
    x, y = _known(inputs[0]), _first(out)
    operands, output = str(args["equation"]).replace(" ", "").split("->")
    source, kernel = operands.split(",")
    if "." in source + kernel + output or len(source) != len(x) + 1 or len(output) != len(y) + 1:
        raise _Unknown   # ellipses: left uncounted
    sizes = dict(zip(source[1:], x)) | dict(zip(output[1:], y)) | {source[0]: 1}
    if set(kernel) - set(sizes):
        raise _Unknown
    return math.prod(sizes[letter] for letter in set(source + kernel + output))


def _recurrent(gates: int):
    def rule(args, inputs, named, out):
        steps, channels = _known(inputs[0])
        units = args["units"]
        return steps * gates * units * (channels + units)   # each gate: input and recurrent matrices, each step
    return rule


_rule("SimpleRNN")(_recurrent(1))
_rule("GRU")(_recurrent(3))
_rule("LSTM")(_recurrent(4))


def _conv_lstm(rank: int):
    def rule(args, inputs, named, out):
        x, y = _known(inputs[0]), _first(out)
        if len(x) != rank + 2:
            raise _Unknown
        filters, kernel = args["filters"], math.prod(_ints(args["kernel_size"], rank))
        # four gates, each an input convolution and a recurrent one (stride 1, same) over the output map
        return x[0] * math.prod(y[-rank - 1:-1]) * kernel * 4 * filters * (x[-1] + filters)
    return rule


for _rank in (1, 2, 3):
    _rule(f"ConvLSTM{_rank}D")(_conv_lstm(_rank))


def _inner(args: dict) -> tuple[str, dict]:
    inner = dict(args["layer"])
    info = catalogue().layer(inner.pop("type"))
    if info is None or _rule_for(info.name, info.family) is None:
        raise _Unknown
    return info.name, inner


@_rule("Bidirectional")
def _bidirectional(args, inputs, named, out):
    kind, inner = _inner(args)
    if args.get("backward_layer") is not None:
        raise _Unknown
    return 2 * _rule_for(kind, "recurrent")(inner, inputs, {}, None)


@_rule("TimeDistributed")
def _time_distributed(args, inputs, named, out):
    kind, inner = _inner(args)
    x, y = _known(inputs[0]), _first(out)
    return x[0] * _rule_for(kind, catalogue().layer(kind).family)(inner, [x[1:]], {}, y[1:])


@_rule("SpectralNormalization")
def _spectral_norm(args, inputs, named, out):
    kind, inner = _inner(args)   # the power iteration runs once a step, not per sample
    return _rule_for(kind, catalogue().layer(kind).family)(inner, inputs, named, out)


def _attention_inputs(inputs, named) -> tuple:
    query = named.get("query", inputs[0] if inputs else None)
    value = named.get("value", inputs[1] if len(inputs) > 1 else None)
    key = named.get("key", inputs[2] if len(inputs) > 2 else value)
    return _known(query), _known(value), _known(key)


def _attention_macs(queries: int, keys: int, query_dim: int, key_dim: int, value_dim: int, heads: int,
                    head_key: int, head_value: int, width_out: int, kv_heads: int | None = None) -> int:
    """Projections of query, key and value, the scores, the weighted sum and the output projection."""
    kv_heads = heads if kv_heads is None else kv_heads
    return (queries * query_dim * heads * head_key + keys * key_dim * kv_heads * head_key
            + keys * value_dim * kv_heads * head_value + queries * keys * heads * (head_key + head_value)
            + queries * heads * head_value * width_out)


@_rule("MultiHeadAttention")
def _multi_head_attention(args, inputs, named, out):
    query, value, key = _attention_inputs(inputs, named)
    if args.get("attention_axes") is not None:
        raise _Unknown
    heads, head_key = args["num_heads"], args["key_dim"]
    shape = args.get("output_shape")
    width_out = query[-1] if shape is None else math.prod(_ints(shape, len(shape) if isinstance(shape, (list, tuple))
                                                                 else 1))
    return _attention_macs(_positions(query), _positions(key), query[-1], key[-1], value[-1], heads, head_key,
                           args.get("value_dim") or head_key, width_out)


@_rule("GroupQueryAttention")
def _group_query_attention(args, inputs, named, out):
    query, value, key = _attention_inputs(inputs, named)
    head = args["head_dim"]
    return _attention_macs(_positions(query), _positions(key), query[-1], key[-1], value[-1],
                           args["num_query_heads"], head, head, query[-1], kv_heads=args["num_key_value_heads"])


@_rule("Attention", "AdditiveAttention")
def _dot_attention(args, inputs, named, out):
    query, value, key = _attention_inputs(inputs, named)
    pairs = _positions(query) * _positions(key)
    return pairs * query[-1] + pairs * value[-1]   # a score per pair, then the weighted sum of values


@_rule("Dot")
def _dot(args, inputs, named, out):
    x, y = _known(inputs[0]), _first(out)
    axes = args["axes"]
    axis = axes if isinstance(axes, int) else axes[0]
    axis = axis + len(x) + 1 if axis < 0 else axis   # Keras' axes count the batch axis
    return math.prod(y) * x[axis - 1]


def _transformer(args: dict, x: tuple, context: tuple | None) -> int:
    steps, width = x
    heads = args["num_heads"]
    head = args.get("key_dim") or width // heads
    macs = _attention_macs(steps, steps, width, width, width, heads, head, head, width)
    if context is not None:
        macs += _attention_macs(steps, context[0], width, context[1], context[1], heads, head, head, width)
    return macs + 2 * steps * width * args["intermediate_dim"]   # the feed-forward network's two Dense


@_rule("TransformerEncoderBlock")
def _encoder_block(args, inputs, named, out):
    return _transformer(args, _known(named.get("inputs", inputs[0] if inputs else None)), None)


@_rule("TransformerDecoderBlock")
def _decoder_block(args, inputs, named, out):
    x = _known(named.get("inputs", inputs[0] if inputs else None))
    context = named.get("context", inputs[1] if len(inputs) > 1 else None)
    return _transformer(args, x, None if context is None else _known(context))


@_rule("ModulatedConv2D")
def _modulated_conv(args, inputs, named, out):
    x = _known(named.get("inputs", inputs[0] if inputs else None))
    style = _known(named.get("style", inputs[1] if len(inputs) > 1 else None))
    y = _first(out)
    macs = style[-1] * x[-1] + _positions(y) * math.prod(_ints(args.get("kernel_size", 3), 2)) * x[-1] * y[-1]
    return macs + (x[-1] * y[-1] if args.get("demodulate", True) else 0)   # the style; the conv; demodulation


@_rule("PatchEmbedding")
def _patch_embedding(args, inputs, named, out):
    x, y = _known(inputs[0]), _first(out)
    return y[0] * math.prod(_ints(args["patch_size"], 2)) * x[-1] * y[-1]   # a strided convolution


@_rule("PatchMerging")
def _patch_merging(args, inputs, named, out):
    x, y = _known(inputs[0]), _first(out)
    return _positions(y) * 4 * x[-1] * y[-1]


@_rule("WindowAttention")
def _window_attention(args, inputs, named, out):
    height, width, channels = _known(inputs[0])
    window = min(args["window_size"], height, width)   # a map no larger than the window is one window
    pixels = height * width
    return pixels * channels * 3 * channels + 2 * pixels * window * window * channels + pixels * channels * channels


def _zero(args, inputs, named, out):
    return 0


def _rule_for(kind: str, family: str | None):
    """The MAC rule of a layer type: its own, or none needed in a family without products; None: no formula."""
    if kind in MACS:
        return MACS[kind]
    return _zero if family in ZERO_MAC_FAMILIES and kind not in NO_FORMULA else None


# --- parameters that do not train ---------------------------------------------------------------------
# type -> rule(args, params, inputs, out) -> the node's non-trainable parameters (the rest train)

def _batch_norm_fixed(args, params, inputs, out):
    per_axis = 2 + bool(args.get("center", True)) + bool(args.get("scale", True))
    return params * 2 // per_axis   # the moving mean and variance


def _spectral_fixed(args, params, inputs, out):
    kind = catalogue().layer(args["layer"]["type"]).name
    shape = _known(inputs[0]) if kind.endswith("Transpose") else _first(out)
    return shape[-1]   # the power iteration's vector u


NON_TRAINABLE = {
    "BatchNormalization": _batch_norm_fixed,
    "Normalization": lambda args, params, inputs, out: params,   # adapted statistics
    "SpectralNormalization": _spectral_fixed,
}


# --- optimizer state ------------------------------------------------------------------------------------
# optimizer -> rule(its arguments) -> float32 values kept per trainable weight (Keras' optimizer variables)

SLOTS = {
    "sgd": lambda a: 1 if a.get("momentum") else 0,
    "adam": lambda a: 2 + bool(a.get("amsgrad")),
    "adamw": lambda a: 2 + bool(a.get("amsgrad")),
    "nadam": lambda a: 2,
    "adamax": lambda a: 2,
    "adadelta": lambda a: 2,
    "ftrl": lambda a: 2,
    "lamb": lambda a: 2,
    "rmsprop": lambda a: 1 + bool(a.get("momentum")) + bool(a.get("centered")),
    "adagrad": lambda a: 1,
    "lion": lambda a: 1,
    "adafactor": lambda a: 1,   # a velocity, plus factored row and column statistics (not counted: "at least")
}
FACTORED = {"adafactor"}


def optimizer_slots(name: str, args: dict) -> int:
    """Values an optimizer keeps per trainable weight: its own slots, and one more each for an EMA of the
    weights (`use_ema`) and for accumulated gradients (`gradient_accumulation_steps`)."""
    return SLOTS[name](args) + bool(args.get("use_ema")) + bool(args.get("gradient_accumulation_steps"))


# --- the pass -------------------------------------------------------------------------------------------

@dataclass
class NodeCost:
    """One node, per sample. None: not known, and `why` says why the MACs are not."""

    type: str
    params: int | None
    trainable: int | None
    macs: int | None
    values: int | None          # values the node outputs per sample
    why: str | None = None


@dataclass
class ModelCost:
    """A model's forward pass, per sample: its nodes, and totals that include the models it calls."""

    name: str
    nodes: dict[str, NodeCost]
    params: int                 # counted parameters, a called model's once
    trainable: int
    macs: int                   # counted MACs, every call of a called model included
    values: int                 # counted output values of every node
    value_bytes: int            # bytes per activation value: 4, or 2 under mixed precision
    not_counted: dict[str, str] = field(default_factory=dict)   # node -> why its MACs are missing from `macs`
    params_missing: list[str] = field(default_factory=list)     # nodes whose parameters are not counted
    values_missing: list[str] = field(default_factory=list)     # nodes whose output size is not known
    optimizer: dict | None = None   # {"type", "slots", "bytes"} for the optimizer that trains it

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activation_bytes(self) -> int:
        return self.values * self.value_bytes

    def to_dict(self) -> dict:
        return {
            "macs": self.macs, "flops": self.flops, "macs_at_least": bool(self.not_counted),
            "not_counted": dict(self.not_counted),
            "parameters": self.params, "trainable": self.trainable, "parameters_at_least": bool(self.params_missing),
            "activation_values": self.values, "activation_bytes": self.activation_bytes,
            "activation_at_least": bool(self.values_missing),
            "weight_bytes": {"float32": self.params * FLOAT32, "bfloat16": self.params * BFLOAT16},
            "optimizer": self.optimizer,
            "nodes": {node: {"type": c.type, "params": c.params, "trainable": c.trainable, "macs": c.macs,
                             "activation_bytes": None if c.values is None else c.values * self.value_bytes}
                      | ({"why": c.why} if c.why else {}) for node, c in self.nodes.items()},
        }


@dataclass
class Cost:
    """Per model (callees first), and which model trains."""

    models: dict[str, ModelCost]
    main: str

    def __getitem__(self, name: str) -> ModelCost:
        return self.models[name]

    def to_dict(self) -> dict:
        return {"main": self.main, "models": {name: model.to_dict() for name, model in self.models.items()}}

    def lines(self, nodes: bool = True) -> list[str]:
        """A report: each model's nodes (id, type, parameters, MACs, activations) and its totals."""
        out = []
        for model in self.models.values():
            out.append(f"model {model.name}, per sample")
            if nodes:
                out.append(f"  {'node':<34} {'type':<24} {'params':>12} {'MACs':>10} {'activations':>12}")
                for node_id, c in model.nodes.items():
                    out.append(f"  {node_id:<34.34} {c.type:<24.24} {_number(c.params):>12} "
                               f"{macs_text(c):>10} {_bytes_or_blank(c.values, model.value_bytes):>12}")
            out += ["  " + line for line in totals(model)]
        return out


def _without_batch(shape):
    if isinstance(shape, list):
        return [_without_batch(s) for s in shape]
    return tuple(shape)[1:] if shape is not None else None


def _pick(shapes: dict, ref: Ref):
    shape = shapes.get(ref.node)
    if ref.index is None or shape is None:
        return shape
    return shape[ref.index] if isinstance(shape, list) and ref.index < len(shape) else None


def _values(shape) -> int | None:
    if isinstance(shape, list):
        counts = [_values(s) for s in shape]
        return None if None in counts else sum(counts)
    if shape is None or any(not isinstance(n, int) for n in shape):
        return None
    return math.prod(shape)


def _after_open_inputs(model: ModelGraph) -> dict[str, list[str]]:
    """node -> the inputs with a size left open (`shape: [null]`) that it reads from, directly or not."""
    found: dict[str, list[str]] = {}
    for node in model.nodes.values():
        if node.op == "input":
            found[node.id] = [node.id] if None in tuple(node.args.get("shape") or ()) else []
        else:
            found[node.id] = sorted({name for ref in node.sources for name in found.get(ref.node, [])})
    return found


def _layer(node: Node, shapes: dict, params: int | None, trainable: int | None) -> NodeCost:
    info = catalogue().layer(node.type)
    kind, family = (info.name, info.family) if info else (node.type, None)
    out = shapes.get(node.id)
    if params is not None and trainable is None:
        fixed = NON_TRAINABLE.get(kind)
        try:
            trainable = params - (fixed(node.args, params, [_pick(shapes, r) for r in node.inputs], out) if fixed else 0)
        except (_Unknown, KeyError, TypeError, ValueError, IndexError, AttributeError):
            trainable = None
        if node.args.get("trainable") is False:
            trainable = 0
    result = NodeCost(kind, params, trainable, None, _values(out))
    rule = _rule_for(kind, family)
    if rule is None:
        result.why = f"no formula for {kind}" + (f" ({NO_FORMULA[kind]})" if kind in NO_FORMULA else "")
        return result
    inputs = [_pick(shapes, ref) for ref in node.inputs]
    named = {name: _pick(shapes, ref) for name, ref in node.kwargs.items() if isinstance(ref, Ref)}
    try:
        result.macs = int(rule(node.args, inputs, named, out))
    except (_Unknown, KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError):
        result.why = "shape unknown"
    return result


def _optimizer(graph: Graph, model: str) -> tuple[str, dict] | None:
    """The optimizer that trains `model`'s weights: the network's own (`train.optimizers`), or `train.optimizer`;
    None for a model that no optimizer trains as a whole (a GAN's combined model)."""
    train = graph.spec.train
    if train is None:
        return None
    chosen, networks = train.optimizer, roles.REQUIRED.get(train.kind)
    for role in networks or ():
        try:
            plays = roles.network_name(graph, role, train.kind) == model
        except SpecError:
            continue
        if not plays:
            continue
        own = getattr(train.optimizers, role, None) or getattr(train.optimizers, _OTHER_NAME.get(role, role), None)
        return _named(own or chosen)
    return None if networks else _named(chosen)   # a kind of several networks trains each with its own


_OTHER_NAME = {"critic": "discriminator", "discriminator": "critic"}


def _named(optimizer) -> tuple[str, dict]:
    return (optimizer, {}) if isinstance(optimizer, str) else (optimizer.type, optimizer.args)


def open_sizes(graph: Graph, size: int) -> dict:
    """`{model: {input: shape}}` giving every size the spec's inputs leave open (`shape: [null]`) the value `size`,
    for `cost(inputs=...)`."""
    return {name: {i: tuple(size if d is None else d for d in model.nodes[i].args.get("shape") or ())
                   for i in model.inputs} for name, model in graph.models.items()}


def cost(graph: Graph, shapes: dict | None = None, params: dict | None = None, trainable: dict | None = None,
         inputs: dict | None = None) -> Cost:
    """What each model of a resolved graph costs per sample, without allocating weights.

    shapes, params: `{model: {node: ...}}` from the compiled models (Keras output shapes with the batch axis,
        parameter counts); None: `builder.graph.estimate`'s, without Keras.
    trainable: `{model: {node: count}}` of trainable parameters when Keras counted them; else `NON_TRAINABLE`.
    inputs: `{model: {input: shape}}` filling the sizes a spec leaves open (see `estimate`).
    """
    if shapes is None:
        found = estimate(graph, inputs)
        shapes, params = found.shapes, (found.params if params is None else params)
    else:
        shapes = {m: {n: _without_batch(s) for n, s in by_node.items()} for m, by_node in shapes.items()}
        if params is None:
            params = estimate(graph, inputs).params
    train = graph.spec.train
    value_bytes = BFLOAT16 if train is not None and train.mixed_precision != "off" else FLOAT32
    models: dict[str, ModelCost] = {}
    for model in graph.models.values():
        models[model.name] = _model(graph, model, shapes.get(model.name, {}), (params or {}).get(model.name, {}),
                                    (trainable or {}).get(model.name, {}), models, value_bytes)
    return Cost(models, graph.main)


def _model(graph: Graph, model: ModelGraph, shapes: dict, params: dict, trainable: dict, done: dict,
           value_bytes: int) -> ModelCost:
    nodes: dict[str, NodeCost] = {}
    result = ModelCost(model.name, nodes, 0, 0, 0, 0, value_bytes)
    callees: set[str] = set()
    open_inputs = _after_open_inputs(model)
    for node in model.nodes.values():
        if node.op == "input":
            continue
        if node.op == "model":
            callee = done[node.type]
            callees.add(node.type)
            nodes[node.id] = NodeCost(f"model {node.type}", 0, 0, callee.macs, callee.values,
                                      f"calls {node.type}, not all counted" if callee.not_counted else None)
        else:
            nodes[node.id] = _layer(node, shapes, params.get(node.id), trainable.get(node.id))
            opened = open_inputs[node.id]
            if nodes[node.id].why == "shape unknown" and opened:
                nodes[node.id].why = (f"shape unknown: input{'s' * (len(opened) > 1)} {', '.join(opened)} "
                                      f"{'leave' if len(opened) > 1 else 'leaves'} a size open (null)")
        c = nodes[node.id]
        result.macs += c.macs or 0
        result.values += c.values or 0
        if c.why:
            result.not_counted[node.id] = c.why
        if c.params is None:
            result.params_missing.append(node.id)
        if c.values is None:
            result.values_missing.append(node.id)
        result.params += c.params or 0
        result.trainable += c.trainable or 0
    for name in sorted(callees):   # a called model's weights are its own, once however often it is called
        result.params += done[name].params
        result.trainable += done[name].trainable
        result.params_missing += [f"{name}/{n}" for n in done[name].params_missing]
    chosen = _optimizer(graph, model.name)
    if chosen is not None:
        kind, args = chosen
        slots = optimizer_slots(kind, args)
        result.optimizer = {"type": kind, "slots": slots, "bytes": slots * result.trainable * FLOAT32,
                            "at_least": kind in FACTORED or bool(result.params_missing)}
    return result


# --- text ---------------------------------------------------------------------------------------------------

def _number(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def si(n: float) -> str:
    """4,089,184,256 -> 4.09 G."""
    for factor, unit in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n:g}"


def size(n: float) -> str:
    """Bytes in binary units: 102,760,448 -> 98 MiB."""
    for factor, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n:g} B"


def macs_text(c: NodeCost) -> str:
    """A node's MACs for a table: `118 M`, `0`, or `?` when unknown."""
    return "?" if c.macs is None else si(c.macs)


def _bytes_or_blank(values: int | None, value_bytes: int) -> str:
    return "?" if values is None else size(values * value_bytes)


def totals(model: ModelCost) -> list[str]:
    """The totals of a model, a few lines: MACs (at least, naming what is not counted), memory, optimizer state."""
    least = "at least " if model.not_counted else ""
    dtype = "float32" if model.value_bytes == FLOAT32 else "16-bit"
    lines = [(f"{least}{si(model.macs)} MACs ({si(model.flops)} FLOPs) per sample; activations "
              f"{'at least ' if model.values_missing else ''}{size(model.activation_bytes)} per sample ({dtype})")]
    reasons: dict[str, list[str]] = {}
    for node, why in model.not_counted.items():
        reasons.setdefault(why, []).append(f"{node} ({model.nodes[node].type})")
    for why, nodes in reasons.items():
        lines.append(f"not counted ({why}): " + ", ".join(nodes[:4]) + (f" and {len(nodes) - 4} more" if len(nodes) > 4 else ""))
    weights = (f"weights {size(model.params * FLOAT32)} float32, {size(model.params * BFLOAT16)} bfloat16 "
               f"({'at least ' if model.params_missing else ''}{model.params:,} parameters, {model.trainable:,} trainable)")
    if model.optimizer is not None:
        o = model.optimizer
        weights += (f"; {o['type']} state {'at least ' if o['at_least'] else ''}{size(o['bytes'])} "
                    f"({o['slots']} slot{'s' * (o['slots'] != 1)} per trainable weight)")
    return lines + [weights]


# --- a training run -----------------------------------------------------------------------------------------

# dense peak FLOP/s of one device (no sparsity), by a part of its name, first match first; float32 is the CUDA
# cores' rate (TF32 tensor cores would be 495 T on an H100, but frameworks differ in whether they use them)
PEAKS = (
    ("H100 PCIe", {"bfloat16": 756e12, "float16": 756e12, "float32": 51e12}),
    ("H100", {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12}),
    ("H200", {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12}),
)
ADVERSARIAL = {"gan", "cgan", "wgan-gp"}   # several networks a step: samples x 3 x forward does not hold


def peak(device: str, precision: str) -> float | None:
    """The device's dense peak FLOP/s at `precision` (bfloat16, float16, float32); None when not in PEAKS."""
    for part, rates in PEAKS:
        if part.lower() in str(device).lower():
            return rates.get(precision)
    return None


def data_shapes(model: ModelGraph, x) -> dict:
    """`{input: shape}` (no batch axis) of the arrays a model trains on: one array, a list in input order, or a
    dict by input name; what is not an array is left out."""
    arrays = x if isinstance(x, dict) else dict(zip(model.inputs, x if isinstance(x, (list, tuple)) else [x]))
    return {name: tuple(int(d) for d in array.shape[1:]) for name, array in arrays.items()
            if name in model.inputs and hasattr(array, "shape")}


def training_summary(graph: Graph, x, samples_per_second: float | None, device: str, devices: int = 1) -> dict:
    """The cost of the model that trains, for summary.json: MACs and memory per sample (open sizes filled from
    the data `x`), and the achieved FLOP/s of training (samples/s x 3 x forward FLOPs: the forward pass and a
    backward pass of twice its work) with its fraction of the devices' peak where the peak is known."""
    try:
        return _training_summary(graph, x, samples_per_second, device, devices)
    except Exception as exc:  # noqa: BLE001  (informative only: a run that trained must still write its summary)
        return {"unavailable": f"{type(exc).__name__}: {exc}"}


def _training_summary(graph: Graph, x, samples_per_second: float | None, device: str, devices: int) -> dict:
    main = graph.models[graph.main]
    try:
        given = {main.name: data_shapes(main, x)}
    except (AttributeError, TypeError, ValueError):   # informative only: the spec's own shapes then
        given = None
    model = cost(graph, inputs=given)[main.name]
    result = {"model": main.name} | {k: v for k, v in model.to_dict().items() if k != "nodes"}
    train = graph.spec.train
    if train is not None and train.kind in ADVERSARIAL:
        result["achieved"] = f"not given: kind {train.kind} trains several networks a step"
        return result
    if samples_per_second and model.macs and not model.not_counted:
        achieved = samples_per_second * 3 * model.flops
        precision = "float32" if train is None or train.mixed_precision == "off" else train.mixed_precision
        result |= {"training_flops_per_sample": 3 * model.flops, "achieved_flops_per_second": achieved,
                   "precision": precision}
        top = peak(device, precision)
        if top is not None:
            result |= {"peak_flops_per_second": top * devices, "fraction_of_peak": achieved / (top * devices)}
    return result
