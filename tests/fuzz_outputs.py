"""Generated cases of what a user's disk holds, and their oracles: output folders of every
kind and content, labels spelled several ways, model files swapped, cut or changed after
an export, and operating-system errors at a write. Each case ends in its documented
outcome or is refused naming the file; a traceback, a touched user file or a wrong model
read is a failure. ``tests/test_fuzz_outputs.py`` runs a few hundred in CI;

    python tests/fuzz_outputs.py [--examples 5000] [--seed 0]

runs thousands and prints JSON (cases, outcomes, failures, seconds, the machine).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hypothesis import strategies as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("config.json", "export.json", "cv.json", "tune.json")


class Failure(AssertionError):
    """A case that did not end as documented."""


def expect(condition, message):
    if not condition:
        raise Failure(message)


# ----------------------------------------------------------------------------- folders

@dataclass
class FolderCase:
    marker: str
    entries: list             # (name, is_folder)
    path_is_file: bool


_NAMES = st.sampled_from(["report.md", "history.csv", "logs", "model.keras", "notes.txt",
                          "m_float32.tflite", "m.onnx", "m", "data.npy", "eval-x",
                          *MARKERS, ".minape.lock", ".x.partial-12.json", "ü ñ.txt"])


def folder_cases():
    return st.builds(FolderCase, marker=st.sampled_from(MARKERS),
                     entries=st.lists(st.tuples(_NAMES, st.booleans()), max_size=6,
                                      unique_by=lambda e: e[0]),
                     path_is_file=st.booleans())


def _exported(folder, entry):
    from minape_tf.outputs.export_folder import _exported as exported

    return exported(folder, entry)


def run_folder_case(case, tmp):
    from minape_tf.outputs.ownership import claim

    path = os.path.join(tmp, "out")
    if case.path_is_file:
        Path(path).write_text("mine")
    else:
        os.makedirs(path)
        for name, is_folder in case.entries:
            target = os.path.join(path, name)
            os.makedirs(target) if is_folder else Path(target).write_text("x")
    before = sorted(os.walk(path)) if os.path.isdir(path) else None
    visible = sorted(n for n, _ in case.entries if n not in (".minape.lock",)
                     and ".partial-" not in n)
    unfinished = _exported if case.marker == "export.json" else None
    try:
        outcome = claim(path, case.marker, unfinished=unfinished)
    except FileExistsError as error:
        message = str(error)
        expect(path in message, f"the refusal does not name the folder: {message}")
        expect(case.path_is_file or visible, f"refused an empty folder: {message}")
        expect(case.marker not in visible or case.path_is_file,
               f"refused its own folder: {message}")
        expect(before is None or sorted(os.walk(path)) == before, "the folder was changed")
        return "refused"
    expect(not case.path_is_file, f"a file was taken for a folder ({outcome})")
    expect(outcome in ("empty", "ours", "unfinished"), f"unknown outcome {outcome}")
    if outcome == "empty":
        expect(not visible, f"'empty' with entries {visible}")
    if outcome == "ours":
        expect(case.marker in visible, "'ours' without the marker")
    if outcome == "unfinished":
        expect(all(_exported(path, n) for n in visible), f"'unfinished' with {visible}")
    other = [m for m in MARKERS if m in visible and m != case.marker]
    expect(not other or case.marker in visible, f"accepted a folder of {other}")
    expect(sorted(os.walk(path)) == before, "the folder was changed")
    return "accepted"


# ----------------------------------------------------------------------------- labels

def _meaning(spelling):
    """An independent reading of a label: a number by its value, a name without case and
    surrounding spaces."""
    text = spelling.strip()
    try:
        value = Decimal(text)
        if value.is_finite():
            return ("number", value.normalize())
    except InvalidOperation:
        pass
    return ("name", text.casefold())


_SPELLINGS = st.one_of(st.sampled_from(["1", "01", "1.0", " 1", "1e0", "2", "02.00", "-0",
                                        "0", "Sharp", "sharp ", "SHARP", "used", "Used",
                                        "nan", "inf", "x1"]),
                       st.integers(-3, 12).map(str),
                       st.text("abAB ", min_size=1, max_size=3).filter(str.strip))


def label_cases():
    return st.lists(_SPELLINGS, min_size=1, max_size=8)


def run_label_case(labels, tmp):
    from minape_tf.data import DataError
    from minape_tf.data.loaders.manifest import check_label_spellings

    body = [(k + 2, [f"{k}.png", label]) for k, label in enumerate(labels)]
    distinct = {}
    for spelling in labels:
        distinct.setdefault(_meaning(spelling), set()).add(spelling)
    clashes = [s for s in distinct.values() if len({x for x in s}) > 1]
    try:
        check_label_spellings("m.csv", ["photo", "label"], body)
    except DataError as error:
        expect(clashes, f"refused {labels} that mean different classes: {error}")
        expect("m.csv" in str(error), "the refusal does not name the file")
        first = sorted(clashes[0])
        expect(any(repr(s) in str(error) for s in first), f"the spellings are not named: "
                                                           f"{error}")
        return "refused"
    expect(not clashes, f"{labels}: {clashes} were taken as different classes")
    return "accepted"


# ----------------------------------------------------------------------------- model files

@dataclass
class FileCase:
    key: str
    damage: str               # swap, truncate, flip, append, delete, none
    where: float              # position of the cut or changed byte, as a share of the file


def file_cases(keys):
    return st.builds(FileCase, key=st.sampled_from(sorted(keys)),
                     damage=st.sampled_from(["swap", "truncate", "flip", "append", "delete",
                                             "none"]),
                     where=st.floats(0, 1, exclude_max=True))


def make_export(tmp):
    """A tiny exported model (float32 TFLite, ONNX, SavedModel) to damage copies of."""
    import keras

    from minape_tf import SeriesGroup, build_minape
    from minape_tf.deploy import export

    group = SeriesGroup("audio", channels=1, sample_rate=8000, length=2048, n_fft=256,
                        hop=128, n_mels=16)
    keras.utils.set_random_seed(0)
    build_minape([group], 3, width=8, depth=1, patch_size=4, kernel_size=3,
                 class_names=["a", "b", "c"]).save(os.path.join(tmp, "m.keras"))
    export(os.path.join(tmp, "m.keras"), os.path.join(tmp, "export"),
           quantizations=("float32",), verbose=False)
    return os.path.join(tmp, "export")


def _damage(folder, info, case):
    entry = info["files"][case.key]
    path = os.path.join(folder, entry["path"])
    if os.path.isdir(path):
        path = os.path.join(path, "saved_model.pb")
    data = Path(path).read_bytes()
    at = int(case.where * len(data))
    if case.damage == "swap":
        other = next(f for k, f in sorted(info["files"].items())
                     if k != case.key and os.path.isfile(os.path.join(folder, f["path"])))
        Path(path).write_bytes(Path(folder, other["path"]).read_bytes())
    elif case.damage == "truncate":
        Path(path).write_bytes(data[:at])
    elif case.damage == "flip":
        Path(path).write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    elif case.damage == "append":
        Path(path).write_bytes(data + b"\0")
    elif case.damage == "delete":
        os.remove(path)
    return path


def run_file_case(case, tmp, export_dir):
    from minape_tf.data import DataError
    from minape_tf.deploy.predictor import load_predictor
    from minape_tf.outputs.export_folder import ExportFolder, model_keys

    folder = os.path.join(tmp, "copy")
    shutil.copytree(export_dir, folder)
    info = ExportFolder(folder).read()
    damaged = _damage(folder, info, case)
    use = case.key if case.key in model_keys(info["files"]) else "tflite_float32"
    try:
        load_predictor(folder, use=use)
        ExportFolder(folder).path_of(info, case.key)
    except (DataError, FileNotFoundError) as error:
        expect(case.damage != "none", f"an intact file was refused: {error}")
        name = os.path.basename(os.path.dirname(damaged)) if damaged.endswith(".pb") else \
            os.path.basename(damaged)
        expect(name in str(error), f"the refusal does not name {name}: {error}")
        return "refused"
    expect(case.damage == "none", f"{case.damage} of {case.key} was not noticed")
    return "accepted"


# ----------------------------------------------------------------------------- write errors

@dataclass
class WriteCase:
    code: int
    kind: str                 # file, json, folder
    replacing: bool
    step: str                 # the call that fails: opening the temporary file, or renaming
    size: int                 # bytes written


def write_cases():
    return st.builds(WriteCase, code=st.sampled_from([errno.EROFS, errno.EACCES,
                                                      errno.ENOTDIR, errno.ENOSPC, errno.EIO]),
                     kind=st.sampled_from(["file", "json", "folder"]),
                     replacing=st.booleans(), step=st.sampled_from(["open", "replace"]),
                     size=st.integers(0, 100_000))


def run_write_case(case, tmp):
    from unittest import mock

    from minape_tf.cli.main import os_error_line
    from minape_tf.outputs import atomic

    path = os.path.join(tmp, "out", "metrics.json" if case.kind != "folder" else "m")
    os.makedirs(os.path.dirname(path))
    if case.replacing:
        os.makedirs(path) if case.kind == "folder" else Path(path).write_text("old")
    before = sorted(os.walk(os.path.dirname(path)))

    def refuse(*args, **kwargs):
        raise OSError(case.code, os.strerror(case.code), str(args[-1] if case.step ==
                                                            "replace" else args[0]))

    def make(folder):          # a folder's writer opens its files itself
        if case.step == "open":
            refuse(folder)
        os.makedirs(folder)
        Path(folder, "saved_model.pb").write_bytes(b"p" * case.size)

    target = (mock.patch.object(atomic.os, "replace", refuse) if case.step == "replace" else
              mock.patch.object(atomic, "open", refuse, create=True))
    with target:
        try:
            if case.kind == "file":
                atomic.write_bytes(path, b"n" * case.size)
            elif case.kind == "json":
                atomic.write_json(path, {"values": "v" * case.size})
            else:
                with atomic.atomic_path(path) as temporary:
                    make(temporary)
        except OSError as error:
            line = os_error_line(error) if not isinstance(error, atomic.DiskFullError) \
                else str(error)
            expect("\n" not in line and tmp in line, f"not one line naming the path: {line}")
            expect(".partial-" not in line, f"the message names a temporary file: {line}")
            expect(sorted(os.walk(os.path.dirname(path))) == before,
                   "a partial file was left, or the old one lost")
            expect((case.code == errno.ENOSPC) == isinstance(error, atomic.DiskFullError),
                   f"errno {case.code} became {type(error).__name__}")
            return "refused"
    raise Failure(f"errno {case.code} at the rename went unnoticed")


# ----------------------------------------------------------------------------- runner

BATTERIES = ("folders", "labels", "files", "writes")


def run_battery(name, examples, seed, failures, keep, export_dir=None):
    """Run ``examples`` cases of one battery (each in a fresh folder); returns its counts."""
    from fuzz_inputs import play
    from minape_tf.outputs.export_folder import ExportFolder

    strategies = {"folders": folder_cases, "labels": label_cases, "writes": write_cases}
    strategy = (file_cases(ExportFolder(export_dir).read()["files"]) if name == "files"
                else strategies[name]())

    def run(case):
        with tempfile.TemporaryDirectory() as tmp:
            return run_case(name, case, tmp, export_dir)

    counts = {"cases": 0, "accepted": 0, "refused": 0, "failures": 0}
    return play(name, strategy, run, counts, examples, seed, failures, keep, Failure)


def run_case(name, case, tmp, export_dir=None) -> str:
    if name == "folders":
        return run_folder_case(case, tmp)
    if name == "labels":
        return run_label_case(case, tmp)
    if name == "files":
        return run_file_case(case, tmp, export_dir)
    return run_write_case(case, tmp)


def main(argv=None):
    from fuzz_inputs import report
    from minape_tf.evaluation.machine import describe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="cases in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=int, default=20, help="failures listed in full")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "scripts" / "results" / "fuzz_outputs_cpu.json")
    args = parser.parse_args(argv)
    failures, batteries, start = [], {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = make_export(tmp)
        for name in BATTERIES:
            batteries[name] = run_battery(name, args.examples // len(BATTERIES), args.seed,
                                          failures, args.keep, export_dir)
            print(f"{name}: {json.dumps(batteries[name])}", file=sys.stderr, flush=True)
    return report("tests/fuzz_outputs.py", argv, args, batteries, start, describe(),
                  failures)


if __name__ == "__main__":
    raise SystemExit(main())
