"""The suite's torch-parity harness: the calls the tests make, on ``jaxloss.testing``.

``jaxloss.testing`` (public, the ``testing`` extra) holds the machinery: converting inputs
to torch, running both sides eagerly and under ``jax.jit``, comparing values and
gradients, the tolerances and the failure report. This module only keeps the suite's
call shapes (``check_parity(jax_fn, torch_fn, args, kwargs, grad_argnums=..., dtype=...)``,
``assert_close(actual, expected, dtype, what)``) and ``check_hessian``.

The reference is live torch; nothing here is computed by the code under test.

Tolerances: ``jaxloss.testing.TOLERANCES``, by JAX's backend and dtype, each with its reason
(on the CPU: float32 rtol 1e-5, atol 1e-6; float64 rtol 1e-10, atol 1e-12), used everywhere
unless a test says why it differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from jaxloss import testing
from jaxloss.testing import precision as precision
from jaxloss.testing import to_jax as to_jax
from jaxloss.testing import to_torch as to_torch

TOLERANCES = {
    np.dtype(d): dict(zip(("rtol", "atol"), testing.tolerance(d))) for d in (np.float32, np.float64)
}


def assert_close(actual, expected, dtype, what: str, rtol=None, atol=None) -> None:
    """Same shape, and equal within ``dtype``'s tolerances (nan equals nan)."""
    testing.assert_close(actual, expected, rtol=rtol, atol=atol, dtype=dtype, what=what)


def check_parity(
    jax_fn: Callable,
    torch_fn: Callable,
    args: Sequence[Any],
    kwargs: dict | None = None,
    *,
    grad_argnums: Sequence[int] = (0,),
    dtype=np.float32,
    jit: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Assert ``jax_fn(*args, **kwargs)`` equals ``torch_fn(...)`` in value and gradient.

    ``args``/``kwargs`` hold numpy arrays (floating arrays must already be ``dtype``)
    or plain Python values. Gradients are taken w.r.t. ``args[i]`` for i in
    ``grad_argnums`` with a seeded random cotangent (so 'none' outputs are checked
    through every element). With ``jit`` the same checks run again with every
    array argument traced by ``jax.jit``. See ``jaxloss.testing.parity_report``.
    """
    report = testing.parity_report(
        jax_fn,
        torch_fn,
        args,
        kwargs,
        argnums=tuple(grad_argnums),
        rtol=rtol,
        atol=atol,
        jit=jit,
        dtype=dtype,
        seed=seed,
    )
    assert report.ok, str(report)


def check_hessian(
    jax_fn: Callable, torch_fn: Callable, x: np.ndarray, *, dtype=np.float64, rtol=None, atol=None
) -> None:
    """Second derivatives w.r.t. ``x`` against torch.autograd.functional.hessian."""
    expected = torch.autograd.functional.hessian(torch_fn, torch.from_numpy(x.copy()))
    with precision(dtype):
        actual = jax.jit(jax.hessian(jax_fn))(jnp.asarray(x))
    assert_close(actual, expected, dtype, "hessian", rtol, atol)
