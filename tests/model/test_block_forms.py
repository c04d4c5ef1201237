"""Compile: the block forms that keep real networks short build exactly the network written out.

A NASNet-style `(x, prev)` cell recurrence as one `repeat` with `chain: {prev: $in}` builds the same
Keras model as NASNet's own loop; MobileNetV3Small, its structural variants as `when` conditions,
has Keras' parameter and weight-tensor counts.
"""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from spec_helpers import build  # noqa: E402

CELL_SPEC = """
name: cells
inputs: {image: {shape: [16, 16, 3]}}
blocks:
  cell:
    params: {filters: 8}
    inputs: [in, prev]
    layers:
      - {id: p, type: Conv2D, filters: "${filters}", kernel_size: 1, use_bias: false, inputs: $prev}
      - {id: h, type: Conv2D, filters: "${filters}", kernel_size: 1, use_bias: false, inputs: $in}
      - {id: left, type: SeparableConv2D, filters: "${filters}", kernel_size: 5, padding: same, inputs: h}
      - {id: right, type: SeparableConv2D, filters: "${filters}", kernel_size: 3, padding: same, inputs: p}
      - {id: sum, type: Add, inputs: [left, right]}
      - {id: out, type: Concatenate, inputs: [sum, h, p]}
layers:
  - {id: stem, type: Conv2D, filters: 8, kernel_size: 3, padding: same}
  - {id: stem2, type: Conv2D, filters: 12, kernel_size: 3, padding: same}
CELLS
  - {type: GlobalAveragePooling2D}
  - {id: logits, type: Dense, units: 10}
"""
CHAINED = "  - {id: cell, block: cell, repeat: 4, inputs: [stem2, stem], chain: {prev: CHAIN}}"
UNROLLED = "\n".join(f"  - {{id: cell_{k}, block: cell, inputs: [{a}, {b}]}}" for k, a, b in [
    (1, "stem2", "stem"), (2, "cell_1", "stem2"), (3, "cell_2", "cell_1"), (4, "cell_3", "cell_2")])


def keras_cells(cells: int = 4, filters: int = 8) -> keras.Model:
    """The same network in NASNet's own form: `x, p = cell(x, p), x`."""
    layers = keras.layers
    image = keras.Input((16, 16, 3))
    p = layers.Conv2D(8, 3, padding="same")(image)
    x = layers.Conv2D(12, 3, padding="same")(p)
    for _ in range(cells):
        p_ = layers.Conv2D(filters, 1, use_bias=False)(p)
        h = layers.Conv2D(filters, 1, use_bias=False)(x)
        total = layers.Add()([layers.SeparableConv2D(filters, 5, padding="same")(h),
                              layers.SeparableConv2D(filters, 3, padding="same")(p_)])
        x, p = layers.Concatenate()([total, h, p_]), x
    return keras.Model(image, layers.Dense(10)(layers.GlobalAveragePooling2D()(x)))


def test_a_chained_cell_recurrence_builds_nasnets_network(tmp_path):
    _, chained = build(tmp_path / "chained", CELL_SPEC.replace("CELLS", CHAINED.replace("CHAIN", "$in")))
    _, unrolled = build(tmp_path / "unrolled", CELL_SPEC.replace("CELLS", UNROLLED))
    _, fixed = build(tmp_path / "fixed", CELL_SPEC.replace("CELLS", CHAINED.replace("CHAIN", "fixed")))
    reference = keras_cells()
    assert chained["cells"].count_params() == unrolled["cells"].count_params() == reference.count_params()
    assert len(chained["cells"].weights) == len(reference.weights)
    # holding prev at the stem is another network: the 1x1 convolution on prev reads the stem's 8 channels in
    # every cell, not stem2's 12 (cell 2) and the 24 of the output two back (cells 3 and 4)
    assert fixed["cells"].count_params() == reference.count_params() - (12 - 8) * 8 - 2 * (24 - 8) * 8


