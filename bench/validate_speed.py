"""How fast is `builder validate` on big specs? A benchmark, not a test.

Generates specs of about 100, 1,000 and 10,000 layers (a realistic mix: a
ResNet-like chain of Conv2D/BatchNormalization/ReLU/Add units written out
with residual references by id, and instances of a residual block, some
repeated), then times `builder validate` as a whole process (the venv's
`builder` executable in a subprocess: interpreter start, imports, load,
parse, resolve), the median of several runs, with the peak RSS of the child.
Prints a markdown table and writes it, with the machine, to
bench/results/validate.md.

    .venv/bin/python bench/validate_speed.py                   # 100, 1,000, 10,000 layers
    .venv/bin/python bench/validate_speed.py --sizes 10,20 --repeats 1 --output -   # a smoke run

Target: 1,000 layers validate in under 0.5 s, whole process.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILDER = Path(sys.executable).with_name("builder")
RESULTS = ROOT / "bench" / "results" / "validate.md"
TARGET_SIZE, TARGET_SECONDS = 1000, 0.5

HEADER = """\
name: bench_{n}
params: {{width: 16}}
blocks:
  residual:
    params: {{filters: null, stride: 1}}
    layers:
      - {{id: conv_a, type: Conv2D, filters: "${{filters}}", kernel_size: 3, strides: "${{stride}}", padding: same}}
      - {{type: BatchNormalization}}
      - {{type: ReLU}}
      - {{id: conv_b, type: Conv2D, filters: "${{filters}}", kernel_size: 3, padding: same}}
      - {{type: BatchNormalization}}
      - {{id: sum, type: Add, inputs: [-1, $in]}}
      - {{type: ReLU}}
inputs:
  image: {{shape: [32, 32, 3]}}
layers:
  - {{id: stem, type: Conv2D, filters: "${{width}}", kernel_size: 3, padding: same}}
"""
BLOCK_LAYERS = 7  # layers of one `residual` instance


def generate(n: int) -> tuple[str, int]:
    """A spec of about `n` layers after expansion; returns its text and the exact node count."""
    lines = [HEADER.format(n=n)]
    count, unit, previous = 1, 0, "stem"  # the stem
    while count < n - 2:
        unit += 1
        if unit % 4 == 0 and n - 2 - count >= BLOCK_LAYERS:  # every fourth unit: a block instance
            repeat = max(1, min(3, (n - 2 - count) // BLOCK_LAYERS))
            per_repeat = ", per_repeat: [{stride: 1}]" if repeat > 1 else ""
            lines.append(f"  - {{id: stage{unit}, block: residual, repeat: {repeat}, "
                         f"with: {{filters: \"${{width}}\"}}{per_repeat}}}\n")
            count += repeat * BLOCK_LAYERS
            previous = f"stage{unit}"
            continue
        lines.append(f"  - {{id: conv{unit}, type: Conv2D, filters: \"${{width}}\", kernel_size: 3, padding: same}}\n"
                     f"  - {{type: BatchNormalization, momentum: 0.9}}\n"
                     f"  - {{type: ReLU}}\n"
                     f"  - {{id: add{unit}, type: Add, inputs: [-1, {previous}]}}\n")
        count += 4
        previous = f"add{unit}"
    lines.append("  - {type: GlobalAveragePooling2D}\n  - {id: logits, type: Dense, units: 10}\n"
                 "outputs: [logits]\n")
    return "".join(lines), count + 1 + 2  # + the input, pooling and logits


# Runs `builder validate` once and reports on it: a fresh probe process per run, so that
# RUSAGE_CHILDREN holds exactly that one `builder` process (its CPU time and peak RSS).
PROBE = """
import resource, subprocess, sys, time
start = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, result.returncode)
sys.stdout.write(result.stdout + result.stderr)
"""

# The pipeline alone (load -> parse -> resolve) in a fresh process, after the imports: the part that grows
# with the spec, timed apart from interpreter start-up so that linearity can be judged.
PIPELINE = """
import sys, time
from builder.graph import load_graph
start = time.process_time()
load_graph(sys.argv[1])
print(time.process_time() - start)
"""

# As users run it: with Python's bytecode cache (some sandboxes set PYTHONDONTWRITEBYTECODE, which makes
# every run compile builder's sources again).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Row:
    size: int             # layers asked for
    nodes: int            # nodes after expansion (inputs included)
    lines: int            # lines of the spec
    wall: float           # median wall seconds of `builder validate`, whole process
    cpu: float            # median CPU seconds (user + system) of the same
    rss: int              # largest peak RSS, KiB
    pipeline: float       # fastest CPU seconds of load -> parse -> resolve alone


def run_once(path: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of one `builder validate` process, and its output."""
    probe = subprocess.run([sys.executable, "-S", "-c", PROBE, str(BUILDER), "validate", str(path)],
                           capture_output=True, text=True, check=True, env=ENV)
    head, output = probe.stdout.split("\n", 1)
    wall, cpu, rss, code = head.split()
    if int(code) != 0:
        raise SystemExit(f"builder validate failed on {path}:\n{output}")
    return float(wall), float(cpu), int(rss), output


