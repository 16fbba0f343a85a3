"""Faults the tools and ops must refuse or handle, each as a kind across its entry points:
non-finite checkpoints and model outputs, EXIF orientation, the training checkpoint's lock,
decompression bombs, checkpoints of another kind, empty frames, virtual (expanded) sizes,
backward ops' output masks, missing optional packages, and models that are plain callables."""

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import pytest
import torch
from vfi_ops.models import DAIN, UGSP
from vfi_ops.models import evaluate as evaluate_cli
from vfi_ops.models import interpolate as interpolate_cli
from vfi_ops.models import train as train_cli
from vfi_ops.models.checkpoint import load_for_inference, load_model, read_checkpoint
from vfi_ops.models.data import VimeoTriplets
from vfi_ops.models.images import _oriented, image_size, read_frame, read_image, write_image
from vfi_ops.models.lock import CheckpointLock, CheckpointLockError
from vfi_ops.models.tiles import NonFiniteOutputError, interpolate
from vfi_ops.models.train import TrainConfig, Trainer
from vfi_ops.models.ugsp import UncertaintyNet

import vfi_ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(main, args, capsys):
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


def frame(H, W, seed):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)[0]


def save_checkpoint(path, model="dain", stage="main", poison=None):
    """A tiny checkpoint written by training; poison: (entry, value) put into its first float tensor."""
    torch.manual_seed(0)
    trainer = Trainer(TrainConfig(model=model, stage=stage, width=8), torch.device("cpu"))
    state = trainer.state_dict()
    if poison is not None:
        entry, value = poison
        if entry == "model":
            next(iter(state["model"].values())).view(-1)[0] = value
        else:  # the optimiser's state needs a step to exist
            state["optimizer"]["state"] = {0: {"exp_avg": torch.tensor([value])}}
    torch.save(state, str(path))
    return str(path)


def middlebury(folder, H=24, W=32):
    for i, name in enumerate(("frame10.png", "frame11.png", "frame10i11.png")):
        write_image(str(folder / "Seq" / name), frame(H, W, i))


# --- non-finite checkpoints and outputs ------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_checkpoint_is_refused_by_every_loader(tmp_path, capsys, value):
    bad = save_checkpoint(tmp_path / "bad.pt", poison=("model", value))
    for load in (load_model, load_for_inference, read_checkpoint):
        with pytest.raises(ValueError, match="non-finite") as err:
            load(bad)
        assert bad in str(err.value)

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(str(a), frame(16, 20, 1))
    write_image(str(b), frame(16, 20, 2))
    out = tmp_path / "mid.png"
    code, _, err = run(interpolate_cli.main, [a, b, "-o", out, "--checkpoint", bad], capsys)
    assert code == 2 and bad in err and "non-finite" in err and not out.exists()

    middlebury(tmp_path / "mb")
    code, stdout, err = run(
        evaluate_cli.main, ["--middlebury", tmp_path / "mb", "--checkpoint", bad, "--no-classical"], capsys
    )
    assert code == 2 and bad in err and "non-finite" in err and "PSNR" not in stdout

    # vfi-train: resuming it (the optimiser's state too), or using it as --uen.
    code, _, err = run(train_cli.main, ["--checkpoint", bad, "--steps", 1, "--width", 8, "--workers", 0], capsys)
    assert code == 2 and bad in err and "non-finite" in err
    optimiser = save_checkpoint(tmp_path / "optimiser.pt", poison=("optimizer", value))
    code, _, err = run(train_cli.main, ["--checkpoint", optimiser, "--steps", 1, "--width", 8], capsys)
    assert code == 2 and "optimizer.state.0.exp_avg" in err and "non-finite" in err
    uen = save_checkpoint(tmp_path / "uen.pt", "ugsp", "uen", poison=("model", value))
    with pytest.raises(ValueError, match="non-finite"):
        Trainer(TrainConfig(model="ugsp", uen=uen, width=8), torch.device("cpu"))


