"""A style-based generator (specs/stylegan.yaml) trained by `kind: gan`, R1 regularisation of the GAN kinds, and
style mixing when sampling: each style layer reads the w it was given, the grid crosses its sources, the
options are checked, and a spec whose mapping and synthesis networks do not fit is a located error. The
quality figures are bench/quality/stylegan.py's."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spec_helpers import SPECS, build, graph_of, write_spec

from builder.errors import SpecError
from builder.graph import load_graph
from builder.training.kinds import (
    Request,
    style,
)
from builder.training.run_folder import RunFolder, read_history

BUILDER = Path(sys.executable).parent / "builder"
SMALL = {"latent": 8, "w_dim": 8, "filters": 8, "mapping_layers": 2}


def sample(run, n: int, path: Path, **options):
    from builder.runs.generate import generate

    return generate(RunFolder(Path(run)), n, path, seed=1, options=options)


def test_stylegan_trains_with_r1_and_generates_mixed_samples_and_the_mixing_grid(tmp_path):
    from builder.training.run import TrainOptions, train

    graph = load_graph(str(SPECS / "stylegan.yaml"), SMALL)
    assert graph.spec.train.gan.r1 > 0
    run = train(graph, SPECS / "stylegan.yaml", TrainOptions(out=tmp_path / "run", epochs=1, batch_size=256,
                                                             overrides=SMALL, verbose=0, diagram=False))
    history = read_history(run.history)
    assert {"d_loss", "g_loss", "r1_penalty", "val_r1_penalty"} <= set(history[0])
    assert np.isfinite(history[0]["r1_penalty"]) and history[0]["r1_penalty"] > 0
    assert sorted(p.stem for p in run.models.glob("*.keras")) == ["discriminator", "generator", "mapping",
                                                                  "stylegan", "synthesis"]
    mixed = np.load(sample(run.path, 6, tmp_path / "mixed.npy", mix=0.5))
    assert mixed.shape == (6, 8, 8, 1) and 0 <= mixed.min() and mixed.max() <= 1
    png = sample(run.path, 9, tmp_path / "grid.png", grid="mixing", truncation=0.7)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.load(sample(run.path, 9, tmp_path / "grid.npy", grid="mixing")).shape == (3, 3, 8, 8, 1)
    for options, message in [({"mix": 1.5}, "option mix: expected a probability from 0 to 1. Received: 1.5"),
                             ({"crossover": 4}, "option crossover: expected a style layer from 1 to 3. Received: 4"),
                             ({"grid": "rows"}, "option grid: expected mixing. Received: 'rows'"),
                             ({"grid": "mixing", "mix": 0.5}, "--option mix and --option grid=mixing draw")]:
        with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
            sample(run.path, 4, tmp_path / "x.png", **options)


def _silent(models) -> None:
    """No noise: the samples are then a function of the styles alone."""
    for layer in models["synthesis"].layers:
        if type(layer).__name__ == "NoiseInjection":
            layer.strength.assign(np.ones(layer.strength.shape, "float32") * 0.0)


def _request(tmp_path, graph, models, n, **options):
    return Request(RunFolder(tmp_path), graph, dict(models), n, None, 5, options)


def test_each_style_layer_reads_the_w_the_sampler_gave_it(tmp_path):
    from builder.model.compile import compile_graph

    graph = load_graph(str(SPECS / "stylegan.yaml"), SMALL)
    models = compile_graph(graph)
    _silent(models)
    nets = style.networks(graph, models, "gan")
    assert (nets.latent, nets.layers, nets.w_dim) == (8, 4, 8)

    def synthesise(first, second, cut):   # the first w for style rows before `cut`, the second from it on
        rows = np.stack([first if layer < cut else second for layer in range(4)], axis=1).astype("float32")
        return keras.ops.convert_to_numpy(models["synthesis"](rows))

    def ws(rng, n):
        return keras.ops.convert_to_numpy(models["mapping"](rng.standard_normal((n, 8)).astype("float32")))

    # the grid: 2 x 2 cells (n=4), A's coarse styles (rows 0, 1) and B's fine ones (2, 3); seed 5 draws A, then B
    grid = style.sample(_request(tmp_path, graph, models, 4, grid="mixing"), nets)
    rng = np.random.default_rng(5)
    a, b = ws(rng, 2), ws(rng, 2)
    cells = grid.array
    assert cells.shape == (2, 2, 8, 8, 1) and grid.columns == 3
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(cells[i, j], synthesise(a[i:i + 1], b[j:j + 1], 2)[0], atol=1e-5)
    np.testing.assert_allclose(grid.images[1], synthesise(b[:1], b[:1], 0)[0], atol=1e-5)   # B1 heads column 1
    np.testing.assert_allclose(grid.images[3], synthesise(a[:1], a[:1], 0)[0], atol=1e-5)   # A1 heads row 1
    assert grid.titles[:4] == ["A 0-1, B 2-3", "B1", "B2", "A1"]
    assert not np.allclose(cells[0, 0], cells[0, 1]) and not np.allclose(cells[0, 0], cells[1, 0])

    # mix=1 with a fixed crossover: every sample switches from its w1 to its w2 at style row 3
    mixed = style.sample(_request(tmp_path, graph, models, 3, mix=1.0, crossover=3), nets).images
    rng = np.random.default_rng(5)
    w1, w2 = ws(rng, 3), ws(rng, 3)
    np.testing.assert_allclose(mixed, synthesise(w1, w2, 3), atol=1e-5)
    plain = style.sample(_request(tmp_path, graph, models, 3), nets).images   # mix 0: w1 everywhere
    np.testing.assert_allclose(plain, synthesise(w1, w1, 0), atol=1e-5)


LINEAR_GAN = """
name: linear_gan
models:
  g:
    inputs: {z: {shape: [4]}}
    layers:
      - {type: Dense, units: 64, activation: sigmoid}
      - {id: image, type: Reshape, target_shape: [8, 8, 1]}
  d:
    inputs: {image: {shape: [8, 8, 1]}}
    layers:
      - {type: Flatten}
      - {id: real, type: Dense, units: 1}
