"""kl_div (jaxloss/_divergence.py) against live torch 2.13: values and gradients, every option,
torch's quirks. Tolerances: torch_parity.py."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import check_parity, precision

import jaxloss

# 'none' in both precisions checks every element's value and gradient (random cotangent);
# the reductions themselves are the shared reduce_loss, so each gets one precision
DTYPE_REDUCTIONS = [
    (np.float32, "none"),
    (np.float64, "none"),
    (np.float32, "mean"),
    (np.float64, "sum"),
]


N, C = 4, 5


def _log_probs(rng, shape, dtype):
    t = torch.log_softmax(torch.from_numpy(2 * rng.normal(size=shape)), dim=-1)
    return t.numpy().astype(dtype)


@pytest.mark.parametrize(
    "dtype,reduction", DTYPE_REDUCTIONS + [(np.float32, "batchmean"), (np.float64, "batchmean")]
)
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(rng, dtype, reduction, log_target):
    x = _log_probs(rng, (N, 3, C), dtype)
    if log_target:
        y = _log_probs(rng, (N, 3, C), dtype)
    else:
        y = np.exp(_log_probs(rng, (N, 3, C), dtype))
        y.flat[:3] = 0.0  # xlogy: value 0; torch's target gradient there is nan, ours too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 'mean' warns, in torch and here
        check_parity(
            jaxloss.kl_div,
            F.kl_div,
            (x, y),
            dict(reduction=reduction, log_target=log_target),
            grad_argnums=(0, 1),
            dtype=dtype,
        )


def test_kl_div_target_zero_negative_and_inf_like_torch():
    # target 0 -> 0 (naive t * log t -> nan); negative target -> nan; -inf log-target -> nan
    x = np.array([-1.0, -2.0, -3.0, -np.inf], np.float64)
    y = np.array([0.0, 0.5, -0.5, 0.0], np.float64)
    check_parity(
        jaxloss.kl_div,
        F.kl_div,
        (x, y),
        dict(reduction="none"),
        grad_argnums=(0, 1),
        dtype=np.float64,
    )
    ylog = np.array([-np.inf, -0.5, 0.5, 0.0], np.float64)
    check_parity(
        jaxloss.kl_div,
        F.kl_div,
        (x[:3], ylog[:3]),
        dict(reduction="none", log_target=True),
        grad_argnums=(0, 1),
        dtype=np.float64,
    )
    with precision(np.float64):
        assert float(jaxloss.kl_div(x[:1], y[:1], reduction="sum")) == 0.0


def test_kl_div_mean_warns_like_torch(rng):
    x = _log_probs(rng, (2, 3), np.float32)
    y = np.exp(_log_probs(rng, (2, 3), np.float32))
    with pytest.warns(UserWarning, match="'mean' divides the total loss by both the batch size"):
        F.kl_div(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.warns(UserWarning, match="'mean' divides the total loss by both the batch size"):
        jaxloss.kl_div(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jaxloss.kl_div(x, y, reduction="batchmean")


@pytest.mark.parametrize(
    "size_average,reduce", [(None, True), (False, None), (True, False), (False, True)]
)
def test_kl_div_legacy_flags_keep_batchmean_division(rng, size_average, reduce):
    # torch quirk: with legacy flags and reduction='batchmean' the legacy reduction is
    # applied, then divided by input.size(0) anyway
    x = _log_probs(rng, (3, 4), np.float32)
    y = np.exp(_log_probs(rng, (3, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_parity(
            jaxloss.kl_div,
            F.kl_div,
            (x, y),
            dict(size_average=size_average, reduce=reduce, reduction="batchmean"),
        )


def test_kl_div_broadcast_and_batchmean_divides_by_input_dim0(rng):
    x = _log_probs(rng, (C,), np.float64)
    y = np.exp(_log_probs(rng, (3, C), np.float64))
    for reduction in ["none", "batchmean"]:
        check_parity(
            jaxloss.kl_div,
            F.kl_div,
            (x, y),
            dict(reduction=reduction),
            grad_argnums=(0, 1),
            dtype=np.float64,
        )
    x0, y0 = np.full((), -1.0), np.full((), 0.3)  # 0-d: 'batchmean' is the sum
    check_parity(
        jaxloss.kl_div,
        F.kl_div,
        (x0, y0),
        dict(reduction="batchmean"),
        grad_argnums=(0, 1),
        dtype=np.float64,
    )


# --- fixes: closed-over constants under jit, torch 2.13 edge cases -------------------------
from test_regression import (  # noqa: E402
    check_closed_over,
    check_dtypes_like_torch,
    check_elementwise_mean,
    closed_over_params,
    mixed_dtypes,
)


def _divergence_table():
    rng = np.random.default_rng(13)  # seed: inputs of the closed-over/dtype checks
    logq = np.log(rng.dirichlet(np.ones(3), size=4)).astype(np.float32)
    p = rng.dirichlet(np.ones(3), size=4).astype(np.float32)
    return {"kl_div": (F.kl_div, dict(input=logq, target=p), {})}


DIVERGENCE_TABLE = _divergence_table()


@pytest.mark.parametrize("kind", ["numpy", "jax"])
@pytest.mark.parametrize("name,closed", closed_over_params(DIVERGENCE_TABLE))
def test_jit_with_closed_over_array(name, closed, kind):
    torch_fn, arrays, kwargs = DIVERGENCE_TABLE[name]
    check_closed_over(name, torch_fn, arrays, kwargs, closed, kind)


def test_elementwise_mean_alias_like_torch():
    # torch 2.13: kl_div(reduction='elementwise_mean') warns only the deprecation (not the
    # 'mean' warning, which tests the string 'mean') and divides by every element
    torch_fn, arrays, kwargs = DIVERGENCE_TABLE["kl_div"]
    check_elementwise_mean("kl_div", torch_fn, arrays, kwargs)


def test_bad_reduction_lists_the_accepted_values():
    torch_fn, arrays, _ = DIVERGENCE_TABLE["kl_div"]
    with pytest.raises(ValueError, match="^avg is not a valid value for reduction"):
        torch_fn(**{k: torch.from_numpy(v) for k, v in arrays.items()}, reduction="avg")
    with pytest.raises(ValueError) as info:
        jaxloss.kl_div(**arrays, reduction="avg")
    assert str(info.value) == (
        "kl_div: avg is not a valid value for reduction; "
        "expected 'none', 'mean', 'sum' or 'batchmean'"
    )


def test_mixed_float32_float64_dtypes_like_torch():
    torch_fn, arrays, _ = DIVERGENCE_TABLE["kl_div"]
    for dtypes in mixed_dtypes(len(arrays)):
        check_dtypes_like_torch("kl_div", torch_fn, arrays, dict(reduction="sum"), dtypes)
