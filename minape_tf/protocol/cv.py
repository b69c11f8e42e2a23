"""``cross_validate``: the paper's protocol (Section 4.2), T trials x K-fold rotation.

Each trial draws a new fold assignment (stratified, or group-aware so that no tool /
speaker / manifest group crosses splits) and rotates through the K folds: fold k tests,
fold k + 1 validates, the other K - 2 train (80 / 10 / 10 for K = 10). Every (variant,
trial, fold) is one ``train`` run folder ``OUT/<variant>/trial<t>/fold<k>``; a finished one
is reused, an unfinished one resumes, so a long cross-validation can be stopped and
restarted. The results: ``runs.csv`` (one row per run), ``summary.csv`` / ``summary.json``
(mean and std over all T x K runs per variant) and ``table.md`` / ``table.csv`` in the
paper's format.

Leave-one-group-out (``leave_one_group_out=True``) replaces the K folds by one fold per
group (speaker, tool, manifest ``group``; see
:func:`minape_tf.protocol.folds.leave_one_group_out` for the validation draw): each trial
tests every group once, and the table has a row per group, the mean and the worst group.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np

from minape_tf.data.registry import load_dataset
from minape_tf.data.source import Loaded
from minape_tf.data.validate import skip_summary
from minape_tf.evaluation.metrics import ADAPTED, SUMMARY_KEYS
from minape_tf.models.registry import BUILDERS
from minape_tf.outputs.atomic import write_json, write_text
from minape_tf.outputs.lock import holds_lock
from minape_tf.outputs.ownership import claim
from minape_tf.outputs.run_folder import RunFolder, check_folder_settings
from minape_tf.protocol import folds as fold_plans
from minape_tf.protocol.ablations import variants as make_variants
from minape_tf.protocol.folds import assign_folds, rotation, trial_seeds
from minape_tf.protocol.tables import (GROUP_COLUMNS, TABLE3_COLUMNS, TABLE4_COLUMNS, group_rows,
                                       markdown, summarise, table3_rows, table4_rows, worst_group,
                                       write_csv)
from minape_tf.protocol.train_evaluate import train_and_evaluate
from minape_tf.training.config import as_plain_settings
from minape_tf.training.setup import as_config, check_config

SETTINGS_FILE = "cv.json"


@holds_lock()
def cross_validate(config, out_dir, *, trials=5, folds=10, grouped=False, ablation="none",
                   leave_one_group_out=False, loaded=None, strategy=None, latency=True,
                   self_training="off", overwrite=False, log=print) -> dict:
    """Run the protocol and write the tables.

    Parameters
    ----------
    config : TrainConfig or dict
        The base configuration (data set, model, optimisation); ``config.seed`` seeds the
        trials.
    out_dir : path
    trials : int, default 5
        T independent trials (new folds, initialisation and shuffling each).
    folds : int, default 10
        K; at least 3.
    grouped : bool, default False
        Group-aware folds by the data set's split keys (tool, speaker, manifest ``group``).
    ablation : {"none", "modalities", "fusion", "learner"}, default "none"
        Variants to compare (see :mod:`minape_tf.protocol.ablations`).
    leave_one_group_out : bool, default False
        One fold per group of the split keys instead of ``folds`` (which is then unused);
        ``grouped`` is implied.
    loaded : Loaded or None
        Data already loaded; default ``load_dataset(config.dataset, ...)``.
    strategy : tf.distribute.Strategy or None
    latency : bool, default True
        Measure CPU latency (once per variant: it does not depend on the weights).
    self_training : {"off", "on", "balanced"}, default "off"
        Also the accuracy with the model self-trained on each test group's observations,
        without their labels (``accuracy_self_trained``; the "Self-trained" column). Runs
        finished before are reused as they are.
    overwrite : bool, default False
        Start afresh where ``out_dir`` holds a cross-validation; without it, one of the
        same settings (``cv.json``) is continued, finished runs reused, and one of other
        settings refused (``ValueError`` naming the differences).
    log : callable, default print
        Progress lines.

    Returns
    -------
    dict
        ``{"variants": [{"name", "cells", "summary", "runs"}], "table": markdown}``.
    """
    config = as_config(config)
    loso = leave_one_group_out
    settings = _settings(config, trials, folds, grouped, ablation, loso)
    settings_path = os.path.join(out_dir, SETTINGS_FILE)
    claim(out_dir, SETTINGS_FILE)
    replace = check_folder_settings(
        settings_path, settings, overwrite, "a cross-validation",
        "pass overwrite=True to run it afresh, or choose another folder")
    variant_list = make_variants(ablation, config)
    for variant in variant_list:
        check_config(config.updated(**variant["changes"]))
    loaded = loaded or load_dataset(config.dataset, config.data_dir, seed=config.seed,
                                    **config.dataset_options)
    if loaded.source.skipped:
        log(skip_summary(loaded.source.skipped))
    seeds, fold_sets, split_sets = _plans(loaded.source, config, trials, folds, grouped, loso)
    folds = len(split_sets[0])
    if replace:
        for variant in variant_list:
            shutil.rmtree(os.path.join(out_dir, variant["name"]), ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    write_json(settings_path, settings)
    _write_folds(out_dir, loaded.source, fold_sets, seeds)
    progress = _Progress(len(variant_list) * trials * folds, log)
    results = [_run_variant(variant, config, out_dir, loaded, seeds, split_sets, loso,
                            progress, strategy=strategy, latency=latency,
                            self_training=self_training)
               for variant in variant_list]
    table = _write_tables(out_dir, results, ablation, trials, folds, grouped, loso)
    log(table)
    return {"variants": results, "table": table}


def _settings(config, trials, folds, grouped, ablation, loso) -> dict:
    """What a cross-validation folder is continued for (``cv.json``)."""
    settings = {"config": config.fingerprint(), "trials": trials, "folds": folds,
                "grouped": grouped, "ablation": ablation}
    if loso:             # only then, so that a cross-validation made before still matches
        settings.update(folds=None, grouped=True, leave_one_group_out=True)
    return as_plain_settings(settings)


def _plans(source, config, trials, folds, grouped, loso) -> tuple:
    """``(seeds, fold of each observation per trial, each trial's fold splits)``."""
    keys = None
    if grouped or loso:
        if source.split_keys is None:
            flag = "leave_one_group_out=True" if loso else "grouped=True"
            raise ValueError(f"{config.dataset}: {flag} needs split keys (tool, speaker, "
                             "or a manifest 'group' column); this data set has none")
        keys = source.split_keys
    seeds = trial_seeds(config.seed, trials)
    if loso:
        split_sets = [fold_plans.leave_one_group_out(source.labels, keys, seed=s) for s in seeds]
        fold_sets = [np.unique(keys, return_inverse=True)[1]] * trials   # fold k: group k
    else:
        fold_sets = [assign_folds(source.labels, folds, seed=s, groups=keys) for s in seeds]
        split_sets = [rotation(fold_of, folds) for fold_of in fold_sets]
    return seeds, fold_sets, split_sets


class _Progress:
    """One line per finished fold: how far, its accuracies, the time so far."""

    def __init__(self, total, log):
        self.total, self.log, self.done, self.started = total, log, 0, time.time()

    def fold(self, variant, t, trials, k, folds, metrics, group=None):
        self.done += 1
        tested = f" ({group})" if group is not None else ""
        adapted = "".join(f" ({label}: {metrics[f'accuracy_{key}']:.3f})"
                          for key, label in ADAPTED
                          if metrics.get(f"accuracy_{key}") is not None)
        self.log(f"[{self.done}/{self.total}] {variant} trial {t + 1}/{trials} fold "
                 f"{k + 1}/{folds}{tested}: accuracy {metrics['accuracy']:.3f}{adapted}, AUC "
                 f"{_fmt(metrics.get('auc_macro'))} ({time.time() - self.started:.0f} s)")


def _run_variant(variant, config, out_dir, loaded, seeds, split_sets, loso, progress, *,
                 strategy, latency, self_training) -> dict:
    """Every trial and fold of one variant (finished runs read back), summarised."""
    runs, measured = [], None
    for t, (seed, trial_splits) in enumerate(zip(seeds, split_sets)):
        for k, splits in enumerate(trial_splits):
            run = RunFolder(os.path.join(out_dir, variant["name"], f"trial{t}", f"fold{k}"))
            metrics = run.read_metrics()
            if metrics is None:
                result = train_and_evaluate(
                    config.updated(seed=seed, **variant["changes"]), run.path,
                    strategy=strategy, loaded=Loaded(loaded.source, loaded.groups,
                                                     _sides(splits)),
                    latency=latency and measured is None, log=progress.log,
                    self_training=self_training,
                    overwrite=run.finished())     # trained, killed before its metrics
                metrics, run_info = result.metrics, result.info
            else:
                run_info = run.read_info()
            if measured is None and metrics.get("latency_ms_b1") is not None:
                measured = {key: metrics[key] for key in ("latency_ms_b1", "latency_ms_b32")
                            if key in metrics}
            row = {"variant": variant["name"], "trial": t, "fold": k, "seed": seed,
                   "modality": run_info.get("modality")}
            if loso:
                row["group"] = splits["group"]
            runs.append({**row, **{key: metrics.get(key) for key in SUMMARY_KEYS}})
            progress.fold(variant["name"], t, len(seeds), k, len(trial_splits), metrics,
                          splits["group"] if loso else None)
    for row in runs:                       # latency: one measurement per variant
        row.update(measured or {})
    summary = summarise(runs)
    if loso:
        summary["worst_group"], summary["accuracy_worst"] = worst_group(runs)
    cells = {"model": BUILDERS[config.architecture].label, **variant["cells"]}
    cells.setdefault("modality", runs[0]["modality"] if runs else "?")
    return {"name": variant["name"], "cells": cells, "summary": summary, "runs": runs}


def _fmt(value):
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _write_folds(out_dir, source, fold_sets, seeds):
    rows = [{"id": source.ids[i], "label": source.classes[source.labels[i]],
             "split_key": None if source.split_keys is None else source.split_keys[i],
             **{f"trial{t}": int(f[i]) for t, f in enumerate(fold_sets)}}
            for i in range(len(source))]
    write_csv(rows, os.path.join(out_dir, "folds.csv"))
    write_json(os.path.join(out_dir, "seeds.json"), seeds)


def _sides(splits):
    """The train / val / test index arrays of a fold (without its ``group`` name)."""
    return {side: splits[side] for side in ("train", "val", "test")}


def _write_tables(out_dir, results, ablation, trials, folds, grouped, loso):
    rows = [{**r["cells"], **r["summary"], "variant": r["name"]} for r in results]
    all_runs = [run for r in results for run in r["runs"]]
    write_csv(all_runs, os.path.join(out_dir, "runs.csv"))
    write_csv(rows, os.path.join(out_dir, "summary.csv"))
    write_json(os.path.join(out_dir, "summary.json"), rows, default=float)
    protocol = (f"{trials} trial(s) x {folds}-fold rotation "
                f"({'group-aware' if grouped else 'stratified'}), mean ± std over "
                f"{trials * folds} runs")
    if loso:
        protocol = (f"{trials} trial(s) x leave-one-group-out ({folds} groups), mean ± std "
                    f"over the trials of each group and over all {trials * folds} runs")
        cells = [cell for r, result in zip(rows, results)
                 for cell in group_rows({**r, "model": r["variant"]}, result["runs"])]
        columns = GROUP_COLUMNS
    elif ablation in ("fusion", "learner"):
        cells = table4_rows(rows)
        columns = TABLE4_COLUMNS
    else:
        cells = table3_rows(rows)
        columns = TABLE3_COLUMNS
    name = ablation if ablation != "none" else rows[0]["model"]
    text = markdown(cells, columns, title=f"{name}: {protocol}")
    write_csv(cells, os.path.join(out_dir, "table.csv"), columns)
    write_text(os.path.join(out_dir, "table.md"), text)
    return text
