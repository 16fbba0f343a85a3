"""The public operators, written once.

Everything that goes through every op reads this tuple: the package's exports
(``vfi_ops.<name>``, from ``vfi_ops/<name>.py``), the references
(``vfi_ops/reference/<name>.py``), the benchmarks (``benchmarks/<name>.py``), the
tests that cover every op, and the docs (one API page per op). A new op adds its
name here, in the order the docs list them; its schemas go in ``csrc/ops.cpp``
(``tests/test_build.py`` checks that the two agree).
"""

OPS = (
    "backward_warp",
    "flow_projection",
    "softsplat",
    "adaptive_warp",
    "sparse_masked_conv2d",
    "sepconv",
    "adacof",
    "correlation",
    "corr_lookup",
)
