"""Elementwise pieces whose gradients follow torch's autograd formulas, not JAX's."""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_jvp
def abs(x: jax.Array) -> jax.Array:  # noqa: A001 - mirrors torch.abs
    """|x| with torch's derivative sign(x): 0 at x == 0 (jnp.abs gives 1)."""
    return jnp.abs(x)


@abs.defjvp
def _abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # torch: d|x|/dx = sgn(x), which is 0 at x == 0
    return jnp.abs(x), jnp.sign(x) * t
