"""YAML loading that remembers where every key and item came from, so errors can name a line."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import input_error


class LocatedDict(dict):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list):
    """A sequence that knows its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    """A safe loader whose containers carry line numbers and which rejects duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1 + loader.line_offset
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1 + loader.line_offset
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise input_error(loader.source, "mapping keys must be plain scalars", line)
        key = str(key)
        if key in result:
            raise input_error(loader.source, f"duplicate key (first defined on line {result.key_lines[key]})", line, key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1 + loader.line_offset
    result.item_lines = [child.start_mark.line + 1 + loader.line_offset for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class _Loader12(_Loader):
    """The same loader with YAML 1.2 core-schema scalars, as promptfoo (js-yaml) reads its configs:
    only true/false are booleans (`Yes`, `on` stay strings), `1:30` and `010` are not base-60 or octal."""


def _int12(loader: _Loader12, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    return int(text[2:], 8) if text.startswith("0o") else int(text, 16) if text.startswith("0x") else int(text)


def _float12(loader: _Loader12, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


_Loader12.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float")]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()}
_Loader12.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                list("tTfF"))
_Loader12.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                list("-+0123456789"))
_Loader12.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))
_Loader12.add_constructor("tag:yaml.org,2002:int", _int12)
_Loader12.add_constructor("tag:yaml.org,2002:float", _float12)


def load_located(text: str, source: str, line_offset: int = 0, yaml12: bool = False) -> Any:
    """Parse YAML text (1.1 as PyYAML, or 1.2 core scalars); syntax errors become InputErrors naming the line."""
    try:
        loader = (_Loader12 if yaml12 else _Loader)(text)
    except yaml.reader.ReaderError as exc:  # a NUL or other control character the YAML reader refuses
        line = text.count("\n", 0, exc.position) + 1 + line_offset
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise input_error(source, f"malformed YAML: character {char!r} is not allowed in YAML text", line) from None
    loader.source = source
    loader.line_offset = line_offset
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + line_offset if mark else None
        raise input_error(source, f"malformed YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise input_error(source, f"malformed YAML: {exc}") from None
    except RecursionError:
        line = loader.get_mark().line + 1 + line_offset if loader.get_mark() else None
        raise input_error(source, "malformed YAML: nested too deeply", line) from None
    finally:
        loader.dispose()
