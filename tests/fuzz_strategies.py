"""Hypothesis strategies for the torch differential fuzzer (tests/test_fuzz.py).

``STRATEGIES`` maps every jaxloss functional to a strategy drawing a ``Case``: one call with
random options (reduction and the legacy flags, weight, ignore_index, label_smoothing, margin,
p, beta, delta, log_input, full, eps, swap, blank, zero_infinity, ...), shapes (empty,
unbatched, K-dim, broadcast where torch broadcasts), float32 or float64, and the values
where losses have kinks: exact ties built from binary fractions (input == target, a
difference exactly at beta, delta or a margin), +-inf, nan, probabilities exactly 0 and 1.
Now and then a call is invalid on purpose (torch must raise, and then so must jaxloss).

Hypothesis shrinks towards the first entry of every ``sampled_from`` and towards 0 for
integers, so each list starts with the plainest choice and ``_rare`` features are off at 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis.extra import numpy as hnp

import jaxloss

INF, NAN = math.inf, math.nan
GRID = tuple(k / 4 for k in range(-12, 13))  # binary fractions: sums and differences are exact
NONFINITE = (INF, -INF, NAN)
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


# --- a case -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Sided:
    """An option written once per side (a distance function); ``name`` is its repr."""

    name: str
    jax: Any
    torch: Any

    def __repr__(self) -> str:
        return self.name


@dataclasses.dataclass(eq=False)
class Case:
    """``jaxloss.<name>(*args, **kwargs)`` against ``torch.nn.functional.<name>``.

    ``grad``: positions in ``args`` (ints) and names of array keyword arguments (strs, e.g.
    ``"linear_bias"``) differentiated on both sides (those torch has a gradient for). Numpy
    arrays are the inputs; every other value is a static option.
    """

    name: str
    args: tuple
    kwargs: dict
    grad: tuple[int | str, ...] = (0,)

    @property
    def arrays(self) -> list[np.ndarray]:
        values = list(self.args) + list(self.kwargs.values())
        return [v for v in values if isinstance(v, np.ndarray)]

    @property
    def floats(self) -> list[np.ndarray]:
        return [a for a in self.arrays if a.dtype.kind == "f"]

    @property
    def dtype(self) -> np.dtype:
        """The precision compared in: float64 if any floating argument is float64."""
        return F64 if any(a.dtype == F64 for a in self.floats) else F32

    def side(self, which: str) -> dict:
        return {k: getattr(v, which) if isinstance(v, Sided) else v for k, v in self.kwargs.items()}

    def __repr__(self) -> str:
        shown = [_source(a) for a in self.args]
        shown += [f"{k}={_source(v)}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(shown)})  # grads of {self.grad}"


def _source(v: Any) -> str:
    """A value as code to paste (``from numpy import array, float32, float64, int64, inf, nan``)."""
    if isinstance(v, np.ndarray):
        return f"array({_literal(v.tolist())}, {v.dtype})"
    return repr(v)


def _literal(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_literal(u) for u in v) + "]"
    return repr(v)  # inf and nan print as names


# --- building blocks --------------------------------------------------------------------
def _rare(draw, one_in: int) -> bool:
    """True about once in ``one_in`` draws; shrinks to False."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


def _dtype(draw) -> np.dtype:
    return draw(st.sampled_from([F32, F64]))


def _other(draw, dtype: np.dtype) -> np.dtype:
    """Usually ``dtype``; now and then the other float width (a mixed-precision call)."""
    return (F64 if dtype == F32 else F32) if _rare(draw, 12) else dtype


def _exact(dtype: np.dtype, values) -> tuple[float, ...]:
    return tuple(float(dtype.type(v)) for v in values)


def _elements(dtype: np.dtype, lo: float, hi: float, grid=GRID):
    width = 32 if dtype == F32 else 64
    on_grid = [g for g in grid if lo <= g <= hi]
    floats = st.floats(lo, hi, width=width, allow_subnormal=False)
    return st.one_of(st.sampled_from(on_grid), floats) if on_grid else floats


def _array(draw, shape, dtype, lo=-3.0, hi=3.0, grid=GRID, special=NONFINITE) -> np.ndarray:
    """Values in [lo, hi] (half of them binary fractions from ``grid``); a quarter of the
    arrays also get one to three entries from ``special`` (e.g. inf, -inf, nan)."""
    x = np.array(draw(hnp.arrays(dtype, shape, elements=_elements(dtype, lo, hi, grid))))
    if special and x.size and _rare(draw, 4):
        for _ in range(draw(st.integers(1, min(3, x.size)))):
            x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(special))
    return x


def _ints(draw, shape, lo: int, hi: int) -> np.ndarray:
    return np.array(draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi))))


