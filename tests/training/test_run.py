"""Training from a spec: real learning on embedded data, run folders, resume after kill -9,
every data source, evaluate and predict."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("keras")

from spec_helpers import graph_of, iris_mlp, write_spec  # noqa: E402

from builder.cli import main  # noqa: E402
from builder.errors import SpecError  # noqa: E402
from builder.training.run_folder import read_history  # noqa: E402

IRIS_MLP = iris_mlp()


def train_spec(tmp_path, text, **options):
    from builder.training.run import TrainOptions, train

    graph = graph_of(tmp_path, text)
    return train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0, **options))


def test_tiny_spec_learns_far_above_chance_and_leaves_a_complete_run_folder(tmp_path):
    run = train_spec(tmp_path, IRIS_MLP)
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 40
    assert summary["final"]["val_accuracy"] > 0.85          # chance is 0.33
    assert summary["samples"] == {"train": 120, "validation": 30}
    import keras

    from builder.training.backends import adapter

    assert summary["backend"] == keras.backend.backend() and summary["device"] == adapter().device()
    assert summary["samples_per_second"] > 0
    for path in (run.spec, run.info, run.model, run.checkpoint, run.history, run.plot):
        assert path.exists(), path
    assert [row["epoch"] for row in read_history(run.history)] == list(range(1, 41))
    assert run.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seed_makes_a_cpu_run_repeat(tmp_path):
    first = json.loads(train_spec(tmp_path / "a", IRIS_MLP, epochs=3).summary.read_text())["final"]
    second = json.loads(train_spec(tmp_path / "b", IRIS_MLP, epochs=3).summary.read_text())["final"]
    assert first == second


def test_killed_run_resumes_and_continues_its_epoch_count(tmp_path):
    spec = write_spec(tmp_path, IRIS_MLP.replace("epochs: 40", "epochs: 100000"))
    run = tmp_path / "run"
    builder = Path(sys.executable).parent / "builder"
    process = subprocess.Popen([str(builder), "train", str(spec), "--out", str(run)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_history(run / "history.csv")) < 3:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(read_history(run / "history.csv"))
    assert done >= 3, "the run never got going"
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--epochs", str(done + 3)])
    assert result.exit_code == 0, result.output
    epochs = [int(row["epoch"]) for row in read_history(run / "history.csv")]
    # resume starts from the last backed-up epoch, which may be a few fast epochs back: the history
    # is cut back to it, so the count goes on with no epoch missing or repeated
    assert epochs == list(range(1, len(epochs) + 1)) and epochs[-3:] == [done + 1, done + 2, done + 3]
    assert json.loads((run / "summary.json").read_text())["epochs"] >= done + 3


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    text = IRIS_MLP.replace("{type: adam, learning_rate: 0.02}", "{type: sgd, learning_rate: 1.0e+30}")
    with pytest.raises(SpecError) as info:
        train_spec(tmp_path, text)
    assert "the loss became NaN or infinite at epoch" in info.value.problems[0].message
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert not (tmp_path / "run" / "model.keras").exists()


def test_data_that_does_not_fit_the_input_is_a_located_error(tmp_path):
    text = IRIS_MLP.replace("shape: [4]", "shape: [5]")
    with pytest.raises(SpecError) as info:
        train_spec(tmp_path, text)
    [problem] = info.value.problems
    assert (problem.location.line, problem.location.column) == (2, 10)  # the input's name
    assert problem.message == "input 'features' expects samples of shape [5], the data gives [4]"


def test_data_that_does_not_fit_the_kind_is_a_located_error_at_train_kind(tmp_path):
    """A kind raises KindMismatch for the spec's mistakes; training reports it where `kind:` is written.
    (Every kind the language names is registered: tests/test_structure.py.)"""
    with pytest.raises(SpecError) as info:
        train_spec(tmp_path, IRIS_MLP.replace("train:\n", "train:\n  kind: language-model\n"))
    [problem] = info.value.problems
    assert problem.message == "language-model trains on token sequences: use `source: text` or `source: corpus`"
    assert problem.location.line == IRIS_MLP.lstrip().splitlines().index("train:") + 2   # the kind: line


# --- data sources ------------------------------------------------------------------------------

MLP_ON = """
name: on-data
inputs: {x: {shape: [%d]}}
layers:
  - {type: Dense, units: 8, activation: relu}
  - {type: Dense, units: %d, activation: softmax}
train:
  data: %s
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 2
  batch_size: 8
  seed: 1
