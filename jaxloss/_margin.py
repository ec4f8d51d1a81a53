"""Margin losses: torch.nn.functional's hinge_embedding_loss, margin_ranking_loss,
multi_margin_loss and multilabel_margin_loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _derivatives, _errors, _math, _promotion, _reduction
from ._errors import fmt_shape
from ._reduction import reduce_loss


def hinge_embedding_loss(
    input: ArrayLike,
    target: ArrayLike,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Hinge embedding loss for a distance ``input`` and a +-1 similarity ``target``.

    Unreduced (torch's general form, which also covers targets other than +-1)::

        l_i = [y_i != 1] * max(0, margin - x_i) + [y_i != -1] * x_i

    so ``x_i`` for ``y_i = 1`` and ``max(0, margin - x_i)`` for ``y_i = -1``.

    Args:
      input: floating point, any shape (typically a distance, e.g. an L1 pairwise distance).
      target: +-1 labels, any real dtype, broadcastable with ``input``.
      margin: the hinge margin. Default 1.0.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Input: (*), any number of dimensions. Target: (*), broadcastable with input.
      Output: scalar, or the broadcast shape for reduction='none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([0.3, 2.0, 0.5])
      >>> y = jnp.array([1.0, -1.0, -1.0])
      >>> print(f"{jaxloss.hinge_embedding_loss(x, y):.4f}")
      0.2667

    Matches torch.nn.functional.hinge_embedding_loss, including the gradient -1
    at the hinge boundary ``x == margin`` (torch's clamp_min counts it as active).
    Deliberate difference: an integer ``input`` is refused with TypeError.
    """
    fn = "hinge_embedding_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    _errors.broadcast_shapes(fn, input=x.shape, target=y.shape)
    # torch: target is only compared, never mixed in
    compute, out = _promotion.compute_dtype(x.dtype)
    loss = _hinge_embedding(x.astype(compute), y, margin=float(margin))
    return reduce_loss(loss, reduction).astype(out)


@_math.compiled
def _hinge_embedding(x: jax.Array, y: jax.Array, *, margin: float) -> jax.Array:
    x, y = jnp.broadcast_arrays(x, y)
    zero = jnp.zeros((), x.dtype)
    return jnp.where(y != 1, _math.clamp_min_zero(margin - x), zero) + jnp.where(y != -1, x, zero)


