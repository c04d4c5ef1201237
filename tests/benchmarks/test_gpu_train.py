"""bench/gpu_train.py, tiny, on this CPU: it runs end to end and times the same models as the hand-written ones."""

from __future__ import annotations

import os
import subprocess
import sys

from spec_helpers import ROOT

from builder.graph import load_graph


def env() -> dict:
    out = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS", "TF_CONFIG")
           and not k.startswith(("KERAS_DISTRIBUTION_", "JAX_"))}
    return out | {"TF_CPP_MIN_LOG_LEVEL": "3"}


GPU_BENCH = ROOT / "bench" / "gpu_train.py"


def test_gpu_bench_runs_tiny_on_cpu(tmp_path):
    out = tmp_path / "gpu.md"
    result = subprocess.run([sys.executable, str(GPU_BENCH), "--tiny", "--workloads", "lenet", "--out", str(out)],
                            capture_output=True, text=True, timeout=600, env=env())
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert "Device: cpu (Keras backend jax)." in text
    rows = [line for line in text.splitlines() if line.startswith("| LeNet")]
    assert len(rows) == 4 and all(float(row.split("|")[4].replace(",", "")) > 0 for row in rows)
    assert {row.split("|")[2].strip() for row in rows} == {"float32", "mixed bfloat16"}


def test_gpu_bench_compares_the_same_models(tmp_path):
    """builder's model of each workload has exactly the parameters of the hand-written one."""
    import importlib.util

    from builder.model.compile import compile_graph

    spec = importlib.util.spec_from_file_location("gpu_train", GPU_BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from train_speed import by_hand  # bench/ is on sys.path now

    for workload, _, _ in bench.WORKLOADS:
        path = bench.spec_for(workload, tmp_path, 20, 1, 4, "float32")
        graph = load_graph(path)
        ours = compile_graph(graph)[graph.main]
        assert ours.count_params() == by_hand(workload).count_params(), workload
