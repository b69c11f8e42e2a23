"""Fixing every source of randomness of a run, for the run only."""

from __future__ import annotations

import contextlib
import random

import keras
import numpy as np
import tensorflow as tf


def seed_everything(seed: int, deterministic: bool = True):
    """Seed Python, NumPy, TensorFlow and Keras (``keras.utils.set_random_seed``) and, with
    ``deterministic``, make TensorFlow's ops deterministic
    (``tf.config.experimental.enable_op_determinism``): the same seed then gives the same
    weights and metrics on a CPU. Process-wide and permanent; :func:`seeded` undoes it."""
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def seeded(seed: int, deterministic: bool = True):
    """:func:`seed_everything` for the ``with`` block; afterwards Python's and NumPy's global
    random states are as they were, so a library call (``train``, ``tune``) leaves the
    caller's random draws alone. TensorFlow's op determinism stays on: TensorFlow has no
    public call to ask for or undo it (it changes which kernels run, not results)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    seed_everything(seed, deterministic)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
