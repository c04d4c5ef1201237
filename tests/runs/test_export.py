"""`builder export`: a trained run's model, written by Keras' own `model.export`, gives the Keras model's
predictions when run outside Keras (ONNX in onnxruntime, the SavedModel in TensorFlow, LiteRT in
ai_edge_litert's interpreter, OpenVINO IR in OpenVINO), and a missing converter is one clean line.

One contract for a run's inputs: every export takes the data's own units (digit pixels 0..16 here), with
the run's transform built in, exactly as `builder predict` does; the tests feed both the same raw pixels."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

keras = pytest.importorskip("keras")

from spec_helpers import SPECS, graph_of  # noqa: E402

from builder.cli import main  # noqa: E402
from builder.runs import export as exporting  # noqa: E402

pytestmark = [pytest.mark.tensorflow_only,
              pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")]

TOLERANCE = 1e-4

DIGITS_CNN = """
name: digits-cnn
inputs: {image: {shape: [8, 8, 1]}}
layers:
  - {type: Conv2D, filters: 6, kernel_size: 3, activation: relu}
  - {type: BatchNormalization}
  - {type: Flatten}
  - {type: Dropout, rate: 0.2}
  - {id: probabilities, type: Dense, units: 10, activation: softmax}
train:
  data: {source: builtin, name: digits, image: true, validation_split: 0.2}
  optimizer: {type: adam, learning_rate: 1.0e-2}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 2
  batch_size: 64
  seed: 0
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CNN trained two epochs on digits; (run folder, validation images, the Keras model's predictions)."""
    from builder.training.run import TrainOptions, train
    from builder.training.run_folder import load_run_model, run_data

    folder = tmp_path_factory.mktemp("export")
    graph = graph_of(folder, DIGITS_CNN)
    run = train(graph, folder / "spec.yaml", TrainOptions(out=folder / "run", verbose=0))
    _, data = run_data(run)
    x = data.x_val[:64].astype("float32")   # what the model itself takes: pixels scaled to 0..1
    expected = load_run_model(run).predict(x, verbose=0)
    assert expected.shape == (64, 10)
    raw = np.round(x * 16).astype("float32")   # the data's own units, as a user has them
    return run, raw, expected


def export(run, fmt, output) -> str:
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", fmt, "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert f"wrote {output} ({fmt})" in result.output
    assert "inputs: image float32 (None, 8, 8, 1)" in result.output
    assert "units: in the data's own units: the data's own values (0..16 in training), multiplied by 0.0625" \
        in result.output
    return result.output


def test_onnx_runs_in_onnxruntime_with_the_keras_predictions(trained, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    run, x, expected = trained
    path = tmp_path / "digits.onnx"
    export(run, "onnx", path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    got = session.run(None, {given.name: x})[0]
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_saved_model_serves_in_tensorflow_with_the_keras_predictions(trained, tmp_path):
    tf = pytest.importorskip("tensorflow")
    run, x, expected = trained
    path = tmp_path / "saved"
    export(run, "saved_model", path)
    served = tf.saved_model.load(str(path))
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), expected, atol=TOLERANCE, rtol=0)
    signature = served.signatures["serving_default"]   # what TF Serving calls
    (out,) = signature(tf.constant(x)).values()
    np.testing.assert_allclose(out.numpy(), expected, atol=TOLERANCE, rtol=0)


def _litert_interpreter():
    """The class export's "run it with" line names for a .tflite file (ai_edge_litert's, from builder[litert])."""
    import importlib

    module, _, name = exporting.FORMATS["litert"].reopen.split("(", 1)[0].rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_litert_hint_names_an_installed_interpreter_and_the_extra_that_installs_it():
    import importlib.metadata
    import re

    from spec_helpers import ROOT

    tomllib = pytest.importorskip("tomllib")   # Python 3.11+

    interpreter = _litert_interpreter()
    [extra] = re.findall(r"pip install 'builder\[(\w+)\]'", exporting.FORMATS["litert"].reopen)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    distributions = importlib.metadata.packages_distributions()[interpreter.__module__.split(".")[0]]
    assert any(re.match(rf"{re.escape(dist)}\b", requirement, re.IGNORECASE)
               for dist in distributions for requirement in extras[extra])


def test_litert_runs_in_the_interpreter_its_hint_names_with_the_keras_predictions(trained, tmp_path):
    run, x, expected = trained
    path = tmp_path / "digits.tflite"
    export(run, "litert", path)
    interpreter = _litert_interpreter()(model_path=str(path))
    (given,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(given["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_openvino_runs_with_the_keras_predictions(trained, tmp_path):
    openvino = pytest.importorskip("openvino")
    run, x, expected = trained
    path = tmp_path / "ir" / "digits.xml"
    export(run, "openvino", path)
    assert path.with_suffix(".bin").exists()
    # OpenVINO compiles for bfloat16 by default on CPUs with AVX512-BF16; the check is of float32 parity.
    compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled(x)[compiled.output(0)]
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_keras_format_reopens_with_the_same_predictions(trained, tmp_path):
    run, x, expected = trained
    path = tmp_path / "copy.keras"
    export(run, "keras", path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), expected, atol=1e-6)


def test_predict_takes_the_units_every_export_takes(trained, tmp_path):
    """The same raw pixels through `builder predict` and through the exports give the same classes (each export
    test above checks its outputs against the Keras model's `expected`)."""
    run, raw, expected = trained
    np.save(tmp_path / "raw.npy", raw)
    result = CliRunner().invoke(main, ["predict", str(run.path), str(tmp_path / "raw.npy"), "-o",
                                       str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    rows = (tmp_path / "p.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == expected.argmax(axis=1).tolist()


def test_predict_warns_of_inputs_already_scaled(trained, tmp_path):
    run, raw, _ = trained
    np.save(tmp_path / "scaled.npy", raw / 16)
    result = CliRunner().invoke(main, ["predict", str(run.path), str(tmp_path / "scaled.npy"), "-o",
                                       str(tmp_path / "p.npy")])
    assert result.exit_code == 0, result.output
    assert "these inputs run 0..1, which looks already transformed: the run's inputs are the data's own values " \
           "(0..16 in training), multiplied by 0.0625 as training did, and predict applies that itself" in result.output


def test_no_transform_exports_the_bare_model_and_says_its_units(trained, tmp_path):
    run, raw, expected = trained
    path = tmp_path / "bare.keras"
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", "keras", "-o", str(path),
                                       "--no-transform"])
    assert result.exit_code == 0, result.output
    assert "units: already transformed: the training data was the data's own values (0..16 in training), " \
           "multiplied by 0.0625" in result.output
    np.testing.assert_allclose(keras.models.load_model(path).predict(raw / 16, verbose=0), expected, atol=1e-6)


def test_default_output_is_under_the_run_folder(trained):
    run, _, _ = trained
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert (run.path / "export" / "model.onnx").stat().st_size > 0


@pytest.mark.parametrize("spec, overrides", [
    ("vit", {"depth": 1, "embed_dim": 16, "heads": 2, "mlp_dim": 32}),
    ("swin", {"dim": 8, "head_dim": 4}),
    ("mlp_mixer", {"hidden": 8, "depth": 1, "tokens_mlp_dim": 8, "channels_mlp_dim": 16}),
])
def test_vision_transformers_export_to_onnx(spec, overrides, tmp_path):
    """Builder's own layers (patches, class token, positions, encoder blocks, shifted windows, patch merging) and
    exact GELU (TensorFlow writes it with Erfc, which tf2onnx cannot convert unaided) run in onnxruntime."""
    onnxruntime = pytest.importorskip("onnxruntime")
    from builder.graph import load_graph
    from builder.model.compile import compile_graph

    model = compile_graph(load_graph(str(SPECS / f"{spec}.yaml"), overrides))[spec]
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = exporting.export_model(model, "onnx", tmp_path / f"{spec}.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


TINY_CNN = """
name: tiny_cnn
inputs: {image: {shape: [8, 8, 1]}}
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
  - {type: BatchNormalization}
  - {type: MaxPooling2D}
  - {type: Flatten}
  - {id: probabilities, type: Dense, units: 10, activation: softmax}
"""

ON_TORCH = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "torch"
    from pathlib import Path
    import numpy as np, keras, onnxruntime
    from builder.graph import load_graph
    from builder.model.compile import compile_graph
    from builder.runs.export import export_model
    model = compile_graph(load_graph(sys.argv[1], {}))["tiny_cnn"]
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = export_model(model, "onnx", Path(sys.argv[2]))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    print("max difference", float(np.abs(got - expected).max()))
""")


def test_onnx_export_on_the_torch_backend(tmp_path):
    """The PyTorch route (torch.onnx through Keras), in a process whose Keras runs on torch. A CNN only: with Keras
    3.15 and torch 2.13, torch.onnx fails on LayerNormalization (so on every transformer); TensorFlow is the route."""
    for module in ("torch", "onnxscript", "onnxruntime"):
        pytest.importorskip(module)
    spec = tmp_path / "tiny_cnn.yaml"
    spec.write_text(textwrap.dedent(TINY_CNN).lstrip())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", ON_TORCH, str(spec), str(tmp_path / "cnn.onnx")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    difference = float(proc.stdout.split("max difference")[1])
    assert difference < TOLERANCE


# --- errors: one line, exit 1, no traceback ---------------------------------------------------------------

BLOCKED = textwrap.dedent("""
    import sys
    sys.modules["tf2onnx"] = None      # as if `pip install 'builder[onnx]'` had never run
    from builder.cli import main
    main(["export", sys.argv[1], "--format", "onnx", "-o", sys.argv[2]])
""")


def test_missing_converter_names_the_extra_to_install(trained, tmp_path):
    run, _, _ = trained
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", BLOCKED, str(run.path), str(tmp_path / "m.onnx")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Error: onnx export on tensorflow needs tf2onnx, which is not installed; " \
           "install it with: pip install 'builder[onnx]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_the_command_line_offers_exactly_the_formats_export_knows():
    from builder.cli import main

    [option] = [p for p in main.commands["export"].params if p.name == "fmt"]
    assert list(option.type.choices) == list(exporting.FORMATS) == ["keras", "saved_model", "onnx", "litert",
                                                                     "openvino"]


def test_a_backend_that_cannot_write_the_format_is_named():
    with pytest.raises(exporting.ExportError, match="litert export does not run on the jax backend; "
                                                    "use --backend tensorflow or --backend torch"):
        exporting.check_converter("litert", "jax")


def test_an_output_with_the_wrong_suffix_is_refused_quoting_it(trained, tmp_path):
    run, _, _ = trained
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", "onnx", "-o", str(tmp_path / "m.txt")])
    assert result.exit_code == 1
    assert f"onnx exports are files ending in .onnx. Received: -o '{tmp_path / 'm.txt'}'" in result.output
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", "saved_model",
                                       "-o", str(tmp_path / "m.pb")])
    assert result.exit_code == 1 and "saved_model exports are folders, not files" in result.output


def test_a_folder_that_is_not_a_run_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path), "--format", "keras"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "not a run folder" in result.output


def test_an_unknown_model_of_the_run_lists_the_ones_it_has(trained, tmp_path):
    run, _, _ = trained
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", "keras", "--model", "generator",
                                       "-o", str(tmp_path / "g.keras")])
    assert result.exit_code == 1
    assert "this run has no model 'generator'" in result.output and "choose one of digits_cnn" in result.output
