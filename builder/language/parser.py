"""Stage 2, parse: loaded data -> `Spec`, with every problem located and explained.

Two checks, both reporting every problem of a file at once:

1. the structure, by the pydantic models of `builder.language.spec`; pydantic's errors
   are rewritten into our style and pointed at the offending key or value;
2. layer and optimizer arguments, against the layer catalogue (names,
   required arguments, types). Values still holding `${...}` wait for
   `resolve`, which substitutes them and runs the same check.

Public entry points: `parse(document)` -> `Spec`, and `salvage(document)`: the rest of a spec that
failed, for the later stages' checks (so a file's independent problems all come out in one run).
"""

from __future__ import annotations

import copy
import inspect
import types
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterable, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from builder.errors import Location, Problem, SpecError, did_you_mean, show
from builder.language import argtypes
from builder.language import spec as spec_models
from builder.language.catalogue import LayerInfo, catalogue
from builder.language.loader import Document
from builder.language.spec import CLASS_LOSSES, LABEL_MIXERS, Spec
from builder.language.spec import diagram as diagram_names

# --- structural errors -----------------------------------------------------------------

_MODELS = [obj for obj in vars(spec_models).values()
           if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj is not BaseModel]
_WRONG_TYPE = {"int_type", "float_type", "bool_type", "string_type", "list_type", "dict_type",
               "model_type", "model_attributes_type", "union_tag_invalid", "literal_error",
               "int_parsing", "float_parsing", "is_instance_of", "string_pattern_mismatch",
               "greater_than", "greater_than_equal", "less_than", "less_than_equal"}


