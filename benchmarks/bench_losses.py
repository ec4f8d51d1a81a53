"""Every jaxloss loss, value and value+grad, sizes 3 .. 1e7: jaxloss (jit) vs torch vs optax.

Prints the tables and writes losses.json, losses.md, losses.png (speed-up) and one
losses_<family>.png per loss family (log-log time vs size) to --out (default
benchmarks/out). Same as `python -m benchmarks losses`; see benchmarks/harness.py for the
method.

    .venv/bin/python -m benchmarks.bench_losses [--quick] [--threads N] [--out DIR]
"""

import sys

from benchmarks.harness import script_main

if __name__ == "__main__":
    sys.exit(script_main("losses"))
