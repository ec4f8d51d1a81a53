"""fp32 matmul GFLOP/s and memory bandwidth, JAX and torch: the reference the other benchmarks are measured against.

Prints a table and writes roofline.json, roofline.png and roofline.md to --out (default benchmarks/out).
Same as `jaxloss bench roofline`; see jaxloss/bench.py for the method.

    .venv/bin/python benchmarks/roofline.py [--quick] [--threads N] [--out DIR]
"""

import sys

from jaxloss.bench import script_main

if __name__ == "__main__":
    sys.exit(script_main("roofline"))
