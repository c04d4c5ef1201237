"""Sampling from a trained run: `builder generate RUN -n N [--label K] -o FILE`.

Each generative training kind registers a sampler next to its training code
with `@sampler("kind")` (`builder.training.kinds.base`): a function `(request) -> Samples`
that draws from the run's trained models. This module writes what it returns: a `.png` grid for
images, a `.txt` file for sequences, or the raw array as `.npy`.

Public entry point: `generate(run, n, output, label=None, options=None)` -> path written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.errors import Location, SpecError
from builder.training.kinds import SAMPLERS, Request, Samples
from builder.training.run_folder import RunFolder, load_run_models, run_graph

def write_image_grid(images: np.ndarray, path: Path, titles: list[str] | None = None,
                     columns: int | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = min(columns, n) if columns else int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + (0.2 if titles else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            image = np.clip(images[i], 0.0, 1.0)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None,
                      vmin=0, vmax=1)
            if titles:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_samples(samples: Samples, output: Path) -> Path:
    suffix = output.suffix.lower()
    if suffix == ".npy":
        array = samples.array if samples.array is not None else samples.images
        if array is None:
            array = np.array(samples.texts)
        np.save(output, array)
        return output
    if samples.images is not None and suffix == ".png":
        return write_image_grid(samples.images, output, samples.titles, samples.columns)
    if samples.texts is not None and suffix in (".txt", ".png"):
        path = output.with_suffix(".txt") if suffix == ".png" else output
        path.write_text("\n".join(samples.texts) + "\n", encoding="utf-8")
        return path
    raise SpecError.single(Location(str(output)), f"cannot write these samples as {suffix or 'this file'}",
                           "use .png (a grid of images, or text for sequences), .txt or .npy")


def generate(run: RunFolder, n: int, output: Path, label: int | None = None, seed: int | None = None,
             options: dict | None = None) -> Path:
    graph = run_graph(run)
    kind = graph.spec.train.kind if graph.spec.train else "supervised"
    if kind not in SAMPLERS:
        raise SpecError.single(Location(str(run.path)), f"runs of kind {kind!r} do not generate samples",
                               f"generative kinds: {', '.join(sorted(SAMPLERS)) or 'none yet'}")
    request = Request(run, graph, load_run_models(run), n, label, seed, options or {})
    return write_samples(SAMPLERS[kind](request), Path(output))
