"""The paper's baselines: Minape's interface, training, saving, and their defining parts.

Model tests use tiny groups and widths so that each takes seconds; they run under every
backend (CI runs them again with ``KERAS_BACKEND=jax``). The benchmark's tests (TensorFlow)
check its parts, not its numbers.
"""

import math

import keras
import numpy as np
import pytest

from minape_tf import ImageGroup, build_minape, presets
from minape_tf.models.baselines.embracenet import Embracement
from minape_tf.models.baselines.mulmix import MultiplicativeCombination, mixtures
from minape_tf.models.baselines.slvit import LocalitySelfAttention, ShiftedPatchTokenization
from minape_tf.models.baselines.tcn import stem_stride
from minape_tf.models.baselines.vit import build_vit, patches
from minape_tf.data import DataError
from minape_tf.models.inputs import ModelInputs
from minape_tf.models.registry import BUILDERS as BASELINES
from minape_tf.models.registry import build_model, groups_read_by

from harness import IMAGE, SERIES, SMALL, SMALL_VIT, random_inputs, run_model_test, to_numpy

SPEC_IMAGE = ImageGroup("spec", channels=2, size=(16, 16), modality="series")
MULTIMODAL = [name for name, entry in BASELINES.items() if entry.reads == "all"]


@pytest.mark.backend
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow)
                                  if n == "efficientnetv2-m" else n for n in BASELINES])
def test_every_model_trains_a_step_and_survives_a_keras_round_trip(name, tmp_path):
    run_model_test(name, tmp_path)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow)
                                  if n == "efficientnetv2-m" else n for n in BASELINES])
def test_every_model_exports_and_predicts_as_in_keras_or_is_refused_by_name(name, tmp_path):
    """Minape's export runs in LiteRT as in Keras; a baseline, which does not describe its
    groups and classes, is refused by name instead of exported wrongly."""
    from minape_tf.deploy import export
    from minape_tf.deploy.tflite import interpreter, run_model

    model, x, out, path = run_model_test(name, tmp_path)
    if name != "minape":
        with pytest.raises(DataError, match=f"{path.name}.*without its groups and classes"):
            export(path, tmp_path / "export", formats="tflite", quantizations=("float32",),
                   verbose=False)
        return
    info = export(path, tmp_path / "export", formats="tflite", quantizations=("float32",),
                  verbose=False)
    lite = interpreter(tmp_path / "export" / info["files"]["tflite_float32"]["path"])
    np.testing.assert_allclose(run_model(lite, x), out, atol=1e-5)


@pytest.mark.backend
@pytest.mark.parametrize("name", MULTIMODAL)
@pytest.mark.parametrize("features_in_model", [False, True])
def test_multimodal_models_take_exactly_minapes_inputs(name, features_in_model):
    groups = [IMAGE, SPEC_IMAGE, SERIES]
    reference = build_minape(groups, 3, features_in_model=features_in_model, **SMALL["minape"])
    model = build_model(name, groups, 3, features_in_model=features_in_model, **SMALL[name])
    shapes = lambda m: {t.name.split(":")[0]: tuple(t.shape) for t in m.inputs}  # noqa: E731
    assert shapes(model) == shapes(reference)
    assert ModelInputs.of_arguments(groups, {"features_in_model": features_in_model},
                                    name).features_in_model == features_in_model
    assert to_numpy(model(random_inputs(reference, 2))).shape == (2, 3)


@pytest.mark.backend
def test_tcn_reads_the_raw_series_groups_only():
    model = build_model("tcn", [IMAGE, SERIES], 3, **SMALL["tcn"])
    assert [(t.name.split(":")[0], tuple(t.shape[1:])) for t in model.inputs] == \
        [("force", (1024, 2))]
    assert ModelInputs.of_arguments([IMAGE, SERIES], {}, "tcn").features_in_model
    assert not ModelInputs.of_arguments([IMAGE, SERIES], {}, "vit").features_in_model
    assert groups_read_by("tcn", [IMAGE, SERIES]) == [SERIES]
    # the stem shortens 1024 samples to 64 steps; without it every sample is a step
    assert stem_stride(1024, 64) == 16 and stem_stride(1000, 64) == 16
    assert stem_stride(1024, None) == 1 and stem_stride(10, 64) == 1
    full = build_model("tcn", [SERIES], 3, **{**SMALL["tcn"], "time_steps": None})
    assert full.get_layer("force_block_0_conv_1").output.shape[1] == 1024