"""


def test_csv_source_with_text_labels(tmp_path):
    with (tmp_path / "flowers.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "kind"])
        for i in range(40):
            writer.writerow([i % 7, i % 3, "big" if i % 2 else "small"])
    run = train_spec(tmp_path, MLP_ON % (2, 2, "{source: csv, path: flowers.csv, label: kind}"))
    summary = json.loads(run.summary.read_text())
    assert summary["classes"] == ["big", "small"] and summary["samples"]["train"] == 32


def test_numpy_source(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.random((30, 3)).astype("float32"), y=rng.integers(0, 2, 30))
    run = train_spec(tmp_path, MLP_ON % (3, 2, "{source: numpy, path: data.npz}"))
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert summary["samples"] == {"train": 24, "validation": 6}     # the default validation_split of 0.2
    rows = read_history(run.history)
    assert len(rows) == 2 and all(np.isfinite(row["loss"]) and np.isfinite(row["val_loss"]) for row in rows)


def test_image_folder_source(tmp_path):
    from PIL import Image

    for label, value in (("dark", 20), ("light", 230)):
        (tmp_path / "pictures" / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (10, 12), value + i).save(tmp_path / "pictures" / label / f"{i}.png")
    text = """
        name: folders
        inputs: {image: {shape: [6, 5, 1]}}
        layers:
          - {type: Flatten}
          - {type: Dense, units: 2, activation: softmax}
        train:
          data: {source: images, path: pictures, image_size: [6, 5], color_mode: grayscale}
          loss: sparse_categorical_crossentropy
          epochs: 1
    """
    run = train_spec(tmp_path, text)
    summary = json.loads(run.summary.read_text())
    assert summary["classes"] == ["dark", "light"] and summary["samples"]["train"] + summary["samples"]["validation"] == 12


def test_text_source_from_a_csv_column(tmp_path):
    with (tmp_path / "reviews.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "stars"])
        for i in range(20):
            writer.writerow(["great fun film" if i % 2 else "dull boring film", i % 2])
    text = """
        name: reviews
        inputs: {tokens: {shape: [6], dtype: int32}}
        layers:
          - {type: Embedding, input_dim: 50, output_dim: 4}
          - {type: GlobalAveragePooling1D}
          - {type: Dense, units: 2, activation: softmax}
        train:
          data: {source: text, path: reviews.csv, column: review, label: stars, sequence_length: 6, vocabulary_size: 50}
          loss: sparse_categorical_crossentropy
          epochs: 1
    """
    run = train_spec(tmp_path, text)
    transform = json.loads((run.path / "data.json").read_text())
    assert transform["vocabulary"][:2] == ["", "[UNK]"] and "film" in transform["vocabulary"]


def test_every_builtin_set_loads(tmp_path):
    from builder.errors import Location
    from builder.language.spec import BuiltinData
    from builder.training.data import load_data

    sizes = {"digits": (1797, 64), "iris": (150, 4), "wine": (178, 13), "breast_cancer": (569, 30)}
    for name, (count, features) in sizes.items():
        data = load_data(BuiltinData(source="builtin", name=name), tmp_path, Location(), seed=0)
        assert data.x_train.shape[1] == features and len(data.x_train) + len(data.x_val) == count
        assert abs(float(data.x_train.mean())) < 1e-4  # standardised on the training part
    images = load_data(BuiltinData(source="builtin", name="digits", image=True), tmp_path, Location(), seed=0)
    assert images.x_train.shape[1:] == (8, 8, 1) and float(images.x_train.max()) == 1.0


def test_keras_dataset_without_network_is_a_clear_error(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(SpecError) as info:
        train_spec(tmp_path, MLP_ON % (784, 10, "{source: keras, name: mnist}"))
    problem = info.value.problems[0]
    assert problem.message.startswith("could not download keras.datasets.mnist: OSError")
    assert "needs the network" in problem.hint


def test_missing_data_file_is_located_at_train_data(tmp_path):
    with pytest.raises(SpecError) as info:
        train_spec(tmp_path, MLP_ON % (2, 2, "{source: csv, path: nowhere.csv, label: 0}"))
    problem = info.value.problems[0]
    assert problem.location.line == 7 and "nowhere.csv" in problem.message  # the `data:` line


# --- MixUp and CutMix: labels mixed with the inputs ----------------------------------------------------------

def mixed_training_batches(spec_text: str, tmp_path, x, y, seed: int = 0):
    """The training and validation batches of `x`, `y` (one-hot) as `fit` would see them with `train.augment`."""
    from builder.errors import Location
    from builder.training import backends
    from builder.training.augment import augmentation
    from builder.training.run import fit_arguments

    graph = graph_of(tmp_path, spec_text)
    pipeline = augmentation(graph.spec.train.augment, seed, lambda i: Location("x"))
    arguments = backends.adapter().augment_training(fit_arguments(x, y, x, y, 8, True, seed), pipeline)
    train = [tuple(np.asarray(part) for part in batch) for batch in arguments["x"]]
    validation = [tuple(np.asarray(part) for part in batch) for batch in arguments["validation_data"]]
    return train, validation


MIXING = """
name: mixing
inputs: {image: {shape: [6, 6, 1]}}
layers:
  - {type: Flatten}
  - {type: Dense, units: 32, activation: softmax}