train:
  kind: gan
  roles: {generator: g, discriminator: d}
  gan: {r1: 2.0}
  data: {source: builtin, name: digits, image: true}
  epochs: 1
  batch_size: 256
  seed: 0
"""


def _weights_norm(run: Path) -> float:
    d = keras.models.load_model(run / "models" / "d.keras")
    kernel = keras.ops.convert_to_numpy(d.get_layer("real").kernel)
    return float(np.sum(kernel ** 2))


@pytest.mark.parametrize("head", ["{id: real, type: Dense, units: 1}",
                                  "{id: real, type: Dense, units: 1, activation: sigmoid}"])
def test_r1_penalty_is_the_squared_gradient_of_the_discriminators_logit_at_real_samples(tmp_path, head):
    """A linear discriminator's logit has the gradient `kernel` at every image: R1 is its squared norm, with
    logits or with a sigmoid (R1 differentiates the logit either way)."""
    from builder.training.run import TrainOptions, train

    graph = graph_of(tmp_path, LINEAR_GAN.replace("{id: real, type: Dense, units: 1}", head))
    run = train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0, diagram=False))
    [row] = read_history(run.history)
    assert row["val_r1_penalty"] == pytest.approx(_weights_norm(run.path), rel=1e-4)
    with pytest.raises(SpecError, match="--option mix: this run's generator is not style-based"):
        sample(run.path, 4, tmp_path / "x.png", mix=0.5)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_r1_is_computed_on_other_backends(tmp_path, backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    spec = write_spec(tmp_path, LINEAR_GAN + "  jit_compile: false\n")
    result = subprocess.run([str(BUILDER), "train", str(spec), "--out", str(tmp_path / "run")], capture_output=True,
                            text=True, timeout=300, check=False, env={**os.environ, "KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["backend"] == backend
    [row] = read_history(tmp_path / "run" / "history.csv")
    assert row["val_r1_penalty"] == pytest.approx(_weights_norm(tmp_path / "run"), rel=1e-4)


MISFIT = """
name: misfit
models:
  mapping:
    inputs: {z: {shape: [4]}}
    layers:
      - {id: w, type: Dense, units: 6}
  synthesis:
    inputs: {styles: {shape: [2, 5]}}
    layers:
      - {id: constant, type: LearnedConstant, channels: 4, size: 8}
      - {id: conv, type: ModulatedConv2D, filters: 1, style_index: 1, inputs: {inputs: constant, style: styles}}
  generator:
    inputs: {z: {shape: [4]}}
    layers:
      - {id: w, type: Dense, units: 5}   # not the mapping network's w (6)
      - {type: RepeatVector, n: 2}
      - {id: image, model: synthesis}
  discriminator:
    inputs: {image: {shape: [8, 8, 1]}}
    layers:
      - {type: Flatten}
      - {id: real, type: Dense, units: 1}
