"""Fusion of the pathways' vectors (paper Eq. 1 and Table 4)."""

import keras
from keras import ops

FUSIONS = ("concat", "add", "multiply", "average", "attention")


@keras.saving.register_keras_serializable(package="minape_tf")
class Fusion(keras.layers.Layer):
    """Merge the vectors ``u_1 .. u_g`` of the g pathways into one vector ``u``.

    * ``"concat"`` (default, Eq. 1): ``u = [u_1, ..., u_g]``.
    * ``"add"``, ``"multiply"``, ``"average"``: element-wise. When the pathways have different
      widths, each vector is first projected linearly (a bias-free ``Dense``) to the widest one;
      with equal widths nothing is added.
    * ``"attention"``: the paper does not say which attention it used (Table 4, "Attention +
      Concat"). Here: each vector is projected to a common width ``d`` (the widest pathway) and
      becomes one token; multi-head self-attention across the g modality tokens
      (``keras.layers.MultiHeadAttention``, ``attention_heads`` heads, key size
      ``d / heads``), a residual connection and layer normalisation let each modality weigh
      the others; the g attended tokens are then concatenated. It is attention followed by
      concatenation, as in the paper's table.

    Parameters
    ----------
    mode : {"concat", "add", "multiply", "average", "attention"}, default "concat"
    attention_heads : int, default 4
        Heads of the attention fusion (unused by the other modes).
    """

    def __init__(self, mode="concat", attention_heads=4, **kwargs):
        super().__init__(**kwargs)
        if mode not in FUSIONS:
            raise ValueError(f"fusion={mode!r} is not known; expected one of {FUSIONS}")
        self.mode = mode
        self.attention_heads = int(attention_heads)
        self.projections = []
        self.attention = None
        self.attention_norm = None

    def build(self, input_shapes):
        widths = [int(shape[-1]) for shape in input_shapes]
        self.common = max(widths)
        needs_projection = self.mode == "attention" or (
            self.mode != "concat" and len(set(widths)) > 1)
        if needs_projection:
            self.projections = [keras.layers.Dense(self.common, use_bias=False,
                                                   dtype=self.dtype_policy, name=f"project_{i}")
                                for i in range(len(widths))]
            for layer, shape in zip(self.projections, input_shapes):
                layer.build(shape)
        if self.mode == "attention":
            heads = self.attention_heads
            self.attention = keras.layers.MultiHeadAttention(
                heads, key_dim=max(1, self.common // heads), dtype=self.dtype_policy,
                name="attention")
            token_shape = (input_shapes[0][0], len(widths), self.common)
            self.attention.build(token_shape, token_shape)
            self.attention_norm = keras.layers.LayerNormalization(dtype=self.dtype_policy,
                                                                 name="attention_norm")
            self.attention_norm.build(token_shape)

    def call(self, inputs):
        inputs = list(inputs)
        if self.mode == "concat":
            return ops.concatenate(inputs, axis=-1)
        if self.projections:
            inputs = [layer(x) for layer, x in zip(self.projections, inputs)]
        if self.mode == "add":
            return sum(inputs[1:], inputs[0])
        if self.mode == "average":
            return sum(inputs[1:], inputs[0]) / len(inputs)
        if self.mode == "multiply":
            out = inputs[0]
            for x in inputs[1:]:
                out = out * x
            return out
        tokens = ops.stack(inputs, axis=1)
        tokens = self.attention_norm(tokens + self.attention(tokens, tokens))
        return ops.reshape(tokens, (-1, len(inputs) * self.common))

    def compute_output_shape(self, input_shapes):
        batch = input_shapes[0][0]
        if self.mode == "concat":
            return (batch, sum(int(s[-1]) for s in input_shapes))
        widths = max(int(s[-1]) for s in input_shapes)
        if self.mode == "attention":
            return (batch, widths * len(input_shapes))
        return (batch, widths)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode,
                "attention_heads": self.attention_heads}
