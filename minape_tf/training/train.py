"""``train``: one training run, from a config to a run folder.

A run folder holds::

    config.json         the TrainConfig (reload it with ``load_config``)
    run.json            what the run resolved: groups, classes, model arguments, epochs, timing
    model.keras         the best-validation model (float32, no optimizer), batch-norm
                        statistics re-estimated on the training data
    history.csv         one row per epoch: learning rate, loss, accuracy, val_loss, val_accuracy
    metrics.json, report.md, roc.png, confusion.png, training_curves.png
                        the evaluation on the test split (``minape evaluate`` writes the same)
    logs/               TensorBoard
    backup/             BackupAndRestore's state while the run is unfinished

A killed run, started again with the same folder, resumes from its last finished epoch and
ends with the same weights as an uninterrupted run: the weights, optimizer and epoch come
back from ``backup/``, the callbacks' state from ``history.csv``, and the input pipeline,
one endless stream of batches for the whole run, skips the batches of the finished epochs
so that shuffling, augmentation and mixing continue where they stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from minape_tf.training.batchnorm import BatchNormReestimation, reestimate_batchnorm
from minape_tf.training.callbacks import RunMonitor, SeedStateBackup, restored_epoch
from minape_tf.training.config import TrainConfig, save_config
from minape_tf.training.datasets import load_dataset, modality_code, select_groups
from minape_tf.training.mixing import mix_batch
from minape_tf.training.precision import resolve_jit, resolve_precision
from minape_tf.training.schedule import WarmupCosine
from minape_tf.training.seeding import seed_everything

BN_EPOCH_MAX_STEPS = 200


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
        Test-split evaluation (``None`` when ``evaluate=False`` or there is no test split).
    groups : list
    classes : list of str
    wall_s : float
        Seconds this call took.
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


def _one_hot(num_classes):
    def convert(x, y):
        return x, tf.one_hot(y, num_classes)
    return convert


def training_dataset(source, groups, config, num_classes, features, start_epoch=0,
                     replicas=1):
    """The training batches, as one endless stream: the pipeline's shuffled, augmented
    batches (each pass over the data reshuffled), labels one-hot, MixUp / CutMix.

    ``train`` takes ``steps_per_epoch`` batches from it per epoch. One stream (one
    iterator) for the whole run makes every random draw depend only on the seed and the
    position in the stream, so ``start_epoch`` (a resumed run) skips the batches of the
    finished epochs and the run continues with exactly the batches it would have seen.

    With ``replicas > 1`` (a ``tf.distribute`` strategy) only full batches are used, so
    that no replica gets an empty or uneven share of a batch.

    Returns
    -------
    (tf.data.Dataset, int)
        The stream and the steps of one epoch.
    """
    from minape_tf.data.pipeline import make_dataset

    full_batches = replicas > 1
    if full_batches and (config.batch_size < replicas or len(source) < config.batch_size):
        raise ValueError(f"batch_size={config.batch_size} with {replicas} replicas and "
                         f"{len(source)} training observations: need replicas <= batch_size "
                         "<= training observations")
    ds = make_dataset(source, groups, training=True, batch_size=config.batch_size,
                      cache=config.cache, augment=config.augment, seed=config.seed,
                      features=features, drop_remainder=full_batches).repeat()
    ds = ds.map(_one_hot(num_classes))
    if config.mixup > 0 or config.cutmix > 0:
        seeds = tf.data.Dataset.random(seed=config.seed + 1).batch(2)

        def mix(xy, seed):
            x, y = xy
            return mix_batch(x, y, seed, mixup_alpha=config.mixup, cutmix_alpha=config.cutmix)

        ds = tf.data.Dataset.zip(ds, seeds).map(mix)
    steps = (len(source) // config.batch_size if full_batches
             else math.ceil(len(source) / config.batch_size))
    if config.steps_per_epoch:
        steps = min(steps, config.steps_per_epoch)
    if start_epoch:
        ds = ds.skip(start_epoch * steps)
    return ds.prefetch(tf.data.AUTOTUNE), steps


def _eval_dataset(source, groups, config, num_classes, features, replicas=1):
    from minape_tf.data.pipeline import make_dataset

    remainder = len(source) % config.batch_size
    if 0 < remainder < replicas:
        raise ValueError(f"batch_size={config.batch_size}: the last batch of the {len(source)} "
                         f"validation observations has {remainder}, fewer than the {replicas} "
                         "replicas, and would leave a replica without data; choose another "
                         "batch size")
    ds = make_dataset(source, groups, training=False, batch_size=config.batch_size,
                      cache=config.cache, augment=False, features=features)
    steps = math.ceil(len(source) / config.batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(steps))


def model_arguments(config) -> dict:
    """``build_minape`` keyword arguments: the preset's, then ``config.model``."""
    from minape_tf.presets import presets

    kwargs = {}
    if config.preset:
        if config.preset not in presets:
            raise ValueError(f"preset {config.preset!r} is not known; expected one of "
                             f"{sorted(presets)}")
        kwargs.update(presets[config.preset])
    kwargs.update(config.model)
    return kwargs


