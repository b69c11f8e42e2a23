"""``build_minape``: the Minape model (paper Section 3, Fig. 2) as a functional Keras model.

The model is a :class:`Minape`, a functional ``keras.Model`` subclass that describes itself
(keras-hub style): its constructor arguments -- the groups, the number and names of the
classes and every ``build_minape`` argument -- are its config, so
``keras.models.load_model("model.keras")`` alone gives back what inputs it takes and what
its outputs mean (``model.groups``, ``model.class_names``, ``model.arguments``).
"""

from __future__ import annotations

import inspect

import keras

from minape_tf.groups import ImageGroup, SeriesGroup, group_from_config
from minape_tf.layers.activation import check_activation
from minape_tf.layers.channel_point import ChannelPointBlock
from minape_tf.layers.depthwise import check_form
from minape_tf.layers.equalization import DeviceEqualization
from minape_tf.layers.fusion import FUSIONS, Fusion
from minape_tf.layers.patch_embedding import PatchEmbedding
from minape_tf.layers.sequence import FoldSequence, UnfoldSequence
from minape_tf.layers.tempmixer import TempMixer

LEARNERS = ("none", "tempmixer", "gru", "lstm")
POOLINGS = ("avg", "max")
BACKBONES = {
    "efficientnetv2-b0": keras.applications.EfficientNetV2B0,
    "efficientnetv2-b1": keras.applications.EfficientNetV2B1,
    "efficientnetv2-b2": keras.applications.EfficientNetV2B2,
    "efficientnetv2-b3": keras.applications.EfficientNetV2B3,
    "efficientnetv2-s": keras.applications.EfficientNetV2S,
    "efficientnetv2-m": keras.applications.EfficientNetV2M,
    "efficientnetv2-l": keras.applications.EfficientNetV2L,
}


