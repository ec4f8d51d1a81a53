"""Custom derivative rules and the checked mode: a gradient poisoned where an argument is
invalid, and checks of traced arguments that ``checkify`` raises inside ``checked()`` and
that are not traced at all outside it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax import custom_batching, lax
from jax.experimental import checkify

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


# The checked mode: off unless a caller asks for it, and part of jit's cache key, so that a
# function traced unchecked is traced again once checks are on (and the other way round).
_CHECKED = jax.make_user_context(False)


@contextlib.contextmanager
def checked() -> Iterator[None]:
    """Turn on jaxloss's runtime checks of traced arguments (a context manager, also usable
    as a decorator).

    Under ``jax.jit`` an argument's values are unknown when the loss is traced, so an
    out-of-range class index, a ``label_smoothing`` above 1 or a CTC length that does not
    fit cannot raise there: the loss and its gradient come back ``nan`` instead. Inside
    ``checked()`` those functions also carry a ``jax.experimental.checkify`` check with the
    message torch raises, so that ``checkify.checkify`` reports it::

        from jax.experimental import checkify

        with jaxloss.checked():
            err, loss = checkify.checkify(jax.jit(loss_fn))(logits, target)
        err.throw()  # ValueError: Target 9 is out of bounds. (`check` failed)

    Outside ``checked()`` the checks are not traced at all and cost nothing. Inside, each
    check is a ``checkify.debug_check``: without ``checkify.checkify`` around the call it is
    dropped, but, as every effect in a jitted function, it takes the call off jax's fast
    dispatch path (a small jitted ``cross_entropy`` call takes several times as long), so
    keep the checked mode for debugging runs. Entering or leaving it makes ``jax.jit``
    trace and compile again.
    """
    with _CHECKED(True):
        yield


@custom_batching.custom_vmap
def _first_failure(ok: jax.Array, values: tuple[jax.Array, ...]) -> Any:
    return ok, values


@_first_failure.def_vmap
def _first_failure_vmap(axis_size, in_batched, ok, values):
    # a batch passes when every member does; report the first failing member's values, so
    # that the message names the first bad element as an unbatched call would (a zero for
    # an empty batch, which passes)
    ok_batched, values_batched = in_batched
    first: Any = 0
    if ok_batched:
        first, ok = (jnp.argmax(~ok), jnp.all(ok)) if axis_size else (0, jnp.bool_(True))

    def member(v, batched):
        if not batched:
            return v
        return v[first] if axis_size else jnp.zeros(v.shape[1:], v.dtype)

    values = tuple(member(v, b) for v, b in zip(values, values_batched))
    return (ok, values), (False, (False,) * len(values))


def traced_check(ok: jax.Array, message: str, *values: Any) -> None:
    """Inside ``checked()``, a check that ``ok`` (a scalar) holds: under ``checkify.checkify``
    a False ``ok`` makes ``err.throw()`` raise ``message`` formatted with ``values`` (``{}``
    placeholders). Outside ``checked()`` nothing is traced. The check is an effect, so it
    needs no data dependency on the loss to stay in the program."""
    if _CHECKED.value:
        ok, values = _first_failure(
            jnp.asarray(ok, bool), tuple(lax.stop_gradient(jnp.asarray(v)) for v in values)
        )
        checkify.debug_check(ok, message, *values)


def poison_rows(x: jax.Array, bad: jax.Array, reduction: str) -> jax.Array:
    """``poison_gradient`` for a loss of rows: once the loss is reduced one bad row poisons
    the whole gradient (it flows into the sum); unreduced, only the bad rows' (``bad``
    broadcast against ``x``)."""
    return poison_gradient(x, jnp.any(bad) if _reduction.reduces(reduction) else bad)
