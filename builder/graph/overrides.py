"""`--set` overrides: a spec parameter by its name, any other value by its dotted path into the spec.

`--set size=32` sets the spec parameter `size` (resolve substitutes it). A dotted name,
`--set train.epochs=3`, `--set layers.c5.units=64`, `--set train.optimizer.learning_rate=1e-4`,
`--set blocks.residual.params.filters=32`, names a place as a `search:` dimension does (the same
paths, resolved by `search_space.target`), and the value is put there in a copy of the loaded data
before parse. The copy keeps the file's marks, so parse and resolve check the value like any other
and report a bad one at the line it replaced, with a hint naming the `--set` it came from.

Public entry points: `apply(document, overrides)` and `noted(problems, placed)`.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, replace
from typing import Any

from builder.errors import Location, Problem, show
from builder.graph import search_space
from builder.language.loader import Document


def is_path(name: str) -> bool:
    """A dotted name is a path into the spec; a bare one, a spec parameter."""
    return "." in name


@dataclass(frozen=True)
class Placed:
    """Where one dotted override went, to tell the user which `--set` a problem there comes from."""

    text: str             # "train.epochs=0", for the hint
    location: Location    # the value it replaced, or (a key the spec leaves out) the nearest written parent
    exact: bool           # it replaced a value written in the spec
    key: str              # the last key of its path ("epochs"), for problems located at a parent


def _text(path: str, value: Any) -> str:
    return f"{path}={value if isinstance(value, str) and len(value) <= 60 else show(value)}"


def _whole(path: str, error: search_space.PathError) -> str | None:
    """The hint "did you mean 'epochs'?" as the whole path to write: "did you mean 'train.epochs'?"."""
    match = re.fullmatch(r"did you mean '([^']+)'\?", error.hint or "")
    parts = path.split(".")
    for i, part in enumerate(parts):
        if match and repr(part) in str(error):   # the part the message quotes is the one misspelt
            return f"did you mean {show('.'.join(parts[:i] + [match[1]] + parts[i + 1:]))}?"
    return error.hint


def apply(document: Document, overrides: dict) -> tuple[Document, dict, list[Placed], list[Problem]]:
    """The document with the dotted overrides in, the parameter overrides, where each dotted one went,
    and a problem for each path that names nothing (the others are still applied)."""
    params = {name: value for name, value in overrides.items() if not is_path(name)}
    paths = {name: value for name, value in overrides.items() if is_path(name)}
    if not paths:
        return document, params, [], []
    data = copy.deepcopy(document.data)
    placed: list[Placed] = []
    problems: list[Problem] = []
    for path, value in paths.items():
        first, _, rest = path.partition(".")
        if first not in search_space.SECTIONS:
            near = difflib.get_close_matches(first.lower(), search_space.SECTIONS, n=1, cutoff=0.6)
            problems.append(Problem(Location(document.file), f"--set {path}: a dotted name is a path into the spec, "
                                    f"starting with {', '.join(search_space.SECTIONS)}",
                                    f"did you mean {show(near[0] + '.' + rest)}?" if near else
                                    "a name without dots sets a spec parameter"))
            continue
        try:
            at = search_space.target(data, path).at
        except search_space.PathError as error:
            problems.append(Problem(Location(document.file), f"--set {path}: {error}", _whole(path, error)))
            continue
        search_space.place(data, at, value)
        placed.append(Placed(_text(path, value), document.locate(at), at in document.marks, str(at[-1])))
    return Document(data=data, file=document.file, marks=document.marks, key_marks=document.key_marks), \
        params, placed, problems


def noted(problems: list[Problem], placed: list[Placed]) -> list[Problem]:
    """`problems`, each one about a value that came from `--set` saying so in its hint."""
    if not placed:
        return problems
    out = []
    for problem in problems:
        source = next((p for p in placed if p.location == problem.location and (p.exact or p.key in problem.message)),
                      None)
        if source is not None:
            hint = problem.hint if problem.hint and "quotes" not in problem.hint else None   # no quotes on a --set
            note = f"the value comes from --set {source.text}"
            problem = replace(problem, hint=f"{hint}; {note}" if hint else note)
        out.append(problem)
    return out
