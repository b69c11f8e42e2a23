"""minape-tf: Minape, the multimodal isotropic convolutional network with patch embedding
(Truchan et al., ICONIP 2023), for Keras 3 and TensorFlow."""

from minape_tf.groups import ImageGroup, SeriesGroup
from minape_tf.model import build_minape
from minape_tf.presets import presets

__version__ = "0.1.0"
__all__ = ["ImageGroup", "SeriesGroup", "build_minape", "presets", "__version__"]
