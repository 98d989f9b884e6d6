"""Sealed holdout files: holdout inputs kept where an agent playing the mutator cannot read them by accident.

`autoresearch holdout seal SUITE` (sealing.py) writes a suite's holdout inputs to a file only this tool reads: the YAML
encrypted (a SHA-256 keystream, an HMAC-SHA256 tag) with a key kept in the project's `.autoresearch/holdout.key`
(which `.gitignore` leaves out of commits) or given in AUTORESEARCH_HOLDOUT_KEY. A `cat`, `grep` or editor shows
base64; no agent-facing command prints the inputs. It is a guard against reading by accident and copying from
memory, not against an agent that sets out to decrypt the file with a key on the same disk.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..errors import AutoresearchError
from ..install import ensure_ignored, in_git_repository, project_root

MAGIC = "# autoresearch sealed holdout v1: only autoresearch reads this file (docs/holdout.md); do not edit it"
KEY_ENV = "AUTORESEARCH_HOLDOUT_KEY"
_NONCE = 16
_TAG = 32


def is_sealed(text: str) -> bool:
    """Whether `text` is a sealed holdout file (its first line is ours)."""
    return text.startswith(MAGIC)


def key_path(folder: Path) -> Path:
    """Where the key for holdout files in `folder` lives: the project's `.autoresearch/holdout.key`."""
    return project_root(folder) / ".autoresearch" / "holdout.key"


def read_key(folder: Path) -> bytes | None:
    """The key that opens sealed files in `folder` (AUTORESEARCH_HOLDOUT_KEY first), or None when there is none."""
    given = os.environ.get(KEY_ENV) or _file_text(key_path(folder))
    if given is None:
        return None
    try:
        key = bytes.fromhex(given.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        where = KEY_ENV if os.environ.get(KEY_ENV) else str(key_path(folder))
        raise AutoresearchError(f"{where}: a holdout key is 64 hex digits; this one is not")
    return key


def ensure_key(folder: Path) -> tuple[bytes, Path]:
    """The key for `folder`, made (readable by the user only) when there is none yet, and where it lives."""
    key = read_key(folder)
    path = key_path(folder)
    if key is not None:
        return key, path
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    if in_git_repository(path.parent):
        ensure_ignored(project_root(path.parent))
    return key, path


def seal(plain: str, key: bytes) -> str:
    """`plain` sealed with `key`: our first line, then base64 of nonce, ciphertext and tag."""
    nonce = secrets.token_bytes(_NONCE)
    cipher = _xor(plain.encode("utf-8"), key, nonce)
    blob = base64.b64encode(nonce + cipher + _tag(key, nonce + cipher)).decode()
    return MAGIC + "\n" + "\n".join(blob[i:i + 76] for i in range(0, len(blob), 76)) + "\n"


def unseal(sealed: str, key: bytes, source: str) -> str:
    """The YAML sealed in `sealed`; an error naming `source` when the key is not the one it was sealed with."""
    try:
        blob = base64.b64decode("".join(sealed.splitlines()[1:]), validate=True)
    except ValueError:
        blob = b""
    nonce, cipher, tag = blob[:_NONCE], blob[_NONCE:-_TAG], blob[-_TAG:]
    if len(blob) < _NONCE + _TAG or not hmac.compare_digest(tag, _tag(key, nonce + cipher)):
        raise AutoresearchError(f"{source}: this sealed holdout file was changed, or sealed with another key than "
                                f"this project's; put back the key that sealed it (or set {KEY_ENV})")
    return _xor(cipher, key, nonce).decode("utf-8")


def _xor(data: bytes, key: bytes, nonce: bytes) -> bytes:
    stream = b"".join(hashlib.sha256(key + nonce + n.to_bytes(8, "big")).digest() for n in range(len(data) // 32 + 1))
    return bytes(a ^ b for a, b in zip(data, stream))


def _tag(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, b"tag" + data, hashlib.sha256).digest()


def _file_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None

