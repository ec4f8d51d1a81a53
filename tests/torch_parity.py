"""The torch-parity harness: run a jaxloss function and its torch 2.13 twin on the
same seeded inputs and compare values AND gradients (eager and under jax.jit).

The reference is live torch; nothing here is computed by the code under test.

Tolerances (stated once, used everywhere unless a test says why it differs):
  float32: rtol 1e-5, atol 1e-6     float64: rtol 1e-10, atol 1e-12
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

TOLERANCES = {
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
}

_TORCH_DTYPE = {
    np.dtype(np.float16): torch.float16,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
}


def precision(dtype):
    """Context for computing in ``dtype``: float64 needs jax's x64 mode."""
    if np.dtype(dtype) == np.float64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def to_torch(value: Any, requires_grad: bool = False) -> Any:
    """numpy -> torch; integer arrays become int64 (torch's class-index dtype)."""
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.integer):
            return torch.from_numpy(value.astype(np.int64))
        t = torch.from_numpy(value.copy())
        return t.requires_grad_(requires_grad)
    return value


def to_jax(value: Any) -> Any:
    return jnp.asarray(value) if isinstance(value, np.ndarray) else value


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype in (torch.bfloat16,):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def assert_close(actual, expected, dtype, what: str, rtol=None, atol=None) -> None:
    tol = dict(TOLERANCES[np.dtype(dtype)])
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    a, e = _np(actual), _np(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch's {e.shape}"
    np.testing.assert_allclose(
        a.astype(np.float64), e.astype(np.float64), equal_nan=True, err_msg=what, **tol
    )


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
    array argument traced by ``jax.jit``.
    """
    kwargs = dict(kwargs or {})
    # --- torch reference ---
    t_args = [to_torch(a, i in grad_argnums) for i, a in enumerate(args)]
    t_kwargs = {k: to_torch(v) for k, v in kwargs.items()}
    t_out = torch_fn(*t_args, **t_kwargs)
    rng = np.random.default_rng(seed)
    ct = rng.uniform(0.5, 1.5, size=tuple(t_out.shape))
    t_grads = []
    if grad_argnums:
        t_out.backward(torch.as_tensor(ct, dtype=t_out.dtype))
        for i in grad_argnums:
            g = t_args[i].grad
            t_grads.append(torch.zeros_like(t_args[i]) if g is None else g)

    # --- jaxloss, eager then jit ---
    with precision(dtype):
        j_args = [to_jax(a) for a in args]
        j_kwargs = {k: to_jax(v) for k, v in kwargs.items()}
        array_keys = [k for k, v in j_kwargs.items() if isinstance(v, jax.Array)]
        array_pos = [i for i, a in enumerate(j_args) if isinstance(a, jax.Array)]

        def call(pos_arrays, kw_arrays):
            a = list(j_args)
            for i, v in zip(array_pos, pos_arrays):
                a[i] = v
            kw = dict(j_kwargs)
            kw.update(zip(array_keys, kw_arrays))
            return jax_fn(*a, **kw)

        modes = [("eager", call)] + ([("jit", jax.jit(call))] if jit else [])
        for mode, f in modes:
            pos = [j_args[i] for i in array_pos]
            kws = [j_kwargs[k] for k in array_keys]
            diff_idx = [array_pos.index(i) for i in grad_argnums]

            def of_diff(*d):
                p = list(pos)
                for i, v in zip(diff_idx, d):
                    p[i] = v
                return f(p, kws)

            out, vjp = jax.vjp(of_diff, *[pos[i] for i in diff_idx])
            assert out.dtype == np.dtype(str(t_out.dtype).replace("torch.", "")), (
                f"{mode}: dtype {out.dtype} != torch's {t_out.dtype}"
            )
            assert_close(out, t_out, dtype, f"{mode} value", rtol, atol)
            if grad_argnums:
                grads = vjp(jnp.asarray(ct, dtype=out.dtype))
                for i, g, tg in zip(grad_argnums, grads, t_grads):
                    assert_close(g, tg, dtype, f"{mode} grad of argument {i}", rtol, atol)


def check_hessian(
    jax_fn: Callable, torch_fn: Callable, x: np.ndarray, *, dtype=np.float64, rtol=None, atol=None
) -> None:
    """Second derivatives w.r.t. ``x`` against torch.autograd.functional.hessian."""
    expected = torch.autograd.functional.hessian(torch_fn, torch.from_numpy(x.copy()))
    with precision(dtype):
        actual = jax.jit(jax.hessian(jax_fn))(jnp.asarray(x))
    assert_close(actual, expected, dtype, "hessian", rtol, atol)
