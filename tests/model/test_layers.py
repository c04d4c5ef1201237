"""The contract every builder layer keeps, in the spirit of Keras' `run_layer_test`.

Parametrised over `builder.model.layers.__all__`, so a new layer is covered the
moment it is exported, and fails here until it has an entry in `EXAMPLES`.
For each example: the layer builds and runs on random input (eagerly and
symbolically), its output shape is what `compute_output_shape` says, a train
step runs, `get_config` -> `from_config` gives the same config, and a tiny
model holding the layer, saved to `.keras`, reloads in a fresh Python that
does only `import builder, keras; keras.models.load_model(path)` and computes
the same outputs. A few behaviour tests follow (masks, causality).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import builder.model.layers  # noqa: E402
from builder.language.catalogue import catalogue  # noqa: E402
from builder.training.backends import adapter  # noqa: E402


@dataclass(frozen=True)
class In:
    """One random input: shape without the batch axis, dtype, and for ints the range [1, high)."""

    shape: tuple
    dtype: str = "float32"
    high: int = 0


@dataclass(frozen=True)
class Example:
    """Constructor arguments, and call inputs by call-argument name (the first is the main input;
    a list there is a list input). `bad` maps an argument to a value the constructor must refuse
    with a message quoting it."""

    args: dict
    inputs: dict
    bad: dict = field(default_factory=dict)


EXAMPLES: dict[str, list[Example]] = {
    "Application": [Example({"architecture": "MobileNetV3Small", "pooling": "avg"}, {"inputs": In((32, 32, 3))},
                            bad={"architecture": "MobileNetV9"})],
    "ClassToken": [Example({}, {"inputs": In((5, 8))}, bad={"initializer": "no_such_initializer"})],
    "LayerScale": [
        Example({"init_values": 0.5, "projection_dim": 6}, {"inputs": In((4, 4, 6))},
                bad={"init_values": "small", "projection_dim": 0}),
        Example({}, {"inputs": In((5, 3))}),
    ],
    "LearnedConstant": [
        Example({"channels": 6}, {"inputs": In((3, 5))}, bad={"channels": 0, "size": [4]}),
        Example({"channels": 2, "size": [2, 3], "initializer": "ones"}, {"inputs": In((7,))},
                bad={"initializer": "no_such_initializer"}),
    ],
    "ModulatedConv2D": [
        Example({"filters": 5, "style_index": 1}, {"inputs": In((6, 6, 3)), "style": In((3, 8))},
                bad={"filters": 0, "kernel_size": 0, "style_index": -1, "demodulate": "yes", "epsilon": 0}),
        Example({"filters": 1, "kernel_size": 1, "demodulate": False, "use_bias": False},
                {"inputs": In((4, 4, 2)), "style": In((6,))}),
    ],
    "NoiseInjection": [Example({"seed": 3}, {"inputs": In((4, 4, 3))}, bad={"seed": -1})],
    "PatchEmbedding": [
        Example({"patch_size": 4, "embed_dim": 6}, {"inputs": In((8, 12, 3))},
                bad={"patch_size": 0, "embed_dim": -1}),
        Example({"patch_size": [3, 2], "embed_dim": 4}, {"inputs": In((7, 5, 1))}),
    ],
    "PatchMerging": [
        Example({}, {"inputs": In((4, 6, 3))}, bad={"units": 0, "epsilon": 0}),
        Example({"units": 5}, {"inputs": In((2, 2, 4))}),
    ],
    "PositionEmbedding": [Example({"sequence_length": 10}, {"inputs": In((7, 6))}, bad={"sequence_length": 0})],
    "SinusoidalPositionEncoding": [Example({}, {"inputs": In((7, 6))}, bad={"max_wavelength": 0})],
    "TimestepEmbedding": [
        Example({"dim": 8}, {"inputs": In((1,), "int32", high=200)}, bad={"dim": 7, "max_period": 0}),
        Example({"dim": 6, "max_period": 100.0}, {"inputs": In(())}),
    ],
    "TokenAndPositionEmbedding": [
        Example({"vocabulary_size": 20, "sequence_length": 10, "embed_dim": 8, "mask_zero": True},
                {"inputs": In((7,), "int32", high=20)},
                bad={"vocabulary_size": 0, "embed_dim": 2.5, "mask_zero": "yes"}),
    ],
    "TransformerDecoderBlock": [
        Example({"num_heads": 2, "intermediate_dim": 16},
                {"inputs": In((6, 8)), "context": In((5, 12))},
                bad={"num_heads": 0, "dropout": 1.5, "key_dim": 0}),
        Example({"num_heads": 2, "intermediate_dim": 16, "norm_first": True, "dropout": 0.1, "key_dim": 3},
                {"inputs": In((6, 8))}),
    ],
    "TransformerEncoderBlock": [
        Example({"num_heads": 2, "intermediate_dim": 16, "activation": "gelu"}, {"inputs": In((6, 8))},
                bad={"intermediate_dim": 0, "activation": "no_such_activation", "norm_first": "yes",
                     "epsilon": 0}),
        Example({"num_heads": 3, "intermediate_dim": 16, "key_dim": 4, "norm_first": True, "dropout": 0.1},
                {"inputs": In((6, 8))}),
    ],
    "VAESampling": [Example({"kl_weight": 0.5, "seed": 3}, {"inputs": [In((4,)), In((4,))]},
                            bad={"kl_weight": -1})],
    "WindowAttention": [
        Example({"num_heads": 2, "window_size": 2, "shift_size": 1}, {"inputs": In((4, 6, 8))},
                bad={"num_heads": 0, "window_size": 0, "shift_size": 2, "dropout": 1.0, "use_bias": "yes"}),
        Example({"num_heads": 1, "window_size": 2, "dropout": 0.1, "use_bias": False}, {"inputs": In((4, 4, 3))}),
        Example({"num_heads": 2, "window_size": 7, "shift_size": 3}, {"inputs": In((3, 3, 4))}),  # one window
    ],
}

NAMES = list(builder.model.layers.__all__)


def examples_of(name: str) -> list[Example]:
    if name not in EXAMPLES:
        pytest.fail(f"builder layer {name} has no example: add one to EXAMPLES in tests/test_layers.py "
                    "(constructor arguments and input shapes)")
    return EXAMPLES[name]


def cases():
    """(name, index) of every example, plus a bare name for a layer without one (it then fails)."""
    out = []
    for name in NAMES:
        count = len(EXAMPLES.get(name, [None]))
        out += [pytest.param(name, i, id=f"{name}-{i}" if count > 1 else name) for i in range(count)]
    return out


def random_value(spec: In, batch: int, rng) -> np.ndarray:
    shape = (batch, *spec.shape)
    if spec.dtype.startswith("int"):
        return rng.integers(1, spec.high, size=shape).astype(spec.dtype)
    return rng.normal(size=shape).astype(spec.dtype)


def values(example: Example, batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {k: [random_value(s, batch, rng) for s in v] if isinstance(v, list) else random_value(v, batch, rng)
            for k, v in example.inputs.items()}


def symbols(example: Example) -> dict:
    def one(spec, name):
        return keras.Input(spec.shape, dtype=spec.dtype, name=name)
    return {k: [one(s, f"{k}_{i}") for i, s in enumerate(v)] if isinstance(v, list) else one(v, k)
            for k, v in example.inputs.items()}


def call(layer, inputs: dict, **flags):
    main, *rest = inputs
    return layer(inputs[main], **{k: inputs[k] for k in rest}, **flags)


def shape_of(value):
    return [tuple(v.shape) for v in value] if isinstance(value, list) else tuple(value.shape)


def expected_shape(layer, shapes: dict):
    """What `compute_output_shape` says, called as Keras calls it (one argument, or `name_shape=`)."""
    if len(shapes) == 1:
        return tuple(layer.compute_output_shape(next(iter(shapes.values()))))
    return tuple(layer.compute_output_shape(**{f"{k}_shape": v for k, v in shapes.items()}))


def make(name: str, example: Example):
    return getattr(builder.model.layers, name)(**example.args)


def flat(structure: dict) -> list:
    return [t for v in structure.values() for t in (v if isinstance(v, list) else [v])]


def tiny_model(name: str, example: Example) -> keras.Model:
    inputs = symbols(example)
    return keras.Model(flat(inputs), call(make(name, example), inputs))


# --- the contract -----------------------------------------------------------------------------------

def test_every_example_names_an_exported_layer():
    stale = sorted(set(EXAMPLES) - set(NAMES))
    assert not stale, f"EXAMPLES lists layers not in builder.model.layers.__all__: {stale}"


@pytest.mark.parametrize("name", NAMES)
def test_registered_documented_and_catalogued(name):
    cls = getattr(builder.model.layers, name)
    examples_of(name)
    assert keras.saving.get_registered_name(cls) == f"builder>{name}"
    assert keras.saving.get_registered_object(f"builder>{name}") is cls
    doc = cls.__doc__ or ""
    for section in ("Args:", "Input shape:", "Output shape:", "```yaml"):
        assert section in doc, f"{name}'s docstring lacks {section!r} (Keras style: Args, Input shape, " \
                               "Output shape, and a YAML example)"
    info = catalogue().layer(name)
    assert info is not None and info.family == "builder", f"{name} is not in the catalogue: run `builder catalogue`"
    assert info.many_inputs == bool(getattr(cls, "builder_many_inputs", False))


@pytest.mark.parametrize("name, index", cases())
def test_builds_calls_and_output_shape_matches(name, index):
    example = examples_of(name)[index]
    # eagerly, on concrete values
    layer = make(name, example)
    data = values(example, batch=3)
    out = call(layer, data)
    assert layer.built
    shapes = {k: shape_of(v) for k, v in data.items()}
    assert shape_of(out) == expected_shape(layer, shapes)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
    # symbolically, as compile builds a functional model (batch axis unknown)
    layer = make(name, example)
    inputs = symbols(example)
    out = call(layer, inputs)
    shapes = {k: shape_of(v) for k, v in inputs.items()}
    assert shape_of(out) == expected_shape(layer, shapes)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
@pytest.mark.parametrize("name, index", cases())
def test_trains_one_step(name, index):
    example = examples_of(name)[index]
    model = tiny_model(name, example)
    model.compile(optimizer="sgd", loss="mse")
    data = values(example, batch=4)
    target = np.random.default_rng(1).normal(size=(4, *model.output.shape[1:])).astype("float32")
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(flat(data), target, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert all(b.shape == a.shape for b, a in zip(before, after))
    if before:
        assert any(not np.allclose(b, a) for b, a in zip(before, after)), f"{name}: no weight moved in a train step"


@pytest.mark.parametrize("name, index", cases())
def test_config_round_trip(name, index):
    example = examples_of(name)[index]
    layer = make(name, example)
    config = layer.get_config()
    json.dumps(config)  # plain JSON, as .keras files store it
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is type(layer) and revived.get_config() == config


@pytest.mark.parametrize("name, index", cases())
def test_bad_arguments_are_refused_quoting_the_value(name, index):
    example = examples_of(name)[index]
    for arg, value in example.bad.items():
        with pytest.raises(ValueError, match=re.escape(f"Received: {arg}={value!r}")):
            getattr(builder.model.layers, name)(**{**example.args, arg: value})


# --- save here, reload in a fresh process ----------------------------------------------------------

RELOAD = textwrap.dedent("""
    import json, sys, traceback
    import numpy as np
    import builder, keras
    results = {}
    for job in json.load(open(sys.argv[1])):
        try:
            model = keras.models.load_model(job["model"])
            data = np.load(job["inputs"])
            inputs = [data[f"x{i}"] for i in range(len(data.files))]
            out = model.predict(inputs, verbose=0)
            np.save(job["outputs"], out)
            results[job["key"]] = "ok"
        except Exception:
            results[job["key"]] = traceback.format_exc()[-2000:]
    json.dump(results, open(sys.argv[2], "w"))