def test_training_never_saves_non_finite_weights(tmp_path):
    trainer = Trainer(TrainConfig(width=8), torch.device("cpu"))
    with torch.no_grad():
        next(trainer.model.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN or infinity"):
        trainer.save(str(tmp_path / "ckpt.pt"))
    assert not (tmp_path / "ckpt.pt").exists()


def nan_model(I0, I1, t):
    out = torch.lerp(I0, I1, t)
    out[..., 0, 0] = float("nan")
    return out


def test_non_finite_model_output_is_refused_before_writing(tmp_path, capsys, monkeypatch):
    I0, I1 = frame(12, 16, 1)[None], frame(12, 16, 2)[None]
    for tile in (None, 8):
        with pytest.raises(NonFiniteOutputError, match="non-finite"):
            interpolate(nan_model, I0, I1, 0.5, tile=tile, overlap=4)
    # The tool: a pair, and a folder (no frame of the failing pair is written).
    monkeypatch.setattr(interpolate_cli, "build_model", lambda args: nan_model)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(str(a), frame(12, 16, 1))
    write_image(str(b), frame(12, 16, 2))
    code, _, err = run(interpolate_cli.main, [a, b, "-o", tmp_path / "mid.png"], capsys)
    assert code == 2 and "non-finite" in err and str(a) in err and not (tmp_path / "mid.png").exists()
    os.makedirs(tmp_path / "in")
    for i in range(2):
        write_image(str(tmp_path / "in" / f"{i}.png"), frame(12, 16, i))
    # (Scene-cut detection off: two unrelated random frames would count as a cut, and be repeated.)
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "in", "-o", tmp_path / "out", "--scene-threshold", "0"], capsys
    )
    assert code == 2 and "non-finite" in err
    assert "000001.png" not in os.listdir(tmp_path / "out")  # the interpolated frame
    # vfi-evaluate scores nothing from such a method.
    middlebury(tmp_path / "mb")
    triplets = evaluate_cli.middlebury_triplets(str(tmp_path / "mb"))
    with pytest.raises(ValueError, match="'broken' returned NaN or infinity"):
        evaluate_cli.evaluate(triplets, {"broken": lambda a, b: nan_model(a, b, 0.5)})


# --- any callable as the model ----------------------------------------------------------------------


class PlainBlend(torch.nn.Module):  # no check_inputs: a model that is not one of ours
    def forward(self, I0, I1, t):
        return torch.lerp(I0, I1, t)


def test_interpolate_takes_any_callable(tmp_path, capsys, monkeypatch):
    I0, I1 = frame(20, 24, 1)[None].expand(2, -1, -1, -1), frame(20, 24, 2)[None].expand(2, -1, -1, -1)
    t = torch.tensor([0.25, 0.75])
    expected = torch.lerp(I0, I1, t.view(-1, 1, 1, 1))
    seen = []

    def function(a, b, t):
        seen.append(t)
        return torch.lerp(a, b, t)

    for model in (PlainBlend(), function):
        for tile in (None, 12):
            torch.testing.assert_close(interpolate(model, I0, I1, t, tile=tile, overlap=4), expected)
    # The model gets t checked once, as a [B, 1, 1, 1] tensor of the frames' dtype.
    assert all(s.shape == (2, 1, 1, 1) and s.dtype == I0.dtype for s in seen)
    with pytest.raises(ValueError, match=r"interpolate\(\): t must lie strictly between 0 and 1"):
        interpolate(function, I0, I1, 1.5)
    with pytest.raises(ValueError, match=r"interpolate\(\): expected frames of at least 1 x 1"):
        interpolate(function, I0[..., :0], I1[..., :0], 0.5)
    # and the tool runs one.
    monkeypatch.setattr(interpolate_cli, "build_model", lambda args: PlainBlend())
    a, b, out = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "mid.png"
    write_image(str(a), frame(20, 24, 1))
    write_image(str(b), frame(20, 24, 2))
    code, _, err = run(interpolate_cli.main, [a, b, "-o", out, "--t", "0.25"], capsys)
    assert code == 0, err
    torch.testing.assert_close(
        read_image(str(out)), torch.lerp(read_image(str(a)), read_image(str(b)), 0.25), atol=1 / 255, rtol=0
    )


# --- EXIF orientation --------------------------------------------------------------------------------