@pytest.mark.backend
def test_tcn_is_causal_and_classifies_the_last_step():
    model = build_model("tcn", [SERIES], 3, filters=4, levels=2, kernel_size=3, time_steps=None)
    features = keras.Model(model.inputs, model.get_layer("force_block_1_relu").output)
    x = random_inputs(model, 1)
    changed = {"force": x["force"].copy()}
    changed["force"][:, 600:] += 1.0             # the future of step 599
    a, b = to_numpy(features(x)), to_numpy(features(changed))
    np.testing.assert_allclose(a[:, :600], b[:, :600], atol=1e-6)
    assert not np.allclose(a[:, 600:], b[:, 600:])


@pytest.mark.backend
@pytest.mark.parametrize("name, groups, needs", [
    ("tcn", [IMAGE, SPEC_IMAGE], "raw series"),
    ("efficientnetv2-m", [SERIES, SPEC_IMAGE], "image"),
])
def test_single_modality_models_say_what_they_lack(name, groups, needs):
    with pytest.raises(ValueError, match=f"reads {needs} groups only.*spec"):
        build_model(name, groups, 3, **SMALL[name])


@pytest.mark.backend
def test_unknown_model_or_argument_is_named():
    with pytest.raises(ValueError, match="'resnet' is not known.*'vit'"):
        build_model("resnet", [IMAGE], 3)
    with pytest.raises(ValueError, match=r"unknown vit arguments \['width'\].*patch_size"):
        build_model("vit", [IMAGE], 3, width=8)
    with pytest.raises(ValueError, match="patch_size=32 for image group 'tool'"):
        build_model("sl-vit", [IMAGE], 3, patch_size=32)
    with pytest.raises(ValueError, match="transformer_units"):
        build_model("vit", [IMAGE], 3, **{**SMALL_VIT, "transformer_units": (16,)})
    with pytest.raises(ValueError, match="modality_dropout=1.0"):
        build_model("embracenet", [IMAGE], 3, modality_dropout=1.0)


@pytest.mark.backend
def test_patches_are_row_major_flattened_tiles():
    x = np.arange(2 * 5 * 6 * 2, dtype="float32").reshape(2, 5, 6, 2)
    got = to_numpy(patches(keras.ops.convert_to_tensor(x), 2))
    assert got.shape == (2, 6, 8)                  # 2 x 3 tiles; the 5th row is dropped
    np.testing.assert_array_equal(got[1, 4], x[1, 2:4, 2:4, :].reshape(-1))


@pytest.mark.backend
def test_shifted_patch_tokenization_stacks_diagonal_shifts():
    layer = ShiftedPatchTokenization(2, 4)
    x = keras.ops.convert_to_tensor(np.arange(16, dtype="float32").reshape(1, 4, 4, 1))
    down_right = to_numpy(layer.shift(x, 1, 1))[0, :, :, 0]
    np.testing.assert_array_equal(down_right[1:, 1:], np.arange(16).reshape(4, 4)[:3, :3])
    assert not down_right[0].any() and not down_right[:, 0].any()
    assert tuple(layer(x).shape) == (1, 4, 4)
    assert layer.projection.kernel.shape == (2 * 2 * 5, 4)    # the input and 4 shifts


@pytest.mark.backend
def test_locality_self_attention_masks_the_diagonal():
    layer = LocalitySelfAttention(num_heads=2, key_dim=4)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 6)).astype("float32")
    out = to_numpy(layer(x))
    # With two tokens and the diagonal masked, each attends only to the other: its
    # output is the other token's value, projected, whatever its own value is.
    swapped = to_numpy(layer(x[:, ::-1]))
    np.testing.assert_allclose(out[:, ::-1], swapped, atol=1e-5)
    value = to_numpy(layer.out(layer.value(x)))
    np.testing.assert_allclose(out[0, 0], value[0, 1], atol=1e-5)
    assert math.isclose(float(to_numpy(layer.temperature)), 2.0)
    reference = keras.layers.MultiHeadAttention(2, 4)
    reference(x, x)
    assert layer.count_params() == reference.count_params() + 1


