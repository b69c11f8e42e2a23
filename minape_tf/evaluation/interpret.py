"""Interpretability: what a trained Minape looks at, and how much each modality matters.

* Weights: :func:`patch_embedding_filters` (the linear patch embedding of a pathway, Eq. 3)
  and :func:`depthwise_kernels` (the spatial filters of a channel-point block, Eq. 5).
* Attributions for one input group, the others held at their values: :func:`gradients`
  (plain gradients, "saliency") and :func:`integrated_gradients` (Sundararajan et al., 2017),
  of the probability (or logit) of a target class (:func:`class_scores`), from a baseline
  (:func:`make_baseline`).
* :func:`modality_contribution`: accuracy with each group masked.
* Figures of all of these (``plot_*``), built with matplotlib's object API: each returns a
  ``matplotlib.figure.Figure`` and touches no global pyplot state, so it can be shown in
  Jupyter (``display(fig)``) or saved (``fig.savefig(path)``) from any backend.

The computations use ``keras.ops``; only taking a gradient needs the backend's own tool
(``tf.GradientTape`` or ``jax.grad``): TensorFlow and JAX are supported. The layers are found
by the names :func:`minape_tf.build_minape` gives them (``<group>_patch_embedding``,
``<group>_block_<i>``), so any model it built, or a ``.keras`` file of one, works.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from matplotlib.figure import Figure

from minape_tf.layers.channel_point import ChannelPointBlock
from minape_tf.layers.patch_embedding import PatchEmbedding

OUTPUTS = ("probability", "logit")
BASELINES = ("min", "zeros")
MASKS = ("mean", "zeros", "shuffle")
KINDS = ("image", "spectrogram")


# --------------------------------------------------------------------------- weights

def patch_embedding_filters(model, group) -> np.ndarray:
    """The patch-embedding filters of ``group``'s pathway.

    Returns
    -------
    ndarray, shape (patch, patch, input channels, width)
        ``Conv2D(width, patch, strides=patch)``'s kernel: filter ``j`` is
        ``filters[..., j]``, one patch-sized image per embedding channel.
    """
    layer = _pathway_layer(model, group, f"{group}_patch_embedding", PatchEmbedding)
    return keras.ops.convert_to_numpy(layer.conv.kernel)


def depthwise_kernels(model, group, block=-1) -> np.ndarray:
    """The depthwise (spatial) kernels of one channel-point block of ``group``'s pathway.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`minape_tf.build_minape`.
    group : str
        The group (model input) whose pathway is read.
    block : int, default -1
        Which block, counted from 0; negative counts from the end (-1: the last).

    Returns
    -------
    ndarray, shape (kernel, kernel, width)
        Channel ``j``'s ``kernel x kernel`` filter is ``kernels[..., j]``.
    """
    blocks = _blocks(model, group)
    if not -len(blocks) <= block < len(blocks):
        raise ValueError(f"block={block}: {group!r}'s pathway has {len(blocks)} channel-point "
                         f"blocks; expected -{len(blocks)} <= block < {len(blocks)}")
    kernel = keras.ops.convert_to_numpy(blocks[block].depthwise.kernel)
    return kernel[:, :, :, 0]                      # depth multiplier 1


def _pathway_layer(model, group, name, kind):
    _check_group(model, group)
    try:
        layer = model.get_layer(name)
    except ValueError:
        layer = None
    if not isinstance(layer, kind):
        raise ValueError(f"group {group!r}: the model has no {kind.__name__} named {name!r}; "
                         "was it built by minape_tf.build_minape?")
    return layer


def _blocks(model, group):
    _check_group(model, group)
    prefix = f"{group}_block_"
    found = {}
    for layer in model.layers:
        if isinstance(layer, ChannelPointBlock) and layer.name.startswith(prefix) \
                and layer.name[len(prefix):].isdigit():
            found[int(layer.name[len(prefix):])] = layer
    if not found:
        raise ValueError(f"group {group!r}: the pathway has no channel-point blocks "
                         "(depth=0, or a Minape-S backbone); there are no depthwise kernels")
    return [found[i] for i in sorted(found)]


def _check_group(model, group):
    names = [i.name for i in model.inputs]
    if group not in names:
        raise ValueError(f"group={group!r} is not an input of the model; its inputs are "
                         f"{names}")


# ---------------------------------------------------------------------- attributions

def gradients(model, inputs, group, *, target=None, output="probability") -> np.ndarray:
    """Plain gradients of the target class's score with respect to ``group``'s input.

    Parameters
    ----------
    model : keras.Model
        A Minape model (or any model ending in a softmax whose inputs are named).
    inputs : dict of array
        Model input name -> a batch of observations, as the model reads them (the pipeline's
        features: images in [0, 1], log-Mel spectrograms).
    group : str
        The input to attribute; the other inputs stay as given.
    target : None, int or array of int, default None
        The class per observation; ``None``: the class the model predicts.
    output : {"probability", "logit"}, default "probability"
        The score: the softmax probability of the target class, or its logit (the
        classifier's output before the softmax, which does not saturate).

    Returns
    -------
    ndarray, the shape of ``inputs[group]`` (float32)
    """
    inputs = _checked_inputs(model, inputs, group)
    forward = _forward(model, output)
    onehot = _target_onehot(model, inputs, target)
    return _gradient_function(forward, group)(inputs, onehot)


def integrated_gradients(model, inputs, group, *, target=None, baseline="min", steps=64,
                         output="probability", batch_size=32) -> np.ndarray:
    """Integrated gradients of the target class's score for ``group``'s input.

    ``(x - x') * integral_0^1 grad F(x' + a (x - x')) da`` per element (Sundararajan et al.,
    2017), with the other inputs held at their values. The integral is the trapezoidal rule
    on ``steps`` equal intervals, so *completeness* holds up to its error, which falls as
    ``1 / steps**2`` for a smooth model (Minape's fast GELU is smooth):
    ``attributions.sum() == F(x) - F(x')`` per observation, within 0.5 % of
    ``|F(x) - F(x')|`` at 64 steps (tested).

    Parameters
    ----------
    model, inputs, group, target, output
        As for :func:`gradients`.
    baseline : {"min", "zeros"}, float or array, default "min"
        The reference input ``x'``. ``"min"``: a constant field at each observation's
        minimum value: black for an image in [0, 1], the silence floor for a log-Mel
        spectrogram (whose 0 would be a loud power of 1, not an absence of signal).
        ``"zeros"``: all zeros. A number or an array broadcastable to ``inputs[group]``.
    steps : int, default 64
        Intervals of the path integral.
    output : {"probability", "logit"}, default "probability"
    batch_size : int, default 32
        Points of the path evaluated at once.

    Returns
    -------
    ndarray, the shape of ``inputs[group]`` (float32)
    """
    inputs = _checked_inputs(model, inputs, group)
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r}: expected a positive integer")
    forward = _forward(model, output)
    onehot = _target_onehot(model, inputs, target)
    x = inputs[group]
    base = make_baseline(x, baseline, group)
    # Trapezoidal weights of the points a = 0, 1/steps, ..., 1 of the path.
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] = 0.5 / steps
    gradients_of = _gradient_function(forward, group, compile=True)
    sample = np.repeat(np.arange(len(x)), steps + 1)
    point = np.tile(np.arange(steps + 1), len(x))
    integral = np.zeros(x.shape, np.float64)
    expand = (slice(None),) + (None,) * (x.ndim - 1)
    size = min(batch_size, len(sample))
    for start in range(0, len(sample), size):
        rows, k = sample[start:start + size], point[start:start + size]
        used = len(rows)                 # the last batch is padded: one compiled shape
        rows, k = np.resize(rows, size), np.resize(k, size)
        path = base[rows] + alphas[k][expand] * (x[rows] - base[rows])
        chunk = {name: value[rows] for name, value in inputs.items()}
        chunk[group] = path
        grads = gradients_of(chunk, onehot[rows])[:used]
        np.add.at(integral, rows[:used], grads * weights[k[:used]][expand])
    return (integral * (x - base)).astype(np.float32)


def class_scores(model, inputs, *, target=None, output="probability") -> np.ndarray:
    """The score that :func:`gradients` and :func:`integrated_gradients` attribute: the
    target class's probability (or logit) per observation, float64."""
    inputs = _checked_inputs(model, inputs, None)
    onehot = _target_onehot(model, inputs, target)
    out = _forward(model, output)(inputs, training=False)
    return np.sum(np.asarray(keras.ops.convert_to_numpy(out), np.float64) * onehot, axis=-1)


def _checked_inputs(model, inputs, group):
    names = [i.name for i in model.inputs]
    if group is not None:
        _check_group(model, group)
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs: expected a dict of arrays keyed by the model's inputs "
                         f"{names}, got {type(inputs).__name__}")
    missing = sorted(set(names) - set(inputs))
    if missing:
        raise ValueError(f"inputs: no value for the model input(s) {missing}; it reads {names}")
    arrays = {name: np.asarray(keras.ops.convert_to_numpy(inputs[name]), np.float32)
              for name in names}
    sizes = {name: len(a) for name, a in arrays.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise ValueError(f"inputs: every input needs the same, non-zero number of "
                         f"observations; got {sizes}")
    return arrays


def _forward(model, output):
    """The model, or for ``output="logit"`` the model up to its final softmax."""
    if output not in OUTPUTS:
        raise ValueError(f"output={output!r}; expected one of {OUTPUTS}")
    if output == "probability":
        return model
    last = model.layers[-1]
    if not (isinstance(last, keras.layers.Activation)
            and getattr(last.activation, "__name__", "") == "softmax"):
        raise ValueError(f"output='logit' needs a model ending in a softmax Activation layer; "
                         f"{model.name!r} ends in {type(last).__name__} {last.name!r}")
    return keras.Model(model.inputs, last.input, name=f"{model.name}_logits")


def _target_onehot(model, inputs, target):
    n = len(next(iter(inputs.values())))
    num_classes = int(model.outputs[0].shape[-1])
    if target is None:
        probabilities = keras.ops.convert_to_numpy(model(inputs, training=False))
        target = np.argmax(probabilities, axis=-1)
    target = np.broadcast_to(np.asarray(target), (n,)) if np.ndim(target) == 0 \
        else np.asarray(target)
    if target.shape != (n,) or not np.issubdtype(target.dtype, np.integer) \
            or target.min() < 0 or target.max() >= num_classes:
        raise ValueError(f"target={target!r}: expected None, or one class index (or one per "
                         f"observation, {n} in all) in range({num_classes})")
    return np.eye(num_classes, dtype=np.float32)[target]


def make_baseline(x, baseline="min", group="x"):
    """The reference input ``x'`` of :func:`integrated_gradients` for the observations
    ``x`` (see its ``baseline`` parameter); ``group`` names the input in errors."""
    x = np.asarray(x, np.float32)
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise ValueError(f"baseline={baseline!r}; expected one of {BASELINES}, a number "
                             "or an array")
        if baseline == "zeros":
            return np.zeros_like(x)
        low = x.reshape(len(x), -1).min(axis=1)
        return np.broadcast_to(low.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape).copy()
    try:
        return np.broadcast_to(np.asarray(baseline, np.float32), x.shape).copy()
    except ValueError:
        raise ValueError(f"baseline of shape {np.shape(baseline)} does not broadcast to "
                         f"{group!r}'s input of shape {x.shape}") from None


def _gradient_function(forward, group, compile=False):
    """``(inputs, onehot) -> d(sum of the target scores) / d inputs[group]``: per
    observation, the gradient of its own score (observations do not interact in inference
    mode). ``compile``: trace it once with ``tf.function``, worth it when it is called for
    the many batches of a path integral. Under JAX it is always ``jax.jit``-compiled: JAX
    compiles every operation it runs anyway, and one program compiles faster than many."""
    def total_score(x, others, onehot):
        out = forward({**others, group: x}, training=False)
        return ops.sum(ops.cast(out, "float32") * onehot)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def gradient(x, others, onehot):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = total_score(x, others, onehot)
            return tape.gradient(score, x)
        if compile:
            gradient = tf.function(gradient, reduce_retracing=True)
    elif backend == "jax":
        import jax

        gradient = jax.jit(jax.grad(total_score))
    else:
        raise NotImplementedError(f"gradients under the {backend!r} Keras backend; use "
                                  "KERAS_BACKEND=tensorflow or jax")

    def gradients_of(inputs, onehot):
        others = {name: ops.convert_to_tensor(value) for name, value in inputs.items()
                  if name != group}      # a model call takes all tensors or all arrays
        grads = gradient(ops.convert_to_tensor(inputs[group]), others,
                         ops.convert_to_tensor(onehot))
        return np.asarray(keras.ops.convert_to_numpy(grads), np.float32)

    return gradients_of


# ------------------------------------------------------------- modality contribution

def modality_contribution(model, inputs, labels, *, groups=None, mask="mean", seed=0,
                          batch_size=64) -> dict:
    """Accuracy with all inputs, and with each group masked in turn.

    Masking removes what a group tells about each observation while keeping an input the
    model can read: ``"mean"`` replaces every observation's value by the mean observation
    of ``inputs`` (a fixed, typical input), ``"zeros"`` by zeros, ``"shuffle"`` by another
    observation's value (a random permutation: permutation importance, the inputs stay real
    ones). The drop in accuracy is the group's contribution.

    Parameters
    ----------
    model : keras.Model
    inputs : dict of array
        Model input name -> observations (as for :func:`gradients`).
    labels : array of int, shape (n,)
        True class indices.
    groups : list of str or None, default None
        Groups to mask; default every model input.
    mask : {"mean", "zeros", "shuffle"}, default "mean"
    seed : int, default 0
        The permutation of ``"shuffle"``.
    batch_size : int, default 64

    Returns
    -------
    dict
        ``{"accuracy": all inputs, "masked": {group: accuracy}, "contribution": {group:
        accuracy - masked accuracy}, "n": observations, "mask": mask}``.
    """
    inputs = _checked_inputs(model, inputs, None)
    labels = np.asarray(labels)
    n = len(next(iter(inputs.values())))
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected {n} integer class indices (one per observation), "
                         f"got shape {labels.shape} of {labels.dtype}")
    if mask not in MASKS:
        raise ValueError(f"mask={mask!r}; expected one of {MASKS}")
    groups = list(inputs) if groups is None else list(groups)
    for group in groups:
        _check_group(model, group)

    def accuracy(values):
        probabilities = model.predict(values, batch_size=batch_size, verbose=0)
        return float(np.mean(np.argmax(probabilities, axis=-1) == labels))

    masked = {}
    for group in groups:
        x = inputs[group]
        if mask == "mean":
            replaced = np.broadcast_to(x.mean(axis=0), x.shape)
        elif mask == "zeros":
            replaced = np.zeros_like(x)
        else:
            replaced = x[np.random.default_rng(seed).permutation(n)]
        masked[group] = accuracy({**inputs, group: np.ascontiguousarray(replaced)})
    full = accuracy(inputs)
    return {"accuracy": full, "masked": masked,
            "contribution": {g: full - a for g, a in masked.items()}, "n": n, "mask": mask}


# ------------------------------------------------------------------------- figures

def plot_filters(filters, *, rgb=None, kind="image", columns=16, max_filters=64,
                 title="patch-embedding filters"):
    """A grid of patch-embedding filters (from :func:`patch_embedding_filters`).

    With ``rgb`` (default: when the filters have 3 input channels and ``kind`` is
    "image") each filter is shown in colour, scaled to [0, 1] on its own; otherwise as the
    mean over its input channels on a diverging scale shared by all filters (red positive,
    blue negative). ``kind="spectrogram"``: frames along x, mel bands upwards, as
    :func:`plot_attributions` draws spectrograms.
    """
    filters = np.asarray(filters)
    _check_kind(kind)
    if filters.ndim != 4:
        raise ValueError(f"filters of shape {filters.shape}: expected (patch, patch, "
                         "channels, width), as patch_embedding_filters returns")
    rgb = filters.shape[2] == 3 and kind == "image" if rgb is None else rgb
    shown = np.moveaxis(filters[..., :max_filters], -1, 0)
    if rgb:
        if shown.shape[-1] != 3:
            raise ValueError(f"rgb=True needs 3 input channels; the filters have "
                             f"{shown.shape[-1]}")
        low = shown.min(axis=(1, 2, 3), keepdims=True)
        high = shown.max(axis=(1, 2, 3), keepdims=True)
        images = [(f - l) / np.maximum(h - l, 1e-12) for f, l, h in zip(shown, low, high)]
        return _grid(images, columns, title, kind, cmap=None, symmetric=False)
    return _grid(list(shown.mean(axis=-1)), columns, title, kind, cmap="RdBu_r",
                 symmetric=True)


def plot_kernels(kernels, *, kind="image", columns=16, max_kernels=64,
                 title="depthwise kernels"):
    """A grid of depthwise kernels (from :func:`depthwise_kernels`) on a diverging scale
    shared by all of them (red positive, blue negative); ``kind`` as for
    :func:`plot_filters`."""
    kernels = np.asarray(kernels)
    _check_kind(kind)
    if kernels.ndim != 3:
        raise ValueError(f"kernels of shape {kernels.shape}: expected (kernel, kernel, width), "
                         "as depthwise_kernels returns")
    return _grid(list(np.moveaxis(kernels[..., :max_kernels], -1, 0)), columns, title, kind,
                 cmap="RdBu_r", symmetric=True)


def _grid(images, columns, title, kind, *, cmap, symmetric):
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    fig = Figure(figsize=(0.8 * columns + 0.6, 0.8 * rows + 0.6))
    axes = fig.subplots(rows, columns, squeeze=False)
    scale = (float(np.max(np.abs(images))) or 1.0) if symmetric else None
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image in zip(axes.flat, images):
        kwargs = {"vmin": -scale, "vmax": scale} if symmetric else {}
        ax.imshow(_oriented(image, kind), cmap=cmap, interpolation="nearest",
                  **_layout(kind, aspect="equal"), **kwargs)
    fig.suptitle(title)
    return fig


def plot_attributions(x, attributions, *, kind="image", titles=None):
    """Observations next to their attributions: one row per observation.

    Parameters
    ----------
    x : array, (n, height, width, channels)
        The group's inputs (the attributed ones).
    attributions : dict of str -> array of the shape of ``x``
        Method name (the column title) -> attributions, e.g. ``{"gradient": ...,
        "integrated gradients": ...}``. Each is shown summed over channels on a diverging
        scale centred at 0 (red: raises the score, blue: lowers it).
    kind : {"image", "spectrogram"}, default "image"
        ``"spectrogram"``: ``(frames, mel bands, channels)`` drawn with time along x and
        the mel bands upwards; the input as its mean over channels. An image is drawn in
        colour when it has 3 channels, else as its mean over channels.
    titles : list of str or None
        One per observation (e.g. "true sharp, predicted used").
    """

    x = np.asarray(x)
    _check_kind(kind)
    if x.ndim != 4:
        raise ValueError(f"x of shape {x.shape}: expected (n, height, width, channels)")
    for name, values in attributions.items():
        if np.shape(values) != x.shape:
            raise ValueError(f"attributions[{name!r}] has shape {np.shape(values)}; expected "
                             f"the shape of x, {x.shape}")
    columns = 1 + len(attributions)
    fig = Figure(figsize=(3.2 * columns, 2.8 * len(x)))
    axes = fig.subplots(len(x), columns, squeeze=False)
    for i, row in enumerate(axes):
        _show_input(row[0], x[i], kind)
        row[0].set_title(titles[i] if titles else "input", fontsize="small")
        for ax, (name, values) in zip(row[1:], attributions.items()):
            summed = np.asarray(values[i]).sum(axis=-1)
            scale = float(np.max(np.abs(summed))) or 1.0
            image = ax.imshow(_oriented(summed, kind), cmap="RdBu_r", vmin=-scale, vmax=scale,
                              **_layout(kind))
            ax.set_title(name, fontsize="small")
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    for ax in axes.flat:
        if kind == "image":
            ax.set_axis_off()
        else:
            ax.set(xlabel="frame", ylabel="mel band")
    fig.tight_layout()
    return fig


def _show_input(ax, x, kind):
    if kind == "image" and x.shape[-1] == 3:
        ax.imshow(np.clip(x, 0.0, 1.0))
    else:
        ax.imshow(_oriented(x.mean(axis=-1), kind), cmap="magma" if kind == "spectrogram"
                  else "gray", **_layout(kind))


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {KINDS}")


def _oriented(values, kind):
    """A spectrogram ``(frames, mel bands, ...)`` turned to put time along x."""
    return np.swapaxes(values, 0, 1) if kind == "spectrogram" else values


def _layout(kind, aspect="auto"):
    return {"origin": "lower", "aspect": aspect} if kind == "spectrogram" else {}


def plot_contribution(result, *, title="accuracy with each modality masked"):
    """Bars of :func:`modality_contribution`'s accuracies: all inputs, then each group
    masked, with the drop written above each bar."""

    names = ["all inputs"] + [f"{g} masked" for g in result["masked"]]
    values = [result["accuracy"]] + list(result["masked"].values())
    fig = Figure(figsize=(1.6 * len(names) + 1.5, 3.5))
    ax = fig.subplots()
    bars = ax.bar(names, values, color=["tab:green"] + ["tab:gray"] * len(result["masked"]))
    for bar, group in zip(bars[1:], result["masked"]):
        drop = result["contribution"][group]
        ax.annotate(f"{-100 * drop:+.1f} points", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize="small")
    ax.set(ylim=(0, 1.08), ylabel="accuracy",
           title=f"{title} ({result['mask']}, n={result['n']})")
    fig.tight_layout()
    return fig
