"""Training: configs, the run setup, the run loop, schedules, callbacks, MixUp / CutMix.

The names below are imported on first use, so that reading a config (``TrainConfig``,
for the command line's ``--help``) does not start TensorFlow.
"""

import importlib

_EXPORTS = {
    "BatchNormReestimation": "callbacks",
    "TrainConfig": "config", "load_config": "config", "save_config": "config",
    "RunFolder": "run_folder", "RunSetup": "setup", "prepare_run": "setup",
    "WarmupCosine": "schedule", "RunResult": "run", "train": "run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"minape_tf.training.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'minape_tf.training' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
