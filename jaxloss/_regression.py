"""Regression losses: torch.nn.functional's l1_loss and mse_loss (and friends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _errors, _math, _promotion, _reduction
from ._reduction import reduce_loss


def pointwise_loss(
    fn: str,
    elementwise: Callable[[jax.Array, jax.Array], jax.Array],
    input: ArrayLike,
    target: ArrayLike,
    reduction: str,
    weight: ArrayLike | None = None,
    *,
    complex_ok: bool = False,
    integer_input_ok: bool = False,
) -> jax.Array:
    """Shared body of the elementwise regression losses.

    Validates dtypes (floating ``input``; a numeric ``target`` is promoted),
    broadcasts like torch (warning on a size mismatch), applies torch 2.13's
    optional per-element ``weight`` (shape of ``input``; 'mean' becomes
    sum(w * l) / sum(w)) and reduces. ``reduction`` must already be resolved.
    ``complex_ok``: complex input and target are accepted and the (real) loss is
    returned in the matching real dtype. ``integer_input_ok``: an integer or bool
    input is accepted when the target is floating (the promoted dtype).
    """
    if complex_ok:
        x = _errors.floating_or_complex_array(fn, "input", input)
        y = _errors.numeric_array(fn, "target", target)
    else:
        y = _errors.real_array(fn, "target", target)
        if integer_input_ok and jnp.issubdtype(y.dtype, jnp.floating):
            x = jnp.asarray(input)
        else:
            x = _errors.floating_array(fn, "input", input)
    # torch: broadcast_tensors(input, target) first, so these two promote plainly
    promoted: list[Any] = [x.dtype, y.dtype]
    if weight is not None:
        w = _errors.real_array(fn, "weight", weight)
        # torch: "Weights and input must have the same size."
        _errors.check_shape(fn, "weight", w, x.shape, " (the shape of input)")
        if _reduction.averages(reduction):  # torch 2.13: sum(errors * w) / sum(w), two 0-d sums
            promoted.append(w.dtype)
        else:  # torch: errors (the broadcast shape) * w (input's shape), shape-aware
            errors = x if x.ndim >= y.ndim else y
            promoted = [jax.ShapeDtypeStruct(errors.shape, jnp.result_type(*promoted)), w]
    compute, out = _promotion.compute_dtype(*promoted)
    if jnp.issubdtype(out, jnp.complexfloating):
        out = jnp.finfo(out).dtype  # torch: |z| is real, complex64 -> float32
    x, y = _errors.broadcast(fn, warn=True, input=x.astype(compute), target=y.astype(compute))
    loss = elementwise(x, y)
    if weight is None:
        return reduce_loss(loss, reduction).astype(out)
    w = w.astype(loss.dtype)  # the real dtype also for a complex input
    loss = loss * w
    return reduce_loss(loss, reduction, total_weight=jnp.sum(w)).astype(out)


def _resolve_pointwise_reduction(
    fn: str,
    size_average: bool | None,
    reduce: bool | None,
    reduction: str,
    weight: ArrayLike | None,
) -> str:
    """torch 2.13's l1/mse/huber: the unweighted path takes 'elementwise_mean' (the C++
    loss's get_enum, warning), the weighted path (Python) only 'none' | 'mean' | 'sum'."""
    if weight is None:
        return _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    return _reduction.resolve_reduction(size_average, reduce, reduction, fn=fn)


