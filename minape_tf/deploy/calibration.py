"""The calibration set of an int8 export: training observations of the run, as the model
reads them."""

from __future__ import annotations

import numpy as np

from minape_tf.data.registry import load_dataset
from minape_tf.models.inputs import ModelInputs, model_dataset
from minape_tf.outputs.run_folder import RunFolder
from minape_tf.training.config import TrainConfig
from minape_tf.training.setup import split_sources


def representative_set(run_dir, model, count=100):
    """A callable yielding ``count`` training observations of the run at ``run_dir``, one at
    a time, as ``{group name: float32 (1, *feature_shape)}``, for ``model`` (one
    observation each: a history model's encoder)."""
    config = TrainConfig.from_dict(RunFolder(run_dir).read_config())
    loaded = load_dataset(config.dataset, config.data_dir, seed=config.seed,
                          **config.dataset_options)
    inputs = ModelInputs.of_model(model).one_at_a_time()
    train_src, _ = split_sources(loaded, list(inputs.groups), config.dataset)
    rng = np.random.default_rng(config.seed)
    index = np.sort(rng.permutation(len(train_src))[:count])
    data = model_dataset(train_src.subset(index), inputs, batch_size=1)

    def observations():
        for x, _ in data:
            yield {k: v.numpy() for k, v in x.items()}

    return observations