def build_minape(groups, num_classes, *, width=256, depth=8, patch_size=8, kernel_size=9,
                 pooling="avg", fusion="concat", learner="none", sequence_length=1,
                 features_in_model=False, backbone=None, dropout=0.0,
                 activation="gelu", bn_momentum=0.9, learner_units=256, learner_dropout=0.1,
                 attention_heads=4, dtype=None, depthwise="auto", ensemble=1, class_names=None,
                 name="minape"):
    """Build Minape: one isotropic pathway per modality group, fusion, temporal learner, softmax.

    Each group's pathway (Eqs. 3-6) is a :class:`PatchEmbedding` (``Conv2D(width, patch,
    strides=patch)``, activation, batch norm) followed by ``depth`` :class:`ChannelPointBlock`
    s (depthwise ``kernel_size`` conv + residual, pointwise conv) and global pooling. The
    pathways' vectors are fused (:class:`Fusion`), passed to the temporal learner over the
    ``sequence_length`` consecutive observations, and classified by a dense softmax (Eq. 2).

    Parameters
    ----------
    groups : list of ImageGroup / SeriesGroup
        The modality groups; each becomes an input named after the group. Per-group
        ``width``, ``depth``, ``patch_size``, ``kernel_size`` override the arguments below.
    num_classes : int
        Classes of the softmax.
    width : int, default 256
        Channels of every pathway (isotropic: the same in every block). Paper: 128-256.
    depth : int, default 8
        Channel-point blocks per pathway. Paper: 4-16.
    patch_size : int, default 8
        Patch side. ``1`` gives Minape-dagger (no patches), slow on large inputs.
    kernel_size : int, default 9
        Depthwise kernel side. Paper: 5-13 (larger was better).
    pooling : {"avg", "max"}, default "avg"
        Global pooling at the end of each pathway.
    fusion : {"concat", "add", "multiply", "average", "attention"}, default "concat"
        How the pathways' vectors are merged; see :class:`Fusion`. With a single group the
        pathway's vector is used as it is.
    learner : {"none", "tempmixer", "gru", "lstm"}, default "none"
        The temporal ("prime") learner over the sequence of fused vectors. ``"none"`` is the
        paper's base model (Table 3): with ``sequence_length > 1`` the fused vectors are then
        averaged over the sequence. ``"tempmixer"`` is Table 4's best (TCN) row.
    sequence_length : int, default 1
        ``L`` consecutive observations per sample. With ``L > 1`` every input gets a leading
        sequence axis ``(batch, L, ...)``; the pathways (shared weights) read each observation
        and the learner sees the L fused vectors in order, oldest first.
    features_in_model : bool, default False
        Put the series features inside the model: a series input is then the raw signal
        ``(batch, length, channels)`` at the group's rate and length, level-normalised (if
        the group says so) and turned into log-Mel spectrograms by
        :class:`minape_tf.layers.LogMel` (then reshaped to the static feature shape, which
        TFLite's built-in convolution needs). Used for export. Otherwise a series input is the
        spectrogram ``(batch, frames, n_mels, channels)`` made by the data pipeline.
    backbone : {None, "efficientnetv2-b0" .. "efficientnetv2-l", "efficientnetv2-m"}, default None
        Minape-S: replace the channel-point blocks by a ``keras.applications`` EfficientNetV2
        (``weights=None``, ``include_top=False``) after the patch embedding.
    dropout : float, default 0.0
        Dropout rate before the classifier.
    activation : {"gelu", "gelu_approx", "relu"}, default "gelu"
        ``"gelu"`` is the exact GELU, ``x * (1 + erf(x / sqrt(2))) / 2``: the paper's Eq. 4
        writes this form, and the authors' code (``layers.Activation("gelu")`` in Keras 2,
        ``approximate=False``) trained their published weights with it, so
        :func:`minape_tf.models.official.load_checkpoint` reproduces them only with it. The paper's
        prose calls it "the fast version of the GELU"; that tanh approximation is
        ``"gelu_approx"`` (a little cheaper on some devices; the two differ by at most 4.7e-4).
        ``"relu"`` is the paper's ablation.
    bn_momentum : float, default 0.9
        Batch-norm momentum of the pathways. Keras' 0.99 leaves the moving statistics far from
        the data when a small data set gives few steps per epoch.
    learner_units : int, default 256
        Units of the GRU / LSTM learner, as in the authors' code (``GRU(256, dropout=0.1)``,
        ``mult_reccurent_aug_tooldist.ipynb``). TempMixer has 64 filters (Section 4.1).
    learner_dropout : float, default 0.1
        Dropout on the inputs of the GRU / LSTM learner (Keras' ``dropout`` argument), the
        authors' 0.1. Not used by TempMixer.
    attention_heads : int, default 4
        Heads of the attention fusion.
    class_names : list of str or None, default None
        What each output means, kept in the model's config (``model.class_names``);
        ``None`` names the classes "0", "1", ...
    dtype : str or keras.DTypePolicy, default None
        Dtype policy of every layer, e.g. ``"mixed_bfloat16"`` (``None``: the global policy,
        ``keras.config.dtype_policy()``). The model's policy does not depend on, nor change,
        the global one, so models of different precisions can live in one process. The
        log-Mel and level layers always compute in float32, and so does the final softmax.
    depthwise : {"auto", "conv", "matmul", "fft", "tiles"}, default "auto"
        How each block computes its depthwise convolution; the weights and results are the
        same in every form, only the speed differs. See :class:`ChannelPointBlock`.
    ensemble : int, default 1
        Members of the model: ``ensemble`` copies of everything after the groups' features
        (pathways, fusion, learner, classifier), each with its own weights, whose class
        probabilities are averaged (``Average`` layer ``"ensemble"``). Trained together, each
        member on its own loss (:meth:`Minape.member_outputs`), they start from different
        weights and disagree where a single model is unsure, as InceptionTime's and
        LITETime's five members do (Ismail Fawaz et al. 2020, 2023). Not a paper setting;
        1 is the paper's model.
    name : str, default "minape"

    Returns
    -------
    Minape
        A functional ``keras.Model``. Inputs: a dict keyed by group name. Output: class
        probabilities (float32, also under mixed precision). ``model.groups``,
        ``model.class_names`` and ``model.arguments`` (the arguments above) describe it.

    Raises
    ------
    ValueError
        For an unknown fusion / learner / backbone / pooling / activation, no groups,
        duplicate group names, or an input smaller than its patch.
    """
    arguments = dict(locals())  # every argument of the signature, new ones included
    for key in ("groups", "num_classes", "class_names", "name"):
        arguments.pop(key)
    return Minape(groups, num_classes, class_names=class_names, name=name, **arguments)


def architecture_defaults() -> dict:
    """The architecture arguments of :func:`build_minape` and their defaults."""
    return {name: p.default for name, p in inspect.signature(build_minape).parameters.items()
            if p.kind is p.KEYWORD_ONLY and name not in ("class_names", "name")}


