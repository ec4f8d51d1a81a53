"""What a large loss case does to memory, measured beside its time: the bytes XLA's
compiled program moves (its cost analysis), its passes over full-size arrays, the page
faults per call, and a triad of the same size (the bandwidth reference)."""

from __future__ import annotations

import math
import re
import resource
from collections.abc import Callable
from typing import Any


def xla_bytes_accessed(jitted: Callable, *args) -> float | None:
    """Bytes XLA's compiled program reads and writes (its cost analysis), or None."""
    try:
        cost = jitted.lower(*args).compile().cost_analysis()  # type: ignore[attr-defined, unused-ignore]
    except Exception:
        return None
    if isinstance(cost, list):
        cost = cost[0] if cost else {}
    value = (cost or {}).get("bytes accessed")
    return None if value is None else float(value)


def triad_callable(n: int) -> Callable[[], None]:
    """``u <- u + 2 v`` over n float32 (12 bytes per element) into a donated buffer: the
    bandwidth reference measured beside each large loss case, at the same size."""
    import jax
    import jax.numpy as jnp

    triad = jax.jit(lambda x, y: x + 2.0 * y, donate_argnums=0)
    state = [jnp.zeros(n, jnp.float32)]
    v = jnp.ones(n, jnp.float32)

    def run() -> None:
        state[0] = triad(state[0], v)
        state[0].block_until_ready()

    return run


def xla_full_size_passes(jitted: Callable, *args, elements: int) -> int | None:
    """Top-level operations of XLA's compiled program that read or write an array of at
    least ``elements`` elements: how many passes over memory the call makes."""

    try:
        text = jitted.lower(*args).compile().as_text()  # type: ignore[attr-defined, unused-ignore]
    except Exception:
        return None
    entry = text[text.index("\nENTRY") :]
    entry = entry[: entry.index("\n}")]
    big: dict[str, bool] = {}
    passes = 0
    for line in entry.splitlines()[1:]:
        m = re.match(r"\s+(?:ROOT )?%(\S+) = (.+?) ([\w-]+)\((.*?)\)", line)
        if not m:
            continue
        name, shape, op, operands = m.groups()
        dims = re.findall(r"\[([\d,]*)\]", shape)
        big[name] = any(math.prod(int(d) for d in ds.split(",") if d) >= elements for ds in dims)
        if op in ("parameter", "constant", "bitcast", "tuple", "get-tuple-element"):
            continue
        if big[name] or any(big.get(o, False) for o in re.findall(r"%([\w.\-]+)", operands)):
            passes += 1
    return passes


def minor_faults_per_call(fn: Callable[[], Any], calls: int = 3) -> float:
    """Minor page faults per call of ``fn`` (fresh pages the allocator had to map in)."""

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
