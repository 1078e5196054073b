"""YAML into validated dataclasses, with errors that name the file, line and key.

Every config-like object in genointerp (data-set manifests, concept catalogs,
pipeline configs) is a dataclass with one docstring per field; this module
fills one from YAML and refuses unknown keys with a "did you mean" hint.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ._filekind import wrong_kind
from .errors import ConfigError

T = TypeVar("T")


class LineDict(dict):
    """A dict that remembers the YAML line of each key (``.lines``) and of itself (``.line``)."""

    line: int | None = None
    lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        mapping = LineDict(super().construct_mapping(node, deep=True))
        mapping.line = node.start_mark.line + 1
        mapping.lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; syntax errors become :class:`ConfigError` with the line."""
    path = Path(path)
    other = wrong_kind(path, "yaml", "json")
    if other:
        raise ConfigError(path, f"{other}, not a YAML config", "give the YAML file meant here")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "file not found", "check the path") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text", "give a YAML text file") from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            path,
            f"is not valid YAML: {problem}",
            "fix the YAML syntax at that line",
            line=mark.line + 1 if mark else None,
        ) from None


def from_dict(cls: type[T], data: Any, path: str | Path, what: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, recursing into nested dataclass fields.

    Unknown keys, missing required keys and wrong types raise :class:`ConfigError`
    naming the key and its line.  Validation in ``__post_init__`` that raises
    ``ValueError`` is reported the same way.
    """
    what = what or cls.__name__
    line = getattr(data, "line", None)
    if not isinstance(data, dict):
        raise ConfigError(
            path,
            f"{what} must be a mapping of keys to values, got {type(data).__name__}",
            "see the documented format",
            line=line,
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    lines = getattr(data, "lines", {})
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                path,
                f"unknown key {key!r} in {what}",
                f"{hint}valid keys are {', '.join(fields)}",
                line=lines.get(key, line),
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, field in fields.items():
        if name not in data:
            required = field.default is dataclasses.MISSING
            if required and field.default_factory is dataclasses.MISSING:
                raise ConfigError(
                    path, f"{what} lacks required key {name!r}", f"add '{name}:'", line=line
                )
            continue
        kwargs[name] = _convert(
            hints[name], data[name], path, f"{what}.{name}", lines.get(name, line)
        )
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(path, f"invalid {what}: {exc}", "correct the value", line=line) from None


def _convert(hint: Any, value: Any, path, what: str, line: int | None) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path, what)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _convert(options[0], value, path, what, line)
        return value
    if origin is list or origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(
                path, f"{what} must be a list", f"write '{what.split('.')[-1]}: [...]'", line=line
            )
        inner = args[0] if args else Any
        return [
            _convert(inner, v, path, f"{what}[{i}]", getattr(v, "line", line))
            for i, v in enumerate(value)
        ]
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(
                path,
                f"{what} is {value!r}, expected one of {', '.join(map(repr, args))}",
                "use one of those",
                line=line,
            )
        return value
    if hint in (int, float, str, bool) and not _is_type(value, hint):
        raise ConfigError(
            path,
            f"{what} is {value!r}, expected {hint.__name__}",
            f"write a {hint.__name__}",
            line=line,
        )
    return value


def _is_type(value: Any, hint: type) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of a dataclass whose fields carry a string literal below them."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body
        for node, after in zip(body, body[1:], strict=False):
            is_doc = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and is_doc:
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def reference_rows(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(dotted key, default, docstring)`` for every leaf field of a nested config dataclass."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f"{prefix}{f.name}"
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            rows.extend(reference_rows(hint, key + "."))
            continue
        inner = typing.get_args(hint)
        if typing.get_origin(hint) is list and inner and dataclasses.is_dataclass(inner[0]):
            rows.append((key, "(required)", docs.get(f.name, "")))
            rows.extend(reference_rows(inner[0], key + "[]."))
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        rows.append((key, default, docs.get(f.name, "")))
    return rows
