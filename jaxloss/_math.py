"""Elementwise pieces whose gradients follow torch's autograd formulas, not JAX's; the jit
wrapper of the loss bodies (`compiled`) and the int32 cast of class indices (`as_index`)."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp


def sgn(x: jax.Array) -> jax.Array:
    """torch.sgn: sign(x) for real x but 0 for nan (jnp.sign gives nan); x / |x| for
    complex x, 0 at 0. torch's backward formulas use it, so a nan passes no gradient."""
    if jnp.iscomplexobj(x):
        return jnp.sign(x)
    # torch: sign is (0 < x) - (x < 0), which is 0 for nan
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


@jax.custom_jvp
def abs(x: jax.Array) -> jax.Array:
    """|x| with torch's derivative sgn(x): 0 at x == 0 (jnp.abs gives 1) and at nan.

    For complex ``x`` the result is real and the derivative is torch's
    ``sgn(x) = x / |x|`` (0 at 0); ``jax.grad`` then returns the conjugate of
    torch's ``.grad`` (JAX's convention for real functions of complex inputs).
    """
    return jnp.abs(x)


@abs.defjvp
def _abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # torch: d|x|/dx = sgn(x), which is 0 at x == 0 and for nan
    if jnp.iscomplexobj(x):
        # d|z| = Re(conj(sgn z) dz)
        return jnp.abs(x), jnp.real(jnp.conj(sgn(x)) * t)
    return jnp.abs(x), sgn(x) * t


# --- binary and regression primitives -------------------------------------------
@jax.custom_jvp
def clamp_min_passthrough(x: jax.Array, low: float) -> jax.Array:
    """max(x, low) whose derivative is 1 everywhere, to every order (the clamp is
    invisible to autograd).

    torch's gaussian_nll_loss clamps ``var`` in place under ``torch.no_grad()``,
    so derivatives of every order are taken at the clamped value but flow
    straight through (e.g. the second derivative below ``eps`` is not 0).
    """
    return jnp.maximum(x, low)


@clamp_min_passthrough.defjvp
def _clamp_min_passthrough_jvp(primals, tangents):
    (x, low), (t, _) = primals, tangents
    # torch: var.clamp_(min=eps) under no_grad -> d/dvar is the identity; the primal
    # output is this function again, so higher derivatives pass straight through too
    return clamp_min_passthrough(x, low), t


def _positive_or_one(h: jax.Array | float, dtype: jnp.dtype) -> jax.Array:
    h = jnp.asarray(h, dtype)
    return jnp.where(h > 0, h, jnp.ones((), dtype))


@jax.custom_jvp
def smooth_l1(d: jax.Array, beta: jax.Array | float) -> jax.Array:
    """torch's smooth_l1 of a difference ``d``: 0.5 d^2 / beta if |d| < beta else |d| - beta / 2.

    The derivative is torch's backward formula, not autodiff of the branches:
    -1 for d <= -beta, 1 for d >= beta, d / beta between (so +-1 at d = +-inf, nan
    for a nan d). ``beta == 0`` is torch's l1_loss: derivative sgn(d), 0 at 0 and
    for nan. Not differentiable in ``beta`` (a float in torch).
    """
    z = jnp.abs(d)
    quadratic = 0.5 * z * z / _positive_or_one(beta, d.dtype)
    return jnp.where(z < beta, quadratic, z - 0.5 * beta)


@smooth_l1.defjvp
def _smooth_l1_jvp(primals, tangents):
    (d, beta), (t, _) = primals, tangents
    one = jnp.ones((), d.dtype)
    # torch: smooth_l1_loss_backward, x <= -beta ? -1 : x >= beta ? 1 : x / beta
    slope = jnp.where(
        d <= -beta, -one, jnp.where(d >= beta, one, d / _positive_or_one(beta, d.dtype))
    )
    # torch: beta == 0 dispatches to l1_loss, whose derivative is sgn(d)
    slope = jnp.where(beta == 0, sgn(d), slope)
    return smooth_l1(d, beta), slope * t


@jax.custom_jvp
def huber(d: jax.Array, delta: jax.Array | float) -> jax.Array:
    """torch's huber of a difference ``d``: 0.5 d^2 if |d| < delta else delta (|d| - delta / 2).

    The derivative is torch's backward formula: -delta for d <= -delta, delta for
    d >= delta, d between (so +-delta at d = +-inf, nan for a nan d). Not
    differentiable in ``delta`` (a float in torch).
    """
    z = jnp.abs(d)
    return jnp.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))


