"""The spec library's reference CNNs (specs/*.yaml).

Seven specs mirror `keras.applications` exactly: at 224x224x3 with 1000 classes their models have
Keras' total parameter count and number of weight tensors, of the same shapes in the same order,
and with Keras' weights copied in they compute the same function (ConvNeXt-Tiny, and Inception-v3
from the inception spec by --set, are compared at a small input size). ResNet-101/152 come from
the ResNet-50 spec by its depth parameters.
EfficientNet-B0 and MobileNetV2 also start from Keras' initialisers (EfficientNet's fan-out ones).
The other specs build at a small size and run a forward pass.

The reference tests build two full-size models each (a few seconds apiece on CPU);
`-k "not reference"` skips them.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spec_helpers import SPECS

from builder.graph import load_graph  # noqa: E402
from builder.model.compile import compile_graph  # noqa: E402

# spec, overrides, keras.applications function, total parameters, weight tensors (keras 3.15)
REFERENCES = [
    ("resnet50", {}, "ResNet50", 25_636_712, 320),
    ("vgg16", {}, "VGG16", 138_357_544, 32),
    ("mobilenetv2", {}, "MobileNetV2", 3_538_984, 262),
    ("densenet121", {}, "DenseNet121", 8_062_504, 606),
    ("efficientnetb0", {}, "EfficientNetB0", 5_330_571, 314),
]
RESNET_DEPTHS = [
    ({"depth4": 23}, "ResNet101", 44_707_176, 626),
    ({"depth3": 8, "depth4": 36}, "ResNet152", 60_419_944, 932),
]

# every spec of the library at a small size: overrides, and the expected output shape
SMALL = {
    "alexnet": {"size": 64, "classes": 10},          # AlexNet needs at least 63x63
    "squeezenet": {"size": 32, "classes": 10},
    "inception": {"size": 32, "classes": 10},
    "convnext_tiny": {"size": 32, "classes": 10},
    "resnet50": {"size": 32, "classes": 10},
    "vgg16": {"size": 32, "classes": 10},
    "mobilenetv2": {"size": 32, "classes": 10},
    "densenet121": {"size": 32, "classes": 10},
    "efficientnetb0": {"size": 32, "classes": 10},
}


def graph_of(name: str, overrides: dict | None = None):
    return load_graph(SPECS / f"{name}.yaml", overrides)


def build(name: str, overrides: dict | None = None) -> keras.Model:
    graph = graph_of(name, overrides)
    return compile_graph(graph)[graph.main]


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()
    gc.collect()


def same_function(spec_model: keras.Model, keras_model: keras.Model, pixels: float = 1.0) -> None:
    """Copy Keras' weights (with random BatchNorm statistics) into the spec's model; outputs must agree."""
    rng = np.random.default_rng(0)
    for mine, theirs in zip(spec_model.weights, keras_model.weights, strict=True):
        value = theirs.numpy()
        if theirs.name in ("moving_variance", "variance"):
            value = rng.uniform(0.5, 1.5, value.shape).astype(value.dtype)
        elif theirs.name in ("moving_mean", "mean"):
            value = rng.normal(0.0, 0.1, value.shape).astype(value.dtype)
        theirs.assign(value)
        mine.assign(value)
    x = rng.uniform(0.0, pixels, (1, *keras_model.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(spec_model(x, training=False), keras_model(x, training=False), rtol=1e-5, atol=1e-7)


# --- the library ------------------------------------------------------------------------------

def test_every_spec_validates():
    files = sorted(SPECS.glob("*.yaml"))
    assert {f.stem for f in files} >= set(SMALL)
    for path in files:
        graph = load_graph(path)
        assert graph.node_count() > 0, path.name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_spec_builds_small_and_runs(name):
    overrides = SMALL[name]
    model = build(name, overrides)
    size = overrides["size"]
    x = np.random.default_rng(0).uniform(0, 1, (2, size, size, 3)).astype("float32")
    y = np.asarray(model(x, training=False))
    assert y.shape == (2, overrides["classes"])
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # every spec ends in a softmax


# --- the references: exact parameter and weight counts, and the same function --------------------

@pytest.mark.parametrize("name, overrides, application, params, weights", REFERENCES,
                         ids=[r[0] for r in REFERENCES])
def test_reference_matches_keras_applications(name, overrides, application, params, weights):
    mine = build(name, overrides)
    theirs = getattr(keras.applications, application)(weights=None)
    assert (mine.count_params(), len(mine.weights)) == (theirs.count_params(), len(theirs.weights))
    assert (mine.count_params(), len(mine.weights)) == (params, weights)
    assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in theirs.weights]
    same_function(mine, theirs, pixels=255.0 if name == "efficientnetb0" else 1.0)


def initializers(model: keras.Model) -> list[tuple[str, str, dict]]:
    """Each weighted layer's kernel, depthwise and bias initialiser, in the model's order."""
    found = []
    for layer in model.layers:
        for attribute in ("kernel_initializer", "depthwise_initializer", "bias_initializer"):
            if layer.weights and (init := getattr(layer, attribute, None)) is not None:
                found.append((attribute, type(init).__name__, init.get_config()))
    return found


@pytest.mark.parametrize("name, application", [("efficientnetb0", "EfficientNetB0"), ("mobilenetv2", "MobileNetV2")])
def test_reference_starts_from_keras_initializers(name, application):
    """EfficientNet's fan-out VarianceScaling (CONV_ and DENSE_KERNEL_INITIALIZER), MobileNetV2's defaults."""
    mine = build(name, {"size": 32})
    theirs = getattr(keras.applications, application)(weights=None, input_shape=(32, 32, 3))
    assert initializers(mine) == initializers(theirs)
    if name == "efficientnetb0":
        from keras.src.applications import efficientnet

        conv, dense = (keras.initializers.get(c).get_config() for c in
                       (efficientnet.CONV_KERNEL_INITIALIZER, efficientnet.DENSE_KERNEL_INITIALIZER))
        kernels = [config for attribute, _, config in initializers(mine) if attribute != "bias_initializer"]
        assert kernels == [conv] * (len(kernels) - 1) + [dense]   # every convolution, then the classifier


@pytest.mark.parametrize("overrides, application, params, weights", RESNET_DEPTHS,
                         ids=[r[1] for r in RESNET_DEPTHS])
def test_reference_resnet_depths(overrides, application, params, weights):
    mine = build("resnet50", overrides)
    theirs = getattr(keras.applications, application)(weights=None)
    assert (mine.count_params(), len(mine.weights)) == (theirs.count_params(), len(theirs.weights))
    assert (mine.count_params(), len(mine.weights)) == (params, weights)


# Counts do not depend on the input size, so these compare at the smallest size Keras allows.
# spec, overrides, keras.applications function, input size, total parameters, weight tensors
SMALL_REFERENCES = [
    ("convnext_tiny", {"size": 32}, "ConvNeXtTiny", 32, 28_589_128, 182),
    ("inception", {"size": 75, "blocks_a": 3, "blocks_b": 4, "blocks_c": 2, "padding": "valid"},
     "InceptionV3", 75, 23_851_784, 378),
]


@pytest.mark.parametrize("name, overrides, application, size, params, weights", SMALL_REFERENCES,
                         ids=[r[2] for r in SMALL_REFERENCES])
def test_reference_matches_keras_applications_shape_for_shape(name, overrides, application, size, params,
                                                              weights):
    mine = build(name, overrides)
    theirs = getattr(keras.applications, application)(weights=None, input_shape=(size, size, 3))
    assert (mine.count_params(), len(mine.weights)) == (theirs.count_params(), len(theirs.weights))
    assert (mine.count_params(), len(mine.weights)) == (params, weights)
    assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in theirs.weights]
    # ConvNeXt's layer scales start at 1e-6, which would hide the residual branches: make them count
    rng = np.random.default_rng(1)
    for w in theirs.weights:
        if "layer_scale" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    same_function(mine, theirs, pixels=255.0 if name == "convnext_tiny" else 1.0)