_NUMERIC_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _field_names(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _leaves(annotation) -> list[tuple[Any, set]]:
    """The concrete types an annotation may hold, each with the labels pydantic puts in error locs."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *meta = get_args(annotation)
        tags = {m.tag for m in meta if isinstance(m, Tag)}
        return [(t, labels | tags) for t, labels in _leaves(base)]
    if origin is Union or origin is types.UnionType:
        return [leaf for arg in get_args(annotation) for leaf in _leaves(arg)]
    labels = set()
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        labels.add(annotation.__name__)
        for f in annotation.model_fields.values():  # `source: Literal["csv"]` labels a tagged union
            if get_origin(f.annotation) is Literal and len(get_args(f.annotation)) == 1:
                labels.add(get_args(f.annotation)[0])
    return [(annotation, labels)]


def _model_at(loc: Iterable) -> type[BaseModel] | None:
    """The pydantic model that validated the mapping at a pydantic error loc."""
    candidates = _leaves(Spec)
    for part in loc:
        named = [c for c in candidates
                 if part in c[1] or any(isinstance(part, str) and part.endswith(f", {label}]") for label in c[1])]
        if named:  # a union branch label such as 'block-use', 'csv' or 'function-after[..., OptimizerSpec]'
            candidates = named
            continue
        following = []
        for kind, _ in candidates:
            if inspect.isclass(kind) and issubclass(kind, BaseModel):
                fields = {f.alias or name: f for name, f in kind.model_fields.items()}
                if isinstance(part, str) and part in fields:
                    following += _leaves(fields[part].annotation)
            elif get_origin(kind) is list and isinstance(part, int):
                following += _leaves(get_args(kind)[0])
            elif get_origin(kind) is dict and isinstance(part, str):
                following += _leaves(get_args(kind)[1])
        if following:
            candidates = following
    models = [k for k, _ in candidates if inspect.isclass(k) and issubclass(k, BaseModel)]
    return models[0] if len(models) == 1 else None


def _closest_field(container: dict, key: str, loc: tuple = ()) -> str | None:
    """Did-you-mean for an unknown key, among the fields of the model at `loc` (or the one it most resembles)."""
    model = _model_at(loc)
    if model is None:
        others = set(container) - {key}
        model = max(_MODELS, key=lambda m: (len(others & _field_names(m)), -len(_field_names(m))))
    return did_you_mean(key, sorted(_field_names(model)))


def _walk(data: Any, loc: Iterable) -> tuple[tuple, Any, Any]:
    """Follow a pydantic loc through the raw data, skipping union-branch labels.

    Returns the real path, the value there and the container holding it.
    """
    path: tuple = ()
    node, parent = data, None
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            parent, node = node, node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parent, node = node, node[part]
        else:
            continue
        path += (part,)
    return path, node, parent


def _expected(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    simple = {
        "int_type": "an integer", "int_parsing": "an integer", "float_type": "a number",
        "float_parsing": "a number", "bool_type": "true or false", "string_type": "text",
        "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
        "model_attributes_type": "a mapping", "finite_number": "a finite number",
        "union_tag_invalid": "a mapping with a valid tag",
    }
    if kind in simple:
        return simple[kind]
    if kind == "greater_than":
        return f"a number > {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"a number >= {ctx.get('ge')}"
    if kind == "less_than":
        return f"a number < {ctx.get('lt')}"
    if kind == "less_than_equal":
        return f"a number <= {ctx.get('le')}"
    if kind == "literal_error":
        choices = str(ctx.get("expected", ""))
        count = len(choices.replace(" or ", ",").split(","))   # pydantic writes 'a', 'b' or 'c'
        return "one of " + choices if count < 9 else f"one of {count} names"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        if pattern.startswith("^[A-Za-z_]"):
            return "an id: a letter or _, then letters, digits or _"
        if pattern == spec_models.REF_PATTERN:
            return "a reference: a node id, `block.node`, `$input`, with an optional `[k]`"
        if pattern.startswith("^\\$\\{"):
            return "a ${parameter}"
        if "://" in pattern:
            return "a local path, not a URL"
        if pattern == "^[0-9]{1,7}$":   # train.class_weight's keys
            return "a class label (an integer >= 0)"
        if pattern.startswith("^[A-Za-z0-9]"):
            return "a name: a letter or digit, then letters, digits, _, . or -"
        return f"text matching {pattern}"
    if kind in ("string_too_long", "too_long"):
        return f"at most {ctx.get('max_length')} {'characters' if kind == 'string_too_long' else 'items'}"
    if kind in ("string_too_short", "too_short"):
        return f"at least {ctx.get('min_length')} {'characters' if kind == 'string_too_short' else 'items'}"
    return err["msg"][0].lower() + err["msg"][1:]


def _name_list(choices: list[str]) -> str:
    """A literal's names for a hint; an upper-case twin of a name (MSE beside mse, Keras' aliases) is left out."""
    names = sorted(c for c in choices if not (c.isupper() and c.lower() in choices))
    return "the names: " + ", ".join(names)


def _structure_problems(document: Document, error: ValidationError) -> list[Problem]:
    groups: dict[tuple, list[tuple[dict, Any, Any]]] = {}
    extra: list[Problem] = []
    missing: list[Problem] = []
    specific: set[tuple] = set()  # paths of errors about one key, which beat a failed union above them
    for err in error.errors(include_url=False):
        path, value, parent = _walk(document.data, err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = path[-1] if path else err["loc"][-1]
            hint = _closest_field(parent, key, err["loc"][:-1]) if isinstance(parent, dict) else None
            extra.append(Problem(document.locate(path, key=True), f"unknown key {show(key)}",
                                 hint or "remove it; misspelt keys are errors, never ignored"))
            specific.add(path)
        elif kind in ("missing", "union_tag_not_found"):
            # union_tag_not_found: a tagged union (train.data) whose tag key is missing or misspelt
            name = err["loc"][-1] if kind == "missing" else str(err["ctx"]["discriminator"]).strip("'")
            hint = None
            if isinstance(value, dict):
                near = [k for k in value if isinstance(k, str) and did_you_mean(k, [name])]
                hint = f"{show(near[0])} looks like a misspelling of {show(name)}" if near else None
            missing.append(Problem(document.locate(path), f"missing required key {show(name)}", hint))
            specific.add(path + (name,))
        elif kind in ("value_error", "assertion_error"):
            message = str((err.get("ctx") or {}).get("error", err["msg"]))
            missing.append(Problem(document.locate(path), message))
            specific.add(path + ("",))   # a model's own check beats the other union branches at its path
        else:
            groups.setdefault(path, []).append((err, value, parent))
    problems = []
    for path, errs in groups.items():
        deeper = any(p[: len(path)] == path and len(p) > len(path) for p in [*groups, *specific])
        if deeper and all(e["type"] in _WRONG_TYPE for e, _, _ in errs):
            continue  # a union branch that failed at the top; the deeper error is the useful one
        expectations = list(dict.fromkeys(_expected(e) for e, _, _ in errs))
        if "text" in expectations and any(e["type"] in _NUMERIC_BOUNDS for e, _, _ in errs):
            # a number out of range where a string branch is also allowed: `int | ${parameter}` (sizes,
            # repeat) or `-1 | node id` (references); "or text" would invite writing the number quoted
            relative = any((e.get("ctx") or {}).get("le") == -1 for e, _, _ in errs)
            expectations[expectations.index("text")] = "a node id" if relative else "a ${parameter}"
        value = errs[0][1]
        name = path[-1] if path and isinstance(path[-1], str) else (path[-2] if len(path) > 1 else "value")
        received = f"{name}={show(value)}" if isinstance(name, str) else show(value)
        hint = None
        for e, _, _ in errs:
            if e["type"] == "literal_error" and isinstance(value, str):
                choices = [c.strip().strip("'") for c in str(e["ctx"]["expected"]).replace(" or ", ",").split(",")]
                hint = did_you_mean(value, choices)
                if len(choices) >= 9:   # the message says "one of N names": the hint lists them
                    hint = f"{hint + ' ' if hint else ''}{_name_list(choices)}"
            if e["type"] in ("int_type", "float_type") and isinstance(value, str):
                hint = hint or argtypes.number_hint(value)
            if e["type"] == "bool_type" and isinstance(value, str):
                hint = "write true or false (YAML 1.2: yes/no/on/off are text)"
        message = f"expected {' or '.join(expectations)}. Received: {received}"
        problems.append(Problem(document.locate(path), message, hint))
    return sorted(extra + missing + problems, key=lambda p: (p.location.line, p.location.column))


# --- layer arguments -----------------------------------------------------------------------

NODE_KEYS = ("id", "type", "inputs", "call", "when", "tags")   # a layer node's keys that are no constructor argument


def has_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, list):
        return any(has_placeholder(v) for v in value)
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    return False


def unknown_layer_problem(type_name: Any, where: Location, node: str | None = None) -> Problem:
    cat = catalogue()
    if type_name is None:
        return Problem(where, "missing required key 'type'", "a layer is written {type: Dense, units: 8}", node=node)
    if not isinstance(type_name, str):
        return Problem(where, f"expected text, a layer type such as Dense. Received: type={show(type_name)}",
                       node=node)
    if type_name in cat.excluded:
        return Problem(where, f"layer type {show(type_name)} is not allowed in a spec: {cat.excluded[type_name]}",
                       node=node)
    if "." in type_name or "/" in type_name:
        return Problem(where, f"unknown layer type {show(type_name)}: a spec names layers from a closed list, "
                              "never a module path", "run `builder layers` to see them", node=node)
    return Problem(where, f"unknown layer type {show(type_name)}",
                   did_you_mean(type_name, cat.layer_names) or "run `builder layers` to see them", node=node)


def check_layer(node: dict, locate, path: tuple, label: str | None = None) -> list[Problem]:
    """Problems with one layer node's type and constructor arguments.

    `node` is the raw mapping (type plus arguments); `locate(path, key=False)`
    gives locations; values still holding `${...}` are skipped.
    """
    type_name = node.get("type")
    info: LayerInfo | None = catalogue().layer(type_name) if isinstance(type_name, str) else None
    if info is None:
        return [unknown_layer_problem(type_name, locate(path + ("type",)), label)]
    problems = []
    structural = set(NODE_KEYS)
    args = {k: v for k, v in node.items() if k not in structural}
    misspelt = {did_you_mean(k, [n]) for k in args if k not in info.args for n in info.required_args}
    for name in info.required_args:
        if name not in args and f"did you mean {name!r}?" not in misspelt:  # else the misspelling says it
            problems.append(Problem(locate(path), f"{info.name} needs the argument {show(name)}", node=label))
    for name, value in args.items():
        entry = info.args.get(name)
        if entry is None:
            if name == "name":
                hint = "use `id` to name a node"
            else:
                hint = (did_you_mean(name, sorted(info.args) + sorted(structural))
                        or f"{info.name} takes: {', '.join(sorted(info.args))}")
            problems.append(Problem(locate(path + (name,), key=True),
                                    f"{info.name} has no argument {show(name)}", hint, node=label))
            continue
        if has_placeholder(value):
            continue
        if entry.get("kind") == "layer":
            if not isinstance(value, dict):
                problems.append(Problem(locate(path + (name,)), f"expected a layer mapping like "
                                        f"{{type: LSTM, units: 32}}. Received: {name}={show(value)}", node=label))
            else:
                problems.extend(check_layer(value, locate, path + (name,), label))
                if "when" in value:   # the wrapper is made or left out as a whole
                    problems.append(Problem(locate(path + (name, "when"), key=True), f"a layer inside {info.name} "
                                            "takes no `when`", "put `when` on the node itself", node=label))
            continue
        for below, at_key, message, hint in argtypes.argument_problems(info.name, name, value, entry):
            problems.append(Problem(locate(path + (name, *below), key=at_key), message, hint, node=label))
    call = node.get("call") or {}
    if isinstance(call, dict):
        for name in call:
            if name not in info.flag_call_args:
                allowed = ", ".join(info.flag_call_args) or "none"
                problems.append(Problem(locate(path + ("call", name), key=True),
                                        f"{info.name} has no boolean call argument {show(name)} (it takes: {allowed})",
                                        did_you_mean(name, info.flag_call_args), node=label))
    return problems


def _raw_layer_nodes(data: dict):
    """Every (path, mapping) of a layer node written in the spec, blocks included.

    Walks the raw data, not the parsed `Spec`, so that argument problems are
    reported even when the structure has problems of its own.
    """
    def walk(layers, prefix):
        if isinstance(layers, list):
            for i, node in enumerate(layers):
                if isinstance(node, dict) and "block" not in node and "model" not in node \
                        and isinstance(node.get("type"), str):  # else the structural check reports it
                    yield prefix + (i,), node
    yield from walk(data.get("layers"), ("layers",))
    train = data.get("train")
    if isinstance(train, dict):
        yield from walk(train.get("augment"), ("train", "augment"))
    for group in ("models", "blocks"):
        section = data.get(group)
        if isinstance(section, dict):
            for name, item in section.items():
                if isinstance(item, dict):
                    yield from walk(item.get("layers"), (group, name, "layers"))


def _optimizer_problems(document: Document) -> list[Problem]:
    """`train.optimizer` and each of `train.optimizers` (one per network, GAN kinds)."""
    train = document.data.get("train")
    if not isinstance(train, dict):
        return []
    problems = _one_optimizer_problems(document, train.get("optimizer"), ("train", "optimizer"))
    networks = train.get("optimizers")
    if isinstance(networks, dict):
        for role, optimizer in networks.items():
            problems += _one_optimizer_problems(document, optimizer, ("train", "optimizers", role))
    return problems


def _one_optimizer_problems(document: Document, optimizer, at: tuple) -> list[Problem]:
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("type", "adam"), str) \
            or optimizer.get("type", "adam") not in catalogue().optimizers:
        return []  # a missing or unknown type is reported by the structural check
    kind = optimizer.get("type", "adam")
    known = catalogue().optimizers[kind]
    problems = []
    for name, value in optimizer.items():
        path = at + (name,)
        if name in ("type", "learning_rate"):
            continue
        if name not in known:
            problems.append(Problem(document.locate(path, key=True),
                                    f"optimizer {kind!r} has no argument {show(name)}",
                                    did_you_mean(name, sorted(known))))
            continue
        message = argtypes.check_value("optimizer", name, value, known[name])
        if message:
            problems.append(Problem(document.locate(path), message))
    return problems


def _loss_and_metric_problems(document: Document) -> list[Problem]:
    """Each loss and metric written with arguments (`{type: AUC, curve: PR}`, per output too), checked against its
    class's signature from the catalogue's `objects`, as a layer's arguments are. A missing or unknown `type` is the
    structural check's."""
    train = document.data.get("train")
    if not isinstance(train, dict):
        return []
    entries = []
    loss = train.get("loss")
    if isinstance(loss, dict):
        outputs = [((), loss)] if "type" in loss else [((out,), value) for out, value in loss.items()]
        entries += [(("train", "loss", *out), value, "losses") for out, value in outputs if isinstance(value, dict)]
    metrics = train.get("metrics")
    for out, items in metrics.items() if isinstance(metrics, dict) else [(None, metrics)]:
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                entries.append((("train", "metrics", *([out] if out is not None else []), i), item, "metrics"))
    problems = []
    for path, value, group in entries:
        # `loss: {type: mse, out_b: mae}`: a loss per output where an output is named `type`
        per_output = "for a loss per output, name the outputs (an output named `type` cannot be one)" \
            if path == ("train", "loss") else None
        problems += configured_problems(document, path, value, group, per_output)
    return problems