""")


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    """Save a tiny model per example, reload all of them in one fresh process; key -> (ours, theirs | error)."""
    folder = tmp_path_factory.mktemp("saved_layers")
    jobs, ours, errors = [], {}, {}
    for name in NAMES:
        for index, example in enumerate(EXAMPLES.get(name, [])):
            key = f"{name}-{index}"
            try:
                model = tiny_model(name, example)
                data = flat(values(example, batch=3, seed=1))
                path = folder / f"{key}.keras"
                model.save(path)
                # after saving: a layer drawing random numbers then starts from the saved generator state
                ours[key] = np.asarray(model.predict(data, verbose=0))
            except Exception as exc:  # reported by the test of this layer
                errors[key] = f"{type(exc).__name__}: {exc}"
                continue
            np.savez(folder / f"{key}.npz", **{f"x{i}": x for i, x in enumerate(data)})
            jobs.append({"key": key, "model": str(path), "inputs": str(folder / f"{key}.npz"),
                         "outputs": str(folder / f"{key}.out.npy")})
    (folder / "jobs.json").write_text(json.dumps(jobs))
    (folder / "reload.py").write_text(RELOAD)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(folder / "reload.py"), str(folder / "jobs.json"),
                           str(folder / "results.json")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((folder / "results.json").read_text())
    out = {}
    for job in jobs:
        key = job["key"]
        out[key] = (ours[key], np.load(job["outputs"]) if results[key] == "ok" else results[key])
    return out, errors


@pytest.mark.parametrize("name, index", cases())
def test_saved_model_reloads_in_a_fresh_process(name, index, reloaded):
    examples_of(name)
    results, errors = reloaded
    key = f"{name}-{index}"
    assert key not in errors, f"saving a model with {name} failed: {errors.get(key)}"
    ours, theirs = results[key]
    assert not isinstance(theirs, str), f"reloading a model with {name} failed in a fresh process:\n{theirs}"
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5)


# --- behaviour ------------------------------------------------------------------------------------------

def outputs(model, inputs) -> np.ndarray:
    """A model's outputs as NumPy, on every backend (a torch tensor that needs grad refuses np.asarray)."""
    return keras.ops.convert_to_numpy(model(inputs))


