"""Matmul precision and operand dtypes, read in the lowered program; bfloat16 against torch.

The lowered StableHLO text (``jax.jit(f).lower(...).as_text()``) is the same on every
backend, so what a GPU or TPU would run is checked here: each ``dot_general`` of
``linear_cross_entropy`` (dense, chunked, fused and vocabulary-parallel paths, value and
gradient) and of ``AdaptiveLogSoftmaxWithLoss`` carries the precision ``precision=None``
promises (torch's default: HIGHEST for float32; bfloat16 operands as they are, accumulated
in float32), an explicit ``precision``, or the user's ``jax.default_matmul_precision``.
The bfloat16 numbers are compared with torch 2.13's bfloat16 on the CPU and, for both, the
error against a float64 reference (torch's float64 on the same bfloat16-representable
inputs): jaxloss must be no further from it than torch.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from jax import lax

from jaxloss import (
    AdaptiveLogSoftmaxWithLoss,
    LinearCrossEntropyLoss,
    LinearCrossEntropyOptions,
    adaptive_log_softmax_with_loss,
    linear_cross_entropy,
    vocab_parallel_linear_cross_entropy,
)
from jaxloss.testing import tolerance

O = LinearCrossEntropyOptions
N, D, V = 64, 16, 96
# Each path with the number of products its value and its value+gradient lower to:
# dense 1 / 3 (logits; input and weight gradients), chunked 1 / 4 (the backward pass
# recomputes each chunk's logits), fused 1 / 3 (gradients accumulated in the forward pass).
PATHS = {
    "dense": (O(dense=True), "none", 1, 3),
    "chunked": (O(token_chunk_size=16, vocab_chunk_size=32), "none", 1, 4),
    "fused": (O(token_chunk_size=16), "mean", 1, 3),
}
_DOT = re.compile(
    r"stablehlo\.dot_general .*?precision = \[(\w+), (\w+)\].*?"
    r": \(tensor<[\dx]*x(\w+)>, tensor<[\dx]*x(\w+)>\) -> tensor<[\dx]*x(\w+)>"
)


def dots(fn, *args) -> list[tuple[str, str, str, str, str]]:
    """(lhs precision, rhs precision, lhs dtype, rhs dtype, result dtype) of every product."""
    text = jax.jit(fn).lower(*args).as_text()
    lines = [line for line in text.splitlines() if "stablehlo.dot_general" in line]
    found = [_DOT.search(line) for line in lines]
    assert all(found), [line for line, m in zip(lines, found) if not m]
    return [m.groups() for m in found if m]


def expect(dtype, precision: str) -> tuple[str, str, str, str, str]:
    operand = {"float32": "f32", "bfloat16": "bf16"}[dtype]
    return (precision, precision, operand, operand, "f32")


def _inputs(dtype: str):
    x = jax.ShapeDtypeStruct((N, D), jnp.dtype(dtype))
    w = jax.ShapeDtypeStruct((V, D), jnp.dtype(dtype))
    y = jax.ShapeDtypeStruct((N,), jnp.int32)
    return x, w, y


def _value_and_grad(loss):
    def total(x, w, y):
        return loss(x, w, y).astype(jnp.float32).sum()

    return total, jax.value_and_grad(total, argnums=(0, 1))


# precision argument, the jax.default_matmul_precision block (or None), and what the
# products must then carry for float32 and for bfloat16 operands
SETTINGS = {
    "default": (None, None, {"float32": "HIGHEST", "bfloat16": "DEFAULT"}),
    "explicit": ("tensorfloat32", None, {"float32": "HIGH", "bfloat16": "HIGH"}),
    "explicit-enum": (lax.Precision.DEFAULT, None, {"float32": "DEFAULT", "bfloat16": "DEFAULT"}),
    "config": (None, "tensorfloat32", {"float32": "HIGH", "bfloat16": "HIGH"}),
    "explicit-beats-config": ("highest", "bfloat16", {"float32": "HIGHEST", "bfloat16": "HIGHEST"}),
}


def _lowered(setting: str, fn, *args):
    _, block, _ = SETTINGS[setting]
    if block is None:
        return dots(fn, *args)
    with jax.default_matmul_precision(block):
        return dots(fn, *args)


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("path", list(PATHS))
def test_linear_cross_entropy_products(path, dtype, setting):
    options, reduction, n_value, n_grad = PATHS[path]
    precision, _, wanted = SETTINGS[setting]

    def loss(x, w, y):
        return linear_cross_entropy(
            x, w, y, reduction=reduction, options=options, precision=precision
        )

    value, value_and_grad = _value_and_grad(loss)
    want = expect(dtype, wanted[dtype])
    got = _lowered(setting, value, *_inputs(dtype))
    assert got == [want] * n_value, got
    got = _lowered(setting, value_and_grad, *_inputs(dtype))
    assert got == [want] * n_grad, got


@pytest.mark.parametrize("setting", ["default", "explicit", "config"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_vocab_parallel_and_module_products(dtype, setting):
    precision, _, wanted = SETTINGS[setting]
    want = expect(dtype, wanted[dtype])
    mesh = jax.make_mesh((1,), ("model",))

    def sharded(x, w, y):
        return vocab_parallel_linear_cross_entropy(
            x,
            w,
            y,
            mesh=mesh,
            axis="model",
            options=O(token_chunk_size=16),
            reduction="none",
            precision=precision,
        )

    _, value_and_grad = _value_and_grad(sharded)
    assert _lowered(setting, value_and_grad, *_inputs(dtype)) == [want] * 4
    head = LinearCrossEntropyLoss(D, V, key=jax.random.key(0), dtype=dtype, precision=precision)
    x, _, y = _inputs(dtype)
    grad = jax.value_and_grad(lambda h, x, y: h(x, y).astype(jnp.float32))
    assert _lowered(setting, grad, head, x, y) == [want] * 2  # logits, weight gradient


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_adaptive_products(dtype, setting):
    precision, _, wanted = SETTINGS[setting]
    want = expect(dtype, wanted[dtype])
    asm = AdaptiveLogSoftmaxWithLoss(
        D, V, [8, 40], div_value=2.0, key=jax.random.key(0), dtype=dtype, precision=precision
    )
    x = jax.ShapeDtypeStruct((N, D), jnp.dtype(dtype))
    y = jax.ShapeDtypeStruct((N,), jnp.int32)
    # head, then two products per tail cluster; each product's gradient adds two
    grad = jax.value_and_grad(lambda m, x, y: m(x, y).loss.astype(jnp.float32), argnums=(0, 1))
    assert _lowered(setting, grad, asm, x, y) == [want] * 15
    assert _lowered(setting, lambda m, x: m.log_prob(x), asm, x) == [want] * 5
    assert _lowered(setting, lambda m, x: m.predict(x), asm, x) == [want] * 5

    def functional(x, y, m):
        return adaptive_log_softmax_with_loss(
            x, y, m.head_weight, m.tail, m.cutoffs, precision=precision
        ).loss

    assert _lowered(setting, functional, x, y, asm) == [want] * 5


@pytest.mark.parametrize("path", ["chunked", "fused"])
def test_bfloat16_weight_is_never_copied_to_float32(path):
    """No float32 copy of the (V, D) weight, nor any (N, V) array: the chunked and fused
    paths hold one chunk of logits at a time."""
    options, reduction, _, _ = PATHS[path]

    def loss(x, w, y):
        return linear_cross_entropy(x, w, y, reduction=reduction, options=options)

    _, value_and_grad = _value_and_grad(loss)
    text = jax.jit(value_and_grad).lower(*_inputs("bfloat16")).as_text()
    converts = re.findall(r"stablehlo\.convert .*?: \(tensor<([\dx]*)xbf16>\) -> tensor<", text)
    assert f"{V}x{D}" not in converts and f"{N}x{V}" not in converts, converts
    assert not re.search(rf"tensor<{N}x{V}x", text)


def test_fused_weight_gradient_slabs_match_torch(rng):
    """D=4096 makes the fused kernel add its weight gradient in slabs of 1024 vocabulary
    rows; V=1500 makes the last slab overlap the one before."""
    from torch_parity import assert_close

    x = rng.standard_normal((8, 4096)).astype(np.float32)
    w = (rng.standard_normal((1500, 4096)) / 64).astype(np.float32)
    y = rng.integers(0, 1500, 8)
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    expected = F.linear_cross_entropy(tx, tw, torch.from_numpy(y), label_smoothing=0.2)
    expected.backward()
    f = jax.jit(
        jax.value_and_grad(
            lambda x, w: linear_cross_entropy(
                x, w, jnp.asarray(y), label_smoothing=0.2, options=O(token_chunk_size=4)
            ),
            argnums=(0, 1),
        )
    )
    value, (dx, dw) = f(x, w)
    assert_close(value, expected, np.float32, "value")
    assert_close(dx, tx.grad, np.float32, "input gradient")
    assert_close(dw, tw.grad, np.float32, "weight gradient")


def test_precision_argument_is_checked():
    x, w, y = jnp.ones((2, 3)), jnp.ones((4, 3)), jnp.array([0, 1])
    with pytest.raises(ValueError, match=r"linear_cross_entropy: precision='fast' is not a matmul"):
        linear_cross_entropy(x, w, y, precision="fast")
    with pytest.raises(ValueError, match=r"adaptive_log_softmax_with_loss: precision=3 is not"):
        adaptive_log_softmax_with_loss(
            x, y, w[:3], [(jnp.ones((1, 3)), jnp.ones((2, 1)))], [2], precision=3
        )


# --------------------------------------------------------------------------------------
# The LLM head's memory, from the compiled program (deterministic; compile only)
# --------------------------------------------------------------------------------------

LLAMA3_8B_HEAD = (8192, 4096, 128256)  # tokens, hidden size, vocabulary


def _compiled(options, n, d, v):
    x = jax.ShapeDtypeStruct((n, d), jnp.bfloat16)
    w = jax.ShapeDtypeStruct((v, d), jnp.bfloat16)
    y = jax.ShapeDtypeStruct((n,), jnp.int32)
    f = jax.value_and_grad(
        lambda x, w, y: linear_cross_entropy(x, w, y, options=options), argnums=(0, 1)
    )
    return jax.jit(f).lower(x, w, y).compile()


def _cpu_weight_copies(compiled, v: int, d: int) -> int:
    """float32 copies of the bf16 (V, D) weight that the CPU compiler itself makes: older
    XLA:CPU (jax 0.8) runs a bf16 product in float32 and converts the whole weight once.
    The lowered program has none (test_bfloat16_weight_is_never_copied_to_float32)."""
    found = re.findall(rf": bf16\[{v},{d}\]\) -> f32\[{v},{d}\]", compiled.as_text())
    return len(found)


def test_bfloat16_llm_head_memory_bound():
    """bf16 value+grad of a Llama-3-8B head (N=8192, D=4096, V=128256): the default (fused)
    path's temporaries stay under the float32 weight-gradient accumulator (V*D*4 bytes,
    torch's float32 accumulation policy) plus 512 MiB, far below the dense path's, which
    holds the (N, V) float32 logits (and, with jax 0.10, their gradient). Any float32 copy of the weight that
    the CPU compiler adds by itself is left out of both."""
    n, d, v = LLAMA3_8B_HEAD
    fused, dense = (
        # the temporaries, less the CPU compiler's own float32 copies of the weight
        program.memory_analysis().temp_size_in_bytes - _cpu_weight_copies(program, v, d) * v * d * 4
        for program in (_compiled(None, n, d, v), _compiled(O(dense=True), n, d, v))
    )
    accumulator = v * d * 4
    assert fused <= accumulator + (1 << 29), (fused, accumulator)
    assert dense >= n * v * 4, dense  # at least the (N, V) float32 logits
    assert fused < dense / 2, (fused, dense)


# --------------------------------------------------------------------------------------
# bfloat16 against torch 2.13 (CPU) and both against float64
# --------------------------------------------------------------------------------------

# jaxloss.testing's bfloat16 tolerance for this backend (its table says why)
BF16_TOLERANCE = tolerance(jnp.bfloat16)[0]


def _bf16_values(rng, *shape, scale=1.0) -> np.ndarray:
    """float32 values exactly representable in bfloat16 (so both libraries see the same)."""
    a = (rng.standard_normal(shape) * scale).astype(np.float32)
    return np.asarray(jnp.asarray(a, jnp.bfloat16).astype(jnp.float32))


def _normwise(actual: np.ndarray, expected: np.ndarray) -> float:
    scale = float(np.max(np.abs(expected)))
    return float(np.max(np.abs(actual - expected))) / (scale if scale else 1.0)


def _torch_run(fn, arrays: list[np.ndarray], dtype) -> list[np.ndarray]:
    tensors = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    value = fn(*tensors)
    value.double().sum().backward()
    return [value.detach().double().numpy()] + [t.grad.double().numpy() for t in tensors]


def _jax_run(fn, arrays: list[np.ndarray]) -> list[np.ndarray]:
    bf = [jnp.asarray(a, jnp.bfloat16) for a in arrays]
    value = jax.jit(fn)(*bf)
    grads = jax.jit(
        jax.grad(lambda *a: fn(*a).astype(jnp.float32).sum(), argnums=tuple(range(len(bf))))
    )(*bf)
    assert value.dtype == jnp.bfloat16 and all(g.dtype == jnp.bfloat16 for g in grads)
    return [np.asarray(value, np.float64)] + [np.asarray(g, np.float64) for g in grads]


def _compare(jax_fn, torch_fn, arrays, what) -> list[tuple[float, float]]:
    reference = _torch_run(torch_fn, arrays, torch.float64)
    theirs = _torch_run(torch_fn, arrays, torch.bfloat16)
    ours = _jax_run(jax_fn, arrays)
    errors = []
    for name, o, t, r in zip(
        ["value", *(f"grad {i}" for i in range(len(arrays)))], ours, theirs, reference
    ):
        assert o.shape == t.shape, (what, name, o.shape, t.shape)
        vs_torch = _normwise(o, t)
        assert vs_torch <= BF16_TOLERANCE, f"{what} {name}: {vs_torch:.3g} from torch bf16"
        ours_err, torch_err = _normwise(o, r), _normwise(t, r)
        assert ours_err <= torch_err, (
            f"{what} {name}: jaxloss {ours_err:.3g} from float64, torch {torch_err:.3g}"
        )
        errors.append((ours_err, torch_err))
    return errors


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("path", ["dense", "chunked", "default"])
def test_bfloat16_linear_cross_entropy_matches_torch(rng, path, reduction):
    n, d, v = 96, 64, 1000
    x = _bf16_values(rng, n, d)
    w = _bf16_values(rng, v, d, scale=3 / np.sqrt(d))
    y = rng.integers(0, v, n)
    y[::7] = -100  # ignored tokens
    options = {
        "dense": O(dense=True),
        "chunked": O(token_chunk_size=32, vocab_chunk_size=256),
        "default": O(token_chunk_size=32),
    }[path]

    def ours(x, w):
        return linear_cross_entropy(
            x, w, jnp.asarray(y), reduction=reduction, options=options, label_smoothing=0.1
        )

    def theirs(x, w):
        return F.linear_cross_entropy(
            x, w, torch.from_numpy(y), reduction=reduction, label_smoothing=0.1
        )

    _compare(ours, theirs, [x, w], f"{path} {reduction}")


def test_bfloat16_adaptive_matches_torch(rng):
    d, cutoffs, n_classes = 32, [20, 60], 200
    module = torch.nn.AdaptiveLogSoftmaxWithLoss(d, n_classes, cutoffs, div_value=2.0)
    state = {k: _bf16_values(rng, *v.shape) for k, v in module.state_dict().items()}
    x = _bf16_values(rng, 48, d)
    y = rng.integers(0, n_classes, 48)
    keys = sorted(state)

    def ours(x, *params):
        p = dict(zip(keys, params))
        tail = [(p[f"tail.{i}.0.weight"], p[f"tail.{i}.1.weight"]) for i in range(2)]
        return adaptive_log_softmax_with_loss(
            x, jnp.asarray(y), p["head.weight"], tail, cutoffs
        ).output

    def theirs(x, *params):
        m = module.to(x.dtype)
        return torch.func.functional_call(
            m, dict(zip(keys, params)), (x, torch.from_numpy(y))
        ).output

    _compare(ours, theirs, [x, *(state[k] for k in keys)], "adaptive")
