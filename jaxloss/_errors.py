"""Argument checks shared by every loss. One helper per kind of error."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

REDUCTIONS = ("none", "mean", "sum")


def _fmt(shape: Iterable[int]) -> str:
    shape = tuple(shape)
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_reduction(
    reduction: Any, allowed: tuple[str, ...] = REDUCTIONS, *, fn: str | None = None
) -> str:
    """Return ``reduction`` or raise torch's ValueError, naming ``fn``, for an unknown one."""
    if not isinstance(reduction, str) or reduction not in allowed:
        names = [repr(a) for a in allowed]
        expected = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        where = f"{fn}: " if fn else ""
        # torch: "<value> is not a valid value for reduction"
        raise ValueError(
            f"{where}{reduction} is not a valid value for reduction; expected {expected}"
        )
    return reduction


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """Map torch's deprecated ``size_average``/``reduce`` pair onto ``reduction``.

    Exactly torch's ``_Reduction.legacy_get_string``: either flag set overrides
    ``reduction``; None counts as True; (True, True) -> 'mean', (False, True) ->
    'sum', reduce=False -> 'none'.
    """
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
        DeprecationWarning,
        stacklevel=3,
    )
    return ret


def resolve_reduction(
    size_average: bool | None,
    reduce: bool | None,
    reduction: str,
    allowed: tuple[str, ...] = REDUCTIONS,
    *,
    fn: str | None = None,
) -> str:
    """Legacy flags first (as torch does), then validate the resulting string."""
    return check_reduction(legacy_reduction(size_average, reduce, reduction), allowed, fn=fn)


def given_dtype(x: Any, converted: jax.Array) -> str:
    """The dtype the caller gave for ``x`` (``converted`` is ``jnp.asarray(x)``): without x64
    mode JAX narrows int64 and float64 to 32 bits, and a message names what was passed."""
    given = getattr(x, "dtype", None)
    return str(converted.dtype if given is None else given)


def _as_array(x: Any) -> tuple[jax.Array, str]:
    """``x`` as a jax array, and the name of the dtype the caller gave."""
    array = jnp.asarray(x)
    return array, given_dtype(x, array)


def floating_array(fn: str, name: str, x: Any) -> jax.Array:
    """``x`` as a floating-point jax array; TypeError naming ``name`` otherwise."""
    x, given = _as_array(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{fn}: {name} has dtype {given} but a floating-point dtype "
            f"(float16, bfloat16, float32, float64) is required; "
            f"convert it first, e.g. {name}.astype(jnp.float32)"
        )
    return x


