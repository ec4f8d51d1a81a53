"""ctc_loss / CTCLoss against live torch 2.13: values and gradients w.r.t. log_probs,
float32 and float64, eager and jit (lengths passed as arrays are traced under jit,
tuples stay concrete), padded and concatenated targets, unbatched, blank != 0,
repeats, impossible alignments, zero_infinity, every reduction; bad input.
Tolerances: torch_parity.py (float32 rtol 1e-5 / atol 1e-6, float64 rtol 1e-10 / atol 1e-12).
Every random input comes from the seeded ``rng`` fixture."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import assert_close, check_parity, precision

import jaxloss

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]


def _log_probs(rng, shape, dtype, scale=2.0):
    """Normalised log-probabilities over the last axis (torch's log_softmax, float64)."""
    x = torch.from_numpy(scale * rng.normal(size=shape))
    return torch.log_softmax(x, dim=-1).numpy().astype(dtype)


def _labels(rng, n, num_classes, blank, repeat=False):
    """n labels in [0, C) other than blank; ``repeat`` makes the first two equal."""
    choices = np.array([c for c in range(num_classes) if c != blank])
    out = rng.choice(choices, size=n)
    if repeat and n >= 2:
        out[1] = out[0]
    return out


def _batch(rng, num_t, n, num_classes, s, blank=0):
    """Padded targets (padding is junk torch never reads), input and target lengths.

    Lengths vary per sample, include an empty target, a repeated label and a sample
    using every frame; every alignment exists (input length >= target length + repeats).
    """
    tl = rng.integers(0, s + 1, size=n)
    tl[0], tl[-1] = s, 0
    targets = rng.integers(-3, num_classes + 3, size=(n, s))  # junk padding, ignored
    for b in range(n):
        targets[b, : tl[b]] = _labels(rng, tl[b], num_classes, blank, repeat=b == 0)
    repeats = [np.sum(np.diff(targets[b, : tl[b]]) == 0) for b in range(n)]
    need = tl + np.array(repeats, dtype=int)
    il = np.array([rng.integers(need[b], num_t + 1) for b in range(n)])
    il[0] = num_t
    return targets, il, tl


def _concatenate(targets, tl):
    return np.concatenate([targets[b, : tl[b]] for b in range(len(tl))]).astype(np.int64)


# One shape for most cases, (T, N, C) = (12, 4, 5) with S = 4, so the eager path's
# compiled executables are shared between tests. jit=True (lengths and targets traced:
# no concrete checks, concatenated targets padded to len(targets)) for reduction='none'
# (a random cotangent reaches every sample) and traced-length cases; each jit compile of
# value and gradient costs ~0.5 s of CPU, hence not for every combination.
T, N, C, S = 12, 4, 5, 4


# blank 0, inside the alphabet and last; lengths traced under jit
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction,blank", [("none", 0), ("mean", 2), ("sum", C - 1)])
def test_padded_targets(rng, dtype, reduction, blank):
    x = _log_probs(rng, (T, N, C), dtype)
    targets, il, tl = _batch(rng, T, N, C, S, blank=blank)
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, targets, il, tl),
        dict(blank=blank, reduction=reduction),
        dtype=dtype,
        jit=reduction == "none",
    )


# arrays are traced under jit (then targets are padded to len(targets)); tuples stay concrete
@pytest.mark.parametrize(
    "dtype,reduction,lengths_as",
    [
        (np.float32, "none", "arrays"),
        (np.float64, "mean", "arrays"),
        (np.float32, "sum", "tuples"),
        (np.float64, "none", "tuples"),
    ],
)
def test_concatenated_targets(rng, dtype, reduction, lengths_as):
    x = _log_probs(rng, (T, N, C), dtype)
    targets, il, tl = _batch(rng, T, N, C, S, blank=4)
    flat = _concatenate(targets, tl)
    if lengths_as == "tuples":
        il, tl = tuple(int(v) for v in il), tuple(int(v) for v in tl)
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, flat, il, tl),
        dict(blank=4, reduction=reduction),
        dtype=dtype,
        jit=lengths_as == "arrays",
    )


def test_padded_targets_lengths_as_lists(rng):
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    check_parity(
        jaxloss.ctc_loss,
        lambda *a, **k: F.ctc_loss(*a[:2], tuple(a[2]), tuple(a[3]), **k),
        (x, targets, [int(v) for v in il], [int(v) for v in tl]),
        dict(reduction="none"),
        jit=False,
    )


