"""torch's type promotion: the dtype a loss computes in and the dtype it returns."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np


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
