"""The lesson's CIFAR-10 CNN ``Tudui`` as a flax.nnx module. torch original::

    Sequential(Conv2d(3, 32, 5, padding=2), MaxPool2d(2), Conv2d(32, 32, 5, padding=2),
               MaxPool2d(2), Conv2d(32, 64, 5, padding=2), MaxPool2d(2), Flatten(),
               Linear(1024, 64), Linear(64, 10))

The forward pass is written for speed on CPU (``python -m benchmarks tudui`` measures it):
max pooling as a reshape and a max with torch's gradient routing, the bias added after the
pooling, conv1's 3 input channels padded to 4, and on the CPU backend each conv stage run on
pieces of the batch (:mod:`jaxloss.tudui.lowering`). Values equal torch's within float32
rounding; an exact or near tie in a pooling window can still send its gradient to another
element than torch does, as between any two float32 implementations.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxloss.tudui import lowering


def _torch_init(fan_in: int):
    """torch's default init of Conv2d and Linear weights and biases: U(±1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound
    )


def _conv(cin: int, cout: int, rngs: nnx.Rngs) -> nnx.Conv:
    init = _torch_init(cin * 5 * 5)
    return nnx.Conv(
        cin, cout, kernel_size=(5, 5), padding=2, kernel_init=init, bias_init=init, rngs=rngs
    )


def _linear(cin: int, cout: int, rngs: nnx.Rngs) -> nnx.Linear:
    init = _torch_init(cin)
    return nnx.Linear(cin, cout, kernel_init=init, bias_init=init, rngs=rngs)


def cpu_chunk_size(batch: int) -> int:
    """Images per piece of the batch at conv1 on the CPU backend."""
    return lowering.plan_for(batch, "cpu").for_batch(batch)[0]


@jax.custom_jvp
def max_pool_2x2(x: jax.Array) -> jax.Array:
    """MaxPool2d(2) on NHWC for even H and W, with torch's gradient.

    The value is a reshape and a max (far faster on CPU than a reduce_window). The
    derivative routes each window's gradient to one element, as torch's ``max_pool2d``
    does: the first maximum in row-major window order, or the last NaN when the window
    holds a NaN (torch: ``val > maxval || isnan(val)`` updates the index). ``jnp.max``
    alone would split the gradient between exact ties, which do occur in float32
    activations (about once per batch of 128 Tudui images).
    """
    n, h, w, c = x.shape
    return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