# Float32 matrix products on a GPU run in TF32 by default (JAX, PyTorch): padded and unpadded
# sequences round differently, by up to ~1e-3 (7e-4 seen on an H100); on a CPU they agree to 1e-5.
PADDING_ATOL = 1e-5 if adapter().device() == "cpu" else 2e-3


def _text_model(block, **block_args):
    tokens = keras.Input((None,), dtype="int32")
    x = builder.model.layers.TokenAndPositionEmbedding(30, 6, 8, mask_zero=True)(tokens)
    x = block(num_heads=2, intermediate_dim=16, **block_args)(x)
    return keras.Model(tokens, x)


@pytest.mark.parametrize("block", [builder.model.layers.TransformerEncoderBlock, builder.model.layers.TransformerDecoderBlock])
def test_padding_is_not_attended_to(block):
    model = _text_model(block)
    padded = outputs(model, np.array([[5, 7, 9, 2, 0, 0]], "int32"))
    short = outputs(model, np.array([[5, 7, 9, 2]], "int32"))
    np.testing.assert_allclose(padded[0, :4], short[0], atol=PADDING_ATOL)


def test_cross_attention_ignores_padded_context():
    source, target = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    context = builder.model.layers.TokenAndPositionEmbedding(30, 8, 8, mask_zero=True)(source)
    x = builder.model.layers.TokenAndPositionEmbedding(30, 8, 8, mask_zero=True)(target)
    y = builder.model.layers.TransformerDecoderBlock(num_heads=2, intermediate_dim=16)(x, context=context)
    model = keras.Model([source, target], y)
    words = np.array([[3, 4, 5]], "int32")
    padded = outputs(model, [np.array([[5, 7, 9, 0, 0]], "int32"), words])
    short = outputs(model, [np.array([[5, 7, 9]], "int32"), words])
    np.testing.assert_allclose(padded, short, atol=PADDING_ATOL)


