"""pix2pix and CycleGAN: each trains its networks with their own optimizers, resumes, and translates images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from spec_helpers import SPECS

from builder.errors import SpecError
from builder.graph import load_graph
from builder.training.run_folder import RunFolder, read_history

TINY = {"filters": 2}


def pairs(folder: Path, n: int = 64) -> Path:
    rng = np.random.default_rng(0)
    x = rng.random((n, 8, 8, 1)).astype("float32")
    np.savez(folder / "colourise.npz", x=x, y=np.repeat(x, 3, axis=-1) * np.array([1, 0.5, 0], "float32"))
    return folder / "colourise.npz"


def domains(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(folder / "thick.npz", a=rng.random((40, 8, 8, 1)).astype("float32"),
             b=rng.random((56, 8, 8, 1)).astype("float32"))   # of different sizes: unpaired
    return folder / "thick.npz"


def train_tiny(tmp_path, name: str, data: Path, epochs: int = 1):
    from builder.training.run import TrainOptions, train

    graph = load_graph(str(SPECS / f"{name}.yaml"), TINY)
    return train(graph, SPECS / f"{name}.yaml", TrainOptions(out=tmp_path / name, epochs=epochs, overrides=TINY,
                                                              verbose=0, diagram=False, data_path=data))


def translate(run, tmp_path, n: int, suffix=".npy", **options):
    from builder.runs.generate import generate

    written = generate(RunFolder(run.path), n, tmp_path / f"out{len(list(tmp_path.iterdir()))}{suffix}",
                       options=options)
    return np.load(written) if suffix == ".npy" else written


def test_pix2pix_trains_both_networks_and_translates_given_images(tmp_path):
    run = train_tiny(tmp_path, "pix2pix", pairs(tmp_path))
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed"
    assert {"d_loss", "g_loss", "g_adversarial", "l1", "val_l1"} <= set(summary["final"])
    assert (Path(run.path) / "metrics.png").exists()
    np.save(tmp_path / "grey.npy", np.zeros((3, 8, 8, 1), "float32"))
    out = translate(run, tmp_path, 5, input=str(tmp_path / "grey.npy"))
    assert out.shape == (3, 8, 8, 3) and np.all((out >= 0) & (out <= 1))
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), "uint8")).save(tmp_path / "one.png")
    assert translate(run, tmp_path, 1, input=str(tmp_path / "one.png")).shape == (1, 8, 8, 3)
    assert translate(run, tmp_path, 4, suffix=".png").exists()   # validation inputs, outputs, targets


def test_pix2pix_resumes_with_both_optimizers(tmp_path):
    from builder.training.run import TrainOptions, resume
    from builder.training.run_folder import load_run_model

    run = train_tiny(tmp_path, "pix2pix", pairs(tmp_path), epochs=2)
    summary = json.loads(run.summary.read_text())   # as a run killed after its checkpoint of epoch 2 leaves it
    run.summary.write_text(json.dumps({**summary, "status": "interrupted"}))
    folder = resume(RunFolder(run.path), TrainOptions(verbose=0, diagram=False, epochs=3))
    assert [int(row["epoch"]) for row in read_history(folder.history)] == [1, 2, 3]
    optimizers = load_run_model(folder).optimizer.optimizers
    assert [int(o.iterations.numpy()) for o in optimizers] == [3 * 2, 3 * 2]   # 51 pairs, batches of 32


def test_cyclegan_trains_four_networks_and_translates_both_ways(tmp_path):
    run = train_tiny(tmp_path, "cyclegan", domains(tmp_path))
    summary = json.loads(run.summary.read_text())
    assert {"d_loss", "g_loss", "cycle", "identity"} <= set(summary["final"])
    from builder.training.run_folder import load_run_model

    assert len(load_run_model(run).optimizer.optimizers) == 4   # one per network
    np.save(tmp_path / "in.npy", np.ones((2, 8, 8, 1), "float32"))
    for direction in ("a2b", "b2a"):
        assert translate(run, tmp_path, 2, input=str(tmp_path / "in.npy"), direction=direction).shape == (2, 8, 8, 1)
    with pytest.raises(SpecError, match="option direction: expected a2b or b2a"):
        translate(run, tmp_path, 2, direction="sideways")


def test_image_pool_trains(tmp_path):
    from builder.training.run import TrainOptions, train

    text = (SPECS / "cyclegan.yaml").read_text().replace("{cycle: 10, identity: 5}", "{cycle: 10, identity: 0, pool: 8}")
    spec = tmp_path / "pooled.yaml"
    spec.write_text(text)
    graph = load_graph(str(spec), TINY)
    run = train(graph, spec, TrainOptions(out=tmp_path / "pooled", epochs=1, overrides=TINY, verbose=0,
                                          diagram=False, data_path=domains(tmp_path)))
    final = json.loads(run.summary.read_text())["final"]
    assert np.isfinite(final["d_loss"]) and "identity" not in final


def test_pix2pix_data_of_classes_is_refused_at_train_data(tmp_path):
    text = (SPECS / "pix2pix.yaml").read_text().replace(
        "data: {source: numpy, path: data/colourise.npz, validation_split: 0.2}",
        "data: {source: builtin, name: digits, image: true}")
    spec = tmp_path / "p.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError, match="kind pix2pix learns from pairs"):
        load_graph(str(spec), {})
