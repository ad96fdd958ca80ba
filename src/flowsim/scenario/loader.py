"""Reading scenario files.

Safe YAML with line numbers, ``extends``, ``$parameter`` references, ``--set``
overrides, and one-line errors naming the file, the line and the field path.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from flowsim.errors import ScenarioError, closest, did_you_mean
from flowsim.scenario.schema import ReferenceError_, Scenario
from flowsim.textfile import read_text

PathKey = tuple[str | int, ...]
PARAM_REF = re.compile(r"^\$([a-z][a-z0-9_]*)$")
MAX_EXTENDS_DEPTH = 32
#: Values in a file, counting each use of a YAML alias again (the historical scenario has ~3,000).
MAX_NODES = 200_000
#: Nesting of mappings and lists (a scenario needs about 8).
MAX_DEPTH = 64
#: Characters of a YAML integer (Python refuses to convert more than 4,300 digits).
MAX_INT_CHARS = 100
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class RawScenario:
    """A merged scenario mapping before validation, with where each value came from."""

    data: dict[str, Any]
    origin: str
    lines: dict[PathKey, tuple[str, int]] = field(default_factory=dict)
    #: the files of the `extends` chain, the root first and `origin` last
    chain: tuple[str, ...] = ()

    def locate(self, path: Iterable[str | int] | str) -> tuple[str, int | None]:
        """File and line of the deepest known prefix of `path` (parts, or dotted text)."""
        if isinstance(path, str):
            path = _parts(path)
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
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "YAML merge keys ('<<') are not supported; repeat the fields or use extends",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a mapping or list"
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {shown!r} is not text (YAML reads it as {type(key).__name__}; quote it)",
                key_node.start_mark,
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    """A YAML 1.2 integer: ``010`` is ten, ``0o10`` eight; ``1:30`` is not an integer."""
    text = str(node.value)
    if len(text) > MAX_INT_CHARS:
        raise yaml.constructor.ConstructorError(
            None, None, f"integer of {len(text)} characters is too large", node.start_mark
        )
    try:
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"{text!r} is not an integer", node.start_mark
        ) from None


def _refuse_tag(loader: _Loader, node: yaml.Node) -> None:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"YAML tag {tag!r} is not allowed (scenario files are plain YAML)",
        node.start_mark,
    )


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor(None, _refuse_tag)
#: Plain scalars as YAML 1.2's core schema reads them, not PyYAML's YAML 1.1: only
#: true/false are booleans (``yes``, ``no``, ``on``, ``off`` are text), ``010`` is ten,
#: ``1:30`` and ``07:00`` are text. Timestamps stay text: pydantic parses them and insists
#: on a UTC offset. ``<<`` is recognised only to be refused.
CORE_SCHEMA = (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+.0123456789",
    ),
    ("null", r"~|null|Null|NULL|", "~nN"),
    ("merge", r"<<", "<"),
)


def _core_resolvers() -> dict[str | None, list]:
    table: dict[str | None, list] = {}
    for tag, pattern, firsts in CORE_SCHEMA:
        rx = re.compile(f"^(?:{pattern})$")
        for first in [*firsts, *([None] if tag == "null" else [])]:
            table.setdefault(first, []).append((f"tag:yaml.org,2002:{tag}", rx))
    return table


_CORE = _core_resolvers()
_Loader.yaml_implicit_resolvers = _CORE


class _FastLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """`_Loader` on libyaml's parser (in PyYAML's wheels): a scenario in a seventh of the time.

    Its syntax errors name less (no offending character), so a text it refuses is parsed
    again by `_Loader` for the message.
    """


_FastLoader.yaml_constructors = _Loader.yaml_constructors
_FastLoader.yaml_implicit_resolvers = _CORE


class _Dumper(yaml.SafeDumper):
    """Quotes text that either YAML 1.1 or 1.2 would read as something else."""


_Dumper.yaml_implicit_resolvers = {
    first: [*yaml.SafeDumper.yaml_implicit_resolvers.get(first, []), *_CORE.get(first, [])]
    for first in {*yaml.SafeDumper.yaml_implicit_resolvers, *_CORE}
}


class _Unsafe(Exception):
    """A YAML document whose aliases make it recursive or explode in size."""

    def __init__(self, problem: str, node: yaml.Node) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = node.start_mark.line + 1


def _check_size(root: yaml.Node) -> None:
    """Refuse recursive aliases, alias bombs and deep nesting before anything walks the data.

    Each node's size is computed once (aliases share nodes), so this takes time in the
    size of the text, not of the expanded data.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _Unsafe(
                "a YAML alias refers to a node that contains it (a recursive structure)", node
            )
        if depth > MAX_DEPTH:
            raise _Unsafe(f"nesting is deeper than {MAX_DEPTH} levels", node)
        open_nodes.add(key)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_NODES:
                raise _Unsafe(f"more than {MAX_NODES} values once YAML aliases are expanded", node)
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def _parse(text: str) -> tuple[Any, yaml.Node | None]:
    """Compose and construct one YAML document safely; raise `yaml.YAMLError` or `_Unsafe`."""
    try:
        return _parse_with(_FastLoader, text)
    except yaml.YAMLError:
        return _parse_with(_Loader, text)


