"""Matrix products with torch's precision and operand dtypes, on every backend.

Every matmul of the library goes through :func:`dot` (or :func:`linear`, which adds a
custom derivative). Each states its precision and its operand dtypes on purpose:

* ``precision=None`` means the user's ``jax_default_matmul_precision`` where one is set
  (a ``jax.default_matmul_precision(...)`` block or the config), otherwise torch's
  default: float32/float64 operands at full precision (``lax.Precision.HIGHEST``;
  torch's ``torch.get_float32_matmul_precision() == 'highest'``, TF32 off), and
  bfloat16/float16 operands as they are (``lax.Precision.DEFAULT``). JAX's own DEFAULT
  for float32 is one bfloat16 pass on TPU and TF32 on recent NVIDIA GPUs, so without
  this a float32 loss would not be torch's number there.
* bfloat16/float16 operands enter the product in their own dtype and accumulate in
  float32 (``preferred_element_type``), as torch's ``F.linear`` does on tensor cores:
  no float32 copy of either operand is made.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _errors

# What ``precision=`` takes: whatever ``jax.lax.dot_general`` takes.
PrecisionLike = Any

LOW_PRECISION = (np.dtype(jnp.bfloat16), np.dtype(jnp.float16))


def operand_dtype(dtype: Any, compute: Any) -> np.dtype:
    """The dtype a product's operands enter in: half types as they are, else ``compute``."""
    dtype = np.dtype(dtype)
    return dtype if dtype in LOW_PRECISION else np.dtype(compute)


@functools.lru_cache(maxsize=64)
def _accepted(precision: Any) -> bool:
    """Whether ``lax.dot_general`` accepts ``precision`` (traced once, abstractly)."""
    a = jax.ShapeDtypeStruct((1, 1), jnp.float32)
    try:
        jax.eval_shape(lambda x: lax.dot_general(x, x, (((1,), (0,)), ((), ())), precision), a)
    except (TypeError, ValueError, KeyError, AttributeError):
        return False
    return True


def resolve_precision(fn: str, precision: PrecisionLike, operand: Any) -> Any:
    """The precision to pass to ``lax.dot_general`` for operands of dtype ``operand``.

    Resolved once, at trace time, so a custom derivative traced later uses the same.
    """
    if precision is None:
        user = jax.config.jax_default_matmul_precision  # type: ignore[attr-defined]
        if user is not None:
            return user
        if np.dtype(operand) in LOW_PRECISION:
            return lax.Precision.DEFAULT
        return lax.Precision.HIGHEST
    if isinstance(precision, list):
        precision = tuple(precision)
    try:
        ok = _accepted(precision)
    except TypeError:  # unhashable
        ok = False
    _errors.check_option(
        fn,
        "precision",
        precision,
        ok,
        "a matmul precision",
        "pass None (torch's default), a jax.lax.Precision, one of 'default', 'high', "
        "'highest', 'bfloat16', 'tensorfloat32', 'float32', a pair of these, or a "
        "jax.lax.DotAlgorithmPreset",
    )
    return precision


def dot(
    a: jax.Array,
    b: jax.Array,
    contract: tuple[int, int],
    precision: Any,
    operand: Any,
    accumulate: Any,
) -> jax.Array:
    """``a`` and ``b`` contracted over one axis each, operands cast to ``operand``,
    accumulated and returned in ``accumulate``."""
    dims = (((contract[0],), (contract[1],)), ((), ()))
    return lax.dot_general(
        a.astype(operand),
        b.astype(operand),
        dims,
        precision=precision,
        preferred_element_type=accumulate,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def linear(x: jax.Array, w: jax.Array, precision: Any, accumulate: Any) -> jax.Array:
    """``x @ w.T`` for (N, D) ``x`` and (C, D) ``w`` of one dtype, in ``accumulate``.

    The derivative keeps the operands' dtype too: the output's cotangent enters the two
    backward products in the operands' dtype (as torch's bfloat16 ``F.linear`` receives a
    bfloat16 gradient), where JAX's own rule would upcast both operands to float32.
    """
    return dot(x, w, (1, 1), precision, x.dtype, accumulate)


def _linear_fwd(
    x: jax.Array, w: jax.Array, precision: Any, accumulate: Any
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return linear(x, w, precision, accumulate), (x, w)


def _linear_bwd(precision: Any, accumulate: Any, res: tuple, g: jax.Array) -> tuple:
    x, w = res
    dx = dot(g, w, (1, 0), precision, x.dtype, accumulate).astype(x.dtype)
    dw = dot(g, x, (0, 0), precision, x.dtype, accumulate).astype(w.dtype)
    return dx, dw


linear.defvjp(_linear_fwd, _linear_bwd)