def write_rotated(path, image, orientation):
    """image [3, H, W] stored as such, with an EXIF orientation tag."""
    from PIL import Image

    array = (image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(str(path), exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    from PIL import Image, ImageOps

    path = tmp_path / "photo.png"
    write_rotated(path, frame(6, 9, 0), orientation)
    with Image.open(path) as image:
        upright = torch.from_numpy(__import__("numpy").asarray(ImageOps.exif_transpose(image)).copy())
    read = read_frame(str(path))[0]
    assert read.shape == (3, *upright.shape[:2]) and image_size(str(path)) == tuple(upright.shape[:2])
    assert torch.equal((read * 255).round().to(torch.uint8), upright.permute(2, 0, 1))
    # The 16-bit colour path (read with OpenCV) turns its arrays the same way.
    stored = (torch.arange(6 * 9) % 251).to(torch.uint8).view(6, 9).numpy()
    expected = torch.from_numpy(
        __import__("numpy").asarray(ImageOps.exif_transpose(_tagged(stored, orientation))).copy()
    )
    assert torch.equal(torch.from_numpy(_oriented(stored, orientation).copy()), expected)


def _tagged(array, orientation):
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", exif=exif.tobytes())
    buffer.seek(0)
    return Image.open(buffer)


def test_rotated_photos_are_read_upright_by_every_tool(tmp_path, capsys, monkeypatch):
    # A phone JPEG stored 64 wide and 48 high, tagged "rotate 90 clockwise": it displays 48 x 64.
    for i in range(3):
        write_rotated(tmp_path / f"{i}.jpg", frame(48, 64, i), 6)
    assert image_size(str(tmp_path / "0.jpg")) == (64, 48)
    monkeypatch.setattr(interpolate_cli, "build_model", lambda args: PlainBlend())
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "0.jpg", tmp_path / "1.jpg", "-o", tmp_path / "mid.png"], capsys
    )
    assert code == 0, err
    assert read_frame(str(tmp_path / "mid.png"))[0].shape == (3, 64, 48)
    # A folder: every output frame upright, sources too (not copied with their tag).
    os.makedirs(tmp_path / "in")
    for i in range(3):
        os.replace(tmp_path / f"{i}.jpg", tmp_path / "in" / f"{i}.jpg")
    code, _, err = run(interpolate_cli.main, [tmp_path / "in", "-o", tmp_path / "out"], capsys)
    assert code == 0, err
    from PIL import Image

    for name in sorted(os.listdir(tmp_path / "out")):
        with Image.open(tmp_path / "out" / name) as image:
            assert image.size == (48, 64) and image.getexif().get(0x0112, 1) == 1, name
    # Training data and evaluation read through the same function.
    sequence = tmp_path / "vimeo" / "sequences" / "a" / "b"
    os.makedirs(sequence)
    for i in (1, 2, 3):
        write_rotated(sequence / f"im{i}.png", frame(48, 64, i), 8)
    (tmp_path / "vimeo" / "tri_trainlist.txt").write_text("a/b\n")
    items = VimeoTriplets(str(tmp_path / "vimeo"), augment=False)[0]
    assert [x.shape for x in items[:3]] == [(3, 64, 48)] * 3


# --- decompression bombs ----------------------------------------------------------------------------


