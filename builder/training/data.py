"""Data for training: the spec's `train.data` -> NumPy arrays, split and normalised.

One function per source, registered by its `source:` name with `@source`; to
add a source, add a pydantic model to `builder.language.spec.DataSpec` and one function
here. Every source gives NumPy arrays (texts become token ids through a small
word vocabulary built here, in plain Python), so every Keras backend can
train on them; the TensorFlow backend then streams them through `tf.data` (see
`builder.training.run`). Normalisation statistics are computed on the training part
only and kept, so `predict` can apply the same transform to new inputs.

Paths come only from `train.data` or the command line, resolved against the
spec's folder. A source that fails (missing file, bad column, no network for
`keras.datasets`) raises `SpecError` located at the `train.data` entry.

Public entry point: `load_data(data_spec, spec_dir, location, seed)` -> `Dataset`.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from builder import files
from builder.errors import Location, SpecError, did_you_mean, show
from builder.language.spec.data import inputs_hint
from builder.registry import Registry

SOURCES = Registry("data source")
source = SOURCES.register   # @source("csv") registers a loader under its `source:` name


@dataclass
class RawData:
    """What a source gives: all samples, before the split. Named data (`train.data.inputs`, `targets`) gives
    `x` (and `y`) as {model input (output) name: array}, every array one row per sample."""

    x: np.ndarray | dict
    y: np.ndarray | dict | None
    classes: list
    kind: str            # "features", "image", "text", "array", "sequence"
    description: str
    scale: float = 1.0   # applied to the source's raw values (digit pixels 0..16 -> 0..1)
    transform: dict = field(default_factory=dict)   # what the source adds to the run's data.json (vocabulary, ...)
    sample_weight: np.ndarray | None = None          # `train.data.sample_weight`: a weight per sample


@dataclass
class Dataset:
    """Inputs and targets, split. Each `x_*` is one array or {model input name: array} (named data); each
    `y_*` one array, {output name: array}, or None."""

    x_train: np.ndarray | dict
    y_train: np.ndarray | dict | None
    x_val: np.ndarray | dict | None
    y_val: np.ndarray | dict | None
    classes: list = field(default_factory=list)      # label names, when labels are classes
    transform: dict = field(default_factory=dict)     # how inputs were normalised, for predict
    description: str = ""
    w_train: np.ndarray | None = None                 # sample weights (`train.data.sample_weight`)
    w_val: np.ndarray | None = None


class DataError(Exception):
    """A source could not give data; becomes a located SpecError in `load_data`, at `where` under train.data
    (e.g. ("inputs", "left") for the array a named input reads) when `load_data` can locate it."""

    def __init__(self, message: str, hint: str | None = None, where: tuple = ()):
        super().__init__(message)
        self.hint = hint
        self.where = where


# --- sources -------------------------------------------------------------------------------------

@source("builtin")
def builtin(spec, folder: Path):
    import sklearn.datasets as sk

    loaders = {"digits": sk.load_digits, "iris": sk.load_iris, "wine": sk.load_wine,
               "breast_cancer": sk.load_breast_cancer}
    bunch = loaders[spec.name]()
    if spec.image and spec.name != "digits":
        raise DataError(f"only digits has images; {spec.name!r} has features", "remove `image: true`")
    if spec.image:
        x = bunch.images[..., None].astype("float32")
        kind = "image"
    else:
        x = bunch.data.astype("float32")
        kind = "features"
    names = [str(n) for n in getattr(bunch, "target_names", range(int(bunch.target.max()) + 1))]
    scale = 1 / 16 if spec.image else 1.0  # digit pixels run 0..16
    return RawData(x * scale, bunch.target.astype("int64"), names, kind, f"scikit-learn {spec.name}", scale)


def read_csv_rows(path: Path) -> list[list[str]]:
    """The non-empty rows of a UTF-8 CSV file (read through `builder.files`); a DataError if csv cannot read it."""
    try:
        return [row for row in csv.reader(io.StringIO(files.read_text(path), newline="")) if row]
    except csv.Error as exc:   # e.g. a field over csv's 128 KiB limit
        raise DataError(f"{path} is not a CSV file builder can read: {exc}") from None


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = read_csv_rows(path)
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows")
    return rows[0], rows[1:]


def _column(header: list[str], key, path: Path, where: tuple = ()) -> int:
    if isinstance(key, int):
        if not -len(header) <= key < len(header):
            raise DataError(f"{path} has {len(header)} columns; column {key} does not exist", where=where)
        return key % len(header)
    if key not in header:
        raise DataError(f"{path} has no column {show(key)}", did_you_mean(key, header) or
                        f"its columns are: {', '.join(header[:20])}", where)
    return header.index(key)


def _labels(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric labels stay numbers; text labels become class indexes in sorted order."""
    try:
        numbers = np.array([float(v) for v in values])
        if np.all(numbers == np.round(numbers)):
            return numbers.astype("int64"), [str(int(n)) for n in sorted(set(numbers))]
        return numbers.astype("float32"), []
    except ValueError:
        names = sorted(set(values))
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[v] for v in values], dtype="int64"), names


