"""The benchmark scripts still run (at a tiny size), so they cannot rot between benchmark runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from spec_helpers import ROOT

from builder.graph import load_graph
from builder.language.loader import load_text

BENCH = ROOT / "bench" / "validate_speed.py"

# Every script that trains specs, run end to end by its --tiny flag, and its report's table header: about
# 160 s of CPU together (mostly importing TensorFlow and tracing train steps), some 80 s on two idle cores
# at -n 2; search_lenet.py, three builder processes, is the largest (~37 s). `-m "not bench_script"` leaves
# them out. The seq2seq one trains a transformer with 6 decoder layers whose tracing alone takes about 35 s
# of CPU: it runs with `pytest --slow`; test_seq2seq_cases_at_another_size covers its own piece.
TINY_SCRIPTS = {
    "quality/autoencoder_vae.py": "| spec | inputs | code size | model MSE | PCA MSE | model / PCA |",
    "quality/cgan.py": "| judge | accuracy on held-out real digits | requested label assigned",
    "quality/diffusion.py": "| measure | value |\n|---|---|\n| samples generated | 16 (ddim, 5 steps) |",
    "quality/language_model.py": "| measure | value |\n|---|---|\n| **validation loss (model)** |",
    "quality/seq2seq.py": "| model and task | exact match, greedy | exact match, beam 4 |",
    "quality/stylegan.py": "| measure | value |\n|---|---|\n| samples generated | 16 per row below |",
    "vit_digits.py": "| spec | parameters | seed | val accuracy (last epoch) |",
    "search_lenet.py": "| step | wall time | val_accuracy |",
    "augment_digits.py": "| epochs | augmentation | seed 0 | mean |",
    "transfer_digits.py": "| seed | source (0-4) | transfer | same schedule, no init | scratch |",
}
SLOW_SCRIPTS = {"quality/seq2seq.py"}


def bench_module(path: Path = BENCH):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def results_files() -> dict:
    """The checked-in results files and when each was last written."""
    folders = [BENCH.parent / "results", BENCH.parent / "quality" / "results"]
    return {path: path.stat().st_mtime_ns for folder in folders for path in folder.iterdir()}


def test_generated_specs_are_valid_and_the_size_they_claim():
    for size in (10, 150, 600):
        text, nodes = bench_module().generate(size)
        graph = load_graph(load_text(text, f"bench_{size}.yaml"))
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
    script = ROOT / "bench" / "cli_speed.py"
    result = subprocess.run([sys.executable, str(script), "--sizes", "10,20", "--repeats", "1", "--output", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `builder")]
    # --help, validate, and render at 10 and 20 layers, collapsed by default and not
    assert len(rows) == 6
    for row in rows:
        wall, cpu, rss = (float(cell) for cell in row.strip("|").split("|")[2:5])
        assert wall > 0 and cpu > 0 and rss > 0


def test_render_speed_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "render.md"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "render_speed.py"), "--repeats", "1",
                             "--rows", "shapes,no-shapes", "--output", str(out)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `builder render")]
    assert len(rows) == 2 and all(row.endswith("| no |") for row in rows)   # ResNet152 with shapes, and no Keras
    for row in rows:
        assert all(float(cell) > 0 for cell in row.strip("|").split("|")[1:6])


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


@pytest.mark.bench_script
@pytest.mark.parametrize("script, header", [
    pytest.param(script, header, id=script, marks=[pytest.mark.slow] if script in SLOW_SCRIPTS else [])
    for script, header in TINY_SCRIPTS.items()])
def test_script_runs_end_to_end_at_its_tiny_size(tmp_path, script, header):
    before = results_files()
    out = tmp_path / "report" / "out.md"
    # one thread each: toy models gain nothing from more, and xdist already runs one script per core;
    # the scripts' temporary run folders land in tmp_path, which pytest cleans
    env = {**os.environ, "TMPDIR": str(tmp_path),
           **{name: "1" for name in ("TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")}}
    result = subprocess.run([sys.executable, str(BENCH.parent / script), "--tiny", "--output", str(out)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = out.read_text()
    assert header in report and "Machine: " in report
    assert results_files() == before   # --tiny never writes the checked-in figures


def test_tiny_sets_defaults_and_keeps_the_results_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # where --tiny's report folder goes
    common = bench_module(BENCH.parent / "common.py")
    results = BENCH.parent / "results" / "example.md"

    def parser():
        arguments = common.Arguments("Example.\n", results, tiny={"epochs": 1, "sets": ["depth=1"]})
        arguments.add_argument("--epochs", type=int, default=40)
        arguments.add_argument("--set", dest="sets", action="append", default=[])
        return arguments

    full = parser().parse_args([])
    assert (full.epochs, full.sets, full.output, full.tiny) == (40, [], str(results), False)
    tiny = parser().parse_args(["--tiny"])
    assert (tiny.epochs, tiny.sets) == (1, ["depth=1"]) and Path(tiny.output).name == "example.md"
    assert Path(tiny.output).parent.parent == tmp_path and Path(tiny.output).parent.is_dir()
    assert parser().parse_args(["--tiny", "--epochs", "3", "--output", "-"]).epochs == 3
    assert "(--epochs 1 --set depth=1)" in " ".join(parser().format_help().split())
    assert common.numbers("0, 1,2") == [0, 1, 2] and common.numbers("") == []
    common.write_report("# Report\n", tmp_path / "deep" / "report.md", echo=False)
    assert (tmp_path / "deep" / "report.md").read_text() == "# Report\n"


def test_seq2seq_cases_at_another_size(tmp_path):
    from builder.graph import load_graph

    seq2seq = bench_module(BENCH.parent / "quality" / "seq2seq.py")
    assert seq2seq.spec_file("transformer.yaml", None, tmp_path) == seq2seq.ROOT / "specs" / "transformer.yaml"
    for i, (_, name, overrides, data, _) in enumerate(seq2seq.CASES):
        (tmp_path / str(i)).mkdir()
        data_spec = load_graph(str(seq2seq.spec_file(name, data, tmp_path / str(i), 300)), overrides).spec.train.data
        assert data_spec.samples == 300 and data_spec.source == "synthetic"
        if data is not None:
            assert data_spec.task == "add"
