"""Audio-visual digits: FSDD recordings paired with scikit-learn's handwritten digits."""

from __future__ import annotations

import numpy as np

from minape_tf.data.loaders.fsdd import fsdd
from minape_tf.data.source import Loaded, Source
from minape_tf.groups import ImageGroup


def digit_images():
    """scikit-learn's 1,797 handwritten digits as float32 ``(8, 8, 1)`` in [0, 1], labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[..., None], d.target.astype(np.int64)


def avdigits(fsdd_root, seed=0, *, split="speaker", test_speakers=("theo",),
             image_size=(32, 32), test_image_fraction=0.3, group=None, validate=True,
             skip_bad=False) -> Loaded:
    """A real two-modality task: a spoken digit (FSDD) with a handwritten one (sklearn).

    Each recording is paired with a ``load_digits`` image of the same digit, drawn by a
    ``numpy`` generator seeded with ``seed`` (so the pairing is deterministic). The images
    of every digit are first divided into two disjoint pools: the test recordings get
    images from the test pool (``test_image_fraction`` of each digit's images), the
    training and validation recordings from the other pool, so that no test image was
    seen in training. The way AV-MNIST is built from MNIST and TIDIGITS.

    Parameters
    ----------
    fsdd_root : path
        The FSDD folder (see :func:`minape_tf.data.fsdd`).
    seed : int, default 0
        Fixes the image pools, the pairing and FSDD's validation draw.
    split, test_speakers
        As for :func:`minape_tf.data.fsdd` (default: speaker ``theo`` is the test set).
    image_size : (int, int), default (32, 32)
        Size the 8x8 digit images are upscaled to (bilinear).
    test_image_fraction : float, default 0.3
        Fraction of each digit's images reserved for the test recordings.
    group : SeriesGroup or None, default None
        The audio group (default: FSDD's, see :func:`minape_tf.data.loaders.fsdd.audio_group`).
    validate, skip_bad
        As for :func:`minape_tf.data.fsdd`.

    Returns
    -------
    Loaded
        Groups ``audio`` (series, 1 channel) and ``digit`` (image, 1 channel).
    """
    audio = fsdd(fsdd_root, split, test_speakers, seed=seed, group=group, validate=validate,
                 skip_bad=skip_bad)
    images, targets = digit_images()
    rng = np.random.default_rng(seed)
    pools = {}
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(targets == d))
        k = int(round(test_image_fraction * len(idx)))
        pools[d] = {"test": idx[:k], "train": idx[k:]}
    src = audio.source
    in_test = np.zeros(len(src), bool)
    in_test[audio.splits["test"]] = True
    chosen = np.array([rng.choice(pools[int(y)]["test" if t else "train"])
                       for y, t in zip(src.labels, in_test)], dtype=np.int64)
    digit = ImageGroup("digit", channels=1, size=tuple(image_size), inputs=("digit",))
    inputs = dict(src.inputs)
    inputs["digit"] = [(images[i],) for i in chosen]
    source = Source(inputs=inputs, labels=src.labels, classes=src.classes,
                    ids=[f"{i}+digit{c}" for i, c in zip(src.ids, chosen)],
                    split_keys=src.split_keys, skipped=src.skipped, validated=src.validated)
    return Loaded(source, [*audio.groups, digit], audio.splits)
