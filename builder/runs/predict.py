"""Predictions from a run folder: read inputs the way training read its data, write outputs.

Inputs: `.npy` (an array of samples), `.npz` (its `x` array), `.csv` (one sample
per row; a header row is skipped), `.txt` (one text per line), an image file,
or a folder of images (resized to the model's input, scaled to 0..1). Arrays
get the run's own transform first (`data.json`: raw scale, standardisation,
vocabulary), so they are given in the units of the training data's source:
the same units every export of the run takes (`builder.runs.export` builds the
transform into the exported model). Inputs that look already transformed get
a warning.
Outputs: `.npy` (raw model outputs) or `.csv` (for classifiers, the predicted
class and one probability column per class).

A model with several inputs (`train.data.inputs`) reads an `.npz` file with an
array per input name, each given the transform of its input; a model with
several outputs writes an `.npz` file with an array per output name.

Public entry point: `predict_files(run, inputs, output)` -> number of samples.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from builder import files
from builder.errors import Location, SpecError
from builder.training.data import (DataError, apply_transform, looks_transformed, read_arrays, read_csv_rows,
                                   read_image)
from builder.training.run_folder import RunFolder

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _read_csv(path: Path) -> np.ndarray:
    rows = read_csv_rows(path)
    try:
        float(rows[0][0])
    except (ValueError, IndexError):
        rows = rows[1:]  # a header
    if not rows:
        raise DataError(f"{path} has no rows of numbers")
    if len({len(row) for row in rows}) > 1:
        raise DataError(f"{path}: rows have different numbers of values ({sorted({len(r) for r in rows})})")
    try:
        return np.array([[float(v) for v in row] for row in rows], dtype="float32")
    except ValueError as exc:
        raise DataError(f"{path}: every value must be a number ({exc})") from None


def _read_images(paths: list[Path], shape: tuple) -> np.ndarray:
    if len(shape) != 3:
        raise DataError(f"{paths[0]}: the model takes samples of shape {list(shape)}, not images")
    height, width, channels = shape
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None or height is None or width is None:
        raise DataError(f"{paths[0]}: the model takes images of shape {list(shape)}; builder reads images into "
                        "a known height and width with 1, 3 or 4 channels")
    return np.stack([read_image(path, mode, (width, height)) for path in paths])


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def read_inputs(path: Path, input_shape: tuple, transform: dict, warn=_warn) -> np.ndarray:
    """The samples in `path`, in the run's units (its transform applied), shaped as the model's input.
    `warn` hears of inputs that look already transformed."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not images:
            raise DataError(f"{path}: no images here (.png, .jpg, .bmp, .gif)")
        return _read_images(images, input_shape)  # 0..1, the range every image source trains on
    if suffix in (".npy", ".npz"):
        arrays = read_arrays(path)
        x = arrays[None] if None in arrays else arrays["x"] if "x" in arrays else next(iter(arrays.values()))
        if x.ndim == 0 or len(x) == 0 or x.dtype.kind not in "biuf":
            raise DataError(f"{path}: expected an array of samples (numbers, at least one). "
                            f"Received: shape {list(x.shape)} of {x.dtype}")
    elif suffix == ".csv":
        x = _read_csv(path)
    elif suffix == ".txt":
        x = [line for line in files.read_text(path).splitlines() if line.strip()]
        if not x:
            raise DataError(f"{path} has no text")
    else:
        raise DataError(f"{path}: cannot read {suffix or 'this file'} inputs",
                        "give .npy, .npz, .csv, .txt, an image, or a folder of images")
    if "mean" in transform and np.shape(x)[-1] != len(transform["mean"]):
        raise DataError(f"{path}: the run was trained on {len(transform['mean'])} features per sample; this file "
                        f"gives {np.shape(x)[-1]}")
    doubt = looks_transformed(x, transform)
    if doubt:
        warn(f"{path}: {doubt}")
    x = apply_transform(x, transform)
    if tuple(x.shape[1:]) != tuple(input_shape) and int(np.prod(x.shape[1:])) == int(np.prod(input_shape)):
        x = x.reshape((len(x),) + tuple(input_shape))  # e.g. 64 pixel columns for an 8x8x1 model
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise DataError(f"{path}: the model takes samples of shape {list(input_shape)}; this file gives "
                        f"{list(x.shape[1:])}")
    return x