def _parse_with(loader_class: type, text: str) -> tuple[Any, yaml.Node | None]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(node)
        return loader.construct_document(node), node
    finally:
        loader.dispose()


def _yaml_problem(err: Exception, text: str) -> tuple[str, int | None]:
    """The message and line of a YAML error."""
    if isinstance(err, _Unsafe):
        return err.problem, err.line
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        return (
            f"YAML syntax error: character {chr(err.character)!r} is not allowed in YAML text",
            line,
        )
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        if isinstance(
            err, yaml.constructor.ConstructorError
        ):  # well-formed YAML, but not a value we read
            return str(err.problem), line
        return f"YAML syntax error: {err.problem or err}", line
    return f"YAML syntax error: {err}", None


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
    text = read_text(path, ScenarioError, "a scenario file")
    if not text.strip():
        raise ScenarioError("file is empty", file=name)
    try:
        data, node = _parse(text)
    except (yaml.YAMLError, _Unsafe) as err:
        problem, line = _yaml_problem(err, text)
        raise ScenarioError(problem, file=name, line=line) from None
    except RecursionError:
        raise ScenarioError("YAML nesting is too deep", file=name) from None
    lines: dict[PathKey, tuple[str, int]] = {}
    if node is not None:
        _line_map(node, name, (), lines)
    return data, lines


#: Mappings that replace the parent's whole instead of merging into it: one that names its
#: ``type`` or ``dist`` is a new definition of a policy or a distribution, and a policy's
#: ``where`` and ``selector`` are sets (merging two sets would act on both).
TAG_KEYS = ("type", "dist")
SET_KEYS = ("where", "selector")


def _replaces(key: Any, value: dict) -> bool:
    # The tag is text: a parameter or policy *named* "type" holds a mapping.
    return key in SET_KEYS or any(isinstance(value.get(tag), str) for tag in TAG_KEYS)


def deep_merge(base: Any, override: Any) -> Any:
    """Merge `override` into `base`: mappings recursively, ``null`` deletes, the rest replaces.

    A mapping that `_replaces` is taken whole (its ``null`` values dropped), as are lists.
    """
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return deep_merge({}, override) if isinstance(override, dict) else override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged and isinstance(value, dict) and not _replaces(key, value):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = deep_merge({}, value) if isinstance(value, dict) else value
    return merged