# each reduction with and without zero_infinity, each dtype with both
@pytest.mark.parametrize(
    "reduction,zero_infinity,dtype",
    [
        ("none", False, np.float32),
        ("none", True, np.float64),
        ("mean", False, np.float64),
        ("mean", True, np.float32),
        ("sum", False, np.float32),
        ("sum", True, np.float64),
    ],
)
def test_impossible_alignments(rng, reduction, zero_infinity, dtype):
    # sample 0: 3 labels in 2 frames; sample 1: a repeat (a, a) needs 3 frames, gets 2;
    # sample 2: input length 0 with a non-empty target; sample 3 is possible.
    # torch: inf loss and nan gradients (zero_infinity: 0 and 0), except input length 0,
    # whose gradient is 0 either way.
    x = _log_probs(rng, (T, N, C), dtype)
    targets = np.array([[1, 2, 3, 0], [2, 2, 0, 0], [1, 0, 0, 0], [3, 1, 3, 4]])
    il, tl = np.array([2, 2, 0, 12]), np.array([3, 2, 1, 4])
    expected = F.ctc_loss(
        torch.from_numpy(x),
        torch.from_numpy(targets),
        torch.from_numpy(il),
        torch.from_numpy(tl),
        reduction="none",
    )
    assert np.isinf(expected[:3].numpy()).all() and np.isfinite(expected[3].item())
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, targets, il, tl),
        dict(reduction=reduction, zero_infinity=zero_infinity),
        dtype=dtype,
        jit=reduction == "none",
    )


# (S,) concatenated target with () lengths, and (1, S) padded with (1,) lengths
@pytest.mark.parametrize(
    "dtype,reduction,layout",
    [
        (np.float32, "none", "concatenated"),
        (np.float64, "mean", "concatenated"),
        (np.float32, "sum", "padded"),
        (np.float64, "none", "padded"),
    ],
)
def test_unbatched(rng, dtype, reduction, layout):
    x = _log_probs(rng, (T, C), dtype)
    target = _labels(rng, 3, C, 0, repeat=True)
    if layout == "concatenated":
        args = (x, target, np.array(T), np.array(3))
    else:
        args = (x, np.concatenate([target, [4]])[None], np.array([T - 2]), np.array([3]))
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        args,
        dict(reduction=reduction),
        dtype=dtype,
        jit=reduction == "none",
    )


def test_unbatched_tuple_lengths(rng):
    x = _log_probs(rng, (T, C), np.float64)
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, np.array([2, 3]), (5,), (2,)),
        dict(blank=1),
        dtype=np.float64,
        jit=False,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_long_sequence_with_many_repeats(rng, dtype):
    # T = 60, S = 12 with runs of repeated labels: long recursions, many skipped transitions.
    # float32: log-alphas reach -130, where one float32 ulp is 1.5e-5, so any two float32
    # implementations' gradients differ in the 5th decimal (torch's own float32 gradient is
    # 3e-5 from its float64 one); atol 5e-5 there, and both are checked against float64 torch.
    x64 = _log_probs(rng, (60, 3, 7), np.float64, scale=3.0)
    targets = np.array(
        [
            [1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5],
            [6, 5, 4, 3, 2, 1, 6, 5, 4, 3, 2, 1],
            [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
        ]
    )
    il, tl = np.array([60, 31, 23]), np.array([12, 12, 12])
    tol = dict(atol=5e-5) if dtype == np.float32 else {}
    x = x64.astype(dtype)
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, targets, il, tl),
        dict(reduction="none"),
        dtype=dtype,
        jit=False,
        **tol,
    )
    if dtype == np.float32:
        check_parity(
            lambda a, *r, **k: jaxloss.ctc_loss(a.astype(jnp.float32), *r, **k).astype(a.dtype),
            F.ctc_loss,
            (x64, targets, il, tl),
            dict(reduction="none"),
            dtype=np.float64,
            jit=False,
            rtol=1e-6,
            atol=5e-5,
        )


