"""`builder import`: a Keras model becomes a readable spec that rebuilds it exactly (builder/importing/).

The keras.applications round trips import each network at a small input size with random weights (the
BatchNormalization statistics included, so that every layer counts), then check the written spec from outside:
it validates, its model (built from the file by the importer's own check) has the same parameter count and
weight shapes in the same order, and with the `.weights.h5` it wrote loaded into a zeroed copy it computes the
original's outputs within 1e-5.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from click.testing import CliRunner
from spec_helpers import SPECS

keras = pytest.importorskip("keras")

from builder.cli import main  # noqa: E402
from builder.errors import SpecError  # noqa: E402
from builder.graph import load_graph  # noqa: E402
from builder.importing import import_model  # noqa: E402


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()
    gc.collect()


def randomized(model, seed: int = 0):
    """Every weight random: kernels as initialised, BatchNormalization's scale, offset and statistics drawn."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if w.name in ("moving_variance", "variance", "gamma"):
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        elif w.name in ("moving_mean", "mean", "beta"):
            w.assign(rng.normal(0.0, 0.1, w.shape).astype("float32"))
    return model


def inputs_for(model, seed: int = 1):
    rng = np.random.default_rng(seed)
    values = [rng.uniform(0, 1, (2, *(d or 5 for d in t.shape[1:]))).astype("float32") for t in model.inputs]
    return values if len(values) > 1 else values[0]


def assert_rebuilds(imported, original, pixels: float = 1.0):
    """The spec validates; its model matches the original's parameters, weight shapes and order, and, with the
    weights file loaded into a zeroed copy, its outputs."""
    graph = load_graph(imported.spec)
    assert graph.node_count() > 0
    mine = imported.model
    assert mine.count_params() == original.count_params()
    assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in original.weights]
    for w in mine.weights:
        w.assign(np.zeros(w.shape, "float32"))
    mine.load_weights(imported.weights)
    x = inputs_for(original)
    x = [v * pixels for v in x] if isinstance(x, list) else x * pixels
    expected, got = original(x, training=False), mine(x, training=False)
    for a, b in zip(got if isinstance(got, list) else [got], expected if isinstance(expected, list) else [expected]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


# --- keras.applications ------------------------------------------------------------------------------

APPLICATIONS = [("VGG16", 32), ("ResNet50", 32), ("MobileNetV2", 32), ("DenseNet121", 32), ("EfficientNetB0", 32),
                ("InceptionV3", 75)]


@pytest.mark.parametrize("name, size", APPLICATIONS, ids=[a[0] for a in APPLICATIONS])
def test_an_application_imports_and_rebuilds_exactly(tmp_path, name, size):
    original = randomized(getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3)))
    imported = import_model(original, tmp_path / f"{name}.yaml", weights=True)
    assert_rebuilds(imported, original, pixels=255.0 if name == "EfficientNetB0" else 1.0)
    assert imported.blocks >= 1   # every one of them repeats a unit
    if name == "ResNet50":   # readable: near the hand-written spec's size, not 175 flat nodes
        text = imported.spec.read_text()
        assert text.count("\n") <= 1.5 * (SPECS / "resnet50.yaml").read_text().count("\n")
        assert imported.nodes < 40
        # a stage's identity blocks are one use with `repeat`; a bottleneck's 4x width is an expression
        assert "  - {id: conv4_block, block: residual_2, repeat: 5}\n" in text   # conv4_block2..6, default width
        assert "  - {id: conv2_block1, block: residual_1, with: {filters: 64, strides: 1}}\n" in text
        assert '"${filters * 4}"' in text


# --- a hand-written model: shared layers, a nested model, several outputs -------------------------------

def twin_model():
    """Two inputs through one Dense (shared weights) and one ReLU object (no weights), a nested model called on
    both, an LSTM's states read by index, and two outputs."""
    features = keras.Input((8,), name="features")
    tower = keras.Model(features, keras.layers.Dense(6, activation="tanh", name="embed")(features), name="tower")
    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    shared = keras.layers.Dense(8, name="shared_dense", kernel_initializer="he_normal")
    relu = keras.layers.ReLU(name="relu")
    a, b = tower(relu(shared(left))), tower(relu(shared(right)))
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(keras.layers.Subtract(name="diff")([a, b]))
    _, h, c = keras.layers.LSTM(4, return_state=True, name="lstm")(keras.layers.Reshape((6, 1), name="seq")(a))
    summary = keras.layers.Dense(3, name="summary")(keras.layers.Concatenate(name="states")([h, c]))
    return keras.Model([left, right], [score, summary], name="twin")