@source("csv")
def csv_source(spec, folder: Path):
    path = folder / spec.path
    header, rows = _read_csv(path)
    if spec.inputs is not None or spec.targets is not None or spec.sample_weight is not None:
        return _named_csv(spec, path, header, rows)
    label = _column(header, spec.label, path)
    if spec.features:
        columns = [_column(header, name, path) for name in spec.features]
    else:
        columns = [i for i in range(len(header)) if i != label]
    try:
        x = np.array([[float(row[i]) for i in columns] for row in rows], dtype="float32")
    except (ValueError, IndexError) as exc:
        raise DataError(f"{path}: every feature must be a number ({exc})",
                        "list numeric columns under `features:`") from None
    y, names = _labels([row[label] for row in rows])
    return RawData(_numbers(x, path, "the features"), y, names, "features",
                   f"{path.name}: {len(rows)} rows, {len(columns)} features")


def _named_csv(spec, path: Path, header: list[str], rows: list[list[str]]) -> RawData:
    """Named columns: each model input's columns (`inputs`), each output's (`targets`), a weight column."""
    def numbers(columns: list, where: tuple, what: str) -> np.ndarray:
        indexes = [_column(header, name, path, where) for name in columns]
        try:
            values = np.array([[float(row[i]) for i in indexes] for row in rows], dtype="float32")
        except (ValueError, IndexError) as exc:
            raise DataError(f"{path}: {what} must be numbers ({exc})", where=where) from None
        return _numbers(values, path, what)

    used = set()
    names: list[str] = []
    if spec.targets is not None:
        y = {}
        for output, columns in spec.targets.items():
            where = ("targets", output)
            if isinstance(columns, str):   # one column: class labels (text or integers) or numbers
                y[output], classes = _labels([row[_column(header, columns, path, where)] for row in rows])
                names = classes if len(spec.targets) == 1 else []
                used.add(columns)
            else:
                y[output] = numbers(columns, where, f"the columns of output {show(output)}")
                used |= set(columns)
    else:
        label = _column(header, spec.label, path, ("label",))
        y, names = _labels([row[label] for row in rows])
        used.add(header[label])
    weight = None
    if spec.sample_weight is not None:
        weight = numbers([spec.sample_weight], ("sample_weight",), f"the weight column {show(spec.sample_weight)}")[:, 0]
        used.add(spec.sample_weight)
    if spec.inputs is not None:
        x = {name: numbers(columns, ("inputs", name), f"the columns of input {show(name)}")
             for name, columns in spec.inputs.items()}
        kind, description = "inputs", f"{path.name}: {len(rows)} rows, inputs " + ", ".join(
            f"{name} ({len(columns)} columns)" for name, columns in spec.inputs.items())
    else:
        columns = spec.features or [name for name in header if name not in used]
        x = numbers(columns, ("features",) if spec.features else (), "every feature")
        kind, description = "features", f"{path.name}: {len(rows)} rows, {len(columns)} features"
    return RawData(x, y, names, kind, description, sample_weight=_weights(weight, path))


def _weights(weight: np.ndarray | None, path: Path, where: tuple = ("sample_weight",)) -> np.ndarray | None:
    """Sample weights: one number >= 0 per sample."""
    if weight is None:
        return None
    if weight.ndim == 2 and weight.shape[1] == 1:
        weight = weight[:, 0]
    if weight.ndim != 1:
        raise DataError(f"{path}: sample weights must be one number per sample; this array has shape "
                        f"{list(weight.shape)}", where=where)
    if (weight < 0).any():
        raise DataError(f"{path}: sample weights must be >= 0; {int((weight < 0).sum()):,} are negative",
                        where=where)
    return weight.astype("float32")


def _same_length(path: Path, parts: list[tuple[str, np.ndarray, tuple]]) -> None:
    """Every named array one row per sample: (what, array, where under train.data) for each."""
    lengths = [len(array) for _, array, _ in parts]
    if len(set(lengths)) > 1:
        odd = next(i for i, n in enumerate(lengths) if n != lengths[0])
        listed = ", ".join(f"{what} {n:,}" for (what, _, _), n in zip(parts, lengths))
        raise DataError(f"{path}: the arrays have different numbers of samples: {listed}",
                        "every input, target and weight needs one row per sample", parts[odd][2])


