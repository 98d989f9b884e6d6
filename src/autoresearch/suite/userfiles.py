"""Files a user or a suite names: confined to a folder, and read with errors that name the line.

A suite is code from whoever wrote it; what it may read is limited to its own folder unless the user
allows more (`--allow-outside`, or `allow_outside: true` in the suite).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import input_error


class OutsideError(ValueError):
    """A path leaves the folder it is confined to."""


def confined_path(base: Path, relative: str | Path, allow_outside: bool = False) -> Path:
    """`relative` resolved against `base` (symlinks followed); OutsideError when it leaves `base`
    and `allow_outside` is not set."""
    base = Path(base).resolve()
    path = (base / relative).resolve()
    if not allow_outside and not path.is_relative_to(base):
        raise OutsideError(f"{str(relative)!r} is outside the suite's folder {base} (resolves to {path}); "
                           "pass --allow-outside or set `allow_outside: true` in the suite if you trust it")
    return path


def skill_bound(suite_folder: Path) -> Path:
    """The folder a suite's target skill must lie in (a run rewrites it): the git work tree holding the suite,
    else the suite folder's parent, so `evals/x.yaml` beside `my-skill/` works as the README shows."""
    folder = Path(suite_folder).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder.parent


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 text of `data`; InputError naming the line (and column) of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise input_error(source, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column} "
                                  "(save the file as UTF-8)", line) from None


MAX_USER_FILE_BYTES = 16 * 1024 * 1024  # far above any prompt a model's context holds


def read_user_bytes(path: Path, missing: str = "file not found", limit: int = MAX_USER_FILE_BYTES) -> bytes:
    """The bytes of a file a user names; InputError naming the file when it is missing, unreadable, not a
    regular file (a FIFO or a device would block or never end) or larger than `limit`."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except FileNotFoundError:
        raise input_error(str(path), missing) from None
    except OSError as exc:
        raise input_error(str(path), f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise input_error(str(path), "not a regular file (a folder, FIFO or device): refusing to read it")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise input_error(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise input_error(str(path), f"larger than {limit // (1024 * 1024)} MB: refusing to read it")
    return data


def read_user_text(path: Path, missing: str = "file not found", limit: int = MAX_USER_FILE_BYTES) -> str:
    """A user's text file as UTF-8; InputError (with the line) when missing, unreadable or not UTF-8."""
    return decode_text(read_user_bytes(path, missing, limit), str(path))


def relative_to_folder(path: Path, folder: Path) -> str:
    """`path` written relative to `folder` (with `..` when needed), so both can move together."""
    return os.path.relpath(Path(path).resolve(), Path(folder).resolve())
