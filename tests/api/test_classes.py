"""Every jaxloss class against live torch 2.13's class, and the legacy ``size_average`` /
``reduce`` flags of every functional that has them against torch's functional.

Two tests carry the work, one case per parameter:

* ``test_legacy_flags``: every torch functional with ``size_average`` and ``reduce``, all eight
  flag pairs except (None, None); values and gradients (every argument torch differentiates),
  eager and jit; jaxloss warns DeprecationWarning with torch's (UserWarning) message; the flags
  override an explicit ``reduction`` as in torch.
* ``test_class_matches_torch_and_functional``: every class, default and non-default settings,
  against torch's class (values and gradients, eager and jit), against its own functional
  (identical numbers), and through ``jax.jit`` as a pytree argument (and as a static argument
  when it holds no arrays).

Every random input comes from the seeded ``rng`` fixture. Tolerances: torch_parity.py.
"""

from __future__ import annotations

import inspect
import itertools
import re
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import assert_close, check_parity

import jaxloss

LEGACY_MESSAGE = "size_average and reduce args will be deprecated"


# --- inputs ---------------------------------------------------------------------------
def _signs(rng, shape):
    return rng.choice(np.array([-1.0, 1.0]), size=shape).astype(np.float32)


def _log_probs(rng, shape):
    t = torch.log_softmax(torch.from_numpy(2 * rng.normal(size=shape)), dim=-1)
    return t.numpy().astype(np.float32)


def _multilabel_target(rng, n, c):
    """-1-padded class lists; entries after the first -1 are junk torch ignores."""
    t = np.full((n, c), -1)
    for i in range(n):
        k = rng.integers(0, c + 1)
        t[i, :k] = rng.permutation(c)[:k]
        if k + 1 < c:
            t[i, k + 1 :] = rng.integers(-1, c, size=c - k - 1)
    t[1, :3] = [2, 2, -1]  # a class listed twice counts twice
    return t


def _triplets(rng, shape):
    a, p, n = (rng.normal(size=shape).astype(np.float32) for _ in range(3))
    n[1] = a[1] + 0.75 * (p[1] - a[1])  # nearer the positive: swap changes this row
    return a, p, n


def _ctc_batch(rng):
    """(T, N, C) = (12, 4, 5), S = 4, blank 4; sample 1 is impossible (2 labels, 0 frames)."""
    num_t, n, c, s = 12, 4, 5, 4
    x = _log_probs(rng, (num_t, n, c))
    tl = rng.integers(0, s + 1, size=n)
    tl[0], tl[-1] = s, 0
    targets = rng.integers(-3, c + 3, size=(n, s))  # junk padding, never read
    for b in range(n):
        targets[b, : tl[b]] = rng.choice(np.arange(1, 4), size=tl[b])  # neither blank 0 nor 4
    il = np.full(n, num_t)
    il[1], tl[1] = 0, 2
    targets[1, :2] = [1, 2]
    return (x, targets, il, tl), (0,)


def _inputs(name: str, rng) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    """(arguments, the positions torch differentiates) for loss ``name`` (a torch.nn.functional
    name), float32. Every floating argument torch has a gradient for is differentiated."""
    x43 = rng.normal(size=(4, 3)).astype(np.float32)
    prob = rng.uniform(0.05, 0.95, size=(4, 3)).astype(np.float32)
    if name in ("l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"):
        return (x43, rng.normal(size=(4, 3)).astype(np.float32)), (0, 1)
    if name == "poisson_nll_loss":
        rate = rng.uniform(0.1, 3.0, size=(4, 3)).astype(np.float32)  # a rate for log_input=False
        return (rate, rng.integers(0, 4, size=(4, 3)).astype(np.float32)), (0, 1)
    if name == "gaussian_nll_loss":
        var = rng.uniform(0.2, 2.0, size=(4, 3)).astype(np.float32)
        return (x43, rng.normal(size=(4, 3)).astype(np.float32), var), (0, 1, 2)
    if name in ("cross_entropy", "nll_loss"):
        return ((3 * x43).astype(np.float32), np.array([0, 2, 1, 1])), (0,)
    if name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        return (prob, rng.uniform(0, 1, size=(4, 3)).astype(np.float32)), (0, 1)
    if name == "multilabel_soft_margin_loss":
        return (x43, rng.uniform(0, 1, size=(4, 3)).astype(np.float32)), (0, 1)
    if name == "soft_margin_loss":
        return (x43, _signs(rng, (4, 3))), (0,)  # torch: no gradient for the target
    if name == "kl_div":
        return (_log_probs(rng, (4, 3)), np.exp(_log_probs(rng, (4, 3)))), (0, 1)
    if name == "hinge_embedding_loss":
        return (x43, _signs(rng, (4, 3))), (0,)
    if name == "margin_ranking_loss":
        return (x43[:, 0].copy(), x43[:, 1].copy(), _signs(rng, (4,))), (0, 1, 2)
    if name == "multi_margin_loss":
        return (x43, np.array([0, 2, 1, 1])), (0,)
    if name == "multilabel_margin_loss":
        return (x43, _multilabel_target(rng, 4, 3)), (0,)
    if name == "cosine_embedding_loss":
        a, p, _ = _triplets(rng, (6, 5))
        return (a, p, np.array([1, -1, 1, -1, 1, -1], np.float32)), (0, 1)
    if name in ("triplet_margin_loss", "triplet_margin_with_distance_loss"):
        return _triplets(rng, (6, 5)), (0, 1, 2)
    if name == "pairwise_distance":
        a, p, _ = _triplets(rng, (6, 5))
        return (a, p), (0, 1)
    if name == "ctc_loss":
        return _ctc_batch(rng)
    raise KeyError(name)


