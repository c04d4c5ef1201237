"""Generative and paired training on images: autoencoder, denoising autoencoder, VAE, GAN (DCGAN),
conditional GAN and WGAN-GP, each trained for a few epochs on a small version of its library spec on
scikit-learn's 8x8 digits, with real effects asserted (losses fall, samples have the data's shape
and range, a conditional GAN's samples follow their label), plus samplers, resume after kill -9,
located errors for roles, mode-collapse reporting, and the JAX and PyTorch steps when installed.
The full-size quality figures are bench/quality/*.py's."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from spec_helpers import SPECS, graph_of, write_spec

from builder.errors import SpecError
from builder.graph import load_graph
from builder.training.run_folder import RunFolder, read_history

BUILDER = Path(sys.executable).parent / "builder"

SMALL_GAN = {"latent": 8, "filters": 8}


def train_library(tmp_path, name: str, overrides: dict, epochs: int, **options):
    from builder.training.run import TrainOptions, train

    graph = load_graph(str(SPECS / f"{name}.yaml"), overrides)
    run = train(graph, SPECS / f"{name}.yaml", TrainOptions(out=tmp_path / name, epochs=epochs, overrides=overrides,
                                                             verbose=0, diagram=False, **options))
    return run, json.loads(run.summary.read_text()), read_history(run.history)


def generate(run, n: int, suffix: str = ".npy", **kwargs):
    from builder.runs.generate import generate as sample

    path = Path(run.path) / f"samples-{n}-{kwargs.get('label')}-{len(kwargs.get('options') or {})}{suffix}"
    written = sample(RunFolder(run.path), n, path, **kwargs)
    return np.load(written) if suffix == ".npy" else written


def column(history, key):
    return [row[key] for row in history]


# --- autoencoders ------------------------------------------------------------------------------------------

def test_autoencoder_learns_and_shows_reconstructions_beside_inputs(tmp_path):
    run, summary, history = train_library(tmp_path, "autoencoder", {"hidden": 32, "code": 8}, 12)
    assert summary["status"] == "completed"
    val = column(history, "val_loss")
    assert val[-1] < 0.5 * val[0], val                          # held-out reconstruction error falls
    pairs = generate(run, 6, seed=1)
    assert pairs.shape == (6, 2, 8, 8, 1)                       # (input, reconstruction) per sample
    inputs, rebuilt = pairs[:, 0], pairs[:, 1]
    assert inputs.min() >= 0 and inputs.max() <= 1 and rebuilt.min() >= 0 and rebuilt.max() <= 1
    assert np.mean((rebuilt - inputs) ** 2) < 0.5 * np.mean((inputs - inputs.mean()) ** 2)
    png = generate(run, 6, ".png", seed=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_denoising_autoencoder_trains_through_its_gaussian_noise_layer(tmp_path):
    run, _, history = train_library(tmp_path, "denoising_autoencoder", {"filters": 8, "code_filters": 4}, 12)
    losses = column(history, "loss")
    assert losses[-1] < 0.6 * losses[0], losses
    triplets = generate(run, 16, seed=2)                        # the spec's GaussianNoise stddev (0.2) is shown
    assert triplets.shape == (16, 3, 8, 8, 1)
    clean, noisy, rebuilt = triplets[:, 0], triplets[:, 1], triplets[:, 2]
    noise_error = np.mean((noisy - clean) ** 2)
    assert 0.03 < noise_error < 0.05                            # stddev 0.2
    from builder.training.run_folder import run_data

    _, data = run_data(RunFolder(run.path))
    baseline = np.mean((data.x_train.mean(axis=0) - clean) ** 2)   # the mean digit, whatever the input
    assert np.mean((rebuilt - clean) ** 2) < baseline           # rebuilt from noisy inputs, toward the clean ones


# --- VAE ----------------------------------------------------------------------------------------------------

def test_vae_logs_reconstruction_and_kl_and_samples_from_the_prior_and_between_codes(tmp_path):
    run, summary, history = train_library(tmp_path, "vae", {"hidden": 32, "latent": 4}, 8)
    assert {"loss", "reconstruction", "kl", "val_reconstruction", "val_kl"} <= set(history[0])
    reconstruction = column(history, "reconstruction")
    assert reconstruction[-1] < 0.8 * reconstruction[0], reconstruction
    for row in history:
        assert row["loss"] == pytest.approx(row["reconstruction"] + row["kl"], rel=1e-4)
    assert summary["kl_nats"] > 0.5                             # the code carries information
    assert "warnings" not in summary, summary.get("warnings")
    prior = generate(run, 16, seed=3)
    assert prior.shape == (16, 8, 8, 1) and prior.min() >= 0 and prior.max() <= 1
    assert prior.std(axis=0).mean() > 0.01                      # different codes, different digits
    grid = generate(run, 8, seed=3, options={"grid": "interpolate", "steps": 4})
    assert grid.shape == (2, 4, 8, 8, 1)                        # 2 pairs, 4 steps between each
    steps = np.abs(np.diff(grid, axis=1)).mean(axis=(2, 3, 4))
    assert np.all(steps > 0)
    with pytest.raises(SpecError, match="option grid: expected prior or interpolate"):
        generate(run, 4, options={"grid": "sideways"})


# --- GANs -----------------------------------------------------------------------------------------------------

def test_dcgan_trains_both_networks_and_its_samples_move_toward_the_data(tmp_path):
    from builder.model.compile import compile_graph
    from builder.training.run_folder import load_run_model

    run, summary, history = train_library(tmp_path, "dcgan", SMALL_GAN, 4, batch_size=16)
    assert {"d_loss", "g_loss", "d_accuracy", "val_d_loss", "val_g_loss"} <= set(history[0])
    assert all(np.isfinite(column(history, key)).all() for key in ("d_loss", "g_loss"))
    samples = generate(run, 200, seed=4)
    assert samples.shape == (200, 8, 8, 1) and samples.min() >= 0 and samples.max() <= 1
    # an untrained generator of the same spec, on the same kind of noise
    graph = load_graph(str(SPECS / "dcgan.yaml"), SMALL_GAN)
    untrained = compile_graph(graph)["generator"]
    z = np.random.default_rng(4).standard_normal((200, 8)).astype("float32")
    before = np.asarray(untrained.predict(z, verbose=0))
    from builder.training.run_folder import run_data

    _, data = run_data(RunFolder(run.path))
    target = data.x_train.mean(axis=0)
    assert np.abs(samples.mean(axis=0) - target).mean() < 0.5 * np.abs(before.mean(axis=0) - target).mean()
    assert set(summary["sample_diversity"]) >= {"generated", "data", "ratio", "measured"}
    for name in ("generator", "discriminator", "gan"):
        assert (run.models / f"{name}.keras").exists()
    wrapper = load_run_model(run)                               # model.keras: the training wrapper, reopened
    assert [o.name for o in wrapper.optimizer.optimizers] == ["generator_optimizer", "discriminator_optimizer"]


CGAN_TEXT = """
name: mlp_cgan
models:
  generator:
    inputs: {z: {shape: [8]}, label: {shape: [1], dtype: int32}}
    layers:
      - {id: embed, type: Embedding, input_dim: 10, output_dim: 8, inputs: label}
      - {id: flat, type: Flatten}
      - {id: both, type: Concatenate, inputs: [z, flat]}
      - {type: Dense, units: 64, activation: relu}
      - {type: Dense, units: 64, activation: sigmoid}
      - {id: image, type: Reshape, target_shape: [8, 8, 1]}
  discriminator:
    inputs: {image: {shape: [8, 8, 1]}, label: {shape: [1], dtype: int32}}
    layers:
      - {id: embed, type: Embedding, input_dim: 10, output_dim: 16, inputs: label}
      - {id: flat_label, type: Flatten}
      - {id: flat_image, type: Flatten, inputs: image}
      - {id: both, type: Concatenate, inputs: [flat_image, flat_label]}
      - {type: Dense, units: 64}
      - {type: LeakyReLU, negative_slope: 0.2}
      - {id: real, type: Dense, units: 1, activation: sigmoid}
