"""The model family, one role per file (as keras-hub's ``models/<family>/``): Minape
(:mod:`~minape_tf.models.minape`), the registry of Minape and the paper's baselines by name
(:mod:`~minape_tf.models.registry`), the presets (:mod:`~minape_tf.models.presets`), the one
model loader (:mod:`~minape_tf.models.saving`), the authors' checkpoint
(:mod:`~minape_tf.models.official`) and the baselines (:mod:`minape_tf.models.baselines`).

The registry and the presets import no Keras (the command line reads them before TensorFlow
starts); the other names are imported on first use.
"""

from minape_tf import lazy_names

__all__ = ["BUILDERS", "Minape", "build_minape", "build_model", "load_checkpoint",
           "load_model", "presets"]
__getattr__, __dir__ = lazy_names(__name__, {
    "BUILDERS": "minape_tf.models.registry", "build_model": "minape_tf.models.registry",
    "Minape": "minape_tf.models.minape", "build_minape": "minape_tf.models.minape",
    "load_checkpoint": "minape_tf.models.official", "load_model": "minape_tf.models.saving",
    "presets": "minape_tf.models.presets"})
