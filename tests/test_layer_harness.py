"""Every custom layer through Keras's own layer test harness (``run_layer_test``).

The harness builds the layer, calls it symbolically and eagerly, round-trips its config,
counts its weights, trains it one jitted step, and runs it again under a per-layer
``mixed_float16`` policy (output dtype as declared, variables float32). Runs on the
TensorFlow and the JAX backends.
"""

import keras
import numpy as np
import pytest
from absl.testing import parameterized
from keras.src import testing

from minape_tf.layers import (DEPTHWISE_FORMS, FUSIONS, ChannelPointBlock, DepthwiseConv,
                              DeviceEqualization, FoldSequence, Fusion, LevelNormalization,
                              LogMel, PatchEmbedding, PCEN, SeriesFrames, SeriesSamples,
                              SpectralNormalization, TempMixer, UnfoldSequence)

pytestmark = [pytest.mark.backend,
              # The harness trains weightless layers too, from a generator.
              pytest.mark.filterwarnings("ignore:The model does not have any trainable weights"),
              pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")]


class LayerHarnessTest(testing.TestCase):

    @parameterized.named_parameters(*[(form, form) for form in DEPTHWISE_FORMS])
    def test_channel_point_block(self, form):
        self.run_layer_test(
            ChannelPointBlock, {"kernel_size": 3, "depthwise": form}, input_shape=(2, 5, 6, 4),
            expected_output_shape=(2, 5, 6, 4), expected_num_trainable_weights=8,
            expected_num_non_trainable_weights=4)

    @parameterized.named_parameters(*[(form, form) for form in DEPTHWISE_FORMS])
    def test_depthwise_conv(self, form):
        self.run_layer_test(
            DepthwiseConv, {"kernel_size": 4, "form": form}, input_shape=(2, 3, 5, 4),
            expected_output_shape=(2, 3, 5, 4), expected_num_trainable_weights=2)

    def test_patch_embedding(self):
        self.run_layer_test(
            PatchEmbedding, {"width": 4, "patch_size": 2}, input_shape=(2, 8, 6, 3),
            expected_output_shape=(2, 4, 3, 4), expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=2)

    def test_one_dimensional_pathway_layers(self):
        self.run_layer_test(
            PatchEmbedding, {"width": 4, "patch_size": 3}, input_shape=(2, 10, 3),
            expected_output_shape=(2, 3, 4), expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=2)
        self.run_layer_test(
            ChannelPointBlock, {"kernel_size": 5}, input_shape=(2, 7, 4),
            expected_output_shape=(2, 7, 4), expected_num_trainable_weights=8,
            expected_num_non_trainable_weights=4)

    def test_series_samples(self):
        self.run_layer_test(
            SeriesSamples, {}, input_shape=(2, 24, 2), expected_output_shape=(2, 24, 2),
            expected_output_dtype="float32", expected_num_trainable_weights=0)

    def test_tempmixer(self):
        self.run_layer_test(
            TempMixer, {"filters": 8, "layers": 2}, input_shape=(2, 3, 5),
            expected_output_shape=(2, 8), expected_num_trainable_weights=6)

    def test_logmel(self):
        self.run_layer_test(
            LogMel, {"sample_rate": 8000, "n_fft": 256, "hop": 128, "n_mels": 16},
            input_shape=(2, 1024, 2), expected_output_shape=(2, 7, 16, 2),
            expected_output_dtype="float32", expected_num_trainable_weights=0)

    def test_series_frames(self):
        self.run_layer_test(
            SeriesFrames, {"window": 8, "hop": 3}, input_shape=(2, 24, 2),
            expected_output_shape=(2, 6, 8, 2), expected_output_dtype="float32",
            expected_num_trainable_weights=0)

    @parameterized.named_parameters(("peak", "peak"), ("rms", "rms"), ("none", None))
    def test_level_normalization(self, mode):
        self.run_layer_test(
            LevelNormalization, {"mode": mode}, input_shape=(2, 50, 3),
            expected_output_shape=(2, 50, 3), expected_output_dtype="float32")

    @parameterized.named_parameters(("mean_var", "mean_var"), ("band", "band"))
    def test_spectral_normalization(self, mode):
        self.run_layer_test(
            SpectralNormalization, {"mode": mode}, input_shape=(2, 9, 8, 3),
            expected_output_shape=(2, 9, 8, 3), expected_output_dtype="float32")

    def test_pcen(self):
        self.run_layer_test(
            PCEN, {"sample_rate": 8000, "hop": 128}, input_shape=(2, 9, 8, 3),
            expected_output_shape=(2, 9, 8, 3), expected_output_dtype="float32")

    def test_device_equalization(self):
        self.run_layer_test(
            DeviceEqualization, {"floor_db": 30.0}, input_shape=(2, 9, 8, 3),
            expected_output_shape=(2, 9, 8, 3), expected_output_dtype="float32",
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=2)

    @parameterized.named_parameters(*[(mode, mode) for mode in FUSIONS])
    def test_fusion(self, mode):
        widths = {"concat": 10, "attention": 12}.get(mode, 6)
        self.run_layer_test(
            Fusion, {"mode": mode, "attention_heads": 2}, input_shape=((2, 4), (2, 6)),
            expected_output_shape=(2, widths))

    def test_fold_sequence(self):
        self.run_layer_test(FoldSequence, {}, input_shape=(2, 3, 4, 5),
                            expected_output_shape=(6, 4, 5))

    def test_unfold_sequence(self):
        self.run_layer_test(UnfoldSequence, {"steps": 3}, input_shape=(6, 5),
                            expected_output_shape=(2, 3, 5))


@pytest.mark.parametrize("make", [lambda dtype: LogMel(8000, 256, 128, 16, dtype=dtype),
                                  lambda dtype: LevelNormalization(dtype=dtype)])
@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "mixed_float16", "bfloat16"])
def test_feature_layers_say_they_compute_in_float32(make, dtype):
    layer = make(dtype)
    assert layer.dtype_policy.name == "float32"
    out = layer(np.random.default_rng(0).standard_normal((1, 1024, 2)).astype("float16"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


@pytest.mark.parametrize("layer", [FoldSequence(dtype="mixed_bfloat16"),
                                   UnfoldSequence(2, dtype="mixed_bfloat16")])
def test_sequence_reshapes_keep_their_input_dtype(layer):
    x = np.arange(24, dtype="float32").reshape(4, 6) / 7
    out = layer(x[:, None] if isinstance(layer, FoldSequence) else x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out).reshape(4, 6), x)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["conv", "fft"])
