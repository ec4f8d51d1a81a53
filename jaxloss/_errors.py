"""Argument checks shared by every loss. One helper per kind of error, one message format.

Loss modules call these; they define no checks of their own. Reductions live in
``_reduction``, dtype promotion in ``_promotion``, the custom derivative and the checked
mode's traced checks in ``_derivatives``; the names below re-export them for older call
sites.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from ._derivatives import poison_gradient as poison_gradient
from ._derivatives import traced_check as traced_check
from ._promotion import compute_dtype as compute_dtype
from ._promotion import result_type as result_type
from ._reduction import REDUCTIONS as REDUCTIONS
from ._reduction import check_reduction as check_reduction
from ._reduction import legacy_reduction as legacy_reduction
from ._reduction import resolve_reduction as resolve_reduction
from ._reduction import resolve_reduction_alias as resolve_reduction_alias

_T = TypeVar("_T")


def fmt_shape(shape: Iterable[int]) -> str:
    """A shape as torch and Python print a tuple: ``(2, 3)``, ``(3,)``, ``()``."""
    shape = tuple(shape)
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


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


def broadcast_shapes(fn: str, **shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast shape of the named shapes; ValueError naming every shape if there is none."""
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        got = ", ".join(f"{name} has shape {fmt_shape(s)}" for name, s in shapes.items())
        raise ValueError(f"{fn}: {got}, which do not broadcast; give them the same shape") from None


def broadcast(fn: str, *, warn: bool = False, **arrays: jax.Array) -> list[jax.Array]:
    """The named arrays broadcast together (torch's ``broadcast_tensors``).

    Shapes that do not broadcast raise ValueError naming every shape (``broadcast_shapes``).
    ``warn``: torch's elementwise losses (l1, mse, smooth_l1, huber, soft_margin) first warn
    on a size mismatch; the arrays are then ``input`` and ``target``. The others
    (poisson_nll, gaussian_nll, kl_div, ...) broadcast silently.
    """
    shapes = {name: tuple(a.shape) for name, a in arrays.items()}
    shape = broadcast_shapes(fn, **shapes)
    if len(set(shapes.values())) == 1:
        return list(arrays.values())
    if warn:
        # torch: UserWarning, then torch.broadcast_tensors
        warnings.warn(
            f"{fn}: Using a target size {fmt_shape(shapes['target'])} that is different to "
            f"the input size {fmt_shape(shapes['input'])}. This will likely lead to incorrect "
            "results due to broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )
    return [jnp.broadcast_to(a, shape) for a in arrays.values()]


def check_broadcasts_to(
    fn: str, name: str, x: jax.Array, shape: tuple[int, ...], what: str
) -> None:
    """ValueError unless ``x`` broadcasts to exactly ``shape`` (torch's in-place multiply)."""
    try:
        ok = np.broadcast_shapes(tuple(x.shape), tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: {name} has shape {fmt_shape(x.shape)}, which does not broadcast to "
            f"{what} {fmt_shape(shape)}; give it that shape or one that broadcasts to it"
        )


def check_fits(fn: str, name: str, x: Any, ok: bool, requirement: str) -> None:
    """ValueError unless ``ok``: ``x``'s shape is not one the loss takes; ``requirement``
    says what it needs ("input (4, 10) needs (4,) for class indices", "div_value=2.0 gives
    (8, 16)"). Every shape check's message: "<fn>: <name> has shape <shape> but <...>"."""
    if not ok:
        raise ValueError(f"{fn}: {name} has shape {fmt_shape(np.shape(x))} but {requirement}")


def check_layout(fn: str, name: str, x: Any, ok: bool, accepted: str, why: str = "") -> None:
    """ValueError unless ``ok``: ``x``'s shape is not one the loss takes; ``accepted`` names
    those it takes (e.g. "(C,) or (N, C)"), ``why`` may follow."""
    check_fits(fn, name, x, ok, f"{accepted} is required{why}")


def check_fits_input(
    fn: str, name: str, x: jax.Array, input_shape: tuple[int, ...], ok: bool, needs: str
) -> None:
    """ValueError unless ``ok``: ``x``'s shape does not fit an input of ``input_shape``,
    which ``needs`` what is described (e.g. "(4,) for class indices")."""
    check_fits(fn, name, x, ok, f"input {fmt_shape(input_shape)} needs {needs}")


def check_shape(fn: str, name: str, x: jax.Array, expected: tuple[int, ...], why: str = "") -> None:
    """ValueError unless ``x.shape == expected``."""
    check_layout(fn, name, x, tuple(x.shape) == tuple(expected), fmt_shape(expected), why)


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
        f"{fn}: input has shape {fmt_shape(x.shape)} and linear_weight {fmt_shape(w.shape)}; "
        f"their last dimensions (in_features) must be equal, got {in_features} and "
        f"{w.shape[-1]}{hint}"
    )


