"""Shared fixtures, and the backend the suite runs JAX on.

``JAX_PLATFORMS`` picks JAX's backend (``make test`` sets ``cpu``; ``make
test-accelerator`` sets ``cuda``, ``rocm`` or ``tpu``); torch always runs on the CPU as the
reference. A backend that is not there stops the run with one line instead of failing
every test, and float64 cases are skipped where the backend has no float64 (TPU).
"""

import os

import numpy as np
import pytest
import torch


@pytest.fixture
def rng():
    """Seeded numpy generator: every random input in the suite comes from a fixed seed."""
    return np.random.default_rng(20261126)


# backends without float64 arithmetic: their float64 cases are skipped, not failed
NO_FLOAT64 = {"tpu"}


def _backend() -> str | None:
    """The backend JAX_PLATFORMS asks for (its first), or None for JAX's own choice."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip()
    return platforms.split(",")[0] or None


def pytest_configure(config):
    wanted = _backend()
    if wanted is None:
        return
    import jax

    try:
        devices = jax.devices()
    except Exception as e:  # RuntimeError, or AssertionError when no plugin knows the name
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise pytest.UsageError(
            f"JAX_PLATFORMS={wanted}: JAX has no {wanted} backend here ({why}); "
            "install its jaxlib, e.g. "
            "pip install -U 'jax[cuda12]' for NVIDIA GPUs or 'jax[tpu]' for TPUs"
        ) from None
    config.jax_backend = f"{jax.default_backend()} ({len(devices)} x {devices[0].device_kind})"


def pytest_report_header(config):
    backend = getattr(config, "jax_backend", "JAX's default (JAX_PLATFORMS unset)")
    return f"jax backend: {backend}; reference: torch {torch.__version__} on the CPU"


def pytest_collection_modifyitems(config, items):
    if _backend() not in NO_FLOAT64:
        return
    skip = pytest.mark.skip(reason=f"the {_backend()} backend has no float64")
    for item in items:
        if "float64" in item.nodeid:
            item.add_marker(skip)


torch.manual_seed(0)
torch.set_num_threads(1)
