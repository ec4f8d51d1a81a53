"""``jaxloss.testing``: test a JAX port of a torch function against torch itself.

Give it the JAX function, the torch function it ports, and the inputs (numpy or jax
arrays, or plain Python values): it converts the arrays to torch tensors, runs both, and
compares the value and the gradient of every argument named in ``argnums`` (torch's
autograd against ``jax.vjp``, with the same seeded random cotangent), eagerly and again
under ``jax.jit``::

    from jaxloss.testing import assert_matches_torch

    assert_matches_torch(my_jax_loss, my_torch_loss, logits, targets, argnums=0)

A failure raises ``AssertionError`` with one readable report: which output or gradient,
in which mode, its largest absolute and relative error, where (the index), and both
values there. :func:`parity_report` returns that report (a :class:`ParityReport`) instead
of raising.

Needs torch: ``pip install 'jaxloss[testing]'``. The rest of jaxloss does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

try:
    import torch
except ImportError as error:  # pragma: no cover - exercised without torch installed
    raise ImportError(
        "jaxloss.testing needs torch; install it with: pip install 'jaxloss[testing]'"
    ) from error

__all__ = [
    "TOLERANCES",
    "Comparison",
    "ParityReport",
    "assert_close",
    "assert_matches_torch",
    "compare_arrays",
    "parity_report",
    "precision",
    "to_jax",
    "to_torch",
    "Tolerance",
    "tolerance",
]


class Tolerance(NamedTuple):
    """A default tolerance and why it is what it is."""

    rtol: float
    atol: float
    why: str


_SAME_FORMULAS = "the same formulas as torch's in another order: a few roundings of the format"
# The one table of default tolerances, by JAX's backend and the dtype compared; torch is
# always the CPU reference. A (backend, dtype) not listed takes the CPU's row.
TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("cpu", "float64"): Tolerance(1e-10, 1e-12, _SAME_FORMULAS),
    ("cpu", "float32"): Tolerance(
        1e-5, 1e-6, _SAME_FORMULAS + " (2**-24 each); matmuls at full precision, as torch's"
    ),
    ("cpu", "float16"): Tolerance(
        2e-3, 1e-5, "one float16 rounding of the result (2**-11), float32 inside on both sides"
    ),
    ("cpu", "bfloat16"): Tolerance(
        1.6e-2,
        1e-5,
        "about four bfloat16 roundings (2**-8 each): torch rounds intermediates such as "
        "the logits and their gradient to bfloat16 where jaxloss keeps float32",
    ),
    ("gpu", "float64"): Tolerance(1e-10, 1e-12, _SAME_FORMULAS),
    ("gpu", "float32"): Tolerance(
        1e-5,
        1e-6,
        "XLA:GPU's float32 exp/log/tanh are within a few ulps like the CPU's, and jaxloss's "
        "matmuls run at HIGHEST (no TF32) by default; the CPU's value until a GPU run "
        "shows otherwise",
    ),
    ("tpu", "float32"): Tolerance(
        1e-4,
        1e-5,
        "TPU float32 transcendentals are less accurate than the CPU's (several ulps); "
        "matmuls at HIGHEST; not yet confirmed by a TPU run",
    ),
}


def tolerance(dtype: Any, backend: str | None = None) -> tuple[float, float]:
    """The default ``(rtol, atol)`` for values of ``dtype`` computed on ``backend``.

    ``backend`` is JAX's platform name ('cpu', 'gpu', 'tpu'); None means
    ``jax.default_backend()``. On the CPU: float64 (1e-10, 1e-12), float32 (1e-5, 1e-6),
    float16 (2e-3, 1e-5), bfloat16 (1.6e-2, 1e-5); anything else (integers, booleans) is
    compared exactly, (0, 0). :data:`TOLERANCES` holds every backend's, each with its reason.
    """
    name = _dtype_name(dtype)
    backend = jax.default_backend() if backend is None else backend
    row = TOLERANCES.get((backend, name)) or TOLERANCES.get(("cpu", name))
    return (0.0, 0.0) if row is None else (row.rtol, row.atol)


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return jnp.dtype(dtype).name


def precision(dtype: Any) -> contextlib.AbstractContextManager[Any]:
    """A context for computing in ``dtype`` with jax: float64 needs jax's x64 mode."""
    if _dtype_name(dtype) == "float64":
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, jax.Array))