def _named_arrays(spec, arrays: dict, path: Path) -> RawData:
    """An .npz file read by name: each model input's array (`inputs`), each output's (`targets`), a weight array."""
    def array(key: str, where: tuple) -> np.ndarray:
        if key not in arrays:
            raise DataError(f"{path} has no array {show(key)}; it has {', '.join(map(str, arrays))}",
                            did_you_mean(key, [str(k) for k in arrays]), where)
        return _numbers(arrays[key], path, f"array {show(key)}")

    parts = []
    if spec.inputs is not None:
        x = {}
        for name, key in spec.inputs.items():
            x[name] = array(key, ("inputs", name))
            parts.append((f"{name}={key}", x[name], ("inputs", name)))
    else:
        x = array(spec.x, ("x",))
        parts.append((spec.x, x, ("x",)))
    if spec.targets is not None:
        y = {}
        for name, key in spec.targets.items():
            y[name] = array(key, ("targets", name))
            parts.append((f"{name}={key}", y[name], ("targets", name)))
    else:
        y = array(spec.y, ("y",)) if spec.y in arrays else None
        if y is not None:
            parts.append((spec.y, y, ("y",)))
    weight = array(spec.sample_weight, ("sample_weight",)) if spec.sample_weight is not None else None
    if weight is not None:
        parts.append((f"sample_weight={spec.sample_weight}", weight, ("sample_weight",)))
    _same_length(path, parts)
    labels = y if not isinstance(y, dict) else (next(iter(y.values())) if len(y) == 1 else None)
    names = ([str(v) for v in sorted(set(labels.tolist()))]
             if labels is not None and labels.ndim == 1 and labels.dtype.kind in "iu" else [])
    kind = "inputs" if isinstance(x, dict) else "image" if x.ndim >= 3 else "features"
    return RawData(x, y, names, kind, path.name, sample_weight=_weights(weight, path))


@source("numpy")
def numpy_source(spec, folder: Path):
    path = folder / spec.path
    arrays = read_arrays(path)
    named = spec.inputs is not None or spec.targets is not None or spec.sample_weight is not None
    if None in arrays and named:
        raise DataError(f"{path} is a .npy file, one array without a name; inputs, targets and sample_weight "
                        "name the arrays of an .npz file", "save the arrays by name: np.savez(path, left=..., ...)")
    if None in arrays:
        return RawData(_numbers(arrays[None], path, "the array"), None, [], "array", path.name)
    if spec.domains is not None:
        return _domains(spec.domains, arrays, path)
    if named:
        return _named_arrays(spec, arrays, path)
    if spec.x not in arrays:
        raise DataError(f"{path} has no array {spec.x!r}; it has {', '.join(arrays)}")
    x = _numbers(arrays[spec.x], path, f"array {spec.x!r}")
    y = _numbers(arrays[spec.y], path, f"array {spec.y!r}") if spec.y in arrays else None
    if y is not None and len(y) != len(x):
        raise DataError(f"{path}: {spec.x!r} has {len(x):,} samples but {spec.y!r} has {len(y):,}",
                        "give one label per sample")
    names = [str(v) for v in sorted(set(y.tolist()))] if y is not None and y.dtype.kind in "iu" else []
    return RawData(x, y, names, "image" if x.ndim >= 3 else "features", path.name)


def read_arrays(path: Path) -> dict:
    """The arrays of a .npy (under the key None) or .npz file, their headers checked against the file's size
    before anything is allocated; never unpickled (a data file is not code)."""
    import zipfile

    data = files.read_bytes(path)
    try:
        if data[:6] == b"\x93NUMPY":
            return {None: _array(data, path.name)}
        if data[:4] == b"PK\x03\x04":
            out = {}
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    if info.file_size > files.MAX_DATA_BYTES:   # a zip bomb says so before inflating
                        raise DataError(f"{path}: {info.filename} unpacks to {info.file_size:,} bytes, over the "
                                        f"limit of {files.MAX_DATA_BYTES:,}")
                    out[info.filename.removesuffix(".npy")] = _array(archive.read(info), info.filename)
            return out
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{path} is damaged: {exc}", "save it again with np.save or np.savez") from None
    raise DataError(f"{path} is neither a .npy nor a .npz file", "save arrays with np.save or np.savez")


def _array(data: bytes, name: str) -> np.ndarray:
    """One .npy image in memory -> an array, after checking that its header matches its size."""
    from numpy.lib import format as npy

    stream = io.BytesIO(data)
    try:
        version = npy.read_magic(stream)
        shape, fortran, dtype = (npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0)(
            stream, max_header_size=10_000)
    except (ValueError, SyntaxError) as exc:
        raise DataError(f"{name}: the array header cannot be read ({exc})") from None
    if dtype.hasobject:
        raise DataError(f"{name} holds Python objects, which builder never unpickles",
                        "save numbers or strings, not objects")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    present = len(data) - stream.tell()
    if expected != present:
        raise DataError(f"{name} claims shape {list(shape)} of {dtype} ({expected:,} bytes) but holds {present:,}",
                        "the file is truncated or damaged; save it again")
    array = np.frombuffer(data, dtype=dtype, offset=stream.tell()).reshape(shape, order="F" if fortran else "C")
    return array.copy()


def _numbers(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    """A data array builder can train on: numbers, at least one sample, every value finite."""
    if array.ndim == 0 or len(array) == 0:
        raise DataError(f"{path}: {what} has no samples (shape {list(array.shape)})")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} holds {array.dtype} values, not numbers",
                        "convert it to numbers (labels to integers) before saving")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise DataError(f"{path}: {what} has {bad:,} NaN or infinite value{'s' * (bad != 1)}",
                        "fill or drop them before training: one NaN makes every loss NaN")
    return array