def configured_problems(document: Document, path: tuple, value: dict, group: str,
                        unknown_hint: str | None = None) -> list[Problem]:
    """The arguments of one `{type: Class, argument: value, ...}` of a group of the catalogue's `objects` (losses,
    metrics), each problem at its key or value: unknown arguments (did-you-mean), missing required ones, and
    values by the shared argument types (`argtypes`, owner `<group>.<Class>`)."""
    table = catalogue().objects.get(group, {"classes": {}, "aliases": {}})
    type_name = value.get("type")
    cls = (type_name if type_name in table["classes"] else table["aliases"].get(type_name)) \
        if isinstance(type_name, str) else None
    if cls is None:
        return []
    what = {"losses": "loss", "metrics": "metric"}.get(group, group)
    entries = table["classes"][cls]["args"]
    problems = [Problem(document.locate(path), f"{what} {cls} needs the argument {show(name)}",
                        f"write it beside the type: {{type: {type_name}, {name}: ...}}")
                for name, entry in entries.items() if entry.get("required") and name not in value]
    for key, item in value.items():
        if key == "type":
            continue
        entry = entries.get(key)
        if entry is None:
            takes = f"{cls} takes: {', '.join(entries)}" if entries else f"{cls} takes no arguments"
            takes += f"; {unknown_hint}" if unknown_hint else ""
            problems.append(Problem(document.locate(path + (key,), key=True), f"{what} {cls} has no argument "
                                    f"{show(key)}", did_you_mean(key, sorted(entries)) or takes))
            continue
        for below, at_key, message, hint in argtypes.argument_problems(f"{group}.{cls}", key, item, entry):
            problems.append(Problem(document.locate(path + (key, *below), key=at_key), message, hint))
    return problems


