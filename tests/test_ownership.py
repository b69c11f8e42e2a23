"""Nothing lost, nothing mixed up: a command writes only into a folder that is new, empty or
its own, and refuses any other before any work, naming what is in it; a model file is
checked against what its run or export recorded; every operating-system error is one line;
a run says whether it was evaluated."""

import errno
import json
import os

import numpy as np
import pytest

from minape_tf.cli.main import main
from minape_tf.data import DataError
from minape_tf.deploy import export
from minape_tf.models.saving import load_model
from minape_tf.outputs.ownership import claim

TRAIN = ["train", "--dataset", "demo", "-D", "n_tools=4", "-D", "runs_per_tool=6",
         "--width", "8", "--depth", "1", "--kernel-size", "3", "--batch-size", "8",
         "--epochs", "1", "--verbose", "0"]


def _users_folder(root):
    """A folder of a user's own files, named as a run's files are."""
    root.mkdir()
    (root / "report.md").write_text("my notes")
    (root / "history.csv").write_text("day,value\n1,2\n")
    (root / "logs").mkdir()
    (root / "logs" / "day1.txt").write_text("day 1")
    return root


def _unchanged(root):
    assert (root / "report.md").read_text() == "my notes"
    assert (root / "history.csv").read_text() == "day,value\n1,2\n"
    assert (root / "logs" / "day1.txt").read_text() == "day 1"
    assert sorted(os.listdir(root)) == ["history.csv", "logs", "report.md"]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_train_refuses_a_folder_of_the_users_files_and_touches_none(tmp_path, capsys,
                                                                    overwrite):
    mine = _users_folder(tmp_path / "mine")
    assert main([*TRAIN, "--out", str(mine), *overwrite]) == 1
    err = capsys.readouterr().err
    assert f"{mine} holds files minape did not write (history.csv, logs, report.md)" in err
    assert "choose another --out" in err           # the library's "folder", in flag terms
    _unchanged(mine)


def test_every_command_refuses_a_folder_of_another_kind_or_a_file(tmp_path, tiny_run,
                                                                   capsys):
    out = tmp_path / "export"
    export(tiny_run, out, formats="tflite", quantizations=("float32",), verbose=False)
    assert main([*TRAIN, "--out", str(out)]) == 1                  # a run into an export
    assert f"{out} holds an export folder (export.json), not a run folder" in \
        capsys.readouterr().err
    with pytest.raises(FileExistsError, match="holds a run folder .config.json., not an "
                                              "export folder"):
        export(tiny_run, tiny_run, formats="tflite", verbose=False)   # an export into a run
    afile = tmp_path / "afile.txt"
    afile.write_text("mine")
    assert main(["export", str(tiny_run), "--out", str(afile)]) == 1
    assert f"{afile} is a file, not a folder" in capsys.readouterr().err
    assert afile.read_text() == "mine"
    mine = _users_folder(tmp_path / "mine")
    for command in (["cv", *TRAIN[1:], "--trials", "1", "--folds", "2"],
                    ["export", str(tiny_run)], ["demo", "--epochs", "1"],
                    ["evaluate", str(tiny_run), "--no-latency"]):
        assert main([*command, "--out", str(mine)]) == 1, command
        assert "did not write" in capsys.readouterr().err, command
        _unchanged(mine)


def test_a_killed_exports_files_may_be_replaced_but_nothing_else(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "m_float32.tflite").write_bytes(b"half")
    assert claim(folder, "export.json", unfinished=lambda p, e: e.endswith(".tflite")) == \
        "unfinished"
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"notes.txt"):
        claim(folder, "export.json", unfinished=lambda p, e: e.endswith(".tflite"))


