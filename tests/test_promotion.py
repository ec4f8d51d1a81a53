"""torch's shape-aware type promotion (jaxloss/_promotion.py's result_type / compute_dtype) against
live torch 2.13: dimensioned tensors promote among themselves, a 0-d tensor only changes the
result when its category (bool < integer < floating < complex) is higher. Checked on
torch.result_type and torch.addcmul directly, then on the losses whose dtype follows it
(values, dtypes and gradients through torch_parity.check_parity)."""

import itertools
import warnings

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import check_parity

import jaxloss
from jaxloss import _promotion

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
PAIRS = [
    (a, b, na, nb)
    for a, b in itertools.product(DTYPES, repeat=2)
    for na, nb in itertools.product((0, 1), repeat=2)
]


def _tensor(dtype: str, ndim: int) -> torch.Tensor:
    return torch.ones((2,) * ndim, dtype=getattr(torch, dtype))


def _struct(dtype: str, ndim: int) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((2,) * ndim, dtype)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@pytest.mark.parametrize("a,b,na,nb", PAIRS)
def test_result_type_matches_torch(a, b, na, nb):
    with jax.enable_x64(True):
        got = _promotion.result_type(_struct(a, na), _struct(b, nb))
    assert str(got) == _name(torch.result_type(_tensor(a, na), _tensor(b, nb)))


@pytest.mark.parametrize("ndims", list(itertools.product((0, 1), repeat=3)))
def test_result_type_of_three_matches_torch_addcmul(ndims):
    dtypes = ["int32", "int64", "float16", "bfloat16", "float32", "float64"]
    for combo in itertools.product(dtypes, repeat=3):
        tensors = [_tensor(d, n) for d, n in zip(combo, ndims)]
        expected = _name(torch.addcmul(*tensors).dtype)
        with jax.enable_x64(True):
            got = _promotion.result_type(*(_struct(d, n) for d, n in zip(combo, ndims)))
        assert str(got) == expected, (combo, ndims)


def test_plain_dtypes_promote_as_before():
    with jax.enable_x64(True):
        assert _promotion.result_type(np.float32, np.dtype(np.float64)) == np.float64
        assert _promotion.compute_dtype(np.float16, np.float16) == (np.float32, np.float16)
        # a dtype counts as a dimensioned tensor next to a 0-d array
        assert _promotion.result_type(np.float32, np.zeros((), np.float64)) == np.float32


def test_complex_zero_dim_keeps_the_floating_width():
    # torch: float32 (2,) with complex128 () is complex64
    expected = torch.result_type(_tensor("float32", 1), torch.zeros((), dtype=torch.complex128))
    with jax.enable_x64(True):
        got = _promotion.result_type(_struct("float32", 1), _struct("complex128", 0))
    assert str(got) == _name(expected)


# --- the losses -------------------------------------------------------------------------------
rng = np.random.default_rng(0)
f32 = rng.uniform(-2, 2, size=(3,)).astype(np.float32)
f32_target = rng.uniform(-2, 2, size=(3,)).astype(np.float32)
x0_f32 = np.asarray(0.75, np.float32)
x0_f64 = np.asarray(-0.625, np.float64)
w0_f64 = np.asarray(1.5, np.float64)
prob = np.asarray([0.25, 0.5, 0.25], np.float32)