def is_concrete(x: Any) -> bool:
    """True when ``x``'s values are known now: no leaf of it (a list may hold some) is a
    tracer under jit/vmap/grad. Ask the argument as the caller gave it: under jit even a
    closed-over constant becomes a tracer once jnp touches it."""
    return not any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(x))


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
    bad = _invalid_classes(t, num_classes, ignore_index, low)
    if bad.any():
        raise IndexError(_out_of_bounds(fn, t[bad].flat[0], num_classes, ignore_index, low))


def _invalid_classes(t: Any, num_classes: int, ignore_index: int | None, low: int) -> Any:
    """Where ``t`` (a numpy or jax array) holds no valid class index."""
    bad = (t < low) | (t >= num_classes)
    return bad if ignore_index is None else bad & (t != ignore_index)


def _out_of_bounds(
    fn: str, value: Any, num_classes: int, ignore_index: int | None, low: int
) -> str:
    """torch's "Target 5 is out of bounds." with the classes that are valid."""
    also = "" if ignore_index is None else f" or equal ignore_index={ignore_index}"
    return (
        f"{fn}: Target {value} is out of bounds. Class indices must lie in "
        f"[{low}, {num_classes - 1}]{also}."
    )


def check_choice(fn: str, name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """ValueError unless ``value`` is one of ``allowed`` (used by a class and its functional)."""
    if value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise ValueError(f"{fn}: {name} must be {choices}, got {value!r}")


def check_positive(fn: str, name: str, value: Any) -> None:
    """ValueError unless ``value > 0`` when its value is known (torch's triplet margins,
    huber's delta); a traced value cannot be checked."""
    values = concrete_values(value)
    if values is not None and not values > 0:
        # torch: ValueError("margin must be greater than 0, got ...")
        raise ValueError(f"{fn}: {name} must be greater than 0, got {value}")


def check_ndim(fn: str, name: str, x: Any, ndim: int) -> None:
    """ValueError unless ``x`` has ``ndim`` dimensions."""
    if np.ndim(x) != ndim:
        dims = {1: "one", 2: "two"}.get(ndim, str(ndim))
        shape = fmt_shape(np.shape(x))
        raise ValueError(f"{fn}: {name} has shape {shape} but must be {dims}-dimensional")


def concrete_values(x: Any) -> np.ndarray | None:
    """``x``'s values as a numpy array when they are known now (``is_concrete``), else None.

    Pass the argument as the caller gave it, before ``jnp.asarray``: under ``jax.jit``
    a closed-over numpy or jax array is known, but ``jnp.asarray`` of a numpy array
    is a tracer and any jnp operation on a closed-over jax array is traced, so
    ``bool(jnp.all(...))`` raises there. Value checks run on this numpy copy.
    """
    if not is_concrete(x):
        return None
    try:
        return np.asarray(x)
    except jax.errors.TracerArrayConversionError:  # pragma: no cover - a tracer is a leaf
        return None


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
        got += f" of dtype {dtype} and shape {fmt_shape(np.shape(value))}"
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


def index_target(
    fn: str,
    target: Any,
    t: jax.Array,
    *,
    expected: tuple[int, ...],
    probabilities: tuple[int, ...] | None,
    subject: str,
    hint: str = "",
) -> None:
    """The class-index target check of every cross entropy (``cross_entropy``/``nll_loss``
    and ``linear_cross_entropy``): ``t`` (the array of ``target``) must be integer and of
    the ``expected`` shape. ``probabilities``: the shape a class-probability target would
    have, named in the messages (None where the loss takes none); ``subject``: what sets
    the shapes, with its verb (``"input (4, 10) needs"``)."""
    if not jnp.issubdtype(t.dtype, jnp.integer):
        also = (
            ""
            if probabilities is None
            else (
                f", or a floating dtype with the shape {fmt_shape(probabilities)} (class "
                "probabilities)"
            )
        )
        raise TypeError(
            f"{fn}: target has dtype {given_dtype(target, t)} and shape {fmt_shape(t.shape)}; "
            f"an integer dtype is required (class indices){also}"
        )
    if t.shape != expected:
        also = (
            ""
            if probabilities is None
            else f" or {fmt_shape(probabilities)} for class probabilities"
        )
        raise ValueError(
            f"{fn}: target has shape {fmt_shape(t.shape)} but {subject} {fmt_shape(expected)} "
            f"for class indices{also}{hint}"
        )


def class_index_target(
    fn: str, x: jax.Array, target: Any, unbatched: bool, probabilities_ok: bool
) -> tuple[jax.Array, Any]:
    """Validate a class-index target against (batched) ``x``, class axis 1: (target batched,
    the argument itself, or its (1,) -> () squeeze, for the range check). ``unbatched``: the
    caller's input was (C,). ``probabilities_ok``: the hints also name the class-probability
    target that cross_entropy takes."""
    t = jnp.asarray(target)
    shape = (x.shape[1],) if unbatched else x.shape
    expected = () if unbatched else (x.shape[0],) + tuple(x.shape[2:])
    if unbatched and t.shape == (1,):
        target, t = target[0], t[0]  # torch: a (C,) input with a (1,) target is a batch of one
    hint = ""
    if x.ndim >= 3 and t.shape == x.shape[:-1]:  # e.g. (N, T, C) logits of a sequence
        hint = (
            "; the classes go on axis 1 (torch's layout), so for classes on the last "
            "axis pass jnp.moveaxis(input, -1, 1)"
        )
    index_target(
        fn,
        target,
        t,
        expected=expected,
        probabilities=shape if probabilities_ok else None,
        subject=f"input {fmt_shape(shape)} needs",
        hint=hint,
    )
    if x.shape[1] == 0 and (x.ndim == 3 or x.ndim > 4) and t.size:
        # torch reshapes (N, 0, d...) to (N, 0, 0, 0) there and fails; 2-D and 4-D input reach
        # the class check instead (nan when every target is ignored)
        raise ValueError(
            f"{fn}: input has shape {fmt_shape(x.shape)} with C = 0 classes but target "
            f"{fmt_shape(t.shape)} is not empty; torch refuses it ('size mismatch'), give C > 0"
        )
    return (t[None] if unbatched else t), target


def label_smoothing(
    fn: str, value: Any, *, negative_ok: bool = True
) -> tuple[float | jax.Array, jax.Array | None]:
    """The one ``label_smoothing`` check: ``(eps, invalid)`` for the loss to use.

    torch's functionals raise for a value above 1 and use 0 for a value below 0 (or nan);
    ``negative_ok=False`` is torch's ``LinearCrossEntropyLoss`` constructor, which also
    refuses a negative value. A concrete value is checked now and returned as a float
    with ``invalid`` None. A traced value (the argument of a jitted function) cannot
    raise: eps is clamped at 0 and ``invalid`` (eps > 1) is for the loss to make its value
    and gradient nan, and a ``traced_check`` with the same message is raised by
    ``checkify.checkify`` inside ``jaxloss.checked()``.
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
    traced_check(~invalid, message + "{}", traced)
    return eps_traced, invalid


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
    nan; a ``traced_check`` with the same "Target 5 is out of bounds." message is raised by
    ``checkify.checkify`` inside ``jaxloss.checked()``.
    """
    if is_concrete(target):  # a list may hold tracers
        check_class_indices(fn, np.asarray(target), num_classes, ignore_index, low=low)
        return None
    target = jnp.asarray(target)
    bad = _invalid_classes(target, num_classes, ignore_index, low)
    if target.size:
        traced_check(
            ~jnp.any(bad),
            _out_of_bounds(fn, "{}", num_classes, ignore_index, low),
            target.reshape(-1)[jnp.argmax(bad.reshape(-1))],
        )
    return bad


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
            f"{fn}: {name} has shape {fmt_shape(x.shape)} but boxes must have shape (4,) or (N, 4) "
            "(any leading dimensions), each box (x1, y1, x2, y2)"
        )
    return x


