"""Interpretability: weights, gradients, integrated gradients, modality contribution, figures.

Integrated gradients' completeness is checked to a stated tolerance: the attributions of an
observation sum to ``F(x) - F(baseline)`` within 0.5 % of ``|F(x) - F(baseline)|`` (plus
1e-6 for float32 round-off) with 64 trapezoidal steps.
"""

import io

import keras
import numpy as np
import pytest

from minape_tf import ImageGroup, build_minape
from minape_tf.evaluation import interpret

# The computations run under every backend (CI runs them again with KERAS_BACKEND=jax); the
# figures are drawn from numpy arrays, so their test runs once.
backend = pytest.mark.backend
IMAGE = ImageGroup("tool", channels=3, size=(16, 16))
SPECTROGRAM = ImageGroup("force", channels=2, size=(12, 8), modality="series")
WIDTH, DEPTH = 8, 2


def tiny_model(seed=0, depth=DEPTH):
    keras.utils.set_random_seed(seed)
    return build_minape([IMAGE, SPECTROGRAM], 3, width=WIDTH, depth=depth, patch_size=4,
                        kernel_size=3)


def tiny_inputs(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return {"tool": rng.uniform(size=(n, 16, 16, 3)).astype("float32"),
            "force": rng.normal(-2.0, 1.5, size=(n, 12, 8, 2)).astype("float32")}


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@backend
@pytest.mark.parametrize("output", ["probability", "logit"])
@pytest.mark.parametrize("group, baseline", [("tool", "min"), ("force", -6.0)])
def test_integrated_gradients_are_complete(model, group, baseline, output):
    x = tiny_inputs()
    attributions = interpret.integrated_gradients(model, x, group, baseline=baseline,
                                                  output=output, steps=64, batch_size=50)
    assert attributions.shape == x[group].shape and attributions.dtype == np.float32
    reference = interpret.make_baseline(x[group], baseline)
    if baseline == "min":                       # a constant field at each one's minimum
        np.testing.assert_array_equal(reference[:, 0, 0, 0], x[group].reshape(3, -1).min(1))
        assert np.ptp(reference.reshape(3, -1), axis=1).max() == 0
    else:
        assert np.all(reference == baseline)
    target = np.argmax(keras.ops.convert_to_numpy(model(x)), axis=-1)   # the default
    change = (interpret.class_scores(model, x, target=target, output=output)
              - interpret.class_scores(model, {**x, group: reference}, target=target,
                                       output=output))
    total = attributions.reshape(3, -1).sum(axis=1)
    assert np.all(np.abs(change) > 1e-4)          # something to attribute
    np.testing.assert_allclose(total, change, rtol=5e-3, atol=1e-6)


@backend
def test_integrated_gradients_converge_with_steps(model):
    x = tiny_inputs()
    change = interpret.class_scores(model, x, target=0, output="logit") - \
        interpret.class_scores(model, {**x, "tool": np.zeros_like(x["tool"])}, target=0,
                               output="logit")
    errors = [np.abs(interpret.integrated_gradients(
        model, x, "tool", target=0, baseline="zeros", steps=steps, output="logit")
        .reshape(3, -1).sum(axis=1) - change).max() for steps in (2, 32)]
    assert errors[1] < errors[0]


@backend
def test_gradients_match_finite_differences(model):
    x = tiny_inputs(n=2)
    grads = interpret.gradients(model, x, "force", target=1, output="logit")
    assert grads.shape == x["force"].shape
    for i in range(2):
        index = (i, *np.unravel_index(np.argmax(np.abs(grads[i])), grads.shape[1:]))
        h = 1e-2
        up, down = ({k: v.copy() for k, v in x.items()} for _ in range(2))
        up["force"][index] += h
        down["force"][index] -= h
        slope = (interpret.class_scores(model, up, target=1, output="logit")[i]
                 - interpret.class_scores(model, down, target=1, output="logit")[i]) / (2 * h)
        np.testing.assert_allclose(grads[index], slope, rtol=2e-2)


@backend
def test_gradients_default_to_the_predicted_class(model):
    x = tiny_inputs()
    predicted = np.argmax(keras.ops.convert_to_numpy(model(x)), axis=-1)
    np.testing.assert_array_equal(interpret.gradients(model, x, "tool"),
                                  interpret.gradients(model, x, "tool", target=predicted))
    other = (predicted + 1) % 3
    assert not np.allclose(interpret.gradients(model, x, "tool"),
                           interpret.gradients(model, x, "tool", target=other))


@backend
def test_filters_and_kernels_are_the_layers_weights(model):
    filters = interpret.patch_embedding_filters(model, "tool")
    assert filters.shape == (4, 4, 3, WIDTH)
    np.testing.assert_array_equal(filters, keras.ops.convert_to_numpy(
        model.get_layer("tool_patch_embedding").conv.kernel))
    assert interpret.patch_embedding_filters(model, "force").shape == (4, 4, 2, WIDTH)
    last = interpret.depthwise_kernels(model, "force")
    assert last.shape == (3, 3, WIDTH)
    depthwise = model.get_layer(f"force_block_{DEPTH - 1}").depthwise.kernel
    np.testing.assert_array_equal(last, keras.ops.convert_to_numpy(depthwise)[..., 0])
    np.testing.assert_array_equal(interpret.depthwise_kernels(model, "force", block=0),
                                  interpret.depthwise_kernels(model, "force", block=-DEPTH))
    assert not np.array_equal(interpret.depthwise_kernels(model, "force", block=0), last)


@backend
def test_modality_contribution_finds_the_ignored_modality():
    model = tiny_model(seed=3)
    x = tiny_inputs(n=40, seed=1)
    # A classifier that reads only the tool pathway's features (concat order: tool, force),
    # centred and scaled so that the predictions spread over the classes.
    features = keras.ops.convert_to_numpy(
        keras.Model(model.inputs, model.get_layer("tool_pool").output)(x))
    rng = np.random.default_rng(0)
    top = rng.normal(size=(WIDTH, 3)) / (features.std(axis=0)[:, None] + 1e-6)
    kernel = np.concatenate([top, np.zeros((WIDTH, 3))]).astype("float32")
    model.get_layer("classifier").set_weights([kernel, -(features.mean(axis=0) @ top)])
    labels = np.argmax(model.predict(x, verbose=0), axis=-1)
    assert len(np.unique(labels)) == 3
    for mask in ("mean", "zeros", "shuffle"):
        result = interpret.modality_contribution(model, x, labels, mask=mask)
        assert result["accuracy"] == 1.0 and result["n"] == 40 and result["mask"] == mask
        assert result["masked"]["force"] == 1.0 and result["contribution"]["force"] == 0.0
        assert result["masked"]["tool"] < 1.0
        assert result["contribution"]["tool"] == pytest.approx(1.0 - result["masked"]["tool"])
    mean_tool = np.broadcast_to(x["tool"].mean(axis=0), x["tool"].shape)
    expected = np.mean(np.argmax(model.predict({**x, "tool": mean_tool}, verbose=0), -1)
                       == labels)
    assert interpret.modality_contribution(model, x, labels, groups=["tool"])["masked"] == \
        {"tool": pytest.approx(expected)}


@backend
def test_bad_arguments_are_named(model):
    x = tiny_inputs()
    with pytest.raises(ValueError, match="group='photo'.*'tool'"):
        interpret.gradients(model, x, "photo")
    with pytest.raises(ValueError, match=r"no value for the model input\(s\) \['force'\]"):
        interpret.gradients(model, {"tool": x["tool"]}, "tool")
    with pytest.raises(ValueError, match="target=.*range\\(3\\)"):
        interpret.gradients(model, x, "tool", target=3)
    with pytest.raises(ValueError, match="output='loss'"):
        interpret.integrated_gradients(model, x, "tool", output="loss")
    with pytest.raises(ValueError, match="steps=0"):
        interpret.integrated_gradients(model, x, "tool", steps=0)
    with pytest.raises(ValueError, match="baseline of shape \\(5,\\)"):
        interpret.integrated_gradients(model, x, "tool", baseline=np.zeros(5))
    with pytest.raises(ValueError, match="block=2"):
        interpret.depthwise_kernels(model, "tool", block=DEPTH)
    with pytest.raises(ValueError, match="no channel-point blocks"):
        interpret.depthwise_kernels(tiny_model(depth=0), "tool")
    with pytest.raises(ValueError, match="mask='noise'"):
        interpret.modality_contribution(model, x, [0, 1, 2], mask="noise")
    with pytest.raises(ValueError, match="labels: expected 3 integer"):
        interpret.modality_contribution(model, x, [0, 1])
    plain = keras.Sequential([keras.Input((4,), name="tool"), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="needs a model ending in a softmax"):
        interpret.gradients(plain, {"tool": np.ones((1, 4), "float32")}, "tool", target=0,
                            output="logit")


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_figures_render_without_pyplot_state(model):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    before = plt.get_fignums()
    filters = interpret.patch_embedding_filters(model, "tool")
    fig = interpret.plot_filters(filters, columns=3)
    assert isinstance(fig, Figure)
    assert sum(len(ax.images) for ax in fig.axes) == WIDTH and len(fig.axes) == 9  # 3 x 3
    assert fig.axes[0].images[0].get_array().shape == (4, 4, 3)              # colour
    gray = interpret.plot_filters(interpret.patch_embedding_filters(model, "force"),
                                  kind="spectrogram")
    assert gray.axes[0].images[0].get_array().shape == (4, 4)                # channel mean
    assert gray.axes[0].images[0].origin == "lower"                          # mel bands up
    kernels = interpret.plot_kernels(interpret.depthwise_kernels(model, "tool"), columns=4)
    assert sum(len(ax.images) for ax in kernels.axes) == WIDTH

    x = tiny_inputs(n=2)
    maps = {"gradient": interpret.gradients(model, x, "force"),
            "integrated gradients": interpret.integrated_gradients(model, x, "force", steps=4)}
    spectrogram = interpret.plot_attributions(x["force"], maps, kind="spectrogram",
                                              titles=["a", "b"])
    images = [ax for ax in spectrogram.axes if ax.images]
    assert len(images) == 2 * 3
    assert images[0].images[0].get_array().shape == (8, 12)     # mel bands up, time along x
    assert images[0].get_title() == "a" and images[1].get_title() == "gradient"
    photo = interpret.plot_attributions(x["tool"], {"gradient": interpret.gradients(
        model, x, "tool")})
    assert photo.axes[0].images[0].get_array().shape == (16, 16, 3)

    result = interpret.modality_contribution(model, tiny_inputs(n=6), [0, 1, 2, 0, 1, 2])
    bars = interpret.plot_contribution(result)
    heights = [patch.get_height() for patch in bars.axes[0].patches]
    assert heights == pytest.approx([result["accuracy"], *result["masked"].values()])
    for fig in (fig, gray, kernels, spectrogram, photo, bars):
        assert _png(fig).startswith(b"\x89PNG")
    assert plt.get_fignums() == before
    with pytest.raises(ValueError, match="attributions\\['gradient'\\] has shape"):
        interpret.plot_attributions(x["tool"], {"gradient": maps["gradient"]})
