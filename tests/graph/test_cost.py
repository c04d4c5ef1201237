"""Cost before build (builder.graph.cost): multiply-accumulates per sample checked against an independent counter,
TensorFlow's profiler on the model's graph; trainable parameters and optimizer state against Keras; and what it
cannot count, named and never counted as zero."""

from __future__ import annotations

import math

import pytest
from spec_helpers import SPECS, graph_of

from builder.graph import load_graph
from builder.graph.cost import (
    MACS,
    NO_FORMULA,
    SLOTS,
    _rule_for,
    cost,
    optimizer_slots,
    peak,
    training_summary,
)
from builder.language.catalogue import catalogue

# the op types that multiply and accumulate, in TensorFlow's graph of a Keras 3 model
PRODUCT_OPS = {"Conv2D", "Conv3D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MatMul", "BatchMatMul",
               "BatchMatMulV2", "BatchMatMulV3", "Einsum"}

# the networks, small enough to trace in seconds (MACs scale with the input; the rules do not change)
NETWORKS = {
    "lenet": ({}, None),
    "vgg16": ({"size": 32}, None),
    "resnet50": ({"size": 32}, None),
    "mobilenetv2": ({"size": 32}, None),
    "transformer": ({"source_vocab": 50, "target_vocab": 40, "embed_dim": 16, "heads": 2, "ff_dim": 32,
                     "encoder_layers": 2}, 12),   # the sequences' length, which the spec leaves open
}


def count_einsum():
    """TensorFlow's profiler has no count for Einsum (Keras' attention scores when key_dim != value_dim): a
    contraction of two operands makes one product per combination of its letters' values."""
    from tensorflow.python.framework import graph_util, ops

    def flops(graph, node):
        operands = node.attr["equation"].s.decode().replace(" ", "").split("->")[0].split(",")
        if len(operands) != 2 or "." in "".join(operands):
            return ops.OpStats("flops", 0)
        sizes = {}
        for letters, name in zip(operands, node.input):
            shape = graph_util.tensor_shape_from_node_def_name(graph, name)
            shape.assert_is_fully_defined()
            sizes.update(zip(letters, shape.as_list()))
        return ops.OpStats("flops", 2 * math.prod(sizes.values()))

    try:
        ops.RegisterStatistics("Einsum", "flops")(flops)
    except KeyError:   # registered already (an earlier test, or a TensorFlow that counts it)
        pass


def profiled_macs(model, inputs: list[tuple[tuple, str]]) -> tuple[float, dict]:
    """Half the FLOPs TensorFlow's profiler counts in the product ops of `model`'s graph for one sample, and the
    FLOPs of every op type it counts."""
    tf = pytest.importorskip("tensorflow")
    count_einsum()
    specs = [tf.TensorSpec((1,) + shape, dtype) for shape, dtype in inputs]
    concrete = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False)) \
        .get_concrete_function(*specs)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    found = tf.compat.v1.profiler.profile(graph=concrete.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                          options=options)
    by_type: dict[str, int] = {}

    def walk(node):   # the op view nests its rows: each node's own float_ops, summed by op type
        for child in node.children:
            by_type[child.name] = by_type.get(child.name, 0) + child.float_ops
            walk(child)

    walk(found)
    return sum(v for k, v in by_type.items() if k in PRODUCT_OPS) / 2, by_type


def compare_with_profiler(graph, length: int | None = None):
    """(our MACs, the profiler's) for the main model; `length` fills the sizes the spec leaves open."""
    from builder.model.compile import compile_graph

    model = graph.models[graph.main]
    shapes = {name: tuple(length if d is None else d for d in model.nodes[name].args["shape"]) for name in model.inputs}
    ours = cost(graph, inputs={model.name: shapes})[model.name]
    assert not ours.not_counted, ours.not_counted
    built = compile_graph(graph)
    theirs, _ = profiled_macs(built[model.name], [(shapes[name], model.nodes[name].args.get("dtype") or "float32")
                                                  for name in model.inputs])
    return ours.macs, theirs


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_macs_agree_with_tensorflows_profiler(name):
    overrides, length = NETWORKS[name]
    ours, theirs = compare_with_profiler(load_graph(str(SPECS / f"{name}.yaml"), overrides), length)
    assert ours == pytest.approx(theirs, rel=0.02)   # measured: equal to the multiply-accumulate


