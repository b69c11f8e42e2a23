"""EfficientNetV2-M (Tan and Le 2021) from ``keras.applications``, untrained, on the image
groups (paper Table 2, "EfficientNetv2-m**": trained on the visual modality only)."""

from __future__ import annotations

import keras

from minape_tf.models.baselines.common import check_dtype, check_groups, check_rate, classify
from minape_tf.models.registry import groups_read
from minape_tf.models.minape import BACKBONES


def build_efficientnet(groups, num_classes, *, backbone="efficientnetv2-m", dropout=0.2,
                       features_in_model=False, dtype=None, class_names=None,
                       name="efficientnetv2"):
    """An EfficientNetV2 (``keras.applications``, ``weights=None``) per photo group.

    Each image group whose data are photos (not rendered spectrograms, which are the
    time-series modality) is scaled from [0, 1] to [-1, 1] (what the application's own
    preprocessing does to [0, 255] pixels), read by its own EfficientNetV2 without its top
    and globally average-pooled; with several photo groups their vectors are concatenated;
    dropout and a dense softmax classify.

    Choices where the paper is silent: it names EfficientNetV2-M and nothing else. The
    application's classifier dropout (0.2) is kept; no ImageNet weights (the paper's
    comparison trains every model from scratch). Inputs keep the group's size.

    Parameters
    ----------
    groups : list of ImageGroup / SeriesGroup
        Only image groups of photos are read (a ``ValueError`` if there is none).
    num_classes : int
    backbone : str, default "efficientnetv2-m"
        One of ``minape_tf.models.minape.BACKBONES`` ("efficientnetv2-b0" .. "efficientnetv2-l");
        the same names as ``build_minape(backbone=...)`` (Minape-S).
    dropout : float, default 0.2
    features_in_model : bool, default False
        Accepted like every model's; no series group is read, so it changes nothing.
    dtype : None or "float32", default None
        The training loop's dtype policy; baselines build in float32 only.
    class_names : list of str or None, default None
        Accepted from the training loop; not kept in the model (unlike ``build_minape``).
    name : str, default "efficientnetv2"

    Returns
    -------
    keras.Model
    """
    check_dtype(dtype, "efficientnetv2")
    groups = groups_read(check_groups(groups, num_classes), "image", "efficientnetv2")
    if backbone not in BACKBONES:
        raise ValueError(f"backbone={backbone!r} is not known; expected one of "
                         f"{tuple(BACKBONES)}")
    check_rate(dropout=dropout)
    inputs, vectors = {}, []
    for group in groups:
        inputs[group.name] = x = keras.Input(group.input_shape(), name=group.name)
        x = keras.layers.Rescaling(2.0, offset=-1.0, name=f"{group.name}_scale")(x)
        net = BACKBONES[backbone](include_top=False, weights=None,
                                  input_shape=group.input_shape(), pooling="avg",
                                  include_preprocessing=False)
        net.name = f"{group.name}_{backbone.replace('-', '_')}"   # unique per group
        vectors.append(net(x))
    return classify(vectors, num_classes, inputs, name, dropout=dropout)
