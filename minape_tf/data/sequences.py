"""Device histories: each observation with the ``L - 1`` observations of its device before it.

The paper's model reads a sequence of consecutive observations of one device, ``X(1) ..
X(l)`` (Section 3), and its prime learner (TempMixer, GRU, LSTM) learns from how they change.
A :class:`~minape_tf.data.Source` says which device an observation belongs to
(``split_keys``: a tool, a manifest's ``group``) and where it lies in that device's history
(``order``: Mudestreda's run and image number, the demo's run, a manifest's ``order``).
:func:`history_windows` turns that into windows, :func:`make_sequence_dataset` into the
``(batch, L, ...)`` inputs of ``build_minape(sequence_length=L)``; ``make_dataset(...,
sequence_length=L)`` calls it.

Rules:

* a window ends at its observation and holds the ``L`` most recent observations of the same
  device up to it, oldest first; its label is the last one's;
* it never holds another device's observation, nor one outside the given ``Source``: pass one
  split's ``source.subset(...)``, and no window crosses the split (with a split by device,
  as Mudestreda's tool split or ``--grouped``, every history stays whole);
* an observation with fewer than ``L - 1`` predecessors gets a short history. By default
  (``short="pad"``) it is padded at the old end with copies of its device's oldest
  observation and the padded steps are marked in :attr:`Windows.mask`, so every observation
  is predicted and the test set is the same for every ``L`` (dropping them would leave out
  each device's first observations, mostly sharp tools, and make the rows of an ``L``
  comparison incomparable). The copies are real images and spectrograms, which the
  pathways read as "the device did not change before"; zeros would be inputs the pathways
  never saw. The model is not given the mask. ``short="drop"`` leaves short windows out.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from minape_tf.data import augment as aug
from minape_tf.data.errors import DataError
from minape_tf.groups import ImageGroup, SeriesGroup, spectral_stages

SHORT = ("pad", "drop")


class Windows(NamedTuple):
    """Histories of a ``Source``: row ``i`` is one window.

    Attributes
    ----------
    index : int64 array (n, L)
        Observations of the window (positions in the source), oldest first.
    mask : bool array (n, L)
        ``True`` where the step is an observation of the history, ``False`` where it pads a
        short history (a copy of the oldest observation).
    ends : int64 array (n,)
        The observation each window ends at, whose label it has (``index[:, -1]``).
    """

    index: np.ndarray
    mask: np.ndarray
    ends: np.ndarray


def history_windows(source, length, *, short="pad") -> Windows:
    """For each observation, the ``length`` most recent observations of its device.

    Parameters
    ----------
    source : Source
        One split's observations, with ``order`` (and ``split_keys``: the devices; without
        them, all observations are one device's).
    length : int
        ``L``, observations per window (1: every window is its observation alone).
    short : {"pad", "drop"}, default "pad"
        What to do with observations that have fewer than ``L - 1`` predecessors: pad
        (copies of the oldest, masked) or leave them out. See the module docstring.

    Returns
    -------
    Windows
        In the source's order (``ends`` increasing).

    Raises
    ------
    ValueError
        For a bad ``length`` or ``short``.
    DataError
        When the source has no ``order``, or two observations of a device have the same one.
    """
    if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 1:
        raise ValueError(f"sequence_length={length!r}: expected an integer >= 1")
    if short not in SHORT:
        raise ValueError(f"short={short!r}: expected one of {SHORT}")
    n = len(source)
    if length > 1 and source.order is None:
        raise DataError("sequence_length > 1 needs the order of the observations within each "
                        "device, and this data set has none (a manifest needs an 'order' "
                        "column; Mudestreda ids of the form T<tool>R<run>B<image>)")
    order = source.order if source.order is not None else np.arange(n)
    devices = source.split_keys if source.split_keys is not None else np.zeros(n, str)
    index = np.empty((n, length), dtype=np.int64)
    mask = np.ones((n, length), dtype=bool)
    for device in np.unique(devices):
        members = np.flatnonzero(devices == device)
        members = members[np.argsort(order[members], kind="stable")]
        _check_distinct(source, device, members, order)
        for position, observation in enumerate(members):
            history = members[max(0, position - length + 1): position + 1]
            missing = length - len(history)
            index[observation] = np.concatenate([np.repeat(history[:1], missing), history])
            mask[observation, :missing] = False
    keep = np.arange(n) if short == "pad" else np.flatnonzero(mask.all(axis=1))
    return Windows(index[keep], mask[keep], keep.astype(np.int64))


def _check_distinct(source, device, members, order):
    same = np.flatnonzero(np.diff(order[members]) == 0)
    if len(same):
        a, b = members[same[0]], members[same[0] + 1]
        raise DataError(f"observations {source.ids[a]!r} and {source.ids[b]!r} of device "
                        f"{str(device)!r} have the same order {order[a].item()}: their "
                        "history is ambiguous")


def make_sequence_dataset(source, groups, sequence_length, read_steps, *, training,
                          batch_size=32, short="pad", augment=True, seed=0, features=True,
                          drop_remainder=False, augmentation=None):
    """Histories as inputs ``(batch, L, ...)``, the label of the last observation.

    ``read_steps(subset, spectral=True)`` turns a (validated) ``Source`` into a dataset of
    its observations in order, batched ``L`` at a time, without augmentation (and, with
    ``spectral=False``, without the groups' spectral normalisation, which is then applied
    here after the augmentation): ``make_dataset`` passes itself
    (the cache then holds ``L`` copies of an observation: fine for data sets of a few
    thousand observations). The windows, not the observations, are shuffled; training
    augmentation draws anew for every observation of a window. Other parameters as for
    ``make_dataset``, plus ``short`` (see :func:`history_windows`); users call
    ``make_dataset(..., sequence_length=L)``.

    Returns
    -------
    tf.data.Dataset
        Elements ``({name: float32 (batch, L, ...)}, int64 label)``.
    """
    groups = list(groups)
    windows = history_windows(source, sequence_length, short=short)
    if len(windows.ends) == 0:
        raise DataError(f"no device has {sequence_length} observations in this data set, so "
                        f"short={short!r} leaves no window; use short='pad'")
    augmenting = training and _wanted(groups, augment)
    steps = read_steps(source.subset(windows.index.ravel()), spectral=not augmenting)

    def window(x, labels):
        return ({name: tf.ensure_shape(v, (sequence_length, *v.shape[1:]))
                 for name, v in x.items()}, labels[-1])

    ds = steps.map(window)
    if training:
        ds = ds.shuffle(len(windows.ends), seed=seed, reshuffle_each_iteration=True)
    if augmenting:
        ds = _augment(ds, groups, augment, features, seed, augmentation)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _wants(augment, group):
    return augment.get(group.name, False) if isinstance(augment, dict) else bool(augment)


def _wanted(groups, augment):
    return any(_wants(augment, g) for g in groups)


def _augment(ds, groups, augment, features, seed, augmentation):
    """Training augmentation of windows: every observation of a window gets its own draw;
    then the series groups' spectral normalisation (``read_steps`` left it out)."""
    series = [g for g in groups if isinstance(g, SeriesGroup) and _wants(augment, g)
              and aug.augments(g, features)]
    images = {g.name: aug.image_augmenter(g, seed=seed) for g in groups
              if isinstance(g, ImageGroup) and _wants(augment, g)}
    spectral = spectral_stages(groups) if features else {}

    def one_window(x, label, draw):
        x = dict(x)
        for k, g in enumerate(series):
            seeds = tf.random.experimental.stateless_split(
                tf.stack([draw, tf.constant(k, tf.int64)]), tf.shape(x[g.name])[0])
            def step(pair, g=g):
                return aug.augment_series(g, pair[1], pair[0], features, augmentation)
            x[g.name] = tf.map_fn(step, (seeds, x[g.name]), fn_output_signature=tf.float32)
        for name, layer in images.items():  # the window's L images as one batch
            x[name] = tf.clip_by_value(layer(x[name], training=True), 0.0, 1.0)
        for name, layers in spectral.items():  # the window's L spectrograms as one batch
            for layer in layers:
                x[name] = layer(x[name])
        return x, label

    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(ds, draws).map(
        lambda xy, draw: one_window(xy[0], xy[1], draw), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