def l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> jax.Array:
    """Mean absolute error.

    Unreduced: ``l_i = |input_i - target_i|`` (times ``weight_i`` when given).

    Args:
      input: predictions, any shape, floating point or complex (then ``|z|`` is the
        modulus and the loss is real: complex64 gives float32).
      target: same shape as ``input`` (other broadcastable shapes warn, then
        broadcast); real or complex.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean', torch's deprecated
        alias of 'mean', warns; without ``weight`` only, as in torch). Default 'mean'.
      weight: optional per-element weight of ``input``'s shape; 'mean' is then
        sum(w * l) / sum(w).

    Shape:
      Input: (*), any number of dimensions. Target: (*), same shape.
      Output: scalar, or (*) for reduction='none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([1., 2., 3.]).reshape(1, 1, 1, 3)
      >>> y = jnp.array([1., 2., 5.]).reshape(1, 1, 1, 3)
      >>> print(f"{jaxloss.l1_loss(x, y):.4f}")
      0.6667

    Matches torch.nn.functional.l1_loss, including its gradient sgn(d), d =
    input - target: 0 where input == target (``jax.grad(jnp.abs)(0.)`` is 1) and
    where d is nan. For complex input the gradient is torch's d/|d| (0 at 0) in
    JAX's convention: ``jax.grad`` of the real loss w.r.t. a complex input is
    the complex conjugate of torch's ``.grad`` (so ``torch_grad ==
    jnp.conj(jax.grad(...))``); gradients w.r.t. real arguments are equal.
    Deliberate difference: an integer ``input`` is refused with TypeError
    (torch promotes it when the target is floating, and refuses two integer
    arguments for 'mean').
    """
    reduction = _resolve_pointwise_reduction("l1_loss", size_average, reduce, reduction, weight)
    return pointwise_loss(
        "l1_loss",
        lambda x, y: _math.abs(x - y),
        input,
        target,
        reduction,
        weight,
        complex_ok=True,
    )


def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> jax.Array:
    """Mean squared error.

    Unreduced: ``l_i = (input_i - target_i)^2`` (times ``weight_i`` when given).

    Args:
      input: predictions, any shape, floating point.
      target: same shape as ``input`` (other broadcastable shapes warn, then broadcast).
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'; without ``weight`` only, as in torch). Default 'mean'.
      weight: optional per-element weight of ``input``'s shape; 'mean' is then
        sum(w * l) / sum(w).

    Shape:
      Input: (*). Target: (*), same shape. Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([1., 2., 3.])
      >>> y = jnp.array([1., 2., 5.])
      >>> print(f"{jaxloss.mse_loss(x, y):.4f}")
      1.3333

    Matches torch.nn.functional.mse_loss. Deliberate difference: an integer
    ``input`` is refused with TypeError (torch promotes it when the target is
    floating, and raises NotImplementedError for two Long arguments).
    """
    reduction = _resolve_pointwise_reduction("mse_loss", size_average, reduce, reduction, weight)
    return pointwise_loss(
        "mse_loss", lambda x, y: jnp.square(x - y), input, target, reduction, weight
    )


# --- smooth_l1, huber, poisson_nll, gaussian_nll -----------------------------


def smooth_l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> jax.Array:
    """Smooth L1 loss: quadratic below ``beta``, linear above.

    Unreduced, with ``d = input - target``:
    ``l = 0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``.

    Args:
      input: predictions, any shape, floating point (integer or bool when the
        target is floating: promoted, as torch).
      target: same shape as ``input`` (other broadcastable shapes warn, then broadcast).
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.
      beta: where the loss turns from quadratic to linear; >= 0. Default 1.0.
        ``beta=0`` is exactly ``l1_loss`` (gradients 0 at d == 0, else +-1).

    Shape:
      Input: (*). Target: (*), same shape. Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([0.0, 0.5, 3.0])
      >>> print(f"{jaxloss.smooth_l1_loss(x, jnp.zeros(3)):.4f}")
      0.8750

    Matches torch.nn.functional.smooth_l1_loss, values and gradients: torch's
    backward formula (-1, d / beta, 1), so an infinite difference has gradient
    +-1 (differentiating the branches gives nan), and beta = 0 is l1_loss (torch
    dispatches to it) with gradient sgn(d), 0 where d is nan. Deliberate
    difference: a negative ``beta`` raises ValueError (torch: RuntimeError).
    """
    fn = "smooth_l1_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    _errors.check_real_number(fn, "beta", beta)
    # torch: "smooth_l1_loss does not support negative values for beta."
    _errors.check_nonnegative(fn, "beta", beta)
    return pointwise_loss(
        fn,
        lambda x, y: _math.smooth_l1(x - y, beta),
        input,
        target,
        reduction,
        integer_input_ok=True,
    )


