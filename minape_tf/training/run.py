"""``train``: one training run, from a config to a run folder (see
:mod:`minape_tf.outputs.run_folder` for its files).

A killed run, started again with the same folder and configuration, resumes from its last
finished epoch and ends with the same weights as an uninterrupted run: the weights,
optimizer and epoch come back from ``backup/``, the callbacks' state from ``history.csv``,
and the input pipeline, one endless stream of batches for the whole run, skips the batches
of the finished epochs so that shuffling, augmentation and mixing continue where they
stopped.

``train`` does not evaluate: whoever runs a training evaluates it after
(:func:`minape_tf.evaluation.evaluate_training`, which the command line and the protocol
use).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np

from minape_tf.adaptation.batchnorm import reestimate_batchnorm
from minape_tf.adaptation.frequency_response import equalization_layers, set_reference
from minape_tf.data.registry import modality_code
from minape_tf.data.validate import skip_summary
from minape_tf.outputs.atomic import atomic_path, disk_full_as_error
from minape_tf.outputs.digest import digest
from minape_tf.outputs.lock import holds_lock
from minape_tf.outputs.run_folder import RunFolder
from minape_tf.training.callbacks import AtomicBackupAndRestore, RunMonitor, SeedStateBackup
from minape_tf.training.seeding import seeded
from minape_tf.training.setup import as_config, prepare_run


@dataclass
class RunResult:
    """What ``train`` returns.

    Attributes
    ----------
    out_dir : str
    model : keras.Model
        The saved model (best-validation weights, float32).
    history : list of dict
        ``history.csv``'s rows.
    best_epoch : int or None
        0-based epoch of the best validation score.
    metrics : dict or None
        The test-split evaluation, once one is made (``train`` itself leaves it ``None``).
    groups : list
    classes : list of str
    wall_s : float
        Seconds the training took.
    info : dict
        ``run.json``.
    setup : RunSetup
        What the run resolved (data, splits, datasets), for its evaluation.
    """

    out_dir: str
    model: object
    history: list
    best_epoch: int | None
    metrics: dict | None
    groups: list
    classes: list
    wall_s: float
    info: dict = field(default_factory=dict)
    setup: object = None


@holds_lock()
def train(config=None, out_dir="runs/run", *, strategy=None, loaded=None, callbacks=(),
          overwrite=False, log=print) -> RunResult:
    """Train a model as configured and write a run folder.

    Parameters
    ----------
    config : TrainConfig, dict or None
        ``None``: all defaults (the demo data set).
    out_dir : path, default "runs/run"
        The run folder. An unfinished run of the same configuration there is resumed; one
        of another configuration is refused (``ValueError`` naming the differences); one
        that another process is writing, too (``FolderInUse``, naming it:
        :mod:`minape_tf.outputs.lock`).
    strategy : tf.distribute.Strategy or None, default None
        The model is built and compiled inside ``strategy.scope()``.
    loaded : Loaded or None, default None
        Data already loaded (``config.dataset`` is then only recorded).
    callbacks : sequence of keras.callbacks.Callback, default ()
        Extra callbacks, called after the run's own.
    overwrite : bool, default False
        Start afresh even where a run (finished, unfinished, or of another configuration)
        is; its files are removed once the new run is set up.
    log : callable, default print
        Where the "Resuming ..." line and the count of skipped observations go.

    Returns
    -------
    RunResult
    """
    start_time = time.time()
    config, folder = as_config(config), RunFolder(out_dir)
    plan = folder.plan(config, overwrite)          # refuses before anything is read or written
    resume_epoch = folder.resume_epoch() if plan == "resume" else 0
    with seeded(config.seed):
        setup = prepare_run(config, loaded=loaded, strategy=strategy)
        if loaded is None and setup.loaded.source.skipped:   # else the caller says it
            log(skip_summary(setup.loaded.source.skipped))
        for line in setup.inferred_settings():
            log(f"Inferred {line}")
        if setup.duplicates:
            log(f"Going on with {len(setup.duplicates)} observation(s) in more than one "
                "split (allow_duplicates=True; listed in run.json and report.md): "
                f"{setup.duplicates[0]}")
        with setup.scope():
            model = setup.build()
            trainee = setup.compile(model)    # model, or its members' outputs (ensemble)
        folder.start(config, plan)
        monitor = RunMonitor(folder.history, folder.best, monitor=setup.monitor,
                             patience=config.early_stopping, backup_dir=folder.backup,
                             min_epochs=setup.min_epochs)
        run_callbacks = [monitor, *setup.bn_callbacks(), SeedStateBackup(folder.backup),
                         AtomicBackupAndRestore(folder.backup),
                         *_tensorboard(folder.logs), *callbacks]
        if resume_epoch:
            log(f"Resuming {folder.path} after epoch {resume_epoch} (the input pipeline "
                f"replays the {resume_epoch * setup.steps} batches it gave before)")
        with disk_full_as_error(folder.path):
            setup.fit(trainee, start_epoch=resume_epoch, callbacks=run_callbacks)
            final = _final_model(setup, model, trainee, folder)
    info = _run_info(setup, final, monitor, resume_epoch, time.time() - start_time)
    info["model_sha256"] = digest(folder.model)   # load_model checks model.keras against it
    folder.write_info(info)
    return RunResult(out_dir=folder.path, model=final, history=list(monitor.rows),
                     best_epoch=monitor.best_epoch, metrics=None, groups=setup.groups,
                     classes=setup.classes, wall_s=time.time() - start_time, info=info,
                     setup=setup)


def _final_model(setup, model, trainee, folder):
    """The best-validation weights (saved from ``trainee``, which shares ``model``'s layers),
    batch-norm statistics re-estimated (and equalisation references measured), in a float32
    model saved as ``model.keras``."""
    if os.path.exists(folder.best):
        trainee.load_weights(folder.best)
    if setup.bn_mode != "off":
        reestimate_batchnorm(model, setup.bn_data())
    if equalization_layers(model):             # their reference: the training data's means
        set_reference(model, setup.bn_data())
    final = setup.build(policy="float32")
    final.set_weights(model.get_weights())
    with atomic_path(folder.model) as temporary:
        final.save(temporary)
    with contextlib.suppress(FileNotFoundError):     # only an unfinished run keeps it
        os.remove(folder.best)
    return final


def _run_info(setup, final, monitor, resume_epoch, seconds) -> dict:
    config = setup.config
    return {
        "dataset": config.dataset, "classes": setup.classes,
        "groups": [g.to_config() for g in setup.groups], "modality": modality_code(setup.groups),
        "architecture": config.architecture, "model_kwargs": setup.model_kwargs,
        "num_classes": len(setup.classes),
        "splits": {k: int(len(v)) for k, v in setup.loaded.splits.items()},
        "epochs_run": len(monitor.rows), "best_epoch": monitor.best_epoch,
        "monitor": setup.monitor, "best_score": _finite(monitor.best),
        "stopped_early": monitor.stopped_epoch is not None,
        "precision": setup.policy, "jit_compile": setup.jit, "bn_reestimate": setup.bn_mode,
        "intra_op_threads": setup.threads,
        "steps_per_epoch": setup.steps, "total_steps": setup.total_steps,
        "params": int(final.count_params()),
        "resumed_from_epoch": resume_epoch or None, "train_seconds": seconds,
        "skipped": [list(s) for s in setup.loaded.source.skipped],
        "duplicates": list(setup.duplicates),
        "inferred_settings": setup.inferred_settings(),
    }


def _tensorboard(logs_dir):
    """A TensorBoard callback when the ``tensorboard`` package is installed (``pip install
    tensorboard``); without it the run keeps its CSV log only."""
    try:
        import tensorboard  # noqa: F401  (optional)
    except ImportError:
        warnings.warn("tensorboard is not installed: no TensorBoard logs (history.csv is "
                      "still written); `pip install tensorboard` to get them", stacklevel=3)
        return []
    return [keras.callbacks.TensorBoard(logs_dir)]


def _finite(value):
    return float(value) if value is not None and np.isfinite(value) else None