def check_values(bad: np.ndarray, message: str, *columns: Any) -> None:
    """ValueError for the first True element of the concrete mask ``bad``: ``message`` has a
    ``{}`` per column, filled with that element of each (the same message a
    ``traced_check`` carries for a traced argument)."""
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(message.format(*(np.asarray(c)[first] for c in columns)))


def check_same_ndim(fn: str, **arrays: jax.Array) -> None:
    """ValueError unless the named arrays have one number of dimensions (torch refuses to
    broadcast across ranks there: margin_ranking_loss, the triplet losses)."""
    if len({a.ndim for a in arrays.values()}) <= 1:
        return
    named = [f"{name} {fmt_shape(a.shape)}" for name, a in arrays.items()]
    dims = [f"{a.ndim}-d" for a in arrays.values()]
    raise ValueError(
        f"{fn}: {', '.join(named[:-1])} and {named[-1]} must have the same number of "
        f"dimensions (got {', '.join(dims[:-1])} and {dims[-1]})"
    )


def check_same_shape(
    fn: str, target: jax.Array, input: jax.Array, names: tuple[str, str] = ("target", "input")
) -> None:
    """ValueError unless ``target`` has ``input``'s shape (torch's losses that do not
    broadcast: "Using a target size (...) that is different to the input size");
    ``names``: the two arguments' names."""
    if target.shape != input.shape:
        t, i = names
        raise ValueError(
            f"{fn}: {t} has shape {fmt_shape(target.shape)} but {i} has shape "
            f"{fmt_shape(input.shape)}; {t} must have {i}'s shape"
        )