def _ties(draw, x: np.ndarray, y: np.ndarray, offsets=(0.0,)) -> None:
    """Make ``x - y`` exactly one of ``offsets`` (binary fractions) at up to three entries."""
    if x.shape != y.shape or not x.size or not _rare(draw, 2):
        return
    for _ in range(draw(st.integers(1, min(3, x.size)))):
        i = draw(st.integers(0, x.size - 1))
        g, off = draw(st.sampled_from(GRID)), draw(st.sampled_from(offsets))
        x.flat[i], y.flat[i] = g, g - off


@st.composite
def _partner(draw, shape: tuple[int, ...], rank: bool = True) -> tuple[int, ...]:
    """Usually ``shape``; else a different shape torch broadcasts with it (a dim set to 1,
    leading dims dropped, or (``rank=True``) a leading dim added)."""
    s = list(shape)
    kind = draw(st.sampled_from(["same", "same", "ones", "drop", "lead"]))
    if kind == "ones" and s:
        s[draw(st.integers(0, len(s) - 1))] = 1
    elif kind == "drop" and s and rank:
        s = s[draw(st.integers(1, len(s))) :]
    elif kind == "lead" and rank:
        s = [2, *s]
    return tuple(s)


@st.composite
def _reduction(draw, legacy: bool = True, extra: tuple[str, ...] = ()) -> dict:
    kw = {"reduction": draw(st.sampled_from(("mean", "none", "sum", *extra)))}
    if _rare(draw, 12):
        kw["reduction"] = "elementwise_mean"  # torch's deprecated alias of 'mean'
    if legacy and _rare(draw, 8):
        kw["size_average"] = draw(st.sampled_from([None, True, False]))
        kw["reduce"] = draw(st.sampled_from([None, True, False]))
    return kw


def _option(draw, usual: list, rare: list = (), one_in: int = 8):
    """One of ``usual``; once in ``one_in`` draws one of ``rare`` (e.g. an invalid value)."""
    if rare and _rare(draw, one_in):
        return draw(st.sampled_from(list(rare)))
    return draw(st.sampled_from(usual))


def _random_float(draw, lo: float, hi: float) -> float:
    return draw(st.floats(lo, hi, allow_subnormal=False))


ELEMENTWISE_SHAPES = [(3,), (2, 3), (), (1,), (2, 1, 3), (0,), (2, 0), (2, 2, 2, 2)]
PROBABILITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
SIGNS = (-1.0, 1.0)


@st.composite
def _pair(draw, dtype, offsets=(0.0,), broadcast=True, lo=-3.0, hi=3.0, y_lo=None, y_hi=None):
    """(input, target) with broadcastable shapes (either may be the larger), exact ties."""
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    other = draw(_partner(shape)) if broadcast else shape
    xs, ys = (shape, other) if draw(st.booleans()) else (other, shape)
    x = _array(draw, xs, dtype, lo, hi)
    y_lo, y_hi = lo if y_lo is None else y_lo, hi if y_hi is None else y_hi
    y = _array(draw, ys, _other(draw, dtype), y_lo, y_hi)
    _ties(draw, x, y, offsets)
    return x, y


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Case]]] = {}


def loss(*names: str):
    """Register a composite strategy ``f(draw, name)`` for each functional in ``names``."""

    def register(f):
        composite = st.composite(f)
        for name in names:
            STRATEGIES[name] = lambda name=name: composite(name)
        return f

    return register


# --- regression ---------------------------------------------------------------------------
@loss("l1_loss", "mse_loss")
def _pointwise(draw, name):
    dtype = _dtype(draw)
    x, y = draw(_pair(dtype))
    kw = draw(_reduction())
    if _rare(draw, 4):
        kw["weight"] = _array(draw, x.shape, _other(draw, dtype), 0.0, 2.0, special=())
    grad = (0, 1)
    if _rare(draw, 10):  # an integer target is promoted
        y, grad = _ints(draw, y.shape, -3, 3), (0,)
    return Case(name, (x, y), kw, grad)


BETAS = [1.0, 0.0, 0.5, 0.25, 2.5]


@loss("smooth_l1_loss")
def _smooth_l1(draw, name):
    dtype = _dtype(draw)
    beta = _option(draw, BETAS, [-0.5, "random"])
    beta = _random_float(draw, 1e-3, 3.0) if beta == "random" else beta
    x, y = draw(_pair(dtype, offsets=(0.0, beta, -beta) if beta in BETAS else (0.0,)))
    kw = dict(draw(_reduction()), beta=beta)
    grad = (0, 1)
    if _rare(draw, 12):  # an integer input
        x, grad = _ints(draw, x.shape, -3, 3), (1,)
    return Case(name, (x, y), kw, grad)


DELTAS = [1.0, 0.5, 0.25, 2.5]


@loss("huber_loss")
def _huber(draw, name):
    dtype = _dtype(draw)
    delta = _option(draw, DELTAS, [0.0, -1.0, "random"])
    delta = _random_float(draw, 1e-3, 3.0) if delta == "random" else delta
    x, y = draw(_pair(dtype, offsets=(0.0, delta, -delta) if delta in DELTAS else (0.0,)))
    kw = dict(draw(_reduction(legacy=False)), delta=delta)
    if _rare(draw, 4):
        kw["weight"] = _array(draw, x.shape, _other(draw, dtype), 0.0, 2.0, special=())
    return Case(name, (x, y), kw, (0, 1))