def read_named_inputs(path: Path, model, transform: dict, warn=_warn) -> dict:
    """The samples of a model with several inputs: an .npz file with an array per input name, each in the run's
    units (its input's transform applied) and shaped as its input."""
    names = [tensor.name for tensor in model.inputs]
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path}: this model has {len(names)} inputs ({', '.join(names)}); give an .npz file with "
                        "an array per input", f"np.savez(path, {', '.join(f'{n}=...' for n in names)})")
    arrays = read_arrays(path)
    missing = [name for name in names if name not in arrays]
    if missing:
        from builder.errors import did_you_mean, show

        others = [str(key) for key in arrays if key not in names]
        raise DataError(f"{path} has no array {show(missing[0])} for the model's input of that name (it has "
                        f"{', '.join(map(str, arrays))})", did_you_mean(missing[0], others)
                        or f"save an array per input: {', '.join(names)}")
    parts = transform.get("inputs", {})
    x = {}
    for tensor in model.inputs:
        array, part = arrays[tensor.name], parts.get(tensor.name, {})
        if array.ndim == 0 or len(array) == 0 or array.dtype.kind not in "biuf":
            raise DataError(f"{path}: expected an array of samples for {tensor.name!r} (numbers, at least one). "
                            f"Received: shape {list(array.shape)} of {array.dtype}")
        doubt = looks_transformed(array, part)
        if doubt:
            warn(f"{path}: {tensor.name}: {doubt}")
        array = apply_transform(array, part) if part else array
        if tuple(array.shape[1:]) != tuple(tensor.shape[1:]):
            raise DataError(f"{path}: input {tensor.name!r} takes samples of shape {list(tensor.shape[1:])}; this "
                            f"file gives {list(array.shape[1:])}")
        x[tensor.name] = array
    if len({len(array) for array in x.values()}) > 1:
        raise DataError(f"{path}: the arrays have different numbers of samples: "
                        + ", ".join(f"{name} {len(array):,}" for name, array in x.items()))
    return x


def predict_files(run: RunFolder, inputs: Path, output: Path) -> int:
    from builder.training.run_folder import load_run_model, read_transform

    output = Path(output)
    if output.suffix.lower() not in (".csv", ".npy", ".npz"):
        raise SpecError.single(Location(str(output)), "write predictions to a .csv, .npy or .npz file")
    if not output.parent.is_dir():
        raise SpecError.single(Location(str(output)), f"no folder {output.parent} to write into")
    model = load_run_model(run)
    transform = read_transform(run)
    names = list(model.output_names)
    if len(names) > 1 and output.suffix.lower() != ".npz":
        raise SpecError.single(Location(str(output)), f"this model has {len(names)} outputs ({', '.join(names)}); "
                               "write them to an .npz file, an array per output")
    try:
        if len(model.inputs) > 1:
            x = read_named_inputs(Path(inputs), model, transform)
        else:   # (one named input: its own transform)
            own = transform.get("inputs", {}).get(model.inputs[0].name, transform)
            x = read_inputs(Path(inputs), tuple(model.inputs[0].shape[1:]), own)
    except (DataError, files.FileProblem) as problem:
        raise SpecError.single(Location(str(inputs)), str(problem), problem.hint) from None
    y = model.predict(x, verbose=0)
    count = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    if output.suffix.lower() == ".npz":
        outputs = y if isinstance(y, (list, tuple)) else [y]
        np.savez(output, **{name: np.asarray(value) for name, value in zip(names, outputs)})
        return count
    if output.suffix.lower() == ".npy":
        np.save(output, np.asarray(y))
        return count
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
    return count
