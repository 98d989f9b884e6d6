"""`autoresearch holdout seal|unseal`: a suite's holdout inputs moved into its sealed holdout file and back.

Sealing changes where the holdout inputs are written, never what the suite measures: the suite's fingerprint
is the same before and after, so a run may go on across a seal. The suite's own text is edited in place (its
comments and layout kept); an edit that would change what it measures is undone.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import AutoresearchError
from .sealed import KEY_ENV, ensure_key, is_sealed, key_path, read_key, seal, unseal


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
    plain = yaml_dump({"inputs": [{"id": i.id, "text": i.text} | (
        {"files": [os.path.relpath(i.base / rel, target.parent) for rel in i.files]} if i.files else {})
        for i in hidden]})
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
    notes += [f"input {i.id}'s fixture files ({', '.join(i.files)}) stay readable: a seal hides the input's text, "
              "not the files it brings" for i in hidden if i.files]
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
