"""Predictions from a run folder: read inputs the way training read its data, write outputs.

Inputs: `.npy` (an array of samples), `.npz` (its `x` array), `.csv` (one sample
per row; a header row is skipped), `.txt` (one text per line), an image file,
or a folder of images (resized to the model's input, scaled to 0..1). Arrays
get the run's own transform first (`data.json`: raw scale, standardisation,
vocabulary), so they are given in the units of the training data's source.
Outputs: `.npy` (raw model outputs) or `.csv` (for classifiers, the predicted
class and one probability column per class).

Public entry point: `predict_files(run, inputs, output)` -> number of samples.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from builder.training.data import apply_transform
from builder.errors import Location, SpecError
from builder.training.run_folder import RunFolder

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _read_csv(path: Path) -> np.ndarray:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    try:
        float(rows[0][0])
    except (ValueError, IndexError):
        rows = rows[1:]  # a header
    try:
        return np.array([[float(v) for v in row] for row in rows], dtype="float32")
    except ValueError as exc:
        raise SpecError.single(Location(str(path)), f"every value must be a number ({exc})") from None


def _read_images(paths: list[Path], shape: tuple) -> np.ndarray:
    from PIL import Image

    height, width, channels = shape
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None:
        raise SpecError.single(Location(str(paths[0])), f"the model takes {channels} channels; images have 1, 3 or 4")
    arrays = []
    for path in paths:
        with Image.open(path) as image:
            array = np.asarray(image.convert(mode).resize((width, height)), dtype="float32") / 255.0
        arrays.append(array if array.ndim == 3 else array[..., None])
    return np.stack(arrays)


def read_inputs(path: Path, input_shape: tuple, transform: dict) -> np.ndarray:
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not files:
            raise SpecError.single(Location(str(path)), "no images here (.png, .jpg, .bmp, .gif)")
        return _read_images(files, input_shape)  # 0..1, the range every image source trains on
    if suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            x = archive["x"] if "x" in archive.files else archive[archive.files[0]]
    elif suffix == ".csv":
        x = _read_csv(path)
    elif suffix == ".txt":
        x = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise SpecError.single(Location(str(path)), f"cannot read {suffix or 'this file'} inputs",
                               "give .npy, .npz, .csv, .txt, an image, or a folder of images")
    x = apply_transform(x, transform)
    if tuple(x.shape[1:]) != tuple(input_shape) and int(np.prod(x.shape[1:])) == int(np.prod(input_shape)):
        x = x.reshape((len(x),) + tuple(input_shape))  # e.g. 64 pixel columns for an 8x8x1 model
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise SpecError.single(Location(str(path)), f"the model takes samples of shape {list(input_shape)}; "
                                                    f"this file gives {list(x.shape[1:])}")
    return x


def predict_files(run: RunFolder, inputs: Path, output: Path) -> int:
    from builder.training.run_folder import load_run_model, read_transform

    model = load_run_model(run)
    transform = read_transform(run)
    input_shape = tuple(model.inputs[0].shape[1:])
    x = read_inputs(Path(inputs), input_shape, transform)
    y = model.predict(x, verbose=0)
    output = Path(output)
    if output.suffix.lower() == ".npy":
        np.save(output, np.asarray(y))
        return len(x)
    if output.suffix.lower() != ".csv":
        raise SpecError.single(Location(str(output)), "write predictions to a .csv or .npy file")
    y = np.asarray(y)
    classes = transform.get("classes") or []
    with output.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if y.ndim == 2 and y.shape[1] > 1:
            names = classes if len(classes) == y.shape[1] else [str(i) for i in range(y.shape[1])]
            writer.writerow(["prediction", *[f"p_{n}" for n in names]])
            for row in y:
                writer.writerow([names[int(np.argmax(row))], *[f"{v:.6f}" for v in row]])
        else:
            flat = y.reshape(len(y), -1)
            writer.writerow([f"output_{i}" for i in range(flat.shape[1])])
            writer.writerows([[f"{v:.6f}" for v in row] for row in flat])
    return len(x)