def check_nonnegative(fn: str, name: str, value: Any) -> None:
    """ValueError for a negative value of ``value`` when its values are known (a traced
    argument cannot be checked): a number is named with its value, an array with its
    minimum (torch: "var has negative entry/entries", "does not support negative values")."""
    values = concrete_values(value)
    if values is None or not np.any(values < 0):
        return
    if np.ndim(values) == 0 and not hasattr(value, "shape"):
        raise ValueError(f"{fn}: {name}={value} is negative; {name} must be >= 0")
    raise ValueError(f"{fn}: {name} has negative entries (min {values.min()}); {name} must be >= 0")


def check_unit_interval(fn: str, name: str, x: Any) -> None:
    """torch's value check of ``x``, the argument as given, when its values are known
    (also a constant closed over by jax.jit; not a traced argument): every element in
    [0, 1], nan refused."""
    values = concrete_values(x)
    if values is None or values.size == 0:
        return
    ok = (values >= 0) & (values <= 1)  # false for nan, as torch's check
    if not ok.all():
        bad = values[~ok].flat[0]
        # torch: RuntimeError "all elements of input should be between 0 and 1"
        raise ValueError(
            f"{fn}: all elements of {name} should be between 0 and 1, but it contains {bad}"
        )


def check_norm_defined(fn: str, shape: tuple[int, ...], p: float) -> None:
    """ValueError where torch's vector_norm has no value: p < 0 or p = inf over an empty
    last dimension (the norms with an identity, p >= 0 finite, give 0 there)."""
    if shape and shape[-1] == 0 and (p < 0 or p == float("inf")):
        # torch: "linalg.vector_norm cannot compute the inf norm on the dimension 1because
        # this dimension is empty and the operation does not have an identity"
        raise ValueError(
            f"{fn}: the p={p} norm over an empty last dimension (broadcast shape "
            f"{fmt_shape(shape)}) has no value; give the vectors at least one element or use a "
            f"finite p >= 0"
        )


def check_inputs_ndim(fn: str, by: str, ndim: int, layout: str, **arrays: jax.Array) -> None:
    """ValueError unless every named array has ``ndim`` dimensions, the number ``by`` (e.g.
    "a 1-d target (2,)") needs; ``layout`` names that layout (e.g. "(N, D)")."""
    if all(a.ndim == ndim for a in arrays.values()):
        return
    got = " and ".join(f"{name} {fmt_shape(a.shape)}" for name, a in arrays.items())
    raise ValueError(f"{fn}: {by} needs {ndim}-d inputs ({layout}) but got {got}")


def check_length(fn: str, name: str, items: Any, length: int, why: str = "") -> None:
    """ValueError unless the sequence ``items`` has ``length`` elements."""
    if len(items) != length:
        raise ValueError(
            f"{fn}: {name} has length {len(items)} but length {length} is required{why}"
        )


def _type_name(value: Any) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _given(value: Any) -> str:
    """``value`` as a one-line message names it: a number, string or None with its repr,
    anything else (an array, a module) by its type."""
    if value is None or isinstance(value, (int, float, complex, str, np.generic)):
        return f"{value!r} of type {_type_name(value)}"
    return f"an object of type {_type_name(value)}"


def check_type(fn: str, name: str, value: Any, ok: bool, accepted: str) -> None:
    """TypeError unless ``ok``: ``value`` is not of a type ``name`` takes; ``accepted`` names
    what it takes (e.g. "a bool", "a callable (x1, x2) -> distances or None")."""
    if not ok:
        raise TypeError(f"{fn}: {name} must be {accepted}, got {_given(value)}")


def check_required(fn: str, name: str, value: _T | None, why: str = "") -> _T:
    """``value``; TypeError when it is None: ``name`` has no default that would work."""
    if value is None:
        raise TypeError(f"{fn}: {name} is required{why}")
    return value


