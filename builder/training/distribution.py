"""`train.distribute` on the running backend: one device, mirrored, multi-worker or model-parallel.

The backend adapters do the setting up (`builder.training.backends`); this module reads the
spec's settings, finds the cluster of a multi-worker run (`builder.training.cluster`) and turns
`model_parallel.shard` entries into the node ids whose weights are split.

Public entry points: `distribution(graph, options)` -> `Distributed`, `check_sharded(graph, distributed)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from builder.errors import SpecError, did_you_mean, show
from builder.graph.ir import Graph
from builder.language.spec import TrainSpec
from builder.training import backends
from builder.training.backends import Distributed, SetupError
from builder.training.backends.select import BackendError, check_distribute


def device() -> str:
    return backends.adapter().device()


def distribution(graph: Graph, options) -> Distributed:
    """Set up `train.distribute` (or `options.distribute`, from --distribute) on this backend; before any
    computation, since a multi-process JAX run must join its cluster first (found now into `options.cluster`)."""
    train = graph.spec.train or TrainSpec()
    mode = options.distribute or train.distribute
    try:
        check_distribute(keras.backend.backend(), mode)
        if mode == "multi_worker" and options.cluster is None:
            from builder.training.cluster import resolve_cluster

            options.cluster = resolve_cluster()
    except BackendError as error:
        raise SpecError.single(graph.locate("train", "distribute"), str(error)) from None
    parallel = None
    if mode == "model_parallel":
        if train.model_parallel is None:
            raise SpecError.single(graph.locate("train", "distribute"), "distribute: model_parallel needs "
                                   "`model_parallel: {mesh: [data, model], shard: [node ids]}` under train")
        parallel = ModelParallelPlan(tuple(train.model_parallel.mesh), shard_targets(graph))
    try:
        return backends.adapter().distribute(mode, options.cluster, parallel, train.seed)
    except SetupError as error:
        raise SpecError.single(graph.locate("train", *error.where), str(error), error.hint) from None


@dataclass
class ModelParallelPlan:
    mesh: tuple
    targets: dict                 # each `shard` entry -> the node ids (Keras layer names) it selects

    @property
    def nodes(self) -> set:
        return set().union(*self.targets.values())


def shard_targets(graph: Graph) -> dict:
    """`train.model_parallel.shard` entries -> node ids: a node, a block instance, or every repeat of a block use."""
    names: dict[str, set] = {}
    for mgraph in graph.models.values():
        for node in mgraph.nodes.values():
            if node.op == "layer":
                for name in (node.id, *(s.id for s in node.scopes), *(s.group for s in node.scopes if s.group)):
                    names.setdefault(name, set()).add(node.id)
    targets = {}
    for i, target in enumerate(graph.spec.train.model_parallel.shard):
        if target not in names:
            raise SpecError.single(graph.locate("train", "model_parallel", "shard", i),
                                   f"model_parallel.shard names {show(target)}, which is no layer node or block "
                                   f"instance of this spec", did_you_mean(target, list(names)))
        targets[target] = names[target]
    return targets


def check_sharded(graph: Graph, distributed: Distributed) -> None:
    """Every `shard` entry split at least one weight (a Flatten has none; an odd last axis cannot split)."""
    handle = distributed.handle
    plan_targets = shard_targets(graph)
    for i, (target, nodes) in enumerate(plan_targets.items()):
        if not any(node in handle.sharded for node in nodes):
            raise SpecError.single(graph.locate("train", "model_parallel", "shard", i),
                                   f"{show(target)} has no weight whose last axis splits over the mesh's model "
                                   f"axis ({handle.model_size} devices)",
                                   "list nodes with weights (Dense, Conv, Embedding, ...) whose units or filters "
                                   "divide by the model axis")
    distributed.details["sharded_weights"] = sum(len(paths) for paths in handle.sharded.values())
    distributed.details["sharded_nodes"] = sorted(handle.sharded)
