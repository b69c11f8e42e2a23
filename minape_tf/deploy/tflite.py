"""TFLite (LiteRT) export: float32, float16 and quantized models with built-in ops.

TensorFlow 2.21 still converts with ``tf.lite.TFLiteConverter`` (Keras 3's own
``model.export(format="litert")`` uses it too); the interpreter has moved to the
``ai-edge-litert`` package (``tf.lite.Interpreter`` is deprecated), which
:func:`interpreter` prefers.

The model file takes *features*: images resized and scaled to [0, 1], series as log-Mel
spectrograms. The feature stage of each series group (level normalisation and log-Mel,
``group.feature_layers()``) is a second small file, ``<name>_<group>_features.tflite``, that
takes the series at the group's rate and length. On request the model with the features
inside (``features_in_model=True``: raw series at the group's rate and length in) is written
too. All of them use built-in operators only (the log-Mel's FFT is TFLite's ``RFFT2D``);
``select_ops=True`` lets the converter fall back to TF Select ops, for models that would
need them (the runtime then needs the Flex delegate).

Quantized variants (the inputs and outputs stay float32, so the same preprocessing feeds
every variant):

* ``dynamic``: int8 weights, float32 activations (TFLite's dynamic-range quantization): the
  smallest file, the float model's predictions, no calibration data. Weight tensors under
  1,024 values stay float32.
* ``int8``: full-integer post-training quantization of weights and activations, calibrated
  on a representative set of the run's training observations: for integer-only
  accelerators. Minape puts batch norm *after* the GELU, so a channel that GELU leaves
  nearly constant gets a large batch-norm gain, which multiplies its int8 rounding; a small
  model's predictions can then change (docs/deployment.md gives the measured share).
* ``int8_mixed``: the convolutions in int8 (weights and activations, calibrated as
  ``int8``), GELU, batch norm, the residual additions, pooling and the classifier in float32
  (TFLite's selective quantization, ``QuantizationDebugger`` with denied operators).
* ``int16x8``: int8 weights, int16 activations (TFLite's 16x8 mode); its CPU kernels are
  reference code, far slower than the others.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import numpy as np

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int8_mixed", "int16x8")
CALIBRATED = ("int8", "int8_mixed", "int16x8")
# What int8_mixed keeps in float32: every built-in operator of a Minape model but the two
# convolutions.
FLOAT_IN_MIXED = ("GELU", "MUL", "ADD", "SUB", "MEAN", "MINIMUM", "MAXIMUM", "RELU",
                  "FULLY_CONNECTED", "SOFTMAX", "CONCATENATION", "BATCH_MATMUL")


def interpreter(path=None, content=None, delegates=True, num_threads=None):
    """A LiteRT interpreter (``ai_edge_litert``, else ``tf.lite.Interpreter``) with its
    tensors allocated; ``delegates=False`` leaves out the default (XNNPACK) delegate;
    ``num_threads`` (default: the runtime's choice) the threads it may use."""
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:  # the deprecated TF copy still works in TF 2.21
        import tensorflow as tf

        litert = tf.lite
    kwargs = {"model_path": os.fspath(path)} if path is not None else {"model_content": content}
    if num_threads is not None:
        kwargs["num_threads"] = int(num_threads)
    if not delegates:
        resolver = getattr(litert, "OpResolverType", None) or litert.experimental.OpResolverType
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings(), quiet_stderr():
        warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's deprecation
        it = litert.Interpreter(**kwargs)   # LiteRT's INFO line on its delegate is held
        it.allocate_tensors()
    return it


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 pointed at ``/dev/null`` for the block: the runtime's C++ INFO
    lines go nowhere (Python's own errors are raised, not printed, meanwhile)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):          # no real stderr (some notebooks)
        yield
        return
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def op_names(content) -> list:
    """The operators a ``.tflite`` model uses, sorted (``FlexXxx`` are TF Select ops)."""
    it = interpreter(content=content, delegates=False)
    return sorted({op["op_name"] for op in it._get_ops_details()})


def inference_function(model, specs, output="probabilities"):
    """A ``tf.function`` from ``{group name: tensor}`` (``specs``) to ``{output: the model's
    inference output}``: what the converters trace."""
    import tensorflow as tf

    def run(inputs):
        return {output: model(inputs, training=False)}

    return tf.function(run, input_signature=[specs], autograph=False)


def convert_function(model, function, quantization="float32", representative=None,
                     select_ops=False) -> bytes:
    """Convert ``function`` (which calls ``model``) through a temporary SavedModel, as Keras'
    own LiteRT export does: the variables are frozen there, which post-training
    quantization's calibration needs."""
    import tempfile

    import keras
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization={quantization!r}; expected one of {QUANTIZATIONS}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", function)
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, ["serving_default"])
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantization in CALIBRATED:
            if representative is None:
                raise ValueError(f"quantization={quantization!r} needs a representative set of "
                                 "training observations (export a run folder, whose data it "
                                 "reads)")
            converter.representative_dataset = representative
            if quantization == "int8":
                ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            elif quantization == "int16x8":
                ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if select_ops:
            ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter.target_spec.supported_ops = ops
        with warnings.catch_warnings():  # calibration runs tf.lite's deprecated interpreter
            warnings.simplefilter("ignore", UserWarning)
            if quantization == "int8_mixed":
                return _mixed(converter, representative)
            return converter.convert()


def _mixed(converter, representative) -> bytes:
    """``int8_mixed``: the converter's int8 model with :data:`FLOAT_IN_MIXED` left float32
    (the converter calibrates on its representative set; the debugger's own data set is
    for its statistics, not used here)."""
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(FLOAT_IN_MIXED))
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative, debug_options=options)
    return debugger.get_nondebug_quantized_model()


