"""The model of a run folder or ``.keras`` file, as a self-describing :class:`Minape`."""

from __future__ import annotations

import json
import os

from minape_tf.data.errors import DataError


def load_minape(path):
    """``(model, run_dir)``: the :class:`~minape_tf.models.minape.Minape` of a run folder (its
    ``model.keras``) or of a ``.keras`` file, and the run folder (``None`` for a file).

    A run folder written before models described themselves (its ``model.keras`` a plain
    functional model) is rebuilt from its ``run.json`` (groups, classes, model arguments)
    with the same weights.
    """
    from minape_tf.models.minape import Minape
    from minape_tf.models.saving import load_model

    path = os.fspath(path)
    run_dir = path if os.path.isdir(path) else None
    file = os.path.join(path, "model.keras") if run_dir else path
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{path}: no model.keras; expected a finished `minape train` "
                                "run folder or a .keras file")
    model = load_model(file)
    if isinstance(model, Minape):
        return model, run_dir
    info_path = os.path.join(run_dir or os.path.dirname(file), "run.json")
    if not os.path.isfile(info_path):
        raise DataError(f"{file}: a plain Keras model without its groups and classes; load it "
                        "from its run folder (which has run.json), or rebuild it with "
                        "build_minape(groups, num_classes, class_names=...) and set_weights")
    with open(info_path) as f:
        info = json.load(f)
    rebuilt = Minape(info["groups"], info["num_classes"], class_names=info["classes"],
                     **info["model_kwargs"])
    rebuilt.set_weights(model.get_weights())
    return rebuilt, run_dir


def feature_model(model):
    """``model`` with its series features outside (``features_in_model=False``): the form
    the exported formats wrap (the SavedModel computes features in its signature; TFLite
    ships them as a separate stage)."""
    if model.arguments.get("features_in_model"):
        return model.with_arguments(features_in_model=False)
    return model


def representative_set(run_dir, model, count=100):
    """A callable yielding ``count`` training observations of the run, one at a time, as
    ``{group name: float32 (1, *feature_shape)}``: the calibration set of int8 export."""
    import numpy as np

    from minape_tf.data.pipeline import make_dataset
    from minape_tf.training.config import TrainConfig
    from minape_tf.data.registry import load_dataset
    from minape_tf.training.setup import split_sources

    with open(os.path.join(run_dir, "config.json")) as f:
        config = TrainConfig.from_dict(json.load(f))
    loaded = load_dataset(config.dataset, config.data_dir, seed=config.seed,
                          **config.dataset_options)
    groups = list(model.groups)
    train_src, _ = split_sources(loaded, groups, config.dataset)
    rng = np.random.default_rng(config.seed)
    index = np.sort(rng.permutation(len(train_src))[:count])
    data = make_dataset(train_src.subset(index), groups, training=False, batch_size=1,
                        cache=False, augment=False)

    def observations():
        for x, _ in data:
            yield {k: v.numpy() for k, v in x.items()}

    return observations