# the other rules TensorFlow's profiler can count (its registry has no Conv3DBackpropInput; additive attention
# is elementwise ops; recurrent cells without `unroll` run in a loop, and grouped convolutions in an XLA
# function, whose insides it does not see)
RULES = """
    inputs:
      image: {shape: [12, 12, 3]}
      seq: {shape: [10, 4]}
      vol: {shape: [6, 6, 6, 2]}
    layers:
      - {id: sep, type: SeparableConv2D, filters: 6, kernel_size: 3, depth_multiplier: 2, padding: same, inputs: image}
      - {id: depthwise, type: DepthwiseConv2D, kernel_size: [2, 3], strides: 2}
      - {id: dilated, type: Conv2D, filters: 6, kernel_size: 3, dilation_rate: 2, padding: same, inputs: sep}
      - {id: up, type: Conv2DTranspose, filters: 4, kernel_size: 3, strides: 2, padding: same}
      - {id: patches, type: PatchEmbedding, patch_size: 4, embed_dim: 8, inputs: image}
      - {id: mha, type: MultiHeadAttention, num_heads: 2, key_dim: 3, value_dim: 5, output_shape: 7,
         inputs: {query: patches, value: patches}}
      - {id: dot, type: Attention, inputs: [mha, mha]}
      - {id: encoder, type: TransformerEncoderBlock, num_heads: 2, intermediate_dim: 12, inputs: patches}
      - {id: widen, type: Conv2D, filters: 4, kernel_size: 1, inputs: up}
      - {id: windows, type: WindowAttention, num_heads: 2, window_size: 4, shift_size: 2}
      - {id: merge, type: PatchMerging, units: 6}
      - {id: conv1, type: Conv1D, filters: 6, kernel_size: 3, padding: causal, dilation_rate: 2, inputs: seq}
      - {id: rnn, type: SimpleRNN, units: 4, return_sequences: true, unroll: true}
      - {id: gru, type: GRU, units: 5, return_sequences: true, unroll: true}
      - {id: lstm, type: LSTM, units: 3, unroll: true, inputs: conv1}
      - {id: bi, type: Bidirectional, layer: {type: GRU, units: 3, unroll: true}, inputs: gru}
      - {id: steps, type: TimeDistributed, layer: {type: Dense, units: 6}, inputs: gru}
      - {id: up1, type: Conv1DTranspose, filters: 3, kernel_size: 3, strides: 2, padding: same, inputs: seq}
      - {id: conv3, type: Conv3D, filters: 3, kernel_size: 2, inputs: vol}
      - {id: flat, type: Flatten}
      - {id: out, type: Dense, units: 2}
    outputs: [depthwise, dot, encoder, merge, rnn, lstm, bi, steps, up1, out]
"""


@pytest.mark.tensorflow_only
def test_the_other_rules_agree_with_tensorflows_profiler(tmp_path):
    ours, theirs = compare_with_profiler(graph_of(tmp_path, RULES))
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_the_known_networks_at_their_papers_sizes():
    """Full size, without Keras: the counts the literature gives (the spec's ResNet50 is Keras' v1, strides in the
    1x1 convolutions: 3.86 G; torchvision's v1.5 puts them in the 3x3 ones, 4.1 G)."""
    expected = {"resnet50": 3.86e9, "vgg16": 15.47e9, "mobilenetv2": 0.3008e9, "densenet121": 2.834e9,
                "efficientnetb0": 0.3858e9, "convnext_tiny": 4.456e9}
    for name, macs in expected.items():
        found = cost(load_graph(str(SPECS / f"{name}.yaml")))[name]
        assert found.macs == pytest.approx(macs, rel=1e-3), name
        assert not found.not_counted


@pytest.mark.parametrize("name,overrides", [
    ("efficientnetb0", {"size": 32}), ("wgan_gp", {"latent": 8, "filters": 4}), ("swin", {"dim": 8, "head_dim": 4}),
    ("seq2seq_attention", {"source_vocab": 50, "target_vocab": 40, "embed_dim": 8, "units": 8}),
    ("bilstm", {"vocab": 100, "embed_dim": 8, "units": 8}), ("ddpm", {"filters": 8, "time_dim": 16}),
])
def test_keras_shapes_give_the_estimates_costs_and_keras_trainable_counts(name, overrides):
    """`builder build` (Keras' shapes and trainable counts) and `validate --cost` (no Keras) agree."""
    pytest.importorskip("keras")
    from builder.model.compile import compile_graph, layer_name
    from builder.model.inspect import trainable_counts

    graph = load_graph(str(SPECS / f"{name}.yaml"), overrides)
    built = compile_graph(graph)
    keras_side = cost(graph, built.shapes, built.params, trainable_counts(graph, built, layer_name))
    free = cost(graph)
    for model in graph.models:
        assert keras_side[model].nodes == free[model].nodes, model
        assert free[model].trainable == sum(w.numpy().size for w in built[model].trainable_weights)
        assert free[model].params == built[model].count_params()


