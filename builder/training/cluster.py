"""Where the processes of a multi-worker run meet: coordinator address, process count, this process's id.

`distribute: multi_worker` runs one builder process per machine (or per GPU
group); they find each other through a coordinator, process 0's `host:port`.
The settings come, first found first, from the command line
(`--coordinator`, `--num-processes`, `--process-id`), Keras' variables
(`KERAS_DISTRIBUTION_JOB_ADDRESSES`, `..._NUM_PROCESSES`, `..._PROCESS_ID`),
JAX's `JAX_COORDINATOR_ADDRESS`, or TensorFlow's `TF_CONFIG` (its worker list:
the first is the coordinator, `task.index` this process; a chief comes first).
Plain Python: checked before Keras starts, each mistake one line naming the fix.

Public entry point: `resolve_cluster(coordinator, num_processes, process_id, environ)` -> `Cluster`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from builder.training.backends.select import BackendError

_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))"
                        r":(?P<port>[0-9]{1,5})$")


@dataclass(frozen=True)
class Cluster:
    coordinator: str          # process 0's host:port
    num_processes: int
    process_id: int
    source: str               # where the settings came from, for messages

    @property
    def chief(self) -> bool:
        return self.process_id == 0


def check_address(text: str, where: str) -> str:
    text = str(text).strip()
    match = _HOST_PORT.match(text)
    if not match or not 0 < int(match["port"]) < 65536:
        raise BackendError(f"{where}: expected HOST:PORT with a port from 1 to 65535. Received: {text!r}")
    return text


def _int(value, where: str, low: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BackendError(f"{where}: expected a whole number. Received: {value!r}") from None
    if number < low:
        raise BackendError(f"{where}: expected a number >= {low}. Received: {number}")
    return number


def parse_tf_config(text: str) -> tuple[str, int, int]:
    """TF_CONFIG -> (coordinator, process count, process id); a one-line error for each malformation."""
    where = "TF_CONFIG"
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise BackendError(f"{where} is not valid JSON ({exc.args[0].split(':')[0]}); expected "
                           '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                           '"index": 0}}') from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise BackendError(f'{where} has no "cluster" object; expected {{"cluster": {{"worker": '
                           f'["host:port", ...]}}, "task": {{"type": "worker", "index": 0}}}}')
    cluster, task = config["cluster"], config.get("task")
    jobs = [job for job in ("chief", "worker") if job in cluster]
    if "worker" not in cluster:
        raise BackendError(f'{where}: cluster has no "worker" list (it has {sorted(cluster) or "nothing"})')
    addresses = []
    for job in jobs:
        if not isinstance(cluster[job], list) or not cluster[job]:
            raise BackendError(f'{where}: cluster.{job} must be a non-empty list of "host:port" strings')
        addresses += [check_address(a, f"{where} cluster.{job}[{i}]") for i, a in enumerate(cluster[job])]
    if not isinstance(task, dict) or task.get("type") not in jobs:
        raise BackendError(f'{where}: task must be {{"type": one of {jobs}, "index": N}}. Received: task={task!r}')
    index = task.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task["type"]]):
        raise BackendError(f"{where}: task.index must be 0 to {len(cluster[task['type']]) - 1} for "
                           f"{len(cluster[task['type']])} {task['type']} entries. Received: {index!r}")
    offset = len(cluster["chief"]) if task["type"] == "worker" and "chief" in cluster else 0
    return addresses[0], len(addresses), offset + index


def resolve_cluster(coordinator: str | None = None, num_processes: int | None = None,
                    process_id: int | None = None, environ=None) -> Cluster:
    """The multi-worker settings from the command line, then the environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    source = "the command line"
    tf_config = None
    if coordinator is None and env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        coordinator, source = env["KERAS_DISTRIBUTION_JOB_ADDRESSES"].split(",")[0], "KERAS_DISTRIBUTION_*"
    if coordinator is None and env.get("JAX_COORDINATOR_ADDRESS"):
        coordinator, source = env["JAX_COORDINATOR_ADDRESS"], "JAX_COORDINATOR_ADDRESS"
    if num_processes is None and env.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        num_processes = _int(env["KERAS_DISTRIBUTION_NUM_PROCESSES"], "KERAS_DISTRIBUTION_NUM_PROCESSES", 1)
    if process_id is None and env.get("KERAS_DISTRIBUTION_PROCESS_ID"):
        process_id = _int(env["KERAS_DISTRIBUTION_PROCESS_ID"], "KERAS_DISTRIBUTION_PROCESS_ID", 0)
    if (coordinator is None or num_processes is None or process_id is None) and env.get("TF_CONFIG"):
        tf_config = parse_tf_config(env["TF_CONFIG"])
        if coordinator is None:
            source = "TF_CONFIG"
        coordinator = coordinator or tf_config[0]
        num_processes = num_processes if num_processes is not None else tf_config[1]
        process_id = process_id if process_id is not None else tf_config[2]
    missing = [name for name, value in (("--coordinator HOST:PORT", coordinator), ("--num-processes N",
               num_processes), ("--process-id I", process_id)) if value is None]
    if missing:
        raise BackendError(f"distribute: multi_worker needs {' '.join(missing)} on every process (or "
                           f"KERAS_DISTRIBUTION_JOB_ADDRESSES/_NUM_PROCESSES/_PROCESS_ID, or TF_CONFIG)")
    coordinator = check_address(coordinator, "--coordinator" if source == "the command line" else source)
    num_processes = _int(num_processes, "--num-processes", 1)
    process_id = _int(process_id, "--process-id", 0)
    if process_id >= num_processes:
        raise BackendError(f"--process-id must be 0 to {num_processes - 1} for {num_processes} processes. "
                           f"Received: {process_id}")
    return Cluster(coordinator, num_processes, process_id, source)
