"""Stage 4, compile: `Graph` -> Keras 3 functional models, one per spec model.

Each node becomes one explicit constructor call on a class from the closed
catalogue (never `deserialize`, never `get()` on a user dict), called on the
Keras tensors of its inputs. Keras is the single source of truth for shapes:
when it rejects a node, the user gets one located line naming the node, its
input shapes and where they come from, never a Keras traceback.

Resources are checked as the graph is walked: before a layer with weights is
built, its parameter count is known from its input shape (a formula, or a build that allocates
nothing: `_count_without_weights`), and a model that
would pass the budget (`max_params`) is refused before Keras allocates it;
a tensor of more than 2^31 values per sample is refused too.

A node Keras rejects does not stop the walk: the nodes that read it are skipped (their problems would
only echo it), the independent branches and models go on, and one `SpecError` lists every problem.
`weights=False` builds the same models in a `StatelessScope`: shapes and parameter counts, no weight
values (`builder validate --shapes`).

Public entry point: `compile_graph(graph, max_params=..., weights=True)` -> `CompiledModels`.
"""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any

import keras

import builder.model.layers as builder_layers
from builder.errors import Problem, SpecError, show
from builder.graph.ir import Graph, ModelGraph, Node, Ref
from builder.language import argtypes
from builder.language.catalogue import catalogue
from builder.model.inspect import shape_text

DEFAULT_MAX_PARAMS = 250_000_000   # VGG16 has 138 M
MAX_ELEMENTS = 2**31 - 1           # TensorFlow indexes tensors with int32 in places


class CompiledModels(dict):
    """The built models by name, plus what each node produced (for summaries and diagrams).

    `shapes[model][node]` is the output shape (a tuple, or a list of tuples for
    several outputs) and `params[model][node]` the node's parameter count.
    """

    def __init__(self):
        super().__init__()
        self.shapes: dict[str, dict[str, Any]] = {}
        self.params: dict[str, dict[str, int]] = {}


# --- turning spec values into constructor arguments --------------------------------------------

def layer_name(node_id: str) -> str:
    """The Keras layer name of a node: its id, with the block scopes' '.' written '-'.

    PyTorch refuses '.' in the names of a module's parameters (Keras names them after the layer),
    and node ids never contain '-', so every node keeps a name of its own on every backend.
    """
    return node_id.replace(".", "-")


def layer_class(type_name: str):
    """The Keras (or builder) layer class a catalogue name stands for."""
    info = catalogue().layer(type_name)
    if info.family == "builder":
        return getattr(builder_layers, info.name)
    return getattr(keras.layers, info.name)


AXIS_LISTS = ("axis", "input_axes", "output_axes")   # a tuple for every backend (JAX refuses a list of axes)
TUPLE_ONLY = ("ngrams",)   # layer arguments Keras takes as a tuple but refuses as a list (TextVectorization)


def configured_object(group: str, value):
    """A configured initializer, regularizer or constraint (`{type: VarianceScaling, scale: 2.0}`, a typeless
    `{l2: 1e-4}` regularizer) as the Keras object: its class from the catalogue's closed list, called with the
    arguments parse checked. A name stays a name, for Keras' own closed lookup."""
    if not isinstance(value, dict):
        return value
    cls = getattr(getattr(keras, group), argtypes.object_class(group, argtypes.object_type(group, value)))
    return cls(**{k: tuple(v) if k in AXIS_LISTS and isinstance(v, list) else v
                  for k, v in value.items() if k != "type"})


def constructor_args(type_name: str, args: dict) -> dict:
    """Spec arguments -> keyword arguments for the layer's constructor."""
    info = catalogue().layer(type_name)
    out = {}
    for name, value in args.items():
        entry = info.args.get(name, {})
        group = getattr(argtypes.checker_for(info.name, name, entry), "objects", None)   # initializers, ...
        if entry.get("kind") == "layer":
            value = make_layer(value.get("type"), {k: v for k, v in value.items() if k != "type"})
        elif group:
            value = configured_object(group, value)
        elif name in TUPLE_ONLY and isinstance(value, list):
            value = tuple(value)
        out[name] = value
    return out


def make_layer(type_name: str, args: dict, name: str | None = None):
    cls = layer_class(type_name)
    kwargs = constructor_args(type_name, args)
    if name is not None:
        kwargs["name"] = name
    return cls(**kwargs)


# --- estimates, before anything is allocated -------------------------------------------------------

AXIS_ARGUMENTS = ("axis", "axes")   # counted over the whole input, batch axis included, as Keras counts them
WEIGHTLESS = {"pooling", "reshape", "merge", "activation"}   # catalogue families with no weights to count


