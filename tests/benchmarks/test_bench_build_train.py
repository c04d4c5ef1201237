"""The build and training benchmarks run (at tiny sizes): the scripts cannot rot unnoticed.

They measure; nothing here asserts a speed."""

from __future__ import annotations

import subprocess
import sys

from spec_helpers import ROOT


def test_build_benchmark_runs_and_writes_its_table(tmp_path):
    out = tmp_path / "build.md"
    subprocess.run([sys.executable, str(ROOT / "bench" / "build_speed.py"), "--tiny", "--repeats", "1",
                    "--out", str(out)], check=True, capture_output=True, timeout=600)
    text = out.read_text()
    assert "| ResNet50 | 25,636,712 | 25,636,712 |" in text  # the same model both ways
    assert "| DenseNet121 | 8,062,504 | 8,062,504 |" in text


def test_training_benchmark_runs_and_writes_its_table(tmp_path):
    out = tmp_path / "train.md"
    subprocess.run([sys.executable, str(ROOT / "bench" / "train_speed.py"), "--tiny", "--epochs", "2",
                    "--repeats", "1", "--workloads", "lenet", "--modes", "keras,builder", "--out", str(out)],
                   check=True, capture_output=True, timeout=600)
    rows = [line for line in out.read_text().splitlines() if line.startswith("| LeNet")]
    assert len(rows) == 2 and rows[0].split("|")[4].strip() == "1.00"