@max_pool_2x2.defjvp
def _max_pool_2x2_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    n, h, w, c = x.shape
    x6 = x.reshape(n, h // 2, 2, w // 2, 2, c)
    m = jnp.max(x6, axis=(2, 4))
    # the index (0..3, row-major in the window) of the element torch's max_pool2d picks
    corners = [x6[:, :, k // 2, :, k % 2, :] for k in range(4)]
    idx = jnp.full(m.shape, 3, jnp.int8)
    for k in (2, 1, 0):  # torch: a later element wins only if strictly greater
        idx = jnp.where(corners[k] == m, jnp.int8(k), idx)
    for k in range(4):  # torch: isnan(val) always updates, so the last NaN wins
        idx = jnp.where(jnp.isnan(corners[k]), jnp.int8(k), idx)
    window = jnp.arange(2, dtype=jnp.int8)[:, None] * 2 + jnp.arange(2, dtype=jnp.int8)[None, :]
    picked = idx[:, :, None, :, None, :] == window[None, None, :, None, :, None]
    t6 = t.reshape(n, h // 2, 2, w // 2, 2, c)
    return m, jnp.sum(jnp.where(picked, t6, jnp.zeros((), t.dtype)), axis=(2, 4))


def _conv5x5_pool(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """MaxPool2d(2)(Conv2d(k=5, padding=2)(x)) in NHWC/HWIO. The bias is added after the
    pooling: max(y + b) == max(y) + b exactly (rounding is monotonic), on a 4x smaller
    array."""
    y = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((2, 2), (2, 2)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return max_pool_2x2(y) + bias


def _concat(parts: list[jax.Array]) -> jax.Array:
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


class Tudui(nnx.Module):
    """The lesson's CNN. ``Tudui(rngs=nnx.Rngs(0))(images)`` -> logits (N, 10).

    Args:
      rngs: parameter initialisation randomness (torch's default init scheme).

    Shape:
      Input: (N, 32, 32, 3) floating-point images in [0, 1], NHWC (use ``nchw_to_nhwc`` for
      torch-layout batches; integer images such as uint8 0-255 are refused with a
      TypeError). Output: (N, 10) logits.
    """

    def __init__(self, *, rngs: nnx.Rngs) -> None:
        self.conv1 = _conv(3, 32, rngs)
        self.conv2 = _conv(32, 32, rngs)
        self.conv3 = _conv(32, 64, rngs)
        self.linear1 = _linear(1024, 64, rngs)
        self.linear2 = _linear(64, 10, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            raise ValueError(
                f"Tudui: images have shape {tuple(x.shape)} but (N, 32, 32, 3) NHWC is required; "
                "for torch-layout (N, 3, 32, 32) batches call "
                "jaxloss.tudui.model.nchw_to_nhwc first"
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(
                f"Tudui: images are {x.dtype} but a floating dtype is required; convert 0-255 "
                "images with images.astype(np.float32) / 255 (iterate_batches does this)"
            )
        convs = (self.conv1, self.conv2, self.conv3)
        stages = [(c.kernel[...], c.bias[...]) for c in convs]  # type: ignore[index]
        x = jnp.asarray(x, jnp.result_type(x.dtype, stages[0][0].dtype))
        # A zero 4th input channel: XLA's CPU convolution runs the 3-channel conv1 6x
        # slower than a 4-channel one (the zeros change no value).
        x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, 1)))
        stages[0] = (jnp.pad(stages[0][0], ((0, 0), (0, 0), (0, 1), (0, 0))), stages[0][1])
        n = x.shape[0]
        x = _features(x, stages, lowering.active_plan(n).for_batch(n))
        x = jnp.transpose(x, (0, 3, 1, 2)).reshape(n, -1)  # torch's Flatten: C, H, W
        return self.linear2(self.linear1(x))


def _features(x: jax.Array, stages: list, chunks: tuple[int, ...]) -> jax.Array:
    """The three conv-pool stages, (n, 32, 32, 4) -> (n, 4, 4, 64), on independent pieces
    of the batch: ``chunks[i]`` images per piece at stage i, neighbouring pieces
    concatenated between stages. Small pieces keep a stage's activations in cache and give
    XLA independent work for its threads; values equal the whole-batch computation's, the
    weight gradients summing the pieces' contributions in another order."""
    n, size = x.shape[0], chunks[0]
    parts = [x[i : i + size] for i in range(0, n, size)] if size < n else [x]
    for (kernel, bias), c in zip(stages, chunks):
        if c > size:  # merge r neighbouring pieces (a concatenate; its gradient slices)
            r = len(parts) if c >= n else c // size
            parts = [_concat(parts[i : i + r]) for i in range(0, len(parts), r)]
            size = c
        parts = [_conv5x5_pool(p, kernel, bias) for p in parts]
    return _concat(parts)


def nchw_to_nhwc(images: jax.Array) -> jax.Array:
    """(N, 3, 32, 32) torch-layout images -> (N, 32, 32, 3). Explicit, never guessed."""
    images = jnp.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"nchw_to_nhwc: images have shape {tuple(images.shape)}; expected (N, 3, H, W)"
        )
    return jnp.transpose(images, (0, 2, 3, 1))


def num_params(model: nnx.Module) -> int:
    """Number of trainable parameters (145,578 for Tudui)."""
    return sum(x.size for x in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))