def to_torch(value: Any, requires_grad: bool = False) -> Any:
    """A numpy or jax array as a torch tensor; anything else as it is.

    Integer arrays become int64 (torch's class-index dtype); bfloat16 stays bfloat16.
    ``requires_grad`` applies to floating arrays (the ones torch differentiates).
    """
    if not _is_array(value):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "iu":
        return torch.from_numpy(array.astype(np.int64))
    if array.dtype.name == "bfloat16":  # numpy holds it, torch.from_numpy does not
        tensor = torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    else:
        tensor = torch.from_numpy(array.copy())
    if requires_grad and tensor.is_floating_point():
        tensor.requires_grad_(True)
    return tensor


def to_jax(value: Any) -> Any:
    """A numpy array as a jax array; anything else as it is."""
    return jnp.asarray(value) if isinstance(value, np.ndarray) else value


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One output or gradient compared: where it fails most and by how much.

    ``max_abs_error`` and ``max_rel_error`` are over all elements (the relative error
    is ``|actual - expected| / |expected|``); ``index`` is the element that exceeds
    ``atol + rtol * |expected|`` the most (a nan on one side only counts first), with
    ``actual`` and ``expected`` its two values. ``problem`` names a shape or dtype that
    differs (then the values are not compared).
    """

    what: str
    ok: bool
    shape: tuple[int, ...]
    dtype: str
    rtol: float
    atol: float
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    index: tuple[int, ...] | None = None
    actual: Any = None
    expected: Any = None
    problem: str = ""

    def __str__(self) -> str:
        head = f"{self.what} {_shape_text(self.shape)} {self.dtype}"
        if self.problem:
            return f"{head}: {self.problem}"
        if self.ok:
            return f"{head}: matches (max abs error {self.max_abs_error:.3g})"
        where = "" if self.index is None else f" at index {self.index}"
        return (
            f"{head}: max abs error {self.max_abs_error:.6g}, max rel error "
            f"{self.max_rel_error:.6g}; worst{where}: jax {self.actual!r}, torch "
            f"{self.expected!r} (rtol={self.rtol:g}, atol={self.atol:g})"
        )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """Every comparison of a JAX function with its torch twin; ``str()`` is readable."""

    comparisons: tuple[Comparison, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    @property
    def failures(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if not c.ok)

    def __str__(self) -> str:
        if self.ok:
            return f"matches torch ({len(self.comparisons)} comparisons)"
        lines = [
            f"does not match torch: {len(self.failures)} of {len(self.comparisons)} "
            "comparisons fail"
        ]
        lines += [f"  {c}" for c in self.failures]
        return "\n".join(lines)


def compare_arrays(
    actual: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: Any = None,
    what: str = "value",
    check_dtype: bool = True,
) -> Comparison:
    """Compare ``actual`` (jax or numpy) with ``expected`` (torch or numpy).

    Passes where ``|actual - expected| <= atol + rtol * |expected|`` (nan equals nan), as
    ``numpy.testing.assert_allclose``. Tolerances default to :func:`tolerance` of
    ``dtype`` (default: the expected value's dtype). With ``check_dtype``, the dtypes
    must be the same too.
    """
    a_dtype = _dtype_name(actual.dtype) if hasattr(actual, "dtype") else "python"
    e_dtype = _dtype_name(expected.dtype) if hasattr(expected, "dtype") else "python"
    default_rtol, default_atol = tolerance(e_dtype if dtype is None else dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    a, e = _numpy(actual), _numpy(expected)
    base = dict(what=what, shape=tuple(a.shape), dtype=a_dtype, rtol=rtol, atol=atol)
    if a.shape != e.shape:
        problem = f"shape {a.shape} but torch's is {e.shape}"
        return Comparison(ok=False, problem=problem, **base)  # type: ignore[arg-type]
    if check_dtype and a_dtype != e_dtype and "python" not in (a_dtype, e_dtype):
        problem = f"dtype {a_dtype} but torch's is {e_dtype}"
        return Comparison(ok=False, problem=problem, **base)  # type: ignore[arg-type]
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(a64 - e64)
        same = (a64 == e64) | (np.isnan(a64) & np.isnan(e64))
        diff = np.where(same, 0.0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)  # nan on one side only
        rel = np.where(diff == 0, 0.0, diff / np.abs(e64))
        excess = diff - (atol + rtol * np.abs(e64))
    bad = excess > 0
    if a.size == 0:
        return Comparison(ok=True, **base)  # type: ignore[arg-type]
    worst = np.unravel_index(int(np.argmax(np.where(np.isnan(excess), np.inf, excess))), a.shape)
    return Comparison(
        ok=not bool(bad.any()),
        max_abs_error=float(diff.max()),
        max_rel_error=float(np.nanmax(rel)) if rel.size else 0.0,
        index=tuple(int(i) for i in worst),
        actual=a[worst].item(),
        expected=e[worst].item(),
        **base,  # type: ignore[arg-type]
    )


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: Any = None,
    what: str = "value",
    check_dtype: bool = False,
) -> None:
    """:func:`compare_arrays`, raising ``AssertionError`` with its report on a mismatch."""
    comparison = compare_arrays(
        actual, expected, rtol=rtol, atol=atol, dtype=dtype, what=what, check_dtype=check_dtype
    )
    if not comparison.ok:
        raise AssertionError(str(comparison))


def _torch_leaves(out: Any) -> list[Any]:
    """torch outputs in jax's pytree order (tuples, lists, named tuples, dicts by key)."""
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in _torch_leaves(item)]
    if isinstance(out, dict):
        return [leaf for key in sorted(out) for leaf in _torch_leaves(out[key])]
    return [out]


