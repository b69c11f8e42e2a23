"""The raw-input serving function of a Minape model (TensorFlow only).

A request holds one tensor per *input* of the model's groups (``group.inputs``, or the
group's name when it has one unnamed input), named after it:

* image input, ``serving_default``: encoded image bytes, ``tf.string`` of shape
  ``(batch,)`` (JPEG, PNG, GIF or BMP; gray and colour files are converted to the group's
  channels as in training);
* image input, ``serving_arrays``: ``uint8`` pixels ``(batch, height, width, channels)``,
  any height and width, exactly the input's channels;
* series input (both signatures): ``float32`` ``(batch, samples, channels)`` at the rate
  the group was trained on (``group.input_rate``, export.json's ``preprocessing.<group>.rate``:
  nothing in an array says its rate, so another rate is not detected), any number of
  samples (at least one): the graph resamples and trims or pads it to the group's model
  rate and length.

``serving_rates`` takes the inputs of ``serving_default`` plus, per series input, an
``int32`` scalar ``<input>_rate``: the series' rate, one of :data:`RATES` or the group's
own; the graph resamples from it (the training resampler) and refuses any other rate with
a message naming the input and the rates it takes.

The inputs of a group are brought to its size (``group.preprocessing()``), stacked along
channels, turned into features (``group.feature_layers()``) and passed to the model: the
same layers as the training pipeline. Outputs: ``probabilities`` ``(batch, classes)``
float32, ``class`` ``(batch,)`` the most probable class name, and ``class_names``
``(batch, classes)`` (the names, repeated per row so that every output has a batch axis,
as TF Serving's row format wants).

A model of device histories (``sequence_length > 1``) is served in its two parts
(:mod:`minape_tf.deploy.histories`): ``serving_default`` / ``serving_arrays`` take single
observations and return their ``vectors``; ``head`` takes ``steps`` ``(batch, L, vector)``, a
device's last ``L`` vectors oldest first, and returns the three outputs above.

A request of the wrong dtype is refused when it is bound to the signature (TensorFlow's
message names the dtype); the wrong rank, the wrong channel count, an empty series or an
empty batch fail in the graph with a message that names the input.
"""

from __future__ import annotations

import tensorflow as tf

from minape_tf.data.decode import decode_image_bytes
from minape_tf.data.validate import slot_channels
from minape_tf.deploy.tflite import head_spec
from minape_tf.groups import ImageGroup

SIGNATURES = ("serving_default", "serving_arrays", "serving_rates")
# The rates ``serving_rates`` resamples from, besides each group's own (Hz).
RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


def input_names(group) -> list:
    """The request keys of a group: its ``inputs``, or its name for one unnamed input."""
    return list(group.inputs) if group.inputs else [group.name]


def request_specs(groups, encoded_images=True, rates=False) -> dict:
    """``{input name: tf.TensorSpec}`` of a request (see the module docstring); with
    ``rates``, an ``int32`` scalar ``<input>_rate`` per series input too. Only the dtype
    is fixed in the spec; the rank and channels are checked in the graph, so that a wrong
    request fails with a message naming the input."""
    specs = {}
    for group in groups:
        for name in input_names(group):
            image = isinstance(group, ImageGroup)
            dtype = tf.float32 if not image else tf.string if encoded_images else tf.uint8
            if name in specs or f"{name}_rate" in specs:
                raise ValueError(f"input name {name!r} is used by two groups; a request "
                                 "needs one name per input")
            specs[name] = tf.TensorSpec(None, dtype, name=name)
            if rates and not image:
                specs[f"{name}_rate"] = tf.TensorSpec([], tf.int32, name=f"{name}_rate")
    return specs


def rates_of(group) -> tuple:
    """The rates ``serving_rates`` takes for ``group``'s series: :data:`RATES` and its
    own."""
    return tuple(sorted(set(RATES) | {group.input_rate}))


def _from_rate(x, rate, group, name):
    """``x`` (batch, samples, channels) at ``rate`` (a scalar tensor) brought to the group's
    rate and length: one resampler per rate of :func:`rates_of`, chosen in the graph."""
    from minape_tf.layers.series_preprocessing import SeriesResampling

    rates = rates_of(group)
    known = tf.equal(tf.constant(rates, tf.int32), rate)
    check = tf.debugging.Assert(tf.reduce_any(known), [
        f"input {name}_rate: a rate serving_rates does not resample from; it takes "
        f"{', '.join(map(str, rates))} Hz, got", rate])
    with tf.control_dependencies([check]):
        index = tf.argmax(tf.cast(known, tf.int32), output_type=tf.int32)
    branches = [lambda r=r: SeriesResampling(r, group.sample_rate, group.length)(x)
                for r in rates]
    return tf.ensure_shape(tf.switch_case(index, branches),
                           [None, group.length, x.shape[-1]])


