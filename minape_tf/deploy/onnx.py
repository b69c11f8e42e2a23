"""ONNX export, for ONNX Runtime: the model (features in, like the TFLite model) and each
series group's feature stage (level normalisation + log-Mel), ``float32``.

Conversion is by ``tf2onnx`` (as Keras 3's ``model.export(format="onnx")`` does), of the
same ``tf.function`` the TFLite converter traces, at opset 17. Two things are added here:
tf2onnx has no converter for TensorFlow's ``Erfc``, which the exact GELU
(``0.5 x erfc(-x / sqrt 2)``) uses, so one is registered that writes it as ``1 - Erf``; and
the log-Mel's short-time FFT, which tf2onnx converts only in a narrow case, is written as
two matrix products with the DFT's bases (:func:`_logmel_by_dft`). Inputs are named after
the groups (the feature stage's: ``series``); the output is ``probabilities`` (the feature
stage's: ``features``).
"""

from __future__ import annotations

import functools
import os

OPSET = 17


@functools.lru_cache(maxsize=None)
def _register_erfc():
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:  # noqa: F841  (registered by the decorator)
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            node.type = "Erf"
            one = ctx.make_const(utils.make_name("one"), np.array(1, np.float32)).output[0]
            negated = ctx.insert_new_node_on_output("Neg", node.output[0],
                                                    name=utils.make_name(node.name))
            ctx.insert_new_node_on_output("Add", negated.output[0],
                                          inputs=[negated.output[0], one],
                                          name=utils.make_name(node.name))


def _onnx_bytes(function) -> bytes:
    """A ``tf.function`` with an input signature as ONNX bytes; its variables are frozen
    into constants."""
    import tf2onnx

    _register_erfc()
    proto, _ = tf2onnx.convert.from_function(function,
                                             input_signature=list(function.input_signature),
                                             opset=OPSET)
    return proto.SerializeToString()


def convert_model(model) -> bytes:
    """The feature-input model (``features_in_model=False``) as ONNX bytes: one input per
    group, ``(batch, *feature_shape)`` float32; output ``probabilities``. For a model of
    device histories, its encoder (output ``vectors``; the head is :func:`convert_head`)."""
    from minape_tf.deploy.tflite import model_inference

    _, function = model_inference(model)
    return _onnx_bytes(function)


def convert_head(model) -> bytes:
    """The temporal head of a model of device histories as ONNX bytes: ``steps`` ``(batch,
    L, vector)`` -> ``probabilities``."""
    from minape_tf.deploy.tflite import head_inference

    _, function = head_inference(model)
    return _onnx_bytes(function)


def _logmel_by_dft(layer, x):
    """:class:`~minape_tf.layers.logmel.LogMel` on ``x`` with the real DFT as two matrix
    products (windowed frames times the cosine and sine bases): the same values to float32
    round-off, in a form ONNX runs (tf2onnx converts TensorFlow's ``RFFT`` only when its
    sole consumer is ``ComplexAbs`` of a known shape)."""
    import numpy as np
    import tensorflow as tf

    n = np.arange(layer.n_fft)
    angle = 2 * np.pi * np.outer(n, np.arange(layer.n_fft // 2 + 1)) / layer.n_fft
    window = layer.window.astype(np.float64)[:, None]
    cosine = tf.constant((window * np.cos(angle)).astype(np.float32))
    sine = tf.constant((window * np.sin(angle)).astype(np.float32))
    frames = tf.signal.frame(tf.transpose(x, (0, 2, 1)), layer.n_fft, layer.hop)
    power = tf.square(tf.matmul(frames, cosine)) + tf.square(tf.matmul(frames, sine))
    mel = tf.matmul(power, tf.constant(layer.mel_bank))
    return tf.transpose(tf.math.log(mel + layer.eps) / np.log(10.0), (0, 2, 3, 1))


def convert_features(group) -> bytes:
    """A series group's feature stage as ONNX bytes: ``series`` ``(batch, length, channels)``
    -> ``(batch, *feature_shape)``; the log-Mel through :func:`_logmel_by_dft`."""
    import tensorflow as tf

    from minape_tf.layers.logmel import LogMel

    layers = group.feature_layers()

    def run(series):
        x = series
        for layer in layers:
            x = _logmel_by_dft(layer, x) if isinstance(layer, LogMel) else layer(x)
        return {"features": x}

    spec = tf.TensorSpec([None, group.length, group.channels], tf.float32, name="series")
    return _onnx_bytes(tf.function(run, input_signature=[spec], autograph=False))


def session(path):
    """An ``onnxruntime.InferenceSession`` of ``path`` on the CPU; ``ValueError`` when
    onnxruntime cannot load the file."""
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(os.fspath(path),
                                            providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors derive from Exception
        raise ValueError(f"onnxruntime cannot load it: {exc}") from exc


def run_model(sess, inputs: dict):
    """The first output of ``sess`` on ``inputs`` (``{input name: array}``, float32)."""
    import numpy as np

    feed = {i.name: np.ascontiguousarray(inputs[i.name], np.float32)
            for i in sess.get_inputs()}
    return sess.run(None, feed)[0]

