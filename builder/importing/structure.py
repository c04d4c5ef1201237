"""Repeated structure: sub-graphs that recur with only their widths or strides changed become blocks.

The graph is cut where it narrows to one tensor (after a residual block's final activation, but never inside
it), which splits the model into pieces that each read only the piece before. Pieces are compared by their
wiring and layer types, not their argument values. Then, greedily, the run of pieces that saves the most lines
when written once as a block becomes one; where its occurrences differ in an argument, the argument becomes a
block parameter (two arguments that always agree share one, and one that is always k times another is written
`${name * k}`). Consecutive occurrences become one use with `repeat`, and `per_repeat` for the first ones where
they differ from the last. Where layer names mark units (Keras' `conv2_block1_*`), a run that is exactly one
such unit is preferred, so blocks follow the model's own units.

Public entry point: `find_blocks(network)` -> `Structure` (the blocks, and each model's items: nodes and uses).
"""

from __future__ import annotations

import bisect
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from builder.graph.expressions import snake
from builder.importing.network import Call, Network, Ref, SpecModel, valid_id

MAX_UNITS = 40        # the longest run of pieces considered for one block
MAX_PARAMS = 8        # more parameters than this and a block is harder to read than its nodes
MIN_NODES = 3         # a block of fewer nodes reads no better than the nodes themselves
MISSING = object()


@dataclass
class Block:
    name: str
    description: str
    params: dict                  # name -> default value (None: every use gives it)
    layers: list                  # Calls with block-local ids; "$in" for the block's input; "${...}" arguments


@dataclass
class Use:
    id: str
    draft: dict                   # the block being found (its name once every block is named)
    repeat: int
    with_: dict
    per_repeat: list
    instances: list               # (instance id, the model's Calls in block order)
    reads: Ref                    # what the first repeat reads
    run: list                     # which occurrences of the block, in order
    block: str = ""


@dataclass
class Structure:
    blocks: dict = field(default_factory=dict)      # name -> Block
    items: dict = field(default_factory=dict)       # model name -> [Call | Use]
    outputs: dict = field(default_factory=dict)     # model name -> its output Refs, as the items name them


@dataclass
class _Piece:
    calls: list
    reads: str | None             # the node the piece reads (None: not a piece a block can hold)
    signature: tuple | None


def _parametrisable(value) -> bool:
    if value is MISSING or value is None or isinstance(value, dict):
        return False
    if isinstance(value, list):
        return all(_parametrisable(v) for v in value)
    return True


def _key(value) -> str:
    return "<missing>" if value is MISSING else json.dumps(value, sort_keys=True)


def _common_prefix(names: list) -> str:
    """The common prefix of the names up to its last '_' (conv2_block1_1_conv, conv2_block1_add -> conv2_block1_)."""
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    prefix = first[:i]
    return prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""


def _local_name(text: str) -> str:
    """A block-local id from what is left of a layer name: leading numbers move to the end (1_conv -> conv_1)."""
    tokens = [t for t in text.split("_") if t]
    numbers = []
    while tokens and tokens[0].isdigit():
        numbers.append(tokens.pop(0))
    return valid_id("_".join(tokens + numbers) if tokens else "n" + "_".join(numbers))