def integer_array(fn: str, name: str, x: Any, hint: str = "") -> jax.Array:
    """``x`` as an integer jax array (any width, signed or not); TypeError otherwise."""
    x, given = _as_array(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{fn}: {name} has dtype {given} but an integer dtype is required{hint}")
    return x


def real_array(fn: str, name: str, x: Any) -> jax.Array:
    """A numeric (integer or floating, not bool/complex) jax array; TypeError otherwise."""
    x, given = _as_array(x)
    if x.dtype == jnp.bool_ or not (
        jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
    ):
        raise TypeError(f"{fn}: {name} has dtype {given}; a real numeric dtype is required")
    return x


def broadcast_pair(fn: str, input: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array]:
    """torch's elementwise-loss broadcasting: warn on a size mismatch, then broadcast.

    Non-broadcastable shapes raise ValueError naming both shapes.
    """
    if input.shape == target.shape:
        return input, target
    try:
        shape = np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(
            f"{fn}: input has shape {_fmt(input.shape)} and target has shape "
            f"{_fmt(target.shape)}, which do not broadcast; give them the same shape"
        ) from None
    # torch: UserWarning, then torch.broadcast_tensors
    warnings.warn(
        f"{fn}: Using a target size {_fmt(target.shape)} that is different to the input size "
        f"{_fmt(input.shape)}. This will likely lead to incorrect results due to broadcasting. "
        "Please ensure they have the same size.",
        UserWarning,
        stacklevel=3,
    )
    return jnp.broadcast_to(input, shape), jnp.broadcast_to(target, shape)


def check_shape(fn: str, name: str, x: jax.Array, expected: tuple[int, ...], why: str = "") -> None:
    """ValueError unless ``x.shape == expected``."""
    if tuple(x.shape) != tuple(expected):
        raise ValueError(
            f"{fn}: {name} has shape {_fmt(x.shape)} but {_fmt(expected)} is required{why}"
        )


def check_in_features(fn: str, x: jax.Array, linear_weight: jax.Array) -> None:
    """ValueError unless ``linear_weight`` (torch's layout, (C, ..., in_features)) ends in
    ``x``'s last dimension; a flax-layout (in_features, C) kernel gets a ``.T`` hint."""
    in_features, w = x.shape[-1], linear_weight
    if w.shape[-1] == in_features:
        return
    hint = ""
    if w.ndim == 2 and w.shape[0] == in_features:
        hint = (
            "; linear_weight looks like a flax-layout (in_features, C) kernel, torch's layout "
            "is (C, in_features): pass linear_weight.T"
        )
    raise ValueError(
        f"{fn}: input has shape {_fmt(x.shape)} and linear_weight {_fmt(w.shape)}; "
        f"their last dimensions (in_features) must be equal, got {in_features} and "
        f"{w.shape[-1]}{hint}"
    )


def is_concrete(x: Any) -> bool:
    """True when ``x`` has known values now (not a tracer under jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def check_class_indices(
    fn: str,
    target: ArrayLike,
    num_classes: int,
    ignore_index: int | None = None,
    *,
    low: int = 0,
) -> None:
    """torch's IndexError for an out-of-range class index, when the target is concrete.

    Valid values are ``low .. num_classes - 1`` (``low=-1`` where -1 pads a list of
    classes, as in multilabel_margin_loss) and ``ignore_index`` when given. Under jit
    the values are unknown at trace time; the losses return nan there instead.
    """
    if not is_concrete(target):
        return
    t = np.asarray(target)
    bad = (t < low) | (t >= num_classes)
    if ignore_index is not None:
        bad &= t != ignore_index
    if bad.any():
        value = t[bad].flat[0]
        also = "" if ignore_index is None else f" or equal ignore_index={ignore_index}"
        raise IndexError(
            f"{fn}: Target {value} is out of bounds. Class indices must lie in "
            f"[{low}, {num_classes - 1}]{also}."
        )


def _category(dtype: np.dtype) -> int:
    """torch's promotion categories: bool < integer < floating < complex."""
    if dtype == np.bool_:
        return 0
    if jnp.issubdtype(dtype, jnp.integer):
        return 1
    return 2 if jnp.issubdtype(dtype, jnp.floating) else 3


def _as_tensor(a: Any) -> tuple[np.dtype, bool]:
    """(dtype, dimensioned) of an array-like (``.shape`` and ``.dtype``) or a plain dtype
    (counted as dimensioned)."""
    if hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, (type, np.dtype)):
        return jnp.dtype(a.dtype), len(a.shape) > 0
    return jnp.dtype(a), True


def result_type(*args: Any) -> np.dtype:
    """torch's shape-aware type promotion (``torch.result_type``) of arrays and dtypes.

    An argument with ``.shape`` and ``.dtype`` (a jax/numpy array, a
    ``jax.ShapeDtypeStruct``) counts as a tensor of that many dimensions; a plain dtype
    counts as a dimensioned tensor. Dimensioned tensors (ndim >= 1) promote among
    themselves; the 0-d ones only change the result when their category (bool < integer
    < floating < complex) is higher: float32 ``(2,)`` with float64 ``()`` is float32,
    int64 ``(2,)`` with float16 ``()`` is float16, float32 ``(2,)`` with complex128 ``()``
    is complex64 (the floating width kept). Plain dtypes only: ``jnp.result_type``.
    """
    dims: list[np.dtype] = []
    zeros: list[np.dtype] = []
    for a in args:
        dtype, dimensioned = _as_tensor(a)
        (dims if dimensioned else zeros).append(dtype)
    if not dims or not zeros:
        return jnp.result_type(*(dims or zeros))
    dim, zero = jnp.result_type(*dims), jnp.result_type(*zeros)
    if _category(zero) <= _category(dim):
        return dim
    if _category(dim) == 2:  # a complex 0-d tensor next to floating ones keeps their width
        # (torch gives complex32 for float16/bfloat16; jax has none, so complex64)
        return jnp.dtype(jnp.complex128 if dim == jnp.float64 else jnp.complex64)
    return zero  # bool -> the 0-d integer type; integer -> the 0-d floating/complex type


def compute_dtype(*args: Any) -> tuple[np.dtype, np.dtype]:
    """(dtype to compute in, dtype to return). Pass the arrays, not their dtypes, where a
    0-d one is possible: the result is torch's shape-aware ``result_type(*args)``. The
    computation runs in the widest dtype of them all (plain ``jnp.result_type``), since
    torch computes a 0-d float64 argument's own terms in float64 before they meet the
    float32 ones (poisson_nll_loss's ``log(input + eps)`` of a tiny 0-d input is finite
    there, -inf in float32). Half types compute in float32, as torch's CPU kernels
    accumulate, and return in their own dtype."""
    out = result_type(*args)
    compute = jnp.result_type(*(_as_tensor(a)[0] for a in args))
    if compute in (jnp.float16, jnp.bfloat16):
        compute = jnp.dtype(jnp.float32)
    return compute, out