def test_encoder_ignores_what_lies_under_padding():
    tokens = keras.Input((6,), dtype="int32")
    pad = keras.Input((6,), dtype="bool")
    x = builder.model.layers.TokenAndPositionEmbedding(30, 6, 8)(tokens)
    x = builder.model.layers.TransformerEncoderBlock(num_heads=2, intermediate_dim=16)(x, mask=pad)
    model = keras.Model([tokens, pad], x)
    mask = np.array([[1, 1, 1, 1, 0, 0]], bool)
    a = outputs(model, [np.array([[5, 7, 9, 2, 11, 12]], "int32"), mask])
    b = outputs(model, [np.array([[5, 7, 9, 2, 3, 4]], "int32"), mask])
    np.testing.assert_allclose(a[0, :4], b[0, :4], atol=1e-5)


def test_decoder_is_causal():
    x = keras.Input((6, 8))
    context = keras.Input((4, 8))
    y = builder.model.layers.TransformerDecoderBlock(num_heads=2, intermediate_dim=16)(x, context=context)
    model = keras.Model([x, context], y)
    rng = np.random.default_rng(0)
    seq, ctx = rng.normal(size=(1, 6, 8)).astype("float32"), rng.normal(size=(1, 4, 8)).astype("float32")
    later = seq.copy()
    later[0, 3:] += 1.0
    a, b = outputs(model, [seq, ctx]), outputs(model, [later, ctx])
    np.testing.assert_allclose(a[0, :3], b[0, :3], atol=1e-5)   # the past does not see the future
    assert not np.allclose(a[0, 3:], b[0, 3:])
    ctx2 = ctx + 1.0
    assert not np.allclose(outputs(model, [seq, ctx2])[0, 0], a[0, 0])  # every position sees the context