def test_mixed_bfloat16_model_trains_saves_and_loads_without_a_global_policy(tmp_path, form):
    from minape_tf import ImageGroup, SeriesGroup, build_minape

    before = keras.config.dtype_policy().name
    groups = [ImageGroup("image", channels=3, size=(16, 16)),
              SeriesGroup("force", channels=2, sample_rate=8000, length=2048, n_fft=256,
                          hop=128, n_mels=16)]
    model = build_minape(groups, 3, width=8, depth=2, patch_size=4, kernel_size=3,
                         learner="tempmixer", features_in_model=True, depthwise=form,
                         dtype="mixed_bfloat16")
    assert keras.config.dtype_policy().name == before == "float32"
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers}
    assert policies["image_block_0"] == policies["tempmixer"] == "mixed_bfloat16"
    assert policies["force_logmel"] == policies["softmax"] == "float32"
    assert all(v.dtype == "float32" for v in model.weights)
    rng = np.random.default_rng(0)
    x = {"image": rng.random((4, 16, 16, 3), dtype="float32"),
         "force": rng.standard_normal((4, 2048, 2)).astype("float32")}
    y = np.array([0, 1, 2, 1])
    model.compile("adam", "sparse_categorical_crossentropy")
    kernel = model.get_layer("image_block_0").depthwise.kernel
    start = keras.ops.convert_to_numpy(kernel).copy()
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss) and not np.allclose(keras.ops.convert_to_numpy(kernel), start)
    out = keras.ops.convert_to_numpy(model(x))
    assert out.dtype == np.float32
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert again.get_layer("image_block_1").dtype_policy.name == "mixed_bfloat16"
    assert again.get_layer("image_block_1").depthwise.dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(x)), out)
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.slow
def test_minape_s_backbone_takes_the_model_policy_and_leaves_the_global_one():
    from minape_tf import ImageGroup, build_minape

    model = build_minape([ImageGroup("image", channels=3, size=(32, 32))], 2, width=8,
                         patch_size=4, depth=0, backbone="efficientnetv2-b0",
                         dtype="mixed_bfloat16")
    backbone = model.get_layer("image_efficientnetv2_b0")
    assert {layer.dtype_policy.name for layer in backbone.layers[1:]} == {"mixed_bfloat16"}
    assert keras.config.dtype_policy().name == "float32"


def test_mixed_float16_model_compiles_with_loss_scaling():
    from minape_tf import ImageGroup, build_minape

    model = build_minape([ImageGroup("image", channels=3, size=(16, 16))], 2, width=4, depth=1,
                         patch_size=4, kernel_size=3, dtype="mixed_float16")
    model.compile("adam", "sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == "float32"