def _count_without_weights(node: Node, inputs, kwargs: dict) -> int:
    """The parameters of a layer with no formula above (LSTM, attention, depthwise convolution, builder's own),
    from a throwaway copy built and called on the symbolic inputs in a stateless scope: its variables get
    shapes but no values, so nothing is allocated (an LSTM of 12,000 units counts 576 M parameters in a few
    milliseconds, where building it takes 2.3 GB). 0 when the copy fails: the real call reports why."""
    from keras.src.backend.common import global_state   # (the list of deferred variables; cleared below)

    try:
        with keras.StatelessScope(initialize_variables=False):
            probe = make_layer(node.type, node.args, name=layer_name(node.id) + "-count")
            probe(inputs, **kwargs)
            return sum(math.prod(int(d) for d in weight.shape) for weight in probe.weights)
    except Exception:   # whatever is wrong, the real layer says it, located
        return 0
    finally:   # never initialise the probe's variables later
        global_state.set_global_attribute("uninitialized_variables", [])


def _int_tuple(value, rank: int) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def estimate_params(type_name: str, args: dict, input_shape) -> int:
    """Parameters of the big-weight layers, from their arguments and input shape (0 if unknown)."""
    if not input_shape or input_shape[-1] is None:
        return 0
    channels = int(input_shape[-1])
    bias = 1 if args.get("use_bias", True) else 0
    if type_name == "Dense":
        return channels * args["units"] + bias * args["units"]
    match = re.fullmatch(r"Conv([123])D(Transpose)?", type_name)
    if match:
        kernel = math.prod(_int_tuple(args["kernel_size"], int(match.group(1))))
        groups = args.get("groups", 1) or 1
        return kernel * channels // groups * args["filters"] + bias * args["filters"]
    if type_name == "Embedding":
        return args["input_dim"] * args["output_dim"]
    return 0


def _elements(shape) -> int:
    return math.prod(d for d in shape[1:] if d is not None) if shape else 0


def _output_shapes(outputs):
    if isinstance(outputs, (list, tuple)):
        return [tuple(o.shape) for o in outputs]
    return tuple(outputs.shape)


# --- the walk -----------------------------------------------------------------------------------------

