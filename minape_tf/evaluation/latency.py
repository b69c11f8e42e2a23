"""CPU inference latency of a model, in milliseconds per sample."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf


def example_batch(model, batch_size, seed=0):
    """Random float32 data shaped like the model's input structure, ``batch_size`` rows."""
    rng = np.random.default_rng(seed)
    return tf.nest.map_structure(
        lambda t: tf.constant(rng.standard_normal((batch_size, *t.shape[1:]))
                              .astype(np.float32)), model.input)


def latency_ms(model, batch_size: int = 1, *, repeats: int = 30, warmup: int = 5,
               max_seconds: float = 10.0, inputs=None, device: str = "/CPU:0") -> float:
    """Median wall time of one compiled forward pass, divided by ``batch_size``.

    Parameters
    ----------
    model : keras.Model
    batch_size : int, default 1
    repeats : int, default 30
        Timed calls (fewer if ``max_seconds`` runs out first; at least 3).
    warmup : int, default 5
        Untimed calls first (tracing, allocation, caches).
    max_seconds : float, default 10.0
        Time budget of the timed calls.
    inputs : dict or None
        A batch to time; default random data of the model's input shapes.
    device : str, default "/CPU:0"

    Returns
    -------
    float
        Milliseconds per sample (median over the timed calls).
    """
    with tf.device(device):
        if inputs is None:
            inputs = example_batch(model, batch_size)
        forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        for _ in range(warmup):
            _ = forward(inputs)
        times, start = [], time.perf_counter()
        while len(times) < repeats and (len(times) < 3
                                         or time.perf_counter() - start < max_seconds):
            t0 = time.perf_counter()
            out = forward(inputs)
            _ = out.numpy() if hasattr(out, "numpy") else out
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0 / batch_size)