@source("images")
def image_folder(spec, folder: Path):

    root = folder / spec.path
    if not root.is_dir():
        raise DataError(f"{root} is not a folder", "give a folder with one sub-folder per class")
    if spec.pairs is not None:
        return _paired_images(spec, root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root} has no class folders", "put each class's images in its own sub-folder")
    mode = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[spec.color_mode]
    height, width = spec.image_size
    images, labels = [], []
    for index, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".gif"):
                continue
            images.append(read_image(files.inside(root, file.relative_to(root)), mode, (width, height)))
            labels.append(index)
    if not images:
        raise DataError(f"{root} holds no .png/.jpg/.bmp/.gif images")
    return RawData(np.stack(images), np.array(labels, dtype="int64"), classes, "image",
                   f"{root.name}: {len(images)} images", 1 / 255)


def _domains(names: list[str], arrays: dict, path: Path) -> RawData:
    """Two unpaired image sets (kind cyclegan) as one: their images, labelled 0 (domain A) and 1 (B)."""
    parts = []
    for name in names:
        if name not in arrays:
            raise DataError(f"{path} has no array {name!r}; it has {', '.join(map(str, arrays))}",
                            did_you_mean(name, [str(k) for k in arrays]), where=("domains",))
        parts.append(_numbers(arrays[name], path, f"array {name!r}").astype("float32"))
    if parts[0].shape[1:] != parts[1].shape[1:]:
        raise DataError(f"{path}: the domains' images differ in shape: {names[0]!r} {list(parts[0].shape[1:])}, "
                        f"{names[1]!r} {list(parts[1].shape[1:])}", where=("domains",))
    labels = np.repeat(np.arange(2, dtype="int64"), [len(parts[0]), len(parts[1])])
    return RawData(np.concatenate(parts), labels, list(names), "image" if parts[0].ndim >= 3 else "features",
                   f"{path.name}: {len(parts[0])} of {names[0]}, {len(parts[1])} of {names[1]}")


def _paired_images(spec, root: Path) -> RawData:
    """`pairs: [INPUTS, TARGETS]` (kind pix2pix): each input image and the target image of the same file name."""
    mode = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[spec.color_mode]
    height, width = spec.image_size
    suffixes = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
    found = []
    for name in spec.pairs:
        folder = files.inside(root, name)
        if not folder.is_dir():
            raise DataError(f"{folder} is not a folder", f"`pairs` names two sub-folders of {root}", where=("pairs",))
        found.append({p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes})
    inputs, targets = found
    unmatched = sorted(set(inputs) ^ set(targets))
    if unmatched:
        side = spec.pairs[1] if unmatched[0] in inputs else spec.pairs[0]
        raise DataError(f"{len(unmatched)} image(s) have no partner of the same name, e.g. {unmatched[0]!r} is "
                        f"missing from {side}", "each input needs the target of its file name", where=("pairs",))
    if not inputs:
        raise DataError(f"{root / spec.pairs[0]} holds no .png/.jpg/.bmp/.gif images", where=("pairs",))
    names = sorted(inputs)
    x = np.stack([read_image(files.inside(root, inputs[n].relative_to(root)), mode, (width, height)) for n in names])
    y = np.stack([read_image(files.inside(root, targets[n].relative_to(root)), mode, (width, height)) for n in names])
    return RawData(x, y, [], "image", f"{root.name}: {len(names)} pairs", 1 / 255)


MAX_IMAGE_PIXELS = 64 * 2**20   # a larger picture is refused before it is decoded (a decompression bomb)


