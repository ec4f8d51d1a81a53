"""The Tudui training step at batch 1, 64, 256: jaxloss/Flax (jit) vs torch eager vs torch.compile, images/s.

Prints a table and writes tudui.json, tudui.png and tudui.md to --out (default benchmarks/out).
Same as `python -m benchmarks tudui`; see benchmarks/harness.py for the method.

    .venv/bin/python -m benchmarks.bench_tudui [--quick] [--threads N] [--out DIR]
"""

import sys

from benchmarks.harness import script_main

if __name__ == "__main__":
    sys.exit(script_main("tudui"))
