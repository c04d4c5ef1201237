"""Wiring checks that need no shapes: a node with several outputs read whole where one tensor goes.

An LSTM with `return_state: true` gives its output and its states, a layer called with
`return_attention_scores` gives two tensors, and a `model:` node gives as many as its model's
outputs. Read whole (`encoder`, not `encoder[0]`) by a layer that takes one tensor, Keras either
refuses it with a message that cannot name the node or, for `initial_state`, builds and fails only
when training starts. `validate` says so here, at the reader, with the outputs to pick from; the
compiler checks the same at build with the real tensors, and also counts `initial_state` tensors
against the layer's states.

Public entry point: `problems(graph)` -> the located problems (empty when the wiring is sound).
"""

from __future__ import annotations

from builder.errors import Problem, show
from builder.graph.ir import Graph, ModelGraph, Node, Ref

# keyword inputs that take a list of tensors (an RNN's initial states)
LIST_INPUTS = frozenset({"initial_state"})


def output_count(node: Node, graph: Graph) -> int | None:
    """How many tensors a node gives when the spec alone says it gives several; None for one (or unknown)."""
    if node.op == "model":
        callee = graph.models.get(node.type)
        return len(callee.outputs) if callee is not None and len(callee.outputs) > 1 else None
    if node.args.get("return_state") is True:
        return -1   # the output and the states: how many states, the layer knows (build counts them)
    if node.call.get("return_attention_scores") is True:
        return 2
    return None


def problems(graph: Graph) -> list[Problem]:
    found: list[Problem] = []
    for mgraph in graph.models.values():
        found.extend(_model_problems(graph, mgraph))
    return found


def _model_problems(graph: Graph, mgraph: ModelGraph) -> list[Problem]:
    found = []
    for reader in mgraph.nodes.values():
        if reader.op == "input":
            continue
        reads = [(ref, "an input") for ref in reader.inputs]
        for name, value in reader.kwargs.items():
            if name in LIST_INPUTS and not isinstance(value, tuple):
                problem = _states_with_output(mgraph, reader, value, name)
                if problem is not None:
                    found.append(problem)
                continue   # otherwise a whole list of states is what initial_state takes (build counts them)
            reads += [(ref, name) for ref in (value if isinstance(value, tuple) else (value,))]
        for ref, what in reads:
            problem = _whole_read(graph, mgraph, reader, ref, what)
            if problem is not None:
                found.append(problem)
    return found


def _whole_read(graph: Graph, mgraph: ModelGraph, reader: Node, ref: Ref, what: str) -> Problem | None:
    source = mgraph.nodes.get(ref.node)
    if ref.index is not None or source is None:
        return None
    count = output_count(source, graph)
    if count is None:
        return None
    kind = f"model {source.type}" if source.op == "model" else source.type
    if count > 0:
        several, hint = f"{count} outputs", "read one of them: " + ", ".join(f"{ref.node}[{k}]" for k in range(count))
    else:
        several = "several outputs (its output and its states)"
        hint = f"read one of them: {ref.node}[0] for the output, {ref.node}[1], ... for the states (an LSTM has 2, " \
               "a GRU 1)"
    return Problem(reader.location, f"node {show(reader.id)} reads {show(ref.node)} whole as {what}, but "
                                    f"{show(ref.node)} ({kind}) gives {several}", hint, node=reader.id)


def _states_with_output(mgraph: ModelGraph, reader: Node, ref: Ref, what: str) -> Problem | None:
    """`initial_state: encoder` with an encoder that has `return_state`: its output comes first, then its
    states, so the reader gets one tensor too many (Keras builds it, and training fails)."""
    source = mgraph.nodes.get(ref.node)
    if ref.index is not None or source is None or source.args.get("return_state") is not True:
        return None
    return Problem(reader.location, f"node {show(reader.id)} takes {show(ref.node)} whole as {what}, but "
                                    f"{show(ref.node)} ({source.type} with return_state) gives its output first, "
                                    "then its states",
                   f"give the states only: {what}: [\"{ref.node}[1]\", \"{ref.node}[2]\"] for an LSTM, "
                   f"[\"{ref.node}[1]\"] for a GRU", node=reader.id)