def png_header_only(path, width, height):
    """A PNG whose header claims width x height pixels (and holds no image data)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_names_the_file_and_the_limit(tmp_path, capsys):
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    png_header_only(bomb, 100_000, 100_000)
    for read in (read_frame, image_size, read_image):
        with pytest.raises(ValueError, match="decompression bomb") as err:
            read(str(bomb))
        assert str(bomb) in str(err.value) and str(Image.MAX_IMAGE_PIXELS) in str(err.value)
    write_image(str(tmp_path / "a.png"), frame(8, 8, 0))
    code, _, err = run(interpolate_cli.main, [tmp_path / "a.png", bomb, "-o", tmp_path / "mid.png"], capsys)
    assert code == 2 and str(bomb) in err and str(Image.MAX_IMAGE_PIXELS) in err
    code, _, err = run(train_cli.main, ["--sources", bomb, "--steps", 1, "--width", 8], capsys)
    assert code == 2 and str(bomb) in err and "decompression bomb" in err


# --- checkpoints of another kind --------------------------------------------------------------------


def test_a_checkpoint_of_another_kind_names_both_kinds(tmp_path, capsys):
    dain = save_checkpoint(tmp_path / "dain.pt")
    uen = save_checkpoint(tmp_path / "uen.pt", "ugsp", "uen")
    ugsp = tmp_path / "ugsp.pt"
    state = Trainer(TrainConfig(model="ugsp", uen=uen, width=8), torch.device("cpu")).state_dict()
    torch.save(state, str(ugsp))
    for wrong, kind in ((dain, "DAIN"), (str(ugsp), "UGSP")):
        with pytest.raises(ValueError, match=f"--uen {wrong} holds a {kind} checkpoint") as err:
            Trainer(TrainConfig(model="ugsp", uen=wrong, width=8), torch.device("cpu"))
        assert "UGSP uncertainty network" in str(err.value)
        code, _, err = run(train_cli.main, ["--model", "ugsp", "--uen", wrong, "--steps", 1, "--width", 8], capsys)
        assert code == 2 and f"holds a {kind} checkpoint" in err
    for main, args in (
        (interpolate_cli.main, ["a.png", "b.png", "-o", "m.png"]),
        (evaluate_cli.main, ["--middlebury", "mb"]),
    ):
        write_image(str(tmp_path / "a.png"), frame(8, 8, 0))
        write_image(str(tmp_path / "b.png"), frame(8, 8, 1))
        middlebury(tmp_path / "mb")
        code, _, err = run(
            main, [str(tmp_path / a) if not a.startswith("-") else a for a in args] + ["--checkpoint", uen], capsys
        )
        assert code == 2 and "holds a UGSP uncertainty network" in err and "DAIN or UGSP" in err, err


# --- empty frames -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [DAIN, UGSP, UncertaintyNet, "classical"])
@pytest.mark.parametrize("shape", [(1, 3, 0, 8), (1, 3, 8, 0)])
def test_empty_frames_name_the_model_and_argument(model, shape):
    if model == "classical":
        pytest.importorskip("cv2")
        from vfi_ops.models import ClassicalFlow

        model = ClassicalFlow
    with pytest.raises(ValueError, match=rf"{model.__name__}: expected frames of at least 1 x 1 pixels, but got I0"):
        model()(torch.rand(shape), torch.rand(shape), 0.5)


# --- work on virtual sizes before the checks --------------------------------------------------------


def test_a_huge_expanded_mask_is_refused_before_any_work():
    side = 2**21
    mask = torch.ones(1, 1, 1, 1, dtype=torch.bool).expand(1, 1, side, side)
    input = torch.rand(1, 1, 1, 1).expand(1, 1, side, side)
    weight = torch.rand(1, 1, 1, 1)
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"sparse_masked_conv2d\(\): this call needs at least .* GiB") as err:
        vfi_ops.sparse_masked_conv2d(input, weight, None, mask)
    assert f"mask [1, 1, {side}, {side}]" in str(err.value)
    with pytest.raises(ValueError, match=r"sparse_masked_conv2d_backward\(\): this call needs at least"):
        torch.ops.vfi_ops.sparse_masked_conv2d_backward(
            input, input, weight, mask, [1, 1], [0, 0], [1, 1], 1, [True, False, False, False]
        )
    # The other ops refuse such virtual sizes too, naming themselves (not the allocator).
    image, flow = torch.rand(1, 1, 1, 1).expand(1, 1, side, side), torch.zeros(1, 2, 1, 1).expand(1, 2, side, side)
    for name, call in (
        ("backward_warp", lambda: vfi_ops.backward_warp(image, flow)),
        ("softsplat", lambda: vfi_ops.softsplat(image, flow, None, "sum")),
        ("flow_projection", lambda: vfi_ops.flow_projection(flow)),
        ("adaptive_warp", lambda: vfi_ops.adaptive_warp(image, flow, torch.rand(1, 4, 1, 1).expand(1, 4, side, side))),
    ):
        with pytest.raises(ValueError, match=rf"{name}\(\): this call needs at least .* GiB"):
            call()
    assert time.perf_counter() - started < 5  # the refusals come before any work over 4.4e12 positions
    # An expanded mask of a size that fits is still computed (the check counts its flat copy).
    small = torch.ones(1, 1, 1, 1, dtype=torch.bool).expand(1, 1, 6, 7)
    x = torch.rand(1, 2, 8, 9)
    w = torch.rand(3, 2, 3, 3)
    torch.testing.assert_close(vfi_ops.sparse_masked_conv2d(x, w, None, small), torch.nn.functional.conv2d(x, w))


# --- the raw backward ops' output masks -------------------------------------------------------------


def backward_calls():
    x, flow, kernel = torch.rand(1, 2, 4, 5), torch.zeros(1, 2, 4, 5), torch.rand(1, 16, 4, 5)
    weight = torch.rand(1, 1, 4, 5)
    out, den = torch.ops.vfi_ops.flow_projection(flow, weight, False)
    s_out, s_den, s_max = torch.ops.vfi_ops.softsplat(x, flow, None, "sum")
    mask = torch.ones(1, 1, 4, 5, dtype=torch.bool)
    return {
        "backward_warp_backward": (2, lambda m: (x, x, flow, "border", m)),
        "flow_projection_backward": (2, lambda m: (out, flow, weight, out, den, False, m)),
        "softsplat_backward": (3, lambda m: (x, x, flow, None, "sum", s_out, s_den, s_max, m)),
        "adaptive_warp_backward": (3, lambda m: (x, x, flow, kernel, m)),
        "sparse_masked_conv2d_backward": (
            4,
            lambda m: (torch.rand(1, 3, 4, 5), x, torch.rand(3, 2, 1, 1), mask, [1, 1], [0, 0], [1, 1], 1, m),
        ),
        "sepconv_backward": (
            3,
            lambda m: (torch.rand(1, 2, 2, 3), x, torch.rand(1, 3, 2, 3), torch.rand(1, 3, 2, 3), m),
        ),
        "adacof_backward": (
            4,
            lambda m: (
                torch.rand(1, 2, 3, 4),
                x,
                torch.rand(1, 4, 3, 4),
                torch.zeros(1, 4, 3, 4),
                torch.zeros(1, 4, 3, 4),
                1,
                False,
                m,
            ),
        ),
        "correlation_backward": (2, lambda m: (torch.rand(1, 9, 4, 5), x, x, 1, 1, 1, m)),
        "corr_lookup_backward": (3, lambda m: (torch.rand(1, 9, 4, 5), x, x, flow, 1, m)),
    }


def test_every_backward_op_names_a_wrong_output_mask():
    from torch._subclasses.fake_tensor import FakeTensorMode

    calls = backward_calls()
    assert set(calls) == {n for n in vfi_ops._C.op_names() if n.endswith("_backward")}
    for name, (n, args) in calls.items():
        op = getattr(torch.ops.vfi_ops, name)
        op(*args([True] * n))  # the right length runs
        for wrong in ([True] * (n - 1), [True] * (n + 1), []):
            with pytest.raises(ValueError, match=rf"vfi_ops\.{name}\(\): expected output_mask to have {n} values"):
                op(*args(wrong))
            with torch.no_grad(), pytest.raises(ValueError, match=rf"vfi_ops\.{name}\(\): expected output_mask"):
                op(*args(wrong))
        # Fake tensors (torch.compile's tracing) get the same message from the fake kernels.
        mode = FakeTensorMode()
        fake = tuple(mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args([True] * (n + 1)))
        with mode, pytest.raises(ValueError, match=rf"vfi_ops\.{name}\(\): expected output_mask to have {n}"):
            op(*fake)


# --- the training checkpoint's lock -----------------------------------------------------------------


HOLDER = textwrap.dedent(
    """
    import sys, time
    from vfi_ops.models.lock import CheckpointLock
    with CheckpointLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
    """
)


def hold_lock(path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "held"
    return process


def test_two_trainers_never_share_a_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    holder = hold_lock(ckpt)
    try:
        lock_text = (tmp_path / "run.pt.lock").read_text()
        assert f"pid={holder.pid}" in lock_text
        code, _, err = run(train_cli.main, ["--checkpoint", ckpt, "--steps", 1, "--width", 8], capsys)
        assert code == 2 and f"process {holder.pid}" in err and "is in use" in err and str(ckpt) in err
        assert not ckpt.exists()
        # SIGTERM releases it.
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(30) == 128 + signal.SIGTERM
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "run.pt.lock").exists()
    # SIGINT (Ctrl-C) too.
    holder = hold_lock(ckpt)
    holder.send_signal(signal.SIGINT)
    holder.wait(30)
    assert not (tmp_path / "run.pt.lock").exists()
    # Held in this process: refused too; released on exit.
    with CheckpointLock(str(ckpt)):
        with pytest.raises(CheckpointLockError, match=f"process {os.getpid()}"):
            CheckpointLock(str(ckpt)).acquire()
    assert not (tmp_path / "run.pt.lock").exists()
    code, _, err = run(
        train_cli.main, ["--checkpoint", ckpt, "--steps", 1, "--width", 8, "--batch-size", 1, "--crop", 16], capsys
    )
    assert code == 0, err
    assert ckpt.exists() and not (tmp_path / "run.pt.lock").exists()


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    # A holder killed outright (SIGKILL) leaves its file behind; its lock dies with it.
    holder = hold_lock(ckpt)
    holder.kill()
    holder.wait()
    assert f"pid={holder.pid}" in (tmp_path / "run.pt.lock").read_text()
    with pytest.warns(RuntimeWarning, match=f"stale lock left by process {holder.pid}"):
        code, _, err = run(
            train_cli.main, ["--checkpoint", ckpt, "--steps", 1, "--width", 8, "--batch-size", 1, "--crop", 16], capsys
        )
    assert code == 0, err
    assert ckpt.exists() and not (tmp_path / "run.pt.lock").exists()


# --- without the optional packages ------------------------------------------------------------------


BLOCKED = textwrap.dedent(
    """
    import contextlib, io, json, sys, warnings
    for name in sys.argv[2].split(","):
        sys.modules[name] = None  # as if not installed
    warnings.simplefilter("error", UserWarning)  # e.g. torch's "Failed to initialize NumPy"
    from vfi_ops.models import evaluate, interpolate, train
    results = {}
    for key, main, args in json.loads(sys.argv[1]):
        err = io.StringIO()
        out = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = {"interpolate": interpolate, "evaluate": evaluate, "train": train}[main].main(args)
            except SystemExit as exit:
                code = exit.code
        results[key] = [code, out.getvalue(), err.getvalue()]
    print(json.dumps(results))
    """
)


def test_every_command_without_the_models_extra(tmp_path):
    write_image(str(tmp_path / "a.png"), frame(8, 8, 0))
    write_image(str(tmp_path / "b.png"), frame(8, 8, 1))
    middlebury(tmp_path / "mb")
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    a, b, mb = str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(tmp_path / "mb")
    cases = [
        ["interpolate --help", "interpolate", ["--help"]],
        ["evaluate --help", "evaluate", ["--help"]],
        ["train --help", "train", ["--help"]],
        ["pair", "interpolate", [a, b, "-o", str(tmp_path / "m.png")]],
        ["video", "interpolate", [str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "o.mp4")]],
        ["evaluate", "evaluate", ["--middlebury", mb]],
        ["train", "train", ["--sources", a, "--steps", "1", "--width", "8"]],
    ]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-c", BLOCKED, json.dumps(cases), "PIL,av,cv2,tqdm"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])
    for name in ("interpolate --help", "evaluate --help", "train --help"):
        code, out, err = results[name]
        assert code == 0 and "pip install 'vfi_ops[models]'" in out and "Traceback" not in err, (name, out, err)
    for name, package in (
        ("pair", "pillow"),
        ("video", "av (PyAV)"),
        ("evaluate", "opencv-python-headless"),
        ("train", "pillow"),
    ):
        code, out, err = results[name]
        assert code == 2 and f"needs {package}" in err and "pip install 'vfi_ops[models]'" in err, (name, err)
        assert "Traceback" not in err, (name, err)


def test_numpy_is_a_base_dependency():
    # Without numpy, torch warns "Failed to initialize NumPy" at import and the tools' image and video code
    # cannot run: it is installed with vfi_ops itself, not with an extra.
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert any(d.split(">")[0].split("=")[0].strip() == "numpy" for d in project["dependencies"])


def test_every_option_has_help():
    parsers = [interpolate_cli.build_parser(), evaluate_cli.build_parser(), train_cli.build_parser()]
    for parser in parsers:
        for action in parser._actions:
            assert action.help, (parser.prog, action.option_strings or action.dest)


def test_a_video_display_rotation_is_reported(tmp_path, capsys, monkeypatch):
    av = pytest.importorskip("av")
    np = pytest.importorskip("numpy")
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.set_display_rotation(90)
        for i in range(3):
            image = np.full((16, 32, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    monkeypatch.setattr(interpolate_cli, "build_model", lambda args: PlainBlend())
    code, _, err = run(interpolate_cli.main, [path, "-o", tmp_path / "out.mp4"], capsys)
    assert code == 0, err
    assert f"{path} is tagged to display rotated by 90 degrees" in err and "not applied" in err
