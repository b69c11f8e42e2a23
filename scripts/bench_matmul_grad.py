"""Training cost of the Toeplitz (matmul) depthwise form: the matrix built by a gather from
the kernel (whose gradient is a scatter-add over the whole matrix) against the form used,
built by products with 0/1 shift selectors (whose gradient is matrix products). JAX backend,
jitted gradient of a loss with respect to input and kernel; median ms of interleaved rounds,
with the grouped conv as reference.

    KERAS_BACKEND=jax python scripts/bench_matmul_grad.py [--grid 16] [--batch 32] [--rounds 5]

Prints JSON naming the device.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import bench_common
import jax
import jax.numpy as jnp
import numpy as np

from minape_tf.layers.depthwise_forms import FORMS


def gather_matmul(x, kernel):
    """The Toeplitz matrix gathered from the flattened kernel (plus a zero slot)."""
    _, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    i, j = np.divmod(np.arange(h * w), w)
    dy = i[None, :] - i[:, None] + (kh - 1) // 2     # [output q, input p]
    dx = j[None, :] - j[:, None] + (kw - 1) // 2
    inside = (dy >= 0) & (dy < kh) & (dx >= 0) & (dx < kw)
    index = np.where(inside, dy * kw + dx, kh * kw)
    table = jnp.concatenate([kernel.reshape(kh * kw, c), jnp.zeros((1, c), kernel.dtype)])
    toeplitz = table[index]                          # (hw, hw, c)
    y = jnp.einsum("bpc,qpc->bqc", x.reshape(-1, h * w, c), toeplitz)
    return y.reshape(-1, h, w, c)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=16)
    parser.add_argument("--kernel", type=int, default=13)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((args.batch, args.grid, args.grid, args.channels)),
                    jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((args.kernel, args.kernel, args.channels)),
                         jnp.float32)
    forms = {"conv": FORMS["conv"], "matmul_selectors": FORMS["matmul"],
             "matmul_gather": gather_matmul}
    grads = {name: jax.jit(jax.grad(lambda a, b, f=f: jnp.sum(f(a, b) ** 2), argnums=(0, 1)))
             for name, f in forms.items()}
    reference = grads["conv"](x, kernel)
    error = {name: float(max(jnp.max(jnp.abs(g - r)) / jnp.max(jnp.abs(r))
                             for g, r in zip(fn(x, kernel), reference)))
             for name, fn in grads.items()}
    ms = bench_common.interleaved(
        {name: (lambda fn=fn: jax.block_until_ready(fn(x, kernel))) for name, fn in grads.items()},
        args.rounds)
    device = jax.devices()[0]
    bench_common.emit({"device": f"{device.device_kind} ({device.platform})",
                       "shape": [args.batch, args.grid, args.grid, args.channels],
                       "kernel": args.kernel, "rounds": args.rounds,
                       "grad_ms": {k: round(v, 2) for k, v in ms.items()},
                       "vs_gather": {k: round(ms["matmul_gather"] / v, 2) for k, v in ms.items()},
                       "max_rel_error_vs_conv": error}, args.out)


if __name__ == "__main__":
    main()