def test_a_run_folders_model_replaced_after_the_run_is_refused_by_name(tmp_path, tiny_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    info = json.loads((run / "run.json").read_text())
    assert len(info["model_sha256"]) == 64 and not (run / "best.weights.h5").exists()
    load_model(run)
    keras_file = tmp_path / "other.keras"
    export_dir = tmp_path / "e"
    export(tiny_run, export_dir, formats="tflite", quantizations=("float32",),
           verbose=False)
    shutil.copy(run / "model.keras", keras_file)
    (run / "model.keras").write_bytes((run / "model.keras").read_bytes() + b"\0")
    with pytest.raises(DataError, match=r"model.keras: not the model run.json describes"):
        load_model(run)
    load_model(keras_file)                       # a .keras file alone is taken as it is


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOTDIR])
def test_operating_system_errors_are_one_line_naming_the_path(tmp_path, capsys, monkeypatch,
                                                              code):
    from minape_tf.outputs import run_folder

    def refused(self, config, plan):
        raise OSError(code, os.strerror(code), str(tmp_path / "run" / "config.json"))

    monkeypatch.setattr(run_folder.RunFolder, "start", refused)
    assert main([*TRAIN, "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"minape train: error: {tmp_path / 'run' / 'config.json'}: "
                   f"{os.strerror(code)}"]


def _manifest(root, splits):
    """A manifest of small gray images, two classes, with a ``split`` column."""
    from PIL import Image

    rows = ["photo,label,split"]
    for i, split in enumerate(splits):
        Image.fromarray(np.full((8, 8), (15 * i) % 256, np.uint8)).save(root / f"{i}.png")
        rows.append(f"{i}.png,{'ab'[i % 2]},{split}")
    (root / "m.csv").write_text("\n".join(rows) + "\n")
    return root / "m.csv"


SMALL_MODEL = ["--width", "8", "--depth", "1", "--patch-size", "4", "--kernel-size", "3",
               "--epochs", "1", "--verbose", "0"]


def test_library_warnings_print_as_one_line_without_source_paths(tmp_path, capsys):
    csv = _manifest(tmp_path, ["train"] * 12 + ["test"] * 4)     # no val rows: a warning
    assert main(["train", "--dataset", "manifest", "--data-dir", str(csv), *SMALL_MODEL,
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line.lower()]
    assert warnings and all(line.startswith("minape: warning: ") for line in warnings)
    assert ".py:" not in err and "UserWarning" not in err


def test_a_run_without_a_test_split_says_it_was_not_evaluated(tmp_path, capsys):
    from minape_tf.protocol.train_evaluate import NOT_EVALUATED

    csv = _manifest(tmp_path, ["train"] * 12 + ["val"] * 4)
    assert main(["train", "--dataset", "manifest", "--data-dir", str(csv), *SMALL_MODEL,
                 "--out", str(tmp_path / "run")]) == 0
    assert f"Test: {NOT_EVALUATED}" in capsys.readouterr().out
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["evaluation"] == NOT_EVALUATED and not (tmp_path / "run" / "metrics.json").exists()


def test_a_trained_but_unevaluated_run_points_to_minape_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*TRAIN, "--no-evaluate", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main([*TRAIN, "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "holds a trained run that was not evaluated" in err
    assert f"`minape evaluate {run}` completes it" in err and "--overwrite" in err


def test_an_export_whose_run_data_is_gone_is_written_without_agreement(tmp_path):
    """An export needs no data: where the run's data cannot be read, the agreement with
    Keras is not measured, and a warning says why."""
    data = tmp_path / "data"
    data.mkdir()
    csv = _manifest(data, ["train"] * 12 + ["val"] * 4 + ["test"] * 4)
    assert main(["train", "--dataset", "manifest", "--data-dir", str(csv), *SMALL_MODEL,
                 "--no-evaluate", "--out", str(tmp_path / "run")]) == 0
    data.rename(tmp_path / "moved")
    with pytest.warns(UserWarning, match="agreement with Keras not measured: the run's data "
                                         "cannot be read"):
        described = export(tmp_path / "run", tmp_path / "export", formats="tflite",
                           quantizations=("float32",), verbose=False)
    assert "agreement" not in described["files"]["tflite_float32"]