class _ModelStructure:
    def __init__(self, model: SpecModel):
        self.model = model
        self.calls = model.calls
        self.ids = sorted(c.id for c in self.calls)
        self.pieces = self.cut()

    # -- the pieces -------------------------------------------------------------------------------------

    def cut(self) -> list[_Piece]:
        calls, position = self.calls, {c.id: i for i, c in enumerate(self.calls)}
        end = len(calls)
        last_use: dict = defaultdict(lambda: -1)
        for i, call in enumerate(calls):
            for ref in call.sources():
                last_use[ref.node] = max(last_use[ref.node], i)
        for ref in self.model.outputs:
            last_use[ref.node] = end   # an output lives to the end
        live = {name for name in self.model.inputs if last_use[name] >= 0}
        cuts = [(-1, next(iter(live)))] if len(live) == 1 and len(self.model.inputs) == 1 else []
        for i, call in enumerate(calls):
            if last_use[call.id] > i:
                live.add(call.id)
            for ref in call.sources():
                if last_use[ref.node] == i:
                    live.discard(ref.node)
            if live == {call.id} and call.outputs == 1:
                cuts.append((i, call.id))
        pieces, start, reads = [], 0, None
        for i, node in cuts:
            if i >= start:
                pieces.append(self.piece(calls[start: i + 1], reads, position))
            start, reads = i + 1, node
        if start < end:
            pieces.append(_Piece(calls[start:], None, None))
        return pieces

    def piece(self, calls: list, reads: str | None, position: dict) -> _Piece:
        if reads is None or any(c.op != "layer" for c in calls):
            return _Piece(calls, None, None)
        local = {c.id: j for j, c in enumerate(calls)}

        def encode(ref):
            if isinstance(ref, list):
                return tuple(encode(r) for r in ref)
            return ("in",) if ref.node == reads else ("node", local[ref.node], ref.index)

        signature = tuple((c.type, c.many, tuple(encode(r) for r in c.inputs),
                           tuple((k, encode(v)) for k, v in c.keywords.items()), tuple(sorted(c.call.items())),
                           c.outputs) for c in calls)
        return _Piece(calls, reads, signature)

    # -- the search -------------------------------------------------------------------------------------

    def find(self) -> list:
        """[(starts, length, plan)] chosen greedily, best first. Where the layer names mark units (Keras'
        conv2_block1_*), only runs that are whole units become blocks; otherwise any run may."""
        chosen = self.search(units_only=True)
        return chosen or self.search(units_only=False)

    def search(self, units_only: bool) -> list:
        pieces = self.pieces
        taken = [p.signature is None for p in pieces]
        chosen = []
        while True:
            best = None
            for length in range(1, min(MAX_UNITS, len(pieces)) + 1):
                grams = defaultdict(list)
                for i in range(len(pieces) - length + 1):
                    if not any(taken[i: i + length]):
                        grams[tuple(p.signature for p in pieces[i: i + length])].append(i)
                for starts in grams.values():
                    if len(starts) < 2:
                        continue
                    nodes = sum(len(pieces[j].calls) for j in range(starts[0], starts[0] + length))
                    if nodes < MIN_NODES:
                        continue
                    apart, end = [], -1
                    for s in starts:   # occurrences that do not overlap
                        if s > end:
                            apart.append(s)
                            end = s + length - 1
                    if units_only:   # only occurrences that are whole units of the model
                        apart = [s for s in apart if self.unit_prefix(self.occurrence(s, length))]
                    for group in self.groups(apart, length) if len(apart) >= 2 else []:
                        plan = self.plan(group, length, nodes)
                        if plan is not None and units_only and not all(plan["named"]):
                            continue
                        if plan is not None and (best is None or plan["score"] > best[2]["score"]):
                            best = (group, length, plan)
            if best is None or best[2]["score"] <= 0:
                return chosen
            group, length, plan = best
            for s in group:
                for j in range(s, s + length):
                    taken[j] = True
            chosen.append(best)

    def occurrence(self, start: int, length: int) -> list[Call]:
        return [c for p in self.pieces[start: start + length] for c in p.calls]

    def groups(self, starts: list, length: int) -> list[list[int]]:
        """The occurrences split by the arguments that differ where no parameter can stand (null, a mapping)."""
        occurrences = [self.occurrence(s, length) for s in starts]
        fixed = []
        for j in range(len(occurrences[0])):
            keys = {k for occ in occurrences for k in occ[j].args}
            for key in keys:
                values = [_value(occ[j], key) for occ in occurrences]
                if len({_key(v) for v in values}) > 1 and not all(_parametrisable(v) for v in values):
                    fixed.append((j, key))
        by = defaultdict(list)
        for s, occ in zip(starts, occurrences):
            by[tuple(_key(_value(occ[j], key)) for j, key in fixed)].append(s)
        return [g for g in by.values() if len(g) >= 2]

    def plan(self, starts: list, length: int, nodes: int) -> dict | None:
        occurrences = [self.occurrence(s, length) for s in starts]
        positions = []   # (node index, argument, values) of the arguments that differ
        for j, call in enumerate(occurrences[0]):
            keys = list(call.args) + [k for occ in occurrences[1:] for k in occ[j].args if k not in call.args]
            for key in dict.fromkeys(keys):
                values = [_value(occ[j], key) for occ in occurrences]
                if len({_key(v) for v in values}) > 1:
                    positions.append((j, key, values))
        vectors: dict[tuple, tuple] = {}      # distinct values -> (node index, argument, values) where first met
        for j, key, values in positions:
            vectors.setdefault(tuple(_key(v) for v in values), (j, key, values))
        base_of = {}                          # values -> (base values, k): these are k times the base's
        for vector, (_, _, values) in vectors.items():
            ratios = [(k, other) for other, (_, _, base) in vectors.items() if other != vector
                      for k in [_ratio(values, base)] if k]
            if ratios:
                base_of[vector] = max(ratios)[::-1]
        bases = [v for v in vectors if v not in base_of]   # one parameter each
        if len(bases) > MAX_PARAMS:
            return None
        where = {}                            # (node index, argument) -> (parameter number, factor)
        for j, key, values in positions:
            vector = tuple(_key(v) for v in values)
            base, k = base_of.get(vector, (vector, 1))
            where[(j, key)] = (bases.index(base), k)
        params = [vectors[v] for v in bases]  # (node index, argument, values) of each parameter
        runs = 1 + sum(1 for a, b in zip(starts, starts[1:]) if b != a + length)
        score = len(starts) * nodes - (nodes + 3 + runs)
        named = [self.unit_prefix(occ) for occ in occurrences]
        if all(named):
            score *= 2   # the model's own units (conv2_block1_*) make the most readable blocks
        return {"score": score, "params": params, "where": where, "named": named}

    def unit_prefix(self, calls: list) -> str:
        """The name prefix these calls share, when exactly they carry it in the model ('' otherwise)."""
        prefix = _common_prefix([c.id for c in calls])
        if not prefix:
            return ""
        count = bisect.bisect_left(self.ids, prefix + "\U0010ffff") - bisect.bisect_left(self.ids, prefix)
        return prefix if count == len(calls) else ""