def margin_ranking_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Ranking loss: ``input1`` should rank above ``input2`` where ``target`` is 1, below where -1.

    Unreduced: ``l_i = max(0, -y_i * (x1_i - x2_i) + margin)``.

    Args:
      input1: floating point scores.
      input2: floating point scores, same number of dimensions as ``input1``.
      target: +-1 labels, real dtype, same number of dimensions (differentiable when floating).
      margin: Default 0.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Input1: (N) or (). Input2, Target: same number of dimensions, broadcastable
      (torch broadcasts within equal ranks). Output: scalar, or the broadcast shape for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x1 = jnp.array([1.0, 2.0, 0.5])
      >>> x2 = jnp.array([0.5, 2.5, 0.5])
      >>> y = jnp.array([1.0, 1.0, -1.0])
      >>> print(f"{jaxloss.margin_ranking_loss(x1, x2, y, margin=0.1):.4f}")
      0.2333

    Matches torch.nn.functional.margin_ranking_loss, including the gradient at
    the boundary ``-y * (x1 - x2) + margin == 0`` (counted as active, as torch's
    clamp_min does).
    """
    fn = "margin_ranking_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x1 = _errors.floating_array(fn, "input1", input1)
    x2 = _errors.floating_array(fn, "input2", input2)
    y = _errors.real_array(fn, "target", target)
    # torch: "All input tensors should have same dimension"
    _errors.check_same_ndim(fn, input1=x1, input2=x2, target=y)
    _errors.broadcast_shapes(fn, input1=x1.shape, input2=x2.shape, target=y.shape)
    compute, out = _promotion.compute_dtype(x1, x2, y)
    loss = _margin_ranking(
        x1.astype(compute), x2.astype(compute), y.astype(compute), margin=float(margin)
    )
    return reduce_loss(loss, reduction).astype(out)


@_math.compiled
def _margin_ranking(x1: jax.Array, x2: jax.Array, y: jax.Array, *, margin: float) -> jax.Array:
    return _math.clamp_min_zero(-y * (x1 - x2) + margin)  # torch: broadcasts within equal ranks


def _check_class_input(fn: str, x: jax.Array) -> None:
    # torch: "Expected non-empty vector or matrix with optional 0-dim batch size"
    ok = x.ndim == 0 or (x.ndim == 1 and x.shape[0] > 0) or (x.ndim == 2 and x.shape[1] > 0)
    _errors.check_layout(fn, "input", x, ok, "(), (C,) or (N, C) with C > 0")


def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    p: int = 1,
    margin: float = 1.0,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Multi-class hinge loss of scores ``input`` against a class index ``target``.

    Unreduced, for sample n with class y = y_n and C classes::

        l_n = sum_{i != y} w_y * max(0, margin - x[n, y] + x[n, i]) ** p / C

    (``w_y = 1`` without ``weight``). 'mean' is the plain mean over N, even with
    ``weight``.

    Args:
      input: floating point scores.
      target: class indices in [0, C), any integer dtype.
      p: 1 or 2. Default 1.
      margin: Default 1.0; a scalar, may be traced.
      weight: optional (C,) weight per class, applied by the target class; of
        input's dtype (as torch).
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Input: (N, C), (C,) or () with C > 0. Target: (N,), or () / (1,) for an
      unbatched input (a () target with a (1, C) input is also accepted).
      Output: scalar; for 'none' (N,), or () when the target is ().

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[0.1, 0.2, 0.4, 0.8]])
      >>> print(f"{jaxloss.multi_margin_loss(x, jnp.array([3])):.4f}")
      0.3250

    Matches torch.nn.functional.multi_margin_loss, including gradient 0 at the
    hinge boundary (the kernel tests ``z > 0``). A concrete out-of-range target
    raises IndexError (torch: RuntimeError "target out of range"); a ``weight``
    of another dtype than ``input`` raises TypeError, as torch. Under ``jax.jit`` a
    traced out-of-range target gives that sample a nan loss and a nan gradient: all
    of it for 'mean' and 'sum', the sample's row for 'none'; inside
    ``jaxloss.checked()``, ``jax.experimental.checkify.checkify(f)`` raises "Target 5 is
    out of bounds." from inside jit instead (``err.throw()``). ``margin``
    may be traced. Deliberate differences: any integer target dtype is accepted
    (torch wants int64); half precision computes in float32 (torch has no CPU
    kernel); an empty batch gives nan for 'mean' (torch returns an uninitialised
    value); ``weight`` is differentiable (torch refuses).
    """
    fn = "multi_margin_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    _errors.check_choice(fn, "p", p, (1, 2))  # torch: "only p == 1 and p == 2 supported"
    x = _errors.floating_array(fn, "input", input)
    _check_class_input(fn, x)
    num_classes = 1 if x.ndim == 0 else x.shape[-1]
    nframe = x.shape[0] if x.ndim == 2 else 1
    t = _errors.integer_array(fn, "target", target, " (class indices)")
    needs = f"({nframe},)" + (" or ()" if nframe == 1 else "") + " (one class index per sample)"
    _errors.check_fits_input(fn, "target", t, x.shape, t.ndim <= 1 and t.size == nframe, needs)
    w: jax.Array | None = None
    if weight is not None:
        w = _errors.floating_array(fn, "weight", weight)
        _errors.check_ndim(fn, "weight", w, 1)  # torch: "weight must be one-dimensional"
        _errors.check_shape(
            fn, "weight", w, (num_classes,), f" (one weight per class, C={num_classes})"
        )
        # torch: "expected scalar type Float but found Half"
        _errors.check_weight_dtype(fn, w, x.dtype)
    _errors.check_ndim(fn, "margin", margin, 0)
    bad = _errors.out_of_range_classes(fn, target, num_classes)
    compute, out = _promotion.compute_dtype(x.dtype)

    xs = x.astype(compute).reshape(nframe, num_classes)
    if bad is not None:  # jit: nan gradient, all of it once reduced, else the sample's row
        bad = bad.reshape(nframe, 1)
        xs = _derivatives.poison_rows(xs, bad, reduction)
    loss = _multi_margin(
        xs,
        t.reshape(nframe),
        None if w is None else w.astype(compute),
        jnp.asarray(margin, compute),
        p=int(p),
    )
    if t.ndim == 0:
        loss = loss[0]  # torch: a 0-d target gives a 0-d unreduced loss
    return reduce_loss(loss, reduction).astype(out)