def test_every_catalogue_layer_has_a_rule_or_says_why_not():
    missing = [name for name, entry in catalogue().layers.items()
               if _rule_for(name, entry["family"]) is None and name not in NO_FORMULA]
    assert missing == []
    assert set(MACS) <= set(catalogue().layers)   # no rule for a type that does not exist


def test_what_it_cannot_count_is_named_and_the_total_says_at_least(tmp_path):
    graph = graph_of(tmp_path, """
        inputs:
          image: {shape: [32, 32, 3]}
          tokens: {shape: [null], dtype: int32}
        layers:
          - {id: backbone, type: Application, architecture: MobileNetV2, weights: none, pooling: avg, inputs: image}
          - {id: head, type: Dense, units: 10}
          - {id: embed, type: Embedding, input_dim: 100, output_dim: 8, inputs: tokens}
          - {id: rnn, type: GRU, units: 4}
        outputs: [head, rnn]
    """)
    found = cost(graph)["spec"]
    assert found.not_counted == {
        "backbone": "no formula for Application (a whole keras.applications network in one node)",
        "head": "shape unknown",   # after a layer the Keras-free pass cannot shape
        "rnn": "shape unknown: input tokens leaves a size open (null)"}
    assert found.nodes["embed"].macs == 0                 # a lookup, whatever the length
    assert found.macs == 0 and found.to_dict()["macs_at_least"]
    report = "\n".join(cost(graph).lines())
    assert "at least 0 MACs" in report and "not counted (no formula for Application" in report, report
    filled = cost(graph, inputs={"spec": {"tokens": (20,)}})["spec"]
    assert filled.nodes["rnn"].macs == 20 * 3 * 4 * (8 + 4)   # the data's length fills the open size


def test_optimizer_state_is_the_optimizers_own_variables():
    """Per trainable weight, the values Keras' optimizers keep (iterations and other scalars aside)."""
    keras = pytest.importorskip("keras")
    from builder.training.objects import OPTIMIZER_CLASSES

    assert set(SLOTS) == set(catalogue().optimizers)   # a rule for every optimizer a spec may name
    cases = [(name, {}) for name in SLOTS] + [("sgd", {"momentum": 0.9}), ("adam", {"amsgrad": True}),
                                              ("rmsprop", {"momentum": 0.9, "centered": True}),
                                              ("adam", {"use_ema": True}), ("lion", {"gradient_accumulation_steps": 2})]
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    for name, args in cases:
        made = getattr(keras.optimizers, OPTIMIZER_CLASSES[name])(**args)
        made.build(layer.trainable_variables)
        kept = sum(math.prod(v.shape) for v in made.variables if len(v.shape) > 0)
        slots = optimizer_slots(name, args)
        assert kept >= slots * 15 if name == "adafactor" else kept == slots * 15, (name, args)


def test_optimizer_state_follows_the_spec_and_each_networks_own_optimizer():
    lenet = cost(load_graph(str(SPECS / "lenet.yaml")))["lenet"]
    assert lenet.optimizer == {"type": "adam", "slots": 2, "bytes": 2 * 61706 * 4, "at_least": False}
    gan = cost(load_graph(str(SPECS / "dcgan.yaml")))
    assert gan["generator"].optimizer["type"] == "adam" and gan["discriminator"].optimizer is not None
    assert gan[gan.main].optimizer is None   # the combined model: each network has its own optimizer


def test_a_runs_summary_gives_the_achieved_flops_and_the_fraction_of_a_known_peak(tmp_path):
    np = pytest.importorskip("numpy")
    graph = load_graph(str(SPECS / "lenet.yaml"))
    x = np.zeros((5, 8, 8, 1), "float32")
    summary = training_summary(graph, x, 1000.0, "NVIDIA H100 80GB HBM3", devices=2)
    assert summary["macs"] == 416520 and summary["flops"] == 833040
    assert summary["achieved_flops_per_second"] == 1000.0 * 3 * 833040
    assert summary["peak_flops_per_second"] == 2 * 67e12 and summary["precision"] == "float32"
    assert summary["fraction_of_peak"] == pytest.approx(1000.0 * 3 * 833040 / (2 * 67e12))
    on_cpu = training_summary(graph, x, 1000.0, "cpu")
    assert "achieved_flops_per_second" in on_cpu and "fraction_of_peak" not in on_cpu   # no known peak: left out
    assert peak("NVIDIA H200", "bfloat16") == 989e12 and peak("NVIDIA H100 PCIe", "float32") == 51e12
    sequences = load_graph(str(SPECS / "gpt.yaml"), {"vocab": 100, "context": 16, "embed_dim": 16, "heads": 2,
                                                     "ff_dim": 32, "layers": 1})
    filled = training_summary(sequences, np.zeros((4, 16), "int32"), 10.0, "cpu")
    assert filled["macs"] > 0 and not filled["macs_at_least"]   # the open length, from the data