COUNTS = (0.0, 1.0, 2.0, 3.0, 0.5, 1.5, 7.0)


@loss("poisson_nll_loss")
def _poisson_nll(draw, name):
    dtype = _dtype(draw)
    log_input, full = draw(st.booleans()), draw(st.booleans())
    eps = _option(draw, [1e-8, 1e-4, 0.5], [0.0])
    lo = -3.0 if log_input else (-1.0 if _rare(draw, 10) else 0.0)  # a negative rate: nan
    x, y = draw(_pair(dtype, lo=lo, hi=3.0, y_lo=0.0, y_hi=8.0))
    if _rare(draw, 2):
        y = np.array(draw(hnp.arrays(y.dtype, y.shape, elements=st.sampled_from(COUNTS))))
    kw = dict(draw(_reduction()), log_input=log_input, full=full, eps=eps)
    return Case(name, (x, y), kw, (0, 1))


@loss("gaussian_nll_loss")
def _gaussian_nll(draw, name):
    dtype = _dtype(draw)
    shape = draw(st.sampled_from([(2, 3), (3,), (2, 1, 3), (4, 2), (), (0, 3)]))
    x = _array(draw, shape, dtype)
    y = _array(draw, draw(_partner(shape)), _other(draw, dtype))
    _ties(draw, x, y)
    kind = draw(st.sampled_from(["same", "fewer", "last1", "one1", "float", "bad"]))
    var_shape = {
        "same": shape,
        "fewer": shape[:-1],
        "last1": shape[:-1] + (1,) if shape else (),
        "one1": (1,) + shape[1:] if shape else (),
        "bad": shape + (2,),
    }.get(kind)
    lo = -1.0 if _rare(draw, 10) else 0.0  # a negative variance: torch raises
    tiny = _exact(dtype, (1e-8, 1e-7, 0.0))
    if var_shape is None:
        var = draw(st.sampled_from([1.0, 0.5, 1e-8, 0.0, 2.0]))
    else:
        var = _array(draw, var_shape, _other(draw, dtype), lo, 3.0, special=tiny + (INF, NAN))
    kw = dict(
        full=draw(st.booleans()),
        eps=_option(draw, [1e-6, 1e-3, 0.5]),
        **draw(_reduction(legacy=False)),
    )
    return Case(name, (x, y, var), kw, (0, 1, 2) if var_shape is not None else (0, 1))


# --- binary and divergence ---------------------------------------------------------------------
def _broadcast_weight(draw, shape, dtype, lo=0.0, hi=2.0):
    """None, or a weight broadcasting to ``shape``: its last dim, the full shape, or a dim of 1."""
    kind = draw(st.sampled_from([None, "last", "full", "ones"]))
    if kind is None:
        return None
    ws = {"last": shape[-1:], "full": shape, "ones": draw(_partner(shape, rank=False))}[kind]
    return _array(draw, ws, _other(draw, dtype), lo, hi, special=())


@loss("binary_cross_entropy")
def _bce(draw, name):
    dtype = _dtype(draw)
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    bad = (1.5, -0.25, NAN) if _rare(draw, 10) else ()  # outside [0, 1]: torch raises
    x = _array(draw, shape, dtype, 0.0, 1.0, PROBABILITIES, special=bad)
    y = _array(draw, shape, _other(draw, dtype), 0.0, 1.0, PROBABILITIES, special=())
    kw = dict(draw(_reduction()))
    w = _broadcast_weight(draw, shape, dtype)
    if w is not None:
        kw["weight"] = w
    return Case(name, (x, y), kw, (0, 1))


@loss("binary_cross_entropy_with_logits")
def _bce_logits(draw, name):
    dtype = _dtype(draw)
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    x = _array(draw, shape, dtype, -4.0, 4.0, special=NONFINITE + (100.0, -100.0))
    y_hi = 2.0 if _rare(draw, 8) else 1.0  # targets above 1 are accepted
    y = _array(draw, shape, _other(draw, dtype), 0.0, y_hi, PROBABILITIES, special=())
    kw = dict(draw(_reduction()))
    for option in ("weight", "pos_weight"):
        w = _broadcast_weight(draw, shape, dtype)
        if w is not None:
            kw[option] = w
    return Case(name, (x, y), kw, (0, 1))


@loss("soft_margin_loss")
def _soft_margin(draw, name):
    dtype = _dtype(draw)
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    x = _array(draw, shape, dtype, -4.0, 4.0, special=NONFINITE + (100.0, -100.0, 20.0))
    ys = draw(_partner(shape))
    if _rare(draw, 6):
        y = _array(draw, ys, _other(draw, dtype), -2.0, 2.0, special=())
    else:
        y = np.array(draw(hnp.arrays(_other(draw, dtype), ys, elements=st.sampled_from(SIGNS))))
    return Case(name, (x, y), draw(_reduction()), (0,))


