"""Configured initializers, regularizers and constraints build the very objects Keras' own networks use:
EfficientNet's fan-out VarianceScaling and ConvNeXt's layer-scale Constant(1e-6) give Keras' configs and,
seeded, Keras' initial weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spec_helpers import build  # noqa: E402

from keras.src.applications import convnext, efficientnet  # noqa: E402

EFFICIENTNET_HEAD = """
    name: head
    params: {seed: 3, decay: 1.0e-4}
    inputs: {image: {shape: [8, 8, 3]}}
    layers:
      - {id: stem, type: Conv2D, filters: 4, kernel_size: 3, use_bias: false,
         kernel_initializer: {type: VarianceScaling, scale: 2.0, mode: fan_out, distribution: truncated_normal}}
      - {id: seeded, type: Conv2D, filters: 4, kernel_size: 3,
         kernel_initializer: {type: VarianceScaling, scale: 2.0, mode: fan_out, seed: "${seed}"}}
      - {type: GlobalAveragePooling2D}
      - {id: scale, type: Dense, units: 4, bias_initializer: {type: Constant, value: 1.0e-6}}
      - {id: probs, type: Dense, units: 3,
         kernel_initializer: {type: VarianceScaling, scale: "${1 / 3}", mode: fan_out, distribution: uniform},
         kernel_regularizer: {type: L2, l2: "${decay}"}, bias_regularizer: {l1: 0.01},
         kernel_constraint: {type: MaxNorm, max_value: 3, axis: [0]}, bias_constraint: non_neg}
"""


def test_efficientnets_initializers_are_keras_own(tmp_path):
    _, models = build(tmp_path, EFFICIENTNET_HEAD)
    model = models["head"]
    conv = keras.initializers.get(efficientnet.CONV_KERNEL_INITIALIZER).get_config()
    dense = keras.initializers.get(efficientnet.DENSE_KERNEL_INITIALIZER).get_config()
    assert model.get_layer("stem").kernel_initializer.get_config() == conv
    assert model.get_layer("probs").kernel_initializer.get_config() == dense   # scale 1/3 from an expression


def test_a_seeded_initializer_gives_keras_initial_weights(tmp_path):
    _, models = build(tmp_path, EFFICIENTNET_HEAD)
    ours = models["head"].get_layer("seeded")
    theirs = keras.layers.Conv2D(4, 3, kernel_initializer=keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", seed=3))
    theirs.build((None, 6, 6, 4))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours.kernel), keras.ops.convert_to_numpy(theirs.kernel))
    _, other = build(tmp_path, EFFICIENTNET_HEAD, {"seed": 4})
    assert not np.array_equal(keras.ops.convert_to_numpy(other["head"].get_layer("seeded").kernel),
                              keras.ops.convert_to_numpy(theirs.kernel))


def test_a_constant_initializer_starts_where_convnexts_layer_scale_does(tmp_path):
    _, models = build(tmp_path, EFFICIENTNET_HEAD)
    layer_scale = convnext.LayerScale(1e-6, 4)
    layer_scale.build((None, 4))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(models["head"].get_layer("scale").bias),
                                  keras.ops.convert_to_numpy(layer_scale.gamma))


def test_regularizers_and_constraints_are_built_and_survive_a_save(tmp_path):
    _, models = build(tmp_path, EFFICIENTNET_HEAD)
    path = tmp_path / "head.keras"
    models["head"].save(path)
    built, reopened = models["head"], keras.saving.load_model(path, safe_mode=True)
    for model in (built, reopened):
        probs = model.get_layer("probs")
        assert probs.kernel_regularizer.get_config() == {"l2": 1e-4}
        assert probs.bias_regularizer.get_config() == {"l1": 0.01, "l2": 0.0}   # a mapping without a type: L1L2
        assert isinstance(probs.bias_constraint, keras.constraints.NonNeg)
    assert built.get_layer("probs").kernel_constraint.get_config() == {"max_value": 3, "axis": (0,)}
    assert reopened.get_layer("probs").kernel_constraint.get_config() == {"max_value": 3, "axis": [0]}   # JSON
