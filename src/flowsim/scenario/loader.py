"""Reading scenario files: safe YAML with line numbers, ``extends``, ``$parameter`` references,
``--set`` overrides, and one-line errors naming the file, the line and the field path.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from flowsim.errors import ScenarioError
from flowsim.scenario.schema import ReferenceError_, Scenario

PathKey = tuple[str | int, ...]
PARAM_REF = re.compile(r"^\$([a-z][a-z0-9_]*)$")
MAX_EXTENDS_DEPTH = 32
MAX_FILE_BYTES = 10_000_000


@dataclass
class RawScenario:
    """A merged scenario mapping before validation, with where each value came from."""

    data: dict[str, Any]
    origin: str
    lines: dict[PathKey, tuple[str, int]] = field(default_factory=dict)

    def locate(self, path: Iterable[str | int]) -> tuple[str, int | None]:
        """File and line of the deepest known prefix of `path`."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.origin, None


class _Loader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain scalars", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Timestamps stay strings: pydantic parses them and insists on a UTC offset.
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line_map(node: yaml.Node, file: str, prefix: PathKey, out: dict) -> None:
    out[prefix] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            _line_map(value_node, file, path, out)
            out[path] = (file, key_node.start_mark.line + 1)  # a field is where its key is
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, file, (*prefix, i), out)


def read_yaml(path: Path) -> tuple[Any, dict[PathKey, tuple[str, int]]]:
    """Parse a YAML file safely; return the data and a map of field paths to lines."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError("file not found", file=name) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a scenario file", file=name) from None
    except OSError as err:
        raise ScenarioError(f"cannot read file ({err.strerror})", file=name) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(f"file is larger than {MAX_FILE_BYTES} bytes", file=name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(
            f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})", file=name
        ) from None
    if not text.strip():
        raise ScenarioError("file is empty", file=name)
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = err.problem or str(err)
        raise ScenarioError(f"YAML syntax error: {problem}", file=name, line=line) from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"YAML syntax error: {err}", file=name) from None
    except RecursionError:
        raise ScenarioError("YAML nesting is too deep", file=name) from None
    lines: dict[PathKey, tuple[str, int]] = {}
    if node is not None:
        _line_map(node, name, (), lines)
    return data, lines


def deep_merge(base: Any, override: Any) -> Any:
    """Merge `override` into `base`: mappings recursively, ``null`` deletes, the rest replaces."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_raw(path: str | Path, _chain: tuple[Path, ...] = ()) -> RawScenario:
    """Read a scenario file and everything it extends, merged, before validation."""
    path = Path(path)
    name = str(path)
    resolved = path.resolve()
    if resolved in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, resolved))
        raise ScenarioError(f"extends cycle: {cycle}", file=name, field_path="extends")
    if len(_chain) > MAX_EXTENDS_DEPTH:
        raise ScenarioError("extends chain is too deep", file=name, field_path="extends")
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError("the top level must be a mapping of fields", file=name, line=1)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return RawScenario(data, name, lines)
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ScenarioError(
            "must be a file path", file=name, field_path="extends", line=lines.get(("extends",), (name, None))[1]
        )
    parent_path = path.parent / parent_ref
    if not parent_path.is_file():
        raise ScenarioError(
            f"extended file {str(parent_path)!r} not found",
            file=name,
            field_path="extends",
            line=lines.get(("extends",), (name, None))[1],
        )
    parent = load_raw(parent_path, (*_chain, resolved))
    merged = deep_merge(parent.data, data)
    merged_lines = {**parent.lines, **lines}
    return RawScenario(merged, name, merged_lines)


def parse_overrides(assignments: Iterable[str]) -> dict[str, Any]:
    """Turn ``["demand.choice.hours_weight=0.2"]`` into a nested mapping for `deep_merge`."""
    nested: dict[str, Any] = {}
    for text in assignments:
        key, sep, value_text = text.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"override {text!r} is not of the form path.to.field=value", file="--set")
        if not value_text.strip():
            raise ScenarioError("empty value (write null to delete a field)", file="--set", field_path=key.strip())
        try:
            value = yaml.load(value_text, Loader=_Loader)  # noqa: S506 - safe loader
        except yaml.YAMLError:
            raise ScenarioError(f"cannot parse value {value_text!r}", file="--set", field_path=key) from None
        parts = key.strip().split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ScenarioError("conflicting overrides", file="--set", field_path=key)
        node[parts[-1]] = value
    return nested


