"""ViT: the Vision Transformer of the paper's Tables 2-3, as the keras-io example
``vit_small_ds.py`` (Lee et al.'s "ViT for small data sets" example) builds it."""

from __future__ import annotations

import keras
from keras import ops

from minape_tf.models.baselines.common import (check_dtype, check_groups, check_patch, check_positive,
                                        check_rate, classify, group_input)


def patches(x, patch_size):
    """``(batch, H, W, C)`` -> ``(batch, (H // p) * (W // p), p * p * C)``: non-overlapping
    patches in row-major order, each flattened row by row; a remainder of fewer than
    ``patch_size`` rows or columns is dropped (as ``padding="valid"`` does)."""
    _, height, width, channels = x.shape
    rows, cols = height // patch_size, width // patch_size
    x = x[:, :rows * patch_size, :cols * patch_size, :]
    x = ops.reshape(x, (-1, rows, patch_size, cols, patch_size, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, rows * cols, patch_size * patch_size * channels))


@keras.saving.register_keras_serializable(package="minape_tf")
class PatchEncoder(keras.layers.Layer):
    """Patches, a linear projection of each, plus a learned position embedding.

    Parameters
    ----------
    patch_size : int
        Patch side (pixels, or frames x mel bands).
    projection_dim : int
        Token width.
    """

    def __init__(self, patch_size, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        self.projection_dim = int(projection_dim)
        self.projection = keras.layers.Dense(self.projection_dim, name="projection")

    def build(self, input_shape):
        _, height, width, channels = input_shape
        self.num_patches = (height // self.patch_size) * (width // self.patch_size)
        self.projection.build((None, self.num_patches, self.patch_size ** 2 * channels))
        self.position = self.add_weight(shape=(self.num_patches, self.projection_dim),
                                        initializer="uniform", name="position_embedding")

    def call(self, x):
        return self.projection(patches(x, self.patch_size)) + self.position

    def compute_output_shape(self, input_shape):
        _, height, width, _ = input_shape
        n = (height // self.patch_size) * (width // self.patch_size)
        return (input_shape[0], n, self.projection_dim)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size,
                "projection_dim": self.projection_dim}


def mlp(x, units, dropout, prefix):
    """keras-io's ``mlp``: ``Dense(u, gelu)`` then ``Dropout`` for each ``u``."""
    for i, u in enumerate(units):
        x = keras.layers.Dense(u, activation="gelu", name=f"{prefix}_dense_{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{i}")(x)
    return x


def transformer(tokens, prefix, *, layers, attention, transformer_units, dropout):
    """``layers`` pre-norm transformer blocks: LN, self-attention, residual; LN, MLP,
    residual. ``attention(x, name)`` makes the self-attention of one block."""
    x = tokens
    for i in range(layers):
        name = f"{prefix}_block_{i}"
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_1")(x)
        h = attention(h, f"{name}_attention")
        x = keras.layers.Add(name=f"{name}_add_1")([h, x])
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_2")(x)
        h = mlp(h, transformer_units, dropout, f"{name}_mlp")
        x = keras.layers.Add(name=f"{name}_add_2")([h, x])
    return x


def head(x, prefix, units, dropout):
    """keras-io's representation: LN, flatten the tokens, dropout, the MLP head."""
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_norm")(x)
    x = keras.layers.Flatten(name=f"{prefix}_flatten")(x)
    x = keras.layers.Dropout(dropout, name=f"{prefix}_head_dropout")(x)
    return mlp(x, units, dropout, f"{prefix}_head")


def check_vit_arguments(groups, num_classes, patch_size, projection_dim, num_heads,
                        transformer_layers, transformer_units, mlp_head_units, dropout,
                        head_dropout):
    groups = check_groups(groups, num_classes)
    check_positive(patch_size=patch_size, projection_dim=projection_dim, num_heads=num_heads,
                   transformer_layers=transformer_layers, transformer_units=transformer_units,
                   mlp_head_units=mlp_head_units)
    check_rate(dropout=dropout, head_dropout=head_dropout)
    if tuple(transformer_units)[-1] != projection_dim:
        raise ValueError(f"transformer_units={tuple(transformer_units)}: the last entry must "
                         f"equal projection_dim={projection_dim} (the residual's width)")
    for group in groups:
        check_patch(group, patch_size)
    return groups


def build_vit(groups, num_classes, *, patch_size=16, projection_dim=64, num_heads=4,
              transformer_layers=8, transformer_units=(128, 64), mlp_head_units=(2048, 1024),
              dropout=0.1, head_dropout=0.5, features_in_model=False, dtype=None,
              class_names=None, name="vit"):
    """ViT (Dosovitskiy et al. 2021) as the paper ran it: keras-io's ``vit_small_ds.py``.

    One pathway per group (the paper's (m) rows: "Concat"): patches of the group's input
    (an image, or the log-Mel spectrograms of a series group), a linear projection plus a
    learned position embedding, ``transformer_layers`` pre-norm transformer blocks
    (multi-head self-attention, GELU MLP), then keras-io's head: layer norm, flatten,
    dropout, ``mlp_head_units`` GELU layers. The pathways' vectors are concatenated and
    classified by a dense softmax.

    Choices where the paper is silent: it links keras-io's example and gives only the
    parameter counts of Table 3 (36.3M per image pathway, 72.8M for two). keras-io's
    widths (64-wide tokens, 4 heads, 8 blocks, MLP units (128, 64), head (2048, 1024))
    on 256 patches give 36.4M per pathway, which is a 256x256 input cut into 16x16
    patches: hence ``patch_size=16`` (keras-io itself uses 6 on 72x72 images).
    keras-io's in-model resizing and augmentation are left out: the data pipeline
    resizes and augments for every model alike. A remainder of fewer than
    ``patch_size`` rows or columns is not read.

    Parameters
    ----------
    groups : list of ImageGroup / SeriesGroup
        One input and one pathway per group.
    num_classes : int
    patch_size : int, default 16
    projection_dim : int, default 64
        Token width; also the key width of each attention head (as in keras-io).
    num_heads : int, default 4
    transformer_layers : int, default 8
    transformer_units : tuple of int, default (128, 64)
        The transformer blocks' MLP; its last entry must equal ``projection_dim``.
    mlp_head_units : tuple of int, default (2048, 1024)
    dropout : float, default 0.1
        Attention and transformer-MLP dropout.
    head_dropout : float, default 0.5
    features_in_model : bool, default False
        As in ``build_minape``: series inputs are raw signals and the log-Mel layer is in
        the model.
    dtype : None or "float32", default None
        The training loop's dtype policy; baselines build in float32 only.
    class_names : list of str or None, default None
        Accepted from the training loop; not kept in the model (unlike ``build_minape``).
    name : str, default "vit"

    Returns
    -------
    keras.Model
    """
    check_dtype(dtype, "vit")
    groups = check_vit_arguments(groups, num_classes, patch_size, projection_dim, num_heads,
                                 transformer_layers, transformer_units, mlp_head_units,
                                 dropout, head_dropout)

    def attention(x, layer_name):
        return keras.layers.MultiHeadAttention(num_heads, projection_dim, dropout=dropout,
                                               name=layer_name)(x, x)

    inputs, vectors = vit_pathways(
        groups, PatchEncoder, attention, patch_size=patch_size, projection_dim=projection_dim,
        transformer_layers=transformer_layers, transformer_units=transformer_units,
        mlp_head_units=mlp_head_units, dropout=dropout, head_dropout=head_dropout,
        features_in_model=features_in_model)
    return classify(vectors, num_classes, inputs, name)


def vit_pathways(groups, tokenizer, attention, *, patch_size, projection_dim,
                 transformer_layers, transformer_units, mlp_head_units, dropout, head_dropout,
                 features_in_model, min_tokens=1):
    """``(inputs, vectors)``: each group's input and its pathway's vector: the tokens of
    ``tokenizer(patch_size, projection_dim)`` (a layer), the transformer with
    ``attention(x, name)`` as self-attention, and the head. ``min_tokens``: fewer patches
    than this in a group is a ``ValueError``."""
    inputs, vectors = {}, []
    for group in groups:
        inputs[group.name], x = group_input(group, features_in_model)
        tokens = tokenizer(patch_size, projection_dim, name=f"{group.name}_patches")(x)
        if tokens.shape[1] < min_tokens:
            raise ValueError(f"patch_size={patch_size} for group {group.name!r}: its input "
                             f"{tuple(x.shape[1:3])} gives {tokens.shape[1]} patch(es); "
                             f"this model needs at least {min_tokens}")
        x = transformer(tokens, group.name, layers=transformer_layers, attention=attention,
                        transformer_units=transformer_units, dropout=dropout)
        vectors.append(head(x, group.name, mlp_head_units, head_dropout))
    return inputs, vectors