def _augment_problems(document: Document) -> list[Problem]:
    """`train.augment` holds Keras preprocessing layers only (RandomFlip, RandomRotation, MixUp, ...)."""
    train = document.data.get("train")
    augment = train.get("augment") if isinstance(train, dict) else None
    if not isinstance(augment, list):
        return []
    problems = []
    for i, node in enumerate(augment):
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            continue   # the structural check reports it
        info = catalogue().layer(node["type"])
        path = ("train", "augment", i)
        if info is not None and info.family != "preprocessing":
            problems.append(Problem(document.locate(path + ("type",)),
                                    f"train.augment takes Keras preprocessing layers (RandomFlip, RandomRotation, "
                                    f"RandomZoom, ...). Received: type={show(node['type'])} ({info.family})",
                                    "put other layers under `layers:`"))
        for key in ("id", "inputs", "call", "when", "tags"):
            if key in node:
                problems.append(Problem(document.locate(path + (key,), key=True),
                                        f"an augmentation layer applies to the model's input in order; it takes "
                                        f"no {show(key)}"))
        if node["type"] in LABEL_MIXERS:
            problems.extend(_mixing_problems(document, node["type"], path, train))
    return problems


def _mixing_problems(document: Document, mixer: str, path: tuple, train: dict) -> list[Problem]:
    """MixUp and CutMix mix class labels: a supervised run with a classification loss (or the default one).

    What the data holds (integer labels, one-hot rows) is checked when training loads it.
    """
    kind, loss = train.get("kind", "supervised"), train.get("loss")
    if isinstance(loss, dict) and isinstance(loss.get("type"), str):   # one loss with arguments: by its name
        table = catalogue().objects.get("losses", {"classes": {}, "aliases": {}})
        cls = loss["type"] if loss["type"] in table["classes"] else table["aliases"].get(loss["type"])
        loss = (table["classes"][cls].get("name") or cls) if cls else loss["type"]
    where = document.locate(path + ("type",))
    if isinstance(kind, str) and kind != "supervised":
        return [Problem(where, f"{mixer} mixes class labels; this run's targets are not class labels. "
                               f"Received: kind={show(kind)}", "MixUp and CutMix train classifiers (kind: supervised)")]
    if isinstance(loss, dict):
        return [Problem(where, f"{mixer} mixes the class labels of one output; this run's loss names "
                               f"{len(loss)} outputs", "MixUp and CutMix train classifiers with one output")]
    if isinstance(loss, str) and loss not in CLASS_LOSSES:
        return [Problem(where, f"{mixer} mixes class labels; this run's loss is not a classification loss. "
                               f"Received: loss={show(loss)}",
                        "use loss: sparse_categorical_crossentropy (integer labels) or categorical_crossentropy "
                        "(one-hot rows), or give none")]
    return []


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique = {(p.location, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.location.line, p.location.column))