def test_full_length_target_without_slack(rng):
    # input length == target length: exactly one alignment, loss = -sum of its log-probs
    x = _log_probs(rng, (4, 1, 5), np.float64)
    targets = np.array([[1, 2, 3, 4]])
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, targets, np.array([4]), np.array([4])),
        dict(reduction="sum"),
        dtype=np.float64,
        jit=False,
    )
    with precision(np.float64):
        got = jaxloss.ctc_loss(x, targets, (4,), (4,), reduction="sum")
    assert_close(got, -x[np.arange(4), 0, targets[0]].sum(), np.float64, "hand: one alignment")


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_empty_targets_and_zero_input_length(rng, reduction):
    # every target empty (targets tensor empty), one sample with input length 0;
    # 'mean' divides by max(target_length, 1)
    x = _log_probs(rng, (T, N, C), np.float32)
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, np.zeros((0,), np.int64), np.array([12, 0, 5, 1]), np.array([0, 0, 0, 0])),
        dict(reduction=reduction),
        jit=reduction == "none",
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_unnormalised_log_probs_give_torchs_gradient(rng, dtype):
    # torch's backward returns exp(lp) - posterior whether or not lp is normalised;
    # we return torch's number (its sum over classes is far from 0 here).
    x = (2 * rng.normal(size=(T, N, C))).astype(dtype)
    targets, il, tl = _batch(rng, T, N, C, S)
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, targets, il, tl),
        dict(reduction="none"),
        dtype=dtype,
        jit=False,
    )
    xt = torch.from_numpy(x).requires_grad_()
    F.ctc_loss(
        xt, torch.from_numpy(targets), torch.from_numpy(il), torch.from_numpy(tl), reduction="sum"
    ).backward()
    assert np.abs(xt.grad.sum(-1).numpy()[: il.min()]).min() > 1e-3


def test_gradient_through_log_softmax_logits(rng):
    # the common use: logits -> log_softmax -> ctc_loss; gradient w.r.t. the logits
    logits = (2 * rng.normal(size=(T, N, C))).astype(np.float64)
    targets, il, tl = _batch(rng, T, N, C, S, blank=2)
    check_parity(
        lambda z, *a, **k: jaxloss.ctc_loss(jax.nn.log_softmax(z, axis=-1), *a, **k),
        lambda z, *a, **k: F.ctc_loss(torch.log_softmax(z, dim=-1), *a, **k),
        (logits, targets, il, tl),
        dict(blank=2),
        dtype=np.float64,
        jit=False,
    )


def test_neg_inf_log_prob_gives_nan_gradient_there(rng):
    # a zero probability: torch's backward computes exp(... - (-inf)) = nan at that entry only
    x = _log_probs(rng, (T, N, C), np.float32)
    x[2, 0, 1] = -np.inf
    x[3, 1, 3] = -np.inf
    targets, il, tl = _batch(rng, T, N, C, S)
    check_parity(
        jaxloss.ctc_loss, F.ctc_loss, (x, targets, il, tl), dict(reduction="none"), jit=False
    )


def test_input_frames_past_input_length_are_ignored(rng):
    # junk (nan, +-inf) in frames t >= input_length changes neither value nor gradient
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    il[1:] = [9, 5, 3]
    x[9:, 1] = np.nan
    x[5:, 2, 0] = np.inf
    x[3:, 3, 1] = -np.inf
    check_parity(jaxloss.ctc_loss, F.ctc_loss, (x, targets, il, tl), dict(reduction="none"))


@pytest.mark.parametrize("int_dtype", [np.int8, np.uint8, np.int16, np.int32])
def test_any_integer_target_and_length_dtype(rng, int_dtype):
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    targets = np.where(targets < 0, 0, targets)  # junk padding, but representable as uint8
    check_parity(
        jaxloss.ctc_loss,
        F.ctc_loss,
        (x, targets.astype(int_dtype), il.astype(int_dtype), tl.astype(int_dtype)),
        dict(reduction="none"),
        jit=False,
    )


