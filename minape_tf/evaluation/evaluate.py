"""Evaluate a model or a run folder: metrics, latency, size, report and plots."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import weakref

import keras
import numpy as np
import tensorflow as tf

from minape_tf.adaptation.batchnorm import batchnorm_layers
from minape_tf.adaptation.per_group import adapted_probabilities
from minape_tf.adaptation.self_training import check_self_training
from minape_tf.data.registry import load_dataset
from minape_tf.data.validate import skip_summary
from minape_tf.evaluation.latency import latency_ms
from minape_tf.evaluation.machine import describe
from minape_tf.evaluation.metrics import classification_metrics, per_group_accuracy
from minape_tf.evaluation.plots import plot_confusion, plot_history, plot_roc
from minape_tf.evaluation.report import write_metrics, write_report
from minape_tf.groups import group_from_config
from minape_tf.models.inputs import ModelInputs, model_dataset
from minape_tf.models.saving import load_model
from minape_tf.outputs.atomic import atomic_path
from minape_tf.outputs.ownership import claim
from minape_tf.outputs.run_folder import RunFolder
from minape_tf.training.config import TrainConfig

SPLITS = ("test", "val", "train", "all")
# Loader options that choose a split, not how the data is read: dropped when the run is
# evaluated on other data or on every observation (``--split all``).
SPLIT_OPTIONS = ("split", "test_speakers", "val_speakers", "val_fraction", "test_fraction",
                 "distribution")
# Loaders whose default split needs particular speakers; "official" splits any folder.
SPEAKER_SPLITS = ("fsdd", "avdigits")


_FORWARD = weakref.WeakKeyDictionary()     # model -> {input signature: traced function}


def _forward(model, inputs_spec):
    """``model``'s inference as a ``tf.function`` for batches of ``inputs_spec`` (any batch
    size), traced once per model and input signature: an evaluation that predicts group
    after group with one model (adapted accuracies) reuses it instead of tracing anew."""
    signature = tf.nest.map_structure(
        lambda s: tf.TensorSpec([None, *s.shape[1:]], s.dtype), inputs_spec)
    key = repr(signature)
    functions = _FORWARD.setdefault(model, {})
    if key not in functions:
        held = weakref.ref(model)          # the cache must not keep the model alive
        functions[key] = tf.function(lambda x: held()(x, training=False),
                                     input_signature=[signature])
    return functions[key]


def predict_probabilities(model, dataset):
    """Class probabilities and integer labels of every batch of ``dataset``; the model runs
    as one compiled function (:func:`_forward`)."""
    forward = _forward(model, dataset.element_spec[0])
    probabilities, labels = [], []
    for x, y in dataset:
        probabilities.append(np.asarray(forward(x), np.float64))
        y = np.asarray(y)
        labels.append(y.argmax(-1) if y.ndim > 1 else y)
    if not probabilities:
        raise ValueError("nothing to evaluate: the dataset is empty")
    return np.concatenate(probabilities), np.concatenate(labels).astype(np.int64)


def size_mb_with_optimizer(path) -> float:
    """The size in MB of the ``.keras`` model at ``path`` saved with the state of an AdamW
    optimizer (its two moments per trainable weight), as a training checkpoint holds it:
    the size the paper reports (12 MB for 0.9M parameters), about three times the weights
    alone. The model is read back from ``path``, so the caller's model is left as it is."""
    model = load_model(path)
    model.compile(optimizer=keras.optimizers.AdamW(), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    with tempfile.TemporaryDirectory() as folder:
        copy = os.path.join(folder, "with_optimizer.keras")
        model.save(copy)
        return os.path.getsize(copy) / 1e6


def model_facts(model, path=None, *, latency=True) -> dict:
    """``params``, ``size_mb`` and ``size_mb_with_optimizer`` (of the ``.keras`` file at
    ``path``, without and with optimizer state), ``latency_ms_b1`` and ``latency_ms_b32``
    (CPU, ms per sample) with the ``machine`` they were measured on (CPU, instruction set,
    cores, load)."""
    facts = {"params": int(model.count_params())}
    if path and os.path.exists(path):
        facts["size_mb"] = os.path.getsize(path) / 1e6
        facts["size_mb_with_optimizer"] = size_mb_with_optimizer(path)
    if latency:
        facts["latency_ms_b1"] = latency_ms(model, 1)
        facts["latency_ms_b32"] = latency_ms(model, 32, repeats=10)
        facts["machine"] = describe()
    return facts


def evaluate_model(model, dataset, classes, *, out_dir=None, model_path=None,
                   history=(), latency=True, extra=None, title="Evaluation",
                   skipped=(), duplicates=(), groups=None, adapted=None,
                   self_trained=None, self_training="off") -> dict:
    """Metrics of ``model`` on ``dataset`` (batches of ``(inputs, labels)``); with
    ``out_dir``, also ``metrics.json``, ``report.md`` and the PNG plots there.

    ``groups`` (a key per observation, in the dataset's order: the source's
    ``split_keys``) adds ``per_group``: each speaker's / tool's accuracy and count.
    ``adapted`` (probabilities with each group's own statistics: batch norms, equalisation;
    :func:`minape_tf.adaptation.per_group.adapted_probabilities`) adds ``accuracy_adapted``
    and, with ``groups``, ``per_group_adapted``; ``self_trained`` (the same with the model
    self-trained on each group) ``accuracy_self_trained`` and ``per_group_self_trained``,
    and ``self_training="balanced"`` (how it was self-trained) ``"self_training":
    "balanced"`` beside them. ``skipped`` (``(file, reason)``) and ``duplicates`` (the
    observations a training let into more than one split, described) are listed in the
    report, and ``duplicates`` counted in the metrics (``duplicates_across_splits``).

    Returns
    -------
    dict
        The keys of ``classification_metrics`` plus ``params``, ``size_mb``,
        ``size_mb_with_optimizer``, ``latency_ms_b1``, ``latency_ms_b32``, ``extra`` and, with
        ``groups``, ``per_group``.
    """
    probabilities, labels = predict_probabilities(model, dataset)
    metrics = dict(extra or {})
    if duplicates:
        metrics["duplicates_across_splits"] = len(duplicates)
    metrics.update(classification_metrics(labels, probabilities, classes))
    if groups is not None:
        metrics["per_group"] = per_group_accuracy(labels, probabilities.argmax(1), groups)
    for name, probabilities_of in (("adapted", adapted), ("self_trained", self_trained)):
        if probabilities_of is not None:
            predicted = probabilities_of.argmax(1)
            metrics[f"accuracy_{name}"] = float(np.mean(predicted == labels))
            if groups is not None:
                metrics[f"per_group_{name}"] = per_group_accuracy(labels, predicted, groups)
    if self_trained is not None and self_training == "balanced":
        metrics["self_training"] = "balanced"
    metrics.update(model_facts(model, model_path, latency=latency))
    if out_dir:
        files = RunFolder(out_dir)           # an evaluation's files are named as a run's
        os.makedirs(files.path, exist_ok=True)
        plot_roc(labels, probabilities, classes, files.roc)
        plot_confusion(metrics["confusion_matrix"], classes, files.confusion)
        plots = [files.roc, files.confusion]
        if plot_history(history, files.curves):
            plots.append(files.curves)
        write_metrics(metrics, files.metrics)
        write_report(metrics, files.report, title=title, plots=plots, skipped=skipped,
                     duplicates=duplicates)
        with atomic_path(files.predictions) as temporary:
            np.savez(temporary, probabilities=probabilities, labels=labels)
    return metrics


def evaluate_training(result, *, latency=True, self_training="off") -> dict | None:
    """Evaluate a finished ``train`` (its ``RunResult``) on the run's test split, as the
    run resolved it, and write ``metrics.json``, ``report.md`` and the plots into the run
    folder; also sets ``result.metrics``. ``None`` when the data set has no test split.
    ``self_training`` ("on" or "balanced"): also the accuracy with the model self-trained
    on each test group."""
    setup, folder = result.setup, RunFolder(result.out_dir)
    test = setup.test_source()
    if test is None:
        return None
    adapted = _adapted(result.model, test, setup.eval_data, self_training)
    result.metrics = evaluate_model(
        result.model, setup.eval_data(test), setup.classes, out_dir=folder.path, **adapted,
        model_path=folder.model, history=folder.read_history(), latency=latency,
        extra={"run": os.path.abspath(folder.path), "dataset": setup.config.dataset,
               "split": "test", "modality": result.info["modality"],
               "best_epoch": result.best_epoch},
        title=f"Evaluation of {folder.name}", skipped=test.skipped,
        duplicates=setup.duplicates, groups=test.split_keys)
    return result.metrics


def evaluate_run(run_dir, *, dataset=None, data_dir=None, split="test", match=None,
                 out_dir=None, dataset_options=None, latency=True, batch_size=None,
                 self_training="off", log=print) -> dict:
    """Evaluate a run folder's ``model.keras``; writes ``metrics.json``, ``report.md`` and
    plots into ``out_dir`` (default: the run folder for the run's own test split, else
    ``RUN/eval-<dataset>-<split>``).

    Parameters
    ----------
    run_dir : path
    dataset, data_dir : str or None
        Default: the run's own.
    split : {"test", "val", "train", "all"}, default "test"
        ``all``: every observation under ``data_dir`` (a collection the model never saw).
    match : str or None
        Keep only observations whose id matches this regular expression (e.g.
        ``"_theo_[0-4]$"``: FSDD speaker theo's official test indices). For a model of
        ``sequence_length > 1`` the histories are made of the matched observations only.
    dataset_options : dict or None
        Loader options over the run's (e.g. another test speaker).
    self_training : {"off", "on", "balanced"}, default "off"
        Also the accuracy with the model self-trained on each group's observations, without
        their labels (``accuracy_self_trained``; :func:`minape_tf.adaptation.self_training.self_train`;
        "balanced": with the targets balanced over the classes).
    log : callable, default print
        Where the count of skipped observations goes (``skip_bad``).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; expected one of {SPLITS}")
    if out_dir is not None and os.path.realpath(out_dir) != os.path.realpath(run_dir):
        claim(out_dir, "metrics.json")        # a folder of the user's is refused, untouched
    folder = RunFolder(run_dir)
    model = load_model(run_dir)
    config, info = TrainConfig.from_dict(folder.read_config()), folder.read_info()
    name = dataset or config.dataset
    same_dataset = name == config.dataset
    same_data = same_dataset and (data_dir is None or config.data_dir is not None and
                                  os.path.realpath(data_dir) == os.path.realpath(config.data_dir))
    # The run's reading options (rates, sizes, columns) carry over to the same kind of data;
    # its split options only to the same data, and not to --split all.
    options = dict(config.dataset_options) if same_dataset else {}
    if not same_data or split == "all":
        options = {k: v for k, v in options.items() if k not in SPLIT_OPTIONS}
        if split == "all" and name in SPEAKER_SPLITS:
            options["split"] = "official"
    options.update(dataset_options or {})
    loaded = load_dataset(name, data_dir or config.data_dir, seed=config.seed, **options)
    groups = [group_from_config(g) for g in info["groups"]]
    classes = list(info["classes"])
    source = _in_model_classes(loaded.source, classes, f"{name} at {data_dir or config.data_dir}")
    index = np.arange(len(source)) if split == "all" else loaded.splits[split]
    if match:
        pattern = re.compile(match)
        index = np.array([i for i in index if pattern.search(source.ids[i])], np.int64)
    if len(index) == 0:
        raise ValueError(f"no observations in split {split!r}"
                         + (f" matching {match!r}" if match else ""))
    part = source.subset(index, groups)
    if part.skipped:
        log(skip_summary(part.skipped))
    inputs = ModelInputs.of_arguments(groups, info["model_kwargs"],
                                      info.get("architecture", "minape"))

    def make_data(subset):
        return model_dataset(subset, inputs, batch_size=batch_size or config.batch_size)

    data = make_data(part)
    if out_dir is None:
        own = same_data and split == "test" and not match and not dataset_options
        suffix = "-match" if match else ""
        out_dir = folder.path if own else folder.evaluation_dir(f"{name}-{split}{suffix}")
    extra = {"run": os.path.abspath(run_dir), "dataset": name, "split": split}
    if match:
        extra["match"] = match
    own_test = same_data and split == "test"      # the splits the training checked
    return evaluate_model(model, data, classes, out_dir=out_dir, model_path=folder.model,
                          history=folder.read_history(), latency=latency, extra=extra,
                          title=f"Evaluation of {folder.name}", skipped=part.skipped,
                          duplicates=info.get("duplicates", ()) if own_test else (),
                          groups=part.split_keys,
                          **_adapted(model, part, make_data, self_training))


def _adapted(model, source, make_data, self_training="off"):
    """``evaluate_model``'s ``adapted`` (each group's own statistics) and, with
    ``self_training``, ``self_trained`` probabilities, when the data has groups and the model
    batch norms (else none)."""
    if source.split_keys is None or not batchnorm_layers(model):
        return {}
    out = {"adapted": adapted_probabilities(model, source, make_data, predict_probabilities)}
    if check_self_training(self_training) != "off":
        out["self_trained"] = adapted_probabilities(model, source, make_data,
                                                    predict_probabilities,
                                                    self_training=self_training)
        out["self_training"] = self_training
    return out


def _in_model_classes(source, classes, where):
    """``source`` with its labels renumbered to the model's ``classes``: a new collection may
    hold only some of the classes, in another order; a class the model does not know is an
    error."""
    if list(source.classes) == classes:
        return source
    unknown = sorted(set(source.classes) - set(classes))
    if unknown:
        raise ValueError(f"{where}: classes {unknown} are not among the model's {classes}")
    mapping = np.array([classes.index(c) for c in source.classes], np.int64)
    return dataclasses.replace(source, labels=mapping[source.labels], classes=classes)
