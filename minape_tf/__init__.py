"""minape-tf: Minape, the multimodal isotropic convolutional network with patch embedding
(Truchan et al., ICONIP 2023), for Keras 3 and TensorFlow.

``build_minape`` and ``load_model`` are imported on first use, so that ``import
minape_tf`` (and ``minape --help``) does not start TensorFlow; ``from minape_tf import
build_minape`` works as usual.
"""

import importlib

from minape_tf.groups import ImageGroup, SeriesGroup
from minape_tf.presets import presets

__version__ = "0.1.0"
_LAZY = {"build_minape": "minape_tf.model", "load_model": "minape_tf.saving"}
__all__ = ["ImageGroup", "SeriesGroup", "build_minape", "load_model", "presets",
           "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'minape_tf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