def huber_loss(
    input: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: ArrayLike | None = None,
) -> jax.Array:
    """Huber loss: quadratic below ``delta``, linear (slope ``delta``) above.

    Unreduced, with ``d = input - target``:
    ``l = 0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``
    (times ``weight`` when given); equals ``delta * smooth_l1_loss(beta=delta)``.

    Args:
      input: predictions, any shape, floating point; the loss has its dtype
        (a float64 target is not promoted into a float32 input, as in torch).
      target: same shape as ``input`` (other broadcastable shapes warn, then broadcast).
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'; without ``weight`` only, as in torch). Default 'mean'.
      delta: the threshold, a float or int > 0. Default 1.0.
      weight: optional per-element weight of ``input``'s shape. Unlike
        l1_loss/mse_loss, torch 2.13's weighted 'mean' is ``mean(w * l)`` (divided
        by the element count, not by ``sum(w)``).

    Shape:
      Input: (*). Target: (*), same shape. Weight: (*), input's shape.
      Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([0.0, 0.5, 3.0])
      >>> print(f"{jaxloss.huber_loss(x, jnp.zeros(3), delta=2.0):.4f}")
      1.3750

    Matches torch.nn.functional.huber_loss, values and gradients: torch's
    backward formula (-delta, d, delta), so an infinite difference has gradient
    +-delta (differentiating the branches gives nan). A ``delta`` that is not a
    real number raises TypeError naming it (torch: TypeError). Deliberate
    difference: a non-positive ``delta`` raises ValueError (torch: RuntimeError).
    """
    fn = "huber_loss"
    reduction = _resolve_pointwise_reduction(fn, None, None, reduction, weight)
    _errors.check_real_number(fn, "delta", delta)
    # torch: "huber_loss does not support non-positive values for delta."
    _errors.check_positive(fn, "delta", delta)
    x_dtype = _errors.floating_array(fn, "input", input).dtype

    def elementwise(x, y):
        return _math.huber(x - y, delta)

    # torch: the unweighted loss has input's dtype (the target is cast into it)
    if weight is None:
        return pointwise_loss(fn, elementwise, input, target, reduction).astype(x_dtype)
    loss = pointwise_loss(fn, elementwise, input, target, "none").astype(x_dtype)
    w = _errors.real_array(fn, "weight", weight)
    # torch: "Weights and input must have the same size."
    _errors.check_shape(fn, "weight", w, jnp.shape(input), " (the shape of input)")
    compute, out = _promotion.compute_dtype(loss, w)  # torch: loss * weight, shape-aware
    # torch 2.13: weighted 'mean' is (l * w).mean(), not sum(w * l) / sum(w) as in l1/mse
    return reduce_loss(loss.astype(compute) * w.astype(compute), reduction).astype(out)


