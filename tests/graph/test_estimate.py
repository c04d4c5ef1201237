"""The parameter estimate without Keras (builder.graph.estimate): where it counts a node, the count and the
output shape are Keras' own, over the spec library and over specs that use every rule the library does not;
what it cannot count it says."""

from __future__ import annotations

import pytest
from spec_helpers import SPECS, graph_of

from builder.graph import load_graph
from builder.graph.estimate import RULES, estimate
from builder.language.catalogue import catalogue

# the library at a size that builds in a second (the CNNs at 32x32, the rest as tests/integration builds them)
LIBRARY = {
    "alexnet": {"size": 64}, "convnext_tiny": {"size": 32}, "densenet121": {"size": 32},
    "efficientnetb0": {"size": 32}, "inception": {"size": 32}, "mobilenetv2": {"size": 32},
    "resnet50": {"size": 32}, "squeezenet": {"size": 32}, "vgg16": {"size": 32},
    "autoencoder": {"hidden": 16, "code": 4}, "bert_classifier": {"vocab": 100, "seq_len": 16, "embed_dim": 16,
                                                                  "heads": 2, "ff_dim": 32, "layers": 1},
    "bilstm": {"vocab": 100, "embed_dim": 8, "units": 8}, "cgan": {"latent": 8, "filters": 4},
    "cyclegan": {"filters": 4}, "pix2pix": {"filters": 4},
    "dcgan": {"latent": 8, "filters": 4}, "ddpm": {"filters": 8, "time_dim": 16},
    "denoising_autoencoder": {"filters": 4, "code_filters": 2},
    "gpt": {"vocab": 100, "context": 16, "embed_dim": 16, "heads": 2, "ff_dim": 32, "layers": 1},
    "gru": {"units": 8}, "lenet": {}, "lenet_search": {}, "lstm": {"units": 8}, "mlp": {"units": 8},
    "mlp_mixer": {"hidden": 8, "depth": 1, "tokens_mlp_dim": 8, "channels_mlp_dim": 16},
    "seq2seq_attention": {"source_vocab": 50, "target_vocab": 40, "embed_dim": 8, "units": 8},
    "simple_rnn": {"units": 8}, "swin": {"dim": 8, "head_dim": 4},
    "stylegan": {"latent": 8, "w_dim": 8, "filters": 8, "mapping_layers": 2},
    "transformer": {"source_vocab": 50, "target_vocab": 40, "embed_dim": 16, "heads": 2, "ff_dim": 32,
                    "encoder_layers": 1},
    "unet": {"size": 32, "filters": 4}, "vae": {"hidden": 16, "latent": 2},
    "vit": {"embed_dim": 16, "heads": 2, "mlp_dim": 32, "depth": 1}, "wgan_gp": {"latent": 8, "filters": 4},
}

# the rules the library does not use, each at least once (and some the library uses, in other forms)
IMAGES = """
    inputs:
      image: {shape: [12, 12, 3]}
    layers:
      - {id: rescale, type: Rescaling, scale: 0.5}
      - {id: flip, type: RandomFlip}
      - {id: rotate, type: RandomRotation, factor: 0.1}
      - {id: zoom, type: RandomZoom, height_factor: 0.1}
      - {id: move, type: RandomTranslation, height_factor: 0.1, width_factor: 0.1}
      - {id: contrast, type: RandomContrast, factor: 0.1}
      - {id: bright, type: RandomBrightness, factor: 0.1}
      - {id: resize, type: Resizing, height: 16, width: 16}
      - {id: centre, type: CenterCrop, height: 14, width: 14}
      - {id: pad, type: ZeroPadding2D, padding: [[1, 0], [2, 1]]}
      - {id: cut, type: Cropping2D, cropping: [1, 1]}
      - {id: sep, type: SeparableConv2D, filters: 5, kernel_size: 3, depth_multiplier: 2, padding: same, strides: 2}
      - {id: depthwise, type: DepthwiseConv2D, kernel_size: [2, 3], use_bias: false}
      - {id: up_same, type: Conv2DTranspose, filters: 4, kernel_size: 3, strides: 2, padding: same, output_padding: 1}
      - {id: up_valid, type: Conv2DTranspose, filters: 4, kernel_size: 2, strides: 3}
      - {id: grouped, type: Conv2D, filters: 6, kernel_size: 3, groups: 2, dilation_rate: 2}
      - {id: pool, type: MaxPooling2D, pool_size: 3, strides: 2, padding: same}
      - {id: avg, type: AveragePooling2D, pool_size: [2, 3]}
      - {id: spectral_up, type: SpectralNormalization, layer: {type: Conv2DTranspose, filters: 3, kernel_size: 2}}
      - {id: spectral_dense, type: SpectralNormalization, layer: {type: Dense, units: 4}}
      - {id: prelu, type: PReLU, shared_axes: [1, 2]}
      - {id: elu, type: ELU}
      - {id: soft, type: Softmax}
      - {id: drop, type: SpatialDropout2D, rate: 0.1}
      - {id: noise, type: GaussianDropout, rate: 0.1}
      - {id: alpha, type: AlphaDropout, rate: 0.1}
      - {id: penalty, type: ActivityRegularization, l2: 0.01}
      - {id: bn, type: BatchNormalization, center: false}
      - {id: gn, type: GroupNormalization, groups: 2}
      - {id: ln, type: LayerNormalization, axis: [-2, -1]}
      - {id: norm, type: Normalization, axis: [1, 3]}
      - {id: unit, type: UnitNormalization}
      - {id: gap, type: GlobalAveragePooling2D, keepdims: true}
      - {id: up, type: UpSampling2D, size: [2, 3]}
      - {id: flat, type: Flatten}
      - {id: out, type: Dense, units: 2, use_bias: false}
      - {id: side, type: GlobalMaxPooling2D, inputs: penalty}
    outputs: [out, side]
"""

