"""Training: configs, the run setup, the run loop, schedules, callbacks, MixUp / CutMix.

The names below are imported on first use, so that reading a config (``TrainConfig``,
for the command line's ``--help``) does not start TensorFlow.
"""

from minape_tf import lazy_names

_MODULES = {"BatchNormReestimation": "callbacks", "TrainConfig": "config",
            "load_config": "config", "save_config": "config", "RunSetup": "setup",
            "prepare_run": "setup", "WarmupCosine": "schedule", "RunResult": "run",
            "train": "run"}
__all__ = sorted(_MODULES)
__getattr__, __dir__ = lazy_names(__name__, {name: f"minape_tf.training.{module}"
                                             for name, module in _MODULES.items()})
