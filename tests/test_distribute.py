"""Scale-out: ``make_strategy``, MirroredStrategy on two logical CPUs, and a two-worker
MultiWorkerMirroredStrategy on localhost.

The training runs happen in fresh processes (``tests/distribute_worker.py``): logical
devices and collective ops must be set up before TensorFlow initialises its devices, which
the pytest process has long done.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from minape_tf.training.distribute import configure_cpu_devices, make_strategy, read_tf_config

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distribute_worker.py")
TIMEOUT_S = 240


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    env.pop("TF_CONFIG", None)
    env.pop("MINAPE_CPU_DEVICES", None)
    env.update(extra)
    return env


def _worker(args, log, **env):
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT,
                            env=_env(**env), stdout=log, stderr=subprocess.STDOUT)


def _wait_all(processes, logs):
    """Wait for every process (at most TIMEOUT_S in all); on a failure or the timeout, kill
    the others and fail with their logs."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for p in processes:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
            if p.returncode != 0:
                break
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    codes = [p.returncode for p in processes]
    if any(codes):
        text = "\n".join(f"--- worker {i} (exit {c}) ---\n{Path(log).read_text()[-3000:]}"
                         for i, (c, log) in enumerate(zip(codes, logs)))
        pytest.fail(f"workers failed or timed out after {TIMEOUT_S} s:\n{text}")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _result(out_dir):
    with open(out_dir / "result.json") as f:
        result = json.load(f)
    weights = np.load(out_dir / "weights.npz")
    return result, [weights[k] for k in weights.files]


# --- make_strategy: names, TF_CONFIG and device errors (in this process) -----------------

@pytest.mark.parametrize("name", [None, "none", "default", "NONE"])
def test_no_strategy(name):
    assert make_strategy(name) is None


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(ValueError, match=r"strategy='tpu' is not known.*mirrored"):
        make_strategy("tpu")


def test_cpu_devices_only_with_mirrored():
    with pytest.raises(ValueError, match=r"cpu_devices=2 is for strategy='mirrored' only"):
        make_strategy("none", cpu_devices=2)


def test_mirrored_without_gpus_mirrors_the_cpu(monkeypatch):
    monkeypatch.delenv("MINAPE_CPU_DEVICES", raising=False)
    strategy = make_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == max(1, len(tf.config.list_logical_devices("GPU")))


def test_cpu_devices_from_the_environment_must_be_a_number(monkeypatch):
    monkeypatch.setenv("MINAPE_CPU_DEVICES", "two")
    with pytest.raises(ValueError, match=r"MINAPE_CPU_DEVICES='two': expected a positive"):
        make_strategy("mirrored")


def test_cpu_devices_must_be_positive():
    with pytest.raises(ValueError, match=r"cpu_devices=0: expected a positive integer"):
        configure_cpu_devices(0)


def test_logical_cpus_after_tensorflow_started_is_a_clear_error():
    tf.constant(1.0) + 1.0                       # TensorFlow's devices are initialised now
    have = len(tf.config.list_logical_devices("CPU"))
    assert configure_cpu_devices(have) == [f"/cpu:{i}" for i in range(have)]  # same: fine
    with pytest.raises(RuntimeError, match=r"already initialised.*make_strategy\('mirrored'"):
        configure_cpu_devices(have + 1)


def test_multiworker_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match=r"needs the TF_CONFIG environment variable.*cluster"):
        make_strategy("multiworker")


@pytest.mark.parametrize("text, message", [
    ("{cluster", r"not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', r"no 'cluster' mapping"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}',
     r"cluster\['worker'\]='a:1'.*list of 'host:port'"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
     r"cluster role 'ps' is not known"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', r"task=None"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}',
     r"task type 'chief' is not in the cluster"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     r"task index 2 for 'worker'; expected an integer from 0 to 1"),
])
def test_malformed_tf_config(text, message):
    with pytest.raises(ValueError, match=message):
        read_tf_config({"TF_CONFIG": text})


def test_good_tf_config():
    text = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    assert read_tf_config({"TF_CONFIG": text})["task"]["index"] == 1


# --- training under the strategies (fresh processes) ---------------------------------------

@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_trains_a_run(tmp_path):
    out = tmp_path / "mirrored"
    log = tmp_path / "mirrored.log"
    with open(log, "w") as f:
        _wait_all([_worker(["mirrored", out, 2, 2], f)], [log])
    result, _ = _result(out)
    assert result["replicas"] == 2
    assert result["strategy"] == "MirroredStrategy"
    losses = [row["loss"] for row in result["history"]]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert losses[1] < losses[0]                 # it learned
    for name in ("model.keras", "run.json", "history.csv", "config.json"):
        assert (out / name).exists(), name
    with open(out / "run.json") as f:
        assert json.load(f)["epochs_run"] == 2


@pytest.mark.slow
def test_two_workers_on_localhost_stay_in_sync(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes, logs = [], []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        logs.append(tmp_path / f"worker{index}.log")
        with open(logs[-1], "w") as f:
            processes.append(_worker(["multiworker", tmp_path / f"worker{index}", 1], f,
                                     TF_CONFIG=tf_config))
    _wait_all(processes, logs)

    (first, weights0), (second, weights1) = (_result(tmp_path / f"worker{i}") for i in (0, 1))
    assert first["replicas"] == second["replicas"] == 2
    assert len(weights0) == len(weights1) > 0
    for a, b in zip(weights0, weights1):
        np.testing.assert_array_equal(a, b)
    assert first["history"] == second["history"]  # the logged metrics are global, too
    assert (tmp_path / "worker0" / "model.keras").exists()


class _Replicas:
    """Stands in for a ``tf.distribute`` strategy of ``n`` replicas (only the count is read
    while the run is set up)."""

    def __init__(self, n):
        self.num_replicas_in_sync = n


def test_replicated_training_uses_only_full_batches():
    from minape_tf.data.loaders.demo import demo
    from minape_tf.data.source import Loaded
    from minape_tf.training.config import TrainConfig
    from minape_tf.training.setup import prepare_run

    loaded = demo(seed=0, n_tools=3, runs_per_tool=7)            # 21 observations
    everything = Loaded(loaded.source, loaded.groups, {"train": np.arange(21)})

    def setup(batch_size, replicas):
        config = TrainConfig(batch_size=batch_size, augment=False, monitor="loss", epochs=1,
                             model=dict(width=8, depth=1, patch_size=8, kernel_size=3))
        return prepare_run(config, loaded=everything,
                           strategy=_Replicas(replicas) if replicas > 1 else None)

    two = setup(8, 2)
    assert two.steps == 2                                        # 21 // 8: the last 5 dropped
    assert all(y.shape[0] == 8 for _, y in two.train_data().take(2 * two.steps))  # all full
    one = setup(8, 1)                           # one replica: full batches too (one shape)
    assert one.steps == 2 and one.full_batches
    assert all(y.shape[0] == 8 for _, y in one.train_data().take(2 * one.steps))
    assert setup(32, 1).steps == 1 and not setup(32, 1).full_batches   # fewer than a batch
    with pytest.raises(ValueError, match=r"batch_size=1 with 2 replicas"):
        setup(1, 2)
    with pytest.raises(ValueError, match=r"last batch of the 21 validation observations has 1"):
        setup(10, 1).eval_data(loaded.source, replicas=2)