def check_choice(fn: str, name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """ValueError unless ``value`` is one of ``allowed`` (used by a class and its functional)."""
    if value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise ValueError(f"{fn}: {name} must be {choices}, got {value!r}")


def check_positive(fn: str, name: str, value: Any) -> None:
    """ValueError unless ``value > 0`` (e.g. torch's triplet margins)."""
    if not value > 0:
        # torch: ValueError("margin must be greater than 0, got ...")
        raise ValueError(f"{fn}: {name} must be greater than 0, got {value}")


def check_ndim(fn: str, name: str, x: Any, ndim: int) -> None:
    """ValueError unless ``x`` has ``ndim`` dimensions."""
    if np.ndim(x) != ndim:
        dims = {1: "one", 2: "two"}.get(ndim, str(ndim))
        shape = _fmt(np.shape(x))
        raise ValueError(f"{fn}: {name} has shape {shape} but must be {dims}-dimensional")


def concrete_values(x: Any) -> np.ndarray | None:
    """``x``'s values as a numpy array when they are known now, else None.

    Pass the argument as the caller gave it, before ``jnp.asarray``: under ``jax.jit``
    a closed-over numpy or jax array is known, but ``jnp.asarray`` of a numpy array
    is a tracer and any jnp operation on a closed-over jax array is traced, so
    ``bool(jnp.all(...))`` raises there. Value checks run on this numpy copy.
    """
    if isinstance(x, jax.core.Tracer):
        return None
    try:
        return np.asarray(x)
    except jax.errors.TracerArrayConversionError:  # e.g. a list holding tracers
        return None


def resolve_reduction_alias(
    size_average: bool | None,
    reduce: bool | None,
    reduction: Any,
    allowed: tuple[str, ...] = REDUCTIONS,
    *,
    fn: str | None = None,
) -> str:
    """``resolve_reduction`` that also takes torch's deprecated alias 'elementwise_mean'.

    As torch's ``_Reduction.get_enum``: 'elementwise_mean' means 'mean' and warns
    (UserWarning). The legacy flags, when given, replace ``reduction`` first, so the
    alias is then never seen (as in torch).
    """
    if size_average is None and reduce is None and reduction == "elementwise_mean":
        # torch: UserWarning from _Reduction.get_enum
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            UserWarning,
            stacklevel=3,
        )
        reduction = "mean"
    return resolve_reduction(size_average, reduce, reduction, allowed, fn=fn)