def pipeline_once(path: Path) -> float:
    result = subprocess.run([sys.executable, "-c", PIPELINE, str(path)], capture_output=True, text=True,
                            check=True, env=ENV)
    return float(result.stdout)


def measure(size: int, nodes: int, path: Path, repeats: int) -> tuple[Row, str]:
    """One size: `repeats` whole-process runs (median) and pipeline runs (fastest), and the CLI's output.

    One run first, not counted: it fills the bytecode and file caches, so every size is a warm start.
    """
    run_once(path)
    runs = [run_once(path) for _ in range(repeats)]
    pipeline = min(pipeline_once(path) for _ in range(repeats))
    row = Row(size, nodes, path.read_text().count("\n"), statistics.median(r[0] for r in runs),
              statistics.median(r[1] for r in runs), max(r[2] for r in runs), pipeline)
    return row, runs[-1][3]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = match.group(1).strip() if match else platform.processor() or cpu
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}; Python {platform.python_version()}, " \
           f"{platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated layer counts")
    parser.add_argument("--repeats", type=int, default=5, help="runs per size; the median is reported")
    parser.add_argument("--output", default=str(RESULTS), help="markdown file to write, or - for none")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            text, nodes = generate(size)
            path = Path(folder) / f"bench_{size}.yaml"
            path.write_text(text)
            row, output = measure(size, nodes, path, args.repeats)
            if f"ok ({nodes} nodes in 1 model" not in output:
                raise SystemExit(f"expected {nodes} nodes from builder validate; got {output!r}")
            rows.append(row)

    lines = ["| layers asked | nodes | spec lines | wall (s) | CPU (s) | wall per layer (ms) | peak RSS (MiB) "
             "| load+parse+resolve (s) | per layer (µs) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.size:,} | {r.nodes:,} | {r.lines:,} | {r.wall:.3f} | {r.cpu:.3f} | "
                     f"{1000 * r.wall / r.nodes:.3f} | {r.rss / 1024:.1f} | {r.pipeline:.3f} | "
                     f"{1e6 * r.pipeline / r.nodes:.1f} |")
    notes = [f"Start-up (interpreter, imports: pydantic, PyYAML, click, the spec models) is most of a small "
             f"spec's time: {rows[0].cpu - rows[0].pipeline:.3f} s of {rows[0].cpu:.3f} s CPU at "
             f"{rows[0].size:,} layers."]
    if len(rows) >= 2:
        mid, top = rows[-2], rows[-1]
        pipeline_ratio = (top.pipeline / top.nodes) / (mid.pipeline / mid.nodes)
        whole_ratio = (top.wall / top.nodes) / (mid.wall / mid.nodes)
        notes.append(f"Linearity, time per layer at {top.size:,} / at {mid.size:,}: {pipeline_ratio:.2f} for "
                     f"load+parse+resolve (1.0 is linear); {whole_ratio:.2f} for the whole process (below 1: "
                     "start-up is paid once).")
    target = next((r for r in rows if r.size == TARGET_SIZE), None)
    if target is not None:
        notes.append(f"Target, {TARGET_SIZE:,} layers under {TARGET_SECONDS} s whole process: "
                     f"{'met' if target.wall < TARGET_SECONDS else 'MISSED'} ({target.wall:.3f} s wall, "
                     f"{target.cpu:.3f} s CPU).")
    table = "\n".join(lines)
    report = "\n".join([
        "# `builder validate` speed", "",
        f"Whole process: `{BUILDER.name} validate SPEC` in a subprocess (interpreter start, imports, load, parse, "
        f"resolve), median of {args.repeats} run{'s' * (args.repeats != 1)} after a warm-up run; CPU time "
        "(user + system) and peak RSS from `getrusage(RUSAGE_CHILDREN)`. load+parse+resolve: the same work "
        "without start-up, CPU time in a fresh process, fastest of the runs. Generated by "
        "`bench/validate_speed.py`.", "",
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} when done (wall time grows with the load "
        "of a shared machine, CPU time much less).", "", table, "", *notes]) + "\n"
    print(report, end="")
    if args.output != "-":
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
