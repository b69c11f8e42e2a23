"""The ``minape`` command line: flags and config files, train -> evaluate, cv tables."""

import csv
import json

import numpy as np
import pytest
import yaml

from minape_tf.cli.main import build_parser, config_from_args, main
from minape_tf.protocol.tables import TABLE3_COLUMNS

SMALL = ["--dataset", "demo", "-D", "n_tools=6", "-D", "runs_per_tool=6", "--width", "16",
         "--depth", "1", "--patch-size", "8", "--kernel-size", "3", "--batch-size", "8",
         "--verbose", "0"]


def _config(argv):
    return config_from_args(build_parser().parse_args(argv))


def test_flags_override_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"epochs": 7, "learning_rate": 0.01,
                                    "model": {"width": 64, "depth": 3}}))
    config = _config(["train", "--dataset", "fsdd", "--config", str(path), "--depth", "5",
                      "--lr", "0.002",
                      "-D", "test_speakers=[theo]", "--group", "audio.n_mels=16",
                      "--clipnorm", "0", "--jit-compile", "off", "--no-augment",
                      "-A", "stretch=0.1", "--augmentation", "noise_snr_db=[10, 30]",
                      "--out", "x"])
    assert config.epochs == 7 and config.learning_rate == 0.002
    assert config.model == {"width": 64, "depth": 5}
    assert config.dataset_options == {"test_speakers": ["theo"]}
    assert config.groups == {"audio": {"n_mels": 16}}
    assert config.clipnorm is None and config.jit_compile == "off" and config.augment is False
    assert config.augmentation == {"stretch": 0.1, "noise_snr_db": [10, 30]}


def test_options_go_before_between_and_after_the_files():
    parse = build_parser().parse_args
    for line in (["predict", "EXPORT", "--use", "tflite_int8", "a.wav", "b.wav"],
                 ["predict", "--use", "tflite_int8", "EXPORT", "a.wav", "--json", "b.wav"],
                 ["predict", "EXPORT", "a.wav", "b.wav", "--use", "tflite_int8"]):
        args = parse(line)
        assert (args.model, args.files, args.use) == ("EXPORT", ["a.wav", "b.wav"],
                                                      "tflite_int8"), line
    args = parse(["adapt", "RUN", "x.wav", "--out", "new.keras", "y.wav", "--self-train"])
    assert (args.files, args.out, args.self_train) == (["x.wav", "y.wav"], "new.keras", True)
    with pytest.raises(SystemExit):                  # an unknown flag is still refused
        parse(["predict", "EXPORT", "a.wav", "--usee", "tflite_int8"])
    assert parse(["bench", "models", "--json", "x"]).rest == ["--json", "x"]   # passed on


HISTORIES = ["--sequence-length", "4", "--learner", "tempmixer", "--width", "16", "--depth",
             "1", "--kernel-size", "3", "--verbose", "0"]


@pytest.mark.slow
def test_device_histories_train_evaluate_and_are_refused_by_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "demo", "-D", "n_tools=10", "-D", "runs_per_tool=12",
                 "-D", "image_size=32", *HISTORIES, "--patch-size", "4", "--batch-size", "8",
                 "--epochs", "6", "--lr", "3e-3", "--no-augment", "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    # 3 wear classes on 2 unseen tools (24 windows): chance is about 1/3
    assert metrics["n_test"] == 24 and metrics["accuracy"] > 0.6
    assert main(["evaluate", str(run), "--split", "val", "--no-latency"]) == 0
    assert json.loads((run / "eval-demo-val" / "metrics.json").read_text())["n_test"] == 24
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "photo.png")]) == 1
    assert "device histories (sequence_length=4)" in capsys.readouterr().err


@pytest.mark.slow
def test_device_histories_on_the_mudestreda_sample_layout(tmp_path, mudestreda_dir):
    run = tmp_path / "run"    # 9 observations, one tool per split: only that it runs
    assert main(["train", "--dataset", "mudestreda", "--data-dir", str(mudestreda_dir),
                 *HISTORIES, "--patch-size", "16", "--batch-size", "4", "--epochs", "1",
                 "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 3 and 0 <= metrics["accuracy"] <= 1
    assert json.loads((run / "run.json").read_text())["model_kwargs"]["sequence_length"] == 4


def test_bad_input_exits_nonzero(tmp_path, capsys):
    with pytest.raises(SystemExit):                   # argparse: an unknown benchmark
        main(["bench", "nothing"])
    assert "invalid choice" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "e")]) == 1
    assert "no model.keras" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["evaluate", str(tmp_path / "nothing")]) == 1
    assert "no model.keras" in capsys.readouterr().err


