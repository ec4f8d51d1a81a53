"""A cost model of the LLM head: bfloat16 linear_cross_entropy value+grad, compiled only.

For each path (dense, the default fused kernel, the fused kernel with larger token chunks,
the chunked kernel) and each head shape, the program is compiled for the local backend
(nothing runs, so a head of any size fits) and three things are read from it:

* XLA's ``compiled.cost_analysis()`` FLOPs and bytes. XLA counts the body of a loop once,
  so for the chunked and fused paths these are one iteration's, not the whole call's;
* the temporary memory, ``compiled.memory_analysis().temp_size_in_bytes`` (exact);
* a roofline estimate at an H100 SXM's published bf16 dense tensor-core peak and HBM3
  bandwidth, from the products' FLOPs (2 N V D per product) and a model of the HBM
  traffic (below): ``max(FLOPs / peak, bytes / bandwidth)``. An estimate, not a timing.

HBM traffic model (bf16 operands 2 bytes, float32 logits and accumulators 4 bytes; T token
chunks): every path writes and reads its logits chunk by chunk (dense and fused: 14 N V
bytes -- float32 logits written and read, their bf16 gradient written and read by two
products; chunked: 22 N V, the backward pass recomputes them); the weight is read twice
(dense) or twice per token chunk and its float32 gradient accumulator read and written
once per token chunk (fused 12 V D T, chunked 14 V D T plus the forward pass's reads);
plus 14 N D for the input and its gradient.

    python -m benchmarks.llm_head_cost            # Llama-3-8B and Gemma-2-2B heads
    python -m benchmarks.llm_head_cost --small    # a tiny head (a smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks.config import DEFAULT_OUT
from jaxloss import LinearCrossEntropyOptions, linear_cross_entropy
from jaxloss._linear_cross_entropy import _chunk_sizes

H100_BF16_FLOPS = 989.4e12  # H100 SXM5, dense bf16 tensor cores (NVIDIA's datasheet)
H100_HBM_BYTES = 3.35e12  # H100 SXM5, HBM3 bytes/s (NVIDIA's datasheet)

HEADS = {
    "Llama-3-8B": (8192, 4096, 128256),  # tokens N, hidden size D, vocabulary V
    "Gemma-2-2B": (8192, 2304, 256000),
}
SMALL = {"tiny": (256, 64, 32768)}  # past the dense default (2**22 logits): every kernel


def paths(n: int, v: int) -> dict[str, tuple[LinearCrossEntropyOptions | None, str]]:
    """Name -> (options, reduction). 'none' takes the chunked kernel; whole vocabulary rows
    per chunk and a 'mean' take the fused one."""
    return {
        "dense": (LinearCrossEntropyOptions(dense=True), "mean"),
        "fused (default chunks)": (None, "mean"),
        "fused, 1024-token chunks": (
            LinearCrossEntropyOptions(token_chunk_size=min(1024, n), vocab_chunk_size=v),
            "mean",
        ),
        "chunked ('none')": (None, "none"),
    }


def chunks(options: LinearCrossEntropyOptions | None, fused: bool, n: int, d: int, v: int):
    """(token chunk, vocabulary chunk) the call takes, None for dense."""
    return _chunk_sizes(options or LinearCrossEntropyOptions(), n, d, v, whole_rows=fused)


def kernel(sizes: tuple[int, int] | None, reduction: str, v: int) -> str:
    """Which kernel a call with these chunk sizes runs."""
    if sizes is None:
        return "dense"
    return "fused" if reduction != "none" and sizes[1] == v else "chunked"


def traffic(kind: str, sizes: tuple[int, int] | None, n: int, d: int, v: int) -> float:
    """Modelled HBM bytes of one value+grad call (see the module docstring)."""
    nv, vd, nd = n * v, v * d, n * d
    if sizes is None:  # dense
        return 14 * nv + 14 * vd + 14 * nd
    t = -(-n // sizes[0])
    if kind == "fused":
        return 14 * nv + 12 * vd * t + 6 * vd + 14 * nd
    return 22 * nv + 14 * vd * t + 6 * vd + 14 * nd


def measure(name: str, n: int, d: int, v: int) -> list[dict[str, Any]]:
    x = jax.ShapeDtypeStruct((n, d), jnp.bfloat16)
    w = jax.ShapeDtypeStruct((v, d), jnp.bfloat16)
    y = jax.ShapeDtypeStruct((n,), jnp.int32)
    rows = []
    for path, (options, reduction) in paths(n, v).items():

        def loss(x, w, y, options=options, reduction=reduction):
            out = linear_cross_entropy(x, w, y, options=options, reduction=reduction)
            return out.astype(jnp.float32).sum()

        compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(x, w, y).compile()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        sizes = chunks(options, reduction != "none", n, d, v)
        kind = kernel(sizes, reduction, v)
        products = 4 if kind == "chunked" else 3
        flops = products * 2.0 * n * v * d
        hbm = traffic(kind, sizes, n, d, v)
        rows.append(
            {
                "head": name,
                "shape": {"N": n, "D": d, "V": v},
                "path": path,
                "kernel": kind,
                "chunks": sizes,
                "products": products,
                "flops": flops,
                "xla_flops_loop_bodies_once": cost.get("flops"),
                "xla_bytes_loop_bodies_once": cost.get("bytes accessed"),
                "temp_bytes": compiled.memory_analysis().temp_size_in_bytes,
                "hbm_bytes_model": hbm,
                "roofline_ms": 1e3 * max(flops / H100_BF16_FLOPS, hbm / H100_HBM_BYTES),
                "bound": "compute" if flops / H100_BF16_FLOPS >= hbm / H100_HBM_BYTES else "HBM",
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| head (N, D, V) | path | token x vocab chunk | GFLOP | XLA GFLOP / GB (loop bodies once)"
        " | HBM GB (model) | temp GiB | H100 roofline ms |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r["shape"]
        chunk = "-" if r["chunks"] is None else f"{r['chunks'][0]} x {r['chunks'][1]}"
        out.append(
            f"| {r['head']} ({s['N']}, {s['D']}, {s['V']}) | {r['path']} | {chunk} | "
            f"{r['flops'] / 1e9:,.0f} | {r['xla_flops_loop_bodies_once'] / 1e9:,.0f} / "
            f"{r['xla_bytes_loop_bodies_once'] / 1e9:,.1f} | {r['hbm_bytes_model'] / 1e9:,.1f} | "
            f"{r['temp_bytes'] / 2**30:,.2f} | {r['roofline_ms']:,.1f} ({r['bound']}) |"
        )
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.llm_head_cost",
        description="Cost model of bf16 LLM heads (compiled only; see the module docstring).",
    )
    parser.add_argument("--small", action="store_true", help="a tiny head only (smoke test)")
    parser.add_argument("--out", default=str(DEFAULT_OUT / "llm_head_cost.json"), help="JSON path")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = [
        r for name, shape in (SMALL if args.small else HEADS).items() for r in measure(name, *shape)
    ]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {"backend": jax.default_backend(), "jax": jax.__version__, "rows": rows}, f, indent=1
        )
    print(table(rows))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
