"""Kernel benchmarks: each vfi_ops op against the best plain-PyTorch way to do the same."""
