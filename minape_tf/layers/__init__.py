"""Minape's custom Keras layers (``keras.layers`` / ``keras.ops`` only, serializable)."""

from minape_tf.layers.channel_point import ChannelPointBlock
from minape_tf.layers.depthwise import DEPTHWISE_FORMS, DepthwiseConv
from minape_tf.layers.equalization import DeviceEqualization
from minape_tf.layers.frames import SeriesFrames, SeriesSamples
from minape_tf.layers.fusion import FUSIONS, Fusion
from minape_tf.layers.image_preprocessing import ImagePreprocessing
from minape_tf.layers.level import LevelNormalization
from minape_tf.layers.logmel import LogMel
from minape_tf.layers.mel import mel_filters
from minape_tf.layers.patch_embedding import PatchEmbedding
from minape_tf.layers.sequence import FoldSequence, UnfoldSequence
from minape_tf.layers.series_preprocessing import SeriesResampling
from minape_tf.layers.spectral_normalization import PCEN, SpectralNormalization
from minape_tf.layers.tempmixer import TempMixer

__all__ = ["ChannelPointBlock", "DEPTHWISE_FORMS", "DepthwiseConv", "DeviceEqualization",
           "FUSIONS", "Fusion", "ImagePreprocessing", "LevelNormalization", "LogMel",
           "mel_filters", "PatchEmbedding", "FoldSequence", "UnfoldSequence", "PCEN",
           "SeriesFrames", "SeriesResampling", "SeriesSamples", "SpectralNormalization",
           "TempMixer"]
