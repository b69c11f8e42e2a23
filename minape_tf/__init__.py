"""minape-tf: Minape, the multimodal isotropic convolutional network with patch embedding
(Truchan et al., ICONIP 2023), for Keras 3 and TensorFlow.

``build_minape``, ``load_model``, ``predict_arrays`` and ``presets`` are imported on first
use, so that ``import minape_tf`` (and ``minape --help``) does not start TensorFlow;
``from minape_tf import build_minape`` works as usual.
"""

import importlib


def lazy_names(package: str, table: dict):
    """``(__getattr__, __dir__)`` for a package whose public names are imported on first
    use: ``table`` maps each name to the module that defines it. The one lazy-import
    pattern of minape-tf (PEP 562): a package's face names what it offers without importing
    TensorFlow or Keras before one of them is asked for."""
    module = importlib.import_module(package)

    def __getattr__(name):
        if name in table:
            value = getattr(importlib.import_module(table[name]), name)
            setattr(module, name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(module)) | set(table))

    return __getattr__, __dir__


from minape_tf.groups import ImageGroup, SeriesGroup  # noqa: E402

__version__ = "0.1.0"
__all__ = ["ImageGroup", "SeriesGroup", "build_minape", "load_model", "predict_arrays",
           "presets", "__version__"]
__getattr__, __dir__ = lazy_names(__name__, {"build_minape": "minape_tf.models.minape",
                                             "load_model": "minape_tf.models.saving",
                                             "predict_arrays": "minape_tf.deploy.arrays",
                                             "presets": "minape_tf.models.presets"})
