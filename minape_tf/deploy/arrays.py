"""``predict_arrays``: a Keras model's class probabilities from raw arrays, in one call.

The model reads features (log-Mel spectrograms, images at its size); a user holds raw
recordings and pictures. This call brings the arrays to the model as the training pipeline
does -- series resampled to the group's rate (from ``rates``), trimmed or zero-padded at the
end to its length, turned into features; images scaled and resized -- and returns the
probabilities, as ``minape predict`` would for the same recordings in files::

    model = minape_tf.load_model("runs/fsdd")
    audio, rate = soundfile.read("7_theo_3.wav", dtype="float32")
    probabilities = minape_tf.predict_arrays(model, audio, rates=rate)
"""

from __future__ import annotations

import numpy as np

from minape_tf.data.rates import at_rate
from minape_tf.data.source import Source
from minape_tf.data.validate import validate
from minape_tf.deploy.predictor import KerasPredictor, check_histories
from minape_tf.groups import SeriesGroup
from minape_tf.models.saving import load_minape


def _observations(value) -> list:
    """One array, or a list / tuple of arrays, as a list of observations."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _by_group(model, inputs) -> dict:
    """``{group name: [observation arrays]}``: a bare array (or list) feeds a one-group
    model; a dict is keyed by group name."""
    groups = list(model.groups)
    if not isinstance(inputs, dict):
        if len(groups) != 1:
            raise ValueError(f"the model reads {len(groups)} groups "
                             f"({', '.join(g.name for g in groups)}): give a dict of arrays "
                             "keyed by group name")
        inputs = {groups[0].name: inputs}
    unknown = sorted(set(inputs) - {g.name for g in groups})
    missing = [g.name for g in groups if g.name not in inputs]
    if unknown or missing:
        raise ValueError(f"inputs keyed {sorted(inputs)}; the model reads the groups "
                         f"{[g.name for g in groups]}")
    by_group = {name: _observations(value) for name, value in inputs.items()}
    counts = {name: len(rows) for name, rows in by_group.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"the groups have different numbers of observations: {counts}")
    return by_group


def predict_arrays(model, inputs, *, rates=None, batch_size=32) -> np.ndarray:
    """Class probabilities ``(observations, classes)`` of raw arrays.

    Parameters
    ----------
    model : Minape or path
        A loaded model (:func:`minape_tf.load_model`), or a run folder / ``.keras`` file.
    inputs : array, list of arrays, or dict
        For a model of one group: one observation's array or a list of them (series
        ``(samples,)`` or ``(samples, channels)`` of any length; images ``(height, width)``
        or ``(height, width, channels)``, ``uint8``, ``uint16`` or floats in [0, 1]). For
        several groups: ``{group name: array or list}``, the same number of observations
        each.
    rates : int, dict or None, default None
        The sampling rate of the series (one int for every series group, or ``{group name:
        rate}``); ``None``: already at each group's rate (the training data's).
    batch_size : int, default 32

    Returns
    -------
    numpy.ndarray
        Probabilities in the order of ``model.class_names``.

    Raises
    ------
    ValueError
        Inputs that do not match the model's groups; a model of device histories (it needs
        each observation's device and order: ``minape predict --manifest``).
    DataError
        An array the pipeline cannot read (wrong channels, empty, not finite), naming it.
    """
    if not hasattr(model, "groups"):
        model = load_minape(model)[0]
    check_histories(model.arguments.get("sequence_length", 1))
    by_group = _by_group(model, inputs)
    for group in model.groups:
        if isinstance(group, SeriesGroup):
            rate = rates.get(group.name) if isinstance(rates, dict) else rates
            by_group[group.name] = [at_rate(a, rate, group) for a in by_group[group.name]]
    n = len(next(iter(by_group.values())))
    source = Source(inputs={name: [(np.asarray(a),) for a in rows]
                            for name, rows in by_group.items()},
                    labels=np.zeros(n, np.int64), classes=["?"],
                    ids=[f"array {i}" for i in range(n)])
    source = validate(source, list(model.groups))
    predictor = KerasPredictor(model)
    return np.concatenate([p for _, p in predictor.batches(source, batch_size)])
