"""Embedding losses: torch.nn.functional's pairwise_distance, cosine_embedding_loss,
triplet_margin_loss and triplet_margin_with_distance_loss."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _errors, _math, _promotion, _reduction
from ._errors import fmt_shape
from ._reduction import reduce_loss

# torch: Loss.cpp's `constexpr float EPSILON = 1e-12`, a float32 constant even for float64 inputs
_COSINE_EPSILON = float(np.float32(1e-12))


def _pairwise_distance(
    x1: jax.Array, x2: jax.Array, p: float, eps: float, keepdim: bool = False
) -> jax.Array:
    """``||x1 - x2 + eps||_p`` over the last axis of the broadcast shape; arrays already checked."""
    shape = jnp.broadcast_shapes(x1.shape, x2.shape)
    # torch: the norm is taken of x1 - x2 + eps, so x1 == x2 has a finite gradient
    diff = x1 - x2 + jnp.asarray(eps, x1.dtype)
    if not shape:  # torch: 0-d inputs give a 0-d distance, with or without keepdim
        return _math.vector_norm(diff.reshape(1), float(p), -1, False)
    return _math.vector_norm(jnp.broadcast_to(diff, shape), float(p), -1, keepdim)


def pairwise_distance(
    x1: ArrayLike,
    x2: ArrayLike,
    p: float = 2.0,
    eps: float = 1e-6,
    keepdim: bool = False,
) -> jax.Array:
    """p-norm distance between ``x1`` and ``x2`` along the last dimension.

    ``d = ||x1 - x2 + eps||_p`` over the last dimension of the broadcast shape
    (``eps`` is added to the difference, so ``x1 == x2`` gives a finite gradient).

    Args:
      x1: floating point, (N, D), (D,) or any shape broadcastable with ``x2``.
      x2: floating point, broadcastable with ``x1``.
      p: the norm degree (any real, including 0 and +-inf). Default 2.0.
      eps: added to the difference. Default 1e-6.
      keepdim: keep the reduced last dimension (size 1). Default False.

    Shape:
      x1, x2: (*, D), broadcastable. Output: (*), or (*, 1) with keepdim; () for
      0-d inputs.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[0.0, 0.0], [1.0, 1.0]])
      >>> b = jnp.array([[3.0, 4.0], [1.0, 1.0]])
      >>> print(jaxloss.pairwise_distance(a, b, eps=0.0))
      [5. 0.]

    Matches torch.nn.functional.pairwise_distance, including torch's norm
    gradients (0 for a zero difference with p=2, ties split for p=inf, 0 from a
    nan element for p=1 and p=+-inf, where torch's sgn(nan) is 0). An empty last
    dimension with p < 0 or p = +-inf raises ValueError (torch: RuntimeError).
    Deliberate difference: integer inputs are refused with TypeError.
    """
    fn = "pairwise_distance"
    a = _errors.floating_array(fn, "x1", x1)
    b = _errors.floating_array(fn, "x2", x2)
    _errors.check_norm_defined(fn, _errors.broadcast_shapes(fn, x1=a.shape, x2=b.shape), float(p))
    compute, out = _promotion.compute_dtype(a, b)
    return _compiled_pairwise_distance(
        a.astype(compute), b.astype(compute), p=float(p), eps=float(eps), keepdim=bool(keepdim)
    ).astype(out)


@_math.compiled
def _compiled_pairwise_distance(
    x1: jax.Array, x2: jax.Array, *, p: float, eps: float, keepdim: bool
) -> jax.Array:
    return _pairwise_distance(x1, x2, p, eps, keepdim)


def cosine_embedding_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Cosine similarity loss: pairs with ``target`` 1 should align, -1 should not.

    With ``cos = <x1, x2> / sqrt((||x1||^2 + 1e-12) (||x2||^2 + 1e-12))``::

        l_n = 1 - cos_n               if y_n == 1
        l_n = max(0, cos_n - margin)  if y_n == -1
        l_n = 0                       otherwise

    The 1e-12 (a float32 constant, as in torch) makes a zero vector's loss and
    gradient finite.

    Args:
      input1: floating point, (N, D) or (D,).
      input2: floating point, same number of dimensions, broadcastable with input1.
      target: +-1 labels, (N,) (or broadcastable to it) for 2-D inputs, () for 1-D inputs.
      margin: in [-1, 1]; 0 to 0.5 is typical. Default 0.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Input1, Input2: (N, D) or (D,). Target: (N,) or (). Output: scalar, or
      (N,) / () for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[1.0, 0.0], [1.0, 1.0]])
      >>> b = jnp.array([[1.0, 0.0], [1.0, 0.0]])
      >>> print(f"{jaxloss.cosine_embedding_loss(a, b, jnp.array([1.0, -1.0])):.4f}")
      0.3536

    Matches torch.nn.functional.cosine_embedding_loss, including the gradient at
    ``cos == margin`` for y = -1 (counted as active, as torch's clamp_min does).
    """
    fn = "cosine_embedding_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x1 = _errors.floating_array(fn, "input1", input1)
    x2 = _errors.floating_array(fn, "input2", input2)
    y = _errors.real_array(fn, "target", target)
    # torch: "0D or 1D target tensor expected, multi-target not supported"
    _errors.check_layout(fn, "target", y, y.ndim <= 1, "(N,) or ()")
    need = 2 if y.ndim == 1 else 1
    by = f"a {y.ndim}-d target {fmt_shape(y.shape)}"
    layout = "(N, D)" if need == 2 else "(D,)"
    _errors.check_inputs_ndim(fn, by, need, layout, input1=x1, input2=x2)
    shape = _errors.broadcast_shapes(fn, input1=x1.shape, input2=x2.shape)
    _errors.broadcast_shapes(fn, target=y.shape, cosine=shape[:-1])
    compute, out = _promotion.compute_dtype(x1, x2)  # torch: target only compared
    loss = _cosine_embedding(x1.astype(compute), x2.astype(compute), y, margin=float(margin))
    return reduce_loss(loss, reduction).astype(out)


@_math.compiled
def _cosine_embedding(x1: jax.Array, x2: jax.Array, y: jax.Array, *, margin: float) -> jax.Array:
    compute = x1.dtype
    eps = jnp.asarray(_COSINE_EPSILON, compute)
    prod_sum = jnp.sum(x1 * x2, axis=-1)
    mag_square1 = jnp.sum(x1 * x1, axis=-1) + eps
    mag_square2 = jnp.sum(x2 * x2, axis=-1) + eps
    cos = prod_sum / jnp.sqrt(mag_square1 * mag_square2)
    zero = jnp.zeros((), compute)
    pos = jnp.where(y == 1, 1 - cos, zero)
    neg = jnp.where(y == -1, _math.clamp_min_zero(cos - margin), zero)
    return pos + neg


def _triplet(
    dist_pos: jax.Array, dist_neg: jax.Array, dist_swap: jax.Array | None, margin: float
) -> jax.Array:
    if dist_swap is not None:
        # torch: at::min / torch.minimum split the gradient 0.5/0.5 at ties, as jnp.minimum
        dist_neg = jnp.minimum(dist_neg, dist_swap)
    return _math.clamp_min_zero(margin + dist_pos - dist_neg)


def triplet_margin_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Triplet loss: the anchor should be nearer the positive than the negative by ``margin``.

    With ``d(u, v) = pairwise_distance(u, v, p, eps)`` (``||u - v + eps||_p``)::

        l_i = max(0, margin + d(a_i, p_i) - d(a_i, n_i))

    and with ``swap``, ``d(a_i, n_i)`` is replaced by ``min(d(a_i, n_i), d(p_i, n_i))``.

    Args:
      anchor: floating point, (N, D) or (D,).
      positive: same number of dimensions as ``anchor`` (broadcastable).
      negative: same number of dimensions as ``anchor`` (broadcastable).
      margin: must be > 0. Default 1.0.
      p: the norm degree of the pairwise distance. Default 2.
      eps: added to the differences. Default 1e-6.
      swap: use the distance swap of Balntas et al. Default False.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Inputs: (N, D) or (D,) (any (*, D) works, the distance being over the last
      dimension). Output: scalar, or (N,) / () for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[0.0, 0.0]])
      >>> pos = jnp.array([[1.0, 0.0]])
      >>> neg = jnp.array([[1.5, 0.0]])
      >>> print(f"{jaxloss.triplet_margin_loss(a, pos, neg, eps=0.0):.4f}")
      0.5000

    Matches torch.nn.functional.triplet_margin_loss, including finite gradients
    for ``anchor == positive`` (eps is added to the difference), the gradient
    at the hinge boundary (counted as active, as torch's clamp_min does) and
    torch's gradients for nan inputs (0 for p = 1 or +-inf). An empty last
    dimension with p < 0 or p = +-inf raises ValueError (torch: RuntimeError).
    """
    fn = "triplet_margin_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    _errors.check_positive(fn, "margin", margin)
    a = _errors.floating_array(fn, "anchor", anchor)
    pos = _errors.floating_array(fn, "positive", positive)
    neg = _errors.floating_array(fn, "negative", negative)
    _errors.check_same_ndim(fn, anchor=a, positive=pos, negative=neg)
    shape = _errors.broadcast_shapes(fn, anchor=a.shape, positive=pos.shape, negative=neg.shape)
    _errors.check_norm_defined(fn, shape, float(p))
    compute, out = _promotion.compute_dtype(a, pos, neg)
    half = (jnp.float16, jnp.bfloat16)
    a, pos, neg = (v.astype(jnp.float32) if v.dtype in half else v for v in (a, pos, neg))
    loss = _triplet_margin(
        a,
        pos,
        neg,
        margin=float(margin),
        p=float(p),
        eps=float(eps),
        swap=bool(swap),
    )
    return reduce_loss(loss.astype(compute), reduction).astype(out)


def _pair_distance(x1: jax.Array, x2: jax.Array, p: float, eps: float) -> jax.Array:
    """One distance of a triplet in its own pair's dtype (as torch: mixing float32 and
    float64, d(a, n) of two float32 arrays is a float32 distance)."""
    dtype = jnp.result_type(x1.dtype, x2.dtype)
    return _pairwise_distance(x1.astype(dtype), x2.astype(dtype), p, eps)


@_math.compiled
def _triplet_margin(
    a: jax.Array, pos: jax.Array, neg: jax.Array, *, margin: float, p: float, eps: float, swap: bool
) -> jax.Array:
    dist_pos = _pair_distance(a, pos, p, eps)
    dist_neg = _pair_distance(a, neg, p, eps)
    dist_swap = _pair_distance(pos, neg, p, eps) if swap else None
    return _triplet(dist_pos, dist_neg, dist_swap, margin)


def triplet_margin_with_distance_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """Triplet loss with any distance: ``max(0, margin + d(a, p) - d(a, n))``.

    With ``swap``, ``d(a, n)`` is replaced by ``min(d(a, n), d(p, n))``.

    Args:
      anchor: floating point array.
      positive: floating point, same number of dimensions as ``anchor``.
      negative: floating point, same number of dimensions as ``anchor``.
      distance_function: a JAX callable ``(x1, x2) -> distances``; default
        ``pairwise_distance`` (p=2, eps=1e-6).
      margin: must be > 0. Default 1.0.
      swap: use the distance swap of Balntas et al. Default False.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.

    Shape:
      Inputs: (N, *) or (*), whatever ``distance_function`` takes. Output:
      scalar, or the distance's shape for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> l1 = lambda u, v: jnp.sum(jnp.abs(u - v), axis=-1)
      >>> a = jnp.array([[0.0, 0.0]])
      >>> pos = jnp.array([[1.0, 1.0]])
      >>> neg = jnp.array([[2.0, 0.0]])
      >>> loss = jaxloss.triplet_margin_with_distance_loss(a, pos, neg, distance_function=l1)
      >>> print(f"{loss:.4f}")
      1.0000

    Matches torch.nn.functional.triplet_margin_with_distance_loss (keyword-only
    options, no legacy size_average/reduce, as in torch). Half-precision inputs
    go to ``distance_function`` unchanged; the default distance computes them
    in float32 and returns their dtype.
    """
    fn = "triplet_margin_with_distance_loss"
    reduction = _reduction.check_reduction(reduction, fn=fn)
    _errors.check_positive(fn, "margin", margin)
    a = _errors.floating_array(fn, "anchor", anchor)
    pos = _errors.floating_array(fn, "positive", positive)
    neg = _errors.floating_array(fn, "negative", negative)
    _errors.check_same_ndim(fn, anchor=a, positive=pos, negative=neg)
    if distance_function is None:
        distance_function = pairwise_distance
    _errors.check_type(
        fn,
        "distance_function",
        distance_function,
        callable(distance_function),
        "a callable (x1, x2) -> distances or None",
    )
    dist_pos = distance_function(a, pos)
    dist_neg = distance_function(a, neg)
    dist_swap = distance_function(pos, neg) if swap else None
    return reduce_loss(_triplet(dist_pos, dist_neg, dist_swap, margin), reduction)