def _cotangent(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.5, 1.5, size=shape)


def parity_report(
    jax_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    argnums: int | Sequence[int] = 0,
    rtol: float | None = None,
    atol: float | None = None,
    jit: bool = True,
    dtype: Any = None,
    seed: int = 0,
) -> ParityReport:
    """Compare ``jax_fn(*args, **kwargs)`` with ``torch_fn`` on the same inputs; a report.

    Arrays in ``args`` and ``kwargs`` (numpy or jax, also inside lists, tuples and dicts)
    go to torch as tensors (:func:`to_torch`; ``requires_grad`` for ``args[i]``, i in
    ``argnums``) and to jax as arrays; other values go to both as they are. Each output
    (a tensor, or a tuple of them) is compared, then the gradient of each ``args[i]``:
    torch's ``autograd`` and ``jax.vjp`` with the same cotangent, drawn from
    ``U(0.5, 1.5)`` with ``seed``, so an unreduced output is checked through every
    element. With ``jit``, the jax side runs again under ``jax.jit`` with every array
    traced. Values must have torch's shape and dtype; tolerances default to
    :func:`tolerance` of torch's dtype (or of ``dtype`` when given), and float64 inputs
    (or ``dtype=float64``) run jax in x64 mode.
    """
    kwargs = dict(kwargs or {})
    diff = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in diff:
        if not (0 <= i < len(args)) or not _is_array(args[i]):
            raise ValueError(
                f"argnums names args[{i}], which is not an array argument (got "
                f"{len(args)} positional arguments)"
            )
    leaves, treedef = jax.tree.flatten((tuple(args), kwargs))
    diff_leaf = [len(jax.tree.leaves(tuple(args[:i]))) for i in diff]
    array_leaf = [k for k, leaf in enumerate(leaves) if _is_array(leaf)]
    if dtype is None:
        wide = any(np.asarray(leaves[k]).dtype == np.float64 for k in array_leaf)
        jax_precision = precision(np.float64 if wide else np.float32)
    else:
        jax_precision = precision(dtype)

    # --- torch ---
    t_leaves = [to_torch(leaf, k in diff_leaf) for k, leaf in enumerate(leaves)]
    t_args, t_kwargs = jax.tree.unflatten(treedef, t_leaves)
    t_outs = _torch_leaves(torch_fn(*t_args, **t_kwargs))
    rng = np.random.default_rng(seed)
    floating = [isinstance(t, torch.Tensor) and t.is_floating_point() for t in t_outs]
    cts = [_cotangent(rng, tuple(t.shape)) if f else None for t, f in zip(t_outs, floating)]
    t_grads: list[Any] = [torch.zeros_like(t_leaves[k]) for k in diff_leaf]
    wrt = [t_leaves[k] for k in diff_leaf]
    with_grad = [
        (t, torch.as_tensor(ct, dtype=t.dtype))
        for t, ct in zip(t_outs, cts)
        if ct is not None and t.requires_grad
    ]
    if wrt and with_grad:
        outs, grad_outs = zip(*with_grad)
        got = torch.autograd.grad(outs, wrt, grad_outs, allow_unused=True)
        t_grads = [z if g is None else g for z, g in zip(t_grads, got)]

    # --- jax, eagerly and under jit ---
    comparisons: list[Comparison] = []
    with jax_precision:
        j_leaves = [to_jax(leaf) for leaf in leaves]

        def call(arrays: Sequence[Any]) -> Any:
            full = list(j_leaves)
            for k, v in zip(array_leaf, arrays):
                full[k] = v
            a, kw = jax.tree.unflatten(treedef, full)
            return jax_fn(*a, **kw)

        modes: list[tuple[str, Callable[..., Any]]] = [("eager", call)]
        if jit:
            modes.append(("jit", jax.jit(call)))
        arrays = [j_leaves[k] for k in array_leaf]
        slots = [array_leaf.index(k) for k in diff_leaf]
        for mode, f in modes:

            def of_diff(*d: Any, f: Callable[..., Any] = f) -> Any:
                a = list(arrays)
                for slot, v in zip(slots, d):
                    a[slot] = v
                return f(a)

            out, vjp = jax.vjp(of_diff, *[arrays[s] for s in slots])
            j_outs, out_tree = jax.tree.flatten(out)
            if len(j_outs) != len(t_outs):
                comparisons.append(
                    Comparison(
                        what=f"{mode} outputs",
                        ok=False,
                        shape=(),
                        dtype="",
                        rtol=0.0,
                        atol=0.0,
                        problem=f"{len(j_outs)} arrays but torch returns {len(t_outs)}",
                    )
                )
                continue
            for n, (j, t) in enumerate(zip(j_outs, t_outs)):
                name = "value" if len(t_outs) == 1 else f"output {n}"
                comparisons.append(
                    compare_arrays(j, t, rtol=rtol, atol=atol, dtype=dtype, what=f"{mode} {name}")
                )
            if not diff:
                continue
            if any(jnp.shape(j) != tuple(t.shape) for j, t in zip(j_outs, t_outs)):
                for i in diff:
                    comparisons.append(
                        Comparison(
                            what=f"{mode} gradient of args[{i}]",
                            ok=False,
                            shape=tuple(jnp.shape(args[i])),
                            dtype="",
                            rtol=0.0,
                            atol=0.0,
                            problem="not compared: an output's shape differs from torch's",
                        )
                    )
                continue
            j_cts = [
                np.zeros(jnp.shape(j), jax.dtypes.float0)
                if ct is None or not jnp.issubdtype(jnp.result_type(j), jnp.inexact)
                else jnp.asarray(ct, dtype=jnp.result_type(j))
                for j, ct in zip(j_outs, cts)
            ]
            grads = vjp(jax.tree.unflatten(out_tree, j_cts))
            for i, g, tg in zip(diff, grads, t_grads):
                comparisons.append(
                    compare_arrays(
                        g,
                        tg,
                        rtol=rtol,
                        atol=atol,
                        dtype=dtype,
                        what=f"{mode} gradient of args[{i}]",
                    )
                )
    return ParityReport(tuple(comparisons))