train:
  augment: [MIXER]
"""


@pytest.mark.parametrize("mixer", ["{type: MixUp, alpha: 1.0}", "{type: CutMix, factor: [1.0, 1.0]}"])
def test_mixup_and_cutmix_mix_each_training_label_as_its_inputs_and_leave_validation_alone(tmp_path, mixer):
    # 32 samples, each its own class and a constant image of its own value: a mixed label row says exactly
    # which samples a mixed image must be made of, and in what shares
    x = np.broadcast_to(np.arange(1, 33, dtype="float32")[:, None, None, None], (32, 6, 6, 1)).copy()
    y = np.eye(32, dtype="float32")
    train, validation = mixed_training_batches(MIXING.replace("MIXER", mixer), tmp_path, x, y)
    images = np.concatenate([batch[0] for batch in train])
    labels = np.concatenate([batch[1] for batch in train])
    assert images.shape == x.shape and labels.shape == y.shape
    np.testing.assert_allclose(labels.sum(axis=1), 1, atol=1e-6)
    assert labels.min() >= 0 and ((labels > 0).sum(axis=1) <= 2).all()       # a convex mix of two one-hot rows
    assert ((labels > 0).sum(axis=1) == 2).sum() >= 16                        # and most rows are mixed
    if "MixUp" in mixer:   # the image is the same blend of the same two images
        np.testing.assert_allclose(images, np.einsum("ik,khwc->ihwc", labels, x), rtol=1e-5, atol=1e-5)
    else:                  # every pixel comes from one of the two, and each label is the share of its pixels
        shares = np.stack([(images[..., 0] == k + 1).mean(axis=(1, 2)) for k in range(32)], axis=1)
        np.testing.assert_allclose(labels, shares, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in validation]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in validation]), y)
    again, _ = mixed_training_batches(MIXING.replace("MIXER", mixer), tmp_path / "again", x, y)
    for first, second in zip(train, again):   # a seeded run mixes alike
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])


IRIS_MIXUP = IRIS_MLP.replace("  metrics: [accuracy]\n", "  metrics: [accuracy, sparse_categorical_accuracy]\n"
                                                            "  augment: [{type: MixUp, alpha: 0.4}]\n")


def test_mixup_trains_on_one_hot_labels_and_keeps_the_spec_metric_names(tmp_path):
    """Integer labels become one-hot for training and validation; sparse losses and metrics compile as their
    categorical twins under the spec's names, so history.csv, summary.json and evaluate read as without MixUp."""
    run = train_spec(tmp_path, IRIS_MIXUP)
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["augment"] == ["MixUp"]
    assert sorted(summary["final"]) == ["accuracy", "loss", "sparse_categorical_accuracy", "val_accuracy",
                                        "val_loss", "val_sparse_categorical_accuracy"]
    assert summary["final"]["val_accuracy"] > 0.85          # chance is 0.33
    assert summary["final"]["val_sparse_categorical_accuracy"] == summary["final"]["val_accuracy"]
    result = CliRunner().invoke(main, ["evaluate", str(run.path), "--format", "json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["accuracy"] == pytest.approx(summary["final"]["val_accuracy"], abs=1e-6)
    assert metrics["loss"] == pytest.approx(summary["final"]["val_loss"], rel=1e-4)


def test_cutmix_trains_a_digit_classifier(tmp_path):
    run = train_spec(tmp_path, """
        name: cutmix
        inputs: {image: {shape: [8, 8, 1]}}
        layers:
          - {type: Conv2D, filters: 8, kernel_size: 3, activation: relu}
          - {type: Flatten}
          - {type: Dense, units: 10, activation: softmax}
        train:
          data: {source: builtin, name: digits, image: true}
          augment: [{type: RandomTranslation, height_factor: 0.1, width_factor: 0.1}, {type: CutMix}]
          metrics: [accuracy]
          epochs: 4
          seed: 0
    """)
    summary = json.loads(run.summary.read_text())
    assert summary["augment"] == ["RandomTranslation", "CutMix"]
    assert summary["final"]["val_accuracy"] > 0.6           # chance is 0.1
    assert [row["epoch"] for row in read_history(run.history)] == list(range(1, 5))


def test_history_keeps_only_the_epochs_the_backup_has(tmp_path):
    # a kill between an epoch's backup and its history row (or the other way round) must not leave
    # the resumed history with a gap or a repeat: the log is cut back to the epoch training resumes at
    from builder.training.run import HistoryLog

    log = HistoryLog(tmp_path / "history.csv")
    for epoch in range(5):
        log.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0})
    resumed = HistoryLog(tmp_path / "history.csv")
    resumed.on_train_begin()
    resumed.on_epoch_begin(3)
    resumed.on_epoch_end(3, {"loss": 0.2, "val_loss": 1.5})
    rows = read_history(tmp_path / "history.csv")
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]
    assert rows[-1]["loss"] == 0.2 and rows[1]["loss"] == 0.5