def missing_deletions(base: Any, override: Any, prefix: PathKey = ()) -> list[tuple[PathKey, str]]:
    """Each ``null`` of `override` that deletes nothing in `base`, with the nearest key there."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return []
    out = []
    for key, value in override.items():
        path = (*prefix, str(key))
        if value is None and key not in base:
            out.append((path, closest(str(key), [str(k) for k in base]) or ""))
        elif isinstance(value, dict) and key in base and not _replaces(key, value):
            out.extend(missing_deletions(base[key], value, path))
    return out


def _refuse_missing_deletions(base: Any, override: Any, lines: dict) -> None:
    for path, match in missing_deletions(base, override):
        file, line = lines.get(path, ("--set", None))
        hint = f" (did you mean {match!r}?)" if match else ""
        raise ScenarioError(
            f"null deletes {path[-1]!r}, but there is no such key to delete{hint}",
            file=file,
            line=line,
            field_path=_dotted(path),
        )


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
    if data is None:
        raise ScenarioError("file has no content (only comments)", file=name)
    if not isinstance(data, dict):
        raise ScenarioError("the top level must be a mapping of fields", file=name, line=1)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return RawScenario(data, name, lines, (name,))
    line = lines.get(("extends",), (name, None))[1]
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ScenarioError("must be a file path", file=name, field_path="extends", line=line)
    parent_path = _extended_path(path, parent_ref, name, line)
    parent = load_raw(parent_path, (*_chain, resolved))
    _refuse_missing_deletions(parent.data, data, lines)
    merged = deep_merge(parent.data, data)
    merged_lines = {**parent.lines, **lines}
    return RawScenario(merged, name, merged_lines, (*parent.chain, name))


def _extended_path(child: Path, ref: str, name: str, line: int | None) -> Path:
    """The file an ``extends`` names: relative to the child's folder, an existing YAML file.

    Absolute paths are refused, so that a scenario means the same on every machine
    and in every checkout; ``..`` is allowed (counterfactuals extend their parent folder's
    files).
    """
    ref_path = Path(ref)
    if ref_path.is_absolute() or ref.startswith("~"):
        raise ScenarioError(
            f"{ref!r} is absolute; give the path relative to this file's folder",
            file=name,
            field_path="extends",
            line=line,
        )
    if ref_path.suffix.lower() not in YAML_SUFFIXES:
        raise ScenarioError(
            f"{ref!r} is not a scenario file (expected a .yaml or .yml file)",
            file=name,
            field_path="extends",
            line=line,
        )
    parent_path = child.parent / ref_path
    if not parent_path.is_file():
        raise ScenarioError(
            f"extended file {str(parent_path)!r} not found",
            file=name,
            field_path="extends",
            line=line,
        )
    return parent_path


def parse_overrides(assignments: Iterable[str]) -> dict[str, Any]:
    """Turn ``["demand.choice.hours_weight=0.2"]`` into a nested mapping for `deep_merge`."""
    nested: dict[str, Any] = {}
    for text in assignments:
        key, sep, value_text = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError(
                f"override {text!r} is not of the form path.to.field=value", file="--set"
            )
        parts = key.split(".")
        if not all(part.strip() for part in parts):
            raise ScenarioError(
                f"empty field name in the path {key!r}", file="--set", field_path=key
            )
        if not value_text.strip():
            raise ScenarioError(
                "empty value (write null to delete a field)", file="--set", field_path=key
            )
        try:
            value, _ = _parse(value_text)
        except (yaml.YAMLError, _Unsafe) as err:
            shown = value_text if len(value_text) <= 60 else value_text[:57] + "..."
            problem = _yaml_problem(err, value_text)[0].removeprefix("YAML syntax error: ")
            raise ScenarioError(
                f"cannot parse value {shown!r}: {problem}", file="--set", field_path=key
            ) from None
        except RecursionError:
            raise ScenarioError("YAML nesting is too deep", file="--set", field_path=key) from None
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part.strip(), {})
            if not isinstance(node, dict):
                raise ScenarioError("conflicting overrides", file="--set", field_path=key)
        node[parts[-1].strip()] = value
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
            match = closest(name, [str(p) for p in params])
            suffix = f" (did you mean '${match}'?)" if match else ""
            raise ScenarioError(
                f"unknown parameter '${name}'{suffix}",
                file=file,
                line=line,
                field_path=_dotted(path),
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
                    file=file,
                    line=line,
                    field_path=_dotted(path),
                )
            return value_of(match.group(1), path)
        return node

    return walk(raw.data, ())


def whole_number_uses(raw: RawScenario) -> dict[str, str]:
    """Parameters referenced by a whole-number field (e.g. lanes), each with one such field."""
    uses: dict[str, str] = {}

    def walk(node: Any, path: PathKey) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))
        elif isinstance(node, str) and (match := PARAM_REF.match(node)):
            held = _walk_types(Scenario, _schema_location(raw.data, path))[2]
            if _strip(held) is int:
                uses.setdefault(match.group(1), _dotted(path))

    walk(raw.data, ())
    return uses


def _schema_location(data: Any, path: PathKey) -> tuple:
    """`path` with the tag of each tagged union it crosses (as pydantic reports locations)."""
    loc: list[str | int] = []
    node = data
    for part in path:
        node = node[part] if isinstance(node, dict | list) else None
        loc.append(part)
        if isinstance(node, dict):
            tag = next((node[k] for k in ("type", "dist") if isinstance(node.get(k), str)), None)
            if tag is not None:
                loc.append(tag)
    return tuple(loc)


def _parts(dotted: str) -> PathKey:
    """``"a.b[2].c"`` -> ``("a", "b", 2, "c")``."""
    parts = [p for p in re.split(r"\.|\[(\d+)\]", dotted) if p]
    return tuple(int(p) if p.isdigit() else p for p in parts)


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _walk_types(annotation: Any, loc: tuple) -> tuple[list[str | int], type[BaseModel] | None, Any]:
    """Follow a pydantic error location through the schema types.

    Returns the location as the user wrote it (union tags dropped), the model class
    that holds the last element, for "did you mean" suggestions, and the type expected there.
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
                o
                for o in options
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
    return path, holder, current


