"""Recordings at another sampling rate, bit depth or channel layout than their group's,
brought to it before prediction.

A model's series group reads recordings at its ``input_rate`` (the training data's rate)
with a given number of channels per input. A WAV file sent at another rate or bit depth
(a 44.1 kHz / 24-bit copy of an 8 kHz recording) is read, resampled to ``input_rate`` with
the training pipeline's polyphase resampler (:func:`minape_tf.layers.resample.resample`,
scipy's ``resample_poly`` filter), and fed as an in-memory series; a WAV with more
channels than a one-channel input wants (a stereo copy of a mono recording) is mixed down
to mono (the mean of its channels) first. Every change is said (:func:`describe`), none is
silent. Once one file of an input is fed as an array, the input's other files are read
into arrays too, so that one call may mix rates, bit depths and layouts. ``.npy`` and CSV
series carry no rate and are taken as at ``input_rate``; other channel counts are left to
the validation pass, which refuses them naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from minape_tf.data import decode
from minape_tf.data.validate import slot_channels
from minape_tf.groups import SeriesGroup
from minape_tf.layers.resample import resample


@dataclass(frozen=True)
class Fitted:
    """A WAV file brought to its group: read at ``rate`` with ``channels``."""

    path: str
    rate: int
    channels: int
    group: SeriesGroup
    downmixed: bool


def _wav_layout(item):
    """``(rate, channels)`` of a WAV path, ``None`` for anything else or an unreadable
    header (which validation then reports)."""
    if not isinstance(item, (str, os.PathLike)) or decode.extension(item) != ".wav":
        return None
    try:
        info = decode.wav_info(item)
    except ValueError:
        return None
    return int(info.samplerate), int(info.channels)


def at_rate(series, rate, group) -> np.ndarray:
    """A series ``(samples,)`` or ``(samples, channels)`` at ``rate`` (``None``: already at
    the group's) as float32 ``(samples, channels)`` at the group's ``input_rate``."""
    series = np.asarray(series, np.float32)
    series = series[:, None] if series.ndim == 1 else series
    if rate is None or int(rate) == group.input_rate:
        return series
    return np.asarray(resample(series, int(rate), group.input_rate), np.float32)


def _fit(item, rate, channels, group, wanted):
    """The series of WAV ``item`` mixed down (to one channel when ``wanted`` is 1) and
    resampled to the group's rate."""
    data, _ = decode.read_series(item)
    if channels > 1 and wanted == 1:
        data = data.mean(axis=1, keepdims=True)
    return at_rate(data, rate, group)


def _as_array(item, wanted):
    """A path's series as an array; the path itself when the series could not be used as
    it is (unreadable, empty, not finite, other channels), so that the validation pass
    names the file and what is wrong."""
    try:
        data = decode.read_series(item)[0]
    except (ValueError, OSError):
        return item
    usable = len(data) and data.shape[1] == wanted and np.isfinite(data).all()
    return data if usable else item


def at_group_rates(source, groups) -> tuple:
    """``(source, fitted)``: ``source`` with every WAV input whose rate differs from its
    group's ``input_rate``, or that has several channels where its input takes one, replaced
    by its series brought to the group (the other files of that input read too), and
    ``fitted``, the :class:`Fitted` files that were changed.

    Parameters
    ----------
    source : Source
        Observations whose items are file paths or arrays.
    groups : list of ImageGroup or SeriesGroup
        The model's groups; image groups are left as they are.
    """
    inputs, fitted = dict(source.inputs), []
    for group in groups:
        if not isinstance(group, SeriesGroup) or group.name not in inputs:
            continue
        rows = [list(row) for row in inputs[group.name]]
        changed = set()              # input positions with an item fed as an array
        for row in rows:
            wanted = slot_channels(group, len(row))
            for k, item in enumerate(row):
                layout = _wav_layout(item)
                if layout is None:
                    continue
                rate, channels = layout
                downmix = channels > 1 and wanted == 1
                if rate != group.input_rate or downmix:
                    row[k] = _fit(item, rate, channels, group, wanted)
                    fitted.append(Fitted(os.fspath(item), rate, channels, group, downmix))
                    changed.add(k)
        for row in rows:
            for k in changed:
                if k < len(row) and isinstance(row[k], (str, os.PathLike)):
                    row[k] = _as_array(row[k], slot_channels(group, len(row)))
        inputs[group.name] = [tuple(row) for row in rows]
    return (replace(source, inputs=inputs) if fitted else source), fitted


def describe(fitted) -> str:
    """One line naming the files that were resampled or mixed down, and how."""
    def what(f):
        parts = [f"{f.rate} Hz"] + ([f"{f.channels} channels mixed down"] if f.downmixed else [])
        return f"{os.path.basename(f.path)} ({', '.join(parts)})"

    shown = ", ".join(what(f) for f in fitted[:5])
    more = f" and {len(fitted) - 5} more" if len(fitted) > 5 else ""
    targets = sorted({f"{f.group.input_rate} Hz (group {f.group.name!r})" for f in fitted})
    verb = "resampled or mixed down" if any(f.downmixed for f in fitted) else "resampled"
    return f"{verb} {len(fitted)} file(s) to {', '.join(targets)}: {shown}{more}"