def check_real_number(fn: str, name: str, value: Any) -> None:
    """TypeError unless ``value`` is a real number: a Python/numpy int or float (bool
    counts, as in torch) or a 0-d real array, traced or not (e.g. huber's ``delta``)."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return
    dtype = getattr(value, "dtype", None)
    if (
        dtype is not None
        and np.ndim(value) == 0
        and (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer))
    ):
        return
    # torch: TypeError "<fn>(): argument '<name>' must be float, not <type>"
    got = type(value).__name__
    if dtype is not None:
        got += f" of dtype {dtype} and shape {_fmt(np.shape(value))}"
    raise TypeError(f"{fn}: {name} must be a float or int, got {got}: {value!r}")


def floating_or_complex_array(fn: str, name: str, x: Any) -> jax.Array:
    """``x`` as a floating-point or complex jax array; TypeError naming ``name`` otherwise."""
    x, given = _as_array(x)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.complexfloating)):
        raise TypeError(
            f"{fn}: {name} has dtype {given} but a floating-point or complex dtype is "
            f"required; convert it first, e.g. {name}.astype(jnp.float32)"
        )
    return x


def numeric_array(fn: str, name: str, x: Any) -> jax.Array:
    """A numeric (integer, floating or complex; not bool) jax array; TypeError otherwise."""
    x, given = _as_array(x)
    if x.dtype == jnp.bool_ or not jnp.issubdtype(x.dtype, jnp.number):
        raise TypeError(f"{fn}: {name} has dtype {given}; a numeric dtype is required")
    return x


def check_same_dtype(fn: str, name_a: str, a: jax.Array, name_b: str, b: jax.Array) -> None:
    """TypeError unless ``a`` and ``b`` have one dtype (where torch refuses to promote)."""
    if a.dtype != b.dtype:
        # torch: RuntimeError "Found dtype Float but expected Double"
        raise TypeError(
            f"{fn}: {name_a} has dtype {a.dtype} but {name_b} has dtype {b.dtype}; they must "
            f"have the same dtype, e.g. {name_b}.astype({name_a}.dtype)"
        )


def check_weight_dtype(fn: str, weight: jax.Array, dtype: Any, of: str = "input") -> None:
    """TypeError unless ``weight`` has ``dtype``, the dtype of ``of`` (torch's class-index
    kernels refuse any other: "expected scalar type Float but found Half")."""
    if weight.dtype != dtype:
        raise TypeError(
            f"{fn}: weight has dtype {weight.dtype} but {of} has dtype {dtype}; torch "
            f"requires the same dtype, e.g. weight.astype(jnp.{dtype})"
        )


@jax.custom_jvp
def _poisoned(x: jax.Array, bad: jax.Array) -> jax.Array:
    return x


@_poisoned.defjvp
def _poisoned_jvp(primals, tangents):
    x, bad = primals
    # a product with a primal-only factor stays linear, so reverse mode transposes it too
    scale = jnp.where(bad, jnp.nan, 1.0).astype(x.dtype)
    return x, tangents[0] * scale


def poison_gradient(x: jax.Array, bad: jax.Array | None) -> jax.Array:
    """``x`` itself, but every derivative taken through it is nan where ``bad`` (broadcast
    against ``x``) is True, and unchanged elsewhere.

    Under jit an invalid traced argument (an out-of-range class index) cannot raise; the
    losses return nan for it, and this makes the gradient nan too, so that a training
    step that only looks at the gradient does not silently train on a poisoned batch.
    """
    if bad is None:
        return x
    return _poisoned(x, jnp.asarray(bad, bool))


def _check_primitive() -> Any:
    """``jaxloss_check``: the identity on its first operand, carrying a check for checkify.

    ``checkify.check``/``debug_check`` carry an effect, and any effect in a jitted function
    takes it off jax's C++ dispatch fast path (~10x the per-call overhead, paid on every
    call, checkified or not). This primitive has no effect: compiled, it is its first
    operand and XLA drops the rest; only ``checkify``'s interpreter (``user_checks``) turns
    it into a check. Where jax's private checkify rule table is not there, checks are off.
    """
    from jax.extend.core import Primitive
    from jax.interpreters import ad, batching, mlir

    prim = Primitive("jaxloss_check")
    prim.def_impl(lambda value, ok, *values, message: value)
    prim.def_abstract_eval(lambda value, ok, *values, message: value)
    mlir.register_lowering(prim, lambda ctx, value, *rest, message: [value])

    def jvp(primals, tangents, *, message):
        return prim.bind(*primals, message=message), tangents[0]

    def batch(args, dims, *, message):
        # a batch passes when every member does; report the first failing member's values
        value, ok, *values = args
        first: Any = 0
        if dims[1] is not None:
            ok = jnp.moveaxis(ok, dims[1], 0)
            first, ok = (jnp.argmax(~ok), jnp.all(ok)) if ok.size else (0, jnp.bool_(True))

        def member(v, d):  # the first failing member's value (a zero for an empty batch)
            v = jnp.moveaxis(v, d, 0)
            return v[first] if v.shape[0] else jnp.zeros(v.shape[1:], v.dtype)

        values = [v if d is None else member(v, d) for v, d in zip(values, dims[2:])]
        return prim.bind(value, ok, *values, message=message), dims[0]

    ad.primitive_jvps[prim] = jvp
    batching.primitive_batchers[prim] = batch
    try:
        from jax._src import checkify as impl

        def rule(error, enabled_errors, value, ok, *values, message):
            if impl.FailedCheckError in enabled_errors:
                failure = impl.FailedCheckError(impl.get_traceback(), message, *values)
                error = impl.assert_func(error, jnp.logical_not(ok), failure)
            return error, value

        impl.error_checks[prim] = rule
    except (ImportError, AttributeError):  # pragma: no cover - another jax: checks are off
        pass
    return prim


_CHECK = _check_primitive()


def traced_check(value: jax.Array, ok: jax.Array, message: str, *values: Any) -> jax.Array:
    """``value`` itself, carrying a check that ``ok`` (a scalar) holds.

    Compiled as it is, the check costs nothing (it is dropped). Under
    ``jax.experimental.checkify.checkify(f, errors=checkify.user_checks)`` (or
    ``all_checks``) a False ``ok`` makes ``err.throw()`` raise ``message`` formatted with
    ``values`` (``{}`` placeholders). Attach it to an array the loss goes on to use (in its
    forward and its gradient), so that it is not dead code.
    """
    values = tuple(jnp.asarray(v) for v in values)
    return _CHECK.bind(value, jnp.asarray(ok, bool), *values, message=message)


def label_smoothing(
    fn: str, value: Any, *, negative_ok: bool = True
) -> tuple[float | jax.Array, jax.Array | None]:
    """The one ``label_smoothing`` check: ``(eps, invalid)`` for the loss to use.

    torch's functionals raise for a value above 1 and use 0 for a value below 0 (or nan);
    ``negative_ok=False`` is torch's ``LinearCrossEntropyLoss`` constructor, which also
    refuses a negative value. A concrete value is checked now and returned as a float
    with ``invalid`` None. A traced value (the argument of a jitted function) cannot
    raise: eps is clamped at 0 and ``invalid`` (eps > 1) is for the loss to make its value
    and gradient nan; it carries a ``traced_check`` with the same message, raised under
    ``checkify.checkify(..., errors=checkify.user_checks)``.
    """
    message = f"{fn}: label_smoothing must be between 0.0 and 1.0. Got: "
    if is_concrete(value):
        eps = float(value)
        if eps > 1.0 or (not negative_ok and eps < 0.0):
            raise ValueError(message + f"{eps}")
        # torch: `if (label_smoothing > 0)`, so a negative or nan value acts as 0
        return (eps if eps > 0.0 else 0.0), None
    traced = jnp.asarray(value)
    invalid = (traced > 1.0) if negative_ok else ((traced > 1.0) | (traced < 0.0))
    eps_traced = jnp.where(traced > 0, traced, jnp.zeros((), traced.dtype))
    return eps_traced, traced_check(invalid, ~invalid, message + "{}", traced)


def out_of_range_classes(
    fn: str,
    target: Any,
    num_classes: int,
    ignore_index: int | None = None,
    *,
    low: int = 0,
) -> jax.Array | None:
    """Where ``target`` holds an invalid class index (``check_class_indices``'s rule).

    Pass ``target`` as the caller gave it: under jit even a closed-over numpy constant
    becomes a tracer once jnp touches it. Concrete ``target``: raises torch's IndexError
    for a bad value and returns None (nothing to mask). Traced ``target`` (jit, vmap):
    returns the mask of bad elements, for the loss to make their values and gradients
    nan, carrying a ``traced_check`` with the same "Target 5 is out of bounds." message,
    raised under ``checkify.checkify(..., errors=checkify.user_checks)``.
    """
    if all(is_concrete(v) for v in jax.tree_util.tree_leaves(target)):  # a list may hold tracers
        check_class_indices(fn, np.asarray(target), num_classes, ignore_index, low=low)
        return None
    target = jnp.asarray(target)
    bad = (target < low) | (target >= num_classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if target.size:
        also = "" if ignore_index is None else f" or equal ignore_index={ignore_index}"
        bad = traced_check(
            bad,
            ~jnp.any(bad),
            f"{fn}: Target {{}} is out of bounds. Class indices must lie in "
            f"[{low}, {num_classes - 1}]{also}.",
            target.reshape(-1)[jnp.argmax(bad.reshape(-1))],
        )
    return bad


def check_torchvision_reduction(reduction: Any) -> str:
    """Return ``reduction`` or raise torchvision.ops' ValueError for an unknown one."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        # torchvision 0.28's text, its quoting and line break included
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
            "'none', 'mean', 'sum'"
        )
    return reduction


def boxes_array(fn: str, name: str, x: Any) -> jax.Array:
    """``x`` as a (..., 4) array of boxes: a real or bool dtype (torchvision upcasts every
    one but float32 and float64 to float32) and a last dimension of 4; otherwise TypeError
    or ValueError naming ``name``."""
    x = jnp.asarray(x)
    if not (x.dtype == jnp.bool_ or jnp.issubdtype(x.dtype, jnp.integer)) and not jnp.issubdtype(
        x.dtype, jnp.floating
    ):
        raise TypeError(
            f"{fn}: {name} has dtype {x.dtype}; boxes must be real numbers (a floating, integer "
            "or bool dtype)"
        )
    if x.ndim == 0 or x.shape[-1] != 4:
        raise ValueError(
            f"{fn}: {name} has shape {_fmt(x.shape)} but boxes must have shape (4,) or (N, 4) "
            "(any leading dimensions), each box (x1, y1, x2, y2)"
        )
    return x