def parse(document: Document) -> Spec:
    """Validate loaded data into a `Spec`; raise `SpecError` listing every problem."""
    problems: list[Problem] = []
    for path, node in _raw_layer_nodes(document.data):
        label = node.get("id") if isinstance(node.get("id"), str) else None
        problems.extend(check_layer(node, document.locate, path, label))
    problems.extend(_optimizer_problems(document))
    problems.extend(_loss_and_metric_problems(document))
    problems.extend(_augment_problems(document))
    problems.extend(Problem(document.locate(path, key=key), message, hint)
                    for path, key, message, hint in diagram_names.problems(document.data))
    try:
        spec = Spec.model_validate(document.data)
    except ValidationError as exc:
        raise SpecError(_ordered(_structure_problems(document, exc) + problems)) from None
    if problems:
        raise SpecError(_ordered(problems))
    return spec


# --- the rest of a spec that failed ----------------------------------------------------------

STAND_IN = "?"   # the type of a layer node whose own mapping is invalid: no layer, and no reference can name it


@dataclass
class Salvage:
    """What `salvage` kept of a document: a `Spec` of its valid parts, and where later checks may only echo.

    `doubtful`: the paths (into `document.data`) of the parts taken out and of the layer nodes with argument
    problems (a misspelt `input:` leaves its node reading nothing); `names`: the names that went with them
    (deleted keys, the blocks they sat in, replaced block instances, the values of unknown arguments), which
    a later check may miss and wrongly call unknown.
    """

    spec: Spec | None
    doubtful: list[tuple] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


