"""The machine a benchmark runs on: threads, JAX's CPU dispatch mode, and the header
(CPU, versions, load) of every result file.

Both frameworks use the same number of threads: XLA's CPU client sizes its pool by the
CPUs this process may run on, and ``torch.set_num_threads`` is set to that number
(``--threads N`` pins the process to N CPUs first). JAX dispatches to the CPU
synchronously by default here (``--jax-dispatch sync``), as torch eager runs: with JAX's
default asynchronous CPU dispatch, every call that is waited for also pays the hand-over
to XLA's worker thread and back (tens of microseconds on a 2-CPU VM), which swamps calls
under ~100 us; ``--jax-dispatch async`` measures that mode.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
from pathlib import Path

import numpy as np

DISPATCH_MODES = ("sync", "async")


def set_threads(threads: int | None) -> int:
    """Make XLA and torch use the same number of threads; returns it.

    XLA's CPU client sizes its thread pool by the CPUs this process may run on when the
    client is created, so ``threads`` pins the process to that many CPUs, which must
    happen before JAX's first computation. torch gets the same number.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if threads is not None:
        if not 1 <= threads <= len(allowed):
            raise ValueError(
                f"--threads must be between 1 and {len(allowed)} (CPUs available), got {threads}"
            )
        if threads != len(allowed):
            from jax._src import xla_bridge

            if xla_bridge.backends_are_initialized():
                raise RuntimeError(
                    "--threads: JAX's CPU backend is already initialised with "
                    f"{len(allowed)} threads; pin the process before JAX's first computation"
                )
            os.sched_setaffinity(0, allowed[:threads])
    return len(os.sched_getaffinity(0))


def dispatch_mode() -> str:
    """JAX's CPU dispatch mode in this process: 'sync' or 'async'."""
    import jax

    return "async" if jax.config.read("jax_cpu_enable_async_dispatch") else "sync"


def set_dispatch(mode: str) -> str:
    """Make JAX's CPU client dispatch synchronously ('sync') or asynchronously ('async');
    returns the mode in effect (recorded in every result file). The client reads
    ``jax_cpu_enable_async_dispatch`` when it is created, so this must happen before
    JAX's first computation; later, a different mode only warns and the mode in effect
    stays (e.g. in a test process)."""
    import warnings

    import jax
    from jax._src import xla_bridge

    now = dispatch_mode()
    if now != mode:
        if xla_bridge.backends_are_initialized():
            warnings.warn(
                f"--jax-dispatch {mode}: JAX's CPU backend is already initialised with "
                f"{now} dispatch, which stays in effect",
                stacklevel=2,
            )
        else:
            jax.config.update("jax_cpu_enable_async_dispatch", mode == "async")
    return dispatch_mode()


@contextlib.contextmanager
def torch_threads(n: int):
    """torch.set_num_threads(n) for the block, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cpuinfo_field(prefix: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    flags = set((_cpuinfo_field("flags") or "").split())
    return sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2", "fma")))


def _gpu_line() -> str:
    """Which accelerators JAX sees (none on a CPU-only machine)."""
    import jax

    gpus = [d for d in jax.devices() if d.platform != "cpu"]
    return ", ".join(str(d) for d in gpus) if gpus else "none (JAX sees only the CPU)"


def machine_info(threads: int) -> dict:
    """CPU, thread count, JAX's dispatch mode, versions and load: the header of every
    result file."""
    import flax
    import jax
    import jaxlib
    import optax  # type: ignore[import-untyped, unused-ignore]
    import torch

    info = {
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "torch_threads": threads,
        "jax_dispatch": dispatch_mode(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "gpu": _gpu_line(),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "load_average_at_start": list(os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return info


def machine_line(info: dict) -> str:
    v = info["versions"]
    return (
        f"{info['cpu']} ({info['logical_cpus']} logical CPUs), {info['threads']} threads "
        f"for XLA and torch; JAX {info.get('jax_dispatch', 'async')} CPU dispatch; "
        f"jax {v['jax']}, flax {v['flax']}, optax {v['optax']}, "
        f"torch {v['torch']}; GPU: {info.get('gpu', 'unknown')}; load average "
        f"{info['load_average_at_start'][0]:.2f} at start"
    )