@loss("multilabel_soft_margin_loss")
def _multilabel_soft_margin(draw, name):
    dtype = _dtype(draw)
    shape = draw(st.sampled_from([(2, 3), (3,), (1, 4), (0, 3), (2, 1), ()]))
    x = _array(draw, shape, dtype, -4.0, 4.0)
    ys = draw(_partner(shape)) if _rare(draw, 6) else shape
    y = _array(draw, ys, _other(draw, dtype), 0.0, 1.0, PROBABILITIES, special=())
    kw = dict(draw(_reduction()))
    kind = draw(st.sampled_from([None, "per_class", "full"]))
    if kind is not None and shape:
        ws = shape[-1:] if kind == "per_class" else shape
        kw["weight"] = _array(draw, ws, _other(draw, dtype), 0.0, 2.0, special=())
    return Case(name, (x, y), kw, (0, 1))


@loss("kl_div")
def _kl_div(draw, name):
    dtype = _dtype(draw)
    log_target = draw(st.booleans())
    x, _ = draw(_pair(dtype, lo=-4.0, hi=1.0))
    ys = draw(_partner(x.shape))
    if log_target:
        y = _array(draw, ys, _other(draw, dtype), -4.0, 1.0)
    else:
        hi = 2.0 if _rare(draw, 10) else 1.0
        lo = -0.5 if _rare(draw, 10) else 0.0  # a negative target: nan
        y = _array(draw, ys, _other(draw, dtype), lo, hi, PROBABILITIES, special=(INF, NAN))
    kw = dict(draw(_reduction(extra=("batchmean",))), log_target=log_target)
    return Case(name, (x, y), kw, (0, 1))


# --- margin -----------------------------------------------------------------------------------------
MARGINS = [1.0, 0.5, 0.0, 2.0, -0.5]


def _signs(draw, shape, dtype) -> np.ndarray:
    """Mostly +-1; now and then other values (0, 2, fractions), which some losses treat apart."""
    if _rare(draw, 6):
        return _array(draw, shape, dtype, -2.0, 2.0, special=())
    return np.array(draw(hnp.arrays(dtype, shape, elements=st.sampled_from(SIGNS))))


@loss("hinge_embedding_loss")
def _hinge_embedding(draw, name):
    dtype = _dtype(draw)
    margin = _option(draw, MARGINS, ["random"])
    margin = _random_float(draw, -1.0, 3.0) if margin == "random" else margin
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    x = _array(draw, shape, dtype)
    if x.size and margin in MARGINS and _rare(draw, 2):
        x.flat[draw(st.integers(0, x.size - 1))] = margin  # exactly at the hinge
    y = _signs(draw, draw(_partner(shape)), _other(draw, dtype))
    if _rare(draw, 12):  # an integer target
        y = y.astype(np.int64)
    return Case(name, (x, y), dict(draw(_reduction()), margin=margin), (0,))


@loss("margin_ranking_loss")
def _margin_ranking(draw, name):
    dtype = _dtype(draw)
    margin = _option(draw, [0.0, 0.5, -0.25, 1.0], ["random"])
    margin = _random_float(draw, -1.0, 2.0) if margin == "random" else margin
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    x1 = _array(draw, draw(_partner(shape, rank=False)), dtype)
    x2 = _array(draw, draw(_partner(shape, rank=False)), _other(draw, dtype))
    y = _signs(draw, draw(_partner(shape, rank=False)), _other(draw, dtype))
    if x1.shape == x2.shape == y.shape and x1.size and _rare(draw, 2):
        for i in range(x1.size):  # -y (x1 - x2) + margin == 0 exactly
            if y.flat[i] in SIGNS and float(margin) in (0.0, 0.5, -0.25, 1.0):
                g = draw(st.sampled_from(GRID))
                x1.flat[i], x2.flat[i] = g, g - margin * y.flat[i]
    return Case(name, (x1, x2, y), dict(draw(_reduction()), margin=margin), (0, 1, 2))


@st.composite
def _class_layout(draw):
    """(input shape, N, C, unbatched) for multi_margin / multilabel_margin."""
    layout = draw(st.sampled_from(["batched", "unbatched", "scalar", "empty"]))
    c = draw(st.integers(1, 4))
    if layout == "batched":
        n = draw(st.integers(1, 3))
        return (n, c), n, c, False
    if layout == "unbatched":
        return (c,), 1, c, True
    if layout == "scalar":
        return (), 1, 1, True
    return (0, c), 0, c, False