@huber.defjvp
def _huber_jvp(primals, tangents):
    (d, delta), (t, _) = primals, tangents
    delta_ = jnp.asarray(delta, d.dtype)
    # torch: huber_loss_backward, x <= -delta ? -delta : x >= delta ? delta : x
    slope = jnp.where(d <= -delta, -delta_, jnp.where(d >= delta, delta_, d))
    return huber(d, delta), slope * t


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
    """log1p(exp(u)) as torch's soft_margin_loss evaluates it (no softplus).

    Accurate for very negative u (log1p(exp(-20)) = 2.061e-9 in float32, where
    log(1 + exp(-20)) rounds to 0), and overflows like torch: ``inf`` once exp(u)
    does (u > ~88.7 in float32), with a nan derivative. The derivative is torch's
    ``z / (1 + z)``, z = exp(u), which stays 1 where autodiff's
    ``exp(u) * (1 / (1 + exp(u)))`` underflows to 0.
    """
    return jnp.log1p(jnp.exp(u))


@log_one_plus_exp.defjvp
def _log_one_plus_exp_jvp(primals, tangents):
    (u,), (t,) = primals, tangents
    z = jnp.exp(u)
    # torch: exp_().log1p_() forward; backward -norm * y * z / (1 + z) * grad
    return jnp.log1p(z), z / (1 + z) * t


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


# --- margin and embedding losses -----------------------------------------------
@jax.custom_jvp
def clamp_min_zero(x: jax.Array) -> jax.Array:
    """torch.clamp_min(x, 0): max(x, 0) (nan stays nan) with gradient 1 where x >= 0.

    The boundary x == 0 counts as active, as torch's clamp_min backward
    (``grad * (x >= min)``) does; ``jnp.maximum`` would give 0.5 there.
    """
    return jnp.maximum(x, jnp.zeros((), x.dtype))


@clamp_min_zero.defjvp
def _clamp_min_zero_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # torch: clamp_min passes the gradient where x >= 0, boundary included
    return clamp_min_zero(x), jnp.where(x >= 0, t, jnp.zeros_like(t))


@jax.custom_jvp
def hinge_strict(x: jax.Array) -> jax.Array:
    """``x if x > 0 else 0`` as torch's multi_margin / multilabel_margin kernels compute it.

    Gradient 1 where x > 0 and 0 at the boundary x == 0; a nan gives 0 (the
    kernels test ``z > 0``, which is false for nan).
    """
    return jnp.where(x > 0, x, jnp.zeros((), x.dtype))


@hinge_strict.defjvp
def _hinge_strict_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # torch: `if (z > 0)` in the CPU kernels, so the boundary gets no gradient
    return hinge_strict(x), jnp.where(x > 0, t, jnp.zeros_like(t))


