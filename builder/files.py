"""Reading files a user names: the one way every reader opens a spec, a data file, a run's files or an input.

Every path is checked before it is opened and while it is read:

- it must be a regular file: a folder, a FIFO (which would block), a device such as /dev/zero (which never
  ends) or a socket is refused before anything is read;
- its size is counted while reading, not only from `stat()`, so a file that grows (or lies) stops at the limit;
- a path a spec names must stay inside the spec's folder once symlinks and `..` are resolved
  (`inside`); paths given on the command line are the user's own and may point anywhere;
- text must be UTF-8, and a decoding error says where.

Problems are `FileProblem`s (a message and a hint); each caller says where in the spec or the command
line the path came from, as a located `SpecError`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_DATA_BYTES = 2 * 2**30       # one data file, predict input or run-folder file
MAX_JSON_BYTES = 16 * 2**20      # run.json, summary.json, data.json, search.json


class FileProblem(Exception):
    """A file that cannot be used: its path, what is wrong (`kind`: missing, folder, special, size,
    unreadable, encoding, outside), and a hint. The caller knows where its path came from."""

    def __init__(self, path: str | Path, reason: str, kind: str, hint: str | None = None):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason, self.kind, self.hint = str(path), reason, kind, hint


def regular_file(path: str | Path) -> Path:
    """`path`, after checking it is an existing regular file (symlinks followed)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileProblem(path, "no such file", "missing") from None
    except OSError as exc:
        raise FileProblem(path, f"cannot read it ({exc.strerror})", "unreadable") from None
    if stat.S_ISDIR(mode):
        raise FileProblem(path, "a folder, not a file", "folder")
    if not stat.S_ISREG(mode):
        what = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise FileProblem(path, f"{what}; builder reads regular files only", "special")
    return path


def read_bytes(path: str | Path, limit: int = MAX_DATA_BYTES) -> bytes:
    """The bytes of a regular file, at most `limit` of them (counted as they are read)."""
    path = regular_file(path)
    chunks, total = [], 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise FileProblem(path, f"over the limit of {limit:,} bytes", "size")
                chunks.append(chunk)
    except OSError as exc:
        raise FileProblem(path, f"cannot read it ({exc.strerror})", "unreadable") from None
    return b"".join(chunks)


def read_text(path: str | Path, limit: int = MAX_DATA_BYTES) -> str:
    """The UTF-8 text of a regular file (a byte-order mark is dropped)."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(path, f"not UTF-8 text: byte {data[exc.start]:#04x} on line {line} cannot be read",
                          "encoding", "save it as UTF-8") from None


def inside(folder: str | Path, relative: str | Path) -> Path:
    """`folder / relative`, resolved, after checking it stays inside `folder` (symlinks and `..` included)."""
    root = Path(folder).resolve()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise FileProblem(relative, f"outside the spec's folder {root}", "outside",
                          "a spec reads data from its own folder; give another path on the command line "
                          "(--data) instead")
    return path