@pytest.mark.parametrize("half", [jnp.float16, jnp.bfloat16])
def test_half_precision_computes_in_float32(rng, half):
    # torch's CPU kernel refuses half; we compute in float32 and return the input's dtype.
    # Reference: torch in float32 on the same (rounded) inputs; tolerance: one rounding to
    # the half type (bfloat16 keeps 8 significant bits).
    x = jnp.asarray(_log_probs(rng, (T, N, C), np.float32), half)
    targets, il, tl = _batch(rng, T, N, C, S)
    x32 = torch.from_numpy(np.asarray(x, np.float32)).requires_grad_()
    expected = F.ctc_loss(
        x32, torch.from_numpy(targets), torch.from_numpy(il), torch.from_numpy(tl)
    )
    expected.backward()
    got, g = jax.value_and_grad(lambda a: jaxloss.ctc_loss(a, targets, il, tl))(x)
    assert got.dtype == half and g.dtype == half
    assert_close(np.float32(got), expected.detach().numpy(), np.float32, "half value", rtol=1e-2)
    assert_close(
        np.asarray(g, np.float32), x32.grad.numpy(), np.float32, "half grad", rtol=1e-2, atol=1e-3
    )


def test_ctc_loss_class_is_a_static_jit_argument_and_pytree(rng):
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    il, tl = tuple(int(v) for v in il), tuple(int(v) for v in tl)
    loss = jaxloss.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert repr(loss) == "CTCLoss(reduction='sum', zero_infinity=True)"  # blank=0: the default
    assert loss == jaxloss.CTCLoss(reduction="sum", zero_infinity=True)
    assert hash(loss) == hash(jaxloss.CTCLoss(reduction="sum", zero_infinity=True))
    assert jax.tree_util.tree_leaves(loss) == []
    got = jax.jit(lambda l, a: l(a, targets, il, tl), static_argnums=0)(loss, x)
    expected = torch.nn.CTCLoss(reduction="sum", zero_infinity=True)(
        torch.from_numpy(x), torch.from_numpy(targets), il, tl
    )
    assert_close(got, expected, np.float32, "CTCLoss static jit")
    assert jaxloss.functional.ctc_loss is jaxloss.ctc_loss


def test_vmap_over_unbatched_examples_matches_batched_torch(rng):
    x = _log_probs(rng, (N, T, C), np.float32)  # N unbatched (T, C) problems
    targets, il, tl = _batch(rng, T, N, C, S)
    f = jax.jit(
        jax.vmap(
            jax.value_and_grad(lambda a, t, i, l: jaxloss.ctc_loss(a, t, i, l, reduction="sum"))
        )
    )
    got, grads = f(x, targets[:, None], il, tl)  # each example's target (1, S)
    xt = torch.from_numpy(np.moveaxis(x, 0, 1).copy()).requires_grad_()  # (T, N, C)
    expected = F.ctc_loss(
        xt, torch.from_numpy(targets), torch.from_numpy(il), torch.from_numpy(tl), reduction="none"
    )
    expected.sum().backward()
    assert_close(got, expected, np.float32, "vmap values")
    assert_close(grads, np.moveaxis(xt.grad.numpy(), 1, 0), np.float32, "vmap grads")


def test_forward_mode_matches_torch_gradient(rng):
    # jvp (the custom_jvp rule) against torch's gradient contracted with the tangent
    x = _log_probs(rng, (T, N, C), np.float64)
    tangent = rng.normal(size=x.shape)
    targets, il, tl = _batch(rng, T, N, C, S)
    xt = torch.from_numpy(x).requires_grad_()
    F.ctc_loss(xt, torch.from_numpy(targets), torch.from_numpy(il), torch.from_numpy(tl)).backward()
    with precision(np.float64):
        _, jvp = jax.jvp(
            lambda a: jaxloss.ctc_loss(a, targets, il, tl),
            (jnp.asarray(x),),
            (jnp.asarray(tangent),),
        )
    assert_close(jvp, np.sum(xt.grad.numpy() * tangent), np.float64, "jvp")


