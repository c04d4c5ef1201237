"""The model to import: a `.keras` file or `keras.applications.NAME`, opened without running its code.

A `.keras` file is untrusted input. Its archive is checked (a regular file, a bounded unpacked size), and
its `config.json` is read as plain JSON and walked *before* Keras deserialises anything: a layer outside
builder's catalogue (a Lambda, a custom class) is reported by name, with what to do, and never loaded.
Only then does Keras open it, with `safe_mode` on. `keras.applications.NAME` builds the named network with
`weights=None`, so nothing is downloaded.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

from builder import files
from builder.errors import Location, Problem, SpecError, did_you_mean, show
from builder.language.applications import APPLICATIONS
from builder.language.catalogue import catalogue

APPLICATION_PREFIX = "keras.applications."
MODEL_CLASSES = {"Functional", "Sequential", "Model"}   # nested models: written as `models:` entries
MAX_CONFIG_BYTES = files.MAX_JSON_BYTES


def open_source(source: str, input_shape: tuple | None = None):
    """(the Keras model, a one-line description of where it came from)."""
    if source.startswith(APPLICATION_PREFIX) or source.startswith("applications."):
        return _application(source, input_shape)
    if input_shape is not None:
        raise SpecError.single(Location(source), "--input-shape applies to keras.applications models only",
                               "a .keras file keeps the input shape it was saved with")
    path = Path(source)
    if path.suffix != ".keras":
        raise SpecError.single(Location(source), f"expected a .keras file or keras.applications.NAME. Received: "
                                                 f"{show(source)}",
                               "save the model with model.save('model.keras') (Keras 3) first" if path.suffix in
                               (".h5", ".hdf5") else "e.g. builder import keras.applications.ResNet50 -o resnet50.yaml")
    return _keras_file(path), f"{source}"


def _application(source: str, input_shape: tuple | None):
    import keras

    name = source.rpartition(".")[2]
    if name not in APPLICATIONS:
        raise SpecError.single(Location(source), f"keras.applications has no network {show(name)} that builder knows",
                               did_you_mean(name, APPLICATIONS) or f"one of: {', '.join(APPLICATIONS)}")
    kwargs = {"weights": None}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    try:
        with warnings.catch_warnings():   # MobileNet's "no ImageNet weights at this size": none are loaded
            warnings.simplefilter("ignore")
            model = getattr(keras.applications, name)(**kwargs)
    except ValueError as exc:   # an input shape the network refuses
        raise SpecError.single(Location(source), f"keras.applications.{name} refuses "
                                                 f"input_shape={show(input_shape)}: {str(exc).splitlines()[0][:300]}")
    shape = ", ".join(str(d) for d in model.input_shape[1:])
    return model, f"keras.applications.{name}(weights=None, input_shape=({shape}))"


def _keras_file(path: Path):
    import keras

    where = Location(str(path))
    try:
        files.regular_file(path)
        with zipfile.ZipFile(path) as archive:   # a zip bomb says so before anything inflates
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > files.MAX_DATA_BYTES:
                raise SpecError.single(where, f"it unpacks to {unpacked:,} bytes, over the limit of "
                                              f"{files.MAX_DATA_BYTES:,}")
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise SpecError.single(where, f"its config.json holds {info.file_size:,} bytes, over the limit of "
                                              f"{MAX_CONFIG_BYTES:,}")
            config = json.loads(archive.read(info).decode("utf-8"))
    except files.FileProblem as problem:
        raise SpecError.single(where, problem.reason, problem.hint) from None
    except KeyError:
        raise SpecError.single(where, "not a Keras 3 model file: it has no config.json",
                               "save the model with Keras 3's model.save('model.keras')") from None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError.single(where, f"not a Keras model file ({exc})",
                               "save the model with Keras 3's model.save('model.keras')") from None
    outside = list(unwritable_layers(config))
    if outside:
        raise SpecError([Problem(where, message, hint) for message, hint in outside])
    import builder.model.layers  # noqa: F401  (builder's own layers, registered for Keras to find)

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:   # the file is untrusted input: whatever Keras raises on it is the file's fault
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise SpecError.single(where, f"cannot open this model: {first}",
                               "the file is damaged, was edited, or holds code that safe_mode refuses") from None
    if not isinstance(model, keras.Model):
        raise SpecError.single(where, f"expected a model, the file holds a {type(model).__name__}")
    return model


def unwritable_layers(config):
    """(message, hint) for each layer of a model config (nested models included) that no spec can name."""
    cat = catalogue()
    for entry in _layer_entries(config):
        cls, name = entry.get("class_name"), entry.get("name") or (entry.get("config") or {}).get("name")
        registered = entry.get("registered_name")
        module = entry.get("module") or ""
        if cls in MODEL_CLASSES or cls == "InputLayer" or module.startswith("keras.src.ops"):
            continue   # (a keras.ops operation: the reader keeps only the masks Keras computes again)
        info = cat.layer(cls) if isinstance(cls, str) else None
        foreign = registered not in (None, cls) and not str(registered).startswith("builder>")
        if info is not None and not foreign and (module.startswith("keras") or module.startswith("builder")):
            continue
        if isinstance(cls, str) and cls in cat.excluded and not foreign:
            yield (f"layer {show(name)} is a {cls}, which a spec cannot name: {cat.excluded[cls]}",
                   "rebuild that part of the model from catalogue layers (`builder layers` lists them), save it "
                   "again, and import that")
            continue
        what = f"{cls} (registered as {registered!r})" if registered not in (None, cls) else show(cls)
        yield (f"layer {show(name)} is a {what}, a class outside builder's layer catalogue; builder does not run "
               f"its code",
               "write it as the catalogue layers it is made of, or add it to builder as a layer (one module in "
               "builder/model/layers/, then `builder catalogue`); then import again")


def _layer_entries(config):
    """Every layer entry of a model config, depth first, wrapped layers (Bidirectional's) included."""
    if not isinstance(config, dict):
        return
    inner = config.get("config") if "class_name" in config else config
    if not isinstance(inner, dict):
        return
    if "class_name" in config and config.get("class_name") not in MODEL_CLASSES:
        yield config
    for entry in inner.get("layers") or []:
        if isinstance(entry, dict):
            yield from _layer_entries(entry)
    for key in ("layer", "backward_layer"):   # a wrapper's layer, serialised inside its config
        value = inner.get(key)
        if isinstance(value, dict) and "class_name" in value:
            yield from _layer_entries(value)
