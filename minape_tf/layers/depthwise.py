"""``DepthwiseConv``: Keras' ``DepthwiseConv2D(kernel_size, padding="same")`` computed in the
form the device runs best."""

import functools

import keras

from minape_tf.layers.depthwise_forms import FORMS, toeplitz_entries

DEPTHWISE_FORMS = ("auto", *FORMS)

# The largest Toeplitz matrix "auto" builds: (h*w)**2 * channels numbers. 2**27 is a 32x32 grid
# at width 128 (512 MiB in float32, 256 MiB in bfloat16, per block and call).
MAX_TOEPLITZ_ENTRIES = 2 ** 27


def check_form(form):
    if form not in DEPTHWISE_FORMS:
        raise ValueError(f"depthwise={form!r} is not known; expected one of {DEPTHWISE_FORMS}")
    return form


@functools.lru_cache(maxsize=None)
def accelerator():
    """``"gpu"``, ``"tpu"`` or ``"cpu"``: the kind of the first device Keras sees."""
    return keras.distribution.list_devices()[0].split(":")[0].lower()


def auto_form(h, w, channels, kernel_size, device=None):
    """The form ``"auto"`` picks for an ``h`` x ``w`` x ``channels`` grid and a square kernel.

    * GPU / TPU: ``"matmul"`` while its Toeplitz matrices hold at most
      :data:`MAX_TOEPLITZ_ENTRIES` numbers, else ``"fft"``: on a GPU one dense product per
      channel beats a grouped convolution of a large kernel, until the matrices outgrow
      memory. TPUs follow the GPU rule. ``scripts/bench_gpu.py --forms
      conv,auto,fft,matmul`` measures the forms on the models (docs/model.md, "The depthwise
      convolution in the form each device runs best").
    * CPU: ``"conv"``: TensorFlow's grouped convolution (oneDNN) runs the whole models
      fastest, the paper's kernel 13 on 32x32 grids included (``scripts/bench_cpu.py --part
      models`` measures every form, ``scripts/results/bench_cpu_models.json``). LiteRT is
      another runtime: ``minape export`` writes ``"tiles"`` for it. The JAX CPU backend uses
      the same rule.
    * Unknown grid size (``None``): ``"conv"``.

    ``device`` (``"cpu"``, ``"gpu"``, ``"tpu"``) defaults to the current one (:func:`accelerator`).
    """
    if h is None or w is None or channels is None:
        return "conv"
    device = device or accelerator()
    if device in ("gpu", "tpu"):
        return "matmul" if toeplitz_entries(h, w, channels) <= MAX_TOEPLITZ_ENTRIES else "fft"
    return "conv"


@keras.saving.register_keras_serializable(package="minape_tf")
class DepthwiseConv(keras.layers.DepthwiseConv2D):
    """``DepthwiseConv2D(kernel_size, padding="same")`` in one of several equivalent forms.

    Same variables (``kernel`` of shape ``(k, k, channels, 1)``, ``bias``), names, defaults
    and results as ``keras.layers.DepthwiseConv2D``, so weights saved from one load into the
    other; only the computation differs (see :mod:`minape_tf.layers.depthwise_forms`).
    Strides, dilation and the depth multiplier stay 1, the padding "same", channels last.

    Parameters
    ----------
    kernel_size : int
    form : {"auto", "conv", "matmul", "fft", "tiles"}, default "auto"
        ``"conv"``: Keras' grouped convolution. ``"matmul"``: a per-channel Toeplitz matrix
        product (fastest on GPUs for small grids). ``"fft"``: FFT correlation (faster than
        conv on CPUs for large kernels). ``"tiles"``: the kernel in pieces of at most 25 taps
        (the form LiteRT's XNNPACK runs fastest; :func:`minape_tf.deploy.tflite` export
        writes it). ``"auto"`` chooses when the layer is built, from the
        device and the grid (:func:`auto_form`); the chosen form is ``resolved_form`` and is
        not saved, so a model saved on a GPU chooses again on a CPU.
    **kwargs
        Other ``DepthwiseConv2D`` arguments (``use_bias``, initializers, ``dtype``, ``name``).
    """

    def __init__(self, kernel_size, form="auto", **kwargs):
        fixed = {"strides": 1, "dilation_rate": 1, "depth_multiplier": 1, "padding": "same",
                 "data_format": "channels_last"}
        for key, value in fixed.items():
            given = kwargs.pop(key, value)
            if given not in (value, (value, value), [value, value]):
                raise ValueError(f"DepthwiseConv: {key}={given!r}; only {value!r} is supported")
        super().__init__(kernel_size, **fixed, **kwargs)
        self.form = check_form(form)
        self.resolved_form = None

    def build(self, input_shape):
        super().build(input_shape)
        _, h, w, channels = input_shape
        self.resolved_form = self.form if self.form != "auto" else auto_form(
            h, w, channels, max(self.kernel_size))

    def call(self, inputs):
        out = FORMS[self.resolved_form](inputs, self.kernel[..., 0])
        if self.use_bias:
            out = out + self.bias
        return self.activation(out)

    def get_config(self):
        return {**super().get_config(), "form": self.form}
