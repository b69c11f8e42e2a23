"""Callbacks whose state survives a killed and resumed run.

``keras.callbacks.BackupAndRestore`` restores weights, optimizer and epoch, but not the
state of other callbacks: after a resume, ``EarlyStopping`` would forget its patience and
``ModelCheckpoint`` its best score, and ``CSVLogger`` would repeat the epochs that ran after
the last backup. :class:`RunMonitor` does the three jobs and rebuilds its state from the
run's ``history.csv`` (cut back to the restored epoch), so a resumed run ends exactly as an
uninterrupted one. :class:`SeedStateBackup` backs up what ``BackupAndRestore`` leaves
out: the layers' random-number states (dropout).
"""

from __future__ import annotations

import csv
import json
import math
import os

import keras
import numpy as np

from minape_tf.adaptation.batchnorm import reestimate_batchnorm
from minape_tf.outputs.atomic import atomic_path
from minape_tf.outputs.history import read_history
from minape_tf.outputs.run_folder import restored_epoch


class RunMonitor(keras.callbacks.Callback):
    """History CSV, best-validation weights and early stopping, resumable.

    Parameters
    ----------
    history_path : str
        ``history.csv``: one row per finished epoch (epoch, learning rate, every logged metric).
    best_path : str
        ``*.weights.h5`` written whenever ``monitor`` improves.
    monitor : str, default "val_loss"
        Logged quantity that selects the best epoch; ``"loss"``-like names are minimised,
        others (accuracy, auc) maximised.
    patience : int, default 0
        Stop after this many epochs without improvement; 0 never stops early.
    min_delta : float, default 0.0
        Smallest change that counts as an improvement.
    min_epochs : int, default 0
        Epochs before which early stopping does not end the run.
    backup_dir : str or None, default None
        ``BackupAndRestore``'s folder: the epoch it resumes at decides which rows of
        ``history.csv`` are kept. Put this callback *before* ``BackupAndRestore``, so that
        an epoch's row is written before its backup.
    """

    def __init__(self, history_path, best_path, monitor="val_loss", patience=0, min_delta=0.0,
                 backup_dir=None, min_epochs=0):
        super().__init__()
        self.backup_dir = backup_dir
        self.history_path, self.best_path = history_path, best_path
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.min_epochs = int(min_epochs)
        self.minimise = "loss" in monitor
        self.rows = []
        self.best = math.inf if self.minimise else -math.inf
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None

    def _improves(self, value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.minimise:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        start = restored_epoch(self.backup_dir) if self.backup_dir else 0
        rows = read_history(self.history_path) if start else []
        self.rows = [row for row in rows if row["epoch"] < start]
        self._write()
        for row in self.rows:                 # replay the state of the finished epochs
            self._update(row["epoch"], row.get(self.monitor), save=False)

    def _update(self, epoch, value, save=True):
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if save:
                with atomic_path(self.best_path) as temporary:
                    self.model.save_weights(temporary)
        else:
            self.wait += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.monitor not in logs:
            raise KeyError(f"monitor={self.monitor!r} is not among the logged values "
                           f"{sorted(logs)}; give a validation set or another monitor")
        row = {"epoch": epoch, "learning_rate": _learning_rate(self.model)}
        row.update({key: float(value) for key, value in logs.items()})
        self.rows.append(row)
        self._write()
        self._update(epoch, float(logs[self.monitor]))
        if self.patience and self.wait >= self.patience and epoch + 1 >= self.min_epochs:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _write(self):
        keys = []
        for row in self.rows:
            keys += [key for key in row if key not in keys]
        with atomic_path(self.history_path) as temporary, open(temporary, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys or ["epoch"])
            writer.writeheader()
            writer.writerows(self.rows)


def seed_generators(model) -> list:
    """The ``keras.random.SeedGenerator`` s of every layer of ``model`` (dropout etc.)."""
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", []):
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found


class SeedStateBackup(keras.callbacks.Callback):
    """Back up the model's random-number states with ``BackupAndRestore``'s backup.

    ``BackupAndRestore`` saves the weights, which do not include the state of the layers'
    seed generators (dropout masks): without them a resumed run would draw other masks.
    This callback writes the states at every epoch end into ``backup_dir`` and puts them
    back when the run resumes.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir

    def _path(self, epoch):
        return os.path.join(self.backup_dir, f"seed_states_{epoch}.npz")

    def on_train_begin(self, logs=None):
        start = restored_epoch(self.backup_dir)
        if start and os.path.exists(self._path(start)):
            states = np.load(self._path(start))
            for i, generator in enumerate(seed_generators(self.model)):
                generator.state.assign(states[f"s{i}"])

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        states = {f"s{i}": keras.ops.convert_to_numpy(g.state.value)
                  for i, g in enumerate(seed_generators(self.model))}
        with atomic_path(self._path(epoch + 1)) as temporary:
            np.savez(temporary, **states)
        old = self._path(epoch - 1)        # epoch's own states stay until its backup is
        if os.path.exists(old):            # replaced (a failed backup resumes there)
            os.remove(old)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` whose backup is replaced only once the new one is
    complete: the weights and the epoch are written to temporary files, then renamed, the
    weights first (:func:`minape_tf.outputs.atomic.atomic_path`), so a run killed or stopped
    by a full disk while backing up resumes from the last complete backup."""

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        state = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        with atomic_path(self._training_metadata_path) as metadata, \
                atomic_path(self._weights_path) as weights:
            self.model.save_weights(weights)
            with open(metadata, "w") as f:
                json.dump(state, f)


def _learning_rate(model):
    optimizer = model.optimizer
    lr = optimizer.learning_rate
    try:
        return float(keras.ops.convert_to_numpy(lr))
    except Exception:  # a schedule: evaluate it at the current step
        return float(keras.ops.convert_to_numpy(lr(optimizer.iterations)))


class BatchNormReestimation(keras.callbacks.Callback):
    """Re-estimate batch-norm statistics before each validation during ``fit``.

    Parameters
    ----------
    data : tf.data.Dataset
        Training batches without augmentation, in a fixed order.
    max_batches : int or None, default None
        Cap on the batches of one re-estimation.
    """

    def __init__(self, data, max_batches=None):
        super().__init__()
        self.data, self.max_batches = data, max_batches

    def on_test_begin(self, logs=None):
        reestimate_batchnorm(self.model, self.data, self.max_batches)