def resolve_parameters(raw: RawScenario) -> dict[str, Any]:
    """Replace every ``$name`` string by the value of parameter `name`."""
    params = raw.data.get("parameters") or {}
    if not isinstance(params, dict):
        return raw.data

    def value_of(name: str, path: PathKey) -> Any:
        spec = params.get(name)
        if not isinstance(spec, dict) or "value" not in spec:
            file, line = raw.locate(path)
            hint = difflib.get_close_matches(name, [str(p) for p in params], n=1)
            suffix = f" (did you mean '${hint[0]}'?)" if hint else ""
            raise ScenarioError(
                f"unknown parameter '${name}'{suffix}", file=file, line=line, field_path=_dotted(path)
            )
        return spec["value"]

    def walk(node: Any, path: PathKey) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, str) and (match := PARAM_REF.match(node)):
            if path and path[0] == "parameters":
                file, line = raw.locate(path)
                raise ScenarioError(
                    "a parameter cannot refer to another parameter",
                    file=file, line=line, field_path=_dotted(path),
                )
            return value_of(match.group(1), path)
        return node

    return walk(raw.data, ())


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _walk_types(annotation: Any, loc: tuple) -> tuple[list[str | int], type[BaseModel] | None]:
    """Follow a pydantic error location through the schema types.

    Returns the location as the user wrote it (union tags dropped) and the model class
    that holds the last element, for "did you mean" suggestions.
    """
    path: list[str | int] = []
    current: Any = annotation
    holder: type[BaseModel] | None = None
    for part in loc:
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            holder = current
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            path.append(part)
            current = fields[part].annotation if part in fields else None
            continue
        origin = typing.get_origin(current)
        if origin is dict:
            path.append(part)
            current = typing.get_args(current)[1]
        elif origin is list:
            path.append(part)
            current = typing.get_args(current)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [_strip(a) for a in typing.get_args(current) if a is not type(None)]
            tagged = [
                o for o in options
                if isinstance(o, type) and issubclass(o, BaseModel) and _tag(o) == part
            ]
            if tagged:
                current = tagged[0]
            else:
                current = options[0] if len(options) == 1 else None
                path.append(part)
        else:
            path.append(part)
            current = None
    return path, holder


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return annotation


def _tag(model: type[BaseModel]) -> str | None:
    for key in ("type", "dist"):
        f = model.model_fields.get(key)
        if f is not None and typing.get_origin(f.annotation) is typing.Literal:
            return typing.get_args(f.annotation)[0]
    return None


def _error_from_validation(err: ValidationError, raw: RawScenario) -> ScenarioError:
    errors = err.errors(include_url=False)
    extra = [e for e in errors if e["type"] == "extra_forbidden"]
    first = extra[0] if extra else errors[0]
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, ReferenceError_):
        path = ctx_error.path
        parts: list[str | int] = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
        file, line = raw.locate(int(p) if str(p).isdigit() else p for p in parts)
        return ScenarioError(ctx_error.problem, file=file, line=line, field_path=path)
    path, holder = _walk_types(Scenario, tuple(first["loc"]))
    file, line = raw.locate(path)
    kind = first["type"]
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else ""
        choices = _field_names(holder) if holder else []
        close = difflib.get_close_matches(name, choices, n=1)
        problem = "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
        if choices and not close:
            problem += f"; valid fields: {', '.join(choices)}"
    elif kind == "missing":
        problem = "required field is missing"
    elif kind == "union_tag_invalid":
        problem = first["msg"].replace("Input tag", "type/dist").replace("found using", "in")
    elif kind == "union_tag_not_found":
        tag = first.get("ctx", {}).get("discriminator", "type").strip("'")
        problem = f"required field {tag!r} is missing"
        if holder is None and path and path[0] == "policies":
            from flowsim.policies import REGISTRY

            problem += f" (one of: {', '.join(sorted(REGISTRY))})"
    else:
        value = first.get("input")
        msg = first["msg"].removeprefix("Value error, ")
        shown = repr(value)[:60]
        quoted = isinstance(value, dict | list) or (isinstance(value, str) and shown in msg)
        problem = msg if quoted else f"{msg} (got {shown})"
    return ScenarioError(problem, file=file, line=line, field_path=_dotted(path) or None)


def validate(data: Mapping[str, Any], raw: RawScenario) -> Scenario:
    """Validate a merged, parameter-resolved mapping into a `Scenario`."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise _error_from_validation(err, raw) from None
    except RecursionError:
        raise ScenarioError("scenario nesting is too deep", file=raw.origin) from None


def load_scenario(
    path: str | Path,
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> Scenario:
    """Load, merge, resolve and validate a scenario file.

    Parameters
    ----------
    path
        The scenario YAML file.
    overrides
        ``"path.to.field=value"`` strings (as given to ``--set``), or a nested mapping,
        merged over the file before parameter references are resolved.
    """
    raw = load_raw(path)
    extra = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    if extra:
        lines = dict(raw.lines)
        _mark_overrides(extra, (), lines)
        raw = RawScenario(deep_merge(raw.data, extra), raw.origin, lines)
    return validate(resolve_parameters(raw), raw)


def _mark_overrides(node: Any, prefix: PathKey, lines: dict) -> None:
    """Errors in overridden fields point at ``--set``, not at the file."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = (*prefix, str(key))
            lines[path] = ("--set", None)
            _mark_overrides(value, path, lines)


def scenario_from_mapping(data: Mapping[str, Any], name: str = "<mapping>") -> Scenario:
    """Validate a scenario given as a Python mapping (``$parameter`` references allowed)."""
    raw = RawScenario(dict(data), name)
    return validate(resolve_parameters(raw), raw)


def dump_resolved(scenario: Scenario) -> str:
    """The fully resolved scenario (after extends, parameters and defaults) as YAML."""
    data = scenario.model_dump(mode="json", by_alias=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