MOBILENET_V3_SMALL = """
name: mobilenet_v3_small
params: {size: 224, classes: 1000}
inputs: {image: {shape: ["${size}", "${size}", 3]}}
blocks:
  bottleneck:   # keras.applications.mobilenet_v3._inverted_res_block, its variants as conditions
    params: {in_ch: null, expanded: null, filters: null, kernel: 3, stride: 1, se: true, act: hard_swish}
    layers:
      - {type: Conv2D, filters: "${expanded}", kernel_size: 1, use_bias: false, when: "${expanded != in_ch}"}
      - {type: BatchNormalization, epsilon: 1.0e-3, momentum: 0.999, when: "${expanded != in_ch}"}
      - {type: Activation, activation: "${act}", when: "${expanded != in_ch}"}
      - {type: ZeroPadding2D, when: "${stride == 2}",
         padding: [["${kernel // 2 - 1}", "${kernel // 2}"], ["${kernel // 2 - 1}", "${kernel // 2}"]]}
      - {type: DepthwiseConv2D, kernel_size: "${kernel}", strides: "${stride}", use_bias: false,
         padding: "${'valid' if stride == 2 else 'same'}"}
      - {type: BatchNormalization, epsilon: 1.0e-3, momentum: 0.999}
      - {type: Activation, activation: "${act}"}
      - {block: squeeze_excite, when: "${se}",
         with: {channels: "${expanded}", squeezed: "${max(8, int(expanded / 4 + 4) // 8 * 8)}"}}
      - {type: Conv2D, filters: "${filters}", kernel_size: 1, use_bias: false}
      - {type: BatchNormalization, epsilon: 1.0e-3, momentum: 0.999}
      - {type: Add, inputs: [-1, $in], when: "${stride == 1 and in_ch == filters}"}
  squeeze_excite:
    params: {channels: null, squeezed: null}
    layers:
      - {type: GlobalAveragePooling2D, keepdims: true}
      - {type: Conv2D, filters: "${squeezed}", kernel_size: 1, activation: relu}
      - {type: Conv2D, filters: "${channels}", kernel_size: 1, activation: hard_sigmoid}
      - {type: Multiply, inputs: [$in, -1]}
layers:
  - {type: Rescaling, scale: 0.00784313725490196, offset: -1.0}
  - {type: Conv2D, filters: 16, kernel_size: 3, strides: 2, padding: same, use_bias: false}
  - {type: BatchNormalization, epsilon: 1.0e-3, momentum: 0.999}
  - {type: Activation, activation: hard_swish}
  - {block: bottleneck, with: {in_ch: 16, expanded: 16, filters: 16, stride: 2, act: relu}}
  - {block: bottleneck, with: {in_ch: 16, expanded: 72, filters: 24, stride: 2, se: false, act: relu}}
  - {block: bottleneck, with: {in_ch: 24, expanded: 88, filters: 24, se: false, act: relu}}
  - {block: bottleneck, repeat: 3, with: {in_ch: 40, expanded: 240, filters: 40, kernel: 5},
     per_repeat: [{in_ch: 24, expanded: 96, stride: 2}]}
  - {block: bottleneck, repeat: 2, with: {in_ch: 48, expanded: 144, filters: 48, kernel: 5},
     per_repeat: [{in_ch: 40, expanded: 120}]}
  - {block: bottleneck, repeat: 3, with: {in_ch: 96, expanded: 576, filters: 96, kernel: 5},
     per_repeat: [{in_ch: 48, expanded: 288, stride: 2}]}
  - {type: Conv2D, filters: 576, kernel_size: 1, use_bias: false}
  - {type: BatchNormalization, epsilon: 1.0e-3, momentum: 0.999}
  - {type: Activation, activation: hard_swish}
  - {type: GlobalAveragePooling2D, keepdims: true}
  - {type: Conv2D, filters: 1024, kernel_size: 1, activation: hard_swish}
  - {type: Dropout, rate: 0.2}
  - {type: Conv2D, filters: "${classes}", kernel_size: 1}
  - {type: Flatten}
  - {id: predictions, type: Activation, activation: softmax}
"""


def test_mobilenet_v3_small_with_conditions_has_keras_counts(tmp_path):
    graph, models = build(tmp_path, MOBILENET_V3_SMALL)
    reference = keras.applications.MobileNetV3Small(weights=None)
    model = models["mobilenet_v3_small"]
    assert model.count_params() == reference.count_params() == 2_554_968
    assert len(model.weights) == len(reference.weights)
    assert model.output_shape == reference.output_shape
    nodes = graph.models["mobilenet_v3_small"].nodes
    assert "bottleneck_1.conv2d_1" not in nodes and "bottleneck_2.conv2d_1" in nodes   # no expansion in the first
    assert "bottleneck_2.squeeze_excite_1.multiply_1" not in nodes    # se: false
    assert len(MOBILENET_V3_SMALL.strip().splitlines()) <= 55   # Keras: 11 calls of one function, 4 of them variants