train:
  kind: cgan
  data: {source: builtin, name: digits, image: true}
  optimizer: {type: adam, learning_rate: 2.0e-3, beta_1: 0.5}
  epochs: 25
  batch_size: 32
  seed: 0
"""


def test_cgan_samples_follow_their_label(tmp_path):
    """A small fully connected conditional GAN (the library's convolutional one is measured by
    bench/quality/cgan.py): a classifier trained on real digits mostly sees the requested label."""
    from sklearn.linear_model import LogisticRegression

    from builder.training.run_folder import run_data

    run, _ = train_text(tmp_path, CGAN_TEXT)
    _, data = run_data(RunFolder(run.path))
    judge = LogisticRegression(max_iter=2000).fit(data.x_train.reshape(len(data.x_train), -1), data.y_train)
    hits = []
    for label in range(10):
        samples = generate(run, 30, seed=5, label=label)
        assert samples.shape == (30, 8, 8, 1) and samples.min() >= 0 and samples.max() <= 1
        hits.append(np.mean(judge.predict(samples.reshape(30, -1)) == label))
    assert np.mean(hits) > 0.5, hits                            # chance is 0.1
    same_noise = [generate(run, 30, seed=5, label=k) for k in (0, 1)]
    assert np.abs(same_noise[0] - same_noise[1]).mean() > 0.05  # same noise, another label: another digit
    rows = generate(run, 20, seed=5)                            # no label: every class, a row each
    assert rows.shape == (20, 8, 8, 1)
    with pytest.raises(SpecError, match="this run has 10 classes"):
        generate(run, 2, label=10)


def test_wgan_gp_critic_learns_to_score_real_digits_above_generated_ones(tmp_path):
    run, _, history = train_library(tmp_path, "wgan_gp", SMALL_GAN, 3, batch_size=128)
    assert {"d_loss", "g_loss", "w_distance", "gradient_penalty"} <= set(history[0])
    penalty, distance = column(history, "gradient_penalty"), column(history, "w_distance")
    assert penalty[-1] < penalty[0] < 1.0                       # the critic's gradient norm moves toward 1
    assert distance[-1] > max(0.0, distance[0])                 # and it scores real digits above generated ones
    samples = generate(run, 9, seed=6)
    assert samples.shape == (9, 8, 8, 1) and samples.min() >= 0 and samples.max() <= 1
    with pytest.raises(SpecError, match="not conditional"):
        generate(run, 2, label=1)


# --- resume, roles, reporting ---------------------------------------------------------------------------------

def test_killed_gan_run_resumes_with_its_optimizers_state(tmp_path):
    from builder.training.run import TrainOptions, resume
    from builder.training.run_folder import load_run_model

    run = tmp_path / "run"
    args = [str(BUILDER), "train", str(SPECS / "dcgan.yaml"), "--out", str(run), "--epochs", "5",
            "--batch-size", "256"] + [f"--set={k}={v}" for k, v in SMALL_GAN.items()]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_history(run / "history.csv")) < 2 and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(read_history(run / "history.csv"))
    if done >= 5:
        pytest.skip("the run finished before it could be killed")
    assert done >= 2
    folder = resume(RunFolder(run), TrainOptions(verbose=0, diagram=False))
    summary = json.loads(folder.summary.read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 5
    assert [int(row["epoch"]) for row in read_history(folder.history)][-1] == 5
    optimizers = load_run_model(folder).optimizer.optimizers
    steps = 5 * 6                                               # 1,438 digits in batches of 256: 6 a epoch
    assert [int(o.iterations.numpy()) for o in optimizers] == [steps, steps]   # counted across the kill


GAN_TEXT = """
name: small_gan
models:
  g:
    inputs: {z: {shape: [4]}}
    layers:
      - {type: Dense, units: 16, activation: relu}
      - {type: Dense, units: 64, activation: sigmoid}
      - {id: image, type: Reshape, target_shape: [8, 8, 1]}
  d:
    inputs: {image: {shape: [8, 8, 1]}}
    layers:
      - {type: Flatten}
      - {type: Dense, units: 16, activation: relu}
      - {id: real, type: Dense, units: 1}
