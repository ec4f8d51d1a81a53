"""jaxloss's benchmark harness (needs torch and the ``train`` extra); not part of the library.

Run from the repository root: ``python -m benchmarks [roofline|losses|tudui] [--quick]``.
"""
