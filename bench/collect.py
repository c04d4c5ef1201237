"""Gather every benchmark's results file into one page, bench/RESULTS.md.

Each script under bench/ writes its own table to bench/results/NAME.md (and the
quality scripts to bench/quality/results/); this puts them in reading order,
speed first, then what was learnt, with each file's own machine line kept.

    .venv/bin/python bench/collect.py          # after `make bench` (speed) and `make quality`
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# reading order; files not named here follow in alphabetical order
ORDER = ["cli", "render", "validate", "build", "train", "gpu_train", "transfer_digits", "augment_digits", "vit_digits",
         "search_lenet", "autoencoder_vae", "cgan", "diffusion", "stylegan", "pix2pix", "cyclegan", "seq2seq",
         "language_model"]

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^):/]+)\)")   # a picture by a relative file name


def results(root: Path = ROOT) -> list[Path]:
    files = sorted((root / "bench" / "results").glob("*.md")) + sorted(
        (root / "bench" / "quality" / "results").glob("*.md"))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(files, key=lambda path: (rank.get(path.stem, len(ORDER)), path.stem))


def page(files: list[Path], root: Path = ROOT) -> str:
    parts = ["# Benchmark results", "",
             "Written by `bench/collect.py` from each script's own file (`make bench` runs the speed scripts, "
             "`make quality` the generative-quality ones). Every ratio compares two things measured in the same "
             "run on the same machine; each section names its machine.", ""]
    parts += [f"- [{_title(path)}](#{_anchor(_title(path))}) (`{path.relative_to(root)}`)" for path in files]
    for path in files:
        text = path.read_text().strip()
        # each file's own title becomes a section; its sub-headings move one level down
        lines = ["#" + line if line.startswith("#") else line for line in text.splitlines()]
        # pictures beside a results file are linked relative to it; RESULTS.md sits higher up
        folder = path.parent.relative_to(root / "bench").as_posix()
        lines = [_IMAGE.sub(lambda m: f"![{m[1]}]({folder}/{m[2]})", line) for line in lines]
        parts += ["", *lines]
    return "\n".join(parts) + "\n"


def _title(path: Path) -> str:
    first = path.read_text().splitlines()[0] if path.read_text() else path.stem
    return first.lstrip("#").strip() or path.stem


def _anchor(title: str) -> str:
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def main() -> int:
    files = results()
    out = ROOT / "bench" / "RESULTS.md"
    out.write_text(page(files))
    print(f"wrote {out} ({len(files)} results files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
