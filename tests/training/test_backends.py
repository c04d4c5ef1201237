"""Every Keras backend, several devices, several processes.

- choosing a backend: `--backend` and `KERAS_BACKEND`, and the one-line errors before training
  (unknown or missing backend, a distribute mode the backend lacks, multi-worker settings, TF_CONFIG);
- JAX and PyTorch with TensorFlow made unimportable: build, train, evaluate, predict through the CLI;
- scaling on this CPU: JAX over two CPU devices (mirrored, model_parallel) and two JAX processes on
  127.0.0.1 (gloo) give the one-device losses and weights; MirroredStrategy over two logical CPUs.

The subprocesses choose their own backend, so this module runs once, in the TensorFlow run of the suite.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from spec_helpers import SPECS, iris_mlp, write_spec

from builder.cli import main
from builder.training.backends import select as backend_module
from builder.training.backends.select import BackendError, check_distribute
from builder.training.cluster import parse_tf_config, resolve_cluster

BUILDER = Path(sys.executable).parent / "builder"
TIMEOUT = 300   # seconds for any one subprocess; two processes that never meet fail, they do not hang

IRIS = iris_mlp(epochs=3, batch_size=24)


def env(**extra) -> dict:
    out = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS", "TF_CONFIG")
           and not k.startswith(("KERAS_DISTRIBUTION_", "JAX_"))}
    return out | {"TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_builder(*args, timeout=TIMEOUT, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUILDER), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env(**extra))


def losses(run: Path) -> np.ndarray:
    with (run / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[float(row[k]) for k in ("loss", "val_loss")] for row in rows])


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


# --- choosing the backend -----------------------------------------------------------------------

def test_unknown_backend_is_one_line_naming_the_choices(tmp_path):
    spec = write_spec(tmp_path, IRIS)
    result = CliRunner().invoke(main, ["build", str(spec), "--no-save", "--backend", "theano"])
    assert result.exit_code == 1
    assert result.output == "Error: unknown Keras backend 'theano' (from --backend); choose tensorflow, jax or torch\n"


def test_unknown_keras_backend_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "mxnet")
    result = CliRunner().invoke(main, ["train", str(write_spec(tmp_path, IRIS))])
    assert result.exit_code == 1
    assert result.output == "Error: unknown Keras backend 'mxnet' (from KERAS_BACKEND); choose tensorflow, jax or torch\n"


def test_another_backend_than_the_running_keras_is_refused_in_process(tmp_path):
    import keras

    other = "jax" if keras.backend.backend() != "jax" else "torch"
    result = CliRunner().invoke(main, ["build", str(write_spec(tmp_path, IRIS)), "--no-save", "--backend", other])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: Keras already runs on {keras.backend.backend()} in this process")


def test_help_and_validate_import_no_keras(tmp_path):
    spec = write_spec(tmp_path, IRIS)
    code = ("import sys; from builder.cli import main\n"
            "for args in (['--help'], ['train', '--help'], ['validate', sys.argv[1]]):\n"
            "    try: main(args)\n"
            "    except SystemExit: pass\n"
            "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, timeout=60,
                            env=env())
    assert result.returncode == 0, result.stderr
    assert "--backend" in result.stdout and "--distribute" in result.stdout


BLOCKED = textwrap.dedent("""
    import sys
    for name in sys.argv[1].split(","):
        sys.modules[name] = None        # as if not installed
    from builder.cli import main
    main(sys.argv[2:])
