"""Arguments described once: a function's signature and numpy-style docstring as data.

The command line, the config file and the Python API take the same settings. Rather than
listing them again, they are read from where they are defined: ``build_minape``'s signature
and its ``Parameters`` section, ``TrainConfig``'s fields and its docstring. Each becomes an
:class:`Argument` (name, default, type, choices, help, section) from which the CLI makes its
flags and the config file checks its keys; a new ``build_minape`` argument reaches both
with no other edit.

:func:`from_source` reads a function from its module's source with :mod:`ast`, without
importing it, so that ``minape --help`` does not start TensorFlow; :func:`from_function`
reads a live function (the two agree: the tests check it).

Docstring conventions understood (numpy style)::

    name : int, default 8          type, then the default
        First sentence is the help.
    a, b : int or None             several names share one entry
    kind : {"x", "y"}, default "x" the choices (literals; anything else: no choices)

A line followed by a line of dashes starts a section (``Data``, ``Model``, ...).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
from dataclasses import dataclass

import yaml

_ENTRY = re.compile(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$")
_CHOICES = re.compile(r"\{([^{}]+)\}")
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass(frozen=True)
class Argument:
    """One documented argument.

    Attributes
    ----------
    name : str
    default : object
        ``inspect.Parameter.empty`` when there is none.
    type : type or None
        int, float, str or bool; ``None`` for anything else (dicts, lists, mixed).
    choices : tuple or None
        The allowed values when the docstring lists them as ``{...}`` literals.
    help : str
        The description's first sentence.
    section : str
        The docstring section it is listed under ("" when none).
    """

    name: str
    default: object
    type: type | None
    choices: tuple | None
    help: str
    section: str = ""


def parse_docstring(doc: str) -> dict:
    """``{name: (type text, description, section)}`` of a numpy-style docstring's entries."""
    lines = textwrap.dedent(doc or "").splitlines()
    if lines and lines[0].strip():                  # a summary on the opening line
        lines = [lines[0].strip()] + textwrap.dedent("\n".join(lines[1:])).splitlines()
    entries, current, section = {}, None, ""
    for i, line in enumerate(lines):
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and following and set(following) == {"-"}:
            section, current = line.strip(), None
            continue
        if set(line.strip()) == {"-"}:
            continue
        match = _ENTRY.match(line)
        if match and not line.startswith(" "):
            names = [n.strip() for n in match.group(1).split(",")]
            current = [names, match.group(2).strip(), []]
            for name in names:
                entries[name] = current
            current.append(section)
        elif current is not None and line.startswith(" "):
            current[2].append(line.strip())
        elif not line.strip():
            continue
        else:
            current = None
    return {name: (kind, " ".join(text), sec) for name, (_, kind, text, sec) in entries.items()}


def _type_part(kind_text):
    """``{"a", "b"}, default "a"`` -> ``{"a", "b"}``."""
    return re.split(r",\s*default\b", kind_text, maxsplit=1)[0]


def _choices(kind_text):
    match = _CHOICES.search(_type_part(kind_text))
    if not match:
        return None
    try:
        return tuple(ast.literal_eval(item.strip()) for item in match.group(1).split(","))
    except (ValueError, SyntaxError):
        return None


def _type(default, kind_text, choices):
    if choices is None and _CHOICES.search(_type_part(kind_text)):   # not all literals
        return str
    if choices:
        kinds = {type(c) for c in choices if c is not None}
        return kinds.pop() if len(kinds) == 1 else None
    if default is not None and default is not inspect.Parameter.empty:
        return type(default) if type(default) in _TYPES.values() else None
    first = _type_part(kind_text).replace(" or None", "").strip()
    return _TYPES.get(first)


def _first_sentence(text):
    """The first sentence, reStructuredText markup (````x````, ``:class:`x```) removed."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")
    return re.split(r"(?<!\be\.g)(?<!\bi\.e)\.\s", text, maxsplit=1)[0].rstrip(".")


def _arguments(defaults: dict, doc: str, skip) -> list:
    documented = parse_docstring(doc)
    result = []
    for name, default in defaults.items():
        if name in skip:
            continue
        kind_text, text, section = documented.get(name, ("", "", ""))
        choices = _choices(kind_text)
        result.append(Argument(name, default, _type(default, kind_text, choices), choices,
                               _first_sentence(text), section))
    return result


def from_function(function, skip=()) -> list:
    """The keyword arguments of a live function, with their docstring entries."""
    defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return _arguments(defaults, inspect.getdoc(function) or "", skip)


def from_source(path, function_name: str, skip=()) -> list:
    """The keyword arguments of ``function_name`` as defined in the Python file ``path``,
    read without importing it. Defaults must be literals."""
    with open(path) as f:
        tree = ast.parse(f.read(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function_name:
            break
    else:
        raise ValueError(f"{path}: no function {function_name!r}")
    args = node.args
    positional = args.posonlyargs + args.args
    padded = [inspect.Parameter.empty] * (len(positional) - len(args.defaults)) + [
        ast.literal_eval(d) for d in args.defaults]
    defaults = {a.arg: d for a, d in zip(positional, padded) if a not in args.posonlyargs}
    defaults.update({a.arg: inspect.Parameter.empty if d is None else ast.literal_eval(d)
                     for a, d in zip(args.kwonlyargs, args.kw_defaults)})
    return _arguments(defaults, ast.get_docstring(node) or "", skip)


def from_dataclass(cls, skip=()) -> list:
    """The fields of a dataclass (defaults from ``default`` / ``default_factory``), with the
    entries of its class docstring."""
    defaults = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
        else:
            defaults[f.name] = inspect.Parameter.empty
    return _arguments(defaults, cls.__doc__ or "", skip)


def key_value(text):
    """``"KEY=VALUE"`` -> ``(KEY, VALUE)``, the value read as YAML (numbers, lists, ...):
    the argparse type of ``-D`` options and the like."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


# Named settings that were once booleans read True and False as these names.
SWITCH = {True: "on", False: "off"}


def named_choice(name: str, value, choices) -> str:
    """``value`` as one of ``choices`` (names such as ``"auto"``, ``"on"``, ``"off"``): the
    one check of every setting that is a choice among names, so that no setting is a
    tri-state of ``True``, ``False`` and a string. ``True`` / ``False`` read as ``"on"`` /
    ``"off"`` where those are among the choices.

    Raises
    ------
    ValueError
        Naming the setting, the value and the choices.
    """
    if isinstance(value, bool) and SWITCH[value] in choices:
        value = SWITCH[value]
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}={value!r}; expected one of {tuple(choices)}")
    return value
