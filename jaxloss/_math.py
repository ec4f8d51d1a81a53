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


# --- binary and regression primitives (issue 5, part A) ------------------------
@jax.custom_jvp
def clamp_min_passthrough(x: jax.Array, low: float) -> jax.Array:
    """max(x, low) whose derivative is 1 everywhere (the clamp is invisible to autograd).

    torch's gaussian_nll_loss clamps ``var`` in place under ``torch.no_grad()``,
    so the gradient is taken at the clamped value but flows straight through.
    """
    return jnp.maximum(x, low)


@clamp_min_passthrough.defjvp
def _clamp_min_passthrough_jvp(primals, tangents):
    (x, low), (t, _) = primals, tangents
    # torch: var.clamp_(min=eps) under no_grad -> d/dvar is the identity
    return jnp.maximum(x, low), t


@jax.custom_jvp
def binary_cross_entropy(p: jax.Array, y: jax.Array) -> jax.Array:
    """-(y log p + (1 - y) log(1 - p)) with both logs clamped at -100, as torch.

    Derivatives are torch's backward formulas, not autodiff of the clamped logs:
    d/dp = (p - y) / max(p (1 - p), 1e-12) (so -1e12 at p = 0, y = 1 instead of
    nan) and d/dy = -logit(p) = -log(p / (1 - p)) (unclamped: +-inf at p in {0, 1}).
    """
    # torch: (y - 1) * max(log(1 - p), -100) - y * max(log(p), -100)
    return (y - 1) * jnp.maximum(jnp.log1p(-p), -100.0) - y * jnp.maximum(jnp.log(p), -100.0)


@binary_cross_entropy.defjvp
def _binary_cross_entropy_jvp(primals, tangents):
    (p, y), (tp, ty) = primals, tangents
    out = binary_cross_entropy(p, y)
    # torch: grad_input = (p - y) / max((1 - p) * p, EPSILON), EPSILON a float 1e-12 even in f64
    dp = (p - y) / jnp.maximum((1 - p) * p, _BCE_EPSILON)
    # torch: binary_cross_entropy_target_backward = -logit(p)
    dy = -jnp.log(p / (1 - p))
    return out, dp * tp + dy * ty


# torch: `constexpr float EPSILON = 1e-12;` in Loss.cpp, i.e. float32(1e-12) in every dtype
_BCE_EPSILON = 9.999999960041972e-13


@jax.custom_jvp
def log_one_plus_exp(u: jax.Array) -> jax.Array:
    """log(1 + exp(u)) evaluated literally, as torch's soft_margin_loss does (no softplus).

    Overflows like torch: ``inf`` once exp(u) does (u > ~88.7 in float32), with a
    nan derivative. The derivative is torch's ``z / (1 + z)``, z = exp(u), which
    stays 1 where autodiff's ``exp(u) * (1 / (1 + exp(u)))`` underflows to 0.
    """
    return jnp.log(1 + jnp.exp(u))


@log_one_plus_exp.defjvp
def _log_one_plus_exp_jvp(primals, tangents):
    (u,), (t,) = primals, tangents
    z = jnp.exp(u)
    # torch: soft_margin_loss_backward = -norm * y * z / (1 + z) * grad
    return jnp.log(1 + z), z / (1 + z) * t


@jax.custom_jvp
def log_sigmoid(x: jax.Array) -> jax.Array:
    """log(sigmoid(x)) as torch's CPU kernel: min(x, 0) - log1p(exp(-|x|)), stable for any x.

    Derivative as torch's log_sigmoid_backward, from the same z = exp(-|x|):
    1 - z / (1 + z) for x < 0, z / (1 + z) otherwise. (jax.nn.log_sigmoid goes
    through logaddexp and is about twice as slow under value_and_grad.)
    """
    return jnp.minimum(x, 0) - jnp.log1p(jnp.exp(-jnp.abs(x)))


@log_sigmoid.defjvp
def _log_sigmoid_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    z = jnp.exp(-jnp.abs(x))
    s = z / (1 + z)
    # torch: (max_deriv - sign * z / (1 + z)) * grad, max_deriv/sign = 1/1 for x < 0, else 0/-1
    return jnp.minimum(x, 0) - jnp.log1p(z), jnp.where(x < 0, 1 - s, s) * t