def test_a_functional_model_with_shared_layers_and_two_outputs_rebuilds_exactly(tmp_path):
    original = twin_model()
    original.save(tmp_path / "twin.keras")
    imported = import_model(str(tmp_path / "twin.keras"), tmp_path / "twin.yaml", weights=True)
    assert_rebuilds(imported, original)
    spec = load_graph(imported.spec)
    twin = spec.models["twin"]
    # the shared Dense: a spec model called twice (one set of weights); the ReLU: a node per call
    assert [(n.id, n.op, n.type) for n in twin.nodes.values() if n.type in ("shared_dense", "ReLU", "tower")] == [
        ("shared_dense", "model", "shared_dense"), ("relu", "layer", "ReLU"), ("tower", "model", "tower"),
        ("shared_dense_2", "model", "shared_dense"), ("relu_2", "layer", "ReLU"), ("tower_2", "model", "tower")]
    assert [str(r) for r in twin.outputs] == ["score", "summary"]
    assert [str(r) for r in twin.nodes["states"].inputs] == ["lstm[1]", "lstm[2]"]
    text = imported.spec.read_text()
    assert "# Shared: shared_dense (Dense) is called 2 times with one set of weights" in text
    assert f"#   {tmp_path / 'twin.keras'}" in text   # where it came from


