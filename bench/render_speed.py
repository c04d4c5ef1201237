"""ResNet152 drawn with shapes, whole processes: against Keras' own import floor, and the ways it was done before.

Issue 20's figures: `builder render` with shapes must draw ResNet152 (specs/resnet50.yaml with
`--set depth3=8 --set depth4=36`) in under 3 s, whole process, with a peak no more than `python -c
"import keras"`'s plus 100 MB. Rows, each a fresh process, run round-robin so that a shared machine's
load falls on every row alike, after one warm-up round that is not counted:

- floor: `python -c "import keras"` (TensorFlow backend), the least any Keras path can cost;
- shapes: `builder render SPEC --shapes -o FILE.svg`: the Keras-free shape pass (`builder.model.shapes`);
- no-shapes: the same with `--no-shapes`;
- keras: the same drawing with Keras' symbolic shapes (`from_keras`: built in a StatelessScope, no
  variable given a value), the path `render` takes for a layer the Keras-free pass cannot follow;
- build: the same drawing from a build with weights, as `render` drew before (10-14 s, 1.26 GB).

Each process reports its own peak RSS (VmHWM from /proc: getrusage's children figure would carry a
parent's peak across fork and exec) and its CPU seconds with its children's (`dot`, whose memory is its
own process's and not counted); wall time is measured outside, interpreter start included. Writes
bench/results/render.md.

    .venv/bin/python bench/render_speed.py                       # 5 rounds, every row (~5 minutes on 2 cores)
    .venv/bin/python bench/render_speed.py --repeats 1 --rows shapes,no-shapes --output -    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from machine import machine_line  # noqa: E402

SPEC = ROOT / "specs" / "resnet50.yaml"
SETS = {"depth3": 8, "depth4": 36}          # ResNet152: stages of 3, 8, 36 and 3 bottleneck blocks
RESULTS = ROOT / "bench" / "results" / "render.md"
SECONDS, EXTRA_MIB = 3.0, 100               # the targets for the `shapes` row

# Runs a row's code, then writes what the process used: its own peak (VmHWM), its CPU seconds with its children's,
# and whether Keras was imported.
WRAPPER = r"""
import atexit, json, resource, sys
report, code = sys.argv[1], sys.argv[2]
def done():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    json.dump({"hwm_kib": int(status["VmHWM"].split()[0]),
               "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, "keras": "keras" in sys.modules},
              open(report, "w"))
atexit.register(done)
sys.argv = ["builder", *sys.argv[3:]]
exec(code)
"""

CLI = "from builder.cli import main; main()"
# the drawing `render` makes (depth picked automatically), from shapes of the kind the row names
DRAW = """
from builder.graph import load_graph, render as drawing
from builder.training.backends.select import import_keras
import_keras()
graph = load_graph(sys.argv[1], {sets!r})
{shapes}
drawing.write(drawing.render(graph, shapes=found.shapes, params=found.params, depth="auto"), sys.argv[2])
"""
KERAS = DRAW.replace("{shapes}", "from builder.model.shapes import from_keras\nfound = from_keras(graph)")
BUILD = DRAW.replace("{shapes}", "from builder.model.compile import compile_graph\nfound = compile_graph(graph)")
SET_FLAGS = [flag for name, value in SETS.items() for flag in ("--set", f"{name}={value}")]

ROWS = {   # name: (what the table calls it, code, arguments after it: {out} is the drawing's path)
    "floor": ('`python -c "import keras"`', "import keras", []),
    "shapes": ("`builder render --shapes`", CLI, ["render", str(SPEC), *SET_FLAGS, "--shapes", "-o", "{out}"]),
    "no-shapes": ("`builder render --no-shapes`", CLI, ["render", str(SPEC), *SET_FLAGS, "--no-shapes", "-o", "{out}"]),
    "keras": ("render with Keras' symbolic shapes (`from_keras`)", KERAS.format(sets=SETS), [str(SPEC), "{out}"]),
    "build": ("render from a build with weights (before)", BUILD.format(sets=SETS), [str(SPEC), "{out}"]),
}
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "KERAS_BACKEND": "tensorflow",
       "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_once(row: str, folder: Path) -> dict:
    """One fresh process of a row: wall seconds, CPU seconds, peak RSS (KiB), whether it imported Keras."""
    _, code, args = ROWS[row]
    out, report = folder / f"{row}.svg", folder / f"{row}.json"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", WRAPPER, str(report), code,
                             *(a.format(out=out) for a in args)], capture_output=True, text=True, env=ENV, cwd=ROOT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{row} failed:\n{result.stderr[-3000:]}")
    if args and not out.read_text().lstrip().startswith(("<?xml", "<svg")):
        raise SystemExit(f"{row} wrote no svg")
    return {"wall": wall, **json.loads(report.read_text())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="counted rounds, after one warm-up round")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--output", default=str(RESULTS), help="markdown file, or - for none")
    args = parser.parse_args(argv)
    rows = args.rows.split(",")
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}: choose from {', '.join(ROWS)}")

    loads = [os.getloadavg()[0]]
    runs: dict[str, list[dict]] = {row: [] for row in rows}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.repeats + 1):   # round 0 warms the bytecode and file caches
            for row in rows:
                result = run_once(row, Path(folder))
                if round_:
                    runs[row].append(result)
            loads.append(os.getloadavg()[0])

    def mib(kib: float) -> float:
        return kib / 1024

    table = []
    for row in rows:
        walls = [r["wall"] for r in runs[row]]
        table.append(f"| {ROWS[row][0]} | {min(walls):.2f} | {statistics.median(walls):.2f} "
                     f"| {statistics.median(r['cpu'] for r in runs[row]):.2f} "
                     f"| {mib(statistics.median(r['hwm_kib'] for r in runs[row])):.0f} "
                     f"| {mib(max(r['hwm_kib'] for r in runs[row])):.0f} "
                     f"| {'yes' if any(r['keras'] for r in runs[row]) else 'no'} |")
    notes = []
    if "shapes" in runs:
        walls = [r["wall"] for r in runs["shapes"]]
        peak = mib(max(r["hwm_kib"] for r in runs["shapes"]))
        notes.append(f"`render --shapes`: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s, target "
                     f"under {SECONDS:g} s: {'met' if statistics.median(walls) < SECONDS else 'NOT met'} (median).")
        if "floor" in runs:
            floor = mib(statistics.median(r["hwm_kib"] for r in runs["floor"]))
            notes.append(f"Peak {peak:.0f} MiB (largest run) against Keras' import floor {floor:.0f} MiB + {EXTRA_MIB} "
                         f"= {floor + EXTRA_MIB:.0f} MiB: {'met' if peak <= floor + EXTRA_MIB else 'NOT met'}.")
    report = "\n".join([
        "# ResNet152 drawn with shapes, whole processes", "",
        f"`builder render specs/resnet50.yaml {' '.join(SET_FLAGS)}` (ResNet152, 517 nodes, drawn to the depth render "
        f"picks) to svg. Each row a fresh process, {args.repeats} round{'s' * (args.repeats != 1)} run round-robin "
        "after a warm-up round; wall time includes interpreter start; CPU includes `dot`; peak RSS is the Python "
        "process's own (VmHWM; `dot` is a process of its own). Generated by `bench/render_speed.py`.", "",
        machine_line(), f"Load average (1 min) over the run: {min(loads):.2f} to {max(loads):.2f}.", "",
        "| command | best wall (s) | median wall (s) | median CPU (s) | median peak RSS (MiB) | largest peak RSS (MiB) "
        "| imports Keras |", "|---|---:|---:|---:|---:|---:|---|",
        *table, "", *notes]) + "\n"
    print(report, end="")
    if args.output != "-":
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