def test_hessian_wrt_logits_is_the_derivative_of_torchs_gradient(rng):
    # torch has no double backward for ctc_loss; ours differentiates torch's gradient formula.
    # Through log_softmax that gradient is the exact one, so jax.hessian w.r.t. the logits
    # must equal central differences (step 1e-5, float64) of torch's gradient w.r.t. the
    # logits: truncation ~1e-10, rounding ~1e-11, hence rtol 1e-6 / atol 1e-8.
    z = rng.normal(size=(5, 2, 4))
    targets, il, tl = torch.tensor([[1, 2], [3, 3]]), torch.tensor([5, 4]), torch.tensor([2, 2])

    def torch_grad(v):
        zt = torch.from_numpy(v).requires_grad_()
        return torch.autograd.grad(F.ctc_loss(torch.log_softmax(zt, -1), targets, il, tl), zt)[
            0
        ].numpy()

    zt = torch.from_numpy(z).requires_grad_()
    g = torch.autograd.grad(
        F.ctc_loss(torch.log_softmax(zt, -1), targets, il, tl), zt, create_graph=True
    )[0]
    with pytest.raises(RuntimeError, match="_ctc_loss_backward is not implemented"):
        g.sum().backward()
    h = 1e-5
    expected = np.empty((z.size, z.size))
    for k in range(z.size):
        e = np.zeros(z.size)
        e[k] = h
        e = e.reshape(z.shape)
        expected[:, k] = ((torch_grad(z + e) - torch_grad(z - e)) / (2 * h)).ravel()
    with precision(np.float64):
        got = jax.jit(
            jax.hessian(
                lambda v: jaxloss.ctc_loss(
                    jax.nn.log_softmax(v, axis=-1), targets.numpy(), (5, 4), (2, 2)
                )
            )
        )(jnp.asarray(z))
    assert_close(
        np.asarray(got).reshape(z.size, z.size),
        expected,
        np.float64,
        "hessian",
        rtol=1e-6,
        atol=1e-8,
    )


def test_traced_target_equal_to_blank_computes_like_torch(rng):
    # torch does not check labels; under jit neither can we, and the recursion matches
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    targets[0, 1] = 0
    check_parity(
        lambda *a, **k: jax.jit(jaxloss.ctc_loss, static_argnames="reduction")(*a, **k),
        F.ctc_loss,
        (x, targets, il, tl),
        dict(reduction="none"),
        jit=False,
    )


def test_traced_invalid_arguments_give_nan(rng):
    x = jnp.asarray(_log_probs(rng, (T, N, C), np.float32))
    targets, il, tl = _batch(rng, T, N, C, S)
    f = jax.jit(lambda t, i, l: jaxloss.ctc_loss(x, t, i, l, reduction="none"))
    base = np.asarray(f(targets, il, tl))
    assert np.isfinite(base).all()
    bad_label = targets.copy()
    bad_label[0, 0] = C
    cases = [
        ((bad_label, il, tl), [0]),
        ((targets, il + np.array([0, 0, 0, T]), tl), [3]),  # input length > T
        ((targets, il - np.array([0, 0, 99, 0]), tl), [2]),  # negative input length
        ((targets, il, tl + np.array([0, 0, 0, 99])), [3]),  # target length > S
        ((targets, il, tl - np.array([0, 99, 0, 0])), [1]),
    ]  # negative target length
    for args, nan_at in cases:
        got = np.asarray(f(*args))
        keep = [b for b in range(N) if b not in nan_at]
        assert np.isnan(got[nan_at]).all()
        assert_close(got[keep], base[keep], np.float32, "valid samples unaffected")
    # the gradient is nan too: the sample's for 'none', all of it once reduced
    g = jax.jit(jax.grad(lambda a, t: jnp.sum(jaxloss.ctc_loss(a, t, il, tl, reduction="none"))))(
        x, bad_label
    )
    assert np.isnan(g[:, 0]).all() and np.isfinite(g[:, 1:]).all()
    for reduction in ("sum", "mean"):
        g = jax.jit(jax.grad(lambda a, t: jaxloss.ctc_loss(a, t, il, tl, reduction=reduction)))(
            x, bad_label
        )
        assert np.isnan(g).all()
    # concatenated targets whose traced lengths do not add up to len(targets): all nan
    flat = jax.jit(lambda l: jaxloss.ctc_loss(x, np.array([1, 2, 3, 1]), il, l, reduction="none"))
    assert np.isnan(np.asarray(flat(np.array([1, 1, 2, 1])))).all()
    assert np.isfinite(np.asarray(flat(np.array([1, 1, 1, 1])))).all()


# --- bad input ------------------------------------------------------------------
def _ok():
    return (np.zeros((5, 2, 4), np.float32), np.array([[1, 2], [3, 1]]), (5, 5), (2, 2))


def _call(**change):
    args = dict(zip(["log_probs", "targets", "input_lengths", "target_lengths"], _ok()))
    args.update(change)
    return jaxloss.ctc_loss(**args)