def model_specs(model, features_in_model=False) -> dict:
    """``{group name: tf.TensorSpec}`` of the model's inputs, batch axis free."""
    import tensorflow as tf

    return {g.name: tf.TensorSpec([None, *g.input_shape(features_in_model)], tf.float32,
                                  name=g.name) for g in model.groups}


def model_inference(model) -> tuple:
    """``(owner, function)``: what the converters trace for a feature-input model
    (``features_in_model=False``): its inference from the groups' features to
    ``probabilities``, or for a model of device histories its encoder's, to ``vectors``
    (the head is :func:`head_inference`); ``owner`` is the Keras model holding the weights."""
    from minape_tf.deploy.histories import split_model

    specs = model_specs(model)
    if model.arguments.get("sequence_length", 1) > 1:
        encoder, _ = split_model(model)
        return encoder, inference_function(encoder, specs, "vectors")
    return model, inference_function(model, specs)


def head_inference(model) -> tuple:
    """``(head, function)``: the temporal head of a model of device histories and its
    inference from ``steps`` ``(batch, L, vector)`` to ``probabilities``."""
    from minape_tf.deploy.histories import split_model

    _, head = split_model(model)
    return head, inference_function(head, head_spec(head))


def convert_model(model, quantization="float32", representative=None,
                  select_ops=False) -> bytes:
    """The feature-input model as ``.tflite`` bytes (:func:`model_inference`: for a model of
    device histories its encoder; the head is :func:`convert_head`).

    ``representative``: for int8 and int16x8, a callable returning an iterable of
    ``{group name: float32 (1, *feature_shape)}`` dicts.
    """
    return convert_function(*model_inference(model), quantization, representative, select_ops)


def head_spec(head) -> dict:
    """``{"steps": tf.TensorSpec (batch, L, vector)}``: the input of a history model's
    head."""
    import tensorflow as tf

    return {"steps": tf.TensorSpec([None, *head.inputs[0].shape[1:]], tf.float32, name="steps")}


def convert_head(model) -> bytes:
    """The temporal head of a model of device histories as float32 ``.tflite`` bytes:
    ``steps`` ``(batch, L, vector)`` -> ``probabilities``."""
    return convert_function(*head_inference(model))


def feature_stage(group):
    """A series group's feature layers (``group.feature_layers()``) as a Keras model from
    ``series`` ``(batch, length, channels)`` to ``(batch, *feature_shape)``."""
    import keras

    inputs = keras.Input((group.length, group.channels), name="series")
    x = inputs
    for layer in group.feature_layers():
        x = layer(x)
    return keras.Model(inputs, x, name=f"{group.name}_features")


def convert_features(group, select_ops=False) -> bytes:
    """The feature stage of a series group (level normalisation + log-Mel) as float32
    ``.tflite`` bytes: ``(batch, length, channels)`` -> ``(batch, frames, n_mels,
    channels)``, input ``series``, output ``features``."""
    import tensorflow as tf

    stage = feature_stage(group)
    spec = tf.TensorSpec([None, group.length, group.channels], tf.float32, name="series")
    function = tf.function(lambda s: {"features": stage(s)}, input_signature=[spec],
                           autograph=False)
    return convert_function(stage, function, select_ops=select_ops)


def convert_with_features(model, select_ops=False) -> bytes:
    """The model with the series features inside (raw series at the group's rate and length
    in) as float32 ``.tflite`` bytes."""
    raw = model.with_arguments(features_in_model=True)
    function = inference_function(raw, model_specs(raw, features_in_model=True), "probabilities")
    return convert_function(raw, function, select_ops=select_ops)


def run_model(it, inputs: dict) -> np.ndarray:
    """Probabilities of one batch through a model interpreter's ``serving_default``."""
    runner = it.get_signature_runner()
    out = runner(**{k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()})
    return next(iter(out.values()))
