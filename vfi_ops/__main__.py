"""`python -m vfi_ops` prints how the installed vfi_ops was built."""

from vfi_ops._ext import format_build_info

print(format_build_info())