def _union_tags(annotation: Any) -> list[str]:
    """The ``type``/``dist`` values a tagged union accepts."""
    annotation = _strip(annotation)
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return []
    options = [_strip(a) for a in typing.get_args(annotation)]
    return [
        t for o in options if isinstance(o, type) and issubclass(o, BaseModel) and (t := _tag(o))
    ]


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
        file, line = raw.locate(ctx_error.path)
        return ScenarioError(ctx_error.problem, file=file, line=line, field_path=ctx_error.path)
    path, holder, expected = _walk_types(Scenario, tuple(first["loc"]))
    file, line = raw.locate(path)
    kind = first["type"]
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else ""
        choices = _field_names(holder) if holder else []
        hint = did_you_mean(name, choices)
        problem = "unknown field" + hint
        if choices and not hint:
            problem += f"; valid fields: {', '.join(choices)}"
    elif kind == "missing":
        problem = "required field is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        ctx = first.get("ctx") or {}
        key = str(ctx.get("discriminator", "type")).strip("'")
        valid = ", ".join(repr(t) for t in _union_tags(expected)) or "see docs/scenario.md"
        if kind == "union_tag_not_found":
            problem = f"required field {key!r} is missing (one of: {valid})"
        else:
            given = str(ctx.get("tag", ""))
            match = closest(given, _union_tags(expected))
            hint = f"did you mean {match!r}? " if match else ""
            problem = f"unknown {key} {given!r} ({hint}valid: {valid})"
    else:
        value = first.get("input")
        msg = first["msg"].removeprefix("Value error, ")
        if isinstance(
            value, dict | list
        ):  # too long to show; say what it is when the type is wrong
            wrong_type = msg.startswith("Input should be")
            problem = (
                f"{msg} (got a {'mapping' if isinstance(value, dict) else 'list'})"
                if wrong_type
                else msg
            )
        else:
            shown = repr(value)[:60]
            problem = msg if isinstance(value, str) and shown in msg else f"{msg} (got {shown})"
    return ScenarioError(problem, file=file, line=line, field_path=_dotted(path) or None)


def validate(data: Mapping[str, Any], raw: RawScenario) -> Scenario:
    """Validate a merged, parameter-resolved mapping into a `Scenario`."""
    try:
        scenario = Scenario.model_validate(_with_posterior_path(data, raw))
    except ValidationError as err:
        raise _error_from_validation(err, raw) from None
    except RecursionError:
        raise ScenarioError("scenario nesting is too deep", file=raw.origin) from None
    scenario._raw = raw
    return scenario


def _with_posterior_path(data: Mapping[str, Any], raw: RawScenario) -> Mapping[str, Any]:
    """`data` with its ``posterior`` file found from the file that names it (or the cwd)."""
    ref = data.get("posterior") if isinstance(data, Mapping) else None
    if not isinstance(ref, str):
        return data
    file, line = raw.locate(("posterior",))
    folder = Path(file).parent if file not in ("--set", "<mapping>") else Path()
    path = (folder / ref).resolve()
    if not path.is_file():
        raise ScenarioError(
            f"no posterior file {ref!r} (looked for {path})",
            file=file,
            line=line,
            field_path="posterior",
        )
    return {**data, "posterior": str(path)}


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
    return load_with_origins(path, overrides)[0]


def load_with_origins(
    path: str | Path,
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> tuple[Scenario, RawScenario]:
    """`load_scenario`, also returning the merged mapping that knows each field's file and line."""
    return with_overrides(load_raw(path), overrides)


def with_overrides(
    raw: RawScenario, overrides: Iterable[str] | Mapping[str, Any] = ()
) -> tuple[Scenario, RawScenario]:
    """A scenario read before, with overrides merged over it (the files are not read again)."""
    extra = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    if extra:
        lines = dict(raw.lines)
        _mark_overrides(extra, (), lines)
        _refuse_missing_deletions(raw.data, extra, lines)
        raw = RawScenario(deep_merge(raw.data, extra), raw.origin, lines, raw.chain)
    scenario = validate(resolve_parameters(raw), raw)
    _check_whole_days(scenario, raw)
    return scenario, raw


def _check_whole_days(scenario: Scenario, raw: RawScenario) -> None:
    """Refuse a scenario file shorter than a day: its results are daily.

    A scenario built in Python, as the benchmarks' few-hour queues, may be shorter.
    """
    horizon = scenario.horizon
    if horizon.end - horizon.start < dt.timedelta(days=1):
        hours = (horizon.end - horizon.start).total_seconds() / 3600
        file, line = raw.locate(("horizon",))
        raise ScenarioError(
            f"the horizon lasts {hours:g} hours; at least a day is needed "
            "(results are kept per local day)",
            file=file,
            line=line,
            field_path="horizon",
        )


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
    if data.get("posterior") is None:  # as before posteriors existed: digests stay the same
        data.pop("posterior", None)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
