"""The ``minape`` command line: flags and config files, train -> evaluate, cv tables."""

import csv
import json

import numpy as np
import pytest
import yaml

from minape_tf.cli import build_parser, config_from_args, main

SMALL = ["--dataset", "demo", "-D", "n_tools=6", "-D", "runs_per_tool=6", "--width", "16",
         "--depth", "1", "--patch-size", "8", "--kernel-size", "3", "--batch-size", "8",
         "--verbose", "0"]


def _config(argv):
    return config_from_args(build_parser().parse_args(argv))


def test_flags_override_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"epochs": 7, "learning_rate": 0.01,
                                    "model": {"width": 64, "depth": 3}}))
    config = _config(["train", "--config", str(path), "--depth", "5", "--lr", "0.002",
                      "-D", "test_speakers=[theo]", "--group", "audio.n_mels=16",
                      "--clipnorm", "0", "--jit-compile", "off", "--no-augment",
                      "--out", "x"])
    assert config.epochs == 7 and config.learning_rate == 0.002
    assert config.model == {"width": 64, "depth": 5}
    assert config.dataset_options == {"test_speakers": ["theo"]}
    assert config.groups == {"audio": {"n_mels": 16}}
    assert config.clipnorm is None and config.jit_compile is False and config.augment is False


def test_unimplemented_commands_and_bad_input_exit_nonzero(tmp_path, capsys):
    assert main(["bench", "models"]) == 2
    assert "not implemented yet" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "e")]) == 1
    assert "no model.keras" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["evaluate", str(tmp_path / "nothing")]) == 1
    assert "no model.keras" in capsys.readouterr().err


@pytest.mark.slow
def test_train_then_evaluate_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "2", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert main(["evaluate", str(run), "--split", "val", "--no-latency"]) == 0
    out = run / "eval-demo-val"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["n_test"] > 0
    for name in ("report.md", "roc.png", "confusion.png", "training_curves.png"):
        assert (out / name).exists(), name
    # --split all: every observation of (here) a differently seeded demo collection
    assert main(["evaluate", str(run), "--split", "all", "-D", "n_tools=3",
                 "-D", "runs_per_tool=4", "--no-latency", "--out", str(tmp_path / "all")]) == 0
    assert json.loads((tmp_path / "all" / "metrics.json").read_text())["n_test"] == 12


@pytest.mark.slow
def test_cv_modalities_ablation_grouped(tmp_path):
    out = tmp_path / "cv"
    assert main(["cv", *SMALL, "--epochs", "1", "--trials", "1", "--folds", "3", "--grouped",
                 "--ablation", "modalities", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| Minape")]
    assert [r[2].strip() for r in rows] == ["i", "t", "m"]
    assert all("±" in r[8] for r in rows)                      # mean ± std over 3 folds
    with open(out / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert len(runs) == 9
    with open(out / "folds.csv") as f:
        folds = list(csv.DictReader(f))
    by_tool = {}
    for row in folds:                                          # no tool in two folds
        by_tool.setdefault(row["split_key"], set()).add(row["trial0"])
    assert all(len(v) == 1 for v in by_tool.values())
    with open(out / "table.csv") as f:
        assert len(list(csv.DictReader(f))) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert np.isfinite(summary[2]["accuracy_mean"]) and summary[2]["n_runs"] == 3


@pytest.mark.slow
def test_tune_from_the_command_line(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"width": [8, 16], "depth": [1], "kernel_size": [3],
                                     "patch_size": [8]}))
    out = tmp_path / "search"
    argv = ["tune", *SMALL, "--epochs", "1", "--max-trials", "2", "--search-space",
            str(space), "--out", str(out), "--strategy", "none"]
    assert main(argv) == 0
    saved = json.loads((out / "best.json").read_text())
    assert saved["hyperparameters"]["width"] in (8, 16)
    assert saved["hyperparameters"]["depth"] == 1
    assert str(out / "best.json") in capsys.readouterr().out


def test_a_misspelt_loader_option_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--dataset", "demo", "-D", "n_tool=3", "--out",
                 str(tmp_path / "run")]) == 1
    error = capsys.readouterr().err
    assert "unexpected keyword argument 'n_tool'" in error and "'n_tools'" in error


def test_skip_bad_flag_reaches_the_loader():
    assert _config(["train", "--dataset", "demo", "--skip-bad", "--out", "r"]).dataset_options \
        == {"skip_bad": True}
    assert _config(["train", "--dataset", "demo", "--out", "r"]).dataset_options == {}