@keras.saving.register_keras_serializable(package="minape_tf")
class Minape(keras.Model):
    """The Minape model: a functional ``keras.Model`` whose config is its constructor's
    arguments. Build it with :func:`build_minape` (same arguments, documented there).

    Attributes
    ----------
    groups : tuple of ImageGroup / SeriesGroup
    class_names : list of str
    arguments : dict
        Every architecture argument of :func:`build_minape`, defaults filled in.
    """

    def __init__(self, groups, num_classes, *, class_names=None, name="minape", **arguments):
        unknown = sorted(set(arguments) - set(architecture_defaults()))
        if unknown:
            raise ValueError(f"Minape: unknown arguments {unknown}; expected the arguments "
                             f"of build_minape: {sorted(architecture_defaults())}")
        arguments = {**architecture_defaults(), **arguments}
        groups = [group_from_config(g) if isinstance(g, dict) else g for g in groups or []]
        class_names = _class_names(class_names, num_classes)
        inputs, outputs = _graph(groups, num_classes, **arguments)
        super().__init__(inputs, outputs, name=name)
        if arguments["dtype"] is not None:  # so that compile() adds loss scaling (mixed_float16)
            self.dtype_policy = arguments["dtype"]
        self._description = {"groups": tuple(groups), "class_names": class_names,
                             "arguments": arguments}

    @property
    def groups(self) -> tuple:
        return self._description["groups"]

    @property
    def class_names(self) -> list:
        return list(self._description["class_names"])

    @property
    def arguments(self) -> dict:
        return dict(self._description["arguments"])

    def member_outputs(self) -> list:
        """The class probabilities of each member (symbolic tensors of this functional
        model): ``[self.output]`` for a single model, else the inputs of its ``"ensemble"``
        averaging layer, member 0 first."""
        members = self.arguments["ensemble"]
        if members == 1:
            return [self.outputs[0]]
        return [self.get_layer(f"softmax_member{i}" if i else "softmax").output
                for i in range(members)]

    def get_config(self):
        return {"groups": [g.to_config() for g in self.groups],
                "num_classes": len(self.class_names), "class_names": self.class_names,
                "name": self.name, **self.arguments}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def with_arguments(self, **changes):
        """A copy of this model with some architecture arguments changed and the same
        weights, e.g. ``features_in_model=True`` for export (the feature layers have no
        weights, so the pathways' weights carry over)."""
        config = {**self.get_config(), **changes}
        model = type(self).from_config(config)
        model.set_weights(self.get_weights())
        return model


def _class_names(class_names, num_classes):
    if class_names is None:
        return [str(i) for i in range(num_classes)] if isinstance(num_classes, int) else []
    names = [str(c) for c in class_names]
    if len(names) != num_classes or len(set(names)) != len(names):
        raise ValueError(f"class_names={class_names!r}: expected {num_classes} distinct names, "
                         "one per class")
    return names


def _graph(groups, num_classes, *, width, depth, patch_size, kernel_size, pooling, fusion,
           learner, sequence_length, features_in_model, backbone, dropout, activation,
           bn_momentum, learner_units, learner_dropout, attention_heads, dtype, depthwise,
           ensemble):
    """The functional graph of :func:`build_minape`: ``(inputs dict, probabilities)``."""
    groups = check_arguments(groups, num_classes, fusion=fusion, learner=learner,
                              backbone=backbone, pooling=pooling, activation=activation,
                              sequence_length=sequence_length, dropout=dropout,
                              learner_dropout=learner_dropout, ensemble=ensemble)
    check_form(depthwise)
    defaults = dict(width=width, depth=depth, patch_size=patch_size, kernel_size=kernel_size)
    inputs, features = {}, []
    for group in groups:
        settings = _group_settings(group, defaults)
        check_patch_fits(group, settings["patch_size"])
        shape = group.input_shape(features_in_model)
        if sequence_length > 1:
            shape = (sequence_length, *shape)
        inputs[group.name] = x = keras.Input(shape, name=group.name)
        if sequence_length > 1:
            x = FoldSequence(name=f"{group.name}_fold")(x)
        if features_in_model and group.feature_layers():
            for layer in group.feature_layers():
                x = layer(x)
            # A static shape for the patch embedding (TFLite needs it for a built-in conv).
            x = keras.layers.Reshape(group.feature_shape, name=f"{group.name}_features")(x)
        if isinstance(group, SeriesGroup) and group.equalize:
            x = DeviceEqualization(group.eps, dtype="float32", name=f"{group.name}_equalization")(x)
        features.append((x, group.name, settings))
    members = [_member(features, suffix=f"_member{i}" if i else "", num_classes=num_classes,
                       pooling=pooling, backbone=backbone, activation=activation,
                       bn_momentum=bn_momentum, dtype=dtype, depthwise=depthwise,
                       fusion=fusion, attention_heads=attention_heads, learner=learner,
                       sequence_length=sequence_length, learner_units=learner_units,
                       learner_dropout=learner_dropout, dropout=dropout)
               for i in range(ensemble)]
    if ensemble == 1:
        return inputs, members[0]
    return inputs, keras.layers.Average(dtype="float32", name="ensemble")(members)