@loss("multi_margin_loss")
def _multi_margin(draw, name):
    dtype = _dtype(draw)
    shape, n, c, unbatched = draw(_class_layout())
    p = _option(draw, [1, 2], [3])
    margin = _option(draw, MARGINS, [0.25])
    x = _array(draw, shape, dtype)
    hi = c if _rare(draw, 12) else c - 1  # class c is out of range: torch raises
    lo = -1 if _rare(draw, 12) else 0
    t = _ints(draw, (n,) if not unbatched or _rare(draw, 2) else (), lo, hi)
    if x.ndim == 2 and n and _rare(draw, 2):  # margin - x[y] + x[i] == 0 exactly
        for row in range(n):
            if 0 <= t[row] < c:
                g = draw(st.sampled_from(GRID))
                x[row] = g - margin
                x[row, t[row]] = g
    kw = dict(draw(_reduction()), p=p, margin=margin)
    if _rare(draw, 3):
        kw["weight"] = _array(draw, (c,), _other(draw, dtype), 0.0, 2.0, special=())
    return Case(name, (x, t), kw, (0,))


@loss("multilabel_margin_loss")
def _multilabel_margin(draw, name):
    dtype = _dtype(draw)
    shape, n, c, unbatched = draw(_class_layout())
    x = _array(draw, shape, dtype)
    t = np.full((n, c), -1, np.int64)
    for row in range(n):
        k = draw(st.integers(0, c))
        t[row, :k] = _ints(draw, (k,), 0, c - 1)  # a class listed twice counts twice
        if k + 1 < c:
            t[row, k + 1 :] = _ints(draw, (c - k - 1,), -1, c - 1)  # after the first -1: unread
    if _rare(draw, 12) and t.size:
        t.flat[draw(st.integers(0, t.size - 1))] = draw(st.sampled_from([c, -2]))  # torch raises
    t = t.reshape(shape if shape else (1,))
    if shape == () and not _rare(draw, 2):
        t = t.reshape(())
    if x.ndim == 2 and n and _rare(draw, 2):  # 1 - x[j] + x[i] == 0 exactly
        for row in range(n):
            g = draw(st.sampled_from(GRID))
            x[row] = np.where(np.isin(np.arange(c), t[row]), g, g - 1.0)
    return Case(name, (x, t), draw(_reduction()), (0,))


# --- classification -------------------------------------------------------------------------
@st.composite
def _classes(draw, dtype, logits: bool):
    """Scores (C,), (N, C), (N, C, d1) or (N, C, d1, d2), class-index target with ignore_index,
    optional weight."""
    c = draw(st.sampled_from([3, 1, 2, 4, 0]))
    layout = draw(st.sampled_from(["batched", "unbatched", "k1", "k2", "empty"]))
    n = draw(st.integers(1, 3))
    d = tuple(draw(st.integers(1, 2)) for _ in range({"k1": 1, "k2": 2}.get(layout, 0)))
    shape = {"unbatched": (c,), "empty": (0, c)}.get(layout, (n, c, *d))
    special = (-INF, NAN, INF) if logits else (-INF, NAN)
    x = _array(draw, shape, dtype, -4.0, 4.0, special=special)
    ignore_index = _option(draw, [-100, 1, -1, 0], [c, 5])
    target_shape = () if layout == "unbatched" else (shape[0], *shape[2:])
    if layout == "unbatched" and _rare(draw, 6):
        target_shape = (1,)
    hi = max(c - 1, 0)
    t = _ints(draw, target_shape, 0, hi)
    if c == 0 or _rare(draw, 2):  # some (for C == 0 every) targets ignored
        mask = np.array(draw(hnp.arrays(bool, target_shape))) | (c == 0)
        t = np.where(mask, ignore_index, t)
    if _rare(draw, 12) and t.size:
        t.flat[0] = draw(st.sampled_from([c, -1, c + 2]))  # out of range unless ignored
    weight = None
    if _rare(draw, 3):
        wdtype = np.dtype(np.float16) if _rare(draw, 10) else _other(draw, dtype)
        weight = _array(draw, (c,), wdtype, 0.0, 2.0, (0.0, 0.5, 1.0, 2.0), special=())
    return x, t, weight, ignore_index


@loss("cross_entropy")
def _cross_entropy(draw, name):
    dtype = _dtype(draw)
    x, t, weight, ignore_index = draw(_classes(dtype, logits=True))
    kw = dict(draw(_reduction()), ignore_index=ignore_index)
    kw["label_smoothing"] = _option(draw, [0.0, 0.1, 0.25, 1.0, 0.5], [-0.1, 1.5])
    if weight is not None:
        kw["weight"] = weight
    grad = (0,)
    if x.ndim >= 1 and _rare(draw, 3):  # class probabilities of input's shape
        t = _array(draw, x.shape, _other(draw, dtype), 0.0, 1.0, PROBABILITIES, special=())
        if _rare(draw, 2) and x.size:  # rows that sum to one
            axis = 0 if x.ndim == 1 else 1
            t = np.exp(t) / np.exp(t).sum(axis=axis, keepdims=True)
        if ignore_index >= 0 and not _rare(draw, 6):
            kw["ignore_index"] = -100  # torch raises for ignore_index >= 0 with probabilities
        grad = (0, 1)
    return Case(name, (x, t), kw, grad)