def read_image(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image file -> (height, width, channels) floats in [0, 1]; a damaged or oversized file is a DataError."""
    import warnings

    from PIL import Image

    data = files.read_bytes(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise DataError(f"{path} is {image.width:,} x {image.height:,} pixels, over the limit of "
                                    f"{MAX_IMAGE_PIXELS:,}")
                array = np.asarray(image.convert(mode).resize(size), dtype="float32") / 255.0
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"{path} is not an image builder can read: {exc}") from None
    return array if array.ndim == 3 else array[..., None]


@source("text")
def text_source(spec, folder: Path):
    path = folder / spec.path
    labels = None
    names: list[str] = []
    if spec.tokens == "characters" and spec.label is not None:
        raise DataError("labels need one text per row; `tokens: characters` reads the text as one stream",
                        "use `tokens: words` for labelled texts")
    if spec.column is not None:
        header, rows = _read_csv(path)
        texts = [row[_column(header, spec.column, path)] for row in rows]
        if spec.label is not None:
            labels, names = _labels([row[_column(header, spec.label, path)] for row in rows])
    elif spec.tokens == "characters":
        texts = [files.read_text(path)]
    else:
        texts = [line.rstrip("\n") for line in files.read_text(path).splitlines() if line.strip()]
    if not texts or not any(t.strip() for t in texts):
        raise DataError(f"{path} has no text")
    if spec.tokens == "characters":
        return _character_windows("\n".join(texts), spec.sequence_length, path.name)
    x = np.array(texts, dtype=object)
    return RawData(x, labels, names, "text", f"{path.name}: {len(texts)} texts")


def _character_windows(text: str, length: int, name: str) -> RawData:
    """One stream of characters -> consecutive, non-overlapping windows of `length` characters.

    Windows share no characters, so a random split into training and validation windows holds
    out text the model never saw. A text shorter than one window gives one (padded) window.
    """
    windows = [text[i: i + length] for i in range(0, max(1, len(text) - length + 1), length)]
    return RawData(np.array(windows, dtype=object), None, [], "text",
                   f"{name}: {len(text):,} characters in {len(windows):,} windows of {length}")


def _python_docs() -> str:
    try:
        from pydoc_data.topics import topics  # the text of `help('if')` etc.: part of the standard library
    except ImportError:
        raise DataError("this Python has no pydoc_data (some distributions leave it out)",
                        "use `name: sklearn_descr`, or your own text with `source: text`") from None
    return "\n\n".join(topics[key].strip() for key in sorted(topics))


def _sklearn_descr() -> str:
    from importlib import resources

    folder = resources.files("sklearn.datasets") / "descr"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".rst")), key=lambda f: f.name)
    return "\n\n".join(f.read_text(encoding="utf-8").strip() for f in files)


CORPORA = {"python_docs": _python_docs, "sklearn_descr": _sklearn_descr}


@source("corpus")
def corpus_source(spec, folder: Path):
    text = CORPORA[spec.name]()
    if spec.tokens == "characters":
        return _character_windows(text, spec.sequence_length, spec.name)
    texts = [line for line in text.splitlines() if line.strip()]
    return RawData(np.array(texts, dtype=object), None, [], "text", f"{spec.name}: {len(texts)} lines")


# --- generated sequence-to-sequence tasks ----------------------------------------------------------

SYNTHETIC_VOCABULARY = ["", "<s>", "</s>", *"0123456789", "+"]   # 0 pads, 1 starts, 2 ends a target


def _synthetic_pair(task: str, rng: np.random.Generator, low: int, high: int) -> tuple[str, str]:
    if task == "add":
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(low, high + 1)))) for _ in range(2))
        return f"{a}+{b}", str(a + b)
    digits = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(low, high + 1))))
    if task == "reverse":
        return digits, digits[::-1]
    if task == "sort":
        return digits, "".join(sorted(digits))
    return digits, digits


@source("synthetic")
def synthetic_source(spec, folder: Path):
    """`samples` distinct (source, target) digit-string pairs of the task, as padded token ids."""
    low, high = spec.min_length or spec.length, spec.length
    source_length = 2 * high + 1 if spec.task == "add" else high
    target_length = high + 1 if spec.task == "add" else high
    if spec.task == "add":
        space = 10 ** (2 * high)
    else:
        space = sum(10 ** n for n in range(low, high + 1))
    if spec.samples > space // 2:
        raise DataError(f"the {spec.task} task with lengths {low} to {high} has only about {space:,} distinct "
                        f"pairs; asking for {spec.samples:,} would repeat most of them",
                        "raise `length`, or ask for fewer `samples`")
    rng = np.random.default_rng(spec.seed)
    pairs: dict[str, str] = {}
    while len(pairs) < spec.samples:
        src, tgt = _synthetic_pair(spec.task, rng, low, high)
        pairs.setdefault(src, tgt)
    index = {ch: i for i, ch in enumerate(SYNTHETIC_VOCABULARY) if ch}
    x = np.zeros((spec.samples, source_length), dtype="int32")
    y = np.zeros((spec.samples, target_length + 2), dtype="int32")
    for row, (src, tgt) in enumerate(pairs.items()):
        x[row, : len(src)] = [index[ch] for ch in src]
        y[row, : len(tgt) + 2] = [1, *(index[ch] for ch in tgt), 2]
    transform = {"vocabulary": SYNTHETIC_VOCABULARY, "tokens": "characters", "sequence_length": source_length,
                 "start": 1, "end": 2, "target_length": target_length + 2}
    return RawData(x, y, [], "sequence", f"synthetic {spec.task}: {spec.samples:,} pairs, length {low} to {high}",
                   transform=transform)


@source("keras")
def keras_source(spec, folder: Path):
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, spec.name).load_data()
    except Exception as exc:  # urllib, OSError, ... depending on how the download fails
        raise DataError(f"could not download keras.datasets.{spec.name}: {type(exc).__name__}: {str(exc)[:200]}",
                        "this source needs the network; offline, use `source: builtin` or your own files") from None
    x = np.concatenate([x_train, x_test])
    y = np.concatenate([y_train, y_test]).reshape(-1)
    if x.ndim == 3:
        x = x[..., None]
    kind = "image" if x.ndim == 4 else "sequence"
    scale = 1 / 255 if kind == "image" else 1.0
    if kind == "image":
        x = x.astype("float32") * scale
    return RawData(x, y.astype("int64"), [str(v) for v in sorted(set(y.tolist()))], kind,
                   f"keras.datasets.{spec.name}", scale)


# --- split and normalise ----------------------------------------------------------------------------

def _split(n: int, share: float, shuffle: bool, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed if seed is not None else 0).permutation(n) if shuffle else np.arange(n)
    held = int(round(n * share))
    return order[held:], order[:held]


def _take(value, rows):
    """The rows of an array, or of every array of a {name: array} mapping (named data); None stays None."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {name: array[rows] for name, array in value.items()}
    return value[rows]


def _class_labels(y, what: str):
    """The one array of class labels `classes` and `per_class` select by (named data: its single target)."""
    if isinstance(y, dict):
        if len(y) != 1:
            raise DataError(f"`{what}` selects samples by their class label; this data has {len(y)} targets "
                            f"({', '.join(y)}), so there is no one label to select by")
        return next(iter(y.values()))
    return y


def _keep_classes(y, names: list, wanted: list[int]):
    """Only the samples labelled with one of `wanted`, relabelled 0, 1, ... in that order: (rows kept, their
    new labels, the kept class names)."""
    if y is None or y.dtype.kind not in "iu":
        raise DataError(f"`classes` selects samples by integer class label; this data has "
                        f"{'no labels' if y is None else 'labels of type ' + str(y.dtype)}")
    present = set(np.unique(y).tolist())
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DataError(f"expected labels that occur in the data ({', '.join(map(str, sorted(present)[:20]))}). "
                        f"Received: classes={wanted} (no sample of {', '.join(map(str, missing))})")
    if len(set(wanted)) != len(wanted):
        raise DataError(f"expected distinct labels. Received: classes={wanted}")
    keep = np.isin(y, wanted)
    relabel = np.full(int(max(present)) + 1, -1, dtype="int64")
    relabel[list(wanted)] = np.arange(len(wanted))
    kept_names = [names[c] if c < len(names) else str(c) for c in wanted]
    return keep, relabel[y[keep]], kept_names


def _split_per_class(y, per_class: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` random samples of every class for training (in random order); the rest for validation."""
    if y is None or y.dtype.kind not in "iu":
        raise DataError("`per_class` draws samples of each class; this data has no integer class labels")
    rng = np.random.default_rng(seed if seed is not None else 0)
    train, val = [], []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        if len(rows) < per_class:
            raise DataError(f"class {int(label)} has {len(rows)} samples, fewer than per_class. "
                            f"Received: per_class={per_class}")
        train.append(rows[:per_class])
        val.append(rows[per_class:])
    return rng.permutation(np.concatenate(train)), np.sort(np.concatenate(val))


def load_data(data_spec, spec_dir: Path, location: Location, seed: int | None = None,
              given_path: Path | None = None, locate=None) -> Dataset:
    """Load, split (with the seed) and normalise the data a spec names.

    A path the spec gives must stay inside the spec's folder; `given_path` (from the command line,
    `--data`) replaces it and may be anywhere. `locate(*path)`, when given, places a problem with one
    entry of train.data (`inputs.left`) at that entry; else problems are at `location`.
    """
    try:
        if given_path is not None:
            if not hasattr(data_spec, "path"):
                raise DataError(f"--data replaces train.data.path, but source {data_spec.source!r} has no path")
            data_spec = data_spec.model_copy(update={"path": str(Path(given_path).resolve())})
        elif hasattr(data_spec, "path"):
            data_spec = data_spec.model_copy(update={"path": str(files.inside(spec_dir, data_spec.path))})
        raw = SOURCES[data_spec.source](data_spec, Path(spec_dir))
        x, y, classes, kind, description, scale = raw.x, raw.y, raw.classes, raw.kind, raw.description, raw.scale
        weight = raw.sample_weight
        if data_spec.classes is not None:
            keep, labels, classes = _keep_classes(_class_labels(y, "classes"), classes, data_spec.classes)
            x, weight = _take(x, keep), _take(weight, keep)
            y = {name: labels for name in y} if isinstance(y, dict) else labels
            description += f", classes {', '.join(map(str, data_spec.classes))} as 0..{len(classes) - 1}"
        count = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        if data_spec.per_class is not None:
            train, val = _split_per_class(_class_labels(y, "per_class"), data_spec.per_class, seed)
            description += f", {data_spec.per_class} per class for training, the other {len(val)} for validation"
        else:   # one permutation for every array: named inputs, targets and weights stay row for row
            train, val = _split(count, data_spec.validation_split, data_spec.shuffle, seed)
        if len(train) == 0:
            raise DataError(f"no sample is left to train on: {count:,} samples, {len(val):,} held out for "
                            "validation", "lower validation_split (or raise per_class)")
    except DataError as exc:
        where = locate(*exc.where) if locate is not None and exc.where else location
        raise SpecError.single(where, str(exc), exc.hint) from None
    except files.FileProblem as exc:
        hint = exc.hint or ("data paths are relative to the spec's folder" if exc.kind == "missing" else None)
        raise SpecError.single(location, str(exc), hint) from None
    except FileNotFoundError as exc:
        raise SpecError.single(location, f"no such file: {exc.filename}",
                               "data paths are relative to the spec's folder") from None
    except OSError as exc:
        raise SpecError.single(location, f"cannot read the data: {exc}") from None
    held = len(val) > 0
    x_train, x_val = _take(x, train), (_take(x, val) if held else None)
    y_train, y_val = _take(y, train), (_take(y, val) if held else None)
    w_train, w_val = _take(weight, train), (_take(weight, val) if held else None)
    if isinstance(x_train, dict):
        transform = _named_inputs(x_train, x_val, data_spec.normalize)
        return Dataset(x_train, y_train, x_val, y_val, [str(c) for c in classes], transform, description,
                       w_train, w_val)
    # `scale` maps the raw values of this source (digit pixels 0..16, image bytes 0..255) to what trains
    transform: dict = {"kind": kind, "scale": scale, **raw.transform}
    if kind != "text" and x_train.dtype.kind in "biuf" and x_train.size:
        # the training inputs' range in the source's own units, so predict can tell inputs already scaled
        transform["raw_range"] = [float(x_train.min()) / scale, float(x_train.max()) / scale]
    if kind == "text":
        mode = getattr(data_spec, "tokens", "words")
        vocabulary = build_vocabulary(x_train, data_spec.vocabulary_size, mode)
        transform.update(vocabulary=vocabulary, sequence_length=data_spec.sequence_length, tokens=mode)
        x_train = vectorize(x_train, transform)
        x_val = vectorize(x_val, transform) if x_val is not None else None
        kind = "sequence"
    if data_spec.normalize and kind == "features":
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0)
        std[std == 0] = 1.0
        x_train = (x_train - mean) / std
        x_val = (x_val - mean) / std if x_val is not None else None
        transform.update(mean=mean.tolist(), std=std.tolist())
    dtype = "int32" if kind == "sequence" else "float32"
    return Dataset(x_train.astype(dtype), y_train, None if x_val is None else x_val.astype(dtype),
                   y_val, [str(c) for c in classes], transform, description, w_train, w_val)


def _named_inputs(x_train: dict, x_val: dict | None, normalize: bool) -> dict:
    """Named inputs, each on its own (in place): a table of float features (2-D) standardised with its training
    mean and std as a `features` source is, any other array (images, sequences) as it is; integers (token
    ids) stay integers. Returns the transform for data.json: {"kind": "inputs", "inputs": {name: its own}}."""
    parts = {}
    for name, train in x_train.items():
        dtype = "int32" if train.dtype.kind in "iu" else "float32"
        part: dict = {"kind": "features" if train.ndim == 2 else "array", "scale": 1.0}
        if train.size:
            part["raw_range"] = [float(train.min()), float(train.max())]
        val = None if x_val is None else x_val[name]
        if normalize and train.ndim == 2 and dtype == "float32":
            mean, std = train.mean(axis=0), train.std(axis=0)
            std[std == 0] = 1.0
            train, val = (train - mean) / std, (None if val is None else (val - mean) / std)
            part.update(mean=mean.tolist(), std=std.tolist())
        x_train[name] = train.astype(dtype)
        if x_val is not None:
            x_val[name] = val.astype(dtype)
        parts[name] = part
    return {"kind": "inputs", "scale": 1.0, "inputs": parts}


_WORD = re.compile(r"[a-z0-9']+")


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def split_tokens(text: str, mode: str = "words") -> list[str]:
    """A text's tokens: lower-cased words, or every character as it is."""
    return list(text) if mode == "characters" else tokens(text)


def build_vocabulary(texts, size: int, mode: str = "words") -> list[str]:
    """The most frequent words (or characters) of the training texts; index 0 pads, 1 is out-of-vocabulary."""
    counts = Counter(word for text in texts for word in split_tokens(str(text), mode))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ["", "[UNK]"] + [word for word, _ in ranked[: max(0, size - 2)]]


def vectorize(texts, transform: dict) -> np.ndarray:
    """Texts -> int token ids, padded or cut to the sequence length."""
    index = {word: i for i, word in enumerate(transform["vocabulary"]) if word}
    length = transform["sequence_length"]
    mode = transform.get("tokens", "words")
    out = np.zeros((len(texts), length), dtype="int32")
    for row, text in enumerate(texts):
        ids = [index.get(word, 1) for word in split_tokens(str(text), mode)][:length]
        out[row, : len(ids)] = ids
    return out


def apply_transform(x: np.ndarray, transform: dict) -> np.ndarray:
    """The training normalisation, for new inputs at predict time."""
    if "vocabulary" in transform:
        return vectorize(list(x), transform)
    scale, offset = affine_transform(transform)
    return np.asarray(x, dtype="float32") * scale + offset


def affine_transform(transform: dict) -> tuple[np.ndarray, np.ndarray]:
    """A numeric transform as `x * scale + offset` (per feature when standardised): the source's scale, then
    (x - mean) / std. The same numbers `builder predict` applies and an export builds into the model."""
    scale = np.asarray(transform.get("scale", 1.0), "float32")
    offset = np.zeros_like(scale)
    if "mean" in transform:
        std = np.asarray(transform["std"], "float32")
        scale, offset = scale / std, -np.asarray(transform["mean"], "float32") / std
    return scale, offset


def is_numeric_identity(transform: dict) -> bool:
    """Whether a transform leaves numeric inputs as they are (no scale, no standardisation, no vocabulary); named
    inputs: every one of them."""
    if "inputs" in transform:
        return all(is_numeric_identity(part) for part in transform["inputs"].values())
    return "vocabulary" not in transform and "mean" not in transform and transform.get("scale", 1.0) == 1.0


def describe_transform(transform: dict) -> str:
    """The run's input units in words: what a user feeds `predict` and an export (README: "Input units")."""
    if "inputs" in transform:
        return "; ".join(f"{name}: {describe_transform(part)}" for name, part in transform["inputs"].items())
    if "vocabulary" in transform:
        return (f"text: {transform.get('tokens', 'words')} mapped to token ids through the run's vocabulary "
                f"(data.json), padded or cut to {transform.get('sequence_length')}")
    parts = []
    low_high = transform.get("raw_range")
    given = f" ({low_high[0]:g}..{low_high[1]:g} in training)" if low_high else ""
    if transform.get("scale", 1.0) != 1.0:
        parts.append(f"multiplied by {transform['scale']:g}")
    if "mean" in transform:
        parts.append("standardised with the training data's mean and std (data.json)")
    if not parts:
        return f"the data's own values{given}, unchanged"
    return f"the data's own values{given}, {' then '.join(parts)} as training did"


def looks_transformed(x: np.ndarray, transform: dict) -> str | None:
    """A warning when numeric inputs look already scaled or standardised, though predict applies the run's
    transform itself (digit pixels given as 0..1 when training read 0..16, and the classes come out wrong)."""
    if is_numeric_identity(transform) or "vocabulary" in transform or "raw_range" not in transform:
        return None
    x = np.asarray(x, dtype="float64")
    if not x.size or not np.all(np.isfinite(x)):
        return None
    low, high = transform["raw_range"]
    scale, offset = affine_transform(transform)
    seen_low, seen_high = float(x.min()), float(x.max())
    after = np.stack([low * scale + offset, high * scale + offset])
    after_low, after_high = float(after.min()), float(after.max())
    narrow = (seen_high - seen_low) < 0.25 * (high - low) and seen_high > seen_low
    if narrow and after_low - 1e-6 <= seen_low and seen_high <= after_high + 1e-6:
        return (f"these inputs run {seen_low:g}..{seen_high:g}, which looks already transformed: the run's "
                f"inputs are {describe_transform(transform)}, and predict applies that itself")
    return None


def check_data_shapes(graph, model, x) -> None:
    """A located error when the data does not fit the model's input, before training starts."""
    mgraph = graph.models[model.name] if model.name in graph.models else graph.models[graph.main]
    inputs = [mgraph.nodes[name] for name in mgraph.inputs]
    names = [node.id for node in inputs]
    if isinstance(x, dict):   # named data (train.data.inputs): validate checked the names; the API may not have
        unknown = [name for name in x if name not in names]
        if unknown:
            raise SpecError.single(graph.locate("train", "data", "inputs", unknown[0]),
                                   f"train.data.inputs names {show(unknown[0])}, which is no input of model "
                                   f"{show(mgraph.name)} (its inputs: {', '.join(names)})",
                                   did_you_mean(unknown[0], names))
        missing = [name for name in names if name not in x]
        if missing:
            raise SpecError.single(graph.locate("train", "data", "inputs"), f"model {show(mgraph.name)} has the "
                                   f"input {show(missing[0])}, which train.data.inputs does not name",
                                   f"add `{missing[0]}: ...` to train.data.inputs")
        arrays = [x[name] for name in names]
    else:
        arrays = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(arrays) != len(inputs):
        raise SpecError.single(graph.locate("train", "data") if len(arrays) == 1 else inputs[0].location,
                               f"model {show(mgraph.name)} has {len(inputs)} inputs ({', '.join(names)}); the "
                               f"data gives {len(arrays)}", inputs_hint(graph.spec.train.data.source, names)
                               if len(arrays) == 1 and graph.spec.train is not None else None)
    for node, array in zip(inputs, arrays):
        expected = tuple(node.args["shape"])
        got = tuple(array.shape[1:])
        if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
            hint = None
            if got == (64,) and expected == (8, 8, 1):
                hint = "set `image: true` in train.data to get digits as 8x8x1 images"
            elif expected == (64,) and got == (8, 8, 1):
                hint = "remove `image: true` from train.data to get digits as 64 features"
            raise SpecError.single(node.location, f"input {show(node.id)} expects samples of shape {list(expected)}, "
                                                  f"the data gives {list(got)}", hint, node=node.id)
