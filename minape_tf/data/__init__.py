"""Data side of Minape: group specs, readers, the validation pass, ``make_dataset`` and the
dataset loaders (paper Section 3.2, Eqs. 7-10).

``source, groups, splits = minape_tf.data.fsdd(root)``, then
``make_dataset(source.subset(splits["train"]), groups, training=True)``. The data sets
by name (``--dataset``): ``load_dataset(name, data_dir, seed=0, **options)``.

Readers for single files, as numpy: ``read_image(path, channels=None)`` (float32
``(h, w, c)`` in [0, 1]) and ``read_series(path, columns=())`` (float32
``(samples, channels)`` and the rate, ``None`` for ``.npy``/CSV); see
:mod:`minape_tf.data.decode`.
"""

from minape_tf.data.decode import read_image, read_series
from minape_tf.data.errors import DataError
from minape_tf.data.loaders import avdigits, demo, fsdd, manifest, mudestreda
from minape_tf.data.pipeline import load_observations, make_dataset
from minape_tf.data.registry import DATASETS, load_dataset, modality_code, select_groups
from minape_tf.data.source import Loaded, Source
from minape_tf.data.validate import validate
from minape_tf.groups import ImageGroup, SeriesGroup


__all__ = ["DATASETS", "DataError", "ImageGroup", "Loaded", "SeriesGroup", "Source", "avdigits",
           "demo", "fsdd", "load_dataset", "load_observations", "make_dataset", "manifest",
           "modality_code", "mudestreda", "read_image", "read_series", "select_groups",
           "validate"]
