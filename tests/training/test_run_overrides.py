"""`builder train --seed` and dotted `--set`: the run records them in run.json, `--resume` applies them again,
and the same seed trains the same history."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("keras")

from spec_helpers import iris_mlp, write_spec  # noqa: E402

from builder.cli import main  # noqa: E402
from builder.training.run_folder import RunFolder, read_history  # noqa: E402

pytestmark = pytest.mark.tensorflow_only


def train(*args) -> str:
    result = CliRunner().invoke(main, ["train", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_same_seed_trains_the_same_history_and_the_run_records_it(tmp_path):
    spec = write_spec(tmp_path, iris_mlp(epochs=2))   # the spec says seed: 3
    out = train(spec, "--seed", 11, "--out", tmp_path / "a", "-q")
    assert out.splitlines()[-1] == f"run folder: {tmp_path / 'a'}" and "completed" not in out   # -q: the folder
    train(spec, "--seed", 11, "--out", tmp_path / "b", "-q")
    train(spec, "--seed", 12, "--out", tmp_path / "c", "-q")
    history = {name: (tmp_path / name / "history.csv").read_text() for name in "abc"}
    assert history["a"] == history["b"] != history["c"]
    assert json.loads((tmp_path / "a" / "run.json").read_text())["overrides"] == {"train.seed": 11}


def test_resume_applies_the_dotted_overrides_and_the_seed_again(tmp_path, monkeypatch):
    from builder.training import callbacks

    original = callbacks.HistoryLog.on_epoch_end

    def ctrl_c(self, epoch, logs=None):   # Ctrl-C after the first epoch, its backup kept
        original(self, epoch, logs)
        raise KeyboardInterrupt

    spec = write_spec(tmp_path, iris_mlp(epochs=40))
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(callbacks.HistoryLog, "on_epoch_end", ctrl_c)
        patch.setattr(callbacks.ThrottledBackup.__init__, "__defaults__", (0.0,))   # a backup after every epoch
        result = CliRunner().invoke(main, ["train", str(spec), "--out", str(run), "--seed", "5",
                                           "--set", "train.epochs=2", "--set", "layers.hidden.units=7"])
    assert result.exit_code == 130, result.output
    refused = CliRunner().invoke(main, ["train", "--resume", str(run), "--seed", "6"])
    assert refused.exit_code == 2 and "--resume continues with the --set, --small and --seed values" in refused.stderr
    train("--resume", run)
    assert len(read_history(run / "history.csv")) == 2                     # train.epochs=2, not the spec's 40
    model = RunFolder(run).model
    from builder.training.run_folder import open_model

    assert open_model(model).get_layer("hidden").units == 7
    assert json.loads((run / "run.json").read_text())["overrides"] == \
        {"train.epochs": 2, "layers.hidden.units": 7, "train.seed": 5}


CHARS = """
name: chars
params: {context: 16, width: 8}
inputs: {tokens: {shape: ["${context}"], dtype: int32}}
layers:
  - {type: Embedding, input_dim: 64, output_dim: "${width}"}
  - {type: GRU, units: "${width}", return_sequences: true}
  - {type: Dense, units: 64, activation: softmax}
train:
  kind: language-model
  data: {source: corpus, name: sklearn_descr, sequence_length: "${context + 1}", vocabulary_size: 64}
  epochs: 1
  batch_size: 256
  seed: 0
"""


def test_the_data_shape_follows_a_set_with_the_model(tmp_path):
    """`sequence_length: "${context + 1}"`: one --set resizes the model's input and the data's windows."""
    spec = write_spec(tmp_path, CHARS)
    train(str(spec), "--out", str(tmp_path / "run"), "--set", "context=8")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed"
    from builder.training.run_folder import open_model

    assert open_model(RunFolder(tmp_path / "run").model).input_shape == (None, 8)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["overrides"] == {"context": 8}
