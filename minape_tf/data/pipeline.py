"""``make_dataset``: a ``Source`` and its groups to a ``tf.data.Dataset`` of batches.

Per observation (in the graph, ``AUTOTUNE`` parallel, deterministic order):

* image group: each input is decoded (JPEG/PNG/GIF/BMP, or taken from memory) to [0, 1]
  and brought to the group's channels per input (gray replicated to RGB, RGB to gray by
  luminance, alpha dropped: :func:`minape_tf.data.decode.convert_channels`), then resized
  to ``group.size`` by the group's preprocessing layer (``group.preprocessing()``: bilinear
  with antialiasing; ``keep_aspect=True`` pads instead of stretching);
  the inputs are stacked along channels (paper Eq. 7);
* series group: each input is decoded (WAV, ``.npy``, CSV, or memory), resampled from
  ``group.source_rate`` to ``group.sample_rate`` and trimmed or zero-padded at the end to
  ``group.length`` (Eq. 8) by ``group.preprocessing()``, and stacked along channels;
  unless ``features_in_model`` it is level-normalised (``group.normalize``) and turned into
  log-Mel spectrograms (Eqs. 9-10) by ``group.feature_layers()``, the same layers that
  ``build_minape(features_in_model=True)`` puts in the model.

The exported SavedModel applies the same group layers to its requests
(:mod:`minape_tf.deploy.serving`): one definition, used for training and for serving.

These deterministic stages are cached; then (training only) shuffling and augmentation
(:mod:`minape_tf.data.augment`), batching and prefetching.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from minape_tf.data import augment as aug
from minape_tf.data import decode
from minape_tf.data.errors import DataError
from minape_tf.data.sequences import make_sequence_dataset
from minape_tf.data.source import Source
from minape_tf.data.validate import slot_channels
from minape_tf.data.validate import validate as _validate
from minape_tf.groups import ImageGroup, SeriesGroup, spectral_stages

AUTOTUNE = tf.data.AUTOTUNE


def _is_path(item):
    return isinstance(item, (str, os.PathLike))


def _pad_stack(arrays):
    """Arrays of one rank and different shapes -> zero-padded stack and the shapes."""
    shapes = np.array([a.shape for a in arrays], dtype=np.int32)
    out = np.zeros((len(arrays), *shapes.max(axis=0)), dtype=np.float32)
    for k, a in enumerate(arrays):
        out[(k, *[slice(0, s) for s in a.shape])] = a
    return out, shapes


class _Slot:
    """One input of a group across all observations: its tensor slices and its reader."""

    def __init__(self, group, items, channels):
        self.group, self.channels = group, channels
        if all(_is_path(i) for i in items):
            self.kind = "path"
            self.data = np.array([os.fspath(i) for i in items], dtype=object).astype(str)
            if isinstance(group, SeriesGroup):
                self.reader = self._series_file_reader(items)
        elif all(isinstance(i, np.ndarray) for i in items):
            self.kind = "array"
            if isinstance(group, ImageGroup):  # gray/RGB(A) converted as files are
                arrays = [decode.image_array(a, channels) for a in items]
            else:
                arrays = [decode.series_array(a) for a in items]
            self.data = _pad_stack(arrays)
        else:
            raise DataError(f"group {group.name!r}: an input mixes file paths and arrays "
                            "across observations; use one or the other")

    def _series_file_reader(self, items):
        exts = {decode.extension(i) for i in items}
        if exts == {".wav"} and all(decode.tf_readable_wav(decode.wav_info(os.fspath(i)))
                                    for i in items):
            return decode.decode_wav_file
        return decode.numpy_series_reader(self.group.inputs)

    def read(self, value):
        """Graph: the slice of one observation -> image (h, w, c) / series (n, c)."""
        if self.kind == "path":
            if isinstance(self.group, ImageGroup):
                return decode.decode_image_file(value, self.channels)
            return self.reader(value)
        array, shape = value
        if isinstance(self.group, ImageGroup):
            image = array[:shape[0], :shape[1], :shape[2]]
            image.set_shape([None, None, self.channels])
            return image
        return array[:shape[0], :shape[1]]


class GroupReader:
    """Reads one group of one observation to its raw tensor (image or resampled series)."""

    def __init__(self, group, items):
        self.group = group
        n_inputs = len(items[0]) if items else 1
        per_input = slot_channels(group, n_inputs)
        self.slots = [_Slot(group, [row[j] for row in items], per_input)
                      for j in range(n_inputs)]
        self.prepare = group.preprocessing()

    def slices(self):
        return tuple(s.data for s in self.slots)

    def __call__(self, values):
        g = self.group
        parts = [self.prepare(slot.read(value)) for slot, value in zip(self.slots, values)]
        x = parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)
        return tf.ensure_shape(x, g.feature_shape if isinstance(g, ImageGroup)
                               else (g.length, g.channels))


class SeriesFeatures:
    """A series group's feature layers (level normalisation, log-Mel; with ``spectral``,
    its spectral normalisation too) applied in order to ``(batch, length, channels)``:
    ``group.feature_layers()``, as in the model."""

    def __init__(self, group, spectral=True):
        self.layers = group.feature_layers(spectral=spectral)

    def __call__(self, batch):
        for layer in self.layers:
            batch = layer(batch)
        return batch


def spectral_normalizer(groups):
    """``(x, label) -> (x, label)`` applying each series group's spectral normalisation
    (:func:`minape_tf.groups.spectral_stages`) to a batch of its log-Mel; ``None`` when
    no group has one. The pipeline applies it after augmentation."""
    stages = spectral_stages(groups)
    if not stages:
        return None

    def normalize(x, label):
        x = dict(x)
        for name, layers in stages.items():
            for layer in layers:
                x[name] = layer(x[name])
        return x, label

    return normalize


def make_dataset(source, groups, *, training, batch_size=32, cache=True, augment=True,
                 seed=0, features_in_model=False, validate=True, skip_bad=False,
                 drop_remainder=False, feature_batch=16, sequence_length=1, short_histories="pad",
                 augmentation=None, _spectral=True):
    """A ``tf.data.Dataset`` of ``(dict of group tensors, label)`` batches.

    Parameters
    ----------
    source : Source
        The observations (e.g. ``loaded.source.subset(loaded.splits["train"])``).
    groups : list of ImageGroup / SeriesGroup
        The groups to produce; the dict keys are their names.
    training : bool
        ``True``: shuffle every epoch and augment (when ``augment``).
    batch_size : int, default 32
        Observations per batch.
    cache : bool or str, default True
        Cache the deterministic stages: ``True`` in memory, a str as files with that
        prefix, ``False`` not at all.
    augment : bool or dict, default True
        Train-only augmentation (:mod:`minape_tf.data.augment`); a dict maps group names
        to bools. Ignored when ``training`` is ``False``.
    seed : int, default 0
        Fixes shuffling and augmentation.
    features_in_model : bool, default False
        ``False``: series as their features, log-Mel ``(frames, n_mels, channels)`` (or
        frames). ``True``: raw ``(length, channels)`` at the group's rate and length, *not*
        level-normalised, for a model built with ``features_in_model=True`` (which
        computes its features and normalises itself).
    validate : bool, default True
        Run :func:`minape_tf.data.validate` first, unless ``source.validated``.
    skip_bad : bool, default False
        Passed to the validation: leave bad observations out instead of raising.
    drop_remainder : bool, default False
        Drop the last, smaller batch.
    feature_batch : int, default 16
        Observations whose log-Mel features are computed in one vectorised call.
    sequence_length : int, default 1
        ``L > 1``: each element is an observation's device history, the ``L`` most recent
        observations of its device up to it, oldest first, labelled by the last, for
        ``build_minape(sequence_length=L)``; see :mod:`minape_tf.data.sequences`.
    short_histories : {"pad", "drop"}, default "pad"
        With ``L > 1``: pad shorter histories with copies of their oldest observation, or
        leave them out.
    augmentation : SeriesAugmentation, dict or None, default None
        Strengths of the series augmentation (:class:`minape_tf.data.augment.
        SeriesAugmentation`; None: its defaults).
    _spectral : bool, default True
        Internal (the history windows): ``False`` leaves out the spectral normalisation,
        which the caller applies after its own augmentation.

    Returns
    -------
    tf.data.Dataset
        Elements ``({name: float32 tensor}, int64 label)``; images ``(batch, h, w, c)`` in
        [0, 1], series ``(batch, frames, n_mels, c)`` or ``(batch, length, c)``; with
        ``sequence_length=L > 1``, ``(batch, L, ...)``.
    """
    groups, features = list(groups), not features_in_model
    if validate and not source.validated:
        source = _validate(source, groups, skip_bad=skip_bad)
    strengths = aug.SeriesAugmentation.make(augmentation)
    if sequence_length != 1:
        def read_steps(subset, spectral=True):
            return make_dataset(subset, groups, training=False, batch_size=sequence_length,
                                cache=cache, augment=False, features_in_model=features_in_model,
                                validate=False,
                                feature_batch=feature_batch, _spectral=spectral)

        return make_sequence_dataset(
            source, groups, sequence_length, read_steps, training=training,
            batch_size=batch_size, short=short_histories, augment=augment, seed=seed,
            features=features, drop_remainder=drop_remainder, augmentation=strengths)
    if len(source) == 0:
        raise DataError("no observations to make a dataset from")
    series = [g for g in groups if isinstance(g, SeriesGroup)]
    ds = _read(source, groups)
    if features and series:
        ds = _featurize(ds, series, feature_batch)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if training:
        ds = ds.shuffle(len(source), seed=seed, reshuffle_each_iteration=True)

    def wants(name):
        return training and (augment.get(name, False) if isinstance(augment, dict)
                             else bool(augment))

    ds = _augment_series(ds, [g for g in series if wants(g.name) and aug.augments(g, features)],
                         features, strengths, seed)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    normalize = spectral_normalizer(series) if features and _spectral else None
    if normalize is not None:
        ds = ds.map(normalize, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = _augment_images(ds, [g for g in groups if isinstance(g, ImageGroup) and wants(g.name)],
                         seed)
    return ds.prefetch(AUTOTUNE)


def _read(source, groups):
    """The observations of ``source``, each read by its groups' readers, unbatched."""
    readers = {g.name: GroupReader(g, source.inputs[g.name]) for g in groups}
    slices = {name: r.slices() for name, r in readers.items()}
    ds = tf.data.Dataset.from_tensor_slices((slices, source.labels))

    def read(values, label):
        return {name: readers[name](values[name]) for name in readers}, label

    return ds.map(read, num_parallel_calls=AUTOTUNE, deterministic=True)


