"""Train-only augmentation, applied after the cache (so every epoch sees new draws).

Series (per observation, stateless random ops seeded from the dataset's seed):

* random gain: the signal times ``g`` with ``20 log10 g`` uniform in ``[-gain_db, gain_db]``.
  On log-Mel features it is applied exactly in the log domain:
  ``log10(g**2 * (10**F - eps) + eps)``, i.e. as if the (level-normalised) signal had been
  scaled before the STFT. On raw series (``features=False``) it multiplies the signal.
* SpecAugment (Park et al., 2019): ``time_masks`` spans of at most ``time_width`` of the
  frames and ``freq_masks`` spans of at most ``freq_width`` of the mel bands, each set to
  the observation's mean log-Mel value (a log-Mel of 0 is not silence, so the mean is the
  neutral fill). Raw series get the time masks only (set to zero).

Images (per batch, ``keras.layers``): 3-channel groups get ``keras.layers.RandAugment``
(2 ops, factor 0.5, values in [0, 1]); other channel counts (stacked spectrogram images,
gray digits) get small random translations and zooms, since colour operations are not
defined for them.
"""

from __future__ import annotations

import keras
import tensorflow as tf

GAIN_DB = 6.0
TIME_MASKS, TIME_WIDTH = 2, 0.1
FREQ_MASKS, FREQ_WIDTH = 2, 0.1


def _mask_axis(x, axis, n_masks, width, seed, fill):
    size = tf.shape(x)[axis]
    max_w = tf.maximum(tf.cast(tf.cast(size, tf.float32) * width, tf.int32), 1)
    positions = tf.range(size)
    keep = tf.ones([size], tf.bool)
    for k in range(n_masks):
        s = tf.random.experimental.stateless_fold_in(seed, 10 + k)
        w = tf.random.stateless_uniform([], s, 0, max_w + 1, dtype=tf.int32)
        start = tf.random.stateless_uniform(
            [], tf.random.experimental.stateless_fold_in(s, 1), 0,
            tf.maximum(size - w, 0) + 1, dtype=tf.int32)
        keep &= ~((positions >= start) & (positions < start + w))
    shape = [1] * len(x.shape)
    shape[axis] = -1
    return tf.where(tf.reshape(keep, shape), x, fill)


def random_gain_factor(seed, gain_db=GAIN_DB):
    db = tf.random.stateless_uniform([], seed, -gain_db, gain_db)
    return tf.pow(10.0, db / 20.0)


def augment_logmel(spec, seed, eps):
    """Random gain + SpecAugment on one ``(frames, n_mels, channels)`` log-Mel."""
    gain = random_gain_factor(tf.random.experimental.stateless_fold_in(seed, 1))
    power = tf.maximum(tf.pow(10.0, spec) - eps, 0.0)
    spec = tf.math.log(gain * gain * power + eps) / tf.math.log(10.0)
    fill = tf.reduce_mean(spec)
    spec = _mask_axis(spec, 0, TIME_MASKS, TIME_WIDTH,
                      tf.random.experimental.stateless_fold_in(seed, 2), fill)
    spec = _mask_axis(spec, 1, FREQ_MASKS, FREQ_WIDTH,
                      tf.random.experimental.stateless_fold_in(seed, 3), fill)
    return spec


def augment_raw(x, seed):
    """Random gain + time masks (zeros) on one raw ``(length, channels)`` series."""
    x = x * random_gain_factor(tf.random.experimental.stateless_fold_in(seed, 1))
    return _mask_axis(x, 0, TIME_MASKS, TIME_WIDTH,
                      tf.random.experimental.stateless_fold_in(seed, 2), 0.0)


def image_augmenter(group, seed=None):
    """The keras augmentation layer for a batch of an image group (see module docstring)."""
    if group.channels == 3:
        return keras.layers.RandAugment(value_range=(0.0, 1.0), num_ops=2, factor=0.5,
                                        seed=seed)
    return keras.Sequential([
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
    ])