@pytest.mark.backend
def test_multiplicative_combination_follows_liu_et_al():
    rng = np.random.default_rng(1)
    logits = [rng.normal(size=(5, 3)).astype("float32") for _ in range(3)]
    got = to_numpy(MultiplicativeCombination()(logits))
    p = [np.exp(l) / np.exp(l).sum(-1, keepdims=True) for l in logits]
    expected = sum(np.sqrt(np.prod([1 - p[i] for i in range(3) if i != j], axis=0))
                   * np.log(p[j]) for j in range(3))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    single = to_numpy(MultiplicativeCombination()(logits[:1]))
    np.testing.assert_allclose(single, np.log(p[0]), rtol=1e-4)
    assert mixtures(3) == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]


@pytest.mark.backend
def test_embracement_picks_one_modality_per_feature_in_training():
    zeros, ones = np.zeros((64, 32), "float32"), np.ones((64, 32), "float32")
    layer = Embracement(modality_dropout=0.0, seed=1)
    np.testing.assert_allclose(to_numpy(layer([zeros, ones])), 0.5)       # inference
    drawn = to_numpy(layer([zeros, ones], training=True))
    assert set(np.unique(drawn)) == {0.0, 1.0}
    assert 0.4 < drawn.mean() < 0.6                                      # uniform choice
    # modality dropout removes whole modalities of an example, never all of them
    dropped = to_numpy(Embracement(modality_dropout=0.9, seed=2)([zeros, ones], training=True))
    per_example = dropped.mean(axis=1)
    assert set(np.unique(dropped)) == {0.0, 1.0}
    assert np.mean((per_example == 0) | (per_example == 1)) > 0.7


@pytest.mark.backend
@pytest.mark.slow
def test_paper_configurations_match_table_3():
    """ViT at keras-io's widths on 256x256 inputs with 16x16 patches has Table 3's 36.3M per
    pathway (72.8M for two); Minape (m) has under 1/20 of it (the paper: 1/80)."""
    groups = [ImageGroup("tool", channels=3, size=(256, 256)),
              ImageGroup("spec", channels=9, size=(256, 256), modality="series")]
    vit = build_vit(groups[:1], 3)
    blocks = 8 * (3 * (64 * 256 + 256) + 256 * 64 + 64 + 2 * 128 + 64 * 128 + 128 + 128 * 64
                  + 64)
    pathway = 768 * 64 + 64 + 256 * 64 + blocks + 128 + 16384 * 2048 + 2048 + 2048 * 1024 + 1024
    assert vit.count_params() == pathway + 1024 * 3 + 3
    assert round(pathway / 1e6, 1) == 36.4
    vit_m = build_model("vit", groups, 3)
    minape_m = build_model("minape", groups, 3, **presets["mudestreda"])
    assert round(vit_m.count_params() / 1e6, 1) == 72.9
    assert minape_m.count_params() * 20 <= vit_m.count_params()


def test_bench_arguments_always_include_minape_and_parse_builder_arguments():
    from minape_tf.bench.model_speed import model_kwargs, parse_args

    args = parse_args(["--models", "vit,tcn", "--set", "vit.patch_size=8",
                       "--set", "minape.width=64"])
    assert args.models == ["minape", "vit", "tcn"]
    assert model_kwargs("vit", args.overrides) == {"patch_size": 8}
    assert model_kwargs("minape", args.overrides) == {**presets["mudestreda"], "width": 64}
    assert model_kwargs("minape", args.overrides, None) == {"width": 64}
    assert parse_args(["--minape-preset", "none"]).minape_preset is None
    with pytest.raises(SystemExit):
        parse_args(["--minape-preset", "tiny"])
    with pytest.raises(SystemExit):
        parse_args(["--models", "resnet"])
    with pytest.raises(SystemExit):
        parse_args(["--set", "resnet.width=3"])


