"""Stage 1, load: spec text -> plain Python data with a line and column for every value.

Specs are untrusted (the README's "Specs are untrusted input"), so this is not
`yaml.load`. We stream PyYAML's *events* (the C parser when present) and build
the values ourselves, iteratively:

* no tags are honoured, so no `!!python/...` object is ever constructed;
* depth, node count (aliases counted as expanded), scalar size and file size
  are checked while streaming, before anything large exists in memory;
* an alias to a still-open anchor (`&a [*a]`) is refused instead of building
  a cycle;
* scalars follow YAML 1.2's core schema, not YAML 1.1: `NO` and `on` stay
  strings, `010` is ten, `1:30` is a string, `1e-3` is a float, dates are
  strings;
* duplicate and non-string keys are errors, not a silent last-one-wins.

Public entry point: `load(path_or_text)` -> `Document`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from builder import files
from builder.errors import Location, Problem, SpecError, show

try:  # the C parser streams events several times faster; both are event-safe.
    from yaml import CSafeLoader as _EventLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _EventLoader

Path_ = tuple  # a path into the document: keys and list indexes


@dataclass(frozen=True)
class Limits:
    """Resource limits for one spec file; each error names the limit it hit."""

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 2_000_000
    max_scalar_chars: int = 65_536


DEFAULT_LIMITS = Limits()


@dataclass
class Document:
    """A loaded spec: its data, plus where every value and key came from."""

    data: dict
    file: str
    marks: dict = field(default_factory=dict)      # path -> Location of the value
    key_marks: dict = field(default_factory=dict)  # path -> Location of the key

    def locate(self, path: Path_, key: bool = False) -> Location:
        """The location of `path`, or of its nearest located ancestor."""
        path = tuple(path)
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), Location(self.file, 1, 1))


# --- scalars: YAML 1.2 core schema -------------------------------------------------

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
# Unlike PyYAML's, the mantissa's dot is optional: `1e-3` is a number.
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


_NOT_A_NUMBER_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$") - set("nNtTfF")


def resolve_plain_scalar(text: str) -> Any:
    """The value of an unquoted scalar under YAML 1.2's core schema."""
    if text and text[0] in _NOT_A_NUMBER_START:  # fast path: most scalars are names (Conv2D, same, relu)
        return text
    if _NULL.match(text):
        return None
    if _TRUE.match(text):
        return True
    if _FALSE.match(text):
        return False
    if _INT10.match(text):
        if len(text) > 40:  # int('9' * 10**6) is slow and never a sane spec value
            return float(text)
        return int(text, 10)
    if _INT8.match(text) or _INT16.match(text):
        if len(text) > 40:  # beyond any sane value, as for decimals: a float (inf here), which checks refuse
            return math.inf
        return int(text[2:], 8 if text[1] in "oO" else 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


# --- the event-driven builder ------------------------------------------------------

class _Frame:
    __slots__ = ("value", "path", "anchor", "nodes_at_start", "key", "key_mark",
                 "merges", "explicit", "mark")

    def __init__(self, value, path, anchor, nodes_at_start, mark):
        self.value = value
        self.path = path
        self.anchor = anchor
        self.nodes_at_start = nodes_at_start
        self.mark = mark
        self.key = _NO_KEY          # mappings: the key waiting for its value
        self.key_mark = None
        self.merges: list = []      # mappings: values of `<<` merge keys
        self.explicit: set = set()  # mappings: keys written out explicitly


_NO_KEY = object()
_MERGE = object()


class _Builder:
    def __init__(self, file: str, limits: Limits):
        self.file = file
        self.limits = limits
        self.marks: dict = {}
        self.key_marks: dict = {}
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int] | None] = {}  # None while still open
        self.nodes = 0
        self.root: Any = _NO_KEY
        self.documents = 0

    def loc(self, mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def fail(self, mark, message: str, hint: str | None = None) -> SpecError:
        return SpecError.single(self.loc(mark), message, hint)

    # -- counting and limits
    def count(self, n: int, mark) -> None:
        self.nodes += n
        if self.nodes > self.limits.max_nodes:
            raise self.fail(mark, f"the spec expands to more than {self.limits.max_nodes:,} YAML "
                                  "nodes (limit max_nodes); aliases count once per use",
                            "an alias bomb (nested anchors repeated many times) looks like this")

    def check_tag(self, event) -> None:
        tag = getattr(event, "tag", None)
        if tag is None:
            return
        implicit = getattr(event, "implicit", True)
        if isinstance(implicit, tuple):
            implicit = implicit[0] or implicit[1]
        if implicit and tag in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
            return
        raise self.fail(event.start_mark, f"YAML tags are not allowed in a spec. Received: {show(tag)}",
                        "a spec is plain data; remove the tag (a spec never constructs objects)")

    # -- placing a finished value into its parent
    def place(self, value: Any, mark, path: Path_, count: int) -> None:
        if not self.stack:
            self.root = value
            self.marks[()] = self.loc(mark)
            return
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            parent.value.append(value)
            self.marks.setdefault(path, self.loc(mark))
            return
        # mapping: this value is either a key or the value for the pending key
        if parent.key is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise self.fail(mark, "mapping keys must be plain text; a list or mapping is used as a key here")
            if parent.path[-1:] == ("class_weight",) and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)   # class labels, as Keras writes them: `class_weight: {0: 1.0, 1: 5.0}`
            if not isinstance(value, str):
                raise self.fail(mark, f"mapping keys must be text. Received: {show(value)}",
                                f"quote it if you mean the text: '{value}'")
            parent.key = value
            parent.key_mark = mark
            return
        key = parent.key
        parent.key = _NO_KEY
        if key is _MERGE:
            parent.merges.append((value, mark))
            return
        container = parent.value
        if key in container:
            first = self.key_marks.get(parent.path + (key,))
            where = f" (first at line {first.line})" if first else ""
            raise self.fail(parent.key_mark, f"duplicate key {show(key)}{where}",
                            "YAML would silently keep the last one; keep one of them")
        container[key] = value
        parent.explicit.add(key)
        child = parent.path + (key,)
        self.key_marks[child] = self.loc(parent.key_mark)
        self.marks.setdefault(child, self.loc(mark))

    def child_path(self) -> Path_:
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return parent.path + (len(parent.value),)
        if parent.key is _NO_KEY or parent.key is _MERGE:
            return parent.path + ("<key>",)
        return parent.path + (parent.key,)

    def in_key_position(self) -> bool:
        return bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is _NO_KEY

    # -- event handlers
    def scalar(self, event) -> None:
        self.check_tag(event)
        text = event.value
        if len(text) > self.limits.max_scalar_chars:
            raise self.fail(event.start_mark, f"a scalar of {len(text):,} characters is over the limit of "
                                              f"{self.limits.max_scalar_chars:,} (limit max_scalar_chars)")
        plain = not event.style  # None from the Python parser, "" from the C one
        if plain and text == "<<" and self.in_key_position():
            parent = self.stack[-1]
            parent.key = _MERGE
            parent.key_mark = event.start_mark
            return
        value = resolve_plain_scalar(text) if plain else text
        path = self.child_path()
        self.count(1, event.start_mark)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self.place(value, event.start_mark, path, 1)

    def alias(self, event) -> None:
        name = event.anchor
        if name not in self.anchors:
            raise self.fail(event.start_mark, f"unknown alias *{name}", "define the anchor &" + name + " first")
        entry = self.anchors[name]
        if entry is None:
            raise self.fail(event.start_mark, f"alias *{name} refers to the anchor it sits in (a recursive alias)",
                            "an anchored value cannot contain itself")
        value, size = entry
        if self.in_key_position() and isinstance(value, (dict, list)):
            raise self.fail(event.start_mark, "mapping keys must be plain text; an alias to a list or mapping is used as a key")
        self.count(size, event.start_mark)
        self.place(value, event.start_mark, self.child_path(), size)

    def start(self, event, container) -> None:
        self.check_tag(event)
        if self.in_key_position():
            raise self.fail(event.start_mark, "mapping keys must be plain text; a list or mapping is used as a key here")
        if len(self.stack) >= self.limits.max_depth:
            raise self.fail(event.start_mark, f"the spec nests deeper than {self.limits.max_depth} levels "
                                              "(limit max_depth)")
        self.count(1, event.start_mark)
        path = self.child_path()
        if event.anchor:
            self.anchors[event.anchor] = None
        self.stack.append(_Frame(container, path, event.anchor, self.nodes, event.start_mark))

    def end(self, event) -> None:
        frame = self.stack.pop()
        value = frame.value
        if isinstance(value, dict):
            self.apply_merges(frame)
        if frame.anchor:
            self.anchors[frame.anchor] = (value, self.nodes - frame.nodes_at_start + 1)
        self.place(value, frame.mark, frame.path, 0)

    def apply_merges(self, frame: _Frame) -> None:
        for merged, mark in frame.merges:
            sources = merged if isinstance(merged, list) else [merged]
            for source in sources:
                if not isinstance(source, dict):
                    raise self.fail(mark, "a merge key `<<` takes a mapping or a list of mappings. "
                                          f"Received: {show(source)}")
                for key, item in source.items():
                    if key not in frame.explicit and key not in frame.value:
                        frame.value[key] = item
                        self.marks.setdefault(frame.path + (key,), self.loc(mark))
                        self.key_marks.setdefault(frame.path + (key,), self.loc(mark))

    def feed(self, event) -> None:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            self.scalar(event)
        elif kind is yaml.MappingStartEvent:
            self.start(event, {})
        elif kind is yaml.SequenceStartEvent:
            self.start(event, [])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            self.end(event)
        elif kind is yaml.AliasEvent:
            self.alias(event)
        elif kind is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise self.fail(event.start_mark, "a spec file holds one YAML document; found a second one",
                                "remove the `---` line or split the file")


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1  # characters, not bytes
        raise SpecError.single(Location(file, line, column),
                               f"the spec is not valid UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start})",
                               "save the file as UTF-8") from None


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # YAML's line breaks