def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Negative log likelihood of a Poisson distribution with rate ``input``.

    Unreduced: ``l = exp(input) - target * input`` when ``log_input``, else
    ``l = input - target * log(input + eps)``; ``full`` adds Stirling's
    approximation of ``log(target!)``,
    ``target log(target) - target + 0.5 log(2 pi target)``, where target > 1.

    Args:
      input: the log-rate (``log_input=True``) or the rate, floating point.
      target: observed counts, broadcastable with ``input``.
      log_input: whether ``input`` is the log of the rate. Default True.
      full: add the Stirling term (only where target > 1). Default False.
      size_average: deprecated, use ``reduction``.
      eps: added to ``input`` inside the log when ``log_input=False``. Default 1e-8.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.

    Shape:
      Input: (*). Target: (*), broadcastable. Output: scalar, or the broadcast
      shape for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([0.0, 1.0])
      >>> y = jnp.array([1.0, 3.0])
      >>> print(f"{jaxloss.poisson_nll_loss(x, y):.4f}")
      0.3591

    Matches torch.nn.functional.poisson_nll_loss, values and gradients,
    including torch's nan gradient w.r.t. ``target`` where target == 0 and
    ``full=True`` (the masked Stirling term still back-propagates 0 * log 0).
    """
    fn = "poisson_nll_loss"
    reduction = _reduction.resolve_reduction(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    compute, out = _promotion.compute_dtype(x, y)
    x, y = _errors.broadcast(fn, input=x.astype(compute), target=y.astype(compute))
    if log_input:
        loss = jnp.exp(x) - y * x
    else:
        loss = x - y * jnp.log(x + eps)
    if full:
        stirling = y * jnp.log(y) - y + 0.5 * jnp.log(2 * jnp.pi * y)
        # torch: masked_fill(target <= 1, 0); the target's gradient stays nan where
        # target == 0 (0 * log 0 in the masked branch's backward), as it does here
        loss = loss + jnp.where(y > 1, stirling, 0.0)
    return reduce_loss(loss, reduction).astype(out)


_HALF_LOG_2PI = 0.9189385332046727  # 0.5 * log(2 * pi), a Python float as in torch


def _gaussian_var(fn: str, var: ArrayLike | float, input: jax.Array) -> jax.Array:
    """``var`` validated (non-negative, torch's accepted shapes) and shaped to broadcast."""
    # torch: "var has negative entry/entries"; the argument itself (jnp ops on it are traced)
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        _errors.check_nonnegative(fn, "var", var)
        return jnp.full(input.shape, var, input.dtype)
    v = _errors.real_array(fn, "var", var)
    _errors.check_nonnegative(fn, "var", var)
    if v.shape == input.shape:
        return v
    if v.shape == input.shape[:-1]:
        # torch: homoscedastic, one dim fewer -> unsqueeze(-1)
        return v[..., None]
    mismatched = [i for i, (a, b) in enumerate(zip(input.shape, v.shape)) if a != b]
    # torch: one dim of size 1 broadcasts; any other shape: "var is of incorrect size"
    ok = v.ndim == input.ndim and len(mismatched) == 1 and v.shape[mismatched[0]] == 1
    fmt, shape = _errors.fmt_shape, list(input.shape)
    hint = f" or e.g. {fmt(shape[:-1] + [1])} (one dim of size 1)" if shape else ""
    needs = f"{fmt(shape)}, {fmt(shape[:-1])} (one fewer dim){hint}, or a Python float"
    _errors.check_fits_input(fn, "var", v, input.shape, ok, "var of shape " + needs)
    return v


def gaussian_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> jax.Array:
    """Negative log likelihood of a Gaussian with mean ``input`` and variance ``var``.

    Unreduced: ``l = 0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps))``,
    plus ``0.5 log(2 pi)`` when ``full``.

    Args:
      input: the predicted mean, floating point.
      target: observations, broadcastable with ``input``.
      var: the predicted variance, >= 0: input's shape, input's shape with one
        dim of size 1, input's shape without its last dim, or a Python float.
      full: add the constant ``0.5 log(2 pi)``. Default False.
      eps: the floor for ``var``. Default 1e-6. The clamp is invisible to the
        gradient, as in torch (clamped under no_grad): below ``eps`` the
        gradient w.r.t. ``var`` is taken at ``eps`` (about -5e11 for |d| = 1).
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.

    Shape:
      Input: (N, *) or (*). Target: like input. Var: see above.
      Output: scalar, or the broadcast shape for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([0.0, 1.0])
      >>> print(f"{jaxloss.gaussian_nll_loss(x, jnp.zeros(2), jnp.ones(2)):.4f}")
      0.2500

    Matches torch.nn.functional.gaussian_nll_loss. Deliberate differences: a
    Python int ``var`` is accepted (torch raises TypeError), and negative
    entries of a traced ``var`` (under jit) are not detected (torch raises).
    """
    fn = "gaussian_nll_loss"
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    v = _gaussian_var(fn, var, x)
    reduction = _reduction.check_reduction(reduction, fn=fn)
    compute, out = _promotion.compute_dtype(x, y, v)  # var unsqueezed as torch's, so ndim counts
    x, y, v = _errors.broadcast(
        fn, input=x.astype(compute), target=y.astype(compute), var=v.astype(compute)
    )
    # torch: var.clamp_(min=eps) under torch.no_grad(): the gradient passes straight through
    v = _math.clamp_min_passthrough(v, eps)
    loss = 0.5 * (jnp.log(v) + (x - y) ** 2 / v)
    if full:
        loss = loss + _HALF_LOG_2PI
    return reduce_loss(loss, reduction).astype(out)