def test_decoder_must_be_called_as_it_was_built():
    layer = builder.model.layers.TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    layer(np.zeros((1, 3, 4), "float32"), context=np.zeros((1, 2, 4), "float32"))
    with pytest.raises(ValueError, match="built with a context"):
        layer(np.zeros((1, 3, 4), "float32"))


def test_mask_zero_mask_reaches_the_model_output():
    model = _text_model(builder.model.layers.TransformerEncoderBlock)
    pooled = keras.layers.GlobalAveragePooling1D()(model.output)
    pooled_model = keras.Model(model.input, pooled)
    a = outputs(pooled_model, np.array([[5, 7, 0, 0, 0, 0]], "int32"))
    cut = keras.Model(model.input, model.output)(np.array([[5, 7, 0, 0, 0, 0]], "int32"))
    np.testing.assert_allclose(a[0], np.mean(keras.ops.convert_to_numpy(cut)[0, :2], axis=0), atol=1e-5)


def test_embed_dim_not_divisible_by_heads_names_both():
    layer = builder.model.layers.TransformerEncoderBlock(num_heads=3, intermediate_dim=8)
    with pytest.raises(ValueError, match=r"divisible by num_heads.*num_heads=3"):
        layer(np.zeros((1, 2, 8), "float32"))


def test_sequence_longer_than_sequence_length_is_refused():
    layer = builder.model.layers.TokenAndPositionEmbedding(10, 4, 8)
    with pytest.raises(ValueError, match="at most sequence_length=4"):
        layer(keras.Input((6,), dtype="int32"))


# --- Swin: windows, shifted windows, patch merging ----------------------------------------------------------

def _window_model(shift_size):
    x = keras.Input((4, 4, 4))
    return keras.Model(x, builder.model.layers.WindowAttention(num_heads=2, window_size=2, shift_size=shift_size)(x))


def _nudge(image, row, col):
    out = image.copy()
    out[0, row, col] += 1.0
    return out


def test_window_attention_stays_inside_its_window():
    model = _window_model(0)
    image = np.random.default_rng(0).normal(size=(1, 4, 4, 4)).astype("float32")
    changed = np.abs(outputs(model, _nudge(image, 0, 0)) - outputs(model, image)).sum(axis=-1)[0]
    assert changed[:2, :2].min() > 0            # its own 2x2 window sees the change
    changed[:2, :2] = 0
    np.testing.assert_allclose(changed, 0, atol=1e-6)   # no other window does


def test_shifted_windows_cross_borders_but_not_the_wrap_around():
    model = _window_model(1)
    image = np.random.default_rng(0).normal(size=(1, 4, 4, 4)).astype("float32")
    changed = np.abs(outputs(model, _nudge(image, 1, 1)) - outputs(model, image)).sum(axis=-1)[0]
    assert changed[2, 2] > 0                    # (1,1) and (2,2): one shifted window across the plain windows' corner
    changed = np.abs(outputs(model, _nudge(image, 0, 0)) - outputs(model, image)).sum(axis=-1)[0]
    assert changed[3, 3] < 1e-6                 # the roll puts (0,0) beside (3,3): masked, they are not neighbours
    assert changed[0, 0] > 0