@_math.compiled
def _multi_margin(
    x: jax.Array, t: jax.Array, w: jax.Array | None, margin: jax.Array, *, p: int
) -> jax.Array:
    """(N,) unreduced loss of (N, C) scores ``x`` and (N,) classes ``t``."""
    num_classes = x.shape[1]
    t = _math.as_index(t)
    in_range = (t >= 0) & (t < num_classes)
    safe_t = jnp.where(in_range, t, 0)
    x_y = jnp.take_along_axis(x, safe_t[:, None], axis=1)
    z = margin - x_y + x  # torch: margin - input[target] + input[i], in that order
    h = _math.hinge_strict(z)
    if p == 2:
        h = h * h
    if w is not None:
        h = h * w[safe_t][:, None]
    not_target = jnp.arange(num_classes) != safe_t[:, None]
    loss = jnp.sum(jnp.where(not_target, h, jnp.zeros((), x.dtype)), axis=1) / num_classes
    # jit: an out-of-range class gives nan, never a wrapped or clamped class
    return jnp.where(in_range, loss, jnp.nan)


def multilabel_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Multi-label hinge loss: every target class should score 1 above every other class.

    ``target`` lists the sample's classes and is padded with -1: only the entries
    before the first -1 count (later entries are ignored). With J the listed
    classes (a class listed twice counts twice) and C classes::

        l_n = sum_{j in J} sum_{i not in J} max(0, 1 - (x[n, j] - x[n, i])) / C

    Args:
      input: floating point scores.
      target: integer class indices padded with -1, the shape of ``input``.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Input: (N, C), (C,) or () with C > 0. Target: same shape as input
      ((1,) is accepted for a () input). Output: scalar; for 'none' (N,), or ()
      for an unbatched input.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[0.1, 0.2, 0.4, 0.8]])
      >>> y = jnp.array([[3, 0, -1, 1]])
      >>> print(f"{jaxloss.multilabel_margin_loss(x, y):.4f}")
      0.8500

    Matches torch.nn.functional.multilabel_margin_loss, including gradient 0 at
    the hinge boundary (the kernel tests ``z > 0``). A concrete target value
    outside [-1, C) anywhere in the row raises IndexError (torch: RuntimeError).
    Under ``jax.jit`` a traced one gives that sample a nan loss and a nan gradient:
    all of it for 'mean' and 'sum', the sample's row for 'none'; inside
    ``jaxloss.checked()``, ``jax.experimental.checkify.checkify(f)`` raises "Target 5 is
    out of bounds." from inside jit instead (``err.throw()``).
    Deliberate differences: any integer target dtype is accepted; half precision
    computes in float32; an empty batch gives nan for 'mean' (torch returns an
    uninitialised value).
    """
    fn = "multilabel_margin_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    _check_class_input(fn, x)
    t = _errors.integer_array(fn, "target", target, " (class indices padded with -1)")
    num_classes = 1 if x.ndim == 0 else x.shape[-1]
    nframe = x.shape[0] if x.ndim == 2 else 1
    shape_ok = t.shape == x.shape if x.ndim == 2 else (t.ndim <= 1 and t.size == num_classes)
    needs = f"{fmt_shape(x.shape)} (class indices padded with -1)"
    _errors.check_fits_input(fn, "target", t, x.shape, shape_ok, needs)
    bad = _errors.out_of_range_classes(fn, target, num_classes, low=-1)
    compute, out = _promotion.compute_dtype(x.dtype)

    xs = x.astype(compute).reshape(nframe, num_classes)
    if bad is not None:  # jit: nan gradient, all of it once reduced, else the sample's row
        bad = jnp.any(bad.reshape(nframe, num_classes), axis=1, keepdims=True)
        xs = _derivatives.poison_rows(xs, bad, reduction)
    loss = _multilabel_margin(xs, t.reshape(nframe, num_classes))
    if x.ndim < 2:
        loss = loss[0]
    return reduce_loss(loss, reduction).astype(out)


@_math.compiled
def _multilabel_margin(x: jax.Array, t: jax.Array) -> jax.Array:
    """(N,) unreduced loss of (N, C) scores ``x`` and (N, C) -1-padded classes ``t``."""
    n, num_classes = x.shape
    t = _math.as_index(t)
    row_ok = jnp.all((t >= -1) & (t < num_classes), axis=1)
    # torch: the list stops at the first negative entry; a class listed twice counts twice
    listed = jnp.cumsum(t < 0, axis=1) == 0  # (N, slots)
    safe_t = jnp.where(listed & row_ok[:, None], t, 0)
    rows = jnp.arange(n)[:, None]
    marks = listed.astype(jnp.int32)
    is_target = jnp.zeros((n, num_classes), jnp.int32).at[rows, safe_t].max(marks)
    loss = _multilabel_hinge_sum(x, listed, safe_t, is_target == 0) / num_classes
    # jit: a target outside [-1, C) gives nan for its sample
    return jnp.where(row_ok, loss, jnp.nan)


def _multilabel_pass(x, listed, safe_t, not_target, with_grad: bool):
    """Per row, sum over listed slots k and non-targets i of z = 1 - x[t_k] + x[i] where
    z > 0, as torch's kernel: one (N, C) pass per slot, only up to the longest list, so
    O(N C K) for lists of at most K classes. With ``with_grad`` also d(sum)/dx."""
    n, num_classes = x.shape
    rows = jnp.arange(n)

    def body(k, carry):
        total, grad = carry
        j = jax.lax.dynamic_index_in_dim(safe_t, k, axis=1, keepdims=False)
        on = jax.lax.dynamic_index_in_dim(listed, k, axis=1, keepdims=False)
        z = (1 - x[rows, j])[:, None] + x  # torch: 1 - input[target] + input[i], in that order
        # torch: `if (z > 0)`: the boundary and nan add nothing and pass no gradient
        active = (z > 0) & not_target & on[:, None]
        total = total + jnp.sum(jnp.where(active, z, jnp.zeros((), x.dtype)), axis=1)
        if with_grad:
            a = active.astype(x.dtype)
            grad = (grad + a).at[rows, j].add(-jnp.sum(a, axis=1))
        return total, grad

    longest = jnp.max(jnp.sum(listed, axis=1, dtype=jnp.int32), initial=0)
    init = (jnp.zeros((n,), x.dtype), jnp.zeros_like(x) if with_grad else None)
    return jax.lax.fori_loop(0, longest, body, init)


@jax.custom_jvp
def _multilabel_hinge_sum(x, listed, safe_t, not_target):
    return _multilabel_pass(x, listed, safe_t, not_target, with_grad=False)[0]


@_multilabel_hinge_sum.defjvp
def _multilabel_hinge_sum_jvp(primals, tangents):
    # the loop runs on primals only, so reverse mode transposes just sum(grad * tangent)
    x, listed, safe_t, not_target = primals
    total, grad = _multilabel_pass(x, listed, safe_t, not_target, with_grad=True)
    return total, jnp.sum(grad * tangents[0], axis=1)