VOLUMES = """
    inputs:
      seq: {shape: [20, 4]}
      vol: {shape: [6, 6, 6, 2]}
    layers:
      - {id: causal, type: Conv1D, filters: 6, kernel_size: 3, padding: causal, dilation_rate: 2, inputs: seq}
      - {id: drop1, type: SpatialDropout1D, rate: 0.1}
      - {id: dw1, type: DepthwiseConv1D, kernel_size: 3, strides: 2, depth_multiplier: 2}
      - {id: sep1, type: SeparableConv1D, filters: 4, kernel_size: 2, padding: same}
      - {id: up1, type: Conv1DTranspose, filters: 3, kernel_size: 3, strides: 2}
      - {id: max1, type: MaxPooling1D, pool_size: 2, padding: same}
      - {id: avg1, type: AveragePooling1D, pool_size: 2, strides: 1}
      - {id: pad1, type: ZeroPadding1D, padding: 2}
      - {id: cut1, type: Cropping1D, cropping: [1, 2]}
      - {id: grow1, type: UpSampling1D, size: 3}
      - {id: seq_out, type: GlobalMaxPooling1D}
      - {id: conv3, type: Conv3D, filters: 3, kernel_size: 2, inputs: vol}
      - {id: drop3, type: SpatialDropout3D, rate: 0.1}
      - {id: up3, type: Conv3DTranspose, filters: 2, kernel_size: 2, strides: 2}
      - {id: max3, type: MaxPooling3D}
      - {id: avg3, type: AveragePooling3D, pool_size: 2, strides: 1, padding: same}
      - {id: pad3, type: ZeroPadding3D, padding: 1}
      - {id: cut3, type: Cropping3D, cropping: 1}
      - {id: grow3, type: UpSampling3D}
      - {id: gmax3, type: GlobalMaxPooling3D}
      - {id: gavg3, type: GlobalAveragePooling3D, inputs: grow3}
      - {id: both, type: Concatenate, inputs: [seq_out, gmax3, gavg3]}
      - {id: out, type: Dense, units: 3}
"""

SEQUENCES = """
    inputs:
      tokens: {shape: [7], dtype: int32}
      context: {shape: [7, 6]}   # as long as the query: Keras gives attention scores (query, query) symbolically
    layers:
      - {id: embed, type: Embedding, input_dim: 20, output_dim: 8, inputs: tokens}
      - {id: rnn, type: SimpleRNN, units: 4, return_sequences: true}
      - {id: gru, type: GRU, units: 5, reset_after: false, return_sequences: true}
      - {id: lstm, type: LSTM, units: 6, return_sequences: true, return_state: true}
      - {id: bi_sum, type: Bidirectional, layer: {type: GRU, units: 3, return_sequences: true}, merge_mode: sum,
         inputs: "lstm[0]"}
      - {id: bi_two, type: Bidirectional, layer: {type: SimpleRNN, units: 2}, merge_mode: null, inputs: "lstm[0]"}
      - {id: states, type: Concatenate, inputs: ["lstm[1]", "lstm[2]", "bi_two[0]", "bi_two[1]"]}
      - {id: per_step, type: TimeDistributed, layer: {type: Dense, units: 6}, inputs: bi_sum}
      - {id: attend, type: MultiHeadAttention, num_heads: 2, key_dim: 3, value_dim: 2, output_shape: 5,
         inputs: {query: per_step, value: context, key: context}, call: {return_attention_scores: true}}
      - {id: dot, type: Attention, use_scale: true, score_mode: concat, inputs: [per_step, context]}
      - {id: additive, type: AdditiveAttention, inputs: [per_step, context]}
      - {id: less, type: Subtract, inputs: [dot, additive]}
      - {id: mean, type: Average, inputs: [dot, less]}
      - {id: most, type: Maximum, inputs: [mean, dot]}
      - {id: least, type: Minimum, inputs: [most, additive]}
      - {id: times, type: Multiply, inputs: [least, per_step]}
      - {id: flipped, type: Permute, dims: [2, 1]}
      - {id: folded, type: Reshape, target_shape: [-1, 2]}
      - {id: pooled, type: GlobalAveragePooling1D}
      - {id: wide, type: Concatenate, inputs: [pooled, states]}
      - {id: again, type: RepeatVector, n: 3}
      - {id: scores, type: Flatten, inputs: "attend[1]"}
      - {id: out, type: Dense, units: 2, inputs: scores}
      - {id: masked, type: Masking, inputs: context}
    outputs: [out, again, masked]
"""

