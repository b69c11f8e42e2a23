"""SL-ViT: ViT with Shifted Patch Tokenization and Locality Self-Attention (Lee, Lee and
Song 2021, "Vision Transformer for Small-Size Datasets"), as keras-io's
``vit_small_ds.py`` builds it with its flags ``spt`` and ``lsa`` on (paper Table 3)."""

from __future__ import annotations

import math

import keras
from keras import ops

from minape_tf.models.baselines.common import check_dtype, classify
from minape_tf.models.baselines.vit import PatchEncoder, check_vit_arguments, patches, vit_pathways


@keras.saving.register_keras_serializable(package="minape_tf")
class ShiftedPatchTokenization(PatchEncoder):
    """SPT: the input and four copies shifted diagonally by half a patch (left-up,
    left-down, right-up, right-down; zero-filled), stacked along channels, cut into
    patches, each flattened patch layer-normalised and projected, plus a learned position
    embedding (keras-io adds it in its ``PatchEncoder``).

    Parameters
    ----------
    patch_size : int
    projection_dim : int
    """

    SHIFTS = ((-1, -1), (1, -1), (-1, 1), (1, 1))   # (rows, columns) in half patches

    def __init__(self, patch_size, projection_dim, **kwargs):
        super().__init__(patch_size, projection_dim, **kwargs)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")

    def build(self, input_shape):
        stacked = (*input_shape[:-1], input_shape[-1] * (1 + len(self.SHIFTS)))
        super().build(stacked)
        self.norm.build((None, self.num_patches, self.patch_size ** 2 * stacked[-1]))

    def shift(self, x, rows, cols):
        """``x`` moved by ``rows`` / ``cols`` half patches (down / right when positive),
        zero-filled, same shape."""
        half = self.patch_size // 2
        _, height, width, _ = x.shape
        dy, dx = rows * half, cols * half
        x = x[:, max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0), :]
        return ops.pad(x, ((0, 0), (max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)),
                           (0, 0)))

    def call(self, x):
        x = ops.concatenate([x] + [self.shift(x, r, c) for r, c in self.SHIFTS], axis=-1)
        return self.projection(self.norm(patches(x, self.patch_size))) + self.position


@keras.saving.register_keras_serializable(package="minape_tf")
class LocalitySelfAttention(keras.layers.Layer):
    """LSA: multi-head self-attention whose softmax temperature is learned (initially
    ``sqrt(key_dim)``, the usual scaling) and whose tokens do not attend to themselves
    (the diagonal of the score matrix is masked), so that attention is sharper and goes
    to the other tokens.

    The same projections as ``keras.layers.MultiHeadAttention`` (queries, keys and values
    of ``num_heads`` x ``key_dim``, output back to the input width, biases), hence the same
    parameter count plus the temperature.

    Parameters
    ----------
    num_heads : int
    key_dim : int
    dropout : float, default 0.0
        Dropout on the attention weights.
    """

    def __init__(self, num_heads, key_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.dropout = float(dropout)
        inner = self.num_heads * self.key_dim
        self.query = keras.layers.Dense(inner, name="query")
        self.key = keras.layers.Dense(inner, name="key")
        self.value = keras.layers.Dense(inner, name="value")
        self.attention_dropout = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)
        self.out = keras.layers.Dense(input_shape[-1], name="output")
        self.out.build((*input_shape[:-1], self.num_heads * self.key_dim))
        self.temperature = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(math.sqrt(self.key_dim)),
            name="temperature")

    def _heads(self, x):
        x = ops.reshape(x, (-1, x.shape[1], self.num_heads, self.key_dim))
        return ops.transpose(x, (0, 2, 1, 3))           # (batch, heads, tokens, key_dim)

    def call(self, x, training=None):
        tokens = x.shape[1]
        q, k, v = (self._heads(layer(x)) for layer in (self.query, self.key, self.value))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / self.temperature
        diagonal = ops.eye(tokens, dtype="bool")
        scores = ops.where(diagonal, ops.cast(-1e4 if scores.dtype == "float16" else -1e9,
                                              scores.dtype), scores)
        weights = self.attention_dropout(ops.softmax(scores, axis=-1), training=training)
        h = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))
        return self.out(ops.reshape(h, (-1, tokens, self.num_heads * self.key_dim)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "dropout": self.dropout}


def build_sl_vit(groups, num_classes, *, patch_size=16, projection_dim=64, num_heads=4,
                 transformer_layers=8, transformer_units=(128, 64),
                 mlp_head_units=(2048, 1024), dropout=0.1, head_dropout=0.5,
                 features_in_model=False, dtype=None, class_names=None, name="sl_vit"):
    """SL-ViT: :func:`~minape_tf.models.baselines.vit.build_vit` with Shifted Patch Tokenization
    (:class:`ShiftedPatchTokenization`) and Locality Self-Attention
    (:class:`LocalitySelfAttention`); the paper: "The SL-ViT parameters are set as ViT
    with flags spt = true, lsa = true".

    Every argument, the pathways, the concatenation and the head are those of
    ``build_vit`` (see there for the choices where the paper is silent). The shifts move
    by ``patch_size // 2`` pixels. A token cannot attend to itself; with a single patch
    (an input of one patch) it would have nothing to attend to, so at least two patches
    are required.

    Parameters
    ----------
    See :func:`~minape_tf.models.baselines.vit.build_vit`; ``name`` defaults to "sl_vit".

    Returns
    -------
    keras.Model
    """
    check_dtype(dtype, "sl-vit")
    groups = check_vit_arguments(groups, num_classes, patch_size, projection_dim, num_heads,
                                 transformer_layers, transformer_units, mlp_head_units,
                                 dropout, head_dropout)

    def attention(x, layer_name):
        return LocalitySelfAttention(num_heads, projection_dim, dropout=dropout,
                                     name=layer_name)(x)

    inputs, vectors = vit_pathways(
        groups, ShiftedPatchTokenization, attention, patch_size=patch_size,
        projection_dim=projection_dim, transformer_layers=transformer_layers,
        transformer_units=transformer_units, mlp_head_units=mlp_head_units, dropout=dropout,
        head_dropout=head_dropout, features_in_model=features_in_model, min_tokens=2)
    return classify(vectors, num_classes, inputs, name)