def test_build_init_takes_the_weights_file_of_an_import(tmp_path):
    """`builder build SPEC --init W` (train.init's loader) puts the imported weights into the saved .keras,
    a called model's whole."""
    original = twin_model()
    imported = import_model(original, tmp_path / "twin.yaml", weights=True)
    result = CliRunner().invoke(main, ["build", str(imported.spec), "--init", str(imported.weights),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    loaded = next(line for line in result.output.splitlines() if line.startswith("init: "))
    assert sorted(loaded.rpartition(": ")[2].split(", ")) == sorted(   # each call of a model loads it whole
        ["shared_dense", "shared_dense_2", "tower", "tower_2", "lstm", "summary", "score"])
    rebuilt = keras.models.load_model(tmp_path / "out" / "twin.keras")
    x = inputs_for(original)
    for a, b in zip(rebuilt(x), original(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_a_sequential_model_imports_as_a_chain(tmp_path):
    original = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                                 keras.layers.Flatten(), keras.layers.Dense(2)], name="small")
    imported = import_model(original, tmp_path / "small.yaml", weights=True)
    assert_rebuilds(imported, original)
    assert "  - {id: conv2d, type: Conv2D, filters: 4, kernel_size: 3, activation: relu}\n" in \
        imported.spec.read_text()   # no inputs: each node reads the one before; kernel_size [3, 3] as 3


# --- repeated structure ---------------------------------------------------------------------------------

def residual_mlp():
    """A stem and three residual units named unit1_*, unit2_*, unit3_*, the first of another hidden width."""
    x = keras.Input((16,), name="x")
    h = keras.layers.Dense(16, name="stem")(x)
    for i, hidden in enumerate((32, 64, 64), start=1):
        branch = keras.layers.Dense(hidden, activation="relu", name=f"unit{i}_expand")(h)
        branch = keras.layers.Dense(16, name=f"unit{i}_project")(branch)
        h = keras.layers.Activation("relu", name=f"unit{i}_out")(keras.layers.Add(name=f"unit{i}_add")([h, branch]))
    return keras.Model(x, keras.layers.Dense(3, name="head")(h), name="residual_mlp")


def test_repeated_units_become_one_block_used_with_repeat_and_per_repeat(tmp_path):
    imported = import_model(residual_mlp(), tmp_path / "mlp.yaml")
    text = imported.spec.read_text()
    assert "    params: {units: 64}\n" in text
    assert '      - {id: expand, type: Dense, units: "${units}", activation: relu}\n' in text
    assert "      - {id: add, type: Add, inputs: [$in, project]}\n" in text
    assert "  - {id: unit, block: residual, repeat: 3, per_repeat: [{units: 32}]}\n" in text
    assert "  - {id: head, type: Dense, units: 3}\n" in text
    assert (imported.nodes, imported.blocks) == (6, 1)   # stem, head and the 4 layers of the block


def test_flat_writes_one_node_per_layer_named_as_in_keras(tmp_path):
    original = residual_mlp()
    imported = import_model(original, tmp_path / "mlp.yaml", flat=True)
    graph = load_graph(imported.spec)
    assert imported.blocks == 0 and "blocks:" not in imported.spec.read_text()
    assert list(graph.models[graph.main].nodes) == [layer.name for layer in original.layers]


# --- what cannot be imported ------------------------------------------------------------------------------

def test_a_lambda_layer_is_named_and_nothing_of_it_runs(tmp_path):
    x = keras.Input((4,), name="x")
    keras.Model(x, keras.layers.Lambda(lambda t: t * 2, name="double")(x)).save(tmp_path / "lambda.keras")
    with pytest.raises(SpecError) as error:
        import_model(str(tmp_path / "lambda.keras"), tmp_path / "out.yaml")
    problem = error.value.problems[0]
    assert problem.location.file == str(tmp_path / "lambda.keras")
    assert problem.message.startswith("layer 'double' is a Lambda, which a spec cannot name: it runs arbitrary "
                                      "Python code")
    assert "catalogue layers" in problem.hint
    assert not (tmp_path / "out.yaml").exists()


def test_a_custom_layer_class_is_named_with_what_to_do(tmp_path):
    @keras.saving.register_keras_serializable(package="mine")
    class Triple(keras.layers.Layer):
        def call(self, x):
            return x * 3

    x = keras.Input((4,), name="x")
    keras.Model(x, Triple(name="triple")(x)).save(tmp_path / "custom.keras")
    result = CliRunner().invoke(main, ["import", str(tmp_path / "custom.keras"), "-o", str(tmp_path / "out.yaml")])
    assert result.exit_code == 1
    assert f"{tmp_path / 'custom.keras'}: error: layer 'triple' is a Triple (registered as 'mine>Triple'), a class " \
           "outside builder's layer catalogue" in result.output
    assert "builder/model/layers/" in result.output and "Traceback" not in result.output


def test_an_unknown_application_and_another_file_kind_are_errors():
    runner = CliRunner()
    result = runner.invoke(main, ["import", "keras.applications.ResNet05", "-o", "x.yaml"])
    assert result.exit_code == 1 and "no network 'ResNet05'" in result.output and "ResNet50" in result.output
    result = runner.invoke(main, ["import", "model.h5", "-o", "x.yaml"])
    assert result.exit_code == 1 and "expected a .keras file or keras.applications.NAME" in result.output


# --- the command line, and the other direction -----------------------------------------------------------

def test_the_command_imports_an_application_with_its_weights(tmp_path):
    spec = tmp_path / "vgg16.yaml"
    result = CliRunner().invoke(main, ["import", "keras.applications.VGG16", "--input-shape", "32,32,3",
                                       "-o", str(spec), "--weights"])
    assert result.exit_code == 0, result.output
    assert f"wrote {spec}: " in result.output and f"wrote {tmp_path / 'vgg16.weights.h5'}" in result.output
    assert "checked: it builds the same 37,694,248 parameters in 32 weight tensors" in result.output
    assert spec.read_text().startswith("# Imported by `builder import`")
    assert "#   keras.applications.VGG16(weights=None, input_shape=(32, 32, 3))\n" in spec.read_text()


def test_a_spec_built_to_keras_imports_back_to_the_same_nodes(tmp_path):
    """spec -> `builder build` -> .keras -> `builder import` -> the same nodes, with the arguments that differ
    from Keras' defaults (LeNet writes some defaults, such as pool_size: 2, which the import leaves out)."""
    result = CliRunner().invoke(main, ["build", str(SPECS / "lenet.yaml"), "-o", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    imported = import_model(str(tmp_path / "lenet.keras"), tmp_path / "lenet.yaml")
    before, after = load_graph(SPECS / "lenet.yaml"), load_graph(imported.spec)
    old, new = before.models[before.main].nodes, after.models[after.main].nodes
    assert [(n.id, n.type) for n in new.values()] == [(n.id, n.type) for n in old.values()]
    for node_id, node in new.items():
        assert all(old[node_id].args.get(k) == v for k, v in node.args.items()), node_id
