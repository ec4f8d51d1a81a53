"""fp32 matmul GFLOP/s and memory bandwidth, JAX and torch: the other benchmarks' reference.

Prints a table and writes roofline.json, roofline.png and roofline.md to --out (default
benchmarks/out). Same as `python -m benchmarks roofline`; see benchmarks/harness.py for
the method.

    .venv/bin/python -m benchmarks.roofline [--quick] [--threads N] [--out DIR]
"""

import sys

from benchmarks.harness import script_main

if __name__ == "__main__":
    sys.exit(script_main("roofline"))
