"""The lesson's CIFAR-10 CNN ``Tudui`` as a flax.nnx module.

torch original::

    Sequential(Conv2d(3, 32, 5, padding=2), MaxPool2d(2), Conv2d(32, 32, 5, padding=2),
               MaxPool2d(2), Conv2d(32, 64, 5, padding=2), MaxPool2d(2), Flatten(),
               Linear(1024, 64), Linear(64, 10))

Images are NHWC (N, 32, 32, 3), JAX's native layout. The flatten runs in torch's
C, H, W order, so a torch ``state_dict`` maps onto these parameters with plain
transposes (see ``jaxloss.models.torch_interop``). 145,578 parameters, as in torch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


def _torch_uniform_init(fan_in_axes):
    """torch's default init for Conv2d/Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def init(key, shape, dtype=jnp.float32, fan_in=None):
        fan = math.prod(shape[a] for a in fan_in_axes) if fan_in is None else fan_in
        bound = 1.0 / math.sqrt(fan)
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _conv(cin: int, cout: int, rngs: nnx.Rngs) -> nnx.Conv:
    fan_in = cin * 5 * 5
    return nnx.Conv(
        cin, cout, kernel_size=(5, 5), padding=2,
        kernel_init=_torch_uniform_init((0, 1, 2)),  # HWIO: fan_in = H * W * I
        bias_init=lambda k, s, d=jnp.float32: _torch_uniform_init(())(k, s, d, fan_in=fan_in),
        rngs=rngs,
    )


def _linear(cin: int, cout: int, rngs: nnx.Rngs) -> nnx.Linear:
    return nnx.Linear(
        cin, cout,
        kernel_init=_torch_uniform_init((0,)),  # (in, out): fan_in = in
        bias_init=lambda k, s, d=jnp.float32: _torch_uniform_init(())(k, s, d, fan_in=cin),
        rngs=rngs,
    )


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """MaxPool2d(2) on NHWC for even H and W, as a reshape and a max.

    Equal in value to flax's max_pool (non-overlapping 2x2 windows) and much
    faster on CPU. On exact ties inside a window the gradient is split between the
    tied elements where torch sends it to the first; Tudui has no ReLU, so its
    activations practically never tie.
    """
    n, h, w, c = x.shape
    return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


class Tudui(nnx.Module):
    """The lesson's CNN. ``Tudui(rngs=nnx.Rngs(0))(images)`` -> logits (N, 10).

    Args:
      rngs: parameter initialisation randomness (torch's default init scheme).

    Shape:
      Input: (N, 32, 32, 3) float images, NHWC (use ``nchw_to_nhwc`` for torch-layout
      batches). Output: (N, 10) logits.
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
                "for torch-layout (N, 3, 32, 32) batches call jaxloss.models.tudui.nchw_to_nhwc first"
            )
        x = max_pool_2x2(self.conv1(x))
        x = max_pool_2x2(self.conv2(x))
        x = max_pool_2x2(self.conv3(x))
        x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)  # torch's Flatten: C, H, W
        return self.linear2(self.linear1(x))


def nchw_to_nhwc(images: jax.Array) -> jax.Array:
    """(N, 3, 32, 32) torch-layout images -> (N, 32, 32, 3). Explicit, never guessed."""
    images = jnp.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"nchw_to_nhwc: images have shape {tuple(images.shape)}; expected (N, 3, H, W)")
    return jnp.transpose(images, (0, 2, 3, 1))


def num_params(model: nnx.Module) -> int:
    """Number of trainable parameters (145,578 for Tudui)."""
    return sum(x.size for x in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))
