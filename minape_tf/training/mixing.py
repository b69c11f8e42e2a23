"""MixUp and CutMix on whole multimodal batches, reproducible from a seed.

Keras' ``keras.layers.MixUp`` / ``CutMix`` mix one image tensor; a Minape batch is a dict
of groups that must be mixed with the *same* partner and weight, or the labels would no
longer describe the inputs. Here:

* **MixUp** (Zhang et al. 2018): ``x = lam x + (1 - lam) x[perm]`` for every group,
  ``y = lam y + (1 - lam) y[perm]``, ``lam ~ Beta(alpha, alpha)``.
* **CutMix** (Yun et al. 2019): one box, in relative coordinates, of area ``1 - lam``,
  pasted from the partner into every group at the same relative place: a rectangle of an
  image, a time-frequency box of a spectrogram (as in SpecMix), a time segment of a raw
  series. ``y`` is mixed by the box's actual (clipped) area.

With both on, each batch uses one of them with probability one half (timm's default). All
random draws are stateless, keyed by ``seed`` (a pair of integers), so a resumed run
replays them.
"""

from __future__ import annotations

import tensorflow as tf


def _beta(seed, alpha):
    alpha = tf.constant(alpha, tf.float32)
    g = tf.random.stateless_gamma([2], seed=seed, alpha=alpha)
    return g[0] / (g[0] + g[1])


def _spatial_axes(x):
    """Axes a CutMix box spans: (height, width) of ``(..., h, w, c)``, or the time axis of
    a raw series ``(batch, length, channels)``."""
    return (1,) if x.shape.rank == 3 else (x.shape.rank - 3, x.shape.rank - 2)


def _box_mask(x, lows, highs):
    """A mask broadcastable to ``x``: True inside the relative box."""
    mask = None
    for axis, low, high in zip(_spatial_axes(x), lows, highs):
        size = tf.cast(tf.shape(x)[axis], tf.float32)
        position = (tf.range(tf.shape(x)[axis], dtype=tf.float32) + 0.5) / size
        inside = (position >= low) & (position < high)
        shape = [1] * x.shape.rank
        shape[axis] = -1
        inside = tf.reshape(inside, shape)
        mask = inside if mask is None else mask & inside
    return mask


def mixup(inputs, labels, seed, alpha):
    """MixUp every group of ``inputs`` (dict) and the one-hot ``labels`` with one partner."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    lam = _beta(seeds[0], alpha)
    perm = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(labels)[0]), seeds[1])
    mixed = {name: tf.cast(lam, x.dtype) * x + tf.cast(1 - lam, x.dtype) * tf.gather(x, perm)
             for name, x in inputs.items()}
    return mixed, lam * labels + (1 - lam) * tf.gather(labels, perm)


def cutmix(inputs, labels, seed, alpha):
    """CutMix every group with one partner and one relative box (see the module doc)."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    lam = _beta(seeds[0], alpha)
    perm = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(labels)[0]), seeds[1])
    side = tf.sqrt(1.0 - lam)
    centre = tf.random.stateless_uniform([2], seeds[2])
    lows = tf.clip_by_value(centre - side / 2, 0.0, 1.0)
    highs = tf.clip_by_value(centre + side / 2, 0.0, 1.0)
    area = tf.reduce_prod(highs - lows)
    mixed = {}
    for name, x in inputs.items():
        if x.shape.rank == 3:           # a time segment with the box's area fraction
            start = centre[0] * (1.0 - area)
            mask = _box_mask(x, [start], [start + area])
        else:
            mask = _box_mask(x, tf.unstack(lows), tf.unstack(highs))
        mixed[name] = tf.where(mask, tf.gather(x, perm), x)
    lam = 1.0 - area
    return mixed, lam * labels + (1 - lam) * tf.gather(labels, perm)


def mix_batch(inputs, labels, seed, *, mixup_alpha=0.0, cutmix_alpha=0.0):
    """Apply MixUp and/or CutMix (0 switches one off) to one batch; ``seed``: int64 pair."""
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return inputs, labels
    if mixup_alpha <= 0:
        return cutmix(inputs, labels, seed, cutmix_alpha)
    if cutmix_alpha <= 0:
        return mixup(inputs, labels, seed, mixup_alpha)
    choose, seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    use_cutmix = tf.random.stateless_uniform([], choose) < 0.5
    return tf.cond(use_cutmix, lambda: cutmix(inputs, labels, seed, cutmix_alpha),
                   lambda: mixup(inputs, labels, seed, mixup_alpha))