# --- legacy size_average / reduce ------------------------------------------------------
LEGACY_FUNCTIONALS = sorted(
    name
    for name in jaxloss.functional.__all__
    if name != "pairwise_distance"  # a torch builtin without a Python signature (no flags)
    and "size_average" in inspect.signature(getattr(F, name)).parameters
)
LEGACY_FLAGS = [f for f in itertools.product([None, True, False], repeat=2) if f != (None, None)]


def test_legacy_functionals_are_torchs():
    """The functionals with legacy flags are exactly torch's (so none is left out)."""
    ours = {
        n
        for n in jaxloss.functional.__all__
        if "size_average" in inspect.signature(getattr(jaxloss, n)).parameters
    }
    assert ours == set(LEGACY_FUNCTIONALS)
    assert len(LEGACY_FUNCTIONALS) == 17


def _torch_legacy_message(fn, args, kwargs) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args), **kwargs)
    legacy = [w for w in caught if LEGACY_MESSAGE in str(w.message)]
    assert [w.category for w in legacy] == [UserWarning], legacy
    return str(legacy[0].message)


@pytest.mark.parametrize("size_average,reduce", LEGACY_FLAGS)
@pytest.mark.parametrize("name", LEGACY_FUNCTIONALS)
def test_legacy_flags(rng, name, size_average, reduce):
    args, grad_argnums = _inputs(name, rng)
    mine, theirs = getattr(jaxloss, name), getattr(F, name)
    flags = dict(size_average=size_average, reduce=reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_parity(mine, theirs, args, flags, grad_argnums=grad_argnums)
        # the flags win over an explicit reduction, on both sides
        override = dict(flags, reduction="none" if reduce is not False else "sum")
        np.testing.assert_array_equal(mine(*args, **override), mine(*args, **flags))
        np.testing.assert_array_equal(
            theirs(*map(torch.from_numpy, args), **override).numpy(),
            theirs(*map(torch.from_numpy, args), **flags).numpy(),
        )
    # torch warns UserWarning; jaxloss the same message as a DeprecationWarning
    expected = _torch_legacy_message(theirs, args, flags)
    with pytest.warns(DeprecationWarning, match=LEGACY_MESSAGE) as record:
        mine(*args, **flags)
    assert [str(w.message) for w in record if w.category is DeprecationWarning] == [expected]


# --- classes ----------------------------------------------------------------------------
class Both(NamedTuple):
    """A setting written once per side (a distance function, a module)."""

    jax: Any
    torch: Any


def _l1(u, v):
    return jnp.sum(jnp.abs(u - v), axis=-1)


def _l1_torch(u, v):
    return torch.sum(torch.abs(u - v), dim=-1)


L1 = Both(_l1, _l1_torch)
PAIRWISE_L1 = Both(jaxloss.PairwiseDistance(p=1.0), torch.nn.PairwiseDistance(p=1.0))
WEIGHT = "weight (C,)"  # placeholders: an array drawn from rng when the case runs
FULL_WEIGHT = "weight (N, C)"


class ClassCase(NamedTuple):
    cls: str
    args: tuple = ()
    kwargs: dict = {}

    def __repr__(self) -> str:
        shown = [repr(a) for a in self.args] + [
            f"{k}={getattr(v, '__name__', v)!r}" for k, v in self.kwargs.items()
        ]
        return f"{self.cls}({', '.join(shown)})"


def _cases(cls: str, *settings: tuple[tuple, dict]) -> list[ClassCase]:
    return [ClassCase(cls)] + [ClassCase(cls, a, k) for a, k in settings]


CLASS_CASES = [
    *_cases("L1Loss", ((), dict(reduction="sum")), ((), dict(size_average=False))),
    *_cases("MSELoss", ((), dict(reduction="none")), ((), dict(reduce=False))),
    *_cases(
        "CrossEntropyLoss",
        ((), dict(weight=WEIGHT, ignore_index=2, label_smoothing=0.1)),
        ((None, None, 1, None, "sum", 0.25), {}),  # torch's positional order
        ((), dict(reduction="none", label_smoothing=1.0)),
        ((), dict(size_average=False)),
    ),
    *_cases(
        "NLLLoss",
        ((), dict(weight=WEIGHT, ignore_index=1, reduction="sum")),
        ((), dict(reduce=False)),
    ),
    # from tests/test_regression.py
    *_cases(
        "SmoothL1Loss",
        ((), dict(reduction="sum", beta=0.5)),
        ((), dict(size_average=False, beta=0.0)),
    ),
    *_cases("HuberLoss", ((), dict(reduction="none", delta=0.7))),
    *_cases(
        "PoissonNLLLoss",
        ((), dict(log_input=False, full=True, eps=1e-4, reduction="sum")),
        ((), dict(reduce=False)),
    ),
    *_cases("GaussianNLLLoss", ((), dict(full=True, eps=1e-3, reduction="none"))),
    # from tests/test_binary.py
    *_cases("BCELoss", ((), dict(reduction="sum")), ((), dict(weight=WEIGHT, reduction="none"))),
    *_cases(
        "BCEWithLogitsLoss",
        ((), dict(weight=FULL_WEIGHT, pos_weight=WEIGHT)),
        ((), dict(size_average=False)),
    ),
    *_cases(
        "KLDivLoss",
        ((), dict(reduction="batchmean", log_target=True)),
        ((), dict(reduce=True, reduction="batchmean")),
    ),
    *_cases("SoftMarginLoss", ((), dict(reduction="none"))),
    *_cases("MultiLabelSoftMarginLoss", ((), dict(weight=WEIGHT, reduction="sum"))),
    # from tests/test_margin.py
    *_cases(
        "HingeEmbeddingLoss",
        ((), dict(margin=0.5, reduction="sum")),
        ((), dict(size_average=False)),
    ),
    *_cases("MarginRankingLoss", ((0.25,), dict(reduction="none"))),
    *_cases("MultiMarginLoss", ((), dict(p=2, margin=0.5, weight=WEIGHT))),
    *_cases("MultiLabelMarginLoss", ((), dict(reduction="none"))),
    # from tests/test_embedding.py
    *_cases("PairwiseDistance", ((), dict(p=1.0, eps=0.0, keepdim=True))),
    *_cases("CosineEmbeddingLoss", ((), dict(margin=0.2, reduction="none"))),
    *_cases("TripletMarginLoss", ((), dict(margin=0.5, p=1.0, swap=True, reduction="sum"))),
    *_cases(
        "TripletMarginWithDistanceLoss",
        ((), dict(margin=2.0, swap=True)),
        ((), dict(distance_function=L1, reduction="none")),
        ((), dict(distance_function=PAIRWISE_L1)),
    ),
    # from tests/test_ctc.py
    *_cases(
        "CTCLoss",
        ((4, "none", False), {}),
        ((4, "mean", True), {}),
        ((4, "sum", True), {}),
    ),
]

# Classes that own parameters or are aliases, compared with torch's module in their own files.
TESTED_ELSEWHERE = {
    "AdaptiveLogSoftmaxWithLoss": "tests/test_adaptive.py",
    "NLLLoss2d": "tests/test_adaptive.py",
    "LinearCrossEntropyLoss": "tests/api/test_linear_cross_entropy_loss.py",
}
CLASSES = sorted(
    n
    for n in jaxloss.__all__
    if isinstance(getattr(jaxloss, n), type)
    and issubclass(getattr(jaxloss, n), jaxloss.nn.Module)
    and n not in TESTED_ELSEWHERE
)


def _functional_name(cls: str) -> str:
    """The functional a class calls, read from its docstring ("...; see ``name``")."""
    return getattr(jaxloss, cls).__doc__.split("see ``")[1].split("``")[0]


def test_every_class_has_a_default_and_a_non_default_case():
    covered: dict[str, set[bool]] = {}
    for case in CLASS_CASES:
        covered.setdefault(case.cls, set()).add(bool(case.args or case.kwargs))
    missing = [c for c in CLASSES if covered.get(c) != {False, True}]
    assert not missing, f"classes without a default and a non-default case: {missing}"
    assert set(covered) <= set(CLASSES)
    assert {_functional_name(c) for c in CLASSES} | {"linear_cross_entropy"} == set(
        jaxloss.functional.__all__
    )


def _materialise(value: Any, side: str, rng_arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, Both):
        return getattr(value, side)
    if isinstance(value, str) and value in rng_arrays:
        return (
            jnp.asarray(rng_arrays[value]) if side == "jax" else torch.from_numpy(rng_arrays[value])
        )
    return value


@pytest.mark.filterwarnings("ignore:.*'mean' divides the total loss:UserWarning")  # kl_div
@pytest.mark.parametrize("case", CLASS_CASES, ids=lambda c: re.sub(r" at 0x[0-9a-f]+", "", repr(c)))
def test_class_matches_torch_and_functional(rng, case):
    name = _functional_name(case.cls)
    args, grad_argnums = _inputs(name, rng)
    if case.kwargs.get("log_target"):
        args = (args[0], np.log(args[1]))  # log-probability targets
    c = args[0].shape[-1]
    rng_arrays = {
        WEIGHT: rng.uniform(0.2, 2.0, size=(c,)).astype(np.float32),
        FULL_WEIGHT: rng.uniform(0.2, 2.0, size=args[0].shape).astype(np.float32),
    }
    jax_kwargs = {k: _materialise(v, "jax", rng_arrays) for k, v in case.kwargs.items()}
    torch_kwargs = {k: _materialise(v, "torch", rng_arrays) for k, v in case.kwargs.items()}
    legacy = "size_average" in case.kwargs or "reduce" in case.kwargs
    with warnings.catch_warnings(record=True) as torch_warnings:
        warnings.simplefilter("always")
        theirs = getattr(torch.nn, case.cls)(*case.args, **torch_kwargs)
    with warnings.catch_warnings(record=True) as our_warnings:
        warnings.simplefilter("always")
        ours = getattr(jaxloss, case.cls)(*case.args, **jax_kwargs)
    if legacy:  # torch's UserWarning, as a DeprecationWarning with the same message
        assert [str(w.message) for w in our_warnings if w.category is DeprecationWarning] == [
            str(w.message) for w in torch_warnings if LEGACY_MESSAGE in str(w.message)
        ]
    if hasattr(theirs, "reduction"):
        assert ours.reduction == theirs.reduction

    # values and gradients against torch's class, eager and under jit (closed over)
    check_parity(ours, theirs, args, grad_argnums=grad_argnums)

    # the class is its functional with the same settings: identical values and gradients
    bound = inspect.signature(getattr(jaxloss, case.cls)).bind(*case.args, **jax_kwargs)
    settings = {k: v for k, v in bound.arguments.items() if k not in ("size_average", "reduce")}
    if "reduction" in inspect.signature(getattr(jaxloss, name)).parameters:
        settings["reduction"] = ours.reduction
    functional: Callable = getattr(jaxloss, name)
    diff = [jnp.asarray(args[i]) for i in grad_argnums]

    def through(f):
        def call(*d):
            a = [jnp.asarray(v) if isinstance(v, np.ndarray) else v for v in args]
            for i, v in zip(grad_argnums, d):
                a[i] = v
            return f(*a)

        out, vjp = jax.vjp(call, *diff)
        return out, vjp(jnp.ones_like(out))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kl_div's 'mean' warning, on both
        got, got_grads = through(ours)
        direct, direct_grads = through(lambda *a: functional(*a, **settings))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(direct))
    for g, d in zip(got_grads, direct_grads):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(d))

    # through jax.jit as a pytree argument, and as a static argument when it holds no arrays
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = theirs(*(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args))
        assert_close(jax.jit(lambda m, *a: m(*a))(ours, *args), expected, np.float32, "pytree")
        if not jax.tree_util.tree_leaves(ours):
            static = jax.jit(lambda m, *a: m(*a), static_argnums=0)
            assert_close(static(ours, *args), expected, np.float32, "static argument")