def check_positive_int(fn: str, name: str, value: Any, *, optional: bool = False) -> None:
    """TypeError unless ``value`` is an int (numpy's included, a bool not), ValueError unless
    it is > 0; ``optional``: None passes."""
    if optional and value is None:
        return
    accepted = "a positive int" + (" or None" if optional else "")
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    check_type(fn, name, value, is_int, accepted)
    if value <= 0:
        raise ValueError(f"{fn}: {name} must be {accepted}, got {value}")


def check_option(fn: str, name: str, value: Any, ok: bool, what: str, accepted: str) -> None:
    """ValueError unless ``ok``: ``value`` is not ``what`` ``name`` must be (e.g. "a class
    of log_probs with C = 4", "a matmul precision"); ``accepted`` says what is."""
    if not ok:
        raise ValueError(f"{fn}: {name}={value!r} is not {what}; {accepted}")


def check_compatible(fn: str, ok: bool, setting: str, conflict: str, fix: str) -> None:
    """ValueError unless ``ok``: ``setting`` (e.g. "ignore_index=1") cannot be used with the
    other arguments; ``conflict`` says with which, ``fix`` what to pass instead."""
    if not ok:
        raise ValueError(f"{fn}: {setting} {conflict}; {fix}")


def check_concrete(fn: str, what: str, value: Any, fix: str) -> None:
    """TypeError unless ``value``'s values are known now (``is_concrete``): ``what`` (e.g.
    "the parameters") is traced, and ``fix`` says where to call instead."""
    if not is_concrete(value):
        raise TypeError(f"{fn}: {what} are traced (inside jax.jit or jax.grad); {fix}")


def mesh_axis_size(fn: str, name: str, axis: Any, mesh: Any = None, hint: str = "") -> int:
    """The size of the mesh axis ``axis``: in ``mesh`` when given, else in the
    ``jax.shard_map`` the caller runs in; ValueError naming ``name`` where there is none."""
    if mesh is not None:
        if axis not in mesh.shape:
            raise ValueError(f"{fn}: {name} {axis!r} is not an axis of the mesh {dict(mesh.shape)}")
        return int(mesh.shape[axis])
    try:
        return int(lax.axis_size(axis))
    except NameError:
        raise ValueError(f"{fn}: {name}={axis!r} names no mesh axis in scope{hint}") from None


def check_state_dict(fn: str, ok: bool, got: str, needs: str) -> None:
    """ValueError unless ``ok``: a torch state_dict does not fit; ``got`` says what it is
    ("has keys [...]", "is for <module>"), ``needs`` what was needed."""
    if not ok:
        raise ValueError(f"{fn}: the state_dict {got} but {needs}")


def check_cutoffs(fn: str, cutoffs: Any, n_classes: int | None) -> tuple[int, ...]:
    """torch's ``cutoffs`` check of the adaptive softmax, in torch's words; returns them as a
    tuple of ints.

    torch: non-empty; sorted, unique, integral, > 0 and <= n_classes - 1 (without
    ``n_classes``, as in the functional, the upper bound is not checked here).
    """
    try:
        cut = list(cutoffs)
    except TypeError:
        raise TypeError(
            f"{fn}: cutoffs={cutoffs!r} is not a sequence; pass e.g. cutoffs=[10, 100]"
        ) from None
    if len(cut) == 0:
        # torch: "cutoffs should be a sequence of length larger than 0"
        raise ValueError(f"{fn}: cutoffs=[] should be a sequence of length larger than 0")
    top = math.inf if n_classes is None else n_classes - 1
    try:
        bad = (
            cut != sorted(cut)
            or min(cut) <= 0
            or max(cut) > top
            or len(set(cut)) != len(cut)
            or any(int(c) != c for c in cut)
        )
    except (TypeError, ValueError):
        bad = True
    if bad:
        within = "" if n_classes is None else f" (n_classes={n_classes})"
        raise ValueError(
            f"{fn}: cutoffs={cut!r} should be a sequence of unique, positive integers sorted "
            f"in an increasing order, where each value is between 1 and n_classes-1{within}"
        )
    return tuple(int(c) for c in cut)


def check_focal_alpha(alpha: Any) -> np.ndarray | None:
    """torchvision's check of sigmoid_focal_loss's ``alpha``, in its words, when its value is
    known (then returned, as ``concrete_values``; None when traced): in [0, 1], or -1 for no
    class weighting (nan refused)."""
    a = concrete_values(alpha)
    if a is not None and not (0 <= a <= 1) and a != -1:
        # torchvision 0.28's text
        raise ValueError(
            f"Invalid alpha value: {alpha}. alpha must be in the range [0,1] or -1 for ignore."
        )
    return a
