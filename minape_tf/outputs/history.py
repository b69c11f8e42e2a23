"""Reading a run's ``history.csv`` (written by :class:`minape_tf.training.callbacks.RunMonitor`)."""

from __future__ import annotations

import csv
import os


def read_history(path) -> list:
    """The rows of a ``history.csv``, one dict per epoch: ``epoch`` as int, every other
    column as float, or ``None`` where it is empty or not a number. ``[]`` when the file
    does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [_parse(row) for row in csv.DictReader(f)]


def _parse(row):
    parsed = {key: _number(value) for key, value in row.items()}
    parsed["epoch"] = int(row["epoch"])
    return parsed


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
