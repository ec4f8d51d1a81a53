"""The Tudui training step at batch 1 .. 512: jaxloss/Flax (jit) vs torch eager vs torch.compile.

Prints the table (images/s) and writes tudui.json, tudui.md and tudui.png (images/s vs
batch size) to --out (default benchmarks/out). Same as `python -m benchmarks tudui`; see
benchmarks/harness.py for the method.

    .venv/bin/python -m benchmarks.bench_tudui [--quick] [--threads N] [--batches 64,256]
"""

import sys

from benchmarks.harness import script_main

if __name__ == "__main__":
    sys.exit(script_main("tudui"))
