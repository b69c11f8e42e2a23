"""Dataset loaders: each returns ``Loaded(source, groups, splits)``."""

from minape_tf.data.loaders.avdigits import avdigits
from minape_tf.data.loaders.demo import demo
from minape_tf.data.loaders.fsdd import fsdd
from minape_tf.data.loaders.manifest import manifest
from minape_tf.data.loaders.mudestreda import mudestreda

__all__ = ["avdigits", "demo", "fsdd", "manifest", "mudestreda"]
