"""Bad input of every kind through every command: one clear message, the right exit code, no traceback.

Each case makes its files in a fresh folder, runs one command in-process and checks three things: the
exit code (1 for a bad input, 2 for a misused command line), the message, and that no Python traceback
and no "internal error" reached the user. The spec front end has its own corpus in tests/bad_specs/;
this one covers the rest: numbers and expressions, data files, predict inputs, run folders, outputs and
device files.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from spec_helpers import TESTS

from builder.cli import main

OLD_RUN = TESTS / "fixtures" / "run-fd2e3fd"   # a small trained run (iris, 4 features -> 3 classes)
SEARCH_SPEC = TESTS / "fixtures" / "search-fd2e3fd" / "spec.yaml"   # a spec with a search section

MLP = """\
name: mlp
params: {a: 1}
inputs: {x: {shape: [INPUT]}}
layers:
  - {type: Dense, units: UNITS, activation: relu}
  - {type: Dense, units: 2, activation: softmax}
train:
  data: DATA
  loss: sparse_categorical_crossentropy
  epochs: 1
"""


def spec(folder: Path, units="4", data="{source: builtin, name: iris}", input_shape="4", params="{a: 1}") -> Path:
    path = folder / "spec.yaml"
    path.write_text(MLP.replace("UNITS", units).replace("DATA", data).replace("INPUT", input_shape)
                    .replace("{a: 1}", params))
    return path


def npz(folder: Path, name="data.npz", **arrays) -> str:
    np.savez(folder / name, **arrays)
    return name


def numbers(n=10, width=4):
    return np.random.default_rng(0).random((n, width)).astype("float32")


def labels(n=10):
    return np.arange(n) % 2


TRAINED = """\
name: iris
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, units: 8, activation: relu}
  - {id: out, type: Dense, units: OUT, activation: softmax}
train:
  data: DATA
  optimizer: OPTIMIZER
  loss: LOSS
  metrics: [accuracy]
  epochs: 1
  EXTRA
"""


def _trained(folder: Path, optimizer="adam", loss="sparse_categorical_crossentropy", extra="seed: 0", units_out=3,
             data="{source: builtin, name: iris}") -> Path:
    path = folder / "spec.yaml"
    text = TRAINED.replace("OPTIMIZER", optimizer).replace("LOSS", loss).replace("EXTRA", extra)
    path.write_text(text.replace("OUT", str(units_out)).replace("DATA", data))
    return path


def _vocabulary_file(folder):
    (folder / "secretvocab").write_text("alpha\nbeta\n")   # Keras would read it into the model's assets
    path = folder / "spec.yaml"
    path.write_text("name: v\ninputs: {x: {shape: [1], dtype: string}}\n"
                    "layers: [{type: StringLookup, vocabulary: secretvocab}]\n")
    return path


def _gan_without_roles(folder):
    path = folder / "spec.yaml"
    path.write_text("name: g\nmodels:\n  gen: {inputs: {z: {shape: [4]}}, layers: [{type: Dense, units: 4}]}\n"
                    "  disc: {inputs: {x: {shape: [4]}}, layers: [{type: Dense, units: 1}]}\n"
                    "train: {kind: gan, data: {source: builtin, name: iris}}\n")
    return ["validate", path]


# --- each case: (id, setup(folder) -> command line, expected exit code, expected text) ---------------------

def _fifo(folder):
    os.mkfifo(folder / "spec.yaml")
    return ["validate", folder / "spec.yaml"]


def _outside(folder):
    (folder / "spec").mkdir()
    npz(folder, x=numbers(), y=labels())
    return ["train", spec(folder / "spec", data="{source: numpy, path: ../data.npz}"), "--out", folder / "run"]


def _symlink_out(folder):
    (folder / "spec").mkdir()
    npz(folder, x=numbers(), y=labels())
    os.symlink(folder / "data.npz", folder / "spec" / "data.npz")
    return ["train", spec(folder / "spec", data="{source: numpy, path: data.npz}"), "--out", folder / "run"]


def _data_fifo(folder):
    os.mkfifo(folder / "data.npz")
    return ["train", spec(folder, data="{source: numpy, path: data.npz}"), "--out", folder / "run"]


def _train_on(data_name, writer):
    def setup(folder):
        writer(folder / data_name)
        source = "numpy" if data_name.endswith((".npz", ".npy")) else "csv"
        extra = ", label: y" if source == "csv" else ""
        return ["train", spec(folder, data=f"{{source: {source}, path: {data_name}{extra}}}"), "--out", folder / "run"]
    return setup


def _truncated_npz(path):
    np.savez(path, x=numbers(), y=labels())
    path.write_bytes(path.read_bytes()[:150])


def _object_npy(path):
    np.savez(path, x=np.array([{"a": 1}] * 10, dtype=object), y=labels())


def _lying_header(path):
    import io

    from numpy.lib import format as npy

    header, y = io.BytesIO(), io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (999999999999, 4)})
    np.save(y, labels())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + numbers().tobytes())
        archive.writestr("y.npy", y.getvalue())


def _short_labels(path):
    np.savez(path, x=numbers(10), y=labels(9))


def _nan_feature(path):
    x = numbers()
    x[3, 1] = np.nan
    np.savez(path, x=x, y=labels())


def _latin1_csv(path):
    path.write_bytes("a,b,c,d,y\n1,2,3,4,caf\xe9\n".encode("latin-1"))


def _huge_field_csv(path):
    path.write_text("a,b,c,d,y\n" + "1,2,3," + "9" * 200_000 + ",x\n")


def _images(folder, data: bytes):
    for label in ("a", "b"):
        (folder / "pictures" / label).mkdir(parents=True)
        (folder / "pictures" / label / "0.png").write_bytes(data)
    return ["train", spec(folder, input_shape="6, 5, 1",
                          data="{source: images, path: pictures, image_size: [6, 5], color_mode: grayscale}"),
            "--out", folder / "run"]


def _bomb() -> bytes:
    """A 9,000 x 9,000 picture (81 M pixels) in a few kilobytes of PNG."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (9000, 9000)).save(out, "PNG")
    return out.getvalue()