def _featurize(ds, series, feature_batch):
    """The series groups' features (level normalisation, log-Mel or frames), computed
    ``feature_batch`` observations at a time; the spectral normalisation comes later, after
    the cache and the augmentation."""
    extractors = {g.name: SeriesFeatures(g, spectral=False) for g in series}

    def featurize(x, label):
        x = dict(x)
        for name, f in extractors.items():
            x[name] = f(x[name])
        return x, label

    return ds.batch(feature_batch).map(featurize, num_parallel_calls=AUTOTUNE,
                                       deterministic=True).unbatch()


def _augment_series(ds, groups, features, strengths, seed):
    """Each observation of the series ``groups`` augmented with its own random draw."""
    if not groups:
        return ds

    def augment_series(x, label, rnd):
        x = dict(x)
        for k, g in enumerate(groups):
            s = tf.stack([rnd, tf.constant(k, tf.int64)])
            x[g.name] = aug.augment_series(g, x[g.name], s, features, strengths)
        return x, label

    rnd = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(ds, rnd).map(lambda xy, r: augment_series(xy[0], xy[1], r),
                                            num_parallel_calls=AUTOTUNE, deterministic=True)


def _augment_images(ds, groups, seed):
    """The batches' images of ``groups`` augmented (:func:`~minape_tf.data.augment.
    image_augmenter`) and kept in [0, 1]."""
    if not groups:
        return ds
    layers = {g.name: aug.image_augmenter(g, seed=seed) for g in groups}

    def augment_images(x, label):
        x = dict(x)
        for name, layer in layers.items():
            x[name] = tf.clip_by_value(layer(x[name], training=True), 0.0, 1.0)
        return x, label

    return ds.map(augment_images, num_parallel_calls=AUTOTUNE, deterministic=True)


def load_observations(items, groups, *, features_in_model=False):
    """Features of observations without a training pipeline (e.g. for ``predict``).

    Parameters
    ----------
    items : dict
        Group name -> one observation's tuple of inputs (paths or arrays), or a list of
        such tuples for several observations.
    groups : list of ImageGroup / SeriesGroup
    features_in_model : bool, default False
        As in :func:`make_dataset`.

    Returns
    -------
    dict of numpy arrays, one per group, with a leading observation axis.
    """

    inputs = {}
    for name, value in items.items():
        rows = [value] if isinstance(value, tuple) else [tuple(v) if isinstance(v, (list, tuple))
                                                          else (v,) for v in value]
        inputs[name] = rows
    n = len(next(iter(inputs.values())))
    src = Source(inputs=inputs, labels=np.zeros(n, np.int64), classes=["?"],
                 ids=[f"input {i}" for i in range(n)])
    ds = make_dataset(src, groups, training=False, batch_size=max(n, 1), cache=False,
                      augment=False, features_in_model=features_in_model)
    x, _ = next(iter(ds))
    return {k: v.numpy() for k, v in x.items()}