# (jaxloss name, args, kwargs, differentiated positions): a 0-d float64 argument next to
# dimensioned float32 ones (or the reverse), where torch's result dtype follows the tiers
CASES = {
    # weight 0-d next to errors of the broadcast shape (3,): float32 for 'none' and 'sum';
    # 'mean' is sum(errors * w) / sum(w), two 0-d sums, so float64
    **{
        f"{name}-weight0d-{reduction}": (
            name,
            (x0_f32, f32_target),
            dict(reduction=reduction, weight=np.asarray(1.5, np.float64)),
            (0, 1),
        )
        for name in ("mse_loss", "l1_loss", "huber_loss")
        for reduction in ("none", "sum", "mean")
    },
    "mse_loss-input0d-f64": ("mse_loss", (x0_f64, f32_target), dict(reduction="none"), (0, 1)),
    "l1_loss-target0d-f64": ("l1_loss", (f32, x0_f64), dict(reduction="sum"), (0, 1)),
    # torch: var 0-d is input's shape () here: float32 from the dimensioned target
    "gaussian_nll_loss-input-var-0d": (
        "gaussian_nll_loss",
        (x0_f64, f32_target, w0_f64),
        {},
        (0, 1, 2),
    ),
    # var () for input (3,) is input.shape[:-1]: torch unsqueezes it to (1,), so float64
    "gaussian_nll_loss-var-unsqueezed": (
        "gaussian_nll_loss",
        (f32, f32_target, w0_f64),
        dict(reduction="none"),
        (0, 1, 2),
    ),
    "gaussian_nll_loss-target0d": (
        "gaussian_nll_loss",
        (f32, x0_f64, np.abs(f32) + 0.5),
        {},
        (0, 1, 2),
    ),
    "poisson_nll_loss-target0d": ("poisson_nll_loss", (f32, w0_f64), dict(full=True), (0, 1)),
    # torch's log(input + eps) runs in the 0-d input's float64 (finite, -159.7): computed in
    # float32 it would be log(0) = -inf and 0 * -inf = nan (found by the fuzzer)
    "poisson_nll_loss-tiny-input0d": (
        "poisson_nll_loss",
        (np.asarray(4.5447535306923784e-70, np.float64), np.zeros(3, np.float32)),
        dict(log_input=False, eps=0.0),
        (0, 1),
    ),
    "poisson_nll_loss-input0d": ("poisson_nll_loss", (x0_f64, np.abs(f32_target)), {}, (0, 1)),
    "kl_div-target0d": (
        "kl_div",
        (f32, np.asarray(0.25, np.float64)),
        dict(reduction="sum"),
        (0, 1),
    ),
    "kl_div-input0d": ("kl_div", (x0_f64, prob), dict(reduction="none"), (0, 1)),
    "multilabel_soft_margin_loss-weight0d": (
        "multilabel_soft_margin_loss",
        (f32.reshape(1, 3), (prob > 0.3).astype(np.float32).reshape(1, 3)),
        dict(weight=w0_f64),
        (0,),
    ),
    "pairwise_distance-x2-0d": ("pairwise_distance", (f32, x0_f64), {}, (0, 1)),
    # all 0-d: plain promotion, float64
    "margin_ranking_loss-all0d": (
        "margin_ranking_loss",
        (x0_f32, x0_f64, np.asarray(1.0, np.float32)),
        {},
        (0, 1),
    ),
    # cross_entropy has no 0-d floating argument torch accepts (probabilities need input's
    # shape, ndim >= 1; weight is (C,)), so its dtypes promote plainly: float64 here
    "cross_entropy-probabilities-f64": (
        "cross_entropy",
        (f32, prob.astype(np.float64)),
        dict(weight=np.ones(3, np.float32)),
        (0, 1),
    ),
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_loss_dtype_value_and_grad_match_torch(key):
    name, args, kwargs, grads = CASES[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mse/l1/huber's size-mismatch warning
        check_parity(
            getattr(jaxloss, name),
            getattr(F, name),
            args,
            kwargs,
            grad_argnums=grads,
            dtype=np.float64,  # x64 on for the float64 arguments
            rtol=1e-5,  # torch computes parts of a mixed call in float32
            atol=1e-6,
        )


def test_zero_dim_float64_weight_of_an_empty_loss():
    # the case tests/test_fuzz.py's KNOWN_DIFFERENCES recorded (torch: float32, shape (0,))
    args = (np.asarray(-3.0, np.float32), np.zeros(0, np.float32))
    weight = np.zeros((), np.float64)
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the size-mismatch warning, both sides
        expected = F.mse_loss(
            *map(torch.from_numpy, args), reduction="none", weight=torch.from_numpy(weight)
        )
        got = jaxloss.mse_loss(*args, reduction="none", weight=weight)
    assert expected.dtype == torch.float32
    assert got.dtype == np.float32 and got.shape == tuple(expected.shape)