def _end_clamped(source: str, file: str, line: int, column: int) -> Location:
    """A location inside the text: libyaml puts "unexpected end of stream" on the line after the last."""
    lines = _LINE_BREAK.split(source)
    if line > len(lines):
        return Location(file, len(lines), len(lines[-1]) + 1)
    return Location(file, line, column)


def load_text(text: str | bytes, file: str = "<spec>", limits: Limits = DEFAULT_LIMITS) -> Document:
    """Load spec text (see the module docstring for what is refused)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > limits.max_bytes:
        raise SpecError.single(Location(file, 1, 1), f"the spec is {len(raw):,} bytes, over the limit of "
                                                     f"{limits.max_bytes:,} (limit max_bytes)")
    source = _decode(raw, file)
    builder = _Builder(file, limits)
    try:
        for event in yaml.parse(source, Loader=_EventLoader):
            builder.feed(event)
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _end_clamped(source, file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        if "maximum nesting depth" in message:
            # PyYAML >= 6.0.3 stops flow nesting at its own depth (1,000) while scanning ahead, before our
            # streaming check sees the events; it is the same limit, so it gets the same name.
            raise SpecError.single(loc, f"the spec nests deeper than {limits.max_depth} levels (limit max_depth)") \
                from None
        if exc.context_mark and exc.problem_mark and exc.context_mark.line < exc.problem_mark.line:
            message += f" (it began at line {exc.context_mark.line + 1})"  # e.g. where a `{` was left open
        raise SpecError([Problem(loc, f"invalid YAML: {message}")]) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
        raise SpecError.single(Location(file, 1, 1), f"invalid YAML: {type(exc).__name__}: {show(str(exc), 200)}") from None
    root = builder.root
    if root is _NO_KEY or root is None:
        raise SpecError.single(Location(file, 1, 1), "the spec is empty",
                               "a spec is a mapping with at least `inputs`, `layers` and `outputs`, or `models`")
    if not isinstance(root, dict):
        raise SpecError.single(builder.marks.get((), Location(file, 1, 1)),
                               "a spec is a mapping of keys to values; this file holds "
                               + _KINDS.get(type(root), "a single value"))
    return Document(root, file, builder.marks, builder.key_marks)


_KINDS = {list: "a list", str: "a text", int: "a number", float: "a number", bool: "a boolean"}


def load(source: str | Path, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Read and load one spec file (a regular file, read to at most `limits.max_bytes`)."""
    file = str(source)
    try:
        raw = files.read_bytes(source, limits.max_bytes)
    except files.FileProblem as problem:
        message = {"missing": "no such file", "folder": "this is a folder, not a spec file",
                   "size": f"the spec is over the limit of {limits.max_bytes:,} (limit max_bytes)",
                   }.get(problem.kind, problem.reason)
        raise SpecError.single(Location(file, 1, 1) if problem.kind == "size" else Location(file), message,
                               problem.hint) from None
    return load_text(raw, file, limits)