def _bad_image(folder):
    for label in ("a", "b"):
        (folder / "pictures" / label).mkdir(parents=True)
        (folder / "pictures" / label / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return ["train", spec(folder, input_shape="6, 5, 1",
                          data="{source: images, path: pictures, image_size: [6, 5], color_mode: grayscale}"),
            "--out", folder / "run"]


def _old_run(folder) -> Path:
    run = folder / "run"
    shutil.copytree(OLD_RUN, run)
    return run


def _predict_with(name, content):
    def setup(folder):
        run = _old_run(folder)
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return ["predict", run, path, "-o", folder / "out.csv"]
    return setup


def _predict_to(output):
    def setup(folder):
        run = _old_run(folder)
        np.save(folder / "x.npy", numbers(3))
        return ["predict", run, folder / "x.npy", "-o", folder / output]
    return setup


def _damaged_run(damage):
    def setup(folder):
        run = _old_run(folder)
        damage(run)
        return ["evaluate", run]
    return setup


def _lambda_model(run):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    model.save(run / "model.keras")


def _zip_bomb(run):
    with zipfile.ZipFile(run / "model.keras", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b"{" + b" " * (3 * 2**30) + b"}")


def _existing_run(folder):
    run = _old_run(folder)
    return ["train", spec(folder), "--out", run]


def _schema_below_a_file(folder):
    (folder / "notes").write_text("")
    return ["schema", "-o", folder / "notes" / "spec.schema.json"]


CASES = [
    # numbers and expressions
    ("hex-integer-of-5000-digits", lambda f: ["validate", spec(f, units="0x" + "f" * 5000)], 1,
     "expected a positive integer. Received: units=inf"),
    ("infinity-through-int", lambda f: ["validate", spec(f, units='"${int(a)}"', params="{a: .inf}")], 1,
     "'int(a)' uses inf; arithmetic takes finite numbers"),
    ("nan-through-round", lambda f: ["validate", spec(f, units='"${round(a)}"', params="{a: .nan}")], 1,
     "'round(a)' uses nan"),
    ("huge-set-value", lambda f: ["validate", spec(f, units='"${a * 2}"'), "--set", "a=0o" + "7" * 3000], 1,
     "'a * 2' uses inf"),
    ("input-axis-of-2**120", lambda f: ["validate", spec(f, input_shape='"${a}"', params="{a: 0x" + "f" * 30 + "}")],
     1, "expected a positive integer up to 2,147,483,647 or null"),
    # train sections that validate passed and training refused with a traceback
    ("piecewise-with-too-few-values", lambda f: ["validate", _trained(f, optimizer="{type: sgd, learning_rate: "
                                                 "{type: piecewise, boundaries: [10, 20], values: [0.1]}}")], 1,
     "piecewise takes one more value than boundaries. Received: 2 boundaries and 1 values"),
    ("decay-rate-1e308", lambda f: ["validate", _trained(f, optimizer="{type: sgd, learning_rate: {type: exponential, "
                                    "decay_rate: 1.0e+308}}")], 1, "expected a number <= 1000000.0"),
    ("clipnorm-as-text", lambda f: ["validate", _trained(f, optimizer="{type: adam, clipnorm: x}")], 1,
     "expected a number > 0. Received: clipnorm='x'"),
    ("monitor-not-logged", lambda f: ["validate", _trained(f, extra="early_stopping: {monitor: val_auc}")], 1,
     "early_stopping.monitor names 'val_auc', which this run does not log"),
    ("metrics-for-no-output", lambda f: ["validate", _trained(f, loss="{nope: mean_squared_error}")], 1,
     "loss names 'nope', which is no output of model"),
    ("gan-without-its-networks", _gan_without_roles, 1, "kind gan needs a generator"),
    ("binary-loss-on-three-classes", lambda f: ["train", _trained(f, loss="binary_crossentropy", units_out=3),
                                                "--out", f / "run"], 1,
     "loss binary_crossentropy takes targets of the output's shape [3]"),
    ("labels-beyond-the-outputs", lambda f: ["train", _trained(f, units_out=2), "--out", f / "run"], 1,
     "the labels run to 2, but the model outputs 2 class scores"),
    ("no-sample-left-to-train", lambda f: ["train", _trained(f, data="{source: builtin, name: iris, "
                                           "validation_split: 0.9999}"), "--out", f / "run"], 1,
     "no sample is left to train on"),
    ("autoencoder-of-another-shape", lambda f: ["train", _trained(f, extra="kind: autoencoder", units_out=3),
                                                "--out", f / "run"], 1, "an autoencoder gives back its input"),
    ("ten-million-synthetic-pairs", lambda f: ["validate", _trained(
        f, data="{source: synthetic, task: copy, samples: 10000000}")], 1, "expected a number <= 1000000"),
    # files that are not regular files, and paths out of the spec's folder
    ("a-vocabulary-that-names-a-file", lambda f: ["validate", _vocabulary_file(f)], 1,
     "expected a list of tokens written in the spec (a text would be read as a file name)"),
    ("spec-is-a-fifo", _fifo, 1, "a FIFO; builder reads regular files only"),
    ("spec-is-a-device", lambda f: ["validate", "/dev/zero"], 1, "a device; builder reads regular files only"),
    ("data-outside-the-spec-folder", _outside, 1, "outside the spec's folder"),
    ("data-symlinked-out-of-the-folder", _symlink_out, 1, "outside the spec's folder"),
    ("data-is-a-fifo", _data_fifo, 1, "a FIFO; builder reads regular files only"),
    # data files
    ("truncated-npz", _train_on("data.npz", _truncated_npz), 1, "is damaged"),
    ("object-array", _train_on("data.npz", _object_npy), 1, "holds Python objects, which builder never unpickles"),
    ("header-claims-a-terabyte", _train_on("data.npz", _lying_header), 1, "claims shape [999999999999, 4]"),
    ("fewer-labels-than-samples", _train_on("data.npz", _short_labels), 1, "'x' has 10 samples but 'y' has 9"),
    ("a-nan-feature", _train_on("data.npz", _nan_feature), 1, "array 'x' has 1 NaN or infinite value"),
    ("latin-1-csv", _train_on("data.csv", _latin1_csv), 1, "not UTF-8 text: byte 0xe9 on line 2"),
    ("text-array", _train_on("data.npz", lambda p: np.savez(p, x=np.array(["a"] * 10), y=labels())), 1,
     "array 'x' holds <U1 values, not numbers"),
    ("empty-array", _train_on("data.npz", lambda p: np.savez(p, x=np.zeros((0, 4)), y=labels(0))), 1,
     "array 'x' has no samples (shape [0, 4])"),
    ("zero-d-array", _train_on("data.npz", lambda p: np.savez(p, x=np.float32(3), y=labels())), 1,
     "array 'x' has no samples (shape [])"),
    ("infinite-label", _train_on("data.npz", lambda p: np.savez(p, x=numbers(), y=np.full(10, np.inf))), 1,
     "array 'y' has 10 NaN or infinite values"),
    ("nan-in-a-csv-feature", _train_on("data.csv", lambda p: p.write_text("a,b,c,d,y\n1,2,nan,4,x\n1,2,3,4,y\n")),
     1, "the features has 1 NaN or infinite value"),
    ("empty-image", lambda f: _images(f, b""), 1, "not an image builder can read"),
    ("decompression-bomb", lambda f: _images(f, _bomb()), 1, "over the limit of 67,108,864"),
    ("200-kb-csv-field", _train_on("data.csv", _huge_field_csv), 1, "not a CSV file builder can read"),
    ("damaged-image", _bad_image, 1, "not an image builder can read"),
    # predict inputs and outputs
    ("predict-wrong-width", _predict_with("x.csv", "1,2,3\n4,5,6\n"), 1,
     "trained on 4 features per sample; this file gives 3"),
    ("predict-empty-csv", _predict_with("x.csv", ""), 1, "has no rows of numbers"),
    ("predict-ragged-csv", _predict_with("x.csv", "1,2,3,4\n1,2\n"), 1, "rows have different numbers of values"),
    ("predict-garbage-npy", _predict_with("x.npy", b"not numpy at all"), 1, "neither a .npy nor a .npz file"),
    ("predict-into-a-missing-folder", _predict_to("nowhere/out.csv"), 1, "no folder"),
    ("predict-to-a-text-file", _predict_to("out.txt"), 1, "write predictions to a .csv, .npy or .npz file"),
    # run folders
    ("run-json-not-json", _damaged_run(lambda r: (r / "run.json").write_text("{oops")), 1, "damaged: not JSON"),
    ("run-json-wrong-types", _damaged_run(lambda r: (r / "run.json").write_text('{"overrides": [1]}')), 1,
     "damaged: overrides should be a mapping"),
    ("model-truncated", _damaged_run(lambda r: (r / "model.keras").write_bytes((r / "model.keras").read_bytes()[:500])),
     1, "damaged: not a Keras model file"),
    ("model-empty", _damaged_run(lambda r: (r / "model.keras").write_bytes(b"")), 1, "damaged: not a Keras model file"),
    ("model-with-a-lambda", _damaged_run(_lambda_model), 1, "cannot open this model"),
    ("model-zip-bomb", _damaged_run(_zip_bomb), 1, "over the limit of"),
    ("not-a-run-folder", lambda f: ["evaluate", f], 1, "not a run folder"),
    # the command line
    ("set-without-equals", lambda f: ["validate", spec(f), "--set", "a"], 2, "expected NAME=VALUE"),
    ("train-spec-and-resume", lambda f: ["train", spec(f), "--resume", f], 2, "give a SPEC to train, or --resume"),
    ("train-over-an-existing-run", _existing_run, 1, "this folder holds a completed run"),
    ("build-into-proc", lambda f: ["build", spec(f), "-o", "/proc/builder-cannot-write-here"], 1,
     "/proc/builder-cannot-write-here: error: "),
    ("search-with-a-storage-url-of-nothing", lambda f: ["search", SEARCH_SPEC, "--trials", "1", "--storage",
                                                         "nonsense://x", "--out", f / "search"], 1,
     "--storage nonsense://x: cannot open the study there"),
    # (a missing folder is created: `builder schema -o .builder/spec.schema.json` in a fresh project)
    ("schema-into-proc", lambda f: ["schema", "-o", "/proc/builder-cannot-write-here/spec.schema.json"], 1,
     "/proc/builder-cannot-write-here: error: "),
    ("schema-below-a-file", _schema_below_a_file, 1, "notes is a file, not a folder"),
]


@pytest.mark.parametrize("case, setup, code, expected", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_is_one_clear_message(tmp_path, case, setup, code, expected):
    command = [str(part) for part in setup(tmp_path)]
    result = CliRunner().invoke(main, command)
    output = result.output
    assert result.exit_code == code, f"{command}\n{output}"
    assert expected in output, output
    assert "Traceback" not in output and "internal error" not in output, output


def test_a_bug_is_one_line_with_the_traceback_saved_and_exit_code_70(tmp_path, monkeypatch):
    import builder.graph

    def broken(*args, **kwargs):
        raise RuntimeError("something builder did not expect")

    monkeypatch.setattr(builder.graph, "load_graph", broken)
    result = CliRunner().invoke(main, ["validate", str(spec(tmp_path))])
    assert result.exit_code == 70
    [first, second] = result.stderr.strip().splitlines()
    assert first == ("builder: internal error, a bug in builder rather than in your input: RuntimeError: "
                     "something builder did not expect")
    saved = Path(second.split("the traceback is in ")[1].split(" ")[0])
    assert "Traceback (most recent call last)" in saved.read_text() and "something builder" in saved.read_text()
    saved.unlink()
    debug = CliRunner().invoke(main, ["--debug", "validate", str(spec(tmp_path))])
    assert isinstance(debug.exception, RuntimeError)   # --debug lets it through
