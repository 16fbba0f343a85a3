"""Checkpoints written by training: reading them safely, and the models they hold.

Inference (vfi-interpolate, vfi-evaluate) loads models through this module; it
never imports the training code. Files are read with ``torch.load(...,
weights_only=True)`` (tensors and plain containers only, never arbitrary
objects), and the configuration stored with the weights is checked against
them before the model is built, so a damaged or foreign file gets an error
that names it and what does not fit. Every floating-point tensor in the file
(weights, and the optimiser's state where a training run resumes) must be
finite: a checkpoint holding NaN or infinity is refused at load, naming the
file and the first tensor that is not.
"""

import os
import tempfile
from typing import Optional, Tuple

import torch
from torch import nn

from .dain import DAIN
from .ugsp import UGSP, UncertaintyNet

MODELS = ("dain", "ugsp")
STAGES = ("main", "uen")  # ugsp: "uen" is its uncertainty network, "main" the interpolation network


def build_model(model: str = "dain", stage: str = "main", width: Optional[int] = None) -> nn.Module:
    """A new model: DAIN, UGSP, or UGSP's UncertaintyNet (stage "uen"); width None is the model's default."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, but got {model!r}")
    if stage not in STAGES or (stage == "uen" and model != "ugsp"):
        raise ValueError(f"stage must be 'main', or 'uen' with model 'ugsp', but got {stage!r}")
    kwargs = {} if width is None else {"width": width}
    if model == "dain":
        return DAIN(**kwargs)
    return UncertaintyNet(**kwargs) if stage == "uen" else UGSP(**kwargs)


def describe(model: str, stage: str, width: Optional[int]) -> str:
    name = "UGSP uncertainty network" if stage == "uen" else model.upper()
    return f"{name} of width {'default' if width is None else width}"


def _tensors(value, name: str):
    """(name, tensor) for every tensor in nested dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{name}[{i}]")


def check_finite(state: dict, path: str) -> None:
    """Raises ValueError naming the file and the first tensor holding NaN or infinity."""
    for name, tensor in _tensors(state, ""):
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(
                f"{path}: the checkpoint's tensor {name} holds {bad} non-finite value(s) (NaN or infinity) "
                "out of " + str(tensor.numel()) + "; the training run that wrote it diverged or the file is "
                "damaged: use an earlier checkpoint or train again"
            )


def read_checkpoint(path: str, device="cpu") -> dict:
    """The dict a training run saved (weights_only=True), its tensors checked to be finite;
    clear errors naming the file for anything else."""
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not a checkpoint")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such checkpoint: {path}") from None
    except Exception as err:  # torch.load raises many kinds (EOFError, RuntimeError, UnpicklingError, ...)
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        # Never pass on advice to load with weights_only=False: that would run code from the file.
        reason = type(err).__name__ + (f": {detail}" if detail and "weights_only" not in str(err) else "")
        raise ValueError(
            f"{path} is not a checkpoint written by vfi-train (torch.load cannot read it: {reason})"
        ) from None
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("model"), dict)
        or not isinstance(state.get("config"), dict)
    ):
        raise ValueError(f"{path} is not a checkpoint written by vfi-train (no 'model' and 'config' entries)")
    check_finite(state, path)
    return state


def stored_architecture(state: dict, path: str) -> Tuple[str, str, Optional[int]]:
    """(model, stage, width) from a checkpoint's stored configuration, checked."""
    config = state["config"]
    model, stage, width = config.get("model", "dain"), config.get("stage", "main"), config.get("width")
    try:
        with torch.device("meta"):  # checks the arguments without allocating anything
            build_model(model, stage, width)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: its stored configuration is invalid ({err})") from None
    return model, stage, width


def check_weights_fit(model: nn.Module, weights: dict, path: str, what: str) -> None:
    """Raises ValueError naming the file and the first mismatches if weights do not fit model."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [
        f"{k} is {tuple(weights[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in weights and isinstance(weights[k], torch.Tensor) and weights[k].shape != v.shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            problems.append(f"{label} ({len(items)}): " + "; ".join(items[:3]) + ("; ..." if len(items) > 3 else ""))
    if problems:
        raise ValueError(f"{path}: its weights do not fit a {what}: " + " | ".join(problems))


def kind_name(model: str, stage: str) -> str:
    """How a checkpoint's kind is named to the user: "DAIN", "UGSP" or "UGSP uncertainty network"."""
    return "UGSP uncertainty network (--stage uen)" if stage == "uen" else model.upper()


def load_model(path: str, device="cpu", expected=None, option: str = "") -> nn.Module:
    """The model (DAIN, UGSP or UGSP's uncertainty network) of a checkpoint written by training, in eval mode.

    expected: None, or the (model, stage) pairs the caller can use, e.g. ``[("ugsp", "uen")]``; another
    kind raises ValueError naming the option, the file, its kind and the kinds expected (before any model
    is built)."""
    state = read_checkpoint(path, device)
    model, stage, width = stored_architecture(state, path)
    if expected is not None and (model, stage) not in expected:
        wanted = " or ".join(kind_name(m, s) for m, s in expected)
        raise ValueError(
            f"{option + ' ' if option else ''}{path} holds a {kind_name(model, stage)} checkpoint, "
            f"but a {wanted} checkpoint is needed here"
        )
    what = describe(model, stage, width)
    with torch.device("meta"):
        check_weights_fit(build_model(model, stage, width), state["model"], path, what + " (its stored configuration)")
    network = build_model(model, stage, width).to(device)
    network.load_state_dict(state["model"])
    return network.eval()


def save_checkpoint(state: dict, path: str) -> None:
    """Writes state to path atomically: to a temporary file of its own in the same folder, then renamed,
    so a reader never sees a half-written file and two writers never share a temporary file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_for_inference(
    path: str, device="cpu", keep: Optional[float] = None, dense: bool = False, option: str = "--checkpoint"
) -> nn.Module:
    """The interpolation model (DAIN or UGSP) of a checkpoint, with UGSP's pruning knob set: keep = S_t,
    dense = compute every position (both only for UGSP checkpoints). Another kind of checkpoint (UGSP's
    uncertainty network), or one holding NaN or infinity, raises ValueError naming the file."""
    model = load_model(path, device, expected=[("dain", "main"), ("ugsp", "main")], option=option)
    if isinstance(model, UGSP):
        model.set_inference(mode="dense" if dense else "sparse", keep=keep)
    elif keep is not None or dense:
        raise ValueError(f"--keep and --dense apply to UGSP checkpoints; {path} holds a {type(model).__name__}")
    return model