@pytest.mark.slow
def test_train_then_evaluate_from_the_command_line(tmp_path, capsys):
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
    metrics = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert metrics["n_test"] == 12
    # the demo's groups are its tools: each one's accuracy, in metrics, report and console
    assert sorted(metrics["per_group"]) == ["T1", "T2", "T3"]
    assert sum(g["n"] for g in metrics["per_group"].values()) == 12
    assert "## Per group" in (tmp_path / "all" / "report.md").read_text()
    assert "Per group:\n  T1: accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_cv_modalities_ablation_grouped(tmp_path):
    out = tmp_path / "cv"
    assert main(["cv", *SMALL, "--epochs", "1", "--trials", "1", "--folds", "3", "--grouped",
                 "--ablation", "modalities", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| Minape")]
    assert [r[2].strip() for r in rows] == ["i", "t", "m"]
    accuracy = 1 + TABLE3_COLUMNS.index("Accuracy")
    assert all("±" in r[accuracy] for r in rows)               # mean ± std over 3 folds
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


# --- a quiet, quick command line; nothing silent --------------------------------------

def _python(code, **env):
    """Run ``code`` in a fresh interpreter; its stdout + stderr."""
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=600)
    return done.returncode, done.stdout, done.stderr


HEAVY = "sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax'})"


def test_help_and_argument_errors_do_not_import_tensorflow():
    code = f"""
import sys
from minape_tf.cli.main import main
for argv in (["--help"], ["train", "--help"], ["cv", "--help"],
             ["train", "--dataset", "demo", "--fusion", "nonsense", "--out", "x"]):
    try:
        main(argv)
    except SystemExit as exit:
        print("exit", exit.code)
print("missing dataset", main(["train", "--out", "x"]))
print("bad epochs", main(["train", "--dataset", "demo", "--epochs", "0", "--out", "x"]))
print("balanced alone", main(["evaluate", "x", "--balanced"]))
print("heavy", {HEAVY})
"""
    code_, out, err = _python(code)
    assert code_ == 0, err
    assert out.count("exit 0") == 3 and "exit 2" in out
    assert "invalid choice: 'nonsense'" in err
    assert "missing dataset 2" in out and "--dataset is required" in err
    assert "bad epochs 1" in out and "--epochs 0" in err
    assert "balanced alone 2" in out and "--balanced is a setting of --self-train" in err
    assert "heavy []" in out


def test_model_and_training_errors_come_before_any_data_is_read(tmp_path, monkeypatch,
                                                                 capsys):
    from minape_tf.data import registry

    def no_data(*args, **kwargs):
        raise AssertionError("the data set was read")

    monkeypatch.setitem(registry.DATASETS, "demo", no_data)
    for flags, message in ((["--width", "0"], "--width 0"),
                           (["--depth", "-1"], "--depth -1"),
                           (["--dropout", "1.5"], "--dropout 1.5"),
                           (["--preset", "nope"], "preset 'nope' is not known"),
                           (["-A", "pitch=0.1"], "augmentation ['pitch']: not known"),
                           (["-A", "stretch=2"], "augmentation stretch=2")):
        assert main(["train", "--dataset", "demo", *flags, "--out", str(tmp_path / "r")]) == 1
        assert message in capsys.readouterr().err, flags
    assert not (tmp_path / "r").exists()


def test_a_model_setting_at_the_top_of_a_config_file_gets_a_hint(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("dataset: demo\nwidth: 32\nepochs: 3\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r")]) == 1
    error = capsys.readouterr().err
    assert "unknown config keys ['width']" in error and "go under `model:`" in error


