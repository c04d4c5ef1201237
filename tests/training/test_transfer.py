"""Transfer learning and augmentation: train.init, trainable/freeze, phases (and resuming them), class
selection, train.augment and `builder augment`, and the digits 0-4 -> 5-9 experiment."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("keras")

from spec_helpers import SPECS as LIBRARY  # noqa: E402
from spec_helpers import graph_of, write_spec  # noqa: E402

from builder.cli import main  # noqa: E402
from builder.errors import SpecError  # noqa: E402
from builder.training.run_folder import read_history  # noqa: E402

SPECS = LIBRARY / "transfer"

MLP = """
name: mlp
inputs: {x: {shape: [64]}}
layers:
  - {id: hidden, type: Dense, units: 16, activation: relu}
  - {id: norm, type: BatchNormalization}
  - {id: features, type: Dense, units: 8, activation: relu}
  - {id: head, type: Dense, units: CLASSES, activation: softmax}
train:
  data: {source: builtin, name: digits, classes: [0, 1, 2]}
  metrics: [accuracy]
  epochs: 2
  batch_size: 64
  seed: 0
TRAIN_EXTRA
"""


def mlp(classes: int = 3, extra: str = "") -> str:
    return MLP.replace("CLASSES", str(classes)).replace("TRAIN_EXTRA", extra)


def train_text(folder: Path, text: str, name: str = "run", **options):
    from builder.training.run import TrainOptions, train

    folder.mkdir(parents=True, exist_ok=True)
    graph = graph_of(folder, text)
    return train(graph, folder / "spec.yaml", TrainOptions(out=folder / name, verbose=0, diagram=False, **options))


def weights_of(run, node: str) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(run.model).get_layer(node).get_weights()


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    return train_text(tmp_path_factory.mktemp("source"), mlp())


# --- the spec -------------------------------------------------------------------------------------

def test_a_frozen_block_freezes_every_layer_of_every_repeat(tmp_path):
    graph = graph_of(tmp_path, """
        name: frozen-block
        inputs: {x: {shape: [4]}}
        blocks:
          mlp: {layers: [{id: a, type: Dense, units: 4}, {id: b, type: Dense, units: 4, trainable: true}]}
        layers:
          - {block: mlp, id: body, repeat: 2, trainable: false}
          - {id: head, type: Dense, units: 2}
    """)
    nodes = graph.models[graph.main].nodes
    assert [nodes[n].args.get("trainable") for n in ("body_1.a", "body_1.b", "body_2.a", "body_2.b", "head")] == \
        [False, False, False, False, None]


@pytest.mark.parametrize("extra, message", [
    ("  phases: [{epochs: 1}]\n  freeze: {until: hidden}", "give `freeze` inside each phase"),
    ("  phases: [{epochs: 1}]", "each phase gives its own epochs"),   # beside `epochs: 2`
    ("  augment: [{type: Dense, units: 3}]", "train.augment takes Keras preprocessing layers"),
    ("  augment: [{type: RandomRotaton, factor: 0.1}]", "did you mean 'RandomRotation'"),
    ("  augment: [{type: RandomRotation, factr: 0.1}]", "RandomRotation has no argument 'factr'"),
    ("  init: {from: 'https://example.com/w.keras'}", "expected a local path, not a URL"),
])
def test_bad_transfer_keys_are_located_errors(tmp_path, extra, message):
    text = mlp().replace("  epochs: 2\n", "") if "freeze" in extra else mlp()
    text = text.replace("TRAIN_EXTRA", "").rstrip() + "\n" + extra + "\n"
    with pytest.raises(SpecError) as error:
        graph_of(tmp_path, text)
    text_out = "\n".join(p.format() for p in error.value.problems)
    assert message in text_out and "spec.yaml:" in text_out


def test_validate_finds_unknown_freeze_targets_and_init_map_keys(tmp_path):
    """What `builder train` would find only after loading data, `builder validate` reports at the name."""
    extra = ("  init: {from: not/trained/yet, map: {featurs: features, head: null}}\n"
             "  phases:\n"
             "    - {epochs: 1, freeze: {until: norm}}\n"
             "    - {epochs: 1, freeze: {until: hiden}}")
    spec = write_spec(tmp_path, mlp(extra=extra).replace("  epochs: 2\n", ""))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert result.output == (
        f"{spec}:13:39: error: init.map names 'featurs', which is no layer node of model 'mlp'\n"
        "  hint: did you mean 'features'?\n"
        f"{spec}:16:35: error: freeze.until names 'hiden', which is no node or block instance of model 'mlp'\n"
        "  hint: did you mean 'hidden'?\n"
        "2 errors\n")
    spec = write_spec(tmp_path, mlp(extra="  freeze: {until: featres}"))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.output == (
        f"{spec}:14:19: error: freeze.until names 'featres', which is no node or block instance of model 'mlp'\n"
        "  hint: did you mean 'features'?\n"
        "1 error\n")


def test_freeze_targets_may_be_block_instances_and_init_map_keys_inner_nodes(tmp_path):
    graph = graph_of(tmp_path, """
        name: blocks
        inputs: {x: {shape: [4]}}
        blocks:
          mlp: {layers: [{id: a, type: Dense, units: 4}]}
        layers:
          - {block: mlp, id: body, repeat: 2}
          - {id: head, type: Dense, units: 2}
        train:
          init: {from: elsewhere, map: {body_2.a: body_1.a}}
          phases:
            - {epochs: 1, freeze: {until: body}}      # every repeat of the use
            - {epochs: 1, freeze: {until: body_1}}    # one repeat
            - {epochs: 1, freeze: {until: body_2.a}}  # a node inside one
    """)
    from builder.training.transfer import frozen_nodes

    assert frozen_nodes(graph, "body") == frozen_nodes(graph, "body_2.a") == {"x", "body_1.a", "body_2.a"}
    assert frozen_nodes(graph, "body_1") == {"x", "body_1.a"}


def test_per_class_and_validation_split_do_not_go_together(tmp_path):
    with pytest.raises(SpecError, match="validation_split does not apply"):
        graph_of(tmp_path, mlp().replace("classes: [0, 1, 2]}", "classes: [0, 1, 2], per_class: 5, "
                                                                   "validation_split: 0.1}"))


# --- data: classes and per_class -------------------------------------------------------------------

def test_classes_are_selected_and_relabelled_and_per_class_keeps_the_rest_for_validation(tmp_path):
    from builder.errors import Location
    from builder.language.spec import BuiltinData
    from builder.training.data import load_data

    spec = BuiltinData(source="builtin", name="digits", image=True, classes=[7, 5], per_class=20)
    data = load_data(spec, tmp_path, Location("x"), seed=3)
    assert data.classes == ["7", "5"]
    assert np.bincount(data.y_train).tolist() == [20, 20]
    import sklearn.datasets

    digits = sklearn.datasets.load_digits()
    total = int(np.sum(np.isin(digits.target, [5, 7])))
    assert len(data.y_val) == total - 40 and set(data.y_val.tolist()) == {0, 1}
    # relabelled: class 0 is the digit 7 (its mean image is that of the 7s)
    sevens = digits.images[digits.target == 7].mean(axis=0) / 16
    assert np.allclose(data.x_val[data.y_val == 0][..., 0].mean(axis=0), sevens, atol=0.05)
    again = load_data(spec, tmp_path, Location("x"), seed=3)
    assert np.array_equal(again.x_train, data.x_train)          # the seed fixes the 20 per class

    with pytest.raises(SpecError, match=r"no sample of 12"):
        load_data(BuiltinData(source="builtin", name="digits", classes=[1, 12]), tmp_path, Location("x"))
    with pytest.raises(SpecError, match=r"fewer than per_class"):
        load_data(BuiltinData(source="builtin", name="iris", per_class=60), tmp_path, Location("x"))


# --- init -------------------------------------------------------------------------------------------------

def test_init_from_a_run_loads_matching_nodes_reports_the_rest_and_records_it(tmp_path, source_run, capsys):
    extra = f"  init: {{from: {source_run.path}, map: {{features: null}}}}"
    run = train_text(tmp_path, mlp(classes=4, extra=extra).replace("classes: [0, 1, 2]", "classes: [0, 1, 2, 3]")
                     .replace("epochs: 2", "epochs: 1"))
    summary = json.loads(run.summary.read_text())
    assert summary["init"]["loaded"] == ["hidden", "norm"]
    assert summary["init"]["skipped"] == ["features"]
    assert summary["init"]["mismatched"] == [{"node": "head", "source": "head", "shapes": [[8, 4], [4]],
                                              "source_shapes": [[8, 3], [3]]}]
    printed = capsys.readouterr().out
    assert "init: 2 nodes loaded" in printed and "head not loaded: shapes" in printed


def test_loaded_weights_are_the_source_weights(tmp_path, source_run):
    import keras

    from builder.errors import Location
    from builder.model.compile import compile_graph
    from builder.training.transfer import load_initial_weights

    graph = graph_of(tmp_path, mlp())
    model = compile_graph(graph)["mlp"]
    source = keras.models.load_model(source_run.model)
    for path in (source_run.path, source_run.model):          # a run folder, a .keras file
        report = load_initial_weights(graph, model, graph.spec.train.init, path, lambda *p: Location("x"), 10**9)
        assert report.loaded == ["hidden", "norm", "features", "head"]
        for name in report.loaded:
            for mine, theirs in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
                np.testing.assert_array_equal(mine, theirs)
    weights = tmp_path / "only.weights.h5"
    source.save_weights(weights)                             # a .weights.h5 of the same spec
    fresh = compile_graph(graph)["mlp"]
    report = load_initial_weights(graph, fresh, None, weights, lambda *p: Location("x"), 10**9)
    assert report.loaded == ["hidden", "norm", "features", "head"]
    np.testing.assert_array_equal(fresh.get_layer("head").get_weights()[0], source.get_layer("head").get_weights()[0])


def test_init_errors_are_located(tmp_path, source_run):
    with pytest.raises(SpecError) as error:
        train_text(tmp_path / "a", mlp(extra="  init: {from: no/such/run}"))
    problem = error.value.problems[0]
    assert "no such file or run folder" in problem.message and problem.location.line == 14
    with pytest.raises(SpecError) as error:
        train_text(tmp_path / "b", mlp(extra=f"  init: {{from: {source_run.path}, map: {{featurs: features}}}}"))
    assert "init.map names 'featurs'" in error.value.problems[0].message
    assert "did you mean 'features'" in (error.value.problems[0].hint or "")
    with pytest.raises(SpecError, match="which is no layer of the source"):
        train_text(tmp_path / "c", mlp(extra=f"  init: {{from: {source_run.path}, map: {{head: nope}}}}"))
    other = tmp_path / "other.weights.h5"
    import keras

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(other)
    with pytest.raises(SpecError, match="cannot load"):
        train_text(tmp_path / "d", mlp(extra=f"  init: {{from: {other}}}"))


def test_init_on_the_command_line_overrides_the_spec(tmp_path, source_run):
    spec = write_spec(tmp_path, mlp(extra="  init: {from: not/there}").replace("epochs: 2", "epochs: 1"))
    result = CliRunner().invoke(main, ["train", str(spec), "--out", str(tmp_path / "run"),
                                       "--init", str(source_run.path)])
    assert result.exit_code == 0, result.output
    assert "init: 4 nodes loaded" in result.output
    result = CliRunner().invoke(main, ["train", str(spec), "--out", str(tmp_path / "run2")])
    assert result.exit_code == 1 and "spec.yaml:14:" in result.output and "no such file or run folder" in result.output


# --- freezing and phases ------------------------------------------------------------------------------------

def test_frozen_nodes_keep_their_weights_and_batchnorm_its_statistics(tmp_path, source_run):
    extra = f"  init: {{from: {source_run.path}}}\n  freeze: {{until: norm}}"
    run = train_text(tmp_path, mlp(extra=extra))
    for node in ("hidden", "norm"):        # norm: gamma, beta and the moving mean and variance
        for after, before in zip(weights_of(run, node), weights_of(source_run, node)):
            np.testing.assert_array_equal(after, before)
    for node in ("features", "head"):
        assert not np.array_equal(weights_of(run, node)[0], weights_of(source_run, node)[0])
    summary = json.loads(run.summary.read_text())
    assert summary["phases"][0]["frozen"] == ["hidden", "norm"]


def test_a_bad_freeze_target_is_a_located_error(tmp_path):
    with pytest.raises(SpecError) as error:
        train_text(tmp_path, mlp(extra="  freeze: {until: featres}"))
    problem = error.value.problems[0]
    assert "freeze.until names 'featres'" in problem.message and "features" in problem.hint
    assert problem.location.line == 14


PHASES = """
  phases:
    - {epochs: 2, freeze: {until: features}, learning_rate: 1.0e-2}
    - {epochs: 2, learning_rate: 1.0e-4}"""


def test_phases_run_in_one_folder_with_a_phase_column(tmp_path, source_run):
    run = train_text(tmp_path, mlp(extra=f"  init: {{from: {source_run.path}, map: {{head: null}}}}" + PHASES)
                     .replace("  epochs: 2\n", ""))
    with run.history.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["epoch"], r["phase"]) for r in rows] == [("1", "1"), ("2", "1"), ("3", "2"), ("4", "2")]
    summary = json.loads(run.summary.read_text())
    assert [p["learning_rate"] for p in summary["phases"]] == [0.01, 0.0001]
    assert summary["status"] == "completed" and summary["epochs"] == 4
    assert [p["frozen"] for p in summary["phases"]] == [["hidden", "norm", "features"], []]
    assert not run.backup.exists()


def test_each_phase_trains_at_its_own_learning_rate(tmp_path):
    """Restoring the backup at a phase's start loads the optimizer's variables, the rate among them: the rate of
    the phase before must not come back (with nothing frozen, the optimizer's variables match and do load)."""
    from builder.training.run_folder import load_run_model

    phases = "\n  phases:\n    - {epochs: 1, learning_rate: 2.0e-2}\n    - {epochs: 1, learning_rate: 5.0e-3}"
    run = train_text(tmp_path, mlp(extra=phases).replace("  epochs: 2\n", ""))
    assert float(load_run_model(run).optimizer.learning_rate) == pytest.approx(5e-3)


def test_a_run_interrupted_in_its_second_phase_resumes_in_that_phase(tmp_path, monkeypatch):
    from builder.training import run as training
    from builder.training.run_folder import RunFolder

    original = training.HistoryLog.on_epoch_end

    def stop_after_epoch_3(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 2:
            raise KeyboardInterrupt()

    monkeypatch.setattr(training.HistoryLog, "on_epoch_end", stop_after_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_text(tmp_path, mlp(extra=PHASES).replace("  epochs: 2\n", ""))
    monkeypatch.setattr(training.HistoryLog, "on_epoch_end", original)
    run = RunFolder(tmp_path / "run")
    assert len(read_history(run.history)) == 3
    training.resume(run, training.TrainOptions(verbose=0, diagram=False))
    history = read_history(run.history)
    assert [(int(r["epoch"]), int(r["phase"])) for r in history] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed"
    assert [p["phase"] for p in summary["phases"]] == [2]     # the resumed process ran phase 2 only


# --- augmentation --------------------------------------------------------------------------------------------

AUGMENTED = """
name: augmented
inputs: {image: {shape: [8, 8, 1]}}
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
  - {type: Flatten}
  - {id: probabilities, type: Dense, units: 10, activation: softmax}
train:
  data: {source: builtin, name: digits, image: true}
  augment:
    - {type: RandomRotation, factor: 0.1}
    - {type: RandomTranslation, height_factor: 0.1, width_factor: 0.1}
  metrics: [accuracy]
  epochs: 1
  seed: 0
"""


def test_augmentation_changes_training_batches_only(tmp_path):
    from builder.errors import Location
    from builder.training import backends
    from builder.training.augment import augmentation
    from builder.training.run import fit_arguments

    graph = graph_of(tmp_path, AUGMENTED)
    x = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    y = np.arange(8)
    pipeline = augmentation(graph.spec.train.augment, 0, lambda i: Location("x"))
    arguments = backends.adapter().augment_training(fit_arguments(x, y, x, y, 8, False, 0), pipeline)
    train_x = np.concatenate([np.asarray(b[0]) for b in arguments["x"]])
    val_x = np.concatenate([np.asarray(b[0]) for b in arguments["validation_data"]])
    assert train_x.shape == x.shape and not np.allclose(train_x, x)
    np.testing.assert_array_equal(val_x, x)


def test_training_with_augmentation_records_it_and_saves_the_plain_model(tmp_path):
    run = train_text(tmp_path, AUGMENTED)
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["augment"] == ["RandomRotation", "RandomTranslation"]
    import keras

    assert not any("Random" in type(layer).__name__ for layer in keras.models.load_model(run.model).layers)


def test_builder_augment_draws_a_grid(tmp_path):
    spec = write_spec(tmp_path, AUGMENTED)
    result = CliRunner().invoke(main, ["augment", str(spec), "-o", str(tmp_path / "grid.png"), "-n", "3",
                                       "--copies", "4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid.png").stat().st_size > 5000
    plain = write_spec(tmp_path, AUGMENTED.split("  augment:")[0] + "  epochs: 1\n", "plain.yaml")
    result = CliRunner().invoke(main, ["augment", str(plain), "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 1 and "no train.augment" in result.output


MIXUP = AUGMENTED.replace("    - {type: RandomTranslation, height_factor: 0.1, width_factor: 0.1}\n",
                          "    - {type: MixUp, alpha: 0.4}\n")   # entry 1, on line 11


@pytest.mark.parametrize("change, message, hint", [
    ("  seed: 0", "MixUp mixes class labels; this run's targets are not class labels. Received: kind='autoencoder'",
     "MixUp and CutMix train classifiers (kind: supervised)"),
    ("  loss: mean_squared_error", "MixUp mixes class labels; this run's loss is not a classification loss. "
     "Received: loss='mean_squared_error'", "use loss: sparse_categorical_crossentropy (integer labels)"),
    ("  loss: {probabilities: sparse_categorical_crossentropy}",
     "MixUp mixes the class labels of one output; this run's loss names 1 outputs", None),
])
def test_validate_refuses_mixup_where_the_targets_are_no_class_labels(tmp_path, change, message, hint):
    text = MIXUP.replace("  seed: 0", change + "\n  seed: 0") if "loss" in change else \
        MIXUP.replace("  data: {", "  kind: autoencoder\n  data: {")
    spec = write_spec(tmp_path, text)
    result = CliRunner().invoke(main, ["validate", str(spec)])
    line = 11 if "loss" in change else 12     # `kind:` comes before the entry
    assert result.exit_code == 1 and result.output.startswith(f"{spec}:{line}:14: error: {message}\n"), result.output
    assert hint is None or f"  hint: {hint}" in result.output


@pytest.mark.parametrize("entry, message", [
    ("{type: MixUp, alpha: 0}", "expected a number > 0. Received: alpha=0"),
    ("{type: CutMix, factor: 1.5}", "expected a number in [0, 1], or a pair [low, high] with 0 <= low <= high <= 1. "
                                    "Received: factor=1.5"),
    ("{type: CutMix, factor: [0.8, 0.2]}", "Received: factor=[0.8, 0.2]"),
    ("{type: CutMix, alpha: 1.0}", "CutMix has no argument 'alpha'"),   # Keras' CutMix names it factor
])
def test_mixing_arguments_are_checked_like_any_layer_argument(tmp_path, entry, message):
    with pytest.raises(SpecError) as error:
        graph_of(tmp_path, MIXUP.replace("{type: MixUp, alpha: 0.4}", entry))
    assert message in error.value.problems[0].message and error.value.problems[0].location.line == 11


@pytest.mark.parametrize("change, message", [
    (("name: digits, image: true}", "name: digits}"),
     "CutMix pastes boxes between images; this run's inputs are [64]"),
    (("units: 10, activation: softmax", "units: 4, activation: softmax"),
     "MixUp mixes class labels; this run's labels run from 0 to 9, and the model's output has 4 classes"),
    (("  data: {source: builtin, name: digits, image: true}", "  data: {source: numpy, path: scores.npz}"),
     "MixUp mixes class labels; this run's targets are float32 values of shape [], not class labels"),
])
def test_training_refuses_mixing_what_is_no_classifier_data_at_the_entry(tmp_path, change, message):
    x = np.random.default_rng(0).random((40, 8, 8, 1)).astype("float32")
    np.savez(tmp_path / "scores.npz", x=x, y=x.mean(axis=(1, 2, 3)))
    text = MIXUP.replace(*change)
    if "CutMix" in message:
        text = text.replace("{type: MixUp, alpha: 0.4}", "{type: CutMix}").replace("image: {shape: [8, 8, 1]}",
                                                                                  "image: {shape: [64]}") \
            .replace("  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}\n  - {type: Flatten}\n", "")
    with pytest.raises(SpecError) as error:
        train_text(tmp_path, text)
    problem = error.value.problems[0]
    assert problem.message == message
    assert (problem.location.line, problem.location.column) == (11 if "CutMix" not in message else 9, 14)


def test_builder_augment_draws_mixed_images(tmp_path):
    spec = write_spec(tmp_path, MIXUP.replace("{type: MixUp, alpha: 0.4}", "{type: CutMix}"))
    result = CliRunner().invoke(main, ["augment", str(spec), "-o", str(tmp_path / "grid.png"), "-n", "4",
                                       "--copies", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid.png").stat().st_size > 5000


# --- the experiment ------------------------------------------------------------------------------------------

def test_the_body_of_the_digits_0_to_4_network_arrives_trained(tmp_path):
    """specs/transfer/: the 0-4 network's body, frozen up to `features`, under a fresh head trained on 20
    images per class. On the digits 0-4 the loaded body classifies at once (a random body: about 85%),
    so init carried the trained weights and the frozen BatchNormalization kept its statistics. On the
    digits 5-9 the same body does not beat a network trained from scratch on those 100 images: see
    bench/results/transfer_digits.md for the figures over three seeds."""
    source = train_text(tmp_path / "source", (SPECS / "digits_0to4.yaml").read_text())
    finetune = (SPECS / "digits_5to9_finetune.yaml").read_text()
    phases = finetune[finetune.index("  phases:\n"):finetune.index("  optimizer:")]
    probe = finetune.replace(phases, "  phases:\n    - {epochs: 10, freeze: {until: features}, learning_rate: 1.0e-2}\n")
    probe = probe.replace("classes: [5, 6, 7, 8, 9]", "classes: [0, 1, 2, 3, 4]")
    run = train_text(tmp_path / "probe", probe, init_path=source.path)
    summary = json.loads(run.summary.read_text())
    assert summary["init"]["loaded"] == ["conv1", "bn1", "conv2", "features"]
    assert summary["samples"]["train"] == 100
    assert summary["final"]["val_accuracy"] > 0.97, summary["final"]


# --- a pretrained base as a node ------------------------------------------------------------------------

APPLICATION = """
name: pretrained
inputs: {image: {shape: [32, 32, 3]}}
layers:
  - {id: base, type: Application, architecture: MobileNetV3Small, weights: none, pooling: avg, trainable: false}
  - {id: head, type: Dense, units: 3, activation: softmax}
"""


def test_the_closed_list_of_applications_is_keras_own():
    import keras

    from builder.language.applications import APPLICATIONS

    installed = {n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n))}
    assert set(APPLICATIONS) == installed


def test_an_application_node_builds_for_its_input_and_freezes_whole(tmp_path):
    from spec_helpers import build

    graph, models = build(tmp_path, APPLICATION)
    model = models[graph.main]
    base = model.get_layer("base")
    assert model.output_shape == (None, 3) and base.output.shape == (None, 576)
    assert [w.path for w in model.trainable_weights] == ["head/kernel", "head/bias"]
    import keras

    norms = [layer for layer in base.network._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)      # inference mode while frozen
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_a_failed_imagenet_download_is_a_located_error(tmp_path, monkeypatch):
    import keras
    from spec_helpers import build

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -3] no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)   # what keras.applications call
    with pytest.raises(SpecError) as error:
        build(tmp_path, APPLICATION.replace("weights: none", "weights: imagenet"))
    problem = error.value.problems[0]
    assert problem.location.line == 4
    assert "could not download the ImageNet weights of MobileNetV3Small: offline, use weights: none" in problem.message


def test_a_misspelt_application_gets_a_did_you_mean(tmp_path):
    with pytest.raises(SpecError) as error:
        graph_of(tmp_path, APPLICATION.replace("MobileNetV3Small", "MobilenetV2"))
    assert "Received: architecture='MobilenetV2'" in error.value.problems[0].message
    assert "MobileNetV2" in error.value.problems[0].hint
