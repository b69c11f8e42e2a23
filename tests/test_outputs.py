"""Outputs under faults: one process per folder (a second refused naming the first, a dead
one's lock taken over), atomic files (a failed or killed write leaves nothing under the
final name), a full disk named as such and a rerun that resumes."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from minape_tf.cli.main import main
from minape_tf.outputs.atomic import DiskFullError, atomic_path, write_bytes
from minape_tf.outputs.lock import HOLDER_FILE, LOCK_FILE, FolderInUse, locked
from minape_tf.training import TrainConfig, train

from harness import DEMO

TRAIN_ARGS = ["train", "--dataset", "demo", "-D", "n_tools=4", "-D", "runs_per_tool=6",
              "--width", "8", "--depth", "1", "--kernel-size", "3", "--batch-size", "8",
              "--verbose", "0"]


def _partials(folder):
    return [os.path.join(root, f) for root, dirs, files in os.walk(folder)
            for f in [*dirs, *files] if ".partial-" in f]


def _wait_for(path, process, seconds=120):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def _no_disk_left(error=errno.ENOSPC):
    return OSError(error, "No space left on device")


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as temporary:
        with open(temporary, "w") as f:
            f.write("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old" and _partials(tmp_path) == []
    with pytest.raises(DiskFullError, match=rf"no space left in {tmp_path} .* bytes free; "
                                            r"writing \S*/metrics.json needs about 3 bytes"):
        with atomic_path(path):
            raise _no_disk_left()
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "old.pb").write_text("old")
    with atomic_path(folder) as temporary:           # a folder is swapped in whole
        os.makedirs(temporary)
        open(os.path.join(temporary, "new.pb"), "w").close()
    assert os.listdir(folder) == ["new.pb"] and _partials(tmp_path) == []


def test_a_second_process_is_refused_naming_the_first_and_the_first_is_unharmed(tmp_path,
                                                                                capsys):
    run = tmp_path / "same"
    first = subprocess.Popen([sys.executable, "-m", "minape_tf", *TRAIN_ARGS, "--epochs",
                              "3", "--out", str(run)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(run / HOLDER_FILE, first)
        code = main([*TRAIN_ARGS, "--epochs", "3", "--out", str(run)])
        err = capsys.readouterr().err
        assert code == 1
        assert f"{run} is in use by PID {first.pid} on " in err and "minape_tf train" in err
        out, err = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert "Run folder" in out and (run / "model.keras").exists()
    info = json.loads((run / "run.json").read_text())
    assert info["epochs_run"] == 3 and not os.path.exists(run / HOLDER_FILE)


def test_the_lock_of_a_killed_process_is_taken_over_with_a_message(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from minape_tf.outputs.lock import locked\n"
        "with locked(sys.argv[1]):\n    time.sleep(600)"), str(folder)])
    _wait_for(folder / HOLDER_FILE, holder)
    with pytest.raises(FolderInUse, match=f"in use by PID {holder.pid}"):
        with locked(folder):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lines = []
    with locked(folder, log=lines.append):
        assert json.loads((folder / HOLDER_FILE).read_text())["pid"] == os.getpid()
    assert len(lines) == 1 and f"taking over the lock of PID {holder.pid}" in lines[0]
    assert not (folder / HOLDER_FILE).exists()


def test_a_lock_made_folder_with_nothing_written_is_removed_and_the_lock_reenters(tmp_path):
    folder = tmp_path / "new"
    with locked(folder), locked(folder):                 # re-entrant in one process
        assert set(os.listdir(folder)) == {LOCK_FILE, HOLDER_FILE}
    assert not folder.exists()


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_is_named_and_the_rerun_resumes(tmp_path,
                                                                        monkeypatch):
    run = tmp_path / "run"
    config = TrainConfig(**DEMO, epochs=3)
    save_weights = keras.Model.save_weights
    calls = []

    def fill_the_disk_at_the_second_backup(self, path, *args, **kwargs):
        if os.path.basename(path).startswith(".latest."):
            calls.append(path)
            if len(calls) == 2:
                with open(path, "wb") as f:         # a torn, partly written file
                    f.write(b"\0" * 1000)
                raise _no_disk_left()
        return save_weights(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", fill_the_disk_at_the_second_backup)
    with pytest.raises(DiskFullError, match=rf"no space left in {run}.*bytes free.*resumes "
                                            "from its last finished epoch"):
        train(config, run)
    assert _partials(run) == [] and not (run / "model.keras").exists()
    with open(run / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 1                # the last complete backup
    monkeypatch.setattr(keras.Model, "save_weights", save_weights)
    lines = []
    result = train(config, run, log=lines.append)
    assert any(line.startswith(f"Resuming {run} after epoch 1") for line in lines)
    assert len(result.history) == 3 and (run / "model.keras").exists()


@pytest.mark.slow
def test_a_failed_export_leaves_no_export_json_and_the_rerun_is_complete(tmp_path, tiny_run,
                                                                         monkeypatch):
    from minape_tf.deploy import exporter
    from minape_tf.outputs import export_folder

    run = tiny_run
    out = tmp_path / "export"
    written = []

    def fail_on_the_second_file(path, content):
        written.append(path)
        if len(written) == 2:
            with atomic_path(path) as temporary, open(temporary, "wb") as f:
                f.write(content[:100])
                raise _no_disk_left()
        write_bytes(path, content)

    monkeypatch.setattr(export_folder, "write_bytes", fail_on_the_second_file)
    with pytest.raises(DiskFullError, match=f"no space left in {out}"):
        exporter.export(run, out, formats="tflite", quantizations=("float32", "float16"),
                        verbose=False)
    assert not (out / "export.json").exists() and _partials(out) == []
    assert sorted(os.listdir(out)) == [os.path.basename(written[0])]   # no lock file left
    from minape_tf.deploy.predictor import load_predictor

    with pytest.raises(FileNotFoundError, match="exported files but no export.json"):
        load_predictor(out)
    monkeypatch.undo()
    described = exporter.export(run, out, formats="tflite",
                                quantizations=("float32", "float16"), verbose=False)
    assert json.loads((out / "export.json").read_text()) == json.loads(json.dumps(described))
    for entry in described["files"].values():
        assert os.path.getsize(out / entry["path"]) == entry["bytes"]


def _mount_tmpfs(folder, size):
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(folder)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the injected "
                    "failures above stand in for it")


@pytest.mark.slow
def test_a_real_full_disk_during_export_is_named_with_the_bytes_needed(tmp_path, tiny_run):
    from minape_tf.deploy.exporter import export

    run = tiny_run
    small = tmp_path / "small"
    _mount_tmpfs(small, "16k")
    try:
        with pytest.raises(DiskFullError, match=rf"no space left in {small}/out .*bytes "
                                                r"free; writing \S+ needs about [\d,]+ bytes"):
            export(run, small / "out", formats="tflite", quantizations=("float32",),
                   verbose=False)
        assert not (small / "out" / "export.json").exists()
        assert _partials(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_predict_traces_once_per_model_however_many_evaluations(tmp_path):
    import tensorflow as tf

    from minape_tf.evaluation.evaluate import _forward, predict_probabilities

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    data = [tf.data.Dataset.from_tensor_slices((np.ones((n, 4), np.float32),
                                                np.zeros(n, np.int64))).batch(3)
            for n in (5, 7, 2, 9, 4, 6)]
    for dataset in data:
        predict_probabilities(model, dataset)
    assert _forward(model, data[0].element_spec[0]).experimental_get_tracing_count() == 1