def test_bench_times_every_model_and_batch_size():
    from minape_tf.bench.model_speed import interleaved_latency, paper_groups

    models = {name: build_model(name, [IMAGE, SERIES], 3, **SMALL[name])
              for name in ("minape", "tcn")}
    lines = []
    latency = interleaved_latency(models, batch_sizes=(1, 4), rounds=2, warmup=1,
                                  log=lines.append)
    assert set(latency) == {(n, b) for n in models for b in (1, 4)}
    assert all(v > 0 for v in latency.values()) and len(lines) == 2
    assert [g.name for g in paper_groups("tcn")] == ["force"]
    assert [g.name for g in paper_groups("vit")] == ["tool", "spec"]


def test_every_registered_model_is_a_training_architecture_built_when_asked():
    """``--model NAME`` reaches every model of the one registry; a run imports only the
    model it builds (a fresh process that trains Minape never imports a baseline)."""
    import subprocess
    import sys

    from minape_tf.models import registry
    from minape_tf.training.config import TrainConfig

    for name, entry in BASELINES.items():
        module, function = entry.builder.split(":")
        assert registry.get_builder(name).__name__ == function, name
    config = TrainConfig(architecture="tcn", model={"filters": 4, "levels": 1})
    model = registry.get_builder("tcn")([IMAGE, SERIES], 3, **config.model)
    assert model.name == "tcn" and model.get_layer("force_block_0_conv_1").filters == 4
    with pytest.raises(ValueError, match="architecture"):
        TrainConfig(architecture="nonsense")
    with pytest.raises(ValueError, match="unknown minape arguments"):
        build_model("minape", [IMAGE], 3, projection_dim=8)
    script = ("import sys; import minape_tf.cli.main, minape_tf.training.run, "
              "minape_tf.evaluation.evaluate, minape_tf.protocol.cv; "
              "from minape_tf.models.registry import get_builder; get_builder('minape'); "
              "print(sorted(m for m in sys.modules if m.startswith('minape_tf.models.baselines.')))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_baselines_train_evaluate_and_cross_validate_from_the_command_line(tmp_path):
    """``--model NAME`` end to end on the demo data: a multimodal ViT from a config file
    (its list-valued settings have no flags), evaluated again from its run folder; TCN on
    the raw series through flags; Mulmix cross-validated."""
    import json

    import yaml

    from minape_tf.cli.main import main

    demo = ["--dataset", "demo", "-D", "n_tools=6", "-D", "runs_per_tool=6", "--batch-size",
            "8", "--epochs", "1", "--verbose", "0"]
    config = tmp_path / "vit.yaml"
    config.write_text(yaml.safe_dump({"architecture": "vit", "model": {
        "patch_size": 8, "transformer_layers": 1, "projection_dim": 8,
        "transformer_units": [16, 8], "mlp_head_units": [32]}}))
    assert main(["train", *demo, "--config", str(config), "--out", str(tmp_path / "vit")]) == 0
    metrics = json.loads((tmp_path / "vit" / "metrics.json").read_text())
    assert metrics["modality"] == "m" and metrics["n_test"] > 0
    assert main(["evaluate", str(tmp_path / "vit"), "--no-latency",
                 "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["accuracy"] == metrics["accuracy"]

    assert main(["train", *demo, "--model", "tcn", "--filters", "4", "--levels", "1",
                 "--out", str(tmp_path / "tcn")]) == 0
    tcn = json.loads((tmp_path / "tcn" / "metrics.json").read_text())
    assert tcn["modality"] == "t" and tcn["params"] < 1000

    assert main(["cv", *demo, "--model", "mulmix", "--trials", "1", "--folds", "3",
                 "--out", str(tmp_path / "cv")]) == 0
    table = (tmp_path / "cv" / "table.md").read_text()
    assert table.startswith("**Mulmix: 1 trial(s) x 3-fold") and "| Mulmix | m |" in table
