"""Whole-process speed of the light commands: start-up, and `builder render --no-shapes` on big specs.

What a user waits for at the prompt, each command a fresh process (interpreter
start, imports, the work, and for render the real `dot` program):

- start-up: `builder --help`, and `builder validate specs/lenet.yaml`;
- `builder render SPEC --no-shapes -o SPEC.svg` on the generated specs of
  `bench/validate_speed.py` (100, 1,000 and 10,000 layers, collapsed by
  default above its size limit and drawn to the depth render picks, as a user gets it) and with
  `--no-collapse --depth all` (every node drawn, which is what growth is judged by);

median wall and CPU seconds over repeats after a warm-up run, and the peak RSS
of the builder process (`dot`'s own memory is not counted; its CPU is, as a
child of the probe). Writes bench/results/cli.md.

    .venv/bin/python bench/cli_speed.py
    .venv/bin/python bench/cli_speed.py --sizes 10 --repeats 1 --output -    # a smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from machine import machine_line  # noqa: E402


def _validate_speed():
    spec = importlib.util.spec_from_file_location("validate_speed", ROOT / "bench" / "validate_speed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


VALIDATE = _validate_speed()   # its spec generator and its one-process probe


def run_once(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the process and its children) and peak RSS (KiB) of one command."""
    probe = subprocess.run([sys.executable, "-S", "-c", VALIDATE.PROBE, *argv],
                           capture_output=True, text=True, check=True, env=VALIDATE.ENV)
    head, output = probe.stdout.split("\n", 1)
    wall, cpu, rss, code = head.split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{output}")
    return float(wall), float(cpu), int(rss)


def measure(argv: list[str], repeats: int) -> tuple[float, float, float]:
    run_once(argv)   # warm-up: bytecode and file caches
    runs = [run_once(argv) for _ in range(repeats)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            max(r[2] for r in runs) / 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated layer counts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "cli.md"))
    args = parser.parse_args(argv)
    builder = str(VALIDATE.BUILDER)

    rows = []
    for label, command in (("`builder --help`", [builder, "--help"]),
                           ("`builder validate specs/lenet.yaml`", [builder, "validate", str(ROOT / "specs/lenet.yaml")])):
        wall, cpu, rss = measure(command, args.repeats)
        rows.append(f"| {label} | | {wall:.3f} | {cpu:.3f} | {rss:.1f} |")
    sizes = [int(size) for size in args.sizes.split(",")]
    per_node = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            text, nodes = VALIDATE.generate(size)
            spec = Path(folder) / f"bench_{size}.yaml"
            spec.write_text(text)
            variants = [("", []), (" --no-collapse --depth all", ["--no-collapse", "--depth", "all"])]
            for suffix, flags in variants:
                out = Path(folder) / f"bench_{size}.svg"
                wall, cpu, rss = measure([builder, "render", str(spec), "--no-shapes", *flags, "-o", str(out)],
                                         args.repeats)
                if not out.read_text().lstrip().startswith(("<?xml", "<svg")):
                    raise SystemExit(f"render wrote no svg for {size} layers")
                if flags:   # every node drawn: the one to judge growth by
                    per_node[size] = (wall, nodes)
                rows.append(f"| `builder render --no-shapes{suffix}` to svg | {nodes:,} | {wall:.3f} | {cpu:.3f} "
                            f"| {rss:.1f} |")
    notes = []
    if len(per_node) >= 3:
        # marginal cost per node between sizes: start-up cancels out; equal slopes mean linear growth
        (_, (w1, n1)), (_, (w2, n2)), (_, (w3, n3)) = sorted(per_node.items())[-3:]
        low, high = (w2 - w1) / (n2 - n1), (w3 - w2) / (n3 - n2)
        notes.append(f"Render's marginal time per node (--no-collapse --depth all): {1e3 * low:.3f} ms from {n1:,} "
                     f"to {n2:,} nodes, {1e3 * high:.3f} ms from {n2:,} to {n3:,} (ratio {high / low:.2f}; 1.0 is "
                     "linear).")
    report = "\n".join([
        "# Start-up and `builder render --no-shapes`, whole processes", "",
        f"Each command a fresh process, median of {args.repeats} after a warm-up run; CPU includes `dot`; peak "
        "RSS is the largest process's (`getrusage(RUSAGE_CHILDREN)`). Generated by `bench/cli_speed.py`.", "",
        machine_line(), "",
        "| command | nodes | wall (s) | CPU (s) | peak RSS (MiB) |", "|---|---:|---:|---:|---:|",
        *rows, "", *notes]) + "\n"
    print(report, end="")
    if args.output != "-":
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
