"""``RunFolder``: the one place that knows a run folder's files, and when a run may start,
resume or replace what is there.

::

    config.json         the TrainConfig, written once when a new run starts
    run.json            what the run resolved: groups, classes, model arguments, epochs, timing
    model.keras         the best-validation model (float32, no optimizer)
    history.csv         one row per epoch: learning rate, loss, accuracy, val_loss, val_accuracy
    metrics.json, report.md, roc.png, confusion.png, training_curves.png, predictions.npz
                        the evaluation on the test split (``minape evaluate`` writes the same)
    eval-<data>-<split>/ the same files, of evaluations on other data or splits
    logs/               TensorBoard
    backup/             BackupAndRestore's state while the run is unfinished
    best.weights.h5     the best weights so far, while the run is unfinished
    adaptation.json     in a run folder written by ``minape adapt``: what adapted it

A run folder remembers the configuration it was started with (``config.json``): a run is
resumed only under the same :meth:`~minape_tf.training.config.TrainConfig.fingerprint`;
another configuration is refused, naming the differing settings, before anything is
written. ``overwrite`` starts afresh; the old contents are removed only once the new run is
set up (:meth:`RunFolder.start`).
"""

from __future__ import annotations

import json
import os
import shutil

from minape_tf.outputs.atomic import write_json
from minape_tf.outputs.history import read_history
from minape_tf.outputs.lock import contents
from minape_tf.outputs.ownership import claim

FILES = {"config": "config.json", "info": "run.json", "model": "model.keras",
         "history": "history.csv", "best": "best.weights.h5", "backup": "backup",
         "logs": "logs", "metrics": "metrics.json", "report": "report.md",
         "predictions": "predictions.npz", "roc": "roc.png", "confusion": "confusion.png",
         "curves": "training_curves.png", "adaptation": "adaptation.json"}
FOLDERS = ("backup", "logs")
EVALUATIONS = "eval-"        # RUN/eval-<data set>-<split>: evaluations on other data


def differences(old: dict, new: dict, prefix="") -> list:
    """``"key: old -> new"`` for every setting that differs (nested keys as ``a.b``)."""
    found = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return found


def restored_epoch(backup_dir):
    """The epoch ``BackupAndRestore`` resumes at from ``backup_dir`` (0: no backup)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = os.path.join(backup_dir, name)
        if os.path.exists(path):
            try:
                with open(path) as f:
                    return int(json.load(f)["epoch"])
            except (ValueError, KeyError, OSError):
                continue
    return 0


def read_json(path):
    with open(path) as f:
        return json.load(f)


def check_folder_settings(path, settings: dict, overwrite: bool, what: str, hint: str,
                          saved=None) -> bool:
    """A results folder's settings file (``path``, JSON; or ``saved``, the settings read from
    it) against the new ``settings``: return whether the folder is to be replaced; raise
    ``ValueError`` naming the differences when it holds other settings and ``overwrite`` is
    false. Writes nothing."""
    if saved is None:
        if not os.path.exists(path):
            return False
        saved = read_json(path)
    if saved == settings:
        return overwrite
    if overwrite:
        return True
    changed = differences(saved, settings)
    raise ValueError(f"{os.path.dirname(path) or '.'} holds {what} made with other settings "
                     f"({'; '.join(changed[:8])}{'; ...' if len(changed) > 8 else ''}); "
                     f"{hint}")


class RunFolder:
    """The paths of one run folder (attributes named as in :data:`FILES`), reading and
    writing its files, and the start / resume decision."""

    def __init__(self, path):
        self.path = os.fspath(path)
        for key, name in FILES.items():
            setattr(self, key, os.path.join(self.path, name))

    def __repr__(self):
        return f"RunFolder({self.path!r})"

    @property
    def name(self) -> str:
        return os.path.basename(os.path.abspath(self.path))

    def evaluation_dir(self, name: str) -> str:
        """The folder of an evaluation of this run on other data (``eval-<name>``)."""
        return os.path.join(self.path, EVALUATIONS + name)

    def resume_epoch(self) -> int:
        """The epoch an unfinished run resumes at (0: nothing to resume)."""
        return restored_epoch(self.backup)

    def finished(self) -> bool:
        return os.path.exists(self.model)

    def read_config(self) -> dict:
        """``config.json``: the settings the run was started with, as a dict
        (``TrainConfig.from_dict`` makes them a config)."""
        return read_json(self.config)

    def read_info(self) -> dict:
        return read_json(self.info)

    def read_info_or_empty(self) -> dict:
        """``run.json``, or ``{}`` while there is none (a run still training)."""
        return self.read_info() if os.path.exists(self.info) else {}

    def write_info(self, info: dict):
        write_json(self.info, info)

    def read_metrics(self):
        """``metrics.json`` of a finished run, or ``None``."""
        if self.finished() and os.path.exists(self.metrics):
            return read_json(self.metrics)
        return None

    def read_history(self) -> list:
        return read_history(self.history)

    def plan(self, config, overwrite: bool = False) -> str:
        """What a run of ``config`` does here: ``"new"``, ``"resume"`` or ``"replace"``.

        Raises
        ------
        FileExistsError
            A finished run is here and ``overwrite`` is false; or the path is a file, or a
            folder that is not empty and not a run folder (:func:`~minape_tf.outputs.
            ownership.claim`), ``overwrite`` or not.
        ValueError
            A run (finished or not) of another configuration is here and ``overwrite`` is
            false (the message names the differing settings).
        """
        hint = "pass overwrite=True to replace it, or choose another folder"
        claim(self.path, FILES["config"])
        replace = os.path.exists(self.config) and check_folder_settings(
            self.config, config.fingerprint(), overwrite, "a run", hint,
            saved=type(config).from_dict(self.read_config()).fingerprint())
        if replace or (overwrite and os.path.isdir(self.path) and contents(self.path)):
            return "replace"
        if self.finished() and not os.path.exists(self.metrics) and \
                "evaluation" not in self.read_info_or_empty():
            raise FileExistsError(f"{self.path} holds a trained run that was not evaluated "
                                  f"(model.keras, no metrics.json): `minape evaluate "
                                  f"{self.path}` completes it; {hint}")
        if self.finished():
            raise FileExistsError(f"{self.path} already holds a finished run (model.keras); "
                                  f"{hint}")
        return "resume" if self.resume_epoch() and os.path.exists(self.config) else "new"

    def start(self, config, plan: str):
        """Make the folder ready for the run ``plan`` says, except when resuming: clear what
        an earlier run left (for ``"replace"`` also its evaluations ``eval-*``) and write
        ``config.json``."""
        if plan == "resume":
            return
        os.makedirs(self.path, exist_ok=True)
        for key in FILES:
            path = getattr(self, key)
            if key in FOLDERS:
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.remove(path)
        if plan == "replace":          # evaluations of the old model (``minape evaluate``)
            for entry in os.listdir(self.path):
                if entry.startswith(EVALUATIONS):
                    shutil.rmtree(os.path.join(self.path, entry), ignore_errors=True)
        write_json(self.config, config.to_dict())
