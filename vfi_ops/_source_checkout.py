"""``vfi_ops.models`` when vfi_ops is imported from a source checkout.

setup.py installs the repository's top-level ``models/`` folder as the
subpackage ``vfi_ops.models`` (a ``package_dir`` mapping; an editable install
maps it the same way). A build in place (``setup.py build_ext --inplace``)
imports ``vfi_ops`` straight from the source folder, where nothing maps it:
this finder does, for that one name, and only when ``vfi_ops`` has no
``models`` subfolder of its own (an installed copy always has one).
"""

import importlib.util
import os
import sys

NAME = "vfi_ops.models"


class _ModelsFinder:
    def __init__(self, folder: str):
        self.folder = folder

    def find_spec(self, fullname, path=None, target=None):
        if fullname != NAME:
            return None
        return importlib.util.spec_from_file_location(
            NAME, os.path.join(self.folder, "__init__.py"), submodule_search_locations=[self.folder]
        )


def install(package_dir: str) -> None:
    """Map vfi_ops.models to <checkout>/models if package_dir is vfi_ops/ of a source checkout."""
    root = os.path.dirname(package_dir)
    folder = os.path.join(root, "models")
    if (
        os.path.isdir(os.path.join(package_dir, "models"))
        or not os.path.isfile(os.path.join(root, "setup.py"))
        or not os.path.isfile(os.path.join(folder, "__init__.py"))
    ):
        return
    if not any(isinstance(f, _ModelsFinder) for f in sys.meta_path):
        sys.meta_path.append(_ModelsFinder(folder))
