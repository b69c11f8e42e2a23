"""``make_strategy``: scale-out through ``tf.distribute`` (``minape train --strategy``).

Strategies
----------
``none`` (also ``None`` and ``default``)
    No strategy: Keras' default, one device.
``mirrored``
    :class:`tf.distribute.MirroredStrategy`: synchronous data parallelism over all the
    GPUs of this machine (the CPU when there is none). ``cpu_devices=N`` splits the CPU
    into N logical devices instead, to test data parallelism on a machine without GPUs.
``multiworker``
    :class:`tf.distribute.MultiWorkerMirroredStrategy`: the same over several machines
    (each with its GPUs, or its CPU). Every machine runs the same command; the
    ``TF_CONFIG`` environment variable tells each one the cluster and its own place in it::

        TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                    "task": {"type": "worker", "index": 0}}'

    (``index`` 1 on the second machine). Worker 0 is the chief. Give every worker its own
    ``--out`` folder (or a local disk): each one writes a run folder, and they hold the same
    weights at the end.

Batch size and learning rate
----------------------------
``batch_size`` (``--batch-size``) is the *global* batch: each step reads ``batch_size``
observations in all, split evenly across the ``strategy.num_replicas_in_sync`` replicas
(GPUs x machines), and the replicas' gradients are averaged. Training with 4 GPUs and
``batch_size=128`` is thus the same optimisation as one GPU with ``batch_size=128``, four
times as fast at best; to keep each GPU's load when adding GPUs, multiply ``batch_size``
(and usually ``learning_rate``) by the number of replicas yourself: nothing is scaled for you.

Under ``multiworker`` the training data is sharded by observation
(``AutoShardPolicy.DATA``): every worker runs the same (seeded) input pipeline and keeps
its share of each global batch, so the workers need the same data, at the same paths.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("none", "default", "mirrored", "multiworker")
CPU_DEVICES_ENV = "MINAPE_CPU_DEVICES"


def make_strategy(name: str | None = None, *, cpu_devices: int | None = None):
    """The ``tf.distribute`` strategy called ``name``, or ``None`` for no strategy.

    Call it at the start of the program, before TensorFlow runs anything: logical CPU
    devices and the collective ops of ``multiworker`` can only be set up before TensorFlow
    initialises its devices. Pass the result to ``train(..., strategy=...)``.

    Parameters
    ----------
    name : {None, "none", "default", "mirrored", "multiworker"}, default None
        ``None``, "none" and "default" give ``None`` (Keras' default strategy, one device).
        See the module docstring for the others.
    cpu_devices : int or None, default None
        ``mirrored`` only: split the CPU into this many logical devices and mirror over
        them (for tests; GPUs are then not used). ``None`` reads the environment variable
        ``MINAPE_CPU_DEVICES`` (``mirrored`` only) and, when it is unset, uses the GPUs (or
        the one CPU).

    Returns
    -------
    tf.distribute.Strategy or None

    Raises
    ------
    ValueError
        For an unknown ``name``, a ``cpu_devices`` that is not a positive integer or is
        given with another strategy than ``mirrored``, or (``multiworker``) a missing or
        malformed ``TF_CONFIG``.
    RuntimeError
        When logical CPU devices or collective ops are asked for after TensorFlow has
        initialised its devices.
    """
    key = "none" if name is None else str(name).strip().lower()
    if key not in STRATEGIES:
        raise ValueError(f"strategy={name!r} is not known; expected one of {STRATEGIES}")
    if cpu_devices is not None and key != "mirrored":
        raise ValueError(f"cpu_devices={cpu_devices!r} is for strategy='mirrored' only, "
                         f"not strategy={name!r}")
    if key == "mirrored" and cpu_devices is None and os.environ.get(CPU_DEVICES_ENV):
        cpu_devices = _env_int(CPU_DEVICES_ENV)
    if key in ("none", "default"):
        return None
    if key == "mirrored":
        if cpu_devices is None:
            return tf.distribute.MirroredStrategy()
        devices = configure_cpu_devices(cpu_devices)
        return tf.distribute.MirroredStrategy(devices=devices)
    cluster = read_tf_config()
    try:
        return _MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        raise RuntimeError(
            f"strategy='multiworker' ({_describe(cluster)}): TensorFlow had already "
            "initialised its devices, and collective ops must be set up before; call "
            f"make_strategy first thing in the program ({error})") from error


def configure_cpu_devices(count: int) -> list:
    """Split the first physical CPU into ``count`` logical devices; their names.

    Parameters
    ----------
    count : int
        At least 1.

    Returns
    -------
    list of str
        ``["/cpu:0", ..., f"/cpu:{count - 1}"]``.

    Raises
    ------
    ValueError
        ``count`` is not a positive integer.
    RuntimeError
        TensorFlow has already initialised its devices with another number of logical CPUs
        (asking again for the number it has is fine).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"cpu_devices={count!r}: expected a positive integer")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError as error:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != count:
            raise RuntimeError(
                f"cpu_devices={count}: TensorFlow has already initialised its devices with "
                f"{have} logical CPU(s); logical devices must be configured before TensorFlow "
                "runs anything: call make_strategy('mirrored', cpu_devices=...) at the start "
                f"of the program, or set {CPU_DEVICES_ENV}={count} in a fresh process") \
                from error
    return [f"/cpu:{i}" for i in range(count)]