def _series_manifest(tmp_path, rows):
    """A manifest of small .npy series: ``rows`` of (label, split)."""
    rng = np.random.default_rng(0)
    lines = ["signal,label,split"]
    for i, (label, split) in enumerate(rows):
        np.save(tmp_path / f"s{i}.npy", rng.standard_normal((4096, 1)).astype(np.float32))
        lines.append(f"s{i}.npy,{label},{split}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "manifest.csv"


def test_a_class_only_in_the_test_split_is_an_error(tmp_path, capsys):
    rows = [(c, s) for c in "01" for s in ("train",) * 4 + ("val", "test")] + [("9", "test")]
    csv_path = _series_manifest(tmp_path, rows)
    assert main(["train", "--dataset", "manifest", "--data-dir", str(csv_path), "-D",
                 "sample_rate=1000", "--width", "8", "--depth", "1", "--patch-size", "2",
                 "--out", str(tmp_path / "r")]) == 1
    error = capsys.readouterr().err
    assert "class '9' is in test but not in train" in error
    assert not (tmp_path / "r" / "config.json").exists()


def test_class_names_are_strings_whatever_yaml_made_of_them(tmp_path):
    from minape_tf.data.registry import load_dataset

    csv_path = _series_manifest(tmp_path, [(c, "train") for c in "0101"])
    loaded = load_dataset("manifest", str(csv_path), sample_rate=1000,
                          classes=yaml.safe_load("[0, 1]"))
    assert loaded.source.classes == ["0", "1"]
    assert loaded.source.labels.tolist() == [0, 1, 0, 1]


@pytest.mark.slow
def test_skips_are_said_on_the_console(tmp_path, capsys):
    rows = [(c, s) for c in "01" for s in ("train",) * 4 + ("val", "test")]
    csv_path = _series_manifest(tmp_path, rows)
    with open(csv_path, "a") as f:
        f.write("missing.npy,0,train\n")
    argv = ["train", "--dataset", "manifest", "--data-dir", str(csv_path), "-D",
            "sample_rate=1000", "--width", "8", "--depth", "1", "--patch-size", "2",
            "--epochs", "1", "--verbose", "0", "--no-evaluate"]
    assert main([*argv, "--out", str(tmp_path / "strict")]) == 1
    assert "pass --skip-bad to leave them out" in capsys.readouterr().err
    assert main([*argv, "--skip-bad", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "Skipped 1 bad observation(s) (--skip-bad" in out and "missing.npy" in out


@pytest.mark.slow
def test_cv_rerun_reuses_the_same_model_and_refuses_another(tmp_path, capsys):
    """(``--overwrite`` reruns it: the same folder check as a run's, tested there.)"""
    out = tmp_path / "cv"
    argv = ["cv", *SMALL, "--epochs", "1", "--trials", "1", "--folds", "3", "--out", str(out)]
    assert main(argv) == 0
    first = (out / "base" / "trial0" / "fold0" / "model.keras").stat().st_mtime_ns
    table = (out / "table.md").read_text()
    assert main(argv) == 0                                            # same model: reused
    assert (out / "base" / "trial0" / "fold0" / "model.keras").stat().st_mtime_ns == first
    assert (out / "table.md").read_text() == table
    capsys.readouterr()
    changed = [a if a != "16" else "8" for a in argv]                  # --width 8
    assert main(changed) == 1                                          # another: refused
    error = capsys.readouterr().err
    assert "model.width: 16 -> 8" in error and "pass --overwrite" in error
    assert (out / "table.md").read_text() == table


@pytest.mark.slow
def test_quiet_console_and_load_model_in_a_fresh_process(tmp_path):
    run = tmp_path / "run"
    code = f"""
from minape_tf.cli.main import main
main({["train", *SMALL, "--epochs", "1", "--no-evaluate", "--out", str(run)]!r})
"""
    status, out, err = _python(code)
    assert status == 0, err
    console = out + err
    for line in ("cuda", "absl", "I0000", "E0000", "W0000", "oneDNN"):
        assert line not in console, console
    assert "Run folder:" in out
    status, out, err = _python(f"""
import minape_tf
model = minape_tf.load_model({str(run)!r})
print("params", model.count_params())
""")
    assert status == 0, err
    assert "params" in out


@pytest.mark.slow
def test_a_training_with_its_evaluation_prints_no_tensorflow_warning(tmp_path):
    """The test split's tools are evaluated one after another (adapted accuracies): one
    traced prediction serves them all, so TensorFlow has no retracing to warn of."""
    args = [*SMALL, "-D", "n_tools=20", "-D", "runs_per_tool=3", "--epochs", "1"]
    status, out, err = _python(f"""
from minape_tf.cli.main import main
main({["train", *args, "--out", str(tmp_path / "run")]!r})
""")
    assert status == 0, err
    tools = json.loads((tmp_path / "run" / "metrics.json").read_text())["per_group"]
    assert len(tools) >= 4       # with the plain prediction, the five calls TF warns at
    assert "WARNING" not in out + err and "retracing" not in out + err, out + err
    assert out.startswith("\nRun folder:") and "Test: accuracy" in out


def test_help_lists_the_recipe_flags_with_their_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())      # argparse wraps lines
    for flag, default in (("--learner-dropout", "0.1"), ("--learner-units", "256"),
                          ("--depthwise", "auto"), ("--sequence-length", "1")):
        assert flag in text and f"(default {default})" in text.split(flag)[-1][:400], flag
    assert "--steps STEPS" in text and "3,000" in text
    config = _config(["train", "--dataset", "demo", "--steps", "3000", "--learner-dropout",
                      "0.2", "--depthwise", "matmul", "--sequence-length", "4", "--out", "x"])
    assert config.steps == 3000
    assert config.model == {"learner_dropout": 0.2, "depthwise": "matmul",
                            "sequence_length": 4}


@pytest.mark.slow
def test_cv_leave_one_group_out_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "loso"
    assert main(["cv", *SMALL, "-D", "n_tools=3", "--epochs", "1", "--trials", "1",
                 "--leave-one-group-out", "--out", str(out)]) == 0
    console = capsys.readouterr().out
    for k, tool in enumerate(("T1", "T2", "T3")):           # the demo's groups: its tools
        assert f"fold {k + 1}/3 ({tool}): accuracy" in console
    with open(out / "runs.csv") as f:
        assert [r["group"] for r in csv.DictReader(f)] == ["T1", "T2", "T3"]
    table = (out / "table.md").read_text()
    assert "leave-one-group-out (3 groups)" in table
    assert "| mean of 3 |" in table and "| worst: T" in table
    assert json.loads((out / "cv.json").read_text())["leave_one_group_out"] is True