@loss("nll_loss")
def _nll(draw, name):
    dtype = _dtype(draw)
    x, t, weight, ignore_index = draw(_classes(dtype, logits=False))
    kw = dict(draw(_reduction()), ignore_index=ignore_index)
    if weight is not None:
        kw["weight"] = weight
    return Case(name, (x, t), kw, (0,))


# --- ctc --------------------------------------------------------------------------------------------
def _log_softmax(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        m = np.max(x, axis=-1, keepdims=True)
        return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


@loss("ctc_loss")
def _ctc(draw, name):
    dtype = _dtype(draw)
    num_t, n, c = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(2, 5))
    blank = draw(st.sampled_from([0, c - 1, 1 % c]))
    s = draw(st.integers(0, 4))
    labels = [k for k in range(c) if k != blank]
    layout = draw(st.sampled_from(["padded", "concatenated", "unbatched"]))
    if layout == "unbatched":
        n = 1
    tl = _ints(draw, (n,), 0, s)
    il = _ints(draw, (n,), 0, num_t)  # short inputs make impossible alignments
    rows = [_ints(draw, (int(k),), 0, len(labels) - 1) for k in tl]
    rows = [np.array(labels, np.int64)[r] for r in rows]
    x = _array(draw, (num_t, n, c), F64, -4.0, 4.0, special=(-INF,))
    if not _rare(draw, 4):
        x = _log_softmax(x)  # log-probabilities (un-normalised scores now and then)
    x = x.astype(dtype)
    padded = _ints(draw, (n, s), -3, c + 2)  # junk padding torch never reads
    for b, row in enumerate(rows):
        padded[b, : len(row)] = row
    concatenated = np.concatenate([np.zeros(0, np.int64), *rows]).astype(np.int64)
    as_tuple = draw(st.booleans())
    if layout == "unbatched":
        x = x[:, 0]
        if draw(st.booleans()):
            targets, il, tl = concatenated, il.reshape(()), tl.reshape(())
        else:
            targets = padded
        if as_tuple:
            il, tl = tuple(int(v) for v in il.reshape(-1)), tuple(int(v) for v in tl.reshape(-1))
    else:
        targets = padded if layout == "padded" else concatenated
        if as_tuple:
            il, tl = tuple(int(v) for v in il), tuple(int(v) for v in tl)
    kw = dict(draw(_reduction(legacy=False)), blank=blank, zero_infinity=draw(st.booleans()))
    return Case(name, (x, targets, il, tl), kw, (0,))


# --- embedding --------------------------------------------------------------------------------------------
P_NORMS = [2.0, 1.0, 3.0, 1.5, 0.5, INF, -INF, 0.0, -1.0]
EPSILONS = [1e-6, 0.0, 1e-3]


@st.composite
def _vectors(draw, dtype, count: int, shapes, broadcast=True):
    """``count`` arrays of one shape (or, now and then, shapes broadcasting along the batch),
    with equal rows (zero differences), zero vectors and exact ties now and then."""
    shape = draw(st.sampled_from(shapes))
    out = []
    for _ in range(count):
        s = shape
        if broadcast and len(shape) == 2 and _rare(draw, 6):
            s = (1, shape[1])
        out.append(_array(draw, s, _other(draw, dtype) if out else dtype))
    first = out[0]
    for v in out[1:]:
        if v.shape == first.shape and first.size and _rare(draw, 3):
            rows = first.reshape(-1, first.shape[-1]) if first.ndim else first.reshape(1, 1)
            i = draw(st.integers(0, rows.shape[0] - 1))
            v.reshape(rows.shape)[i] = rows[i]  # equal rows: a zero difference
    if first.size and _rare(draw, 6):
        first.reshape(-1)[: first.shape[-1] if first.ndim else 1] = 0.0  # a zero vector
    return out


@loss("pairwise_distance")
def _pairwise(draw, name):
    dtype = _dtype(draw)
    x1, x2 = draw(_vectors(dtype, 2, [(3, 4), (4,), (2, 1), (1, 3), (), (0, 3), (3, 0)]))
    if _rare(draw, 6) and x1.ndim == 2 and len(x2):
        x2 = x2[0]  # (N, D) against (D,)
    kw = dict(
        p=draw(st.sampled_from(P_NORMS)),
        eps=draw(st.sampled_from(EPSILONS)),
        keepdim=draw(st.booleans()),
    )
    return Case(name, (x1, x2), kw, (0, 1))


