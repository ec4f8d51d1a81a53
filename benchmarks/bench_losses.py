"""Every jaxloss loss, value and value+grad, over sizes 3 .. 1e7: jaxloss (jit) vs torch eager vs optax.

Prints a table and writes losses.json, losses.png and losses.md to --out (default benchmarks/out).
Same as `jaxloss bench losses`; see jaxloss/bench.py for the method.

    .venv/bin/python benchmarks/bench_losses.py [--quick] [--threads N] [--out DIR]
"""

import sys

from jaxloss.bench import script_main

if __name__ == "__main__":
    sys.exit(script_main("losses"))