train:
  kind: gan
  epochs: 1
"""


def test_style_networks_that_do_not_fit_are_located_errors(tmp_path):
    graph, models = build(tmp_path, MISFIT)
    with pytest.raises(SpecError) as info:
        style.networks(graph, models, "gan")
    [problem] = info.value.problems
    assert "the synthesis network 'synthesis' must take one input of styles, shape [layers, 6]" in problem.message
    assert "it takes [[2, 5]]" in problem.message and problem.location.line == 8   # synthesis: inputs
    graph, models = build(tmp_path, MISFIT.replace("  kind: gan\n", "  kind: gan\n  roles: {synthesis: missing}\n"))
    with pytest.raises(SpecError, match="roles.synthesis: the spec has no model 'missing'"):
        style.networks(graph, models, "gan")
    renamed = MISFIT.replace("  synthesis:\n", "  drawing:\n").replace("model: synthesis", "model: drawing")
    graph, models = build(tmp_path, renamed)
    with pytest.raises(SpecError) as info:
        style.networks(graph, models, "gan")
    [problem] = info.value.problems
    assert "the mapping network 'mapping' but no model named 'synthesis'" in problem.message
    assert problem.hint.startswith("name it under train.roles.synthesis")


def test_style_settings_of_the_wrong_kind_or_generator_are_located_errors(tmp_path):
    from builder.training.run import TrainOptions, train

    with pytest.raises(SpecError, match=r"r1 applies to kinds gan and cgan \(wgan-gp has its gradient_penalty\)"):
        graph_of(tmp_path, LINEAR_GAN.replace("kind: gan", "kind: wgan-gp"))
    with pytest.raises(SpecError, match="style_mixing applies to kinds gan and wgan-gp"):
        graph_of(tmp_path, LINEAR_GAN.replace("kind: gan", "kind: cgan").replace("r1: 2.0", "style_mixing: 0.5"))
    graph = graph_of(tmp_path, LINEAR_GAN.replace("r1: 2.0", "style_mixing: 0.5"))   # a plain generator
    with pytest.raises(SpecError) as info:
        train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0, diagram=False))
    [problem] = info.value.problems
    assert problem.message.startswith("style_mixing needs a style-based generator")
    assert (problem.location.line, problem.location.column) == (16, 23)   # train.gan.style_mixing


def test_the_diagram_draws_the_five_networks_and_which_calls_which(tmp_path):
    from builder.graph.render import render, write

    graph = load_graph(str(SPECS / "stylegan.yaml"), {})
    dot = render(graph, depth="all")
    for i, name in enumerate(("mapping", "synthesis", "generator", "discriminator", "stylegan")):
        assert f'subgraph cluster_m{i} ' in dot and f'label="{name}' in dot, name   # a box per network
    assert dot.count("ModulatedConv2D") == 5 and dot.count("NoiseInjection") == 3 and "LearnedConstant" in dot
    assert "model: mapping" in dot and "model: synthesis" in dot   # the generator's calls
    svg = write(dot, tmp_path / "stylegan.svg")
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