def _norm_value(x: jax.Array, p: float, axis: int, keepdims: bool) -> jax.Array:
    a = jnp.abs(x)
    if p == 2.0:
        return jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))
    if p == 1.0:
        return jnp.sum(a, axis=axis, keepdims=keepdims)
    if p == float("inf"):
        return jnp.max(a, axis=axis, keepdims=keepdims, initial=0.0)
    if p == float("-inf"):
        return jnp.min(a, axis=axis, keepdims=keepdims, initial=float("inf"))
    if p == 0.0:
        return jnp.sum((x != 0).astype(x.dtype), axis=axis, keepdims=keepdims)
    return jnp.sum(a**p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def vector_norm(x: jax.Array, p: float = 2.0, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """torch.linalg.vector_norm(x, p, axis, keepdims) with torch's gradient (norm_backward).

    Differs from differentiating the formula where the norm or an element is 0:
    p=2 gives gradient 0 for an all-zero vector (not nan), p=1 gives sgn(x)
    (0 at 0), p=+-inf splits the gradient evenly between tied extreme elements,
    p=0 has gradient 0, 0 < p < 1 and p < 0 give 0 at zero elements.
    """
    return _norm_value(x, p, axis, keepdims)


vector_norm = jax.custom_jvp(vector_norm, nondiff_argnums=(1, 2, 3))


@vector_norm.defjvp
def _vector_norm_jvp(p, axis, keepdims, primals, tangents):
    (x,), (t,) = primals, tangents
    out = _norm_value(x, p, axis, keepdims)
    # torch's norm_backward uses sgn, which is 0 for nan (jnp.sign gives nan)
    sign = sgn(x)
    n = _norm_value(x, p, axis, True)
    zero = jnp.zeros((), x.dtype)
    n_safe = jnp.where(n == 0, jnp.ones((), x.dtype), n)
    a = jnp.abs(x)
    # torch: FunctionsManual.cpp norm_backward, case by case
    if p == 0.0:
        coef = jnp.zeros_like(x)
    elif p == 1.0:
        coef = sign
    elif p == 2.0:
        coef = jnp.where(n == 0, zero, x / n_safe)
    elif p in (float("inf"), float("-inf")):
        mask = ((a == n) | jnp.isnan(a)).astype(x.dtype)
        coef = sign * mask / jnp.sum(mask, axis=axis, keepdims=True)
    elif p < 1.0:
        a_safe = jnp.where(x == 0, jnp.ones((), x.dtype), a)
        coef = sign * jnp.where(x == 0, zero, a_safe ** (p - 1)) * n ** (1 - p)
    elif p < 2.0:
        coef = sign * a ** (p - 1) * jnp.where(n == 0, zero, 1 / n_safe ** (p - 1))
    else:
        coef = x * a ** (p - 2) * jnp.where(n == 0, zero, 1 / n_safe ** (p - 1))
    return out, jnp.sum(coef * t, axis=axis, keepdims=keepdims)


# --- box losses ---------------------------------------------------------------
def _selected(t: jax.Array, won: jax.Array, tie: jax.Array) -> jax.Array:
    """``t`` where its argument won, half of it at a tie, 0 (not 0 * t) where it lost."""
    zero = jnp.zeros((), t.dtype)
    return jnp.where(tie, 0.5 * t, jnp.where(won, t, zero))


@jax.custom_jvp
def maximum(a: jax.Array, b: jax.Array) -> jax.Array:
    """torch.maximum (nan propagates) with torch's derivative: the larger argument gets
    the gradient, a tie splits it in halves, and a nan comparison (neither larger) passes
    it to both, where ``jnp.maximum``'s derivative passes it to neither. The smaller
    argument gets exactly 0, even from a nan gradient."""
    return jnp.maximum(a, b)


@maximum.defjvp
def _maximum_jvp(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    # torch: where(a == b, grad / 2, grad).masked_fill_(a < b, 0), the same for b
    tie = a == b
    return jnp.maximum(a, b), _selected(ta, ~(a < b), tie) + _selected(tb, ~(a > b), tie)


@jax.custom_jvp
def minimum(a: jax.Array, b: jax.Array) -> jax.Array:
    """torch.minimum with torch's derivative (``maximum``'s, mirrored)."""
    return jnp.minimum(a, b)


@minimum.defjvp
def _minimum_jvp(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    # torch: where(a == b, grad / 2, grad).masked_fill_(a > b, 0), the same for b
    tie = a == b
    return jnp.minimum(a, b), _selected(ta, ~(a > b), tie) + _selected(tb, ~(a < b), tie)


@jax.custom_jvp
def divide(a: jax.Array, b: jax.Array) -> jax.Array:
    """a / b with torch's derivative w.r.t. b, ``-(a / b) / b``: finite where ``b**2``
    underflows to 0 or overflows (JAX's ``-a * b**-2`` gives inf or nan there)."""
    return a / b


@divide.defjvp
def _divide_jvp(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    out = a / b
    # torch: grad / other for self, -grad * ((self / other) / other) for other; written with
    # 1 / b because XLA rewrites (a / b) / b to a / (b * b)
    return out, ta / b - tb * (out * (1 / b))


def compiled(body):
    """``jax.jit`` with every keyword-only argument (the hyperparameters) static.

    After validation each loss body runs as one compiled program per shape, so an
    eager call costs one XLA dispatch instead of one per jnp operation (under an
    outer jit it simply inlines).
    """
    params = inspect.signature(body).parameters.values()
    return jax.jit(body, static_argnames=[q.name for q in params if q.kind is q.KEYWORD_ONLY])


def as_index(t: jax.Array) -> jax.Array:
    """Integer class indices at least 32 bits wide (int8/int16/uint8 to int32, as a
    gather or a comparison with an index of C classes needs); wider ones as they are."""
    return t.astype(jnp.int32) if t.dtype.itemsize < 4 else t
