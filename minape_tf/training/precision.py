"""Choosing the numeric precision, XLA and TensorFlow's threads for the machine at hand."""

from __future__ import annotations

import os

import tensorflow as tf


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(precision: str = "auto") -> str:
    """The Keras dtype policy: ``auto`` is mixed_float16 on a GPU and float32 on a CPU
    (CPUs gain nothing from float16 and lose accuracy)."""
    if precision == "auto":
        return "mixed_float16" if has_gpu() else "float32"
    return precision


def resolve_jit(jit_compile="auto") -> bool:
    """XLA on or off (``jit_compile`` "auto", "on" or "off"): ``auto`` turns it on with a
    GPU only: on a CPU it adds compile time without making the steps faster
    (``scripts/bench_cpu.py`` measures it)."""
    if jit_compile == "auto":
        return has_gpu()
    return jit_compile == "on"


def resolve_threads() -> int:
    """TensorFlow's intra-op threads for training on this machine; returns the number in
    use (0: TensorFlow's default, one per core).

    Without a GPU, each operator runs on one thread (``intra_op_parallelism_threads=1``)
    and the cores run independent operators side by side (the inter-op pool, one thread per
    core): the models trained on a CPU are small, and their operators are too small to be
    worth splitting between cores. The measured steps are in ``docs/model.md``
    (``scripts/bench_train_step.py``); a model on large images may train faster with
    TensorFlow's default, which ``TF_NUM_INTRAOP_THREADS=0`` keeps.

    Nothing is changed where the user set ``TF_NUM_INTRAOP_THREADS``, with a GPU, or once
    TensorFlow's runtime has started in this process (threads are fixed then).
    """
    if os.environ.get("TF_NUM_INTRAOP_THREADS") or has_gpu():
        return tf.config.threading.get_intra_op_parallelism_threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:            # the runtime has started: its threads stay as they are
        pass
    return tf.config.threading.get_intra_op_parallelism_threads()