def test_patch_merging_concatenates_each_2x2_group_as_swin_does():
    layer = builder.model.layers.PatchMerging(units=3)
    image = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2)
    layer(image)
    layer.norm.set_weights([np.ones(8, "float32"), np.zeros(8, "float32")])
    merged = np.concatenate([image[:, 0::2, 0::2], image[:, 1::2, 0::2], image[:, 0::2, 1::2],
                             image[:, 1::2, 1::2]], axis=-1)
    normed = (merged - merged.mean(-1, keepdims=True)) / np.sqrt(merged.var(-1, keepdims=True) + 1e-5)
    kernel = keras.ops.convert_to_numpy(layer.reduction.kernel)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(image)), normed @ kernel, rtol=1e-4, atol=1e-4)


def test_layer_scale_starts_at_init_values_and_checks_its_width():
    layer = builder.model.layers.LayerScale(init_values=1e-6, projection_dim=4)
    x = np.arange(8, dtype="float32").reshape(1, 2, 4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), x * 1e-6, rtol=1e-6)
    assert tuple(layer.gamma.shape) == (4,)   # one factor per channel, as keras.applications' ConvNeXt
    with pytest.raises(ValueError, match=r"projection_dim=3 channels.*Received: input_shape=\(1, 2, 4\)"):
        builder.model.layers.LayerScale(projection_dim=3)(x)


def test_modulated_conv_equals_a_convolution_with_each_samples_own_demodulated_kernel():
    """The activation-scaling form computes what StyleGAN2 writes as weight (de)modulation, sample by sample."""
    layer = builder.model.layers.ModulatedConv2D(4, kernel_size=3, style_index=1)
    rng = np.random.default_rng(0)
    x, styles = rng.normal(size=(2, 5, 5, 3)).astype("float32"), rng.normal(size=(2, 3, 6)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x, styles))
    kernel = keras.ops.convert_to_numpy(layer.kernel) * layer.kernel_gain
    affine = keras.ops.convert_to_numpy(layer.style_kernel) * layer.style_gain
    for b in range(2):
        s = styles[b, 1] @ affine + keras.ops.convert_to_numpy(layer.style_bias)
        modulated = kernel * s[None, None, :, None]                              # (3, 3, in, out), this sample's
        modulated = modulated / np.sqrt(np.sum(modulated ** 2, axis=(0, 1, 2)) + 1e-8)
        own = keras.ops.convert_to_numpy(keras.ops.conv(x[b:b + 1], modulated, padding="same"))
        np.testing.assert_allclose(out[b], own[0], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"style_index below the style input's 3 layers. Received: style_index=3"):
        builder.model.layers.ModulatedConv2D(4, style_index=3)(x, styles)
    with pytest.raises(ValueError, match=r"\(batch, w_dim\).*Received: style_shape=\(2, 3, 6\)"):
        builder.model.layers.ModulatedConv2D(4)(x, styles)


def test_noise_injection_starts_silent_and_adds_one_noise_map_per_sample_to_every_channel():
    layer = builder.model.layers.NoiseInjection(seed=1)
    x = np.zeros((2, 4, 4, 3), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)   # strength 0 at the start
    layer.strength.assign(np.array([1.0, 2.0, -1.0], "float32"))
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out[..., 1], 2 * out[..., 0], rtol=1e-6)       # the same map, scaled per channel
    np.testing.assert_allclose(out[..., 2], -out[..., 0], rtol=1e-6)
    assert not np.allclose(out[0, ..., 0], out[1, ..., 0])                    # each sample its own noise
    assert not np.allclose(keras.ops.convert_to_numpy(layer(x)), out)         # and fresh noise at each call


def test_learned_constant_is_one_tensor_repeated_over_any_batch():
    layer = builder.model.layers.LearnedConstant(channels=3, size=2)
    out = keras.ops.convert_to_numpy(layer(np.ones((5, 4, 7), "int32")))
    assert out.shape == (5, 2, 2, 3)
    np.testing.assert_array_equal(out, np.broadcast_to(keras.ops.convert_to_numpy(layer.constant), out.shape))
