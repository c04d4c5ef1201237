"""The spec library in specs/: every spec validates, and each of the library's non-CNN specs
builds at a small size (through `--set` style overrides) into models whose forward pass on
random inputs gives the expected shapes. (The CNN reference specs have their own tests.)"""

from __future__ import annotations

import re

import numpy as np
import pytest
from spec_helpers import SPECS

from builder.errors import SpecError
from builder.graph import load_graph

ALL = sorted(p.stem for p in SPECS.glob("*.yaml"))

L = 5  # the length given to variable-length (null) input axes

# spec -> (small overrides, {model: expected output shape(s) without the batch axis})
SMALL: dict[str, tuple[dict, dict]] = {
    "mlp": ({"units": 8}, {"mlp": (10,)}),
    "lenet": ({"c1": 2, "c3": 4, "c5": 8, "f6": 8}, {"lenet": (10,)}),
    "lenet_search": ({"c1": 2, "c3": 4, "c5": 8, "f6": 8}, {"lenet_search": (10,)}),
    "simple_rnn": ({"units": 8}, {"simple_rnn": (10,)}),
    "lstm": ({"units": 8}, {"lstm": (10,)}),
    "gru": ({"units": 8}, {"gru": (10,)}),
    "bilstm": ({"vocab": 100, "embed_dim": 8, "units": 8}, {"bilstm": (2,)}),
    "seq2seq_attention": ({"source_vocab": 50, "target_vocab": 40, "embed_dim": 8, "units": 8},
                          {"seq2seq_attention": (L, 40)}),
    "bert_classifier": ({"vocab": 100, "seq_len": 16, "embed_dim": 16, "heads": 2, "ff_dim": 32, "layers": 2},
                        {"bert_classifier": (2,)}),
    "gpt": ({"vocab": 100, "context": 16, "embed_dim": 16, "heads": 2, "ff_dim": 32, "layers": 2},
            {"gpt": (L, 100)}),
    "transformer": ({"source_vocab": 50, "target_vocab": 40, "embed_dim": 16, "heads": 2, "ff_dim": 32,
                     "encoder_layers": 1},
                    {"transformer": (L, 40)}),
    "autoencoder": ({"hidden": 16, "code": 4},
                    {"encoder": (4,), "decoder": (8, 8, 1), "autoencoder": (8, 8, 1)}),
    "denoising_autoencoder": ({"filters": 4, "code_filters": 2},
                              {"encoder": (2, 2, 2), "decoder": (8, 8, 1), "denoiser": (8, 8, 1)}),
    "vae": ({"size": 8, "hidden": 16, "latent": 2},
            {"encoder": [(2,), (2,), (2,)], "decoder": (8, 8, 1), "vae": (8, 8, 1)}),
    "dcgan": ({"size": 8, "latent": 8, "filters": 4},
              {"generator": (8, 8, 1), "discriminator": (1,), "gan": (1,)}),
    "cgan": ({"size": 8, "latent": 8, "label_dim": 4, "filters": 4},
             {"generator": (8, 8, 1), "discriminator": (1,), "cgan": (1,)}),
    "wgan_gp": ({"size": 8, "latent": 8, "filters": 4},
                {"generator": (8, 8, 1), "critic": (1,), "wgan": (1,)}),
    "unet": ({"size": 32, "filters": 4, "classes": 3}, {"unet": (32, 32, 3)}),
    "ddpm": ({"filters": 8, "time_dim": 16}, {"ddpm": (8, 8, 1)}),
    "stylegan": ({"latent": 8, "w_dim": 8, "filters": 8, "mapping_layers": 2},
                 {"mapping": (8,), "synthesis": (8, 8, 1), "generator": (8, 8, 1), "discriminator": (1,),
                  "stylegan": (1,)}),
    "pix2pix": ({"filters": 4}, {"generator": (8, 8, 3), "discriminator": (2, 2, 1), "pix2pix": (2, 2, 1)}),
    "cyclegan": ({"filters": 4}, {"generator_ab": (8, 8, 1), "generator_ba": (8, 8, 1), "discriminator_a": (2, 2, 1),
                                  "discriminator_b": (2, 2, 1),
                                  "cyclegan": [(2, 2, 1), (8, 8, 1), (2, 2, 1), (8, 8, 1)]}),
    "vit": ({"embed_dim": 16, "heads": 2, "mlp_dim": 32, "depth": 1}, {"vit": (10,)}),
    "swin": ({"dim": 8, "head_dim": 4}, {"swin": (10,)}),
    "mlp_mixer": ({"hidden": 8, "depth": 1, "tokens_mlp_dim": 8, "channels_mlp_dim": 16}, {"mlp_mixer": (10,)}),
}

