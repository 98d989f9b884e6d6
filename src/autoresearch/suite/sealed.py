"""Sealed holdout files: holdout inputs kept where an agent playing the mutator cannot read them by accident.

`autoresearch holdout seal SUITE` writes a suite's holdout inputs to a file only this tool reads: the YAML
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


def seal_suite(path: Path) -> str:
    """Seal the holdout inputs of the suite at `path`: those in the suite file move out of it, all of them go
    to its holdout file, sealed (`<suite>.holdout.sealed` unless `holdout_file:` names one), and the suite
    names that file. What the suite measures does not change (its fingerprint is the same); returns a report
    that quotes no input. An error leaves both files as they were."""
    from ..fsio import atomic_write
    from .fingerprint import suite_fingerprint
    from .suite import load_suite
    from .yamlsource import load_located

    suite = load_suite(path)
    hidden = suite.split("holdout")
    if not hidden:
        raise AutoresearchError(f"{path}: no holdout inputs to seal; mark some `split: holdout` first")
    with_files = [i.id for i in hidden if i.files]
    if with_files:
        raise AutoresearchError(f"{path}: holdout input(s) {', '.join(with_files)} have fixture files, which a seal "
                                "cannot hide; give them as text, or keep them out of the holdout")
    text = path.read_text(encoding="utf-8")
    data = load_located(text, str(path))
    name = str(data.get("holdout_file") or f"{path.stem}.holdout.sealed")
    target = path.parent / name
    if "holdout_file" not in data and target.exists():
        raise AutoresearchError(f"{target} exists already: name it in the suite with `holdout_file: {name}`, "
                                "or move it away")
    inline = {i.id for i in hidden} - {i.id for i in _file_inputs(suite)}
    new_suite = _without_items(text, data, inline, path)
    if "holdout_file" not in data:
        new_suite = new_suite.rstrip("\n") + f"\nholdout_file: {name}   # sealed: autoresearch holdout unseal " \
                                              f"{path} opens it\n"
    plain = yaml_dump({"inputs": [{"id": i.id, "text": i.text} for i in hidden]})
    key, where = ensure_key(target.parent)
    before = suite_fingerprint(suite)
    old_target = target.read_text(encoding="utf-8") if target.exists() else None
    atomic_write(target, seal(plain, key))
    atomic_write(path, new_suite)
    try:
        same = suite_fingerprint(load_suite(path))["digest"] == before["digest"]
    except AutoresearchError:
        same = False
    if not same:
        atomic_write(path, text)
        if old_target is None:
            target.unlink()
        else:
            atomic_write(target, old_target)
        raise AutoresearchError(f"{path}: could not move the holdout inputs out of this suite's text (nothing "
                                f"changed); put them in a file of their own, `inputs:` as in the suite, name it "
                                f"with `holdout_file:`, and seal again")
    notes = [f"sealed {len(hidden)} holdout input(s) in {target} (key: {where}); the suite names it "
             f"(`holdout_file: {name}`) and measures the same inputs as before"]
    if inline:
        notes.append(f"moved {len(inline)} of them out of {path}")
    notes += [f"input {item.get('id')}'s text is still in {item.get('file')}: delete that file, or move it where "
              "an agent will not look" for item in data.get("inputs") or []
              if hasattr(item, "get") and str(item.get("id")) in inline and item.get("file")]
    return "\n".join(notes)


def unseal_suite(path: Path) -> str:
    """Open the sealed holdout file of the suite at `path` back into plain YAML, for its owner to edit."""
    from ..fsio import atomic_write
    from .yamlsource import load_located

    data = load_located(path.read_text(encoding="utf-8"), str(path))
    name = data.get("holdout_file") if hasattr(data, "get") else None
    if not name:
        raise AutoresearchError(f"{path}: no `holdout_file:` to unseal")
    target = path.parent / str(name)
    text = target.read_text(encoding="utf-8")
    if not is_sealed(text):
        return f"{target} is not sealed"
    key = read_key(target.parent)
    if key is None:
        raise AutoresearchError(f"{target}: no key to open it at {key_path(target.parent)} (or {KEY_ENV})")
    atomic_write(target, unseal(text, key, str(target)))
    return f"{target} is plain YAML again: an agent that reads it sees the holdout; seal it again with " \
           f"autoresearch holdout seal {path}"


def yaml_dump(data: dict) -> str:
    """`data` as block YAML, texts as literal blocks where they span lines."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        style = "|" if "\n" in value and value == value.rstrip(" ") and "\r" not in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _file_inputs(suite) -> list:
    """The holdout inputs that came from the suite's holdout file (none when it names none)."""
    if not suite.holdout_file:
        return []
    from .yamlsource import load_located

    target = suite.path.parent / suite.holdout_file
    text = target.read_text(encoding="utf-8")
    if is_sealed(text):
        text = unseal(text, read_key(target.parent) or b"", str(target))
    ids = {str(item.get("id")) for item in (load_located(text, str(target)) or {}).get("inputs") or []
           if hasattr(item, "get")}
    return [i for i in suite.split("holdout") if i.id in ids]


def _without_items(text: str, data, ids: set[str], path: Path) -> str:
    """The suite's text without the `inputs:` items whose id is in `ids`: each item's lines, up to the next item
    or key, less the blank and comment lines that end it (they belong to what follows)."""
    if not ids:
        return text
    items = data.get("inputs")
    lines = text.splitlines(keepends=True)
    starts = [items.line_of(n) for n in range(len(items))]
    after = [line for line in data.key_lines.values() if line > data.line_of("inputs")]
    ends = starts[1:] + [min([line for line in after if line > starts[-1]], default=len(lines) + 1)]
    if len(set(starts)) != len(starts) or starts[0] <= data.line_of("inputs"):
        raise AutoresearchError(f"{path}: its `inputs:` list is not one item per block of lines; move the holdout "
                                "inputs by hand into a file of their own, name it with `holdout_file:`, and seal again")
    cut: set[int] = set()
    for item, start, end in zip(items, starts, ends):
        if str(item.get("id")) not in ids:
            continue
        last = end - 1
        while last > start and (not lines[last - 1].strip() or lines[last - 1].lstrip().startswith("#")):
            last -= 1
        cut |= set(range(start, last + 1))
    return "".join(line for number, line in enumerate(lines, 1) if number not in cut)
