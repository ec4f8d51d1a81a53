"""Check every statement of docs/torch_semantics.md against live torch (and naive JAX).

Run from the repository root with the test extra installed (torch==2.13.0):

    .venv/bin/python docs/torch_semantics_check.py

Each line printed is ``ok`` or ``FAIL``, the statement's id (as in torch_semantics.md) and
what torch (or JAX) returned. Exit status 1 if any statement fails. Nothing here calls
jaxloss: it checks the reference behaviour that jaxloss reproduces.
"""

from __future__ import annotations

import math
import sys
import warnings

import jax
import jax.numpy as jnp
import torch
import torch.nn.functional as F

failures: list[str] = []


def check(sid: str, cond: bool, got: object) -> None:
    print(f"{'ok  ' if cond else 'FAIL'} {sid}: {got}")
    if not cond:
        failures.append(sid)


def raises(fn, *args, **kwargs) -> tuple[str, str] | None:
    """(exception type name, message) or None when ``fn`` returns."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args, **kwargs)
    except Exception as e:  # we report whatever torch raises
        return type(e).__name__, str(e).splitlines()[0]
    return None


def warns(fn, *args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return [f"{x.category.__name__}: {str(x.message)[:70]}" for x in w]


def grad(fn, *tensors):
    ts = [t.detach().clone().requires_grad_(True) for t in tensors]
    out = fn(*ts)
    out.backward()
    return out.detach(), [t.grad for t in ts]


t = torch.tensor
print(f"torch {torch.__version__}, jax {jax.__version__}")

# --- shared -------------------------------------------------------------------------
x3, y3 = t([1.0, 2.0, 3.0]), t([1.0, 2.0, 5.0])
r = raises(F.l1_loss, x3, y3, reduction="foo")
check("reduction-invalid", r == ("ValueError", "foo is not a valid value for reduction"), r)
r = raises(F.kl_div, x3, y3, reduction="batchmean")
check(
    "reduction-batchmean-kl-only",
    r is None and raises(F.l1_loss, x3, y3, reduction="batchmean") is not None,
    r,
)

e = torch.empty(0)
vals = {
    red: [float(f(e, e, reduction=red)) for f in (F.l1_loss, F.mse_loss)] for red in ("mean", "sum")
}
ce_e = float(F.cross_entropy(torch.empty(0, 3), torch.empty(0, dtype=torch.long)))
check(
    "empty-input",
    all(math.isnan(v) for v in vals["mean"]) and vals["sum"] == [0.0, 0.0] and math.isnan(ce_e),
    f"{vals}, cross_entropy mean {ce_e}",
)

xw, yw, w = t([1.0, 5.0]), t([1.0, 2.0]), t([1.0, 3.0])  # |diff| = [0, 3]
got = [
    float(F.l1_loss(xw, yw, weight=w)),
    float(F.mse_loss(xw, yw, weight=w)),
    float(F.huber_loss(xw, yw, weight=w)),
]
check("weight-mean", got == [2.25, 6.75, 3.75], f"l1, mse, huber = {got}")
r = raises(F.l1_loss, xw, yw, weight=t([1.0]))
check("weight-shape", r is not None, r)

for f in (F.l1_loss, F.mse_loss, F.smooth_l1_loss, F.huber_loss):
    ws = warns(f, torch.ones(3, 1), torch.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shape = tuple(f(torch.ones(3, 1), torch.zeros(3), reduction="none").shape)
    r = raises(f, torch.ones(3), torch.ones(4))
    check(
        f"size-mismatch-{f.__name__}",
        len(ws) == 1 and shape == (3, 3) and r is not None,
        f"(3, 1) vs (3,): warns, -> {shape}; (3,) vs (4,): {r[0] if r else None}",
    )

xi, yi = t([1, 2, 3]), t([1, 2, 5])
r1 = raises(F.l1_loss, xi, yi)
r2 = raises(F.mse_loss, xi, yi)
r3 = raises(F.mse_loss, t([True, False]), t([True, True]))
check("int-l1-mean", r1 is not None, r1)
check(
    "int-l1-sum",
    raises(F.l1_loss, xi, yi, reduction="sum") is None,
    float(F.l1_loss(xi, yi, reduction="sum")),
)
check(
    "int-mse",
    r2 is not None and r3 is not None and r2[0] == "NotImplementedError",
    f"Long: {r2}; Bool: {r3}",
)

d64 = torch.float64
rt = torch.result_type(torch.ones(2), t(1.0, dtype=d64))
rt0 = torch.result_type(torch.ones(()), t(1.0, dtype=d64))
rt_cat = torch.result_type(torch.ones(2, dtype=torch.int64), t(1.0, dtype=torch.float16))
check(
    "promotion-zero-dim",
    (rt, rt0, rt_cat) == (torch.float32, torch.float64, torch.float16),
    f"float32 (2,) with float64 (): {rt}; both (): {rt0}; int64 (2,) with float16 (): {rt_cat}",
)
w0, xs = t(1.5, dtype=d64), t(0.5)
dts = [F.mse_loss(xs, y3, reduction=r, weight=w0).dtype for r in ("none", "sum", "mean")]
gnll = F.gaussian_nll_loss(t(0.5, dtype=d64), y3, t(1.0, dtype=d64)).dtype
check(
    "promotion-losses",
    dts == [torch.float32, torch.float32, d64] and gnll == torch.float32,
    f"mse 0-d float64 weight none/sum/mean: {dts}; gaussian_nll 0-d float64 input, var: {gnll}",
)

# --- cross_entropy / nll_loss -------------------------------------------------------
logits = t([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]])
unb = float(F.cross_entropy(t([0.1, 0.2, 0.3]), t(1)))
check("ce-unbatched-and-lesson", f"{unb:.4f}" == "1.1019", f"(C,) input, () target: {unb:.4f}")
k = F.cross_entropy(
    torch.zeros(2, 3, 4, 5), torch.zeros(2, 4, 5, dtype=torch.long), reduction="none"
)
check("ce-class-axis-1", tuple(k.shape) == (2, 4, 5), f"(N, C, d1, d2) -> {tuple(k.shape)}")
for dt in (torch.int64, torch.uint8, torch.int32, torch.int16, torch.int8):
    r = raises(F.cross_entropy, logits, t([1, 0], dtype=dt))
    check(f"ce-target-{dt}", (r is None) == (dt in (torch.int64, torch.uint8)), r or "accepted")

p = t([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
r = raises(F.cross_entropy, logits, p, ignore_index=1)
check("ce-prob-ignore_index", r is not None, f"ignore_index with probability targets: {r}")
neg = float(F.cross_entropy(logits, p, ignore_index=-5))
check(
    "ce-prob-ignore_index-negative",
    neg == float(F.cross_entropy(logits, p)),
    f"ignore_index=-5 accepted, no effect: {neg:.6f}",
)
wc = t([1.0, 2.0, 0.5])
lp = F.log_softmax(logits, 1)
manual = float(-(p * wc * lp).sum() / 2)
check(
    "ce-prob-weight-mean-divides-by-N",
    abs(float(F.cross_entropy(logits, p, weight=wc)) - manual) < 1e-6,
    f"{float(F.cross_entropy(logits, p, weight=wc)):.6f} vs {manual:.6f}",
)

y = t([1, 2])
yig = t([1, -100])
manual = float(-(wc[1] * lp[0, 1]) / wc[1])
check(
    "ce-index-weight-mean",
    abs(float(F.cross_entropy(logits, yig, weight=wc)) - manual) < 1e-6,
    "sum w[y] l / sum w[y] over non-ignored",
)
allig = t([-100, -100])
v, (g,) = grad(lambda a: F.cross_entropy(a, allig), logits)
check(
    "ce-all-ignored-mean",
    math.isnan(float(v)) and bool((g == 0).all()),
    f"value {float(v)}, grad all zero {bool((g == 0).all())}",
)
check(
    "ce-all-ignored-sum", float(F.cross_entropy(logits, allig, reduction="sum")) == 0.0, "sum -> 0"
)

r = raises(F.cross_entropy, logits, y, label_smoothing=1.5)
check("ce-smoothing>1", r is not None, r)
r = raises(F.cross_entropy, logits, y, label_smoothing=-0.1)
neg = None if r else float(F.cross_entropy(logits, y, label_smoothing=-0.1))
check(
    "ce-smoothing<0",
    r is None and neg == float(F.cross_entropy(logits, y)),
    f"label_smoothing=-0.1: {r or neg} (plain: {float(F.cross_entropy(logits, y)):.6f})",
)
eps, C = 0.1, 3
l_n = -(1 - eps) * wc[y] * lp[[0, 1], y] - eps / C * (wc * lp).sum(1)
manual = float(l_n.sum() / wc[y].sum())
got = float(F.cross_entropy(logits, y, weight=wc, label_smoothing=eps))
check("ce-smoothing-formula", abs(got - manual) < 1e-6, f"{got:.6f} vs {manual:.6f}")

v = F.cross_entropy(logits, t([1, 0]), ignore_index=0, reduction="none")
check(
    "ce-ignored-class-in-denominator",
    abs(float(v[0]) - float(-lp[0, 1])) < 1e-6 and float(v[1]) == 0.0,
    v.tolist(),
)

for bad in (5, -1):
    r = raises(F.cross_entropy, logits, t([bad, 0]))
    check(f"ce-out-of-range-{bad}", r == ("IndexError", f"Target {bad} is out of bounds."), r)
xj, yj = jnp.asarray(logits.numpy()), jnp.array([-1, 0])
naive = jnp.take_along_axis(jax.nn.log_softmax(xj, 1), yj[:, None], 1)
check(
    "naive-jax-wraps-minus-1",
    abs(float(naive[0, 0]) - float(lp[0, 2])) < 1e-6,
    "take_along_axis(-1) gives the last class",
)

ninf = t([[0.0, float("-inf"), 1.0]])
v, (g,) = grad(lambda a: F.cross_entropy(a, t([0])), ninf)
check(
    "ce-inf-non-target",
    math.isfinite(float(v)) and float(g[0, 1]) == 0.0,
    f"{float(v):.4f}, grad {g.tolist()}",
)
check(
    "ce-inf-smoothing", float(F.cross_entropy(ninf, t([0]), label_smoothing=0.1)) == math.inf, "inf"
)
check("ce-inf-target", float(F.cross_entropy(ninf, t([1]))) == math.inf, "inf")
check(
    "ce-inf-all",
    math.isnan(float(F.cross_entropy(torch.full((1, 3), float("-inf")), t([0])))),
    "nan",
)
for dt in (torch.float16, torch.bfloat16):
    check(
        f"ce-{dt}",
        F.cross_entropy(logits.to(dt), y).dtype == dt,
        str(F.cross_entropy(logits.to(dt), y).dtype),
    )

# --- gradients where naive JAX differs ---------------------------------------------
_, (g,) = grad(lambda a: F.l1_loss(a, y3, reduction="sum"), x3)
check(
    "l1-grad-at-0",
    g.tolist() == [0.0, 0.0, -1.0] and float(jax.grad(jnp.abs)(0.0)) == 1.0,
    f"torch {g.tolist()}, jax.grad(jnp.abs)(0.) = {float(jax.grad(jnp.abs)(0.0))}",
)
xs = t([0.0, 1.0, -2.0])
v, (g,) = grad(lambda a: F.smooth_l1_loss(a, torch.zeros(3), beta=0.0, reduction="sum"), xs)
check(
    "smooth_l1-beta0",
    float(v) == 3.0 and g.tolist() == [0.0, 1.0, -1.0],
    f"{float(v)}, {g.tolist()}",
)
naive = jax.grad(
    lambda d: jnp.sum(jnp.where(jnp.abs(d) < 0.0, 0.5 * d**2 / 0.0, jnp.abs(d) - 0.0))
)(jnp.array([0.0, 1.0, -2.0]))
check("naive-smooth_l1-beta0-nan", bool(jnp.isnan(naive).all()), naive.tolist())

# ties: the input exactly at the hinge
_, (g,) = grad(lambda a: F.margin_ranking_loss(a, t([0.0]), t([1.0]), margin=1.0), t([1.0]))
check(
    "tie-margin_ranking",
    g.tolist() == [-1.0],
    f"grad at max(0, -y(x1-x2)+m) = 0 boundary: {g.tolist()}",
)
_, (g,) = grad(lambda a: F.hinge_embedding_loss(a, t([-1.0]), margin=1.0), t([1.0]))
check("tie-hinge_embedding", g.tolist() == [-1.0], f"y=-1, x = margin: {g.tolist()}")
a0, p0, n0 = t([[0.0, 0.0]]), t([[1.0, 0.0]]), t([[0.0, 2.0]])  # d(a,p)=1, d(a,n)=2, margin 1
_, (g,) = grad(lambda a: F.triplet_margin_loss(a, p0, n0, margin=1.0, eps=0.0), a0)
check("tie-triplet", bool((g != 0).any()), f"d(a,p) - d(a,n) + margin = 0: grad {g.tolist()}")
_, (g,) = grad(
    lambda a: F.cosine_embedding_loss(a, t([[1.0, 0.0]]), t([-1.0]), margin=0.0), t([[0.0, 1.0]])
)
check("tie-cosine_embedding", bool((g != 0).any()), f"cos = margin for y=-1: grad {g.tolist()}")
_, (g,) = grad(lambda a: F.multi_margin_loss(a, t([0])), t([[1.0, 0.0]]))
check("tie-multi_margin", g.tolist() == [[0.0, 0.0]], f"margin - x_y + x_j = 0: grad {g.tolist()}")
_, (g,) = grad(lambda a: F.multilabel_margin_loss(a, t([[0, -1]])), t([[1.0, 0.0]]))
check(
    "tie-multilabel_margin", g.tolist() == [[0.0, 0.0]], f"1 - (x_y - x_j) = 0: grad {g.tolist()}"
)
naive = jax.grad(lambda z: jnp.maximum(z, 0.0))(0.0)
check(
    "naive-jax-maximum-tie",
    float(naive) == 0.5,
    f"jax.grad(jnp.maximum(z, 0))(0.) = {float(naive)}",
)

check("kl-target-0", float(F.kl_div(t([-1.0]), t([0.0]), reduction="sum")) == 0.0, "0")
naive = jnp.sum(jnp.array([0.0]) * (jnp.log(jnp.array([0.0])) - -1.0))
check("naive-kl-target-0-nan", bool(jnp.isnan(naive)), float(naive))

v, (g,) = grad(lambda a: F.binary_cross_entropy(a, t([1.0])), t([0.0]))
check(
    "bce-p0-y1",
    float(v) == 100.0 and abs(float(g[0]) + 1e12) < 1e6,
    f"value {float(v)}, grad {float(g[0]):.4g}",
)
naive = jax.grad(lambda q: -jnp.maximum(jnp.log(q), -100.0))(0.0)
check("naive-bce-nan-grad", bool(jnp.isnan(naive)), float(naive))

v, (_, _, gv) = grad(
    lambda i, tt, var: F.gaussian_nll_loss(i, tt, var), t([0.0]), t([1.0]), t([1e-9])
)
check(
    "gaussian-var-clamped-straight-through",
    float(gv[0]) < -1e11,
    f"d/dvar = {float(gv[0]):.4g} (var 1e-9 < eps 1e-6)",
)

_, (g,) = grad(lambda a: F.pairwise_distance(a, t([[1.0, 2.0]])).sum(), t([[1.0, 2.0]]))
d = float(F.pairwise_distance(t([[1.0, 2.0]]), t([[1.0, 2.0]])))
check(
    "pairwise-eps-on-difference",
    abs(d - math.sqrt(2) * 1e-6) < 1e-9 and bool(torch.isfinite(g).all()),
    f"||a - p + 1e-6|| = {d:.4g}, grad {g.tolist()}",
)
naive = jax.grad(lambda a: jnp.linalg.norm(a - jnp.array([1.0, 2.0])))(jnp.array([1.0, 2.0]))
check("naive-norm-at-0-nan", bool(jnp.isnan(naive).any()), naive.tolist())

_, (g,) = grad(lambda a: F.cosine_embedding_loss(a, t([[1.0, 0.0]]), t([1.0])), t([[0.0, 0.0]]))
check("cosine-zero-vector", bool(torch.isfinite(g).all()), f"grad {g.tolist()}")

for xv in (-100.0, -88.0, -90.0):
    v, (g,) = grad(lambda a: F.soft_margin_loss(a, t([1.0])), t([xv]))
    finite = xv > -88.5  # exp(88.7) is float32's largest
    ok = math.isfinite(float(v)) == finite and (not finite) == math.isnan(float(g[0]))
    check(f"soft_margin-x={xv}", ok, f"value {float(v)}, grad {float(g[0])}")
check("naive-softplus-100", float(jax.nn.softplus(100.0)) == 100.0, "jax.nn.softplus(100.) = 100")

lp_ctc = torch.log_softmax(torch.zeros(2, 1, 3), 2)  # T=2 frames
tgt = t([[1, 1]])  # repeated label needs T >= 3
v, (g,) = grad(lambda a: F.ctc_loss(a, tgt, t([2]), t([2])), lp_ctc)
vz, (gz,) = grad(lambda a: F.ctc_loss(a, tgt, t([2]), t([2]), zero_infinity=True), lp_ctc)
check(
    "ctc-impossible",
    float(v) == math.inf
    and bool(torch.isnan(g).any())
    and float(vz) == 0.0
    and bool((gz == 0).all()),
    f"{float(v)}, grad has nan {bool(torch.isnan(g).any())}; "
    f"zero_infinity: {float(vz)}, grads all 0 {bool((gz == 0).all())}",
)
try:
    import numpy as np
    import optax

    ol = optax.ctc_loss(
        jnp.zeros((1, 2, 3)), jnp.zeros((1, 2)), jnp.array([[1, 1]]), jnp.zeros((1, 2))
    )
    check(
        "optax-ctc-impossible-finite",
        bool(np.isfinite(ol).all()) and float(ol[0]) > 1e4,
        f"optax.ctc_loss = {float(ol[0]):.4g}",
    )
except ImportError:
    print("skip optax-ctc-impossible-finite: optax not installed")
lp2 = torch.log_softmax(torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(0)), 2)
tg2, il, tl = t([[1, 2, 3], [1, 0, 0]]), t([6, 6]), t([3, 0])
per = F.ctc_loss(lp2, tg2, il, tl, reduction="none")
manual = float((per / tl.clamp(min=1)).mean())
check(
    "ctc-mean",
    abs(float(F.ctc_loss(lp2, tg2, il, tl)) - manual) < 1e-6,
    f"mean_b(loss_b / clamp(len_b, 1)) = {manual:.6f}",
)

# --- other exact semantics -----------------------------------------------------------
xr, yr = torch.randn(5, generator=torch.Generator().manual_seed(1)) * 3, torch.zeros(5)
ok = (
    abs(float(F.huber_loss(xr, yr, delta=2.0)) - 2.0 * float(F.smooth_l1_loss(xr, yr, beta=2.0)))
    < 1e-6
)
check("huber=delta*smooth_l1", ok, "delta 2")
r0, r1 = raises(F.huber_loss, xr, yr, delta=0.0), raises(F.huber_loss, xr, yr, delta=-1.0)
check("huber-delta<=0", r0 is not None and r1 is not None, f"{r0}; {r1}")
r = raises(F.binary_cross_entropy, torch.full((2, 1), 0.5), torch.ones(2))
check("bce-target-shape", r is not None and r[0] == "ValueError", r)
r = raises(F.binary_cross_entropy, t([1.5]), t([1.0]))
check("bce-input-range", r is not None, r)
pw = t([1.0, 2.0, 3.0])
v = F.binary_cross_entropy_with_logits(
    torch.zeros(2, 3), torch.ones(2, 3), pos_weight=pw, reduction="none"
)
check("bcel-pos_weight-last-dim", torch.allclose(v[0], pw * math.log(2)), v[0].tolist())
check(
    "bcel-target>1",
    raises(F.binary_cross_entropy_with_logits, t([0.0]), t([2.0])) is None,
    float(F.binary_cross_entropy_with_logits(t([0.0]), t([2.0]))),
)

inp, tgt_kl = (
    torch.log_softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(2)), 1),
    torch.softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(3)), 1),
)
elem = F.kl_div(inp, tgt_kl, reduction="sum")
ws = warns(F.kl_div, inp, tgt_kl, reduction="mean")
check(
    "kl-mean",
    abs(float(F.kl_div(inp, tgt_kl, reduction="mean")) - float(elem) / 12) < 1e-6,
    f"sum/12; warns: {ws}",
)
check(
    "kl-batchmean",
    abs(float(F.kl_div(inp, tgt_kl, reduction="batchmean")) - float(elem) / 4) < 1e-6,
    "sum/N",
)

r = raises(F.multi_margin_loss, logits, y, p=3)
check("multi_margin-p", r is not None and r[0] == "ValueError", r)
per = F.multi_margin_loss(logits, y, weight=wc, reduction="none")
check(
    "multi_margin-weighted-mean",
    abs(float(F.multi_margin_loss(logits, y, weight=wc)) - float(per.mean())) < 1e-6,
    "plain mean over N",
)
a = F.multilabel_margin_loss(t([[0.1, 0.2, 0.4, 0.8]]), t([[3, 0, -1, 1]]))
b = F.multilabel_margin_loss(t([[0.1, 0.2, 0.4, 0.8]]), t([[3, 0, -1, 2]]))
check("multilabel_margin-after-minus-1", float(a) == float(b), f"{float(a):.4f} == {float(b):.4f}")
r = raises(F.multilabel_margin_loss, t([[0.1, 0.2]]), t([[1, -1]], dtype=torch.int32))
check("multilabel_margin-int64-target", r is not None, f"int32 target: {r}")

gi, gt = torch.zeros(2, 3), torch.ones(2, 3)
for shape in ((2, 3), (2, 1), (2,)):
    check(
        f"gaussian-var-shape-{shape}",
        raises(F.gaussian_nll_loss, gi, gt, torch.ones(shape)) is None,
        "accepted",
    )
r = raises(F.gaussian_nll_loss, gi, gt, -torch.ones(2, 3))
check("gaussian-negative-var", r is not None and r[0] == "ValueError", r)
full = float(F.gaussian_nll_loss(gi, gt, torch.ones(2, 3), full=True)) - float(
    F.gaussian_nll_loss(gi, gt, torch.ones(2, 3))
)
check("gaussian-full", abs(full - 0.5 * math.log(2 * math.pi)) < 1e-6, f"{full:.6f}")

px, py = t([0.5, 1.0, 2.0]), t([0.0, 1.0, 3.0])
v = F.poisson_nll_loss(px, py, reduction="none")
check("poisson-log_input", torch.allclose(v, px.exp() - py * px), v.tolist())
v = F.poisson_nll_loss(px, py, log_input=False, reduction="none")
check("poisson-no-log", torch.allclose(v, px - py * torch.log(px + 1e-8)), v.tolist())
full = F.poisson_nll_loss(px, py, full=True, reduction="none") - F.poisson_nll_loss(
    px, py, reduction="none"
)
stirling = 3 * math.log(3) - 3 + 0.5 * math.log(2 * math.pi * 3)
check(
    "poisson-full-stirling",
    full.tolist()[:2] == [0.0, 0.0] and abs(full.tolist()[2] - stirling) < 1e-5,
    full.tolist(),
)

r = raises(F.triplet_margin_loss, a0, p0, n0, margin=0.0)
check("triplet-margin>0", r is not None and r[0] == "ValueError", r)
an, po, ne = t([[0.0, 0.0]]), t([[3.0, 0.0]]), t([[2.0, 0.0]])  # d(a,n)=2 > d(p,n)=1
sw = float(F.triplet_margin_loss(an, po, ne, margin=1.0, swap=True, eps=0.0))
check(
    "triplet-swap-min",
    abs(sw - (3.0 - 1.0 + 1.0)) < 1e-6,
    f"{sw} = d(a,p) - min(d(a,n), d(p,n)) + m",
)

lp3 = torch.log_softmax(torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(4)), 2)
padded = float(F.ctc_loss(lp3, t([[1, 2], [3, 0]]), t([6, 6]), t([2, 1])))
concat = float(F.ctc_loss(lp3, t([1, 2, 3]), (6, 6), (2, 1)))
unb = F.ctc_loss(lp3[:, 0], t([1, 2]), t(6), t(2), reduction="none")
check(
    "ctc-layouts",
    abs(padded - concat) < 1e-6 and unb.dim() == 0,
    f"padded == concatenated (tuple lengths): {padded:.6f}; (T, C) input ok",
)
r = raises(F.ctc_loss, lp3, t([[1, 2], [3, 0]]), t([6, 6]), t([2, 1]), blank=4)
check("ctc-blank-out-of-range", r is not None, r)

print(f"\n{len(failures)} failed" + (f": {', '.join(failures)}" if failures else ""))
sys.exit(1 if failures else 0)