def salvage(document: Document, rounds: int = 16) -> Salvage:
    """The spec with its invalid parts taken out, each as small as pydantic allows, so that the graph's checks
    (duplicate ids, references, blocks) run on the rest of a spec `parse` refused.

    An optional key goes; a required one takes the mapping that holds it along; a layer node that cannot stay
    becomes a stand-in (`type: ?`) keeping its id and inputs, and no list item is ever removed, so relative
    references (`-1`) and every path's location stay as written. `spec` is None when the top level itself is
    wrong (neither layers nor models), or the cuts do not settle in `rounds` passes.
    """
    data = copy.deepcopy(document.data)
    result = Salvage(None)
    if not isinstance(data, dict):
        return result
    for path, node in _raw_layer_nodes(data):
        if check_layer(node, document.locate, path):
            result.doubtful.append(path)
            info = catalogue().layer(node["type"])
            for key, value in node.items():   # `idd: conv1`: a name other nodes may read
                if key not in NODE_KEYS and (info is None or key not in info.args):
                    result.names |= {v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)}
    for _ in range(rounds):
        try:
            result.spec = Spec.model_validate(data)
            return result
        except ValidationError as exc:
            paths = {_walk(data, err["loc"])[0] for err in exc.errors(include_url=False)}
        for path in sorted(paths, key=len, reverse=True):   # the deepest first: an outer cut may hold an inner one
            if not _cut(data, path, result):
                return Salvage(None)
    return Salvage(None)


def _cut(data: dict, path: tuple, result: Salvage) -> bool:
    """Take the invalid part at `path` out of `data`, noting it in `result`; False when that is the whole spec."""
    while path:
        parent = data
        for part in path[:-1]:
            if not isinstance(parent, (dict, list)) or part not in (parent if isinstance(parent, dict)
                                                                     else range(len(parent))):
                return True   # already inside a part cut out this round
            parent = parent[part]
        key = path[-1]
        if isinstance(parent, dict):
            if key not in parent:
                return True   # cut already, through another problem of this round
            del parent[key]
            if isinstance(key, str):
                result.names.add(key)
        elif isinstance(parent, list) and path[-2:-1] == ("layers",) and 0 <= key < len(parent):
            node = parent[key]
            kept = {k: node[k] for k in ("id", "inputs") if k in node} if isinstance(node, dict) else {}
            if isinstance(node, dict) and "block" in node and isinstance(node.get("id"), str):
                result.names.add(node["id"])   # its inner nodes (`id.node`) are gone with it
            parent[key] = {**kept, "type": STAND_IN}
        else:
            path = path[:-1]   # any other list item, or what holds it: its container goes
            continue
        result.doubtful.append(path)
        if path[:1] == ("blocks",) and len(path) > 1 and isinstance(path[1], str):
            result.names.add(path[1])   # "parameter never used", for a layer that used it and is gone
        return True
    return False
