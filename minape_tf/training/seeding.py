"""One call that fixes every source of randomness of a run."""

from __future__ import annotations

import keras
import tensorflow as tf


def seed_everything(seed: int, deterministic: bool = True):
    """Seed Python, NumPy, TensorFlow and Keras (``keras.utils.set_random_seed``) and, with
    ``deterministic``, make TensorFlow's ops deterministic
    (``tf.config.experimental.enable_op_determinism``): the same seed then gives the same
    weights and metrics on a CPU."""
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