def _member(features, suffix, *, num_classes, pooling, backbone, activation, bn_momentum,
            dtype, depthwise, fusion, attention_heads, learner, sequence_length,
            learner_units, learner_dropout, dropout):
    """One model on the groups' ``features`` (``(tensor, group name, settings)`` each):
    pathways, fusion, learner, softmax; its layers' names end in ``suffix``."""
    vectors = [_pathway(x, f"{name}{suffix}", settings, pooling=pooling, backbone=backbone,
                        activation=activation, bn_momentum=bn_momentum, dtype=dtype,
                        depthwise=depthwise) for x, name, settings in features]
    fused = vectors[0] if len(vectors) == 1 else Fusion(
        fusion, attention_heads=attention_heads, dtype=dtype, name=f"fusion{suffix}")(vectors)
    steps = (UnfoldSequence(sequence_length, name=f"unfold{suffix}")(fused)
             if sequence_length > 1 else
             keras.layers.Reshape((1, fused.shape[-1]), dtype=dtype,
                                  name=f"as_sequence{suffix}")(fused))
    h = _learner(steps, learner, learner_units, learner_dropout, activation, dtype, suffix)
    if dropout:
        h = keras.layers.Dropout(dropout, dtype=dtype, name=f"dropout{suffix}")(h)
    logits = keras.layers.Dense(num_classes, dtype=dtype, name=f"classifier{suffix}")(h)
    return keras.layers.Activation("softmax", dtype="float32", name=f"softmax{suffix}")(logits)


def _pathway(x, prefix, settings, *, pooling, backbone, activation, bn_momentum, dtype,
             depthwise):
    """One isotropic pathway (Fig. 3 / Fig. 4): patch embedding, blocks (or a backbone), pool.
    On a series read as it is (``(batch, time, channels)``) the same pathway in one
    dimension: its layers choose their convolutions from the input's rank."""
    if backbone is not None and len(x.shape) == 3:
        raise ValueError(f"backbone={backbone!r} reads images; group {prefix!r} is a series "
                         "read as it is (representation='raw'): use no backbone, or "
                         f"groups.{prefix}.representation=frames")
    x = PatchEmbedding(settings["width"], settings["patch_size"], activation=activation,
                       bn_momentum=bn_momentum, dtype=dtype, name=f"{prefix}_patch_embedding")(x)
    if backbone is None:
        for i in range(settings["depth"]):
            x = ChannelPointBlock(settings["kernel_size"], activation=activation,
                                  bn_momentum=bn_momentum, depthwise=depthwise, dtype=dtype,
                                  name=f"{prefix}_block_{i}")(x)
    else:
        x = _backbone(backbone, settings["width"], prefix, dtype)(x)
    pools = {("avg", 2): keras.layers.GlobalAveragePooling2D,
             ("max", 2): keras.layers.GlobalMaxPooling2D,
             ("avg", 1): keras.layers.GlobalAveragePooling1D,
             ("max", 1): keras.layers.GlobalMaxPooling1D}
    return pools[pooling, len(x.shape) - 2](dtype=dtype, name=f"{prefix}_pool")(x)


