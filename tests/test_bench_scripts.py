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


def test_cli_speed_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "cli.md"
    script = Path(__file__).resolve().parent.parent / "bench" / "cli_speed.py"
    result = subprocess.run([sys.executable, str(script), "--sizes", "10,20", "--repeats", "1", "--output", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `builder")]
    # --help, validate, and render at 10 and 20 layers, collapsed by default and not
    assert len(rows) == 6
    for row in rows:
        wall, cpu, rss = (float(cell) for cell in row.strip("|").split("|")[2:5])
        assert wall > 0 and cpu > 0 and rss > 0


def test_collect_puts_every_results_file_on_one_page(tmp_path):
    spec = importlib.util.spec_from_file_location("collect", BENCH.parent / "collect.py")
    collect = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(collect)
    results = tmp_path / "bench" / "results"
    quality = tmp_path / "bench" / "quality" / "results"
    results.mkdir(parents=True)
    quality.mkdir(parents=True)
    (results / "train.md").write_text("# Training\n\n| a | b |\n")
    (results / "cli.md").write_text("# Start-up\n\n## detail\n")
    (quality / "diffusion.md").write_text("# Diffusion\n\n![samples](diffusion.png)\n")
    files = collect.results(tmp_path)
    assert [path.stem for path in files] == ["cli", "train", "diffusion"]
    page = collect.page(files, tmp_path)
    assert page.index("## Start-up") < page.index("## Training") < page.index("## Diffusion")
    assert "### detail" in page and "![samples](quality/results/diffusion.png)" in page
