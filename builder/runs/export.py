"""Exporting a run's model for serving without builder: one entry point, `export_run`.

    builder export RUN --format keras|saved_model|onnx|litert|openvino [-o PATH]

Every format but `keras` goes through Keras' own `model.export`, so what
converts is what Keras supports (TensorFlow SavedModel, ONNX through
`tf2onnx` on TensorFlow, `jax2onnx` on JAX and `torch.onnx` on PyTorch,
LiteRT through TensorFlow's converter, OpenVINO IR); `keras` writes a plain
`.keras` file. On PyTorch, Keras 3.15's ONNX route fails on
LayerNormalization, so transformers export from TensorFlow
(tests/test_export.py checks both routes). The exported artifact computes
the model's forward pass in inference mode on inputs as the model takes
them (for images from `train.data`, pixels scaled as in training:
`builder predict` does that scaling, an exported model does not).

The converters are optional packages. Which one a format needs on the
running backend is looked up in `FORMATS` before anything is converted, so a
missing one is a one-line `ExportError` naming the extra to install
(`pip install 'builder[onnx]'`), never a traceback from deep inside Keras.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

from builder.errors import CommandError, Location, SpecError
from builder.model.inspect import shape_text

EXPORT_FOLDER = "export"   # default outputs go to RUN/export/


class ExportError(CommandError):
    """A format that cannot be written here: converter not installed, wrong backend, bad path, or the
    converter's own refusal. Its message is one line naming the fix; the command line prints `Error: ...`."""


@dataclass(frozen=True)
class Converter:
    """What writes a format on one backend: the modules it imports, and the command that installs them."""

    modules: tuple[str, ...] = ()
    install: str = ""


ONNX = "pip install 'builder[onnx]'"
OPENVINO = "pip install 'builder[openvino]'"


@dataclass(frozen=True)
class Format:
    """One export format.

    keras_format: the name `model.export` knows it by; None writes a `.keras` file with `model.save`.
    default_name: where it goes under RUN/export/ when no `-o` is given.
    suffix: what an `-o` path must end with (None: a folder).
    converters: backend -> its `Converter`; a backend missing here cannot write the format at all.
    reopen: how to run the result, for the message after writing it.
    """

    keras_format: str | None
    default_name: str
    suffix: str | None
    converters: dict[str, Converter]
    reopen: str


EVERY_BACKEND = ("tensorflow", "jax", "torch")
TENSORFLOW = Converter(("tensorflow",), "pip install tensorflow")

FORMATS: dict[str, Format] = {
    "keras": Format(None, "model.keras", ".keras", {b: Converter() for b in EVERY_BACKEND},
                    "keras.models.load_model(PATH) after `import builder`"),
    "saved_model": Format("tf_saved_model", "saved_model", None, {b: TENSORFLOW for b in EVERY_BACKEND},
                          "m = tf.saved_model.load(PATH); m.serve(x)  (keep m: a model loaded and called in one "
                          "expression is freed first)"),
    "onnx": Format("onnx", "model.onnx", ".onnx",
                   {"tensorflow": Converter(("tf2onnx", "onnx"), ONNX),
                    "jax": Converter(("jax2onnx", "onnx"), "pip install jax2onnx onnx"),
                    "torch": Converter(("onnx", "onnxscript"), ONNX)},
                   "onnxruntime.InferenceSession(PATH).run(None, {name: x})"),
    "litert": Format("litert", "model.tflite", ".tflite",
                     {"tensorflow": TENSORFLOW, "torch": Converter(("litert_torch",), "pip install litert-torch")},
                     "ai_edge_litert.interpreter.Interpreter(model_path=PATH)  (pip install 'builder[litert]'; "
                     "TensorFlow's tf.lite.Interpreter is the same, deprecated)"),
    "openvino": Format("openvino", "openvino/model.xml", ".xml",
                       {b: Converter(("openvino",), OPENVINO) for b in EVERY_BACKEND},
                       "openvino.Core().compile_model(PATH, \"CPU\", {\"INFERENCE_PRECISION_HINT\": \"f32\"})(x)"),
}


