"""The benchmark scripts still run (at a tiny size), so they cannot rot between benchmark runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from builder.load import load_text
from builder.parse import parse
from builder.resolve import resolve

BENCH = Path(__file__).resolve().parent.parent / "bench" / "validate_speed.py"


def bench_module():
    spec = importlib.util.spec_from_file_location("validate_speed", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_generated_specs_are_valid_and_the_size_they_claim():
    for size in (10, 150, 600):
        text, nodes = bench_module().generate(size)
        document = load_text(text, f"bench_{size}.yaml")
        graph = resolve(parse(document), document)
        assert graph.node_count() == nodes and size <= nodes < size + 10
        assert graph.warnings == []
    model = graph.models["bench_600"]
    assert {n.type for n in model.nodes.values()} >= {"Conv2D", "BatchNormalization", "ReLU", "Add"}
    assert any(n.scopes and n.scopes[0].repeats > 1 for n in model.nodes.values())  # repeated blocks


def test_validate_speed_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "validate.md"
    result = subprocess.run([sys.executable, str(BENCH), "--sizes", "10,20", "--repeats", "1", "--output", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = out.read_text()
    assert report == result.stdout.rstrip("\n") + "\n"
    assert "Machine: " in report and "Python 3." in report
    rows = [line for line in report.splitlines() if line.startswith("| 10 |") or line.startswith("| 20 |")]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 9
        wall, cpu, rss, pipeline = float(cells[3]), float(cells[4]), float(cells[6]), float(cells[7])
        assert 0 < pipeline < wall and cpu > 0 and rss > 0