def _backbone(backbone, width, prefix, dtype):
    """The EfficientNetV2 of Minape-S. ``keras.applications`` takes no ``dtype``: the global
    policy is set to ``dtype`` while it is built, and put back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype or previous)
    try:
        net = BACKBONES[backbone](include_top=False, weights=None, input_shape=(None, None, width),
                                  include_preprocessing=False)
    finally:
        keras.config.set_dtype_policy(previous)
    net.name = f"{prefix}_{backbone.replace('-', '_')}"  # unique per pathway
    return net


def _learner(steps, learner, units, dropout, activation, dtype, suffix=""):
    """The temporal learner over ``(batch, L, features)`` -> ``(batch, features')``."""
    if learner == "tempmixer":
        return TempMixer(activation=activation, dtype=dtype, name=f"tempmixer{suffix}")(steps)
    if learner == "gru":
        return keras.layers.GRU(units, dropout=dropout, dtype=dtype, name=f"gru{suffix}")(steps)
    if learner == "lstm":
        return keras.layers.LSTM(units, dropout=dropout, dtype=dtype,
                                 name=f"lstm{suffix}")(steps)
    return keras.layers.GlobalAveragePooling1D(dtype=dtype, name=f"sequence_pool{suffix}")(steps)


def _group_settings(group, defaults):
    settings = {key: getattr(group, key) if getattr(group, key) is not None else value
                for key, value in defaults.items()}
    for key, value in settings.items():
        minimum = 0 if key == "depth" else 1
        if not isinstance(value, int) or value < minimum:
            raise ValueError(f"{key}={value!r} for group {group.name!r}: expected an integer "
                             f">= {minimum}")
    return settings


def check_patch_fits(group, patch):
    """Raise ``ValueError`` when ``patch`` does not fit ``group``'s input (its image, or its
    series' frames and bands), naming the flags that would make it fit."""
    if isinstance(group, ImageGroup):
        height, width = group.size
        if min(height, width) < patch:
            raise ValueError(
                f"patch_size={patch} for image group {group.name!r}: the image is "
                f"{height}x{width}, smaller than one patch; use a patch of at most "
                f"{min(height, width)} or a larger size")
    elif group.representation == "raw":
        if group.length < patch:
            raise ValueError(f"patch_size={patch} for series group {group.name!r}: "
                             f"length={group.length} is shorter than one patch; use "
                             f"patch_size={group.length} or less")
    else:
        frames, bands = group.feature_shape[:2]
        what = "n_mels" if group.representation == "logmel" else "n_fft"
        if frames < patch:
            raise ValueError(
                f"patch_size={patch} for series group {group.name!r}: length={group.length} "
                f"with n_fft={group.n_fft}, hop={group.hop} gives {frames} frames, fewer "
                f"than the patch; need length >= {group.n_fft + (patch - 1) * group.hop}, a "
                f"hop of at most {max(1, (group.length - group.n_fft) // max(patch - 1, 1))}"
                f" (groups.{group.name}.hop=...), or patch_size={max(frames, 1)}")
        if bands < patch:
            raise ValueError(f"patch_size={patch} for series group {group.name!r}: "
                             f"{what}={bands} is smaller than the patch; use groups."
                             f"{group.name}.{what}={patch} or more, or patch_size={bands}")


def check_arguments(groups, num_classes, *, fusion, learner, backbone, pooling, activation,
                     sequence_length, dropout, learner_dropout, ensemble=1):
    """``groups`` as a list after :func:`build_minape`'s checks of its arguments
    (``ValueError`` naming the argument and what is allowed)."""
    choices = {"fusion": (fusion, FUSIONS), "learner": (learner, LEARNERS),
               "pooling": (pooling, POOLINGS)}
    for parameter, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{parameter}={value!r} is not known; expected one of {allowed}")
    if backbone is not None and backbone not in BACKBONES:
        raise ValueError(f"backbone={backbone!r} is not known; expected None or one of "
                         f"{tuple(BACKBONES)}")
    check_activation(activation)
    groups = list(groups or [])
    if not groups:
        raise ValueError("groups=[]: expected at least one ImageGroup or SeriesGroup")
    for group in groups:
        if not isinstance(group, (ImageGroup, SeriesGroup)):
            raise ValueError(f"groups: {group!r} is not an ImageGroup or SeriesGroup")
    names = [group.name for group in groups]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"groups: duplicate group names {duplicates}; each group needs its "
                         "own name, which names its model input")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r}: expected an integer >= 2")
    if not isinstance(sequence_length, int) or sequence_length < 1:
        raise ValueError(f"sequence_length={sequence_length!r}: expected an integer >= 1")
    if not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"ensemble={ensemble!r}: expected an integer >= 1")
    if ensemble > 1 and sequence_length > 1:
        raise ValueError(f"ensemble={ensemble} with sequence_length={sequence_length}: an "
                         "ensemble reads single observations; use ensemble=1 for device "
                         "histories")
    for parameter, rate in (("dropout", dropout), ("learner_dropout", learner_dropout)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{parameter}={rate!r}: expected 0 <= {parameter} < 1")
    return groups