BUILDER_LAYERS = """
    inputs:
      image: {shape: [8, 8, 3]}
      tokens: {shape: [6], dtype: int32}
      t: {shape: [1]}
    layers:
      - {id: patches, type: PatchEmbedding, patch_size: 2, embed_dim: 8, inputs: image}
      - {id: cls, type: ClassToken}
      - {id: positions, type: PositionEmbedding, sequence_length: 17}
      - {id: encoder, type: TransformerEncoderBlock, num_heads: 2, intermediate_dim: 16}
      - {id: embed, type: TokenAndPositionEmbedding, vocabulary_size: 30, sequence_length: 6, embed_dim: 8,
         inputs: tokens}
      - {id: sines, type: SinusoidalPositionEncoding}
      - {id: decoder, type: TransformerDecoderBlock, num_heads: 2, intermediate_dim: 12, key_dim: 3,
         inputs: {inputs: sines, context: encoder}}
      - {id: plain, type: TransformerDecoderBlock, num_heads: 4, intermediate_dim: 4}
      - {id: widen, type: Conv2D, filters: 4, kernel_size: 1, inputs: image}
      - {id: windows, type: WindowAttention, num_heads: 2, window_size: 4, shift_size: 2}
      - {id: merge, type: PatchMerging, units: 6}
      - {id: whole, type: WindowAttention, num_heads: 3, window_size: 7, use_bias: false}
      - {id: same, type: Identity}
      - {id: drop, type: Dropout, rate: 0.1}
      - {id: time, type: TimestepEmbedding, dim: 8, inputs: t}
      - {id: mean, type: Dense, units: 2}
      - {id: log_var, type: Dense, units: 2, inputs: time}
      - {id: z, type: VAESampling, inputs: [mean, log_var]}
    outputs: [plain, drop, z]
"""

RULE_SPECS = {"images": IMAGES, "volumes": VOLUMES, "sequences": SEQUENCES, "builder_layers": BUILDER_LAYERS}


def without_batch(shape):
    return [tuple(s[1:]) for s in shape] if isinstance(shape, list) else tuple(shape[1:])


def assert_same_as_keras(graph):
    """Every count and shape the estimate gives equals the compiled model's; returns the estimate."""
    pytest.importorskip("keras")
    from builder.model.compile import compile_graph

    found, built = estimate(graph), compile_graph(graph)
    for model in graph.models.values():
        for node, count in found.params[model.name].items():
            assert count == built.params[model.name][node], f"{model.name}/{node} ({model.nodes[node].type})"
        for node, shape in found.shapes[model.name].items():
            assert shape == without_batch(built.shapes[model.name][node]), f"{model.name}/{node} shape"
    return found


def test_every_library_spec_is_compared():
    assert sorted(p.stem for p in SPECS.glob("*.yaml")) == sorted(LIBRARY), "give the new spec a size in LIBRARY"


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_the_library_is_counted_exactly(name):
    graph = load_graph(str(SPECS / f"{name}.yaml"), LIBRARY[name])
    found = assert_same_as_keras(graph)
    assert found.uncounted == {m: {} for m in graph.models}      # every layer of the library has a rule
    assert all(found.params[m].keys() == {n for n, node in graph.models[m].nodes.items() if node.op != "input"}
               for m in graph.models)


@pytest.mark.parametrize("name", sorted(RULE_SPECS))
def test_every_rule_agrees_with_keras(tmp_path, name):
    graph = graph_of(tmp_path, RULE_SPECS[name])
    found = assert_same_as_keras(graph)
    assert not found.uncounted["spec"]
    assert len(found.shapes["spec"]) == len(graph.models["spec"].nodes)


def test_every_rule_is_compared_with_keras_above(tmp_path):
    """A rule added without a layer in the library or RULE_SPECS would go unchecked."""
    used = set()
    for name, overrides in LIBRARY.items():
        for model in load_graph(str(SPECS / f"{name}.yaml"), overrides).models.values():
            used |= {catalogue().layer(n.type).name for n in model.nodes.values() if n.op == "layer"}
    for text in RULE_SPECS.values():
        for model in graph_of(tmp_path, text).models.values():
            used |= {catalogue().layer(n.type).name for n in model.nodes.values() if n.op == "layer"}
    assert sorted(set(RULES) - used) == []


def test_what_it_cannot_count_it_names(tmp_path):
    graph = graph_of(tmp_path, """
        inputs: {x: {shape: [4, 8]}}
        layers:
          - {id: mixed, type: EinsumDense, equation: "abc,cd->abd", output_shape: [4, 3]}
          - {id: after, type: Dense, units: 2}
          - {id: flat, type: Flatten}
          - {id: head, type: Dense, units: 1, inputs: x}
    """)
    found = estimate(graph)
    assert found.uncounted["spec"] == {"mixed": "EinsumDense", "after": "Dense"}   # no shape after the unknown
    assert found.params["spec"] == {"flat": 0, "head": 9}
    assert "mixed" not in found.shapes["spec"] and found.shapes["spec"]["head"] == (4, 1)