def test_the_whole_model_checkpoint_is_not_paid_for_on_every_fast_epoch(tmp_path):
    # a save costs about as much as an epoch of a small model: fast epochs are saved at most every
    # `interval` seconds, and the last good one when training ends
    import keras

    from builder.training.run import EpochCheckpoint

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    saves = []
    checkpoint = EpochCheckpoint(tmp_path / "checkpoint.keras", interval=3600)
    save = checkpoint._save
    checkpoint._save = lambda: saves.append(save())
    checkpoint.set_model(model)
    for epoch in range(5):
        checkpoint.on_epoch_end(epoch, {"loss": 1.0})
    assert len(saves) == 1            # the first epoch; the next four fall within the interval
    checkpoint.on_train_end()
    assert len(saves) == 2            # the last good epoch, at the end
    checkpoint.on_epoch_end(5, {"loss": float("nan")})
    checkpoint.on_train_end()
    assert len(saves) == 2            # weights gone to NaN are never saved over the last good ones
    assert keras.models.load_model(tmp_path / "checkpoint.keras").count_params() == 3


def test_backups_cost_at_most_a_set_share_of_the_training_time(tmp_path):
    # an epoch is backed up once `share` times the last backup's cost has passed: fast epochs are
    # backed up every few epochs, and a phase's last epoch always is, since the next phase starts there
    import json as json_module

    import keras

    from builder.training.run import ThrottledBackup

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    backup = ThrottledBackup(str(tmp_path / "backup"), share=1e9, delete_checkpoint=False)
    backup.set_model(model)

    def backed_up_epochs() -> int:
        return json_module.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"]

    for epoch in range(4):
        backup.on_epoch_end(epoch)
    assert backed_up_epochs() == 1      # the first epoch; the next three are within the share
    backup.on_train_end()
    assert backed_up_epochs() == 4      # the phase's last epoch
    slow = ThrottledBackup(str(tmp_path / "backup"), share=0.0)
    slow.set_model(model)
    slow.on_epoch_end(4)
    slow.on_epoch_end(5)
    assert backed_up_epochs() == 6      # share 0: every epoch, as plain BackupAndRestore does
    slow.on_train_end()
    assert not (tmp_path / "backup").exists()   # the last phase's backup is deleted


# --- the first hour: what a run says, and the folders it leaves ------------------------------------------------

def test_a_run_says_what_it_trains_on_what_and_where_before_the_first_step(tmp_path):
    write_spec(tmp_path, IRIS_MLP)
    result = CliRunner().invoke(main, ["train", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "run"),
                                       "--epochs", "1"])
    assert result.exit_code == 0, result.output
    header = result.output[: result.output.index("completed")]
    assert "training iris-mlp (supervised): 131 parameters (131 trainable)" in header
    assert "data: scikit-learn iris: 120 samples to train on, 30 to validate" in header
    assert "1 epoch of 8 steps of 16 samples" in header
    assert f"run folder: {tmp_path / 'run'}" in header
    assert "completed: 1 epoch," in result.output
    # plain Keras needs builder's layers registered to reopen a run's model: the run says so
    assert f"reopen the model: import builder, keras; keras.models.load_model('{tmp_path / 'run' / 'model.keras'}')" \
        in result.output


def test_a_failed_start_leaves_no_run_folder(tmp_path):
    write_spec(tmp_path, IRIS_MLP.replace("shape: [4]", "shape: [5]"))
    result = CliRunner().invoke(main, ["train", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "expects samples of shape [5]" in result.output
    assert not (tmp_path / "run").exists()


def test_a_run_stopped_in_its_first_epoch_leaves_no_folder_and_says_nothing_was_saved(tmp_path):
    import keras

    from builder.training.run import TrainOptions, train

    class StopAtOnce(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            raise KeyboardInterrupt

    graph = graph_of(tmp_path, IRIS_MLP)
    with pytest.raises(KeyboardInterrupt) as stop:
        train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0, callbacks=[StopAtOnce()]))
    assert stop.value.args == ("",)   # the command line says "nothing was saved" for this
    assert not (tmp_path / "run").exists()


def test_out_never_writes_over_a_finished_run_or_other_files(tmp_path):
    run = train_spec(tmp_path, IRIS_MLP, epochs=1)
    before = run.history.read_text()
    result = CliRunner().invoke(main, ["train", str(tmp_path / "spec.yaml"), "--out", str(run.path)])
    assert result.exit_code == 1 and "this folder holds a completed run" in result.output
    assert run.history.read_text() == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["train", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "mine")])
    assert result.exit_code == 1 and "--out must be a new or empty folder" in result.output
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