@pytest.mark.parametrize(
    "change,match",
    [
        (
            dict(log_probs=np.zeros((5, 2, 4, 1), np.float32)),
            r"log_probs has shape \(5, 2, 4, 1\) but \(T, N, C\)",
        ),
        (dict(log_probs=np.zeros((0, 2, 4), np.float32)), r"must not be empty"),
        (dict(blank=4), r"blank=4 is not a class .* C = 4"),
        (dict(blank=-1), r"blank=-1 is not a class"),
        (dict(input_lengths=(5, 5, 5)), r"input_lengths has shape \(3,\) but \(2,\)"),
        (dict(target_lengths=np.array([[2, 2]])), r"target_lengths has shape \(1, 2\) but \(2,\)"),
        (dict(input_lengths=(5, -1)), r"input_lengths\[1\] = -1 .* \[0, 5\]"),
        (dict(input_lengths=(6, 5)), r"input_lengths\[0\] = 6 .* \[0, 5\]"),
        (dict(target_lengths=(-1, 2)), r"target_lengths\[0\] = -1"),
        (dict(target_lengths=(3, 2)), r"target_lengths\[0\] = 3 exceeds the padded length S = 2"),
        (dict(targets=np.array([1, 2, 3])), r"targets has shape \(3,\) but \(4,\) is required"),
        (dict(targets=np.array([[1, 2]])), r"targets has shape \(1, 2\) but \(2, S\)"),
        (dict(targets=np.zeros((2, 2, 1), np.int64)), r"targets has shape \(2, 2, 1\)"),
        (
            dict(targets=np.array([[1, 0], [3, 1]])),
            r"target label 0 \(sample 0, position 1\) equals blank=0",
        ),
        (
            dict(targets=np.array([[1, 2], [4, 1]])),
            r"target label 4 \(sample 1, position 0\) is outside \[0, 3\]",
        ),
        (dict(targets=np.array([[1, 2], [-1, 1]])), r"target label -1 .* is outside"),
        (dict(reduction="batchmean"), r"batchmean is not a valid value for reduction"),
    ],
)
def test_bad_input_value_error(change, match):
    with pytest.raises(ValueError, match=match):
        _call(**change)


def test_bad_input_torch_also_rejects():
    # the ValueErrors above mirror torch's RuntimeErrors (not the label checks: torch has none)
    lp, targets, il, tl = (
        torch.zeros(5, 2, 4),
        torch.tensor([[1, 2], [3, 1]]),
        torch.tensor([5, 5]),
        torch.tensor([2, 2]),
    )
    for args, kw in [
        ((lp, targets, il, tl), dict(blank=4)),
        ((lp, targets, torch.tensor([6, 5]), tl), {}),
        ((lp, targets, il, torch.tensor([3, 2])), {}),
        ((lp, torch.tensor([1, 2, 3]), il, tl), {}),
        ((torch.zeros(0, 2, 4), targets, torch.tensor([0, 0]), tl), {}),
    ]:
        with pytest.raises(RuntimeError):
            F.ctc_loss(*args, **kw)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(log_probs=np.zeros((5, 2, 4), np.int32)), r"log_probs has dtype int32"),
        (dict(targets=np.array([[1.0, 2.0], [3.0, 1.0]])), r"targets has dtype float"),
        (dict(input_lengths=np.array([5.0, 5.0])), r"input_lengths has dtype float"),
        (dict(blank=1.0), r"integer"),
    ],
)
def test_bad_input_type_error(change, match):
    with pytest.raises(TypeError, match=match):
        _call(**change)


# --- checkify: the concrete checks' messages from inside jit ------------------------------
def _checked(x, reduction="mean"):
    from jax.experimental import checkify

    return jaxloss.checked()(
        checkify.checkify(
            jax.jit(lambda t, i, l: jaxloss.ctc_loss(x, t, i, l, reduction=reduction)),
            errors=checkify.user_checks,
        )
    )