def _compile(model, config, total_steps, warmup_steps, jit):
    schedule = WarmupCosine(config.learning_rate, total_steps, warmup_steps,
                            config.min_learning_rate)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay,
                                       global_clipnorm=config.clipnorm)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(
                      label_smoothing=config.label_smoothing),
                  metrics=["accuracy"], jit_compile=jit)


def train(config=None, out_dir="runs/run", *, strategy=None, loaded=None, callbacks=(),
          overwrite=False, evaluate=True, latency=True) -> RunResult:
    """Train Minape as configured and write a run folder (see the module docstring).

    Parameters
    ----------
    config : TrainConfig, dict or None
        ``None``: all defaults (the demo data set).
    out_dir : path, default "runs/run"
        The run folder. An unfinished run there (``backup/``) is resumed.
    strategy : tf.distribute.Strategy or None, default None
        The model is built and compiled inside ``strategy.scope()``.
    loaded : Loaded or None, default None
        Data already loaded (``config.dataset`` is then only recorded).
    callbacks : sequence of keras.callbacks.Callback, default ()
        Extra callbacks, called after the run's own.
    overwrite : bool, default False
        Replace a finished run in ``out_dir`` instead of raising ``FileExistsError``.
    evaluate : bool, default True
        Evaluate the saved model on the test split and write metrics.json, report.md, plots.
    latency : bool, default True
        Measure CPU latency in that evaluation.

    Returns
    -------
    RunResult
    """
    start_time = time.time()
    config = _as_config(config)
    out_dir = os.fspath(out_dir)
    paths = {name: os.path.join(out_dir, file) for name, file in (
        ("model", "model.keras"), ("config", "config.json"), ("info", "run.json"),
        ("history", "history.csv"), ("best", "best.weights.h5"), ("backup", "backup"),
        ("logs", "logs"))}
    resume_epoch = restored_epoch(paths["backup"])
    _prepare_folder(out_dir, paths, resume_epoch, overwrite)

    seed_everything(config.seed)
    loaded = loaded or load_dataset(config.dataset, config.data_dir, seed=config.seed,
                                    **config.dataset_options)
    groups = select_groups(loaded.groups, config.modalities, config.groups)
    source, splits = loaded.source, loaded.splits
    classes = list(source.classes)
    kwargs = model_arguments(config)
    if kwargs.get("sequence_length", 1) != 1:
        raise ValueError("sequence_length > 1 needs a pipeline of observation sequences, "
                         "which make_dataset does not build yet; use sequence_length=1")
    features = not kwargs.get("features_in_model", False)
    train_src, val_src = split_sources(loaded, groups, config.dataset)
    monitor = config.monitor
    if val_src is None and monitor.startswith("val_"):
        warnings.warn(f"{config.dataset}: no validation split; monitoring {monitor[4:]!r} on "
                      "the training data instead")
        monitor = monitor[4:]

    policy, jit = resolve_precision(config.precision), resolve_jit(config.jit_compile)
    with dtype_policy(policy):
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        train_ds, steps = training_dataset(train_src, groups, config, len(classes), features,
                                           start_epoch=resume_epoch, replicas=replicas)
        val_ds = None if val_src is None else _eval_dataset(
            val_src, groups, config, len(classes), features,
            replicas=replicas).map(_one_hot(len(classes)))
        bn_data = _eval_dataset(train_src, groups, config, len(classes), features)
        total_steps = steps * config.epochs
        warmup_steps = round(config.warmup_epochs * steps)
        bn_mode = config.bn_reestimate
        if bn_mode == "auto":
            bn_mode = "epoch" if steps <= BN_EPOCH_MAX_STEPS else "end"

        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            model = _build(groups, len(classes), kwargs)
            _compile(model, config, total_steps, warmup_steps, jit)

        monitor_cb = RunMonitor(paths["history"], paths["best"], monitor=monitor,
                                patience=config.early_stopping, backup_dir=paths["backup"])
        run_callbacks = [monitor_cb]
        if bn_mode == "epoch" and val_ds is not None:
            run_callbacks.append(BatchNormReestimation(bn_data))
        run_callbacks += [SeedStateBackup(paths["backup"]),
                          keras.callbacks.BackupAndRestore(paths["backup"])]
        if _tensorboard_available():
            run_callbacks.append(keras.callbacks.TensorBoard(paths["logs"]))
        run_callbacks += list(callbacks)
        save_config(config, paths["config"])
        if resume_epoch:
            print(f"Resuming {out_dir} after epoch {resume_epoch} (the input pipeline "
                  f"replays the {resume_epoch * steps} batches it gave before)")
        fit = dict(x=train_ds, steps_per_epoch=steps, validation_data=val_ds,
                   epochs=config.epochs, callbacks=run_callbacks, verbose=config.verbose,
                   shuffle=False)  # the pipeline shuffles, seeded
        try:
            model.fit(**fit)
        except tf.errors.OpError as error:
            if not jit or len(monitor_cb.rows) > resume_epoch:
                raise
            warnings.warn(f"XLA compilation failed ({type(error).__name__}: "
                          f"{str(error).splitlines()[0][:200]}); training without jit_compile")
            jit = False
            with scope:
                _compile(model, config, total_steps, warmup_steps, jit)
            fit["x"], _ = training_dataset(train_src, groups, config, len(classes), features,
                                           start_epoch=resume_epoch, replicas=replicas)
            model.fit(**fit)

    if os.path.exists(paths["best"]):
        model.load_weights(paths["best"])
    if bn_mode != "off":
        reestimate_batchnorm(model, bn_data)
    final = _build(groups, len(classes), dict(kwargs, class_names=classes), policy="float32")
    final.set_weights(model.get_weights())
    final.save(paths["model"])

    info = {
        "dataset": config.dataset, "classes": classes,
        "groups": [g.to_config() for g in groups], "modality": modality_code(groups),
        "model_kwargs": kwargs, "num_classes": len(classes),
        "splits": {k: int(len(v)) for k, v in splits.items()},
        "epochs_run": len(monitor_cb.rows), "best_epoch": monitor_cb.best_epoch,
        "monitor": monitor, "best_score": _finite(monitor_cb.best),
        "stopped_early": monitor_cb.stopped_epoch is not None,
        "precision": policy, "jit_compile": jit, "bn_reestimate": bn_mode,
        "steps_per_epoch": steps, "params": int(final.count_params()),
        "resumed_from_epoch": resume_epoch or None, "train_seconds": time.time() - start_time,
    }
    _write_json(paths["info"], info)
    metrics = None
    if evaluate and len(splits.get("test", [])):
        from minape_tf.evaluation.evaluate import evaluate_model

        test_ds = _eval_dataset(source.subset(splits["test"], groups), groups, config,
                                len(classes), features)
        metrics = evaluate_model(
            final, test_ds, classes, out_dir=out_dir, model_path=paths["model"],
            history_csv=paths["history"], latency=latency,
            extra={"run": os.path.abspath(out_dir), "dataset": config.dataset, "split": "test",
                   "modality": info["modality"], "best_epoch": monitor_cb.best_epoch},
            title=f"Evaluation of {os.path.basename(os.path.abspath(out_dir))}",
            skipped=source.skipped)
    return RunResult(out_dir=out_dir, model=final, history=list(monitor_cb.rows),
                     best_epoch=monitor_cb.best_epoch, metrics=metrics, groups=groups,
                     classes=classes, wall_s=time.time() - start_time, info=info)


