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
             val_speakers=None, image_size=(32, 32), test_image_fraction=0.3, group=None,
             validate=True, skip_bad=False) -> Loaded:
    """A real two-modality task: a spoken digit (FSDD) with a handwritten one (sklearn).

    Each recording is paired with a ``load_digits`` image of the same digit, drawn by a
    ``numpy`` generator seeded with ``seed`` (so the pairing is deterministic). The images
    of every digit are first divided into three disjoint pools: the test recordings get
    images from the test pool (``test_image_fraction`` of each digit's images); the rest
    is divided between the training and the validation recordings in proportion to how
    many recordings of that digit each has (at least one image for a split with
    recordings). So no test or validation image was seen in training; the image id is
    the ``+digit<k>`` suffix of each observation id. The way AV-MNIST is built from
    MNIST and TIDIGITS.

    The pools follow the loader's own train/val/test split. ``minape cv`` re-splits the
    observations into folds, and the pairing is fixed here, so across its folds an image
    can pair with recordings on both sides: for cross-validation the image pools are
    *not* kept disjoint (the audio is split as cv says; only the digit images may repeat).

    Parameters
    ----------
    fsdd_root : path
        The FSDD folder (see :func:`minape_tf.data.fsdd`).
    seed : int, default 0
        Fixes the image pools, the pairing and FSDD's validation draw.
    split, test_speakers
        As for :func:`minape_tf.data.fsdd` (default: speaker ``theo`` is the test set).
    val_speakers : tuple of str or None, default None
        Held-out validation speakers for ``split="speaker"``, as for
        :func:`minape_tf.data.fsdd`; ``None``: a deterministic 10% of every (digit,
        speaker) of the other speakers. A speaker in both ``test_speakers`` and
        ``val_speakers`` is split by index: recordings 0-4 test, 5-49 validate.
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
    audio = fsdd(fsdd_root, split, test_speakers, val_speakers=val_speakers, seed=seed,
                 group=group, validate=validate, skip_bad=skip_bad)
    images, targets = digit_images()
    src = audio.source
    part = np.full(len(src), "train", dtype=object)  # recordings in no split: train pool
    for name in ("val", "test"):
        part[audio.splits[name]] = name
    rng = np.random.default_rng(seed)
    pools = {}
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(targets == d))
        k = int(round(test_image_fraction * len(idx)))
        rest = idx[k:]
        n_train = int(np.sum((src.labels == d) & (part == "train")))
        n_val = int(np.sum((src.labels == d) & (part == "val")))
        k_val = int(round(len(rest) * n_val / max(n_train + n_val, 1)))
        if n_val:
            k_val = max(k_val, 1)
        if n_train:
            k_val = min(k_val, len(rest) - 1)
        pools[d] = {"test": idx[:k], "val": rest[:k_val], "train": rest[k_val:]}
    chosen = np.array([rng.choice(pools[int(y)][p]) for y, p in zip(src.labels, part)],
                      dtype=np.int64)
    digit = ImageGroup("digit", channels=1, size=tuple(image_size), inputs=("digit",))
    inputs = dict(src.inputs)
    inputs["digit"] = [(images[i],) for i in chosen]
    source = Source(inputs=inputs, labels=src.labels, classes=src.classes,
                    ids=[f"{i}+digit{c}" for i, c in zip(src.ids, chosen)],
                    split_keys=src.split_keys, skipped=src.skipped, validated=src.validated)
    return Loaded(source, [*audio.groups, digit], audio.splits)