def importable(module: str) -> bool:
    """Whether `module` can be imported (found, not imported; a module blocked in sys.modules is not)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_converter(fmt: str, backend: str) -> Format:
    """The format, after checking its converter is installed for `backend`; else an `ExportError`."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    if backend not in spec.converters:
        able = " or ".join(f"--backend {b}" for b in spec.converters)
        raise ExportError(f"{fmt} export does not run on the {backend} backend; use {able}")
    converter = spec.converters[backend]
    missing = [module for module in converter.modules if not importable(module)]
    if missing:
        raise ExportError(f"{fmt} export on {backend} needs {', '.join(missing)}, which is not installed; "
                          f"install it with: {converter.install}")
    return spec


def output_path(run_path: Path, fmt: str, output: str | Path | None) -> Path:
    """`-o` as given (checked against the format's suffix), or RUN/export/<default name>."""
    spec = FORMATS[fmt]
    if output is None:
        return Path(run_path) / EXPORT_FOLDER / spec.default_name
    path = Path(output)
    if spec.suffix and path.suffix != spec.suffix:
        raise ExportError(f"{fmt} exports are files ending in {spec.suffix}. Received: -o {str(output)!r}")
    if spec.suffix is None and path.suffix:
        raise ExportError(f"{fmt} exports are folders, not files. Received: -o {str(output)!r}")
    return path


# --- converter gaps, filled before converting ---------------------------------------------------------------

def teach_tf2onnx_erfc() -> None:
    """Let tf2onnx convert TensorFlow's `Erfc` as `1 - Erf`.

    Recent TensorFlow writes the exact GELU (Keras' `gelu`, as in ViT, BERT,
    Swin, Mixer) with `erfc`, and tf2onnx (1.17, the latest) passes `Erfc` on
    to ONNX, which has no such operator: the file is written but onnxruntime
    refuses it ("No Op registered for Erfc"). Upstream: onnx/tensorflow-onnx
    pull request #2463, open. Registering the handler again replaces it.
    """
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            node.type = "Erf"
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            complement = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(node.name),
                                                       inputs=[one.output[0], node.output[0]])
            ctx.copy_shape(node.output[0], complement.output[0])


PREPARE = {("onnx", "tensorflow"): teach_tf2onnx_erfc}   # (format, backend) -> what to do before converting


def _call_once(model) -> None:
    """Run the model on one zero sample: Keras' ONNX export needs a model that has been called."""
    import numpy as np

    samples = [np.zeros([1 if d is None else d for d in (1, *t.shape[1:])], dtype=str(t.dtype))
               for t in model.inputs]
    model(samples if len(samples) > 1 else samples[0], training=False)


def _pick_model(run, model_name: str | None):
    from builder.training.run_folder import load_run_model, load_run_models

    if model_name is None:
        return load_run_model(run)
    models = load_run_models(run)
    if model_name not in models:
        raise SpecError.single(Location(str(run.path)), f"this run has no model {model_name!r}",
                               f"choose one of {', '.join(sorted(models))}")
    return models[model_name]


def export_model(model, fmt: str, path: Path) -> Path:
    """Write `model` as `fmt` to `path` (converter checked first); returns the path written."""
    import keras

    spec = check_converter(fmt, keras.backend.backend())
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.keras_format is None:
        model.save(path)
        return path
    _call_once(model)
    try:
        PREPARE.get((fmt, keras.backend.backend()), lambda: None)()
        with warnings.catch_warnings():
            # converters are noisy (Keras' tf2onnx shim probing np.object, torch's tracer); a failure still raises
            warnings.simplefilter("ignore")
            model.export(str(path), format=spec.keras_format, verbose=False)
    except ImportError as exc:   # a converter's own dependency, deeper than `modules` looks
        raise ExportError(f"{fmt} export needs a package that is not installed ({exc}); install it with: "
                          f"{spec.converters[keras.backend.backend()].install}") from None
    except (ValueError, NotImplementedError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"Keras could not export this model as {fmt}: {first}") from None
    return path


