"""Training: configs, the run loop, schedules, batch-norm re-estimation, MixUp / CutMix."""

from minape_tf.training.batchnorm import BatchNormReestimation, reestimate_batchnorm
from minape_tf.training.config import TrainConfig, load_config, save_config
from minape_tf.training.datasets import DATASETS, load_dataset, select_groups
from minape_tf.training.schedule import WarmupCosine
from minape_tf.training.train import RunResult, train

__all__ = ["BatchNormReestimation", "reestimate_batchnorm", "TrainConfig", "load_config",
           "save_config", "DATASETS", "load_dataset", "select_groups", "WarmupCosine",
           "RunResult", "train"]
