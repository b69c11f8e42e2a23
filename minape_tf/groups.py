"""Modality groups: what the pipeline produces and what one Minape pathway reads.

A *modality group* (paper Section 3, Eqs. 7-10) is a set of inputs of one kind that are
brought to one shape and stacked along channels, then read by one pathway. Both the data
pipeline (``minape_tf.data``) and the model builder (``build_minape``) take the same group
objects, so the shapes they agree on are written down once, here.

Per-group model overrides (``width``, ``depth``, ``patch_size``, ``kernel_size``) let one
pathway be wider or deeper than another, as the paper tunes them per data set; ``None``
means "use the value given to ``build_minape``".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from minape_tf.stft import frame_count

_NORMALISATIONS = (None, "peak", "rms")
_SPECTRAL = (None, "mean_var", "band", "pcen")
REPRESENTATIONS = ("logmel", "frames", "raw")
# The views of the signal itself (no spectrum): they take no equalisation and no PCEN.
SIGNAL_VIEWS = ("frames", "raw")


def _check_name(name):
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"group name {name!r} is not allowed: use a Python identifier "
            "(letters, digits, underscores), since it names the model input")


def _check_positive(group, **values):
    for key, value in values.items():
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"group {group!r}: {key}={value!r}; expected a positive integer")


_MODALITIES = (None, "image", "series")


@dataclass(frozen=True)
class _Group:
    name: str
    channels: int = 3
    inputs: tuple = field(default=())
    width: int | None = None
    depth: int | None = None
    patch_size: int | None = None
    kernel_size: int | None = None
    modality: str | None = None

    @property
    def data_modality(self) -> str:
        """What the group's data is ("image" or "series"), for the paper's i / t / m
        ablations: ``modality`` where set, else the group's kind. Spectrogram *images* of
        a time series (Mudestreda's specX/Y/Z) are an image group of modality "series"."""
        return self.modality or self.kind

    def _validate_common(self):
        _check_name(self.name)
        if self.modality not in _MODALITIES:
            raise ValueError(f"group {self.name!r}: modality={self.modality!r}; expected one of "
                             f"{_MODALITIES}")
        _check_positive(self.name, channels=self.channels, width=self.width, depth=self.depth,
                        patch_size=self.patch_size, kernel_size=self.kernel_size)
        object.__setattr__(self, "inputs", tuple(self.inputs))

    def replace(self, **changes):
        """A copy of this group with some fields changed."""
        return dataclasses.replace(self, **changes)

    def feature_layers(self) -> list:
        """The Keras layers that turn the group's preprocessed input into what its pathway
        reads (none for images; level normalisation and log-Mel for series)."""
        return []

    def to_config(self) -> dict:
        config = dataclasses.asdict(self)
        config["kind"] = self.kind
        config["inputs"] = list(self.inputs)
        return config


@dataclass(frozen=True)
class ImageGroup(_Group):
    """Images stacked along channels, read by one image pathway.

    Parameters
    ----------
    name : str
        Group name; also the name of the model input.
    channels : int, default 3
        Channels after stacking (e.g. 3 for one RGB photo, 9 for three RGB images).
    size : (int, int), default (224, 224)
        (height, width) every image of the group is resized to.
    keep_aspect : bool, default False
        Resize with padding so that the aspect ratio is kept, instead of stretching.
    inputs : tuple of str, default ()
        Names of the inputs stacked into this group, in channel order (informational; the
        loaders fill it in).
    width, depth, patch_size, kernel_size : int or None, default None
        Per-group overrides of the ``build_minape`` arguments of the same name.
    modality : {None, "image", "series"}, default None
        What the pixels show, when it is not a photo: rendered spectrograms of a time
        series are ``modality="series"``, so that image-only / series-only ablations treat
        them as the time-series modality. ``None`` means "image".
    """

    size: tuple = (224, 224)
    keep_aspect: bool = False
    kind = "image"

    def __post_init__(self):
        self._validate_common()
        size = tuple(self.size)
        if len(size) != 2 or any(not isinstance(s, int) or s < 1 for s in size):
            raise ValueError(f"group {self.name!r}: size={self.size!r}; expected (height, width)")
        object.__setattr__(self, "size", size)

    @property
    def feature_shape(self) -> tuple:
        """Shape of one observation as the model reads it: (height, width, channels)."""
        return (*self.size, self.channels)

    def input_shape(self, features_in_model: bool = False) -> tuple:
        """Shape of one observation at the model's input (no batch axis)."""
        return self.feature_shape

    def preprocessing(self):
        """The layer that brings one decoded image (any size; uint8, uint16 or float in
        [0, 1]) to the group's size as float32 in [0, 1]: :class:`~minape_tf.layers.
        ImagePreprocessing`, shared by the data pipeline and the exported model."""
        from minape_tf.layers.image_preprocessing import ImagePreprocessing

        return ImagePreprocessing(self.size, self.keep_aspect, name=f"{self.name}_preprocessing")


@dataclass(frozen=True)
class SeriesGroup(_Group):
    """Time series turned into features (log-Mel spectrograms) and stacked along channels.

    Each series is resampled from ``source_rate`` to ``sample_rate``, trimmed or zero-padded
    to ``length`` samples, optionally level-normalised, and turned into
    ``log10(mel(|STFT|^2) + eps)`` with a Hann window of ``n_fft`` samples, hop ``hop``,
    no centring (``center=False``) and librosa's Slaney mel filter bank (paper Eq. 9); or,
    with ``representation="frames"``, cut into frames of ``n_fft`` raw samples every
    ``hop`` (:class:`~minape_tf.layers.SeriesFrames`); or, with ``representation="raw"``,
    kept as they are, ``(length, channels)``, for the one-dimensional pathway.

    Parameters
    ----------
    name : str
        Group name; also the name of the model input.
    channels : int, default 3
        Series stacked into the group (e.g. 3 for Fx, Fy, Fz).
    sample_rate : int, default 16000
        Rate (Hz) the series are resampled to and the mel filter bank is built for.
    length : int, default 16000
        Samples per series after resampling, trimming and padding.
    source_rate : int or None, default None
        Native rate of the recordings; ``None`` means already at ``sample_rate``.
    n_fft : int, default 1024
        STFT window and FFT length (the frame of ``"frames"``; not used by ``"raw"``).
    hop : int, default 512
        STFT hop (stride) in samples (not used by ``"raw"``).
    n_mels : int, default 64
        Mel bands (not used by ``"frames"`` and ``"raw"``).
    fmin : float, default 0.0
        Lowest mel frequency (Hz).
    fmax : float or None, default None
        Highest mel frequency (Hz); ``None`` means ``sample_rate / 2``.
    normalize : {None, "peak", "rms"}, default None
        Per-observation level normalisation applied before the STFT: divide each series by
        its peak absolute value or its RMS. Use it when recording levels differ.
    eps : float, default 1e-6
        Added to the mel power before the log10.
    spectral_norm : {None, "mean_var", "band", "pcen"}, default None
        Per-observation normalisation of the log-Mel, after it is computed:
        ``"mean_var"`` (mean and standard deviation over the whole spectrogram) or
        ``"band"`` (per mel band over time): :class:`~minape_tf.layers.
        SpectralNormalization`; ``"pcen"``: per-channel energy normalisation,
        :class:`~minape_tf.layers.PCEN`. Training augmentation is applied before it.
    equalize : bool, default False
        Give the group's pathway a :class:`~minape_tf.layers.DeviceEqualization` (after the
        log-Mel and any spectral normalisation): it passes the features through until the
        model is adapted to a device, then removes that device's frequency response, measured
        on its own unlabelled observations (``minape adapt``; the adapted accuracy of
        evaluations).
    representation : {"logmel", "frames", "raw"}, default "logmel"
        The view the pathway reads: ``"logmel"``, the paper's log-Mel spectrogram
        ``(frames, n_mels)``, for audio and fast sensors; ``"frames"``, the raw samples
        framed ``(frames, n_fft)``, a 2-D view that keeps the level and shape of short or
        slow series; ``"raw"``, the samples themselves ``(length,)``, read by the
        one-dimensional pathway (patch embedding and depthwise convolutions over time:
        :func:`minape_tf.models.build_minape`). ``"frames"`` and ``"raw"`` take no
        ``equalize`` and no ``spectral_norm="pcen"`` (both are defined on spectra).
    inferred : tuple of str, default ()
        The fields that were chosen from the data rather than given (the manifest loader
        fills it in: :func:`minape_tf.data.series_settings.infer_settings`); a training
        chooses them again around the settings its user gives.
    inputs, width, depth, patch_size, kernel_size, modality
        As for :class:`ImageGroup`.
    """

    channels: int = 3
    sample_rate: int = 16000
    length: int = 16000
    source_rate: int | None = None
    n_fft: int = 1024
    hop: int = 512
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    normalize: str | None = None
    eps: float = 1e-6
    spectral_norm: str | None = None
    equalize: bool = False
    representation: str = "logmel"
    inferred: tuple = ()
    kind = "series"

    def __post_init__(self):
        self._validate_common()
        _check_positive(self.name, sample_rate=self.sample_rate, length=self.length,
                        source_rate=self.source_rate, n_fft=self.n_fft, hop=self.hop,
                        n_mels=self.n_mels)
        if self.normalize not in _NORMALISATIONS:
            raise ValueError(f"group {self.name!r}: normalize={self.normalize!r}; "
                             f"expected one of {_NORMALISATIONS}")
        if self.spectral_norm not in _SPECTRAL:
            raise ValueError(f"group {self.name!r}: spectral_norm={self.spectral_norm!r}; "
                             f"expected one of {_SPECTRAL}")
        if not isinstance(self.equalize, bool):
            raise ValueError(f"group {self.name!r}: equalize={self.equalize!r}; expected true "
                             "or false")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"group {self.name!r}: representation={self.representation!r}; "
                             f"expected one of {REPRESENTATIONS}")
        if self.representation in SIGNAL_VIEWS and (self.equalize
                                                     or self.spectral_norm == "pcen"):
            raise ValueError(f"group {self.name!r}: representation={self.representation!r} "
                             "takes no equalize and no spectral_norm='pcen' (both work on "
                             "spectra)")
        object.__setattr__(self, "inferred", tuple(self.inferred))
        if self.length < self.n_fft and self.representation != "raw":
            raise ValueError(
                f"group {self.name!r}: length={self.length} is shorter than n_fft={self.n_fft}; "
                "the STFT needs at least one full window")
        top = self.fmax if self.fmax is not None else self.sample_rate / 2
        if not 0 <= self.fmin < top <= self.sample_rate / 2:
            raise ValueError(f"group {self.name!r}: need 0 <= fmin < fmax <= sample_rate/2, "
                             f"got fmin={self.fmin}, fmax={self.fmax}, sample_rate={self.sample_rate}")

    @property
    def n_frames(self) -> int:
        """STFT frames of one series (``center=False``)."""
        return frame_count(self.length, self.n_fft, self.hop)

    @property
    def input_rate(self) -> int:
        """The rate of the recordings as read: ``source_rate``, or ``sample_rate`` when the
        recordings are already at it."""
        return self.source_rate or self.sample_rate

    @property
    def feature_shape(self) -> tuple:
        """Shape of one observation's features: (frames, n_mels, channels), (frames,
        n_fft, channels) for ``"frames"``, (length, channels) for ``"raw"``."""
        if self.representation == "raw":
            return (self.length, self.channels)
        bands = self.n_fft if self.representation == "frames" else self.n_mels
        return (self.n_frames, bands, self.channels)

    def input_shape(self, features_in_model: bool = False) -> tuple:
        """Shape at the model's input: raw ``(length, channels)`` when the log-Mel layer sits
        inside the model, else the spectrograms ``(frames, n_mels, channels)``."""
        return (self.length, self.channels) if features_in_model else self.feature_shape

    def preprocessing(self):
        """The layer that brings raw series at ``source_rate`` (any length) to the group's
        rate and length: :class:`~minape_tf.layers.SeriesResampling`, shared by the data
        pipeline and the exported SavedModel (TensorFlow only)."""
        from minape_tf.layers.series_preprocessing import SeriesResampling

        return SeriesResampling(self.input_rate, self.sample_rate,
                                self.length, name=f"{self.name}_resampling")

    def feature_layers(self, spectral=True) -> list:
        """Level normalisation (when ``normalize`` is set), log-Mel (or the frames), then
        spectral normalisation (when ``spectral_norm`` is set): the layers that turn ``(batch,
        length, channels)`` into ``(batch, *feature_shape)``, used by the pipeline and by
        ``build_minape(features_in_model=True)`` alike. ``spectral=False`` leaves out the
        spectral normalisation (the pipeline caches the log-Mel, augments it, then applies
        :meth:`spectral_layers`)."""
        from minape_tf.layers.frames import SeriesFrames, SeriesSamples
        from minape_tf.layers.level import LevelNormalization
        from minape_tf.layers.logmel import LogMel

        views = {"frames": lambda: SeriesFrames(self.n_fft, self.hop, name=f"{self.name}_frames"),
                 "raw": lambda: SeriesSamples(name=f"{self.name}_samples"),
                 "logmel": lambda: LogMel.from_group(self, dtype="float32",
                                                     name=f"{self.name}_logmel")}
        layers = [views[self.representation]()]
        if self.normalize is not None:
            layers.insert(0, LevelNormalization(self.normalize, dtype="float32",
                                                name=f"{self.name}_level"))
        return layers + (self.spectral_layers() if spectral else [])

    def spectral_layers(self) -> list:
        """The spectral normalisation layer of ``spectral_norm`` (an empty list for None)."""
        from minape_tf.layers.spectral_normalization import PCEN, SpectralNormalization

        name = f"{self.name}_{self.spectral_norm}"
        if self.spectral_norm is None:
            return []
        if self.spectral_norm == "pcen":
            return [PCEN(self.sample_rate, self.hop, log_eps=self.eps, dtype="float32",
                         name=name)]
        return [SpectralNormalization(self.spectral_norm, dtype="float32", name=name)]


def spectral_stages(groups) -> dict:
    """``{group name: its spectral normalisation layers}`` of the series groups that have
    one (:meth:`SeriesGroup.spectral_layers`, built once here)."""
    stages = {g.name: g.spectral_layers() for g in groups if isinstance(g, SeriesGroup)}
    return {name: layers for name, layers in stages.items() if layers}


GROUP_KINDS = {"image": ImageGroup, "series": SeriesGroup}


def group_from_config(config: dict):
    """Rebuild a group from :meth:`to_config` output (e.g. a run's saved config)."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in GROUP_KINDS:
        raise ValueError(f"group config has kind={kind!r}; expected one of {sorted(GROUP_KINDS)}")
    for key in ("size", "inputs", "inferred"):
        if key in config and config[key] is not None:
            config[key] = tuple(config[key])
    return GROUP_KINDS[kind](**config)