def with_input_transform(model, transform: dict):
    """`model` behind the run's numeric input transform (`x * scale + offset`, one Rescaling layer named
    `input_transform`), so that the export takes the data's own units, as `builder predict` does: one
    contract for a run's inputs. A text vocabulary stays outside (the export takes token ids), and a model
    that does not take the data (a GAN's generator) or a transform that changes nothing is returned as is."""
    import keras

    from builder.training.data import affine_transform, is_numeric_identity

    if "inputs" in transform and not is_numeric_identity(transform):   # named inputs: each its own transform
        return _with_named_transforms(model, transform["inputs"])
    if is_numeric_identity(transform) or "vocabulary" in transform or len(model.inputs) != 1:
        return model
    given = model.inputs[0]
    scale, offset = affine_transform(transform)
    if scale.ndim and given.shape[-1] != scale.shape[-1]:
        return model
    inputs = keras.Input(shape=given.shape[1:], dtype=given.dtype, name=given.name)
    scaled = keras.layers.Rescaling(scale.tolist(), offset.tolist(), name="input_transform")(inputs)
    return keras.Model(inputs, model(scaled), name=model.name)


def _with_named_transforms(model, parts: dict):
    """`model` behind a Rescaling per named input whose transform changes it (`input_transform_<name>`)."""
    import keras

    from builder.training.data import affine_transform, is_numeric_identity

    inputs, fed = [], []
    for given in model.inputs:
        tensor = keras.Input(shape=given.shape[1:], dtype=given.dtype, name=given.name)
        inputs.append(tensor)
        part = parts.get(given.name, {})
        if part and not is_numeric_identity(part):
            scale, offset = affine_transform(part)
            tensor = keras.layers.Rescaling(scale.tolist(), offset.tolist(), name=f"input_transform_{given.name}")(tensor)
        fed.append(tensor)
    return keras.Model(inputs, model(fed), name=model.name)


@dataclass(frozen=True)
class Exported:
    """What `export_run` wrote: the path, the inputs the artifact takes (`name dtype (shape)`), and their
    units (the run's input transform, built in or not)."""

    path: Path
    format: str
    inputs: list[str]
    units: str = ""

    @property
    def reopen(self) -> str:
        return FORMATS[self.format].reopen.replace("PATH", repr(str(self.path)))


def export_run(run_path: str | Path, fmt: str, output: str | Path | None = None,
               model_name: str | None = None, transform: bool = True) -> Exported:
    """Export a run's final model (or `model_name` of a several-model run) as `fmt`.

    The run's model takes the data's own units with the run's input transform built in (`transform=False`:
    the bare model, taking inputs already transformed), the same units `builder predict` takes.

    Raises `ExportError` (missing converter, wrong backend, bad path, refused by the converter) or
    `SpecError` (not a run folder, no such model).
    """
    import keras

    from builder.training.data import describe_transform, is_numeric_identity
    from builder.training.run_folder import RunFolder, read_transform

    run = RunFolder.open(run_path)
    check_converter(fmt, keras.backend.backend())   # before loading anything
    path = output_path(run.path, fmt, output)
    model = _pick_model(run, model_name)
    units = ""
    recorded = read_transform(run) if model_name is None else {}
    if recorded and not is_numeric_identity(recorded):
        built_in = with_input_transform(model, recorded) if transform else model
        if built_in is not model:
            model, units = built_in, f"in the data's own units: {describe_transform(recorded)} (built in)"
        else:
            units = f"already transformed: the training data was {describe_transform(recorded)}"
    return Exported(export_model(model, fmt, path), fmt, describe_inputs(model), units)


def describe_inputs(model) -> list[str]:
    """`name dtype (None, 8, 8, 1)` per model input, for the message after exporting."""
    return [f"{t.name} {t.dtype} {shape_text(t.shape)}"
            for t in model.inputs]