def _as_config(config):
    if config is None:
        return TrainConfig()
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return TrainConfig.from_dict(config)
    raise TypeError(f"config: expected a TrainConfig or dict, got {type(config).__name__}")


def _prepare_folder(out_dir, paths, resume_epoch, overwrite):
    os.makedirs(out_dir, exist_ok=True)
    if resume_epoch:
        return
    if os.path.exists(paths["model"]) and not overwrite:
        raise FileExistsError(f"{out_dir} already holds a finished run (model.keras); choose "
                              "another folder or pass overwrite=True (--overwrite)")
    for key in ("history", "best", "model", "info"):
        if os.path.exists(paths[key]):
            os.remove(paths[key])
    for key in ("backup", "logs"):
        shutil.rmtree(paths[key], ignore_errors=True)


def split_sources(loaded, groups, dataset="data"):
    """The training and validation ``Source`` s of ``loaded`` for ``groups``; the validation
    one is ``None`` when its split is empty. An empty training split is an error."""
    splits = loaded.splits
    train_src = loaded.source.subset(splits["train"], groups)
    val_index = splits.get("val", [])
    val_src = loaded.source.subset(val_index, groups) if len(val_index) else None
    if len(train_src) == 0:
        raise ValueError(f"{dataset}: the training split is empty")
    return train_src, val_src


@contextlib.contextmanager
def dtype_policy(policy):
    """Set Keras' global dtype policy for the ``with`` block, then restore the previous."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _build(groups, num_classes, kwargs, policy=None):
    from minape_tf.model import build_minape

    if policy is None:
        return build_minape(groups, num_classes, **kwargs)
    with dtype_policy(policy):
        return build_minape(groups, num_classes, **kwargs)


def _tensorboard_available():
    """TensorBoard logs need the ``tensorboard`` package (``pip install tensorboard``);
    without it the run keeps its CSV log only."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        warnings.warn("tensorboard is not installed: no TensorBoard logs (history.csv is "
                      "still written); `pip install tensorboard` to get them", stacklevel=3)
        return False
    return True


def _finite(value):
    return float(value) if value is not None and np.isfinite(value) else None


def _write_json(path, values):
    with open(path, "w") as f:
        json.dump(values, f, indent=2, default=str)
        f.write("\n")
