"""The one error type every stage raises, and the located problems it carries.

A stage never lets a bare exception out for a bad spec: it collects `Problem`s
(file, line, column, node, message, hint) and raises `SpecError` holding all of
them, so a user fixes every mistake of a file in one pass. Only the CLI edge
turns a `SpecError` into text and an exit code.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class Location:
    """Where something sits in a spec file; line and column count from 1."""

    file: str = "<spec>"
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One located finding about a spec."""

    location: Location
    message: str
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"
    node: str | None = None

    def format(self) -> str:
        text = f"{self.location}: {self.severity}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        loc = data.pop("location")
        return {"file": loc["file"], "line": loc["line"], "column": loc["column"], **data}


class CommandError(Exception):
    """A problem outside any spec (a backend, Graphviz, an export converter, a file to write).

    Its message is one line that names the fix; the command line prints it as `Error: ...`, exit 1.
    """


@dataclass
class SpecError(Exception):
    """A spec could not go through a stage; `problems` says every reason and where."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.format())

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def format(self) -> str:
        return "\n".join(p.format() for p in self.problems)

    def __str__(self) -> str:  # dataclass would otherwise print the field list
        return self.format()

    @classmethod
    def single(cls, location: Location, message: str, hint: str | None = None,
               node: str | None = None) -> "SpecError":
        return cls([Problem(location, message, hint, node=node)])


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """A hint naming the closest valid spelling, or None when nothing is close."""
    if not isinstance(word, str):
        return None
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"did you mean '{lowered[word.lower()]}'?"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    if not close:
        close = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)]
    return f"did you mean '{close[0]}'?" if close else None


def show(value: object, limit: int = 60) -> str:
    """A short repr of a user value for messages (never dumps a 10 KB string, nor a 5,000-digit number)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length():,} bits>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
