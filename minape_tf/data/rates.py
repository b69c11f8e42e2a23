"""Recordings at another sampling rate than their group's, brought to it before prediction.

A model's series group reads recordings at its ``input_rate`` (the training data's rate); a
WAV file sent at another rate or bit depth (a 44.1 kHz / 24-bit copy of an 8 kHz
recording) is read, resampled to ``input_rate`` with the training pipeline's polyphase
resampler (:func:`minape_tf.layers.resample.resample`, scipy's ``resample_poly`` filter),
and fed as an in-memory series. ``.npy`` and CSV series carry no rate and are taken as at
``input_rate``.
"""

from __future__ import annotations

import os
from dataclasses import replace

from minape_tf.data import decode
from minape_tf.groups import SeriesGroup
from minape_tf.layers.resample import resample


def _file_rate(item):
    """The sampling rate of a WAV path, ``None`` for anything else or an unreadable header
    (which validation then reports)."""
    if not isinstance(item, (str, os.PathLike)) or decode.extension(item) != ".wav":
        return None
    try:
        return int(decode.wav_info(item).samplerate)
    except ValueError:
        return None


def at_group_rates(source, groups) -> tuple:
    """``(source, resampled)``: ``source`` with every WAV input whose rate differs from its
    group's ``input_rate`` replaced by the series resampled to that rate, and
    ``resampled``, a list of ``(path, rate, group)`` of the files that were.

    Parameters
    ----------
    source : Source
        Observations whose items are file paths or arrays.
    groups : list of ImageGroup or SeriesGroup
        The model's groups; image groups are left as they are.
    """

    inputs, resampled = dict(source.inputs), []
    for group in groups:
        if not isinstance(group, SeriesGroup) or group.name not in inputs:
            continue
        rows = []
        for row in inputs[group.name]:
            items = []
            for item in row:
                rate = _file_rate(item)
                if rate is not None and rate != group.input_rate:
                    data, _ = decode.read_series(item)
                    items.append(resample(data, rate, group.input_rate).numpy())
                    resampled.append((os.fspath(item), rate, group))
                else:
                    items.append(item)
            rows.append(tuple(items))
        inputs[group.name] = rows
    return (replace(source, inputs=inputs) if resampled else source), resampled


def describe(resampled) -> str:
    """One line naming the files that were resampled, and from and to which rates."""
    shown = ", ".join(f"{os.path.basename(path)} ({rate} Hz)"
                      for path, rate, _ in resampled[:5])
    more = f" and {len(resampled) - 5} more" if len(resampled) > 5 else ""
    targets = sorted({f"{g.input_rate} Hz (group {g.name!r})" for _, _, g in resampled})
    return f"resampled {len(resampled)} file(s) to {', '.join(targets)}: {shown}{more}"
