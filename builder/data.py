"""Data for training: the spec's `train.data` -> NumPy arrays, split and normalised.

One function per source, registered by its `source:` name with `@source`; to
add a source, add a pydantic model to `builder.spec.DataSpec` and one function
here. Every source gives NumPy arrays (texts become token ids through a small
word vocabulary built here, in plain Python), so every Keras backend can
train on them; the TensorFlow backend then streams them through `tf.data` (see
`builder.train`). Normalisation statistics are computed on the training part
only and kept, so `predict` can apply the same transform to new inputs.

Paths come only from `train.data` or the command line, resolved against the
spec's folder. A source that fails (missing file, bad column, no network for
`keras.datasets`) raises `SpecError` located at the `train.data` entry.

Public entry point: `load_data(data_spec, spec_dir, location, seed)` -> `Dataset`.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from builder.errors import Location, SpecError, show

SOURCES: dict[str, Callable] = {}


def source(name: str):
    """Register a data source function under its `source:` name."""
    def register(fn):
        SOURCES[name] = fn
        return fn
    return register


@dataclass
class RawData:
    """What a source gives: all samples, before the split."""

    x: np.ndarray
    y: np.ndarray | None
    classes: list
    kind: str            # "features", "image", "text", "array", "sequence"
    description: str
    scale: float = 1.0   # applied to the source's raw values (digit pixels 0..16 -> 0..1)


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    classes: list = field(default_factory=list)      # label names, when labels are classes
    transform: dict = field(default_factory=dict)     # how inputs were normalised, for predict
    description: str = ""

    @property
    def samples(self) -> int:
        return len(self.x_train)


class DataError(Exception):
    """A source could not give data; becomes a located SpecError in `load_data`."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


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


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows")
    return rows[0], rows[1:]


def _column(header: list[str], key, path: Path) -> int:
    if isinstance(key, int):
        if not -len(header) <= key < len(header):
            raise DataError(f"{path} has {len(header)} columns; column {key} does not exist")
        return key % len(header)
    if key not in header:
        from builder.errors import did_you_mean
        raise DataError(f"{path} has no column {show(key)}", did_you_mean(key, header) or
                        f"its columns are: {', '.join(header[:20])}")
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
    return RawData(x, y, names, "features", f"{path.name}: {len(rows)} rows, {len(columns)} features")


@source("numpy")
def numpy_source(spec, folder: Path):
    path = folder / spec.path
    try:
        loaded = np.load(path, allow_pickle=False)  # never unpickle: a data file is not code
    except ValueError as exc:
        raise DataError(f"{path}: {exc}", "save arrays with np.savez (object arrays are refused)") from None
    if isinstance(loaded, np.ndarray):
        return RawData(loaded, None, [], "array", path.name)
    with loaded:
        missing = [k for k in (spec.x, spec.y) if k not in loaded.files]
        if spec.x in missing:
            raise DataError(f"{path} has no array {spec.x!r}; it has {', '.join(loaded.files)}")
        x = loaded[spec.x]
        y = loaded[spec.y] if spec.y not in missing else None
    names = [str(v) for v in sorted(set(y.tolist()))] if y is not None and y.dtype.kind in "iu" else []
    return RawData(x, y, names, "image" if x.ndim >= 3 else "features", path.name)


@source("images")
def image_folder(spec, folder: Path):
    from PIL import Image

    root = folder / spec.path
    if not root.is_dir():
        raise DataError(f"{root} is not a folder", "give a folder with one sub-folder per class")
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
            with Image.open(file) as image:
                array = np.asarray(image.convert(mode).resize((width, height)), dtype="float32") / 255.0
            images.append(array if array.ndim == 3 else array[..., None])
            labels.append(index)
    if not images:
        raise DataError(f"{root} holds no .png/.jpg/.bmp/.gif images")
    return RawData(np.stack(images), np.array(labels, dtype="int64"), classes, "image",
                   f"{root.name}: {len(images)} images", 1 / 255)


@source("text")
def text_source(spec, folder: Path):
    path = folder / spec.path
    labels = None
    names: list[str] = []
    if spec.column is not None:
        header, rows = _read_csv(path)
        texts = [row[_column(header, spec.column, path)] for row in rows]
        if spec.label is not None:
            labels, names = _labels([row[_column(header, spec.label, path)] for row in rows])
    else:
        texts = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise DataError(f"{path} has no text")
    x = np.array(texts, dtype=object)
    return RawData(x, labels, names, "text", f"{path.name}: {len(texts)} texts")


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


def load_data(data_spec, spec_dir: Path, location: Location, seed: int | None = None) -> Dataset:
    """Load, split (with the seed) and normalise the data a spec names."""
    try:
        raw = SOURCES[data_spec.source](data_spec, Path(spec_dir))
        x, y, classes, kind, description, scale = raw.x, raw.y, raw.classes, raw.kind, raw.description, raw.scale
    except DataError as exc:
        raise SpecError.single(location, str(exc), exc.hint) from None
    except FileNotFoundError as exc:
        raise SpecError.single(location, f"no such file: {exc.filename}",
                               "data paths are relative to the spec's folder") from None
    except OSError as exc:
        raise SpecError.single(location, f"cannot read the data: {exc}") from None
    train, val = _split(len(x), data_spec.validation_split, data_spec.shuffle, seed)
    x_train, x_val = x[train], (x[val] if len(val) else None)
    y_train = y[train] if y is not None else None
    y_val = y[val] if y is not None and len(val) else None
    # `scale` maps the raw values of this source (digit pixels 0..16, image bytes 0..255) to what trains
    transform: dict = {"kind": kind, "scale": scale}
    if kind == "text":
        vocabulary = build_vocabulary(x_train, data_spec.vocabulary_size)
        transform.update(vocabulary=vocabulary, sequence_length=data_spec.sequence_length)
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
                   y_val, [str(c) for c in classes], transform, description)


_WORD = re.compile(r"[a-z0-9']+")


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def build_vocabulary(texts, size: int) -> list[str]:
    """The most frequent words of the training texts; index 0 pads, 1 is out-of-vocabulary."""
    counts = Counter(word for text in texts for word in tokens(str(text)))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ["", "[UNK]"] + [word for word, _ in ranked[: max(0, size - 2)]]


def vectorize(texts, transform: dict) -> np.ndarray:
    """Texts -> int token ids, padded or cut to the sequence length."""
    index = {word: i for i, word in enumerate(transform["vocabulary"])}
    length = transform["sequence_length"]
    out = np.zeros((len(texts), length), dtype="int32")
    for row, text in enumerate(texts):
        ids = [index.get(word, 1) for word in tokens(str(text))][:length]
        out[row, : len(ids)] = ids
    return out


def apply_transform(x: np.ndarray, transform: dict) -> np.ndarray:
    """The training normalisation, for new inputs at predict time."""
    if "vocabulary" in transform:
        return vectorize(list(x), transform)
    x = np.asarray(x, dtype="float32") * transform.get("scale", 1.0)
    if "mean" in transform:
        x = (x - np.asarray(transform["mean"], "float32")) / np.asarray(transform["std"], "float32")
    return x
