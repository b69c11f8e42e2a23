"""Data side of Minape: group specs, readers, the validation pass, ``make_dataset`` and the
dataset loaders (paper Section 3.2, Eqs. 7-10).

``source, groups, splits = minape_tf.data.fsdd(root)``, then
``make_dataset(source.subset(splits["train"]), groups, training=True)``.
"""

from minape_tf.data.loaders import avdigits, fsdd, manifest, mudestreda
from minape_tf.data.pipeline import load_observations, make_dataset
from minape_tf.data.source import Loaded, Source
from minape_tf.data.validate import DataError, validate
from minape_tf.groups import ImageGroup, SeriesGroup


# The embedded demo lives in minape_tf/data/demo.py (written separately). Binding the
# function here (after the submodule import) keeps ``minape_tf.data.demo`` the function,
# not the module; without the file the package still imports, and ``demo`` raises.
try:
    from minape_tf.data.demo import demo
except ImportError as _demo_error:  # pragma: no cover - only while demo.py is absent
    _DEMO_ERROR = _demo_error

    def __getattr__(name):
        if name == "demo":
            raise ImportError(f"minape_tf.data.demo is not available: {_DEMO_ERROR}")
        raise AttributeError(f"module 'minape_tf.data' has no attribute {name!r}")


__all__ = ["DataError", "ImageGroup", "Loaded", "SeriesGroup", "Source", "avdigits", "demo",
           "fsdd", "load_observations", "make_dataset", "manifest", "mudestreda", "validate"]
