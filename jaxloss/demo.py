"""``jaxloss demo``: the lesson "loss functions and backpropagation", step by step in JAX."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="walk through the lesson's losses and backprop in JAX")
    p.set_defaults(func=lambda args: run_demo(args))


def _show(out: TextIO, code: str, value) -> None:
    out.write(f"  {code:<52} # -> {value}\n")


def lesson_losses(out: TextIO = sys.stdout) -> dict[str, float]:
    """Part 1 of the lesson: L1Loss, L1Loss(sum), MSELoss, CrossEntropyLoss.

    Prints each result beside the line of code that made it (the lesson printed
    tensor(0.6667), tensor(2.), tensor(1.3333), tensor(1.1019)).
    """
    import jax.numpy as jnp

    from jaxloss import CrossEntropyLoss, L1Loss, MSELoss

    out.write("1. L1Loss / MSELoss: inputs [1, 2, 3], targets [1, 2, 5], shape (1, 1, 1, 3)\n")
    inputs = jnp.reshape(jnp.array([1, 2, 3], dtype=jnp.float32), (1, 1, 1, 3))
    targets = jnp.reshape(jnp.array([1, 2, 5], dtype=jnp.float32), (1, 1, 1, 3))
    results = {}
    results["l1_mean"] = float(L1Loss()(inputs, targets))
    _show(out, "L1Loss()(inputs, targets)", f"{results['l1_mean']:.4f}")
    results["l1_sum"] = float(L1Loss(reduction="sum")(inputs, targets))
    _show(out, "L1Loss(reduction='sum')(inputs, targets)", f"{results['l1_sum']:.1f}")
    results["mse"] = float(MSELoss()(inputs, targets))
    _show(out, "MSELoss()(inputs, targets)", f"{results['mse']:.4f}")

    out.write("2. CrossEntropyLoss: scores x = [0.1, 0.2, 0.3] for 3 classes, class y = 1\n")
    x = jnp.reshape(jnp.array([0.1, 0.2, 0.3]), (1, 3))  # (N, C)
    y = jnp.array([1])
    results["cross_entropy"] = float(CrossEntropyLoss()(x, y))
    _show(out, "CrossEntropyLoss()(x, y)", f"{results['cross_entropy']:.4f}")
    return results


def lesson_gradients(out: TextIO = sys.stdout) -> None:
    """loss.backward() the JAX way: jax.grad of the same losses."""
    import jax
    import jax.numpy as jnp

    from jaxloss import CrossEntropyLoss, L1Loss

    out.write("3. Backpropagation: jax.grad gives what loss.backward() puts in .grad\n")
    inputs = jnp.reshape(jnp.array([1, 2, 3], dtype=jnp.float32), (1, 1, 1, 3))
    targets = jnp.reshape(jnp.array([1, 2, 5], dtype=jnp.float32), (1, 1, 1, 3))
    g = jax.grad(L1Loss())(inputs, targets).reshape(-1)
    _show(out, "jax.grad(L1Loss())(inputs, targets)", "[" + ", ".join(f"{v:.4f}" for v in g) + "]")
    x = jnp.reshape(jnp.array([0.1, 0.2, 0.3]), (1, 3))
    g = jax.grad(CrossEntropyLoss())(x, jnp.array([1])).reshape(-1)
    _show(out, "jax.grad(CrossEntropyLoss())(x, y)", "[" + ", ".join(f"{v:.4f}" for v in g) + "]")


def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    out.write("jaxloss demo: the lesson 'loss functions and backpropagation' in JAX\n\n")
    lesson_losses(out)
    lesson_gradients(out)
    return 0
