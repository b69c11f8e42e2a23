"""A run's own observations for its export: training observations calibrate the int8
variants (:meth:`RunData.representative_set`), held-out ones measure how many of Keras's
classes each exported file keeps (:meth:`RunData.held_out`). The run's data set is read
once, on first use, for both."""

from __future__ import annotations

import functools

import numpy as np

from minape_tf.data.registry import load_dataset
from minape_tf.models.inputs import ModelInputs, model_dataset
from minape_tf.outputs.run_folder import RunFolder
from minape_tf.training.config import TrainConfig
from minape_tf.training.setup import split_sources


class RunData:
    """The observations of the run at ``run_dir``, as its configuration reads them."""

    def __init__(self, run_dir):
        self.run_dir = run_dir

    @functools.cached_property
    def _read(self) -> tuple:
        """``(config, loaded)``: the run's configuration and its data set."""
        config = TrainConfig.from_dict(RunFolder(self.run_dir).read_config())
        return config, load_dataset(config.dataset, config.data_dir, seed=config.seed,
                                    **config.dataset_options)

    def split(self, model, split, count=None):
        """``(source, inputs)``: up to ``count`` observations (a seeded sample, in order) of
        the run's ``split`` ("train", "val" or "test") as the model -- one observation at a
        time, features outside -- reads them; ``source`` is ``None`` when the split is
        empty."""
        config, loaded = self._read
        inputs = ModelInputs.of_model(model).one_at_a_time()
        groups = list(inputs.groups)
        if split == "train":
            source, _ = split_sources(loaded, groups, config.dataset)
        else:
            index = loaded.splits.get(split, [])
            source = loaded.source.subset(index, groups) if len(index) else None
        if source is not None and count and len(source) > count:
            rng = np.random.default_rng(config.seed)
            source = source.subset(np.sort(rng.permutation(len(source))[:count]))
        return source, inputs

    def representative_set(self, model, count=300):
        """A callable yielding ``count`` training observations, one at a time, as ``{group
        name: float32 (1, *feature_shape)}``, for ``model`` (one observation each: a history
        model's encoder)."""
        source, inputs = self.split(model, "train", count)
        data = model_dataset(source, inputs, batch_size=1)

        def observations():
            for x, _ in data:
                yield {k: v.numpy() for k, v in x.items()}

        return observations

    def held_out(self, model, count=500):
        """``(batches, where)``: up to ``count`` observations of the run's test split (else
        its validation split) as ``{group name: array}`` batches, and the split's name;
        ``(None, None)`` when the run has neither."""
        for name in ("test", "val"):
            source, inputs = self.split(model, name, count)
            if source is not None:
                data = model_dataset(source, inputs, batch_size=64)
                return [{k: v.numpy() for k, v in x.items()} for x, _ in data], name
        return None, None