""")


def blocked_run(modules: str, *args, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED, modules, *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env(**extra))


def test_a_backend_that_is_not_installed_names_the_install_command(tmp_path):
    spec = write_spec(tmp_path, IRIS)
    result = blocked_run("jax", "train", spec, "--backend", "jax")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the jax backend (from --backend) is not installed; install it with: pip install jax  "
        "(or: pip install 'builder[jax]'), or choose another with --backend"]
    result = blocked_run("torch", "build", spec, "--no-save", KERAS_BACKEND="torch")
    assert result.returncode == 1 and "the torch backend (from KERAS_BACKEND) is not installed" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_distribute_modes_each_backend_lacks():
    for backend, mode in (("tensorflow", "mirrored"), ("jax", "mirrored"), ("jax", "multi_worker"),
                          ("jax", "model_parallel"), ("torch", "one_device")):
        check_distribute(backend, mode)
    with pytest.raises(BackendError, match=r"^distribute: mirrored is not available on the torch backend; use "
                                           r"--backend tensorflow or --backend jax$"):
        check_distribute("torch", "mirrored")
    with pytest.raises(BackendError, match="model_parallel is not available on the tensorflow backend; use --backend jax"):
        check_distribute("tensorflow", "model_parallel")
    with pytest.raises(BackendError, match=r"keras-team/keras#20585\); run it on JAX: --backend jax --distribute "
                                           r"multi_worker --coordinator HOST:PORT"):
        check_distribute("tensorflow", "multi_worker")


def test_distribute_errors_come_before_keras_starts(tmp_path):
    spec = write_spec(tmp_path, IRIS)
    # from the command line: one line; keras made unimportable proves nothing started
    result = blocked_run("keras", "train", spec, "--backend", "torch", "--distribute", "mirrored")
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == ("Error: distribute: mirrored is not available on the torch backend; use "
                                     "--backend tensorflow or --backend jax")
    # from the spec: located at train.distribute
    spec = write_spec(tmp_path, IRIS + "  distribute: multi_worker\n", "multi.yaml")
    result = blocked_run("keras", "train", spec, "--backend", "tensorflow")
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{spec}:14:15: error: distribute: multi_worker does not train with Keras 3 on "
                            "TensorFlow") and "--backend jax --distribute multi_worker" in first
    assert not (tmp_path / "runs").exists()


def test_multi_worker_settings_are_checked_before_keras_starts(tmp_path):
    spec = write_spec(tmp_path, IRIS)
    base = ("train", spec, "--backend", "jax", "--distribute", "multi_worker")
    cases = [
        ((), {}, "Error: distribute: multi_worker needs --coordinator HOST:PORT --num-processes N --process-id I on "
                 "every process (or KERAS_DISTRIBUTION_JOB_ADDRESSES/_NUM_PROCESSES/_PROCESS_ID, or TF_CONFIG)"),
        (("--coordinator", "127.0.0.1", "--num-processes", "2", "--process-id", "0"), {},
         "Error: --coordinator: expected HOST:PORT with a port from 1 to 65535. Received: '127.0.0.1'"),
        (("--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "2"), {},
         "Error: --process-id must be 0 to 1 for 2 processes. Received: 2"),
        (("--distribute", "mirrored", "--process-id", "1"), {},
         "Error: --coordinator, --num-processes and --process-id go with distribute: multi_worker; this run is "
         "mirrored: add --distribute multi_worker"),
        ((), {"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1234"]'},
         "Error: TF_CONFIG is not valid JSON (Expecting ',' delimiter); expected {\"cluster\": {\"worker\": "
         "[\"host:port\", ...]}, \"task\": {\"type\": \"worker\", \"index\": 0}}"),
    ]
    for args, extra, expected in cases:
        result = blocked_run("keras", *base, *args, **extra)
        assert result.returncode == 1 and result.stderr.strip() == expected, (args, result.stderr)


def test_tf_config_and_environment_variables_give_the_cluster():
    good = '{"cluster": {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222", "10.0.0.3:2222"]}, ' \
           '"task": {"type": "worker", "index": 1}}'
    assert parse_tf_config(good) == ("10.0.0.1:2222", 3, 2)
    cluster = resolve_cluster(environ={"TF_CONFIG": good})
    assert (cluster.coordinator, cluster.num_processes, cluster.process_id, cluster.source) == \
        ("10.0.0.1:2222", 3, 2, "TF_CONFIG")
    cluster = resolve_cluster(environ={"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.5:1,10.0.0.6:1",
                                       "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1"})
    assert (cluster.coordinator, cluster.num_processes, cluster.process_id) == ("10.0.0.5:1", 2, 1)
    # the command line wins over the environment
    cluster = resolve_cluster("127.0.0.1:99", None, 0, environ={"TF_CONFIG": good})
    assert (cluster.coordinator, cluster.num_processes, cluster.process_id) == ("127.0.0.1:99", 3, 0)
    malformed = {
        '[1, 2]': 'TF_CONFIG has no "cluster" object',
        '{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps"}}': 'TF_CONFIG: cluster has no "worker" list',
        '{"cluster": {"worker": "a:1"}, "task": {"type": "worker"}}': "cluster.worker must be a non-empty list",
        '{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker"}}': "cluster.worker[0]: expected HOST:PORT",
        '{"cluster": {"worker": ["a:1"]}}': "TF_CONFIG: task must be",
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}': "task.index must be 0 to 0",
    }
    for text, message in malformed.items():
        with pytest.raises(BackendError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_tf_config(text)
    with pytest.raises(BackendError, match="KERAS_DISTRIBUTION_NUM_PROCESSES: expected a whole number"):
        resolve_cluster(environ={"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"})


def test_model_parallel_needs_its_mesh(tmp_path):
    from spec_helpers import graph_of

    from builder.errors import SpecError

    with pytest.raises(SpecError, match="distribute: model_parallel needs `model_parallel: {mesh"):
        graph_of(tmp_path, IRIS + "  distribute: model_parallel\n")
    with pytest.raises(SpecError, match="expected|at least 2"):
        graph_of(tmp_path, IRIS + "  distribute: model_parallel\n  model_parallel: {mesh: [2], shard: [hidden]}\n")


def test_backend_choice_is_read_without_keras(monkeypatch, tmp_path):
    monkeypatch.setattr(backend_module, "_chosen", None)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert backend_module.requested() == ("tensorflow", "Keras' default")
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    assert backend_module.requested() == ("jax", "keras.json")
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend_module.requested() == ("torch", "KERAS_BACKEND")
    backend_module.choose("jax")
    assert backend_module.requested() == ("jax", "--backend")


# --- JAX and PyTorch without TensorFlow ------------------------------------------------------------

WITHOUT_TENSORFLOW = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None    # importing TensorFlow now fails: nothing below may need it
    from builder.cli import main
    backend, spec, folder, flowers = sys.argv[1:]
    for args in (["build", spec, "-o", folder + "/built"],
                 ["train", spec, "--out", folder + "/run"],
                 ["evaluate", folder + "/run", "--format", "json"],
                 ["predict", folder + "/run", flowers, "-o", folder + "/predictions.csv"]):
        try:
            main(args + ["--backend", backend])
        except SystemExit as stop:
            if stop.code:
                raise
    import keras
    assert keras.backend.backend() == backend
    assert sys.modules["tensorflow"] is None, "TensorFlow was imported"
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_builds_and_trains_end_to_end_without_tensorflow(tmp_path, backend):
    spec = write_spec(tmp_path, IRIS.replace("epochs: 3", "epochs: 20"))
    from sklearn.datasets import load_iris

    np.save(tmp_path / "flowers.npy", load_iris().data[::10].astype("float32"))
    result = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, backend, str(spec), str(tmp_path),
                             str(tmp_path / "flowers.npy")], capture_output=True, text=True, timeout=TIMEOUT,
                            env=env(KERAS_BACKEND=backend))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert [p.name for p in (tmp_path / "built").glob("*.keras")] == ["iris_mlp.keras"]
    run = tmp_path / "run"
    facts = summary(run)
    assert facts["backend"] == backend and facts["device"] == "cpu" and facts["status"] == "completed"
    assert facts["final"]["val_accuracy"] > 0.8
    assert facts["distribute"] == {"mode": "one_device", "devices": 1, "processes": 1}
    assert json.loads((run / "run.json").read_text())["backend"] == backend
    # TensorBoard logs without TensorFlow: the scalars of both splits and the hparams
    assert sorted(p.parent.name for p in (run / "logs").rglob("events.out.tfevents.*")) == [
        "logs", "train", "validation"]
    evaluated = json.loads(result.stdout[result.stdout.index("{"):result.stdout.index("}") + 1])
    assert evaluated["accuracy"] == pytest.approx(facts["final"]["val_accuracy"], abs=1e-6)
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert len(rows) == 15 and rows[0]["prediction"] == "setosa"


def test_array_batches_shuffle_like_a_seeded_pipeline_and_split_over_processes():
    import keras  # noqa: F401  (PyDataset)

    from builder.training.backends.batches import ArrayBatches

    x, y = np.arange(50).reshape(50, 1), np.arange(50)
    one = ArrayBatches(x, y, 8, shuffle=True, seed=4)
    epoch1 = np.concatenate([one[i][1] for i in range(len(one))])
    assert sorted(epoch1) == list(range(50)) and list(epoch1) != list(range(50)) and len(one) == 7
    one.on_epoch_end()
    epoch2 = np.concatenate([one[i][1] for i in range(len(one))])
    assert sorted(epoch2) == list(range(50)) and list(epoch2) != list(epoch1)       # reshuffled every epoch
    again = ArrayBatches(x, y, 8, shuffle=True, seed=4)
    assert list(np.concatenate([again[i][1] for i in range(len(again))])) == list(epoch1)   # seeded: repeats
    # two devices in two processes: each process feeds its half of every (even) global batch
    whole = ArrayBatches(x, y, 8, shuffle=True, seed=4)
    parts = [ArrayBatches(x, y, 8, shuffle=True, seed=4, multiple=2, part=p, parts=2) for p in (0, 1)]
    assert len(parts[0]) == len(whole) == 7
    for i in range(len(whole)):
        assert list(np.concatenate([parts[0][i][1], parts[1][i][1]])) == list(whole[i][1])
    assert parts[0].skipped == 0 and len(parts[0][6][1]) == 1   # 50 = 6 x 8 + 2: the last batch splits 1 + 1
    odd = ArrayBatches(np.zeros((7, 1)), None, 4, multiple=2)
    assert [len(odd[i][0]) for i in range(len(odd))] == [4, 2] and odd.skipped == 1


# --- several devices, several processes ----------------------------------------------------------

@pytest.fixture(scope="module")
def one_device_jax_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one_device")
    spec = write_spec(folder, IRIS)
    result = run_builder("train", spec, "--out", folder / "run", "--backend", "jax")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "run"


def test_jax_over_two_cpu_devices_gives_the_one_device_losses(tmp_path, one_device_jax_run):
    spec = write_spec(tmp_path, IRIS + "  model_parallel: {mesh: [1, 2], shard: [hidden]}\n")
    two = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    mirrored = run_builder("train", spec, "--out", tmp_path / "mirrored", "--backend", "jax",
                           "--distribute", "mirrored", **two)
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    sharded = run_builder("train", spec, "--out", tmp_path / "sharded", "--backend", "jax",
                          "--distribute", "model_parallel", **two)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert summary(tmp_path / "mirrored")["distribute"] == {"mode": "mirrored", "devices": 2, "processes": 1,
                                                            "engine": "keras.distribution.DataParallel",
                                                            "platform": "cpu"}
    facts = summary(tmp_path / "sharded")["distribute"]
    assert facts["engine"] == "keras.distribution.ModelParallel" and facts["mesh"] == [1, 2]
    assert facts["sharded_nodes"] == ["hidden"] and facts["sharded_weights"] == 2   # kernel and bias
    reference = losses(one_device_jax_run)
    np.testing.assert_allclose(losses(tmp_path / "mirrored"), reference, rtol=1e-5)
    np.testing.assert_allclose(losses(tmp_path / "sharded"), reference, rtol=1e-5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_jax_processes_train_like_one(tmp_path, one_device_jax_run):
    spec = write_spec(tmp_path, IRIS)
    port = free_port()
    processes = [subprocess.Popen([str(BUILDER), "train", str(spec), "--out", str(tmp_path / "run"), "--backend", "jax",
                                   "--distribute", "multi_worker", "--coordinator", f"127.0.0.1:{port}",
                                   "--num-processes", "2", "--process-id", str(i)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
                 for i in (0, 1)]
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    chief, worker = tmp_path / "run", tmp_path / "run-process1"
    assert summary(chief)["distribute"]["processes"] == 2 and summary(worker)["status"] == "completed"
    reference = losses(one_device_jax_run)
    np.testing.assert_allclose(losses(chief), reference, rtol=1e-5)
    np.testing.assert_allclose(losses(worker), reference, rtol=1e-5)
    import keras

    single = keras.models.load_model(one_device_jax_run / "model.keras").get_weights()
    for run in (chief, worker):
        for ours, theirs in zip(keras.models.load_model(run / "model.keras").get_weights(), single):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


MIRRORED_TF = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from builder.cli import main
    main(sys.argv[1:])
""")