@loss("cosine_embedding_loss")
def _cosine_embedding(draw, name):
    dtype = _dtype(draw)
    x1, x2 = draw(_vectors(dtype, 2, [(3, 4), (4,), (2, 1), (1, 3), (0, 3), (2, 0)]))
    if x2.shape == x1.shape and x1.size and _rare(draw, 3):
        x2[...] = draw(st.sampled_from([-1.0, 2.0, 0.5])) * x1  # cos exactly +-1
    n = max(x1.shape[0], x2.shape[0]) if x1.ndim == 2 else None
    y = _signs(draw, () if n is None else (n,), _other(draw, dtype))
    margin = _option(draw, [0.0, 0.5, -0.3, 1.0, -1.0], ["random"])
    margin = _random_float(draw, -1.0, 1.0) if margin == "random" else margin
    return Case(name, (x1, x2, y), dict(draw(_reduction()), margin=margin), (0, 1))


@loss("triplet_margin_loss")
def _triplet(draw, name):
    dtype = _dtype(draw)
    a, p, n = draw(_vectors(dtype, 3, [(3, 4), (4,), (2, 1), (1, 3), (0, 3), (2, 0)]))
    kw = dict(
        draw(_reduction()),
        margin=_option(draw, [1.0, 0.5, 2.0, 0.25], [0.0, -1.0]),
        p=draw(st.sampled_from([2.0, 1.0, 3.0, INF, 0.5])),
        eps=draw(st.sampled_from(EPSILONS)),
        swap=draw(st.booleans()),
    )
    return Case(name, (a, p, n), kw, (0, 1, 2))


@jax.custom_jvp
def _torch_abs(x):
    return jnp.abs(x)


@_torch_abs.defjvp
def _torch_abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # torch: d|x|/dx = sign(x), and torch.sign is 0 at 0 and at nan
    return jnp.abs(x), jnp.where(jnp.isnan(x), jnp.zeros((), x.dtype), jnp.sign(x)) * t


DISTANCES = [
    None,
    Sided(
        "l1",
        lambda u, v: jnp.sum(_torch_abs(u - v), axis=-1),
        lambda u, v: torch.sum(torch.abs(u - v), dim=-1),
    ),
    Sided(
        "cosine",
        lambda u, v: 1.0 - jnp.sum(u * v, -1) / jnp.sqrt(jnp.sum(u * u, -1) * jnp.sum(v * v, -1)),
        lambda u, v: 1.0 - F.cosine_similarity(u, v, dim=-1, eps=0.0),
    ),
    Sided(
        "PairwiseDistance(p=1.0)",
        jaxloss.PairwiseDistance(p=1.0),
        torch.nn.PairwiseDistance(p=1.0),
    ),
]


@loss("triplet_margin_with_distance_loss")
def _triplet_with_distance(draw, name):
    dtype = _dtype(draw)
    a, p, n = draw(_vectors(dtype, 3, [(3, 4), (4,), (2, 1), (1, 3), (0, 3)], broadcast=False))
    kw = dict(
        distance_function=draw(st.sampled_from(DISTANCES)),
        margin=_option(draw, [1.0, 0.5, 2.0, 0.25], [0.0, -1.0]),
        swap=draw(st.booleans()),
        **draw(_reduction(legacy=False)),
    )
    return Case(name, (a, p, n), kw, (0, 1, 2))


# --- linear cross entropy -------------------------------------------------------------------
def _lce_options(draw) -> Sided | None:
    """jaxloss's path: None (its default, chunked here), dense, or tiny token/vocabulary
    chunks (many chunks, ragged last ones). torch always takes options=None (its dense
    reference)."""
    kind = draw(st.sampled_from([None, "chunks", "chunks", "dense"]))
    if kind is None:
        return None
    if kind == "dense":
        opt = jaxloss.LinearCrossEntropyOptions(dense=True)
    else:
        sizes = st.one_of(st.none(), st.integers(1, 4))
        opt = jaxloss.LinearCrossEntropyOptions(
            token_chunk_size=draw(sizes), vocab_chunk_size=draw(sizes)
        )
    return Sided(repr(opt), opt, None)