# The CNN reference specs, tested with their own suite.
CNN = {"vgg16", "resnet50", "mobilenetv2", "densenet121", "efficientnetb0", "alexnet", "squeezenet", "inception",
       "convnext_tiny"}


@pytest.mark.parametrize("name", ALL)
def test_spec_validates_cleanly(name):
    try:
        graph = load_graph(str(SPECS / f"{name}.yaml"), {})
    except SpecError as error:
        pytest.fail(f"specs/{name}.yaml does not validate:\n" + "\n".join(p.format() for p in error.problems))
    assert not graph.warnings, [p.format() for p in graph.warnings]
    assert graph.name == name


def test_every_spec_is_in_the_readme_and_tested_somewhere():
    readme = (SPECS / "README.md").read_text()
    listed = set(re.findall(r"`([a-z0-9_]+)\.yaml`", readme))
    assert set(ALL) <= listed, f"specs missing from specs/README.md: {sorted(set(ALL) - listed)}"
    assert set(SMALL) <= set(ALL)
    untested = set(ALL) - set(SMALL) - CNN
    assert not untested, f"add a small build of {sorted(untested)} to SMALL in tests/test_spec_library.py"


def random_inputs(model, batch: int = 2) -> list:
    rng = np.random.default_rng(0)
    out = []
    for tensor in model.inputs:
        shape = (batch, *(L if d is None else d for d in tensor.shape[1:]))
        if "int" in str(tensor.dtype):
            out.append(rng.integers(1, 10, size=shape).astype(str(tensor.dtype)))  # 0 is padding
        else:
            out.append(rng.random(shape).astype("float32"))
    return out


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_version_builds_and_runs(name):
    keras = pytest.importorskip("keras")
    from builder.model.compile import compile_graph

    overrides, expected = SMALL[name]
    graph = load_graph(str(SPECS / f"{name}.yaml"), overrides)
    models = compile_graph(graph)
    assert list(models) == list(expected), "every model of the spec is built"
    for model_name, shapes in expected.items():
        model = models[model_name]
        inputs = random_inputs(model)
        outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
        got = [tuple(o.shape) for o in outputs] if isinstance(outputs, (list, tuple)) else tuple(outputs.shape)
        want = [(2, *s) for s in shapes] if isinstance(shapes, list) else (2, *shapes)
        assert got == want, f"{name}: model {model_name!r} gives {got}, expected {want}"
        for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(output)))
    if len(models) > 1:
        # the end-to-end model calls the others and so shares (and counts) exactly the weights of those it calls
        main = list(models)[-1]
        called = {node.type for node in graph.models[main].nodes.values() if node.op == "model"}   # each once
        assert called and models[main].count_params() == sum(models[name].count_params() for name in called)


def test_the_small_vit_learns_digits_in_a_few_epochs(tmp_path):
    """specs/vit.yaml (two blocks instead of four) far above chance (10%) after 4 epochs on digits, on a CPU."""
    pytest.importorskip("keras")
    import json

    from builder.training.run import TrainOptions, train

    graph = load_graph(str(SPECS / "vit.yaml"), {"depth": 2})
    run = train(graph, SPECS / "vit.yaml", TrainOptions(out=tmp_path / "run", epochs=4, verbose=0, diagram=False))
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 4
    assert summary["final"]["val_accuracy"] > 0.75, summary["final"]
