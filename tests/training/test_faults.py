"""Faults at the worst moments: a run loses at most the epoch in progress, and says what happened in one line.

- killed during the first backup write (a half-written weights file and no earlier copy);
- killed after the last epoch, before summary.json (the backup must still be there);
- a second `--resume` of a run that is training;
- a loss that turns NaN after some good epochs (the checkpoint must hold the last good one);
- a full disk (a small tmpfs, when the test may mount one).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("keras")

from spec_helpers import iris_mlp, write_spec  # noqa: E402

from builder.cli import main  # noqa: E402
from builder.training.run_folder import RunFolder, read_history  # noqa: E402

pytestmark = pytest.mark.tensorflow_only


class Killed(BaseException):
    """A stand-in for kill -9 at a chosen line: nothing after it runs, no handler catches it."""


def interrupted_run(tmp_path, monkeypatch, epochs: int = 4, stop_after: int = 1) -> Path:
    """A run of the iris MLP stopped by Ctrl-C after epoch `stop_after` (its backup and history kept)."""
    from builder.training import callbacks

    original = callbacks.HistoryLog.on_epoch_end

    def ctrl_c(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == stop_after:
            raise KeyboardInterrupt

    spec = write_spec(tmp_path, iris_mlp(epochs=epochs))
    with monkeypatch.context() as patch:
        patch.setattr(callbacks.HistoryLog, "on_epoch_end", ctrl_c)
        patch.setattr(callbacks.ThrottledBackup.__init__, "__defaults__", (0.0,))   # a backup after every epoch
        result = CliRunner().invoke(main, ["train", str(spec), "--out", str(tmp_path / "run")])
    assert result.exit_code == 130, result.output
    return tmp_path / "run"


def test_a_kill_during_the_first_backup_write_starts_over_instead_of_failing_every_resume(tmp_path, monkeypatch):
    run = interrupted_run(tmp_path, monkeypatch)
    backup = run / "backup"
    for path in backup.iterdir():       # what a kill during the first write leaves: a 0-byte weights file
        path.unlink()
    (backup / "latest.weights.h5").write_bytes(b"")
    result = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert "was cut short before it held an epoch; starting from the first epoch" in result.output
    assert [int(row["epoch"]) for row in read_history(run / "history.csv")] == [1, 2, 3, 4]
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_an_unreadable_last_backup_falls_back_to_the_one_before(tmp_path, monkeypatch):
    run = interrupted_run(tmp_path, monkeypatch, epochs=6, stop_after=3)
    backup = run / "backup"
    assert (backup / "training_metadata.json.bkp").exists()   # double_checkpoint: the backup before the last
    (backup / "training_metadata.json").write_text("{not json")
    result = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert "the last backup in" in result.output and "resuming from the one before" in result.output
    epochs = [int(row["epoch"]) for row in read_history(run / "history.csv")]
    assert epochs == list(range(1, 7))                   # no epoch missing or repeated
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_a_kill_after_the_last_epoch_resumes_at_the_end_without_retraining(tmp_path, monkeypatch):
    from builder.training import run as training

    spec = write_spec(tmp_path, iris_mlp(epochs=3))

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(training, "plot_history", killed)   # after model.keras, before summary.json
    with pytest.raises(Killed):
        CliRunner().invoke(main, ["train", str(spec), "--out", str(tmp_path / "run")], catch_exceptions=False)
    monkeypatch.undo()
    run = tmp_path / "run"
    before = read_history(run / "history.csv")
    assert len(before) == 3 and not (run / "summary.json").exists() and (run / "backup").is_dir()
    result = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert read_history(run / "history.csv") == before          # nothing trained again
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 3 and not (run / "backup").exists()


def test_a_second_resume_of_a_run_in_training_is_refused(tmp_path, monkeypatch):
    run = interrupted_run(tmp_path, monkeypatch)
    with RunFolder(run).lock():          # as the first process holds it while it trains
        result = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert result.exit_code == 1
    assert f"{run}: error: this run is being trained by process " in result.stderr
    assert len(read_history(run / "history.csv")) == 2     # untouched
    assert CliRunner().invoke(main, ["train", "--resume", str(run)]).exit_code == 0   # once it is free


def test_a_loss_that_turns_nan_later_leaves_the_last_good_epoch_in_the_checkpoint(tmp_path):
    import keras

    # 8 steps an epoch: the learning rate jumps to 1e30 after 3 epochs (step 24), and the 4th diverges
    schedule = "{type: sgd, learning_rate: {type: piecewise, boundaries: [24], values: [0.05, 1.0e+30]}}"
    text = iris_mlp(epochs=10).replace("{type: adam, learning_rate: 0.02}", schedule)
    diverging = write_spec(tmp_path / "diverging", text)
    result = CliRunner().invoke(main, ["train", str(diverging), "--out", str(tmp_path / "diverging" / "run")])
    assert result.exit_code == 1 and "the loss became NaN or infinite at epoch 4" in result.stderr
    assert "the last good checkpoint is" in result.stderr
    three = write_spec(tmp_path / "three", text.replace("epochs: 10", "epochs: 3"))
    assert CliRunner().invoke(main, ["train", str(three), "--out", str(tmp_path / "three" / "run")]).exit_code == 0
    kept = keras.models.load_model(tmp_path / "diverging" / "run" / "checkpoints" / "last.keras").get_weights()
    good = keras.models.load_model(tmp_path / "three" / "run" / "model.keras").get_weights()
    for got, expected in zip(kept, good):   # the same seed: the 3rd epoch's weights, not the 1st's
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_nan_in_the_first_epoch_names_no_checkpoint(tmp_path):
    text = iris_mlp(epochs=3).replace("{type: adam, learning_rate: 0.02}", "{type: sgd, learning_rate: 1.0e+30}")
    result = CliRunner().invoke(main, ["train", str(write_spec(tmp_path, text)), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "no epoch finished with finite losses, so there is no checkpoint" in result.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip() or 'not root'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_one_line_and_the_run_resumes_once_there_is_room(tmp_path, small_disk):
    spec = write_spec(tmp_path, iris_mlp(epochs=30))
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (1024 * 1024 - 160 * 1024))   # about 160 KiB left: a few epochs' worth
    run = small_disk / "run"
    result = CliRunner().invoke(main, ["train", str(spec), "--out", str(run)])
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(run.rglob("partial-*")) and not list(run.rglob("*.tmp"))
    filler.unlink()
    result = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert [int(row["epoch"]) for row in read_history(run / "history.csv")] == list(range(1, 31))
    shutil.rmtree(run)
