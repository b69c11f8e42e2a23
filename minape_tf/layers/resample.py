"""Band-limited polyphase resampling in the TensorFlow graph.

The same filter and alignment as ``scipy.signal.resample_poly(x, up, down)`` (defaults:
Kaiser window with beta 5.0, ``half_len = 10 * max(up, down)`` taps each side, constant
zero padding), computed with one strided ``conv1d`` whose ``up`` output channels are the
filter's polyphase components: output ``n`` is ``sum_k x[k] h[n*down - k*up + half_len]``.
Only the outputs that are kept are computed, so trimming a long recording is cheap.
The filter taps are float32; the result matches scipy's float64 result to about 1e-6 of
the signal's peak (the tests require at most 1e-5 of the peak).
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
import tensorflow as tf


def ratio(source_rate: int, target_rate: int) -> tuple:
    """(up, down) in lowest terms."""
    g = gcd(int(source_rate), int(target_rate))
    return int(target_rate) // g, int(source_rate) // g


@lru_cache(maxsize=32)
def polyphase_filter(up: int, down: int, beta: float = 5.0):
    """Conv1d weights ``(taps, 1, up)`` and the left padding for ``up / down`` resampling.

    Returns ``(weights, left_pad, anchor)``; see :func:`resample`.
    """
    from scipy.signal import firwin

    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", beta)) * up
    n_h = len(h)
    # Phase p of the output (n = q*up + p) reads x[q*down + a_p - j] * h[r_p + j*up].
    a = [(p * down + half_len) // up for p in range(up)]
    r = [(p * down + half_len) % up for p in range(up)]
    taps_per_phase = (n_h - 1) // up + 1
    anchor = max(a)
    taps = taps_per_phase + anchor - min(a)
    g = np.zeros((taps, up), dtype=np.float64)  # g[j', p]: weight of x[q*down + anchor - j']
    for p in range(up):
        shift = anchor - a[p]
        for j in range(taps_per_phase):
            idx = r[p] + j * up
            if idx < n_h:
                g[j + shift, p] = h[idx]
    weights = g[::-1].reshape(taps, 1, up).astype(np.float32)  # correlation order
    left_pad = taps - 1 - anchor
    return weights, left_pad, anchor


def resampled_length(n: int, source_rate: int, target_rate: int) -> int:
    """``ceil(n * up / down)``: the length scipy's ``resample_poly`` returns."""
    up, down = ratio(source_rate, target_rate)
    return -(-n * up // down)


def resample(x, source_rate: int, target_rate: int, length: int | None = None):
    """Resample ``x`` of shape ``(samples, channels)`` along axis 0, in the graph.

    Parameters
    ----------
    x : float32 tensor, shape (samples, channels)
        The signal; ``samples`` may be unknown when the graph is traced.
    source_rate, target_rate : int
        Native and wanted sampling rates (Hz). Equal rates return ``x`` unchanged.
    length : int or None, default None
        When given, at most this many output samples are computed (the caller pads
        shorter results); ``None`` returns all ``ceil(samples * up / down)`` samples.

    Returns
    -------
    float32 tensor, shape (out_samples, channels)
    """
    x = tf.convert_to_tensor(x, tf.float32)
    up, down = ratio(source_rate, target_rate)
    n = tf.shape(x)[0]
    n_out = (n * up + down - 1) // down
    if length is not None:
        n_out = tf.minimum(n_out, length)
    if up == down:
        return x[:n_out]
    weights, left_pad, anchor = polyphase_filter(up, down)
    taps = weights.shape[0]
    q = (n_out + up - 1) // up  # output frames of `up` samples
    # Input samples needed: indices up to (q - 1) * down + anchor; drop the rest.
    needed = (q - 1) * down + anchor + 1
    x = x[:tf.maximum(needed, 0)]
    total = (q - 1) * down + taps
    right_pad = tf.maximum(total - left_pad - tf.shape(x)[0], 0)
    if left_pad >= 0:
        xp = tf.pad(x, [[left_pad, right_pad], [0, 0]])
    else:
        xp = tf.pad(x[-left_pad:], [[0, right_pad], [0, 0]])
    xp = tf.transpose(xp)[:, :, None]  # (channels, samples, 1)
    y = tf.nn.conv1d(xp, tf.constant(weights), stride=down, padding="VALID")  # (ch, q, up)
    y = tf.reshape(y, [tf.shape(y)[0], -1])[:, :n_out]
    return tf.transpose(y)


def fit_length(x, length: int):
    """Trim or zero-pad ``(samples, channels)`` to exactly ``length`` samples (at the end)."""
    x = x[:length]
    pad = length - tf.shape(x)[0]
    x = tf.pad(x, [[0, pad], [0, 0]])
    return tf.ensure_shape(x, [length, x.shape[1]])