def assert_matches_torch(
    jax_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    *args: Any,
    argnums: int | Sequence[int] = 0,
    rtol: float | None = None,
    atol: float | None = None,
    jit: bool = True,
    **kwargs: Any,
) -> None:
    """Assert that ``jax_fn(*args, **kwargs)`` gives ``torch_fn``'s value and gradients.

    ``argnums`` (an int or a sequence, default 0; ``()`` for none) names the positional
    arguments whose gradients are compared. See :func:`parity_report` for what is run and
    compared; a mismatch raises ``AssertionError`` with that report.

    Example:
        >>> import numpy as np, jax.numpy as jnp, torch
        >>> from jaxloss.testing import assert_matches_torch
        >>> def jax_softplus_loss(x, beta=1.0):
        ...     return jnp.mean(jnp.logaddexp(0.0, beta * x) / beta)
        >>> def torch_softplus_loss(x, beta=1.0):
        ...     return torch.nn.functional.softplus(x, beta).mean()
        >>> x = np.linspace(-3, 3, 7, dtype=np.float32)
        >>> assert_matches_torch(jax_softplus_loss, torch_softplus_loss, x, beta=2.0)
    """
    report = parity_report(
        jax_fn, torch_fn, args, kwargs, argnums=argnums, rtol=rtol, atol=atol, jit=jit
    )
    if not report.ok:
        name = getattr(jax_fn, "__name__", type(jax_fn).__name__)
        raise AssertionError(f"{name} {report}")