def test_mirrored_strategy_over_two_logical_cpus_on_tensorflow(tmp_path):
    spec = write_spec(tmp_path, IRIS)
    result = subprocess.run([sys.executable, "-c", MIRRORED_TF, "train", str(spec), "--out", str(tmp_path / "run"),
                             "--backend", "tensorflow", "--distribute", "mirrored"],
                            capture_output=True, text=True, timeout=TIMEOUT, env=env())
    assert result.returncode == 0, result.stderr[-3000:]
    facts = summary(tmp_path / "run")
    assert facts["status"] == "completed" and facts["epochs"] == 3 and facts["backend"] == "tensorflow"
    assert facts["distribute"] == {"mode": "mirrored", "devices": 2, "processes": 1,
                                   "engine": "tf.distribute.MirroredStrategy"}
    assert np.all(np.isfinite(losses(tmp_path / "run")))
    assert facts["steps_per_execution"] == 1   # auto: Keras' multi-step loop fails under MirroredStrategy


def test_several_steps_per_execution_under_mirrored_is_a_located_error(tmp_path):
    spec = write_spec(tmp_path, IRIS.replace("  seed: 3", "  seed: 3\n  steps_per_execution: 4"))
    result = subprocess.run([sys.executable, "-c", MIRRORED_TF, "train", str(spec), "--out", str(tmp_path / "run"),
                             "--backend", "tensorflow", "--distribute", "mirrored"],
                            capture_output=True, text=True, timeout=TIMEOUT, env=env())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "spec.yaml:14:" in result.stderr and "steps_per_execution 4 fails under" in result.stderr


def test_a_run_trained_on_tensorflow_evaluates_on_pytorch(tmp_path):
    # TensorFlow runs several batches per compiled call (steps_per_execution: auto); Keras' PyTorch
    # trainer allows one, so a reopened model is made ready for the backend it is reopened on
    spec = write_spec(tmp_path, IRIS)
    trained = run_builder("train", str(spec), "--out", str(tmp_path / "run"), "--backend", "tensorflow")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert summary(tmp_path / "run")["steps_per_execution"] == 8
    evaluated = run_builder("evaluate", str(tmp_path / "run"), "--backend", "torch")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    accuracy = float(evaluated.stdout.split("accuracy:")[1].split()[0])
    assert accuracy == pytest.approx(summary(tmp_path / "run")["final"]["val_accuracy"], abs=1e-4)   # printed to 4 places


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_specs_with_blocks_build_on_every_backend(backend):
    # Keras names weights after their layer, torch refuses '.' in them: block scopes are written '-'
    spec = SPECS / "resnet50.yaml"
    built = run_builder("build", str(spec), "--set", "size=32", "--set", "classes=10", "--no-save", "--backend", backend)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "conv2.block1.shortcut" in built.stdout and "total 23,608,202 parameters" in built.stdout
