"""Expansion: `Spec` -> `Graph`, with blocks expanded and every reference checked.

What happens here, in order:

1. parameters: `${name}` and `${expression}` (arithmetic, comparisons, and/or/not
   and `a if c else b` over numbers, text, true/false and parameter names, and the
   functions int, round, min, max, abs; parsed with `ast`, never evaluated as
   Python) are filled in from `--set` overrides, spec `params`, and block
   parameters, with `repeat_index` (from 0) and `repeats` in every block instance;
2. expansion: block instances (and their repeats, 0 to 1000, each repeat's other
   inputs as `chain` says) become plain nodes whose ids are qualified by the
   instance (`stage1_2.conv_a`); each node remembers the block instances it sits
   in, for diagrams; a node or block use whose `when` is false is left out;
3. references: ids, `block.node`, `$input`, `node[k]`, and relative `-1` are
   resolved, and a reference to a node left out reads its first input instead
   (`bypass`); unknown names get a did-you-mean;
4. graph checks: duplicate ids, cycles (with their path), merges of one input,
   several inputs into a one-input layer, unused inputs, unreachable nodes
   (a warning), and resource limits on the expanded size;
5. the train section's references: `train.model`, `freeze.until` (also per
   phase) and the keys of `init.map` name a model and its nodes.

The search section's checks are `search_space`'s; `builder.graph.resolve` runs both.

Public entry point: `expand(spec, document, overrides)` -> `(Graph | None, errors)`.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass
from typing import Any

from builder.errors import Location, Problem, SpecError, did_you_mean, show
from builder.graph.expressions import REPEAT_NAMES, _ExprError, _UnknownName, placeholder_names, snake, substitute
from builder.graph.ir import Graph, ModelGraph, Node, Ref, Scope
from builder.language.catalogue import catalogue
from builder.language.loader import Document
from builder.language.parser import check_layer, has_placeholder
from builder.language.spec import BlockNode, ConfiguredObject, LayerNode, ModelNode, ModelSpec, Spec, TrainSpec
from builder.language.spec.data import inputs_hint
from builder.language.spec.graph import MAX_REPEAT

MAX_NODES = 100_000
MAX_BLOCK_INSTANCES = 100_000   # repeats of nested blocks multiply: counted even when they add no node
MAX_BLOCK_DEPTH = 16
MAX_DIM = 2**31 - 1          # an input axis, as the spec's Size type allows when written as a number


_REF = re.compile(r"^(\$?)([A-Za-z_][A-Za-z0-9_.]*)(?:\[([0-9]+)\])?$")


@dataclass
class _Pending:
    """A node whose named references wait until every id of the model is known."""

    node: Node
    raw_inputs: Any
    names: dict          # the scope's local names -> qualified ids (shared, filled as we go)
    block_inputs: dict   # "$name" -> Ref
    sequence: list       # Refs of the scope so far, for relative references
    position: int        # len(sequence) when the node was declared
    path: tuple          # raw path of the node, for locations


class _Expander:
    def __init__(self, spec: Spec, document: Document, params: dict, complete: bool = True,
                 overrides: dict | None = None):
        self.spec = spec
        self.overrides = overrides or {}   # the --set parameters, to say where a bad value came from
        self.complete = complete   # False: parts of the spec were cut out (`parser.salvage`)
        self.doc = document
        self.params = params
        self.problems: list[Problem] = []
        self.used_spec_params: set = set()
        self.failures = 0  # substitutions that failed, so callers skip checks that would only repeat them
        self.instances = 0  # block instances made: the expansion's work, nodes or not (empty blocks cost too)
        self.warnings: list[Problem] = []

    def loc(self, path: tuple, key: bool = False) -> Location:
        return self.doc.locate(path, key)

    def error(self, path, message, hint=None, node=None, key=False):
        self.problems.append(Problem(self.loc(path, key), message, hint, node=node))

    # -- one model
    def model(self, name: str, model: ModelSpec, path: tuple, model_names: set) -> ModelGraph | None:
        self.nodes: dict[str, Node] = {}
        self.pending: list[_Pending] = []
        self.counters: dict[tuple, int] = {}
        self.model_names = model_names
        self.model_name = name
        self.model_deps: set = set()
        self.aliases: dict[str, Ref] = {}   # block instance ids -> the instance's output
        self.left_out: dict[str, Node] = {}   # nodes whose `when` is false: linked, then passed through
        self.left_out_instances: dict[str, str] = {}   # block instances made of nothing -> why
        self.problems_before = len(self.problems)
        names: dict[str, Ref] = {}
        sequence: list[Ref] = []
        inputs = []
        for input_name, spec_input in model.inputs.items():
            shape = []
            for i, dim in enumerate(spec_input.shape):
                value = self.subst(dim, self.params, path + ("inputs", input_name, "shape", i), input_name)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                          or not 1 <= value <= MAX_DIM):
                    self.error(path + ("inputs", input_name, "shape", i),
                               f"expected a positive integer up to {MAX_DIM:,} or null. "
                               f"Received: shape[{i}]={show(value)}")
                shape.append(value)
            node = Node(id=input_name, op="input", type="Input", args={"shape": shape, "dtype": spec_input.dtype},
                        location=self.loc(path + ("inputs", input_name), key=True), family="input")
            self.add(node, path + ("inputs", input_name))
            names[input_name] = Ref(input_name)
            inputs.append(input_name)
        if len(inputs) == 1:
            sequence.append(Ref(inputs[0]))
        last = self.layers(model.layers, path + ("layers",), (), self.params, names, {}, sequence, 0, ())
        outputs = self.outputs(model.outputs, path, names, last, sequence)
        self.link()
        outputs = self.bypass(outputs)
        return self.finish(name, inputs, outputs, path)

    def add(self, node: Node, path: tuple) -> None:
        if node.id in self.nodes:
            first = self.nodes[node.id].location
            self.error(path, f"duplicate id {show(node.id)} (first at line {first.line})", node=node.id)
            return
        self.nodes[node.id] = node
        if len(self.nodes) > MAX_NODES:
            raise SpecError.single(self.loc(path), f"the model expands to more than {MAX_NODES:,} nodes (limit "
                                                   "MAX_NODES); check repeat counts")

    def auto_id(self, prefix: str, base: str) -> str:
        key = (prefix, base)
        self.counters[key] = self.counters.get(key, 0) + 1
        return f"{base}_{self.counters[key]}"

    def subst(self, value, params, path, node=None, in_block=False):
        if not has_placeholder(value):
            return value
        used: set = set()
        try:
            result = substitute(value, params, used)
        except _ExprError as exc:
            self.failures += 1
            if not (in_block and isinstance(exc, _UnknownName)):  # else reported once by _check_blocks
                self.error(path, str(exc), node=node)
            return None
        if has_placeholder(result):  # `params: {a: "${b}"}`: values are filled in once, not again and again
            self.failures += 1
            self.error(path, f"{show(value)} gives {show(result)}: a parameter's value cannot hold ${{...}} "
                             "itself", "give the parameter a plain value", node=node)
            return None
        self.used_spec_params |= used
        return result

    # -- a list of layers in one scope
    def layers(self, items, path, scopes, params, names, block_inputs, sequence, depth, block_stack) -> Ref | None:
        prefix = "".join(s.id + "." for s in scopes[-1:])
        last = sequence[-1] if sequence else None
        for i, item in enumerate(items):
            item_path = path + (i,)
            if isinstance(item, BlockNode):
                last = self.block_use(item, item_path, scopes, params, names, block_inputs, sequence, depth,
                                      block_stack, prefix)
            else:
                last = self.layer(item, item_path, scopes, params, names, block_inputs, sequence, prefix)
            if last is not None:
                sequence.append(last)
        return last

    def layer(self, item, path, scopes, params, names, block_inputs, sequence, prefix) -> Ref | None:
        present = True
        if isinstance(item, ModelNode):
            local = item.id or self.auto_id(prefix, snake(item.model))
            op, type_name, args, family, call = "model", item.model, {}, "model", {}
            if item.model not in self.model_names:
                self.error(path + ("model",), f"unknown model {show(item.model)}",
                           did_you_mean(item.model, sorted(self.model_names)), node=local)
            elif item.model == self.model_name:
                self.error(path + ("model",), f"model {show(item.model)} cannot call itself", node=local)
            else:  # a self-call is reported above, not again as a cycle of models
                self.model_deps.add(item.model)
        else:
            info = catalogue().layer(item.type)
            local = item.id or self.auto_id(prefix, snake(info.name if info else item.type))
            op, type_name = "layer", info.name if info else item.type
            family = info.family if info else "other"
            call = dict(item.call or {})
            raw_args = item.args
            present = self.condition(item.when, params, path, f"node {show(prefix + local)}", prefix + local,
                                     bool(scopes))
            failures = self.failures
            # a node left out keeps its arguments unfilled: they may be meaningless then (units: ${hidden} = 0)
            args = {k: self.subst(v, params, path + (k,), prefix + local, bool(scopes)) if present else v
                    for k, v in raw_args.items()}
            if present and has_placeholder(raw_args) and info is not None and self.failures == failures:
                for problem in check_layer({"type": item.type, **args}, self.doc.locate, path):
                    self.problems.append(Problem(problem.location, f"node {show(prefix + local)}: {problem.message}",
                                                 problem.hint, node=prefix + local))
        qualified = prefix + local
        if op == "layer" and any(scope.trainable is False for scope in scopes):
            args["trainable"] = False   # a frozen block freezes every layer in it, whatever the layer says
        if local in names:
            first = self.nodes.get(names[local].node) or self.left_out.get(names[local].node)
            where = f" (first at line {first.location.line})" if first else ""
            self.error(path + ("id",) if item.id else path, f"duplicate id {show(local)}{where}", node=qualified)
            return None
        names[local] = Ref(qualified)
        tags = tuple(dict.fromkeys([*(item.tags or ()), *(t for scope in reversed(scopes) for t in scope.tags)]))
        node = Node(id=qualified, op=op, type=type_name, args=args, call=call, scopes=scopes,
                    location=self.loc(path), family=family, tags=tags)
        if present:
            self.add(node, path)
        else:   # linked like any node, so that what reads it can read its input instead (`bypass`)
            self.left_out[qualified] = node
        self.pending.append(_Pending(node, item.inputs, names, block_inputs, sequence, len(sequence), path))
        return Ref(qualified)

    def block_use(self, item: BlockNode, path, scopes, params, names, block_inputs, sequence, depth,
                  block_stack, prefix) -> Ref | None:
        block = self.spec.blocks.get(item.block)
        if block is None:
            self.error(path + ("block",), f"unknown block {show(item.block)}",
                       did_you_mean(item.block, sorted(self.spec.blocks)) or
                       ("define it under `blocks:`" if not self.spec.blocks else None))
            return None
        if item.block in block_stack:
            chain = " -> ".join(block_stack + (item.block,))
            self.error(path + ("block",), f"block {show(item.block)} uses itself ({chain})")
            return None
        if depth >= MAX_BLOCK_DEPTH:
            self.error(path, f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels (limit MAX_BLOCK_DEPTH)")
            return None
        local = item.id or self.auto_id(prefix, item.block)
        group = prefix + local
        failures = self.failures
        repeat = self.subst(item.repeat, params, path + ("repeat",), in_block=bool(scopes))
        if self.failures > failures:
            return None
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= MAX_REPEAT:
            origin, hint = self.origin(item.repeat, params, scopes)
            self.error(path + ("repeat",), f"block instance {show(group)}: expected a repeat count from 0 to "
                                           f"{MAX_REPEAT}. Received: repeat={show(repeat)}{origin}", hint)
            return None
        per_repeat = item.per_repeat or []
        if len(per_repeat) > repeat:
            self.error(path + ("per_repeat",), f"per_repeat has {len(per_repeat)} items for {repeat} repeats")
        declared = block.params
        for key in list(item.with_) + [k for override in per_repeat for k in override]:
            if key not in declared:
                where = path + ("with", key) if key in item.with_ else path + ("per_repeat",)
                self.error(where, f"block {show(item.block)} has no parameter {show(key)}",
                           did_you_mean(key, sorted(declared)) or f"it takes: {', '.join(sorted(declared)) or 'none'}",
                           key=key in item.with_)
        if local in names:
            self.error(path + ("id",) if item.id else path, f"duplicate id {show(local)}")
            return None
        chain = self.chain_sources(item, block, path)
        present = self.condition(item.when, params, path, f"block instance {show(group)}", None, bool(scopes))
        # what the first repeat reads
        entry = self.block_entry(item, block, path, names, block_inputs, sequence, group)
        if entry is None:
            return None
        if not present or repeat == 0:   # left out, or no repeat at all: the instance is its first input
            self.left_out_instances[group] = "its `when` is false" if not present else "it repeats 0 times"
            names[local] = self.aliases[group] = entry[0]
            return entry[0]
        out = None
        for r in range(1, repeat + 1):
            self.instances += 1
            if self.instances > MAX_BLOCK_INSTANCES:
                raise SpecError.single(self.loc(path), f"the spec expands to more than {MAX_BLOCK_INSTANCES:,} block "
                                                       "instances (limit MAX_BLOCK_INSTANCES); check repeat counts "
                                                       "of nested blocks")
            values = dict(item.with_)
            if r <= len(per_repeat):
                values.update(per_repeat[r - 1])
            counting = {"repeat_index": r - 1, "repeats": repeat}   # the repeat being made, in `with` and inside
            outer = {**params, **counting}
            values = {k: self.subst(v, outer, path + ("with", k), in_block=bool(scopes))
                      for k, v in values.items() if k in declared}
            missing = [k for k, default in declared.items() if default is None and k not in values]
            if missing:
                self.error(path, f"block {show(item.block)} needs the parameter{'s' * (len(missing) > 1)} "
                                 f"{', '.join(map(show, missing))}", "give it under `with:`")
                return None
            defaults = {k: self.subst(v, outer, ("blocks", item.block, "params", k))  # may use spec params
                        for k, v in declared.items() if v is not None and k not in values}
            inner_params = {**self.params, **defaults, **values, **counting}
            instance = local if repeat == 1 else f"{local}_{r}"
            qualified = prefix + instance
            scope = Scope(id=qualified, block=item.block, params=tuple(sorted(
                (k, v) for k, v in inner_params.items() if k in declared)), repeat=r, repeats=repeat,
                group=group, location=self.loc(path), trainable=item.trainable, tags=tuple(item.tags or ()))
            inner_names: dict[str, Ref] = {}
            inner_inputs = dict(zip(("$" + n for n in block.inputs), entry))
            inner_sequence = [entry[0]]
            last = self.layers(block.layers, ("blocks", item.block, "layers"), scopes + (scope,), inner_params,
                               inner_names, inner_inputs, inner_sequence, depth + 1, block_stack + (item.block,))
            out = self.block_output(block, item.block, inner_names, inner_inputs, last)
            if out is None:
                return None
            if repeat > 1:
                names[instance] = out
                self.aliases[qualified] = out
            # the next repeat reads this one's output first; each other input as `chain` says
            entry = self.chained(chain, block, entry, out, inner_names, qualified, path, first=r == 1)
            if entry is None:
                return None
        names[local] = out
        self.aliases[group] = out
        return out

    def chain_sources(self, item: BlockNode, block, path) -> dict:
        """Input name -> what it reads from the second repeat on ("fixed", "$input" or a node of the block), for
        each input after the first; a repeated block of several inputs must say (NASNet's cells read the two
        outputs before, a decoder's memory stays: builder cannot guess which)."""
        chain = dict(item.chain or {})
        first, others = block.inputs[0], block.inputs[1:]
        misspelt = False   # then "say what ... reads" would only echo the misspelling
        for name, source in list(chain.items()):
            where = path + ("chain", name)
            if name == first:
                self.error(where, f"chain: {show(name)} is the first input of block {show(item.block)}, which always "
                                  "reads the output of the repeat before", key=True)
            elif name not in others:
                misspelt = True
                self.error(where, f"chain: block {show(item.block)} has no input {show(name)}",
                           did_you_mean(name, others) or
                           (f"chain names its inputs after the first: {', '.join(others)}" if others else
                            f"block {show(item.block)} has one input, which always reads the repeat before"), key=True)
            elif source.startswith("$") and _REF.match(source).group(2) not in block.inputs:
                self.error(where, f"chain: {show(source)} is not an input of block {show(item.block)}",
                           did_you_mean(source, ["$" + n for n in block.inputs]) or
                           f"its inputs are: {', '.join('$' + n for n in block.inputs)}")
            else:
                continue
            del chain[name]
        repeated = not (isinstance(item.repeat, int) and item.repeat <= 1)
        unsaid = [name for name in others if name not in chain and name not in (item.chain or {})]
        if repeated and unsaid and not misspelt:
            example = ", ".join(f"{name}: $in" for name in unsaid)
            self.error(path + ("repeat",), f"block {show(item.block)} takes {len(block.inputs)} inputs "
                                           f"({', '.join(block.inputs)}) and repeats: say what "
                                           f"{', '.join(map(show, unsaid))} read{'s' * (len(unsaid) == 1)} from the "
                                           "second repeat on",
                       f"add chain: {{{example}}} (what the repeat before read as $in: the output two back, as "
                       f"NASNet's cells) or `fixed` (every repeat reads what the use gives, as a decoder's memory)")
        return chain

    def chained(self, chain: dict, block, entry: list, out: Ref, inner_names: dict, qualified: str, path,
                first: bool) -> list[Ref] | None:
        """What the next repeat reads: this one's output, then each other input as `chain` says."""
        following = [out]
        for i, name in enumerate(block.inputs[1:], 1):
            source = chain.get(name, "fixed")
            if source == "fixed":
                following.append(entry[i])
                continue
            match = _REF.match(source)
            local, index = match.group(2), match.group(3)
            if source.startswith("$"):
                found = entry[block.inputs.index(local)]
            else:
                found = inner_names.get(local) or self.aliases.get(f"{qualified}.{local}") or \
                    (Ref(f"{qualified}.{local}") if f"{qualified}.{local}" in self.nodes else None)
                if found is None:
                    if first:   # reported once, for the first repeat
                        self.error(path + ("chain", name), f"chain: {show(source)} names no node of the block",
                                   did_you_mean(local, sorted(inner_names)) or
                                   "give a node id of the block, `$input`, or `fixed`")
                    return None
            following.append(found if index is None else Ref(found.node, int(index)))
        return following

    def origin(self, raw, params: dict, scopes: tuple) -> tuple[str, str | None]:
        """For a value that came from a `${...}`: " (from '${depth - 1}' with depth=0)", and a hint saying where
        each parameter's value was set (`--set`, the spec's params, or a block instance)."""
        if not has_placeholder(raw):
            return "", None
        names = sorted(n for n in placeholder_names(raw) if n in params)
        origins = []
        declared = self.spec.blocks[scopes[-1].block].params if scopes else {}
        for name in names:
            value = f"{name}={params[name]!r}"
            if name in REPEAT_NAMES:
                continue
            if name in declared:
                origins.append(f"{value} is a parameter of block instance {show(scopes[-1].id)}")
            elif name in self.overrides:
                origins.append(f"{name} comes from --set {name}={self.overrides[name]}")
            else:
                origins.append(f"{value} comes from the spec's params")
        given = ", ".join(f"{name}={params[name]!r}" for name in names)
        return f" (from {show(raw)}{' with ' + given if given else ''})", "; ".join(origins) or None

    def condition(self, when, params, path, label: str, node: str | None, in_block: bool) -> bool:
        """Whether a node or block use with `when` is made; a `when` that fails is reported, the node kept."""
        if when is None or isinstance(when, bool):
            return when is not False
        failures = self.failures
        value = self.subst(when, params, path + ("when",), node, in_block)
        if self.failures > failures:
            return True
        if not isinstance(value, bool):
            self.error(path + ("when",), f"{label}: expected true or false. Received: when={show(value)} (from "
                                         f"{show(when)})", "write a condition, e.g. ${expand_ratio != 1}", node=node)
            return True
        return value

    def block_entry(self, item, block, path, names, block_inputs, sequence, group) -> list[Ref] | None:
        raw = item.inputs
        if raw is None:
            if not sequence:
                self.error(path, f"block instance {show(group)} has no input: give `inputs`")
                return None
            raw = [-1]
        if isinstance(raw, dict):
            unknown = [k for k in raw if k not in block.inputs]
            if unknown:
                self.error(path + ("inputs", unknown[0]), f"block {show(item.block)} has no input {show(unknown[0])}",
                           f"its inputs are: {', '.join(block.inputs)}", key=True)
                return None
            missing = [name for name in block.inputs if name not in raw]
            if missing:
                self.error(path + ("inputs",), f"block {show(item.block)} needs its input{'s' * (len(missing) > 1)} "
                                               f"{', '.join(map(show, missing))}")
                return None
            raw = [raw[name] for name in block.inputs]
        elif not isinstance(raw, list):
            raw = [raw]
        if len(raw) != len(block.inputs):
            self.error(path + ("inputs",), f"block {show(item.block)} takes {len(block.inputs)} input"
                                           f"{'s' * (len(block.inputs) > 1)} ({', '.join(block.inputs)}); got {len(raw)}")
            return None
        refs = []
        for i, r in enumerate(raw):
            ref = self.lookup(r, names, block_inputs, sequence, len(sequence), path + ("inputs",), group)
            if ref is None:
                return None
            refs.append(ref)
        return refs

    def block_output(self, block, block_name, inner_names, inner_inputs, last) -> Ref | None:
        if block.output is None:
            return last
        target = block.output
        if isinstance(target, str):
            match = _REF.match(target)
            name, index = match.group(2), match.group(3)
            if target.startswith("$"):
                found = inner_inputs.get("$" + name)
                if found is None:
                    self.error(("blocks", block_name, "output"), f"block {show(block_name)}: output {show(target)} "
                               "is not one of its inputs", did_you_mean(target, sorted(inner_inputs)))
                    return None
                return found if index is None else Ref(found.node, int(index))
            if name in inner_names:
                found = inner_names[name]
                return found if index is None else Ref(found.node, int(index))
            self.error(("blocks", block_name, "output"), f"block {show(block_name)}: output {show(target)} "
                       "names no node of the block", did_you_mean(name, sorted(inner_names)))
            return None
        self.error(("blocks", block_name, "output"), "a block's output names a node of the block")
        return None

    # -- references
    def lookup(self, raw, names, block_inputs, sequence, position, path, node_id) -> Ref | None:
        if isinstance(raw, int) and not isinstance(raw, bool):
            back = position + raw
            if back < 0:
                self.error(path, f"node {show(node_id)}: input {raw} reaches before the first node",
                           node=node_id)
                return None
            return sequence[back]
        match = _REF.match(raw) if isinstance(raw, str) else None
        if match is None:
            self.error(path, f"node {show(node_id)}: cannot read the reference {show(raw)}", node=node_id)
            return None
        dollar, name, index = match.groups()
        index = int(index) if index is not None else None
        if dollar:
            ref = block_inputs.get("$" + name)
            if ref is None:
                known = sorted(k for k in block_inputs)
                self.error(path, f"node {show(node_id)}: {show(raw)} is not an input of this block"
                           if block_inputs else f"node {show(node_id)}: {show(raw)} can only be used inside a block",
                           did_you_mean(raw, known) if known else None, node=node_id)
                return None
            return ref if index is None else Ref(ref.node, index)
        target = names.get(name)
        if target is None and not block_inputs:  # a block is closed: it reads its own nodes and its $inputs
            target = self.aliases.get(name) or (Ref(name) if name in self.nodes or name in self.left_out else None)
        if target is not None and index is not None and target.node in self.left_out:
            self.error(path, f"node {show(node_id)} reads {show(raw)}, but node {show(target.node)} is left out (its "
                             f"`when` is false): it passes one input through and has no output [{index}]",
                       "read it without [k], or leave this node out too", node=node_id)
            return None
        if target is None:
            gone = next((g for g in self.left_out_instances if name.startswith(g + ".")), None)
            if gone is not None:
                self.error(path, f"node {show(node_id)} reads {show(raw)}, but block instance {show(gone)} is made of "
                                 f"no nodes: {self.left_out_instances[gone]}",
                           f"read {show(gone)} itself: it passes its first input through", node=node_id)
                return None
            if block_inputs:
                self.error(path, f"node {show(node_id)} reads {show(raw)}, which is not a node of its block",
                           did_you_mean(name, sorted(names)) or
                           f"a block reads outside nodes through its inputs: {', '.join(sorted(block_inputs))}",
                           node=node_id)
                return None
            known = sorted(set(names) | set(self.nodes) | set(self.aliases))
            self.error(path, f"node {show(node_id)} reads {show(raw)}, which is not a node or input",
                       did_you_mean(name, known), node=node_id)
            return None
        return target if index is None else Ref(target.node, index)

    def link(self) -> None:
        for p in self.pending:
            node = p.node
            raw = p.raw_inputs
            if raw is None:
                if p.position == 0:
                    self.error(p.path, f"node {show(node.id)} has no input: give `inputs`"
                               + (" (the model has several inputs)" if not p.sequence else ""), node=node.id)
                    continue
                node.inputs = (p.sequence[p.position - 1],)
                self.arity(node, p.path, False)  # e.g. an Add, or a model of two inputs, reading one node
                continue
            if isinstance(raw, dict):
                kwargs = {}
                for key, value in raw.items():
                    values = value if isinstance(value, list) else [value]
                    refs = tuple(self.lookup(v, p.names, p.block_inputs, p.sequence, p.position,
                                             p.path + ("inputs", key), node.id) for v in values)
                    if None in refs:
                        continue
                    kwargs[key] = refs if isinstance(value, list) else refs[0]
                self.keyword_inputs(node, kwargs, p.path)
                continue
            values = raw if isinstance(raw, list) else [raw]
            refs = [self.lookup(v, p.names, p.block_inputs, p.sequence, p.position, p.path + ("inputs",), node.id)
                    for v in values]
            if None not in refs:
                node.inputs = tuple(refs)
                self.arity(node, p.path, isinstance(raw, list))

    def bypass(self, outputs: list[Ref]) -> list[Ref]:
        """Every reference to a node left out (`when` false) reads what that node read instead: its first input,
        through any number of nodes left out. Returns the model's outputs, passed through alike."""
        if not self.left_out:
            return outputs
        reported: set = set()

        def through(ref: Ref) -> Ref:
            seen: list[str] = []
            while ref.node in self.left_out and ref.index is None:
                if ref.node in seen:
                    cycle = seen[seen.index(ref.node):]
                    if not reported & set(cycle):
                        reported.update(cycle)
                        self.problems.append(Problem(self.left_out[cycle[0]].location, "nodes left out (`when` "
                                                     "false) pass each other's input through in a cycle: "
                                                     + " -> ".join(cycle + [cycle[0]]), node=cycle[0]))
                    return ref
                seen.append(ref.node)
                inputs = self.left_out[ref.node].inputs
                if not inputs:
                    return ref   # it reads nothing: reported where it is written
                ref = inputs[0]
            return ref

        for node in self.nodes.values():
            node.inputs = tuple(through(ref) for ref in node.inputs)
            node.kwargs = {key: tuple(through(ref) for ref in value) if isinstance(value, tuple) else through(value)
                           for key, value in node.kwargs.items()}
        return [through(ref) for ref in outputs]

    def keyword_inputs(self, node: Node, kwargs: dict, path: tuple) -> None:
        if node.op == "model":
            self.model_keyword_inputs(node, kwargs, path)
            return
        info = catalogue().layer(node.type)
        if info is None:
            node.inputs = tuple(r for v in kwargs.values() for r in (v if isinstance(v, tuple) else (v,)))
            return
        main = info.input_arg
        allowed = [main] + info.tensor_call_args
        for key in kwargs:
            if key not in allowed:
                self.error(path + ("inputs", key), f"{node.type} has no input {show(key)}",
                           did_you_mean(key, allowed) or f"it reads: {', '.join(allowed)}", node=node.id, key=True)
                return
        if main not in kwargs:
            self.error(path + ("inputs",), f"node {show(node.id)}: {node.type} needs its main input {show(main)}",
                       node=node.id)
            return
        first = kwargs.pop(main)
        node.inputs = first if isinstance(first, tuple) else (first,)
        node.kwargs = kwargs

    def model_keyword_inputs(self, node: Node, kwargs: dict, path: tuple) -> None:
        """`{model: d, inputs: {image: x, label: y}}`: the called model's inputs by name, put in its order."""
        names = self.called_inputs(node)
        if names is None:
            return  # an unknown model, reported where it is named
        for key, value in kwargs.items():
            if key not in names:
                self.error(path + ("inputs", key), f"model {show(node.type)} has no input {show(key)}",
                           did_you_mean(key, names) or f"its inputs are: {', '.join(names)}", node=node.id, key=True)
                return
            if isinstance(value, tuple):
                self.error(path + ("inputs", key), f"node {show(node.id)}: input {show(key)} of model "
                                                   f"{show(node.type)} takes one node; got {len(value)}", node=node.id)
                return
        missing = [name for name in names if name not in kwargs]
        if missing:
            self.error(path + ("inputs",), f"node {show(node.id)}: model {show(node.type)} needs its input"
                                           f"{'s' * (len(missing) > 1)} {', '.join(map(show, missing))}", node=node.id)
            return
        node.inputs = tuple(kwargs[name] for name in names)

    def called_inputs(self, node: Node) -> list[str] | None:
        called = (self.spec.models or {}).get(node.type)
        return None if called is None or node.type == self.model_name else list(called.inputs)

    def arity(self, node: Node, path: tuple, as_list: bool) -> None:
        if node.op == "model":
            names = self.called_inputs(node)
            if names is not None and len(node.inputs) != len(names):
                self.error(path + ("inputs",), f"node {show(node.id)}: model {show(node.type)} takes {len(names)} "
                                               f"input{'s' * (len(names) > 1)} ({', '.join(names)}); got "
                                               f"{len(node.inputs)}", node=node.id)
            return
        if node.op != "layer":
            return
        info = catalogue().layer(node.type)
        if info is None:
            return
        count = len(node.inputs)
        if info.many_inputs and count < 2:
            self.error(path + ("inputs",), f"node {show(node.id)}: {node.type} takes a list of two or more inputs; got {count}",
                       "list the nodes to merge, e.g. inputs: [-1, skip]", node=node.id)
        elif not info.many_inputs and count > 1:
            self.error(path + ("inputs",), f"node {show(node.id)}: {node.type} takes one input; got {count}",
                       "merge them first with Concatenate or Add", node=node.id)

    def outputs(self, raw, path, names, last, sequence) -> list[Ref]:
        if raw is None:
            return [last] if last is not None else []
        values = raw if isinstance(raw, list) else [raw]
        refs = []
        for i, value in enumerate(values):
            ref = self.lookup(value, names, {}, sequence, len(sequence),  # -1: the last node
                              path + ("outputs",) + ((i,) if isinstance(raw, list) else ()), "outputs")
            if ref is not None:
                refs.append(ref)
        return refs

    # -- graph checks
    def finish(self, name, inputs, outputs, path) -> ModelGraph | None:
        order = self.topological(path)
        if order is None:
            return None
        if len(self.problems) > self.problems_before or not self.complete:
            return ModelGraph(name, inputs, {k: self.nodes[k] for k in order}, outputs, self.loc(path))
        # with no errors so far every reference resolved (and nothing was cut out), so unused inputs are real,
        # not an echo of them
        reachable = set()
        stack = [r.node for r in outputs]
        while stack:
            node_id = stack.pop()
            if node_id in reachable or node_id not in self.nodes:
                continue
            reachable.add(node_id)
            stack.extend(r.node for r in self.nodes[node_id].sources)
        for node_id in order:
            node = self.nodes[node_id]
            if node_id in reachable:
                continue
            if node.op == "input":
                self.error(path + ("inputs", node_id), f"input {show(node_id)} of model {show(name)} is not used",
                           "read it from a node, or remove it", node=node_id, key=True)
            else:
                self.warnings.append(Problem(node.location, f"node {show(node_id)} does not lead to any output",
                                             "list it under `outputs`, or remove it", "warning", node_id))
        return ModelGraph(name, inputs, {k: self.nodes[k] for k in order}, outputs, self.loc(path))

    def topological(self, path) -> list[str] | None:
        consumers: dict[str, list[str]] = {k: [] for k in self.nodes}
        indegree = {k: 0 for k in self.nodes}
        for node in self.nodes.values():
            for ref in node.sources:
                if ref.node in consumers:
                    consumers[ref.node].append(node.id)
                    indegree[node.id] += 1
        # Kahn's algorithm, taking nodes in declaration order for a stable result
        position = {k: i for i, k in enumerate(self.nodes)}
        import heapq
        ready = [(position[k], k) for k, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, node_id = heapq.heappop(ready)
            order.append(node_id)
            for consumer in consumers[node_id]:
                indegree[consumer] -= 1
                if indegree[consumer] == 0:
                    heapq.heappush(ready, (position[consumer], consumer))
        if len(order) == len(self.nodes):
            return order
        cycle = self.find_cycle({k for k, d in indegree.items() if d > 0})
        first = self.nodes[cycle[0]]
        self.problems.append(Problem(first.location, "the graph has a cycle: " + " -> ".join(cycle + [cycle[0]]),
                                     "a node cannot read its own output, directly or through others", node=cycle[0]))
        return None

    def find_cycle(self, candidates: set) -> list[str]:
        # follow inputs inside the unsorted remainder until a node repeats
        start = min(candidates, key=list(self.nodes).index)
        seen: dict[str, int] = {}
        walk = []
        current = start
        while current not in seen:
            seen[current] = len(walk)
            walk.append(current)
            current = next(r.node for r in self.nodes[current].sources if r.node in candidates)
        cycle = walk[seen[current]:][::-1]
        first = min(range(len(cycle)), key=lambda i: list(self.nodes).index(cycle[i]))
        return cycle[first:] + cycle[:first]  # start at the node declared first


def _check_blocks(spec: Spec, problems: list[Problem], doc: Document) -> None:
    """Every `${name}` in a block names a parameter, and every parameter is used."""
    for name, block in spec.blocks.items():
        mentioned: set[str] = set()
        for param in block.params:
            if param in REPEAT_NAMES:
                problems.append(_reserved(doc.locate(("blocks", name, "params", param), key=True), param))
        for i, node in enumerate(block.layers):
            if isinstance(node, LayerNode):
                values = {**node.args, "when": node.when}
            elif isinstance(node, BlockNode):
                values = {"with": node.with_, "per_repeat": node.per_repeat or [], "repeat": node.repeat,
                          "when": node.when}
            else:
                values = {}
            for key, value in values.items():
                names = placeholder_names(value)
                mentioned |= names
                for unknown in sorted(names - set(block.params) - set(spec.params) - set(REPEAT_NAMES)):
                    problems.append(Problem(doc.locate(("blocks", name, "layers", i, key)),
                                            f"block {show(name)} uses ${{{unknown}}}, which is not one of its "
                                            "parameters", did_you_mean(unknown, sorted(block.params)) or
                                            f"declare it under blocks.{name}.params"))
        for param in block.params:
            if param not in mentioned:
                problems.append(Problem(doc.locate(("blocks", name, "params", param), key=True),
                                        f"parameter {show(param)} of block {show(name)} is never used",
                                        f"use it as ${{{param}}} in the block's layers, or remove it"))


def _reserved(location: Location, name: str) -> Problem:
    return Problem(location, f"{show(name)} is a name every block instance defines (repeat_index: which repeat, "
                             "from 0; repeats: how many); a parameter cannot take it", "choose another name")


def _model_order(models: dict, deps: dict, doc: Document, problems: list[Problem]) -> list[str]:
    order, state = [], {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            cycle = trail[trail.index(name):] + [name]
            problems.append(Problem(doc.locate(("models", name)), "models call each other in a cycle: "
                                    + " -> ".join(cycle)))
            return
        state[name] = "open"
        for dep in sorted(deps.get(name, ())):
            if dep in models:
                visit(dep, trail + [name])
        state[name] = "done"
        order.append(name)

    for name in models:
        visit(name, [])
    return order


def _train_references(train: TrainSpec, model: ModelGraph, doc: Document) -> list[Problem]:
    """`freeze.until` (the run's, or each phase's) and the keys of `init.map` name nodes of the model that trains.

    `builder train` would find these only after loading data and building Keras models; here `builder
    validate` reports them, each at the name and with a did-you-mean.
    """
    problems = []
    instances = sorted({s.id for node in model.nodes.values() for s in node.scopes}
                       | {s.group for node in model.nodes.values() for s in node.scopes if s.group})
    targets = set(model.nodes) | set(instances)
    freezes = [(("train", "freeze", "until"), train.freeze)]
    freezes += [(("train", "phases", i, "freeze", "until"), phase.freeze) for i, phase in enumerate(train.phases or [])]
    for path, freeze in freezes:
        if freeze is not None and freeze.until not in targets:
            problems.append(Problem(doc.locate(path), f"freeze.until names {show(freeze.until)}, which is no node or "
                                    f"block instance of model {show(model.name)}",
                                    did_you_mean(freeze.until, list(model.nodes) + instances)))
    outputs = [ref.node for ref in model.outputs]
    problems += _named_data_references(train, model, doc, outputs)
    for key in ("loss", "metrics", "loss_weights"):   # by output: each key names an output node
        for name in getattr(train, key) if isinstance(getattr(train, key), dict) else ():
            if name not in outputs:
                problems.append(Problem(doc.locate(("train", key, name), key=True), f"{key} names {show(name)}, "
                                        f"which is no output of model {show(model.name)} (its outputs: "
                                        f"{', '.join(outputs)})", did_you_mean(name, outputs)))
    logged = train.logged_metrics()
    for key in ("early_stopping", "reduce_lr_on_plateau"):
        watcher = getattr(train, key)
        if watcher is not None and logged is not None and watcher.monitor not in logged:
            problems.append(Problem(doc.locate(("train", key, "monitor")), f"{key}.monitor names "
                                    f"{show(watcher.monitor)}, which this run does not log (it logs: "
                                    f"{', '.join(logged)})", did_you_mean(watcher.monitor, logged)
                                    or "add the metric to train.metrics"))
    layers = [node_id for node_id, node in model.nodes.items() if node.op == "layer"]
    for new in (train.init.map if train.init is not None else {}):
        if new not in layers:
            problems.append(Problem(doc.locate(("train", "init", "map", new), key=True), f"init.map names "
                                    f"{show(new)}, which is no layer node of model {show(model.name)}",
                                    did_you_mean(new, layers)))
    return problems


def _named_data_references(train: TrainSpec, model: ModelGraph, doc: Document, outputs: list[str]) -> list[Problem]:
    """`train.data.inputs` names each input of the model that trains, and `targets` its outputs; a model of several
    inputs that kind supervised feeds has its data named (validate says so, with the mapping to write); and no
    output is named `type`, which in a loss mapping names the loss (`loss: {type: mse}` is one loss)."""
    problems = []
    names = list(model.inputs)
    for key, known, what in (("inputs", names, "input"), ("targets", outputs, "output")):
        for name in getattr(train.data, key, None) or {}:
            if name not in known:
                problems.append(Problem(doc.locate(("train", "data", key, name), key=True), f"train.data.{key} "
                                        f"names {show(name)}, which is no {what} of model {show(model.name)} (its "
                                        f"{what}s: {', '.join(known)})", did_you_mean(name, known)))
    given = getattr(train.data, "inputs", None)
    if given is not None and all(name in names for name in given):
        missing = [name for name in names if name not in given]
        if missing:
            problems.append(Problem(doc.locate(("train", "data", "inputs")), f"model {show(model.name)} has the "
                                    f"input {show(missing[0])}, which train.data.inputs does not name",
                                    f"add `{missing[0]}: ...` to train.data.inputs"))
    elif given is None and train.kind == "supervised" and len(names) > 1:
        problems.append(Problem(doc.locate(("train", "data")), f"model {show(model.name)} has {len(names)} inputs "
                                f"({', '.join(names)}); the data gives one array",
                                inputs_hint(train.data.source, names)))
    if "type" in outputs and isinstance(train.loss, ConfiguredObject):
        problems.append(Problem(doc.locate(("train", "loss", "type"), key=True), f"model {show(model.name)} has an "
                                "output named 'type', but in `loss:` a mapping with `type` is one loss with "
                                "arguments, not a loss per output", "give the output node another id"))
    return problems


def expand(spec: Spec, document: Document, overrides: dict | None = None,
           complete: bool = True) -> tuple[Graph | None, list[Problem]]:
    """Expand and check a parsed spec: the graph and no errors, or None and every error found.

    `complete=False`: `spec` is what `parser.salvage` kept of a spec with problems; the checks that need the
    whole spec (unused inputs, unreachable nodes, the train section's names) wait until it parses.
    """
    # Expansion allocates a few objects per node and frees none, so the cyclic garbage collector's full
    # passes find nothing and grow with the graph (1.6x slower at 30,000 nodes); pause it meanwhile.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _expand(spec, document, overrides, complete)
    finally:
        if paused:
            gc.enable()


def _expand(spec: Spec, document: Document, overrides: dict | None,
            complete: bool) -> tuple[Graph | None, list[Problem]]:
    params = {**spec.params, **(overrides or {})}
    problems: list[Problem] = []
    for key in overrides or {}:
        if key not in spec.params:
            problems.append(Problem(Location(document.file), f"--set {key}: the spec has no parameter {show(key)}",
                                    did_you_mean(key, sorted(spec.params)) or
                                    f"its parameters are: {', '.join(sorted(spec.params)) or 'none'}"))
    for key in spec.small or {}:   # `small:` sets parameters only, like --set
        if key not in spec.params:
            problems.append(Problem(document.locate(("small", key)), f"small: the spec has no parameter {show(key)}",
                                    did_you_mean(key, sorted(spec.params)) or
                                    f"its parameters are: {', '.join(sorted(spec.params)) or 'none'}"))
    for key in spec.params:
        if key in REPEAT_NAMES:
            problems.append(_reserved(document.locate(("params", key), key=True), key))
    _check_blocks(spec, problems, document)
    name = spec.name or re.sub(r"\.(ya?ml)$", "", document.file.rsplit("/", 1)[-1]) or "model"
    model_name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    specs = spec.model_specs(model_name)
    expander = _Expander(spec, document, params, complete, overrides)
    graphs: dict[str, ModelGraph] = {}
    deps: dict[str, set] = {}
    for mname, model in specs.items():
        path = ("models", mname) if spec.models is not None else ()
        graph = expander.model(mname, model, path, set(specs))
        deps[mname] = expander.model_deps
        if graph is not None:
            graphs[mname] = graph
    problems.extend(expander.problems)
    order = _model_order(graphs, deps, document, problems)
    if spec.train is not None and spec.train.model and spec.train.model not in specs:
        problems.append(Problem(document.locate(("train", "model")), f"unknown model {show(spec.train.model)}",
                                did_you_mean(spec.train.model, sorted(specs))))
    elif spec.train is not None and order and complete and not any(p.severity == "error" for p in problems):
        # with every model whole, a name that is no node is the spec's mistake, not an echo of another
        problems += _train_references(spec.train, graphs[spec.train.model or order[-1]], document)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        return None, errors
    return Graph(name=name, file=document.file, models={m: graphs[m] for m in order}, spec=spec, params=params,
                 warnings=expander.warnings, document=document), []


def raise_errors(errors: list[Problem]) -> None:
    """One `SpecError` with every error once, in the order of the file; nothing when there are none."""
    if errors:
        unique = {(p.location, p.message): p for p in errors}
        raise SpecError(sorted(unique.values(), key=lambda p: (p.location.line, p.location.column)))

