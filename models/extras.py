"""Optional dependencies of the tools, imported when a feature needs them."""

import importlib

EXTRA = "pip install 'vfi_ops[models]'"
PACKAGES = {"cv2": "opencv-python-headless", "av": "av (PyAV)", "tqdm": "tqdm", "PIL": "pillow"}


def require(module: str, feature: str):
    """The imported module, or an ImportError that names the feature, the package and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{feature} needs {PACKAGES.get(module.split('.')[0], module)}, which is not installed "
            f"({err}); install it with the models extra: {EXTRA}"
        ) from None