@loss("linear_cross_entropy")
def _linear_cross_entropy(draw, name):
    dtype = _dtype(draw)
    n, d, c = draw(st.integers(0, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 7))
    out = (2,) if _rare(draw, 4) else ()
    unbatched = not out and _rare(draw, 6)
    x = _array(draw, (d,) if unbatched else (n, d), dtype, -2.0, 2.0, special=())
    w = _array(draw, (c, *out, d), dtype, -2.0, 2.0, special=())
    if c > 1 and _rare(draw, 3):
        w[1] = w[0]  # tied logits of classes 0 and 1
    kw: dict = {"reduction": draw(st.sampled_from(["mean", "none", "sum"]))}
    grad: tuple[int | str, ...] = (0, 1)
    if draw(st.booleans()):
        b = _array(draw, (c, *out), dtype, -2.0, 2.0, special=())
        if _rare(draw, 6):  # a class whose logit is -inf (for every token, or one slot)
            b[draw(st.integers(0, c - 1))] = -INF
        kw["linear_bias"], grad = b, (0, 1, "linear_bias")
    if _rare(draw, 3):
        kw["weight"] = _array(draw, (c,), _other(draw, dtype), 0.0, 2.0, (0.0, 0.5, 1.0, 2.0), ())
    kw["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    index_shape = () if unbatched else (n, *out)
    if _rare(draw, 4):  # class probabilities of the logits' shape
        shape = (c,) if unbatched else (n, c, *out)
        t = _array(draw, shape, dtype, 0.0, 1.0, PROBABILITIES, special=())
        if _rare(draw, 2) and t.size:  # rows that sum to one
            t = np.exp(t) / np.exp(t).sum(axis=0 if unbatched else 1, keepdims=True)
        if _rare(draw, 10):
            kw["ignore_index"] = draw(st.sampled_from([-100, 0]))  # torch raises
        grad = (*grad[:2], 2, *grad[2:])
    else:
        t = _ints(draw, index_shape, 0, c - 1)
        ignore_index = draw(st.sampled_from([None, None, -100, 0, 1, -1, c, 50]))
        if ignore_index is not None:
            kw["ignore_index"] = ignore_index
        if _rare(draw, 2):  # some (now and then all) targets ignored
            everything = _rare(draw, 4)
            mask = np.array(draw(hnp.arrays(bool, index_shape))) | everything
            t = np.where(mask, -100 if ignore_index is None else ignore_index, t)
        if _rare(draw, 12) and t.size:
            t.flat[0] = draw(st.sampled_from([c, -1]))  # out of range unless ignored: raises
    options = _lce_options(draw)
    if options is not None:
        kw["options"] = options
    return Case(name, (x, w, t), kw, grad)


# --- detection (torchvision.ops) ------------------------------------------------------------
@loss("sigmoid_focal_loss")
def _sigmoid_focal(draw, name):
    dtype = _dtype(draw)
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    x = _array(draw, shape, dtype, -4.0, 4.0, special=NONFINITE + (100.0, -100.0, 20.0))
    ys = draw(_partner(shape)) if _rare(draw, 12) else shape  # another shape: torch raises
    y_hi = 2.0 if _rare(draw, 8) else 1.0  # targets above 1 are accepted
    y = _array(draw, ys, _other(draw, dtype), 0.0, y_hi, PROBABILITIES, special=())
    kw = dict(
        alpha=_option(draw, [0.25, -1.0, 0.0, 1.0, 0.5, 0.58], [1.5, -0.5]),
        gamma=draw(st.sampled_from([2, 0, 2.0, 1.0, 1.5, 0.5, 3])),
        reduction=_option(draw, ["none", "mean", "sum"], ["xyz"], one_in=16),
    )
    return Case(name, (x, y), kw, (0, 1))


def _boxes(draw, shape, dtype) -> np.ndarray:
    """(x1, y1, x2, y2) boxes of ``shape`` (last dimension 4): corners in [-3, 3], widths
    and heights in [0, 3] (0: a line or a point), now and then an infinite or nan corner."""
    corner = _array(draw, shape[:-1] + (2,), dtype, -3.0, 3.0)
    size = _array(draw, shape[:-1] + (2,), dtype, 0.0, 3.0, special=())
    if size.size and _rare(draw, 8):
        size.flat[draw(st.integers(0, size.size - 1))] = -0.5  # x2 < x1 (or y2 < y1)
    return np.concatenate([corner, corner + size], axis=-1).astype(dtype)


@loss("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")
def _box_iou(draw, name):
    dtype = _dtype(draw)
    shape = draw(st.sampled_from([(3, 4), (4,), (1, 4), (0, 4), (2, 3, 4)]))
    b1 = _boxes(draw, shape, dtype)
    shape2 = shape[1:] if len(shape) > 1 and _rare(draw, 6) else shape  # broadcasts to b1's
    b2 = _boxes(draw, shape2, _other(draw, dtype))
    if b2.shape == b1.shape and b1.size and _rare(draw, 3):
        # shared coordinates: identical boxes, one edge in common, or a shifted copy
        rows1, rows2 = b1.reshape(-1, 4), b2.reshape(-1, 4)
        i = draw(st.integers(0, rows1.shape[0] - 1))
        kind = draw(st.sampled_from(["identical", "edge", "shifted"]))
        if kind == "identical":
            rows2[i] = rows1[i]
        elif kind == "edge":
            rows2[i, 0] = rows1[i, 2]  # touching: x1 of one is x2 of the other
        else:
            rows2[i] = rows1[i] + draw(st.sampled_from(GRID))
    kw: dict = dict(reduction=_option(draw, ["none", "mean", "sum"], ["xyz"], one_in=16))
    if _rare(draw, 3):
        kw["eps"] = draw(st.sampled_from([0.0, 1e-3, 0.5]))
    grad: tuple[int | str, ...] = (0, 1)
    if _rare(draw, 10):  # integer boxes (non-finite corners made 0): upcast to float32
        b1, b2 = (np.rint(np.where(np.isfinite(b), b, 0.0)).astype(np.int64) for b in (b1, b2))
        grad = ()
    return Case(name, (b1, b2), kw, grad)
