"""The package's shape: no import cycle between files or between its parts, training never
imports evaluation, and the command line made from the builders' and the config's own
definitions (one edit adds a flag and a config-file key)."""

import ast
import inspect
from pathlib import Path

import pytest
import yaml

import minape_tf
from minape_tf import arguments
from minape_tf.models.registry import BUILDERS, NOT_ARGUMENTS, Entry, builder_arguments
from minape_tf.cli.main import build_parser, config_from_args
from minape_tf.training.config import TrainConfig, load_config

PACKAGE = Path(minape_tf.__file__).parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """``{module: {modules it imports}}`` over every file of the package, function-local
    imports included (a cycle hidden in a function is still a cycle). ``from pkg import
    name`` counts as importing ``pkg.name`` when that is a module; imports of a module's
    own ancestor packages are left out (Python imports those first anyway)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level
                                                        + 1] + ([base] if base else []))
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                            for a in node.names}
        graph[name] = {t for t in targets if t in files and t != name
                       and not name.startswith(t + ".")}
    return graph


def find_cycle(graph):
    """One cycle of ``graph`` as a list of nodes, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def part(module):
    """The part of the package a module belongs to: its sub-package, or itself."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else None


def test_no_import_cycle_between_files():
    graph = import_graph()
    assert len(graph) > 40 and "minape_tf.training.run" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_import_cycle_between_parts_and_training_below_evaluation():
    parts = {}
    for module, targets in import_graph().items():
        if part(module):
            parts.setdefault(part(module), set()).update(
                part(t) for t in targets if part(t) and part(t) != part(module))
    assert find_cycle(parts) is None, " -> ".join(find_cycle(parts))
    assert "evaluation" not in parts["training"] and "protocol" not in parts["training"]
    assert "training" not in parts["data"] and "cli" not in parts["protocol"]


def test_the_find_cycle_check_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_builder_arguments_read_from_source_match_the_function():
    from minape_tf.models.minape import build_minape

    live = arguments.from_function(build_minape, skip=NOT_ARGUMENTS)
    assert list(builder_arguments("minape")) == live


def _option_strings(parser, command):
    sub = next(a for a in parser._subparsers._group_actions if a.dest == "command")
    return {s for action in sub.choices[command]._actions for s in action.option_strings}


def test_every_builder_argument_and_config_field_has_a_flag():
    from minape_tf.models.minape import build_minape

    parameters = set(inspect.signature(build_minape).parameters) - set(NOT_ARGUMENTS)
    parser = build_parser()
    for command in ("train", "cv", "tune"):
        flags = _option_strings(parser, command)
        for name in parameters:
            assert {f"--{name.replace('_', '-')}", f"--no-{name.replace('_', '-')}"} & flags, \
                (command, name)
        for field in TrainConfig.__dataclass_fields__:
            if field not in ("dataset_options", "groups", "model"):
                assert {f"--{field.replace('_', '-')}", f"--no-{field.replace('_', '-')}"} \
                    & flags, (command, field)


TOY = '''
def build_toy(groups, num_classes, *, width=4, gamma=0.5, mode="a", name="toy"):
    """A toy builder.

    Parameters
    ----------
    groups : list
    num_classes : int
    width : int, default 4
        Channels.
    gamma : float, default 0.5
        A new knob. Larger is smoother.
    mode : {"a", "b"}, default "a"
        Which way.
    name : str, default "toy"
    """
'''


def test_a_new_builder_argument_needs_one_edit(tmp_path, monkeypatch):
    """A builder's argument, written once in its signature and docstring, is a flag (help,
    default, choices) and a config-file key, with nothing else edited."""
    (tmp_path / "toy_builder.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(BUILDERS, "toy", Entry("toy_builder:build_toy", "all", "Toy"))
    builder_arguments.cache_clear()
    try:
        parser = build_parser()
        assert {"--gamma", "--mode"} <= _option_strings(parser, "train")
        args = parser.parse_args(["train", "--dataset", "demo", "--model", "toy", "--gamma",
                                  "0.25", "--mode", "b", "--out", "x"])
        config = config_from_args(args)
        assert config.architecture == "toy" and config.model == {"gamma": 0.25, "mode": "b"}
        with pytest.raises(SystemExit):                           # a choice the doc lists
            parser.parse_args(["train", "--model", "toy", "--mode", "c", "--out", "x"])
        path = tmp_path / "toy.yaml"
        path.write_text(yaml.safe_dump({"dataset": "demo", "architecture": "toy",
                                        "model": {"gamma": 2.0}}))
        assert load_config(str(path)).model == {"gamma": 2.0}
        with pytest.raises(ValueError, match=r"unknown toy arguments \['delta'\]"):
            TrainConfig(architecture="toy", model={"delta": 1})
        [gamma] = [a for a in builder_arguments("toy") if a.name == "gamma"]
        assert (gamma.default, gamma.type, gamma.help) == (0.5, float, "A new knob")
    finally:
        builder_arguments.cache_clear()


def test_docstring_entries_with_sections_and_shared_names():
    doc = """Summary.

    Data
    ----
    a, b : int or None, default None
        Two at once. More text.
    kind : {"x", None}, default "x"
        e.g. this one.
    """
    entries = arguments.parse_docstring(doc)
    assert entries["a"] == entries["b"] == ("int or None, default None",
                                            "Two at once. More text.", "Data")
    assert entries["kind"][0] == '{"x", None}, default "x"'


def test_the_data_sets_the_config_documents_are_the_registered_ones():
    from minape_tf.data.registry import DATASETS

    [dataset] = [a for a in arguments.from_dataclass(TrainConfig) if a.name == "dataset"]
    listed = dataset.help.split(":", 1)[1].replace(" ", "").split(",")
    assert sorted(listed) == sorted(DATASETS)
