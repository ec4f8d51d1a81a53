"""Every jaxloss loss, value and value+grad, over sizes 3 .. 1e7: jaxloss (jit) vs torch eager vs optax.

Prints a table and writes losses.json, losses.png and losses.md to --out (default benchmarks/out).
Same as `python -m benchmarks losses`; see benchmarks/harness.py for the method.

    .venv/bin/python -m benchmarks.bench_losses [--quick] [--threads N] [--out DIR]
"""

import sys

from benchmarks.harness import script_main

if __name__ == "__main__":
    sys.exit(script_main("losses"))