class _Compiler:
    def __init__(self, graph: Graph, max_params: int):
        self.graph = graph
        self.max_params = max_params
        self.result = CompiledModels()
        self.problems: list[Problem] = []

    def fail(self, node: Node, message: str, hint: str | None = None) -> SpecError:
        return SpecError([Problem(node.location, message, hint, node=node.id)])

    def tensor(self, tensors: dict, ref: Ref, reader: Node):
        value = tensors[ref.node]
        if ref.index is None:
            return value
        if not isinstance(value, (list, tuple)):
            raise self.fail(reader, f"node {show(reader.id)} reads {ref}, but {show(ref.node)} has one output",
                            "drop the [k], or make the layer return several (e.g. return_state: true)")
        if ref.index >= len(value):
            raise self.fail(reader, f"node {show(reader.id)} reads {ref}, but {show(ref.node)} has "
                                    f"{len(value)} outputs (0 to {len(value) - 1})")
        return value[ref.index]

    def describe_inputs(self, node: Node, tensors: dict) -> str:
        parts = []
        for ref in node.sources:
            try:
                shape = shape_text(tuple(self.tensor(tensors, ref, node).shape))
            except (SpecError, AttributeError):
                shape = "?"
            parts.append(f"{shape} from {show(str(ref))}")
        return ", ".join(parts)

    def keras_error(self, node: Node, tensors: dict, exc: Exception) -> SpecError:
        # Keras wraps errors raised inside call() as "Exception encountered when calling X.call().\n\n<the
        # message, in ANSI bold>": drop the wrapper and the escapes before taking the first line.
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
        text = re.sub(r"^Exception encountered when calling \S+\.?\s*", "", text)
        text = text.split("\n")[0]
        if text.startswith("could not download"):   # builder's Application: not a problem with the input
            return self.fail(node, f"node {show(node.id)} ({node.type}): {text[:400]}")
        got = self.describe_inputs(node, tensors)
        if isinstance(exc, IndexError):   # a layer indexing its input's shape with an argument: name the argument
            return self.fail(node, f"node {show(node.id)} ({node.type}): {self.index_error(node, tensors, got)}",
                             "count axes from 0 (the batch axis), or from the end with -1"
                             if node.args.keys() & set(AXIS_ARGUMENTS) else None)
        rank = re.search(r"expected (?:min_)?ndim=(\d+), found ndim=(\d+)", text)
        if rank:
            return self.fail(node, f"node {show(node.id)} ({node.type}) expects a {rank.group(1)}-D input, got {got}",
                             "add a Reshape/Flatten, or check the input shape")
        if "would be zero or negative" in text:
            return self.fail(node, f"node {show(node.id)} ({node.type}) shrinks a dimension to zero or less: input {got}",
                             "use padding: same, a smaller kernel or stride, or a larger input")
        return self.fail(node, f"node {show(node.id)} ({node.type}) cannot take input {got}: {text[:300]}")

    def index_error(self, node: Node, tensors: dict, got: str) -> str:
        """What an IndexError from building a layer means: the axis argument past the input's rank, quoted."""
        try:
            rank = len(self.tensor(tensors, node.sources[0], node).shape)
        except (SpecError, AttributeError, IndexError, TypeError):
            rank = None
        for name in AXIS_ARGUMENTS:
            value = node.args.get(name)
            axes = value if isinstance(value, (list, tuple)) else [value]
            bad = [a for a in axes if isinstance(a, int) and not isinstance(a, bool)
                   and rank is not None and not -rank <= a < rank]
            if bad:
                return f"{name} {bad[0]} is out of range for an input of rank {rank} (axes {-rank}..{rank - 1}): {got}"
        quoted = ", ".join(f"{k}={show(v)}" for k, v in node.args.items() if k != "trainable")
        return f"an index is out of range for input {got}; check the arguments ({quoted or 'none'})"

    def model(self, mgraph: ModelGraph) -> keras.Model | None:
        """The model, or None when a node of it failed (its problems are in `self.problems`)."""
        tensors: dict[str, Any] = {}
        shapes, params = {}, {}
        total = 0
        failed: set[str] = set()
        for node in mgraph.nodes.values():
            if any(ref.node in failed for ref in node.sources) or (node.op == "model" and node.type not in self.result):
                failed.add(node.id)   # it reads a node (or calls a model) that failed: a problem here would echo
                continue
            try:
                total = self.node(node, tensors, shapes, params, total, mgraph)
            except SpecError as error:
                self.problems.extend(error.problems)
                failed.add(node.id)
        if failed:
            return None
        try:
            outputs = [self.tensor(tensors, ref, mgraph.nodes[ref.node]) for ref in mgraph.outputs]
        except SpecError as error:   # an output `node[k]` past the node's outputs
            self.problems.extend(error.problems)
            return None
        inputs = [tensors[name] for name in mgraph.inputs]
        model = keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                            outputs[0] if len(outputs) == 1 else outputs, name=mgraph.name)
        self.result.shapes[mgraph.name] = shapes
        self.result.params[mgraph.name] = params
        return model

    def node(self, node: Node, tensors: dict, shapes: dict, params: dict, total: int, mgraph: ModelGraph) -> int:
        """Build one node into `tensors`; the model's parameter count after it. Raises `SpecError`."""
        if node.op == "input":
            tensors[node.id] = keras.Input(shape=tuple(node.args["shape"]), dtype=node.args["dtype"],
                                           name=node.id)
        elif node.op == "model":
            callee = self.result[node.type]
            inputs = [self.tensor(tensors, r, node) for r in node.inputs]  # resolve put them in callee order
            try:
                tensors[node.id] = callee(inputs[0] if len(inputs) == 1 else inputs)
            except Exception as exc:  # Keras raises many types for a bad wiring
                raise self.keras_error(node, tensors, exc) from None
            params[node.id] = 0  # the callee's weights are counted in the callee
        else:
            total += self.layer(node, tensors, params, total, mgraph)
        out = tensors[node.id]
        shapes[node.id] = _output_shapes(out)
        for shape in (shapes[node.id] if isinstance(shapes[node.id], list) else [shapes[node.id]]):
            if _elements(shape) > MAX_ELEMENTS:
                raise self.fail(node, f"node {show(node.id)} outputs {_elements(shape):,} values per sample "
                                      f"{shape_text(shape)}, over 2^31 - 1")
        return total

    def whole(self, tensors: dict, ref: Ref, reader: Node, what: str):
        """A reference without [k] to a node with several outputs, where one tensor goes: a located error that
        lists them (an LSTM with return_state gives its output and its states)."""
        value = self.tensor(tensors, ref, reader)
        if ref.index is None and isinstance(value, (list, tuple)):
            source = self.graph_node(ref.node)
            kind = f" ({source.type}{' with return_state' if source.args.get('return_state') else ''})" \
                if source is not None else ""
            listed = ", ".join(f"{ref.node}[{k}] {shape_text(tuple(t.shape))}" for k, t in enumerate(value))
            raise self.fail(reader, f"node {show(reader.id)} reads {show(ref.node)} whole as {what}, but "
                                    f"{show(ref.node)}{kind} gives {len(value)} outputs",
                            f"read one of them: {listed}")
        return value

    def graph_node(self, node_id: str) -> Node | None:
        for mgraph in self.graph.models.values():
            if node_id in mgraph.nodes:
                return mgraph.nodes[node_id]
        return None

    def check_states(self, node: Node, layer, kwargs: dict) -> None:
        """`initial_state` gives as many tensors as the recurrent layer has states (LSTM 2, GRU 1, twice that
        in a Bidirectional): Keras builds with a wrong count and fails only when training starts."""
        if "initial_state" not in kwargs:
            return
        cells = [getattr(layer, "cell", None)] if hasattr(layer, "cell") else \
            [getattr(getattr(layer, name, None), "cell", None) for name in ("forward_layer", "backward_layer")]
        sizes = [getattr(cell, "state_size", None) for cell in cells if cell is not None]
        if not sizes:
            return
        wanted = sum(len(size) if isinstance(size, (list, tuple)) else 1 for size in sizes)
        given = kwargs["initial_state"]
        count = len(given) if isinstance(given, (list, tuple)) else 1
        if count != wanted:
            raise self.fail(node, f"node {show(node.id)} ({node.type}) takes {wanted} initial state "
                                  f"tensor{'s' * (wanted != 1)}, and initial_state gives {count}",
                            "an LSTM's states are h and c: initial_state: [\"encoder[1]\", \"encoder[2]\"] reads "
                            "those of an LSTM `encoder` with return_state: true" if wanted == 2 else
                            f"give {wanted} tensor{'s' * (wanted != 1)}, e.g. [\"encoder[1]\"] for a GRU's state")

    def layer(self, node: Node, tensors: dict, params: dict, total: int, mgraph: ModelGraph) -> int:
        info = catalogue().layer(node.type)
        positional = [self.whole(tensors, r, node, "an input") for r in node.inputs]
        first_shape = tuple(positional[0].shape) if positional and hasattr(positional[0], "shape") else None
        kwargs = {k: (tuple(self.whole(tensors, r, node, k) for r in v) if isinstance(v, tuple)
                      else self.tensor(tensors, v, node) if k == "initial_state"   # a whole list of states is fine
                      else self.whole(tensors, v, node, k)) for k, v in node.kwargs.items()}
        kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        kwargs.update(node.call)
        several = info.many_inputs or len(positional) > 1
        inputs = positional if several else positional[0]
        estimate = estimate_params(info.name, node.args, first_shape)
        if not estimate and info.family not in WEIGHTLESS:
            estimate = _count_without_weights(node, inputs, kwargs)
        if total + estimate > self.max_params:
            raise self.fail(node, f"node {show(node.id)} ({node.type}) would bring model {show(mgraph.name)} to "
                                  f"{total + estimate:,} parameters, over the budget of {self.max_params:,}",
                            "shrink the layer, or raise the budget with --max-params")
        try:
            layer = make_layer(node.type, node.args, name=layer_name(node.id))
        except (ValueError, TypeError) as exc:
            message = str(exc).strip().split("\n")[0]
            raise self.fail(node, f"node {show(node.id)} ({node.type}): {message[:300]}") from None
        self.check_states(node, layer, kwargs)
        try:
            tensors[node.id] = layer(inputs, **kwargs)
        except SpecError:
            raise
        except Exception as exc:  # Keras raises ValueError, TypeError, NotImplementedError, ...
            raise self.keras_error(node, tensors, exc) from None
        count = layer.count_params() if layer.built else 0
        params[node.id] = count
        if total + count > self.max_params:
            raise self.fail(node, f"node {show(node.id)} ({node.type}) brings model {show(mgraph.name)} to "
                                  f"{total + count:,} parameters, over the budget of {self.max_params:,}",
                            "shrink the layer, or raise the budget with --max-params")
        return count


def compile_graph(graph: Graph, max_params: int = DEFAULT_MAX_PARAMS, weights: bool = True) -> CompiledModels:
    """Build every model of a resolved spec (callees first); a `SpecError` lists every node Keras rejects.

    `weights=False`: shapes and parameter counts only, nothing allocated (the models cannot run or be saved).
    """
    from keras.src.backend.common import global_state   # (the list of deferred variables; cleared below)

    compiler = _Compiler(graph, max_params)
    try:
        with contextlib.nullcontext() if weights else keras.StatelessScope(initialize_variables=False):
            for name, mgraph in graph.models.items():
                model = compiler.model(mgraph)
                if model is not None:
                    compiler.result[name] = model
    finally:
        if not weights:   # never give the shape-only models' variables values later
            global_state.set_global_attribute("uninitialized_variables", [])
    if compiler.problems:
        raise SpecError(sorted(compiler.problems, key=lambda p: (p.location.line, p.location.column)))
    return compiler.result