def expected_shape(group, encoded_images=True) -> list:
    """The shape of each of a group's request tensors, ``None`` where any size goes."""
    channels = slot_channels(group, len(input_names(group)))
    if isinstance(group, ImageGroup):
        return [None] if encoded_images else [None, None, None, channels]
    return [None, None, channels]


def _checked(x, name, shape, what):
    """``x`` after in-graph checks of its rank, channels and non-empty batch / series."""
    rank = len(shape)
    checks = [tf.debugging.assert_rank(x, rank, message=f"input {name}: expected {what}, "
                                                        f"of rank {rank}")]
    with tf.control_dependencies(checks):
        size = tf.shape(x)
    checks.append(tf.debugging.assert_positive(size[0], message=f"input {name}: the batch "
                                                                "is empty"))
    if rank > 1:
        checks.append(tf.debugging.assert_equal(
            size[-1], shape[-1], message=f"input {name}: expected {what}, with "
                                         f"{shape[-1]} channels"))
        checks.append(tf.debugging.assert_positive(
            size[1], message=f"input {name}: empty (0 samples or rows)"))
    with tf.control_dependencies(checks):
        return tf.ensure_shape(tf.identity(x), shape)


_WHAT = {"image": "encoded image bytes (batch,)",
         "image_array": "uint8 images (batch, height, width, channels)",
         "series": "float32 series (batch, samples, channels) at the native rate"}


def _image_input(x, group, channels, prepare):
    if x.dtype == tf.string:
        def one(data):
            return prepare(decode_image_bytes(data, channels))

        shape = (*group.size, channels)
        return tf.map_fn(one, x, fn_output_signature=tf.TensorSpec(shape, tf.float32))
    return prepare(x)


def _features(groups, encoded_images, rates=False):
    """A function from a raw request (see the module docstring) to ``{group name:
    features}``, with the group layers of the training pipeline; with ``rates``, each
    series input is resampled from its ``<input>_rate``."""
    stages = {g.name: (g.preprocessing(), g.feature_layers()) for g in groups}

    def features(request):
        out = {}
        for group in groups:
            prepare, feature_layers = stages[group.name]
            inputs = input_names(group)
            channels = slot_channels(group, len(inputs))
            shape = expected_shape(group, encoded_images)
            parts = []
            for name in inputs:
                if isinstance(group, ImageGroup):
                    what = _WHAT["image" if encoded_images else "image_array"]
                    x = _checked(request[name], name, shape, what)
                    parts.append(_image_input(x, group, channels, prepare))
                else:
                    x = _checked(request[name], name, shape, _WHAT["series"])
                    parts.append(_from_rate(x, request[f"{name}_rate"], group, name)
                                 if rates else prepare(x))
            x = parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)
            for layer in feature_layers:
                x = layer(x)
            out[group.name] = x
        return out

    return features


def _classified(probabilities, names):
    batch = tf.shape(probabilities)[0]
    return {"probabilities": probabilities,
            "class": tf.gather(names, tf.argmax(probabilities, axis=-1)),
            "class_names": tf.tile(names[None], [batch, 1])}


# signature -> (encoded image bytes, a rate per series input)
REQUESTS = {"serving_default": (True, False), "serving_arrays": (False, False),
            "serving_rates": (True, True)}


def serving_function(model, signature="serving_default"):
    """A ``tf.function`` from a raw request of ``signature`` (:data:`REQUESTS`) to
    ``probabilities``, ``class`` and ``class_names``; its input signature is
    :func:`request_specs`.

    ``model`` is a :class:`~minape_tf.models.minape.Minape` built with
    ``features_in_model=False`` (features are computed here, from the group layers).
    """
    groups = list(model.groups)
    features = _features(groups, *REQUESTS[signature])
    names = tf.constant(model.class_names)

    def serve(request):
        return _classified(model(features(request), training=False), names)

    return tf.function(serve, input_signature=[request_specs(groups, *REQUESTS[signature])],
                       autograph=False)


def encoder_function(encoder, groups, signature="serving_default"):
    """A ``tf.function`` from a raw request of single observations to ``vectors``
    ``(batch, vector)``: the encoder of a model of device histories
    (:func:`minape_tf.deploy.histories.split_model`)."""
    features = _features(list(groups), *REQUESTS[signature])

    def serve(request):
        return {"vectors": encoder(features(request), training=False)}

    return tf.function(serve, input_signature=[request_specs(list(groups),
                                                             *REQUESTS[signature])],
                       autograph=False)


def head_function(head, class_names):
    """A ``tf.function`` from ``steps`` ``(batch, L, vector)`` float32 (a device's last
    ``L`` vectors, oldest first) to ``probabilities``, ``class`` and ``class_names``."""

    names = tf.constant(list(class_names))
    spec = head_spec(head)["steps"]

    def serve(steps):
        return _classified(head({"steps": steps}, training=False), names)

    return tf.function(serve, input_signature=[spec], autograph=False)
