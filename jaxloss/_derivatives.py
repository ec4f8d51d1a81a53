"""Custom derivative rules and the custom check primitive: a gradient poisoned where an
argument is invalid, and a check that costs nothing compiled but raises under checkify."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from . import _reduction


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


def poison_rows(x: jax.Array, bad: jax.Array, reduction: str) -> jax.Array:
    """``poison_gradient`` for a loss of rows: once the loss is reduced one bad row poisons
    the whole gradient (it flows into the sum); unreduced, only the bad rows' (``bad``
    broadcast against ``x``)."""
    return poison_gradient(x, jnp.any(bad) if _reduction.reduces(reduction) else bad)