def read_tf_config(environ=None) -> dict:
    """Parse and check ``TF_CONFIG`` for ``multiworker``; the parsed dict.

    Expected: JSON ``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker",
    "index": i}}``; ``cluster`` may also have a ``"chief"`` list of one address, and
    ``task.type`` is then "chief" or "worker".

    Parameters
    ----------
    environ : mapping or None, default None
        Where to read ``TF_CONFIG`` (``None``: ``os.environ``).

    Raises
    ------
    ValueError
        ``TF_CONFIG`` is missing, not JSON, or lacks / misstates the cluster or the task.
    """
    environ = os.environ if environ is None else environ
    expected = ('expected JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}, the same cluster on every machine '
                "and each machine's own task")
    text = environ.get("TF_CONFIG")
    if not text:
        raise ValueError(f"strategy='multiworker' needs the TF_CONFIG environment variable; "
                         f"{expected}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG={text!r} is not valid JSON ({error}); {expected}") \
            from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG={text!r} has no 'cluster' mapping; {expected}")
    for role, addresses in cluster.items():
        if role not in ("chief", "worker", "evaluator"):
            raise ValueError(f"TF_CONFIG: cluster role {role!r} is not known; multiworker "
                             "uses 'worker' (and optionally 'chief')")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and ":" in a for a in addresses)):
            raise ValueError(f"TF_CONFIG: cluster[{role!r}]={addresses!r}; expected a "
                             "non-empty list of 'host:port' strings")
    if "worker" not in cluster and "chief" not in cluster:
        raise ValueError(f"TF_CONFIG: the cluster {sorted(cluster)} has no 'worker' list; "
                         f"{expected}")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG: task={task!r}; expected {{'type': ROLE, 'index': I}} "
                         f"with ROLE one of {sorted(cluster)}")
    role, index = task["type"], task["index"]
    if role not in cluster:
        raise ValueError(f"TF_CONFIG: task type {role!r} is not in the cluster "
                         f"{sorted(cluster)}")
    if isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(cluster[role]):
        raise ValueError(f"TF_CONFIG: task index {index!r} for {role!r}; expected an integer "
                         f"from 0 to {len(cluster[role]) - 1}")
    return config


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` takes what Keras 3's ``fit`` gives it.

    Two calls in Keras' TensorFlow trainer fail with the collective strategy
    (keras-team/keras#20329, #20585):

    * building the model reduces one whole batch, a dict of per-group tensors here:
      "Attempt to convert a value ({'tool': PerReplica...}) with an unsupported type
      (<class 'dict'>) to a Tensor";
    * every step's logs (loss, accuracy: scalars) are reduced with ``axis=0``: "Invalid
      reduction dimension 0 for input with 0 dimensions".

    Reducing leaf by leaf, and a scalar across the replicas (``axis=None``), is what those
    calls mean (and what ``MirroredStrategy`` does for them).
    """

    def reduce(self, reduce_op, value, axis):
        parent = super().reduce

        def leaf(v):
            local = self.experimental_local_results(v)[0]
            scalar = getattr(local, "shape", None) is not None and local.shape.rank == 0
            return parent(reduce_op, v, None if scalar else axis)

        return tf.nest.map_structure(leaf, value)


def _describe(config):
    task = config["task"]
    workers = sum(len(v) for k, v in config["cluster"].items() if k != "evaluator")
    return f"{task['type']} {task['index']} of {workers}"


def _env_int(variable):
    value = os.environ[variable]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{variable}={value!r}: expected a positive integer") from None