@pytest.mark.parametrize(
    "change,match",
    [
        (
            dict(targets=np.array([[1, 2], [4, 1]])),
            r"target label 4 \(sample 1, position 0\) is outside \[0, 3\]",
        ),
        (
            dict(targets=np.array([[1, -1], [3, 1]])),
            r"target label -1 \(sample 0, position 1\) is outside",
        ),
        (
            dict(targets=np.array([[1, 0], [3, 1]])),
            r"target label 0 \(sample 0, position 1\) equals blank=0",
        ),
        (dict(input_lengths=np.array([5, 6])), r"input_lengths\[1\] = 6 .* \[0, 5\]"),
        (dict(input_lengths=np.array([-1, 5])), r"input_lengths\[0\] = -1"),
        (dict(target_lengths=np.array([2, -1])), r"target_lengths\[1\] = -1"),
        (
            dict(target_lengths=np.array([3, 2])),
            r"target_lengths\[0\] = 3 exceeds the padded length S = 2",
        ),
        (
            dict(targets=np.array([1, 2, 3]), target_lengths=np.array([2, 2])),
            r"targets has shape \(3,\) but \(4,\) is required",
        ),
    ],
)
def test_checkify_raises_the_concrete_message(change, match):
    import re

    args = dict(zip(["log_probs", "targets", "input_lengths", "target_lengths"], _ok()))
    args.update(change)
    x = args.pop("log_probs")
    with pytest.raises(ValueError, match=match) as concrete:  # eager: the same check, concrete
        jaxloss.ctc_loss(x, **args)
    err, value = _checked(x)(
        args["targets"], np.asarray(args["input_lengths"]), np.asarray(args["target_lengths"])
    )
    assert err.get() is not None and re.search(match, err.get())
    assert str(concrete.value) in err.get()
    with pytest.raises(ValueError, match=match):
        err.throw()


def test_checkify_passes_valid_arguments(rng):
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    err, value = _checked(x, "none")(targets, il, tl)
    assert err.get() is None
    check = F.ctc_loss(
        torch.from_numpy(x),
        torch.from_numpy(targets),
        torch.from_numpy(il),
        torch.from_numpy(tl),
        reduction="none",
    )
    assert_close(value, check, np.float32, "checked value")
    err, _ = _checked(x)(_concatenate(targets, tl), il, tl)
    assert err.get() is None


def test_torch_does_not_check_labels():
    # why these are our checks: torch 2.13 computes with a label equal to blank, and reads out
    # of bounds (any value, or a crash) for labels >= C; it never raises
    lp = torch.zeros(5, 2, 4).log_softmax(2)
    out = F.ctc_loss(
        lp,
        torch.tensor([[1, 0], [3, 1]]),
        torch.tensor([5, 5]),
        torch.tensor([2, 2]),
        reduction="none",
    )
    assert torch.isfinite(out).all()


# --- every array argument traced, or a closed-over constant, under jit ---------------------
@pytest.mark.parametrize("name", ["log_probs", "targets", "input_lengths", "target_lengths"])
@pytest.mark.parametrize("how", ["traced", "closed_over"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_every_array_argument_traced_or_closed_over(rng, name, how, layout):
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    if layout == "concatenated":
        targets = _concatenate(targets, tl)
    arrays = dict(log_probs=x, targets=targets, input_lengths=il, target_lengths=tl)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    expected = F.ctc_loss(tx, *(torch.from_numpy(arrays[k]) for k in list(arrays)[1:]))
    expected.backward()
    constants = {k: jnp.asarray(v) for k, v in arrays.items()}
    moving = [name] if how == "traced" else (["targets"] if name == "log_probs" else ["log_probs"])
    fixed = {k: v for k, v in constants.items() if k not in moving}

    def f(*values):
        return jaxloss.ctc_loss(**fixed, **dict(zip(moving, values)))

    args = [constants[k] for k in moving]
    assert_close(jax.jit(f)(*args), expected, np.float32, "value")
    if moving == ["log_probs"]:
        assert_close(jax.jit(jax.grad(f))(*args), tx.grad, np.float32, "grad")


def test_unchecked_jit_compiles_the_checks_away(rng):
    # no effect in the jaxpr (an effect takes jit off jax's C++ dispatch fast path), and
    # nothing of the checks in the compiled program
    x = _log_probs(rng, (T, N, C), np.float32)
    targets, il, tl = _batch(rng, T, N, C, S)
    f = jax.value_and_grad(lambda a, t, i, l: jaxloss.ctc_loss(a, t, i, l))
    assert jax.make_jaxpr(f)(x, targets, il, tl).effects == set()
    hlo = jax.jit(f).lower(x, targets, il, tl).compile().as_text().lower()
    assert "callback" not in hlo