def _value(call: Call, key: str):
    if key in call.args:
        return call.args[key]
    return call.defaults.get(key, MISSING)


def _ratio(values: list, base: list) -> int | None:
    """k >= 2 when every value is k times the base's (a bottleneck's 4x width), else None."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values + base):
        return None
    if values[0] % base[0]:
        return None
    k = values[0] // base[0]
    return k if k >= 2 and all(v == k * b for v, b in zip(values, base)) else None


def _kind(calls: list) -> str:
    types = {c.type for c in calls}
    for layer, name in (("Add", "residual"), ("Concatenate", "concat"), ("Multiply", "gated")):
        if layer in types:
            return name
    return "unit"


def find_blocks(network: Network) -> Structure:
    structure = Structure()
    found = []   # (model number, first piece, draft), to name the blocks in the order they appear
    for number, (name, model) in enumerate(network.models.items()):
        finder = _ModelStructure(model)
        chosen = finder.find()
        drafts = [_draft(finder, starts, length, plan) for starts, length, plan in chosen]
        placed = {s: (b, n) for b, (starts, _, _) in enumerate(chosen) for n, s in enumerate(starts)}
        runs = []   # (piece index, block number, occurrence numbers)
        i = 0
        while i < len(finder.pieces):
            if i not in placed:
                i += 1
                continue
            b, n = placed[i]
            starts, length, _ = chosen[b]
            run = [n]
            while run[-1] + 1 < len(starts) and starts[run[-1] + 1] == starts[run[-1]] + length:
                run.append(run[-1] + 1)
            runs.append((i, b, run))
            i = starts[run[-1]] + length
        inside = {c.id for draft in drafts for occ in draft["occurrences"] for c in occ}
        taken = {c.id for c in model.calls if c.id not in inside} | set(model.inputs)
        uses = dict(zip((i for i, _, _ in runs), _uses(drafts, runs, taken)))
        items: list = []
        i = 0
        while i < len(finder.pieces):
            if i in uses:
                items.append(uses[i])
                b, run = placed[i][0], uses[i].run
                i = chosen[b][0][run[-1]] + chosen[b][1]
            else:
                items.extend(finder.pieces[i].calls)
                i += 1
        structure.items[name], structure.outputs[name] = _renamed(items, model.outputs)
        found += [(number, starts[0], draft) for (starts, _, _), draft in zip(chosen, drafts)]
    found.sort(key=lambda f: f[:2])
    counts = Counter(_kind(d["layers"]) for _, _, d in found)
    seen: Counter = Counter()
    for _, _, draft in found:   # named by what they hold, numbered in the order they appear
        kind = _kind(draft["layers"])
        seen[kind] += 1
        draft["name"] = kind if counts[kind] == 1 else f"{kind}_{seen[kind]}"
        structure.blocks[draft["name"]] = Block(draft["name"], draft["description"], draft["params"], draft["layers"])
    for items in structure.items.values():
        for item in items:
            if isinstance(item, Use):
                item.block = item.draft["name"]
    return structure


def _renamed(items: list, outputs: list) -> tuple[list, list]:
    """The items and outputs with every reference to a node now inside a block instance made to the instance (the
    node is the instance's output: nothing else of a block is read from outside)."""
    names = {}
    for item in items:
        if isinstance(item, Use):
            for instance, calls in item.instances:
                names[calls[-1].id] = instance
            names[item.instances[-1][1][-1].id] = item.id

    def rename(ref):
        if isinstance(ref, list):
            return [rename(r) for r in ref]
        return Ref(names[ref.node], ref.index) if ref.node in names else ref

    out = []
    for item in items:
        if isinstance(item, Use):
            item.reads = rename(item.reads)
            out.append(item)
        else:
            out.append(replace(item, inputs=rename(item.inputs),
                               keywords={k: rename(v) for k, v in item.keywords.items()}))
    return out, rename(list(outputs))


def _draft(finder: _ModelStructure, starts: list, length: int, plan: dict) -> dict:
    occurrences = [finder.occurrence(s, length) for s in starts]
    reads = [finder.pieces[s].reads for s in starts]
    named = plan["named"]
    locals_ = None
    if all(named):
        candidates = [[_local_name(c.id[len(p):]) for c in occ] for p, occ in zip(named, occurrences)]
        if all(c == candidates[0] for c in candidates) and len(set(candidates[0])) == len(candidates[0]):
            locals_ = candidates[0]
    if locals_ is None:   # ids from the layer types, as Keras names layers: conv2d, conv2d_1, ...
        counter: Counter = Counter()
        locals_ = []
        for call in occurrences[0]:
            base = snake(call.type)
            locals_.append(base if counter[base] == 0 else f"{base}_{counter[base]}")
            counter[base] += 1
    # parameters: named after their argument, or the node and the argument where two share an argument
    keys = Counter(key for _, key, _ in plan["params"])
    names = [key if keys[key] == 1 or all(k != key for _, k, _ in plan["params"][:n]) else f"{locals_[j]}_{key}"
             for n, (j, key, _) in enumerate(plan["params"])]
    first = occurrences[0]
    index = {c.id: j for j, c in enumerate(first)}

    def local_ref(ref):
        if isinstance(ref, list):
            return [local_ref(r) for r in ref]
        return Ref("$in") if ref.node == reads[0] else Ref(locals_[index[ref.node]], ref.index)

    layers = []
    for j, call in enumerate(first):
        keys_here = list(call.args) + [k for occ in occurrences[1:] for k in occ[j].args if k not in call.args]
        args = {}
        for key in dict.fromkeys(keys_here):
            if (j, key) in plan["where"]:
                number, k = plan["where"][(j, key)]
                args[key] = f"${{{names[number]}}}" if k == 1 else f"${{{names[number]} * {k}}}"
            else:
                args[key] = call.args[key]
        layers.append(Call(locals_[j], "layer", call.type, args, {}, [local_ref(r) for r in call.inputs],
                           {k: local_ref(v) for k, v in call.keywords.items()}, call.main, call.many,
                           dict(call.call), call.source, call.outputs))
    defaults = {}
    for name, (_, _, values) in zip(names, plan["params"]):
        common, count = Counter(_key(v) for v in values).most_common(1)[0]
        defaults[name] = json.loads(common) if count >= 2 else None
    values = [{name: vals[n] for name, (_, _, vals) in zip(names, plan["params"])} for n in range(len(starts))]
    if all(named):
        units = [p + "*" for p in named]
        listed = ", ".join(units[:6]) + (f" and {len(units) - 6} more" if len(units) > 6 else "")
        description = f"the layers Keras names {listed}"
    else:
        description = f"{len(starts)} places, the first from Keras' {first[0].source} to {first[-1].source}"
    instance_ids = [valid_id(p.rstrip("_")) if p else occ[-1].id for p, occ in zip(named, occurrences)]
    return {"occurrences": occurrences, "reads": reads, "layers": layers, "params": defaults, "values": values,
            "description": description, "instances": instance_ids, "name": None}


def _uses(drafts: list, runs: list, taken: set) -> list:
    """A use per run of consecutive occurrences: `with` the last one's values, `per_repeat` the first ones' where
    they differ. A run is named by what its instances' names share (conv2_block2, conv2_block3 -> conv2_block)
    where no other run of the model shares it, else by its first and last (block_4_to_5)."""
    bases, stems = [], []
    for _, b, run in runs:
        names = [drafts[b]["instances"][n] for n in run]
        stem = names[0] if len(run) == 1 else _longest(names)
        while len(run) > 1 and stem and stem[-1].isdigit() and \
                any(len(n) > len(stem) and n[len(stem)].isdigit() for n in names):
            stem = stem[:-1]   # block_10, block_11 -> block_, not block_1
        stems.append(stem)
        bases.append(valid_id(stem.rstrip("_")) if stem.rstrip("_") else "")
    shared = Counter(bases)
    uses = []
    for (_, b, run), base, stem in zip(runs, bases, stems):
        draft = drafts[b]
        names = [draft["instances"][n] for n in run]
        if len(run) > 1 and (not base or shared[base] > 1):
            base = valid_id(f"{names[0]}_to_{names[-1][len(stem):].lstrip('_') or names[-1]}")
        candidate, k = base, 2
        while True:
            instances = [candidate] if len(run) == 1 else [f"{candidate}_{r}" for r in range(1, len(run) + 1)]
            if candidate not in taken and not any(i in taken for i in instances):
                break
            candidate, k = valid_id(f"{base}_{k}"), k + 1
        taken.add(candidate)
        taken.update(instances)
        defaults = draft["params"]
        full = [draft["values"][n] for n in run]
        last = full[-1]
        with_ = {k: v for k, v in last.items() if defaults[k] is None or _key(v) != _key(defaults[k])}
        differ = [n for n, values in enumerate(full) if any(_key(values[k]) != _key(last[k]) for k in values)]
        per_repeat = [{k: v for k, v in full[n].items() if _key(v) != _key(last[k])}
                      for n in range(max(differ, default=-1) + 1)]
        uses.append(Use(candidate, draft, len(run), with_, per_repeat,
                        [(instance, draft["occurrences"][n]) for instance, n in zip(instances, run)],
                        Ref(draft["reads"][run[0]]), run))
    return uses


def _longest(names: list) -> str:
    """The longest common prefix of the names, character by character."""
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]