train:
  kind: gan
  roles: {generator: g, discriminator: d}
  optimizers: {generator: {type: adam, learning_rate: 0.002}, discriminator: sgd}
  gan: {critic_steps: 2, label_smoothing: 0.1}
  data: {source: builtin, name: digits, image: true}
  epochs: 1
  batch_size: 128
  seed: 0
"""


def train_text(tmp_path, text, **options):
    from builder.training.run import TrainOptions, train

    graph = graph_of(tmp_path, text)
    run = train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0, diagram=False, **options))
    return run, json.loads(run.summary.read_text())


def test_roles_name_the_networks_each_with_its_own_optimizer(tmp_path):
    from builder.training.run_folder import load_run_model

    run, summary = train_text(tmp_path, GAN_TEXT)
    assert summary["status"] == "completed"
    optimizers = load_run_model(run).optimizer.optimizers
    assert [type(o).__name__ for o in optimizers] == ["Adam", "SGD"]
    assert float(optimizers[0].learning_rate.numpy()) == pytest.approx(0.002)
    assert [int(o.iterations.numpy()) for o in optimizers] == [12, 24]   # 12 batches, 2 critic steps each


@pytest.mark.parametrize("change, line, column, message", [
    ("roles: {generator: g, discriminator: d}", "roles: {generator: gen, discriminator: d}",
     None, "roles.generator: the spec has no model 'gen'"),
    ("roles: {generator: g, discriminator: d}", "roles: {generator: g}",
     None, "kind gan needs a discriminator, and the spec has no model named 'discriminator'"),
    ("inputs: {image: {shape: [8, 8, 1]}}", "inputs: {image: {shape: [8, 8, 2]}}",
     None, "the generator makes samples of shape [8, 8, 1]; the discriminator 'd' reads [8, 8, 2]"),
])
def test_roles_and_networks_that_do_not_fit_are_located_errors(tmp_path, change, line, column, message):
    with pytest.raises(SpecError) as info:
        train_text(tmp_path, GAN_TEXT.replace(change, line))
    [problem] = info.value.problems
    assert message in problem.message
    assert problem.location.line > 0


def test_role_errors_point_at_the_role(tmp_path):
    with pytest.raises(SpecError) as info:
        train_text(tmp_path, GAN_TEXT.replace("generator: g,", "generator: gg,"))
    [problem] = info.value.problems
    assert (problem.location.line, problem.hint) == (17, "its models are: g, d")


def test_spec_checks_of_the_training_settings(tmp_path):
    cases = {
        "roles: {generator: g, discriminator: d, critic: d}": "give `discriminator` or `critic`",
        "roles: {generator: g, discriminator: d, encoder: g}": "kind gan has no role 'encoder'",
        "gan: {critic_steps: 2, gradient_penalty: 5.0}": "gradient_penalty applies to kind wgan-gp",
    }
    for new, message in cases.items():
        text = GAN_TEXT.replace("roles: {generator: g, discriminator: d}", new) if new.startswith("roles") \
            else GAN_TEXT.replace("gan: {critic_steps: 2, label_smoothing: 0.1}", new)
        with pytest.raises(SpecError, match=message.replace("`", ".")):
            graph_of(tmp_path, text)
    with pytest.raises(SpecError, match="optimizers. .one per network. applies to kinds gan, cgan, wgan-gp, pix2pix and cyclegan"):
        graph_of(tmp_path, GAN_TEXT.replace("kind: gan", "kind: vae").replace(
            "  roles: {generator: g, discriminator: d}\n", "").replace("  gan: {critic_steps: 2, label_smoothing: 0.1}\n", ""))
    with pytest.raises(SpecError, match="optimizer 'sgd' has no argument 'beta_1'"):
        graph_of(tmp_path, GAN_TEXT.replace("discriminator: sgd}", "discriminator: {type: sgd, beta_1: 0.5}}"))


def test_wgan_critic_ending_in_a_sigmoid_is_a_located_error(tmp_path):
    text = GAN_TEXT.replace("kind: gan", "kind: wgan-gp").replace("{id: real, type: Dense, units: 1}",
                                                                  "{id: real, type: Dense, units: 1, activation: sigmoid}")
    text = text.replace("  gan: {critic_steps: 2, label_smoothing: 0.1}\n", "")
    with pytest.raises(SpecError) as info:
        train_text(tmp_path, text)
    [problem] = info.value.problems
    assert "a WGAN critic gives an unbounded score" in problem.message and problem.location.line == 14


def test_a_generator_that_ignores_its_noise_is_reported_as_mode_collapse(tmp_path):
    collapsed = GAN_TEXT.replace("{type: Dense, units: 16, activation: relu}\n      - {type: Dense, units: 64",
                                 "{type: Dense, units: 16, kernel_initializer: zeros, trainable: false}\n"
                                 "      - {type: Dense, units: 64")
    _, summary = train_text(tmp_path, collapsed)
    assert summary["sample_diversity"]["ratio"] < 0.01
    assert any(w.startswith("mode collapse") for w in summary["warnings"])


# --- the other backends: one step, three gradient mechanics --------------------------------------------------

BACKEND_TEXT = GAN_TEXT.replace("kind: gan", "kind: wgan-gp").replace("batch_size: 128", "batch_size: 256").replace(
    "  gan: {critic_steps: 2, label_smoothing: 0.1}\n", "  gan: {critic_steps: 2}\n  jit_compile: false\n")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_wgan_gp_and_vae_train_on_other_backends(tmp_path, backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend}
    spec = write_spec(tmp_path, BACKEND_TEXT)
    result = subprocess.run([str(BUILDER), "train", str(spec), "--out", str(tmp_path / "wgan")], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "wgan" / "summary.json").read_text())
    assert summary["backend"] == backend
    assert np.isfinite([summary["final"][k] for k in ("d_loss", "g_loss", "gradient_penalty")]).all()
    result = subprocess.run([str(BUILDER), "train", str(SPECS / "vae.yaml"), "--out", str(tmp_path / "vae"),
                             "--epochs", "2", "--batch-size", "128", "--set", "hidden=16", "--set", "latent=2"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    history = read_history(tmp_path / "vae" / "history.csv")
    assert history[-1]["reconstruction"] < history[0]["reconstruction"] and history[-1]["kl"] > 0
    assert json.loads((tmp_path / "vae" / "summary.json").read_text())["backend"] == backend
    result = subprocess.run([str(BUILDER), "generate", str(tmp_path / "wgan"), "-n", "4", "-o",
                             str(tmp_path / "s.npy")], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.load(tmp_path / "s.npy").shape == (4, 8, 8, 1)
