"""The vfi-interpolate and vfi-evaluate commands, on generated images and videos."""

import filecmp
import json
import math
import os
import re
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from vfi_ops.models import evaluate as evaluate_cli
from vfi_ops.models import interpolate as interpolate_cli
from vfi_ops.models.checkpoint import load_model
from vfi_ops.models.data import procedural_texture, shift
from vfi_ops.models.evaluate import psnr, ssim
from vfi_ops.models.images import ImageFormat, read_frame, read_image, write_frame, write_image
from vfi_ops.models.interpolate import interpolate, tile_starts
from vfi_ops.models.train import TrainConfig, Trainer


def run(main, args, capsys):
    """(exit code, stdout, stderr) of a command's main, whether it returns or exits."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ckpt") / "dain.pt")
    torch.manual_seed(0)
    Trainer(TrainConfig(width=8), torch.device("cpu")).save(path)
    return path


def smooth_image(H, W, seed):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)[0]


def moving(n, H=48, W=64, dx=2.0, dy=1.0):
    """n frames of a texture translating by (dx, dy) pixels per frame."""
    texture = procedural_texture(max(H, W) + 40, torch.Generator().manual_seed(7))
    return [shift(texture, dx * i, dy * i)[:, 20 : 20 + H, 20 : 20 + W] for i in range(n)]


def write_video(path, frames, codec="libx264", pix_fmt="yuv420p", rate=24):
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[2], frames[0].shape[1], pix_fmt
        for frame in frames:
            array = (frame.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path):
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.average_rate, stream.codec_context.name, stream.codec_context.pix_fmt


# --- images and folders ----------------------------------------------------------------------------


def test_interpolate_two_pngs_with_a_checkpoint(tmp_path, checkpoint, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(str(a), smooth_image(30, 41, 1))
    write_image(str(b), smooth_image(30, 41, 2))
    out = tmp_path / "out" / "mid.png"
    code, stdout, _ = run(interpolate_cli.main, [a, b, "-o", out, "--t", "0.3", "--checkpoint", checkpoint], capsys)
    assert code == 0 and "wrote" in stdout and read_image(str(out)).shape == (3, 30, 41)


def test_interpolate_a_pair_without_a_checkpoint(tmp_path, capsys):
    pytest.importorskip("cv2")
    frames = moving(3, 64, 80, dx=4.0, dy=-2.0)
    grey = [f.mean(0, keepdim=True).expand(3, -1, -1) for f in frames]
    fmt = ImageFormat("I;16")
    for i in (0, 2):
        write_frame(str(tmp_path / f"f{i}.png"), grey[i], fmt)  # 16-bit grey
    out = tmp_path / "mid.png"
    code, stdout, err = run(interpolate_cli.main, [tmp_path / "f0.png", tmp_path / "f2.png", "-o", out], capsys)
    assert code == 0, err
    middle, out_fmt = read_frame(str(out))
    assert out_fmt.mode == "I;16"  # written in the input's format
    inner = (..., slice(8, -8), slice(8, -8))
    assert psnr(middle[inner], grey[1][inner]) > psnr(((grey[0] + grey[2]) / 2)[inner], grey[1][inner]) + 10


def test_folder_factor_3_gives_7_frames_and_keeps_the_sources(tmp_path, capsys):
    pytest.importorskip("cv2")
    for i, frame in enumerate(moving(3)):
        write_image(str(tmp_path / "in" / f"f{i}.png"), frame)
    out = tmp_path / "x3"
    code, stdout, err = run(interpolate_cli.main, [tmp_path / "in", "-o", out, "--factor", 3], capsys)
    assert code == 0, err
    assert sorted(os.listdir(out)) == [f"{i:06d}.png" for i in range(7)]
    for j, i in ((0, 0), (3, 1), (6, 2)):
        assert filecmp.cmp(out / f"{j:06d}.png", tmp_path / "in" / f"f{i}.png", shallow=False)
    assert "wrote 7 frames (4 interpolated, 3 source)" in stdout


def test_folder_to_a_frame_rate(tmp_path, checkpoint, capsys):
    for i in range(5):
        write_image(str(tmp_path / "in" / f"{i}.png"), smooth_image(24, 32, i))
    out = tmp_path / "60"
    code, _, err = run(
        interpolate_cli.main,
        ["--frames", tmp_path / "in", "-o", out, "--fps", 60, "--input-fps", 24, "--checkpoint", checkpoint],
        capsys,
    )
    assert code == 0, err
    assert len(os.listdir(out)) == 11  # 4/24 s at 60 fps: frames 0 .. 10
    for j, i in ((0, 0), (5, 2), (10, 4)):  # where source frames fall
        assert filecmp.cmp(out / f"{j:06d}.png", tmp_path / "in" / f"{i}.png", shallow=False)


def test_frame_rate_factor_with_a_checkpoint(tmp_path, checkpoint, capsys):
    frames = tmp_path / "frames"
    for i in range(3):
        write_image(str(frames / f"f{i}.png"), smooth_image(24, 32, i))
    out = tmp_path / "x4"
    code, _, err = run(
        interpolate_cli.main, ["--frames", frames, "-o", out, "--factor", 4, "--checkpoint", checkpoint], capsys
    )
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(9)]
    torch.testing.assert_close(read_image(str(out / "000004.png")), read_image(str(frames / "f1.png")))


def test_alpha_is_interpolated_too(tmp_path, capsys):
    pytest.importorskip("cv2")
    frames = moving(2, 40, 56)
    alpha = [torch.ones(1, 40, 56), torch.full((1, 40, 56), 0.5)]
    for i in range(2):
        write_frame(str(tmp_path / f"{i}.png"), torch.cat((frames[i], alpha[i])), ImageFormat("RGBA"))
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "0.png", tmp_path / "1.png", "-o", tmp_path / "mid.png"], capsys
    )
    assert code == 0, err
    middle, fmt = read_frame(str(tmp_path / "mid.png"))
    assert fmt.mode == "RGBA" and middle.shape == (4, 40, 56)
    assert abs(middle[3].mean().item() - 0.75) < 0.01


# --- videos ----------------------------------------------------------------------------------------


def test_video_to_60_fps(tmp_path, capsys):
    pytest.importorskip("cv2")
    source = moving(10, 48, 64)
    write_video(tmp_path / "clip.mp4", source)
    code, stdout, err = run(
        interpolate_cli.main, [tmp_path / "clip.mp4", "--fps", 60, "-o", tmp_path / "out.mp4"], capsys
    )
    assert code == 0, err
    frames, rate, codec, pix_fmt = read_video(tmp_path / "out.mp4")
    assert len(frames) == 23 and rate == 60 and codec == "h264" and pix_fmt == "yuv420p"  # the input's codec and format
    assert "wrote 23 frames (18 interpolated, 5 source) at 60 fps" in stdout
    decoded, *_ = read_video(tmp_path / "clip.mp4")
    # Output frame 5 is source frame 2, re-encoded (at the input's bits per frame): closer to it than its neighbours.
    error = [np.abs(frames[j].astype(int) - decoded[2].astype(int)).mean() for j in (4, 5, 6)]
    assert error[1] < min(error[0], error[2]), error


def test_video_factor_keeps_exact_frames_with_a_lossless_codec(tmp_path, capsys):
    pytest.importorskip("cv2")
    write_video(tmp_path / "clip.avi", moving(4, 32, 48), codec="ffv1", pix_fmt="yuv444p", rate=Fraction(30000, 1001))
    code, _, err = run(interpolate_cli.main, [tmp_path / "clip.avi", "--factor", 3, "-o", tmp_path / "x3.avi"], capsys)
    assert code == 0, err
    frames, rate, codec, pix_fmt = read_video(tmp_path / "x3.avi")
    source, *_ = read_video(tmp_path / "clip.avi")
    assert len(frames) == 10 and rate == Fraction(90000, 1001) and codec == "ffv1" and pix_fmt == "yuv444p"
    for j, i in ((0, 0), (3, 1), (9, 3)):
        assert np.array_equal(frames[j], source[i])
    code, _, err = run(
        interpolate_cli.main,
        [
            tmp_path / "clip.avi",
            "-o",
            tmp_path / "h.mp4",
            "--codec",
            "libx264",
            "--pix-fmt",
            "yuv420p",
            "--codec-option",
            "crf=30",
        ],
        capsys,
    )
    assert code == 0, err
    frames, rate, codec, pix_fmt = read_video(tmp_path / "h.mp4")
    assert len(frames) == 7 and codec == "h264" and pix_fmt == "yuv420p"


def test_a_failure_part_way_leaves_no_half_written_video(tmp_path, capsys, monkeypatch):
    pytest.importorskip("cv2")
    write_video(tmp_path / "clip.mp4", moving(4, 32, 48))
    calls = []

    def fail_on_the_second_pair(self, A, B, times):
        calls.append(times)
        if len(calls) == 2:
            raise ValueError("stopped")
        return [A] * len(times)

    monkeypatch.setattr(interpolate_cli.Interpolator, "__call__", fail_on_the_second_pair)
    code, _, err = run(interpolate_cli.main, [tmp_path / "clip.mp4", "-o", tmp_path / "out.mp4"], capsys)
    assert code == 2 and "stopped" in err and len(calls) == 2 and not (tmp_path / "out.mp4").exists()


def test_video_without_frames(tmp_path, capsys):
    av = pytest.importorskip("av")
    with av.open(str(tmp_path / "empty.avi"), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()
    code, _, err = run(interpolate_cli.main, [tmp_path / "empty.avi", "-o", tmp_path / "out.avi"], capsys)
    assert code == 2 and "empty.avi has no video frames" in err and not (tmp_path / "out.avi").exists()


def test_missing_video_support_names_the_extra(tmp_path, capsys, monkeypatch):
    (tmp_path / "clip.mp4").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "av", None)
    code, _, err = run(interpolate_cli.main, [tmp_path / "clip.mp4", "-o", tmp_path / "out.mp4"], capsys)
    assert code == 2 and "needs av (PyAV)" in err and "pip install 'vfi_ops[models]'" in err


# --- bad arguments: refused before any work, inputs never touched ----------------------------------


def test_bad_arguments_are_refused_before_any_work(tmp_path, checkpoint, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(str(a), smooth_image(30, 40, 1))
    write_image(str(b), smooth_image(30, 40, 2))
    frames = tmp_path / "frames"
    for i in range(3):
        write_image(str(frames / f"{i}.png"), smooth_image(24, 32, i))
    (tmp_path / "exists.png").write_bytes(b"keep me")
    (tmp_path / "clip.mp4").write_bytes(b"not read")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    out = tmp_path / "out.png"
    cases = [
        ([frames, "-o", frames], "-o .*frames is the input folder"),
        (["--frames", frames, "-o", frames], "-o .*frames is the input folder"),
        ([frames, "-o", tmp_path / "x", "--tile", 64, "--overlap", -5], "argument --overlap: must be at least 0"),
        (
            [frames, "-o", tmp_path / "x", "--tile", 32, "--overlap", 32],
            r"--overlap \(32\) must be smaller than --tile",
        ),
        ([frames, "-o", tmp_path / "x", "--overlap", 8], "--overlap applies with --tile"),
        ([a, b, "-o", tmp_path], "-o .* is a folder; give a file name"),
        ([a, b, "-o", tmp_path / "noext"], "-o .*noext: give an image file name with an extension"),
        ([a, b, "-o", a], "-o .*a.png is an input; writing it would destroy it"),
        ([a, b, "-o", tmp_path / "exists.png"], "exists.png exists; pass --overwrite"),
        ([a, b, "-o", out, "--t", 1.5], r"argument --t: must be a number in \(0, 1\)"),
        ([a, b, "-o", out, "--t", "nan"], r"argument --t: must be a number in \(0, 1\)"),
        ([a, b, "-o", out, "--factor", 2], "--factor does not apply to a pair of images"),
        ([frames, "-o", tmp_path / "x", "--t", 0.3], "--t does not apply to a folder"),
        ([frames, "-o", tmp_path / "x", "--factor", 1], "argument --factor: must be at least 2"),
        ([frames, "-o", tmp_path / "x", "--fps", 60], "--fps on a folder of frames needs --input-fps"),
        ([frames, "-o", tmp_path / "x", "--fps", 0, "--input-fps", 24], "--fps must be positive"),
        ([frames, "-o", tmp_path / "x", "--fps", 60, "--factor", 2], "give --factor or --fps, not both"),
        (
            [a, b, "-o", out, "--method", "classical", "--checkpoint", checkpoint],
            "--checkpoint applies to --method model",
        ),
        ([a, b, "-o", out, "--method", "model"], "--method model needs --checkpoint"),
        (
            [a, b, "-o", out, "--checkpoint", checkpoint, "--keep", 1.5],
            r"argument --keep: must be a number in \[0, 1\]",
        ),
        (
            [a, b, "-o", out, "--checkpoint", checkpoint, "--dis-preset", "fast"],
            "--dis-preset applies to --method classical",
        ),
        ([a, b, "-o", out, "--checkpoint", tmp_path / "none.pt"], "--checkpoint: no such checkpoint"),
        ([a, b, "-o", out, "--device", "cuda:7"], "--device cuda:7: no such CUDA device"),
        ([a, b, "-o", out, "--device", "gpu"], "--device must be a torch device"),
        ([a, b, "-o", out, "--dis-finest-scale", -1], "argument --dis-finest-scale: must be at least 0"),
        ([a, tmp_path / "none.png", "-o", out], "no such image"),
        ([tmp_path / "clip.mp4", "-o", tmp_path / "out.png"], "-o .*out.png: give a video file name"),
        ([tmp_path / "clip.mp4", "-o", tmp_path / "clip.mp4"], "clip.mp4 is an input"),
        ([tmp_path / "clip.mp4", "-o", tmp_path / "o.mp4", "--input-fps", 24], "--input-fps does not apply to a video"),
        ([frames, "-o", tmp_path / "x", "--codec", "libx264"], "--codec does not apply to a folder"),
        ([a, "-o", out], "one input must be a folder of frames or a video"),
        ([a, b, frames, "-o", out], "give two images A B, a folder of frames, or a video file"),
    ]
    for args, match in cases:
        code, stdout, err = run(interpolate_cli.main, args, capsys)
        assert code == 2 and re.search(match, err), (args, err)
        assert not stdout
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing changed


def test_bad_inputs_are_named(tmp_path, checkpoint, capsys):
    write_image(str(tmp_path / "mixed" / "0.png"), smooth_image(24, 32, 0))
    write_image(str(tmp_path / "mixed" / "1.png"), smooth_image(26, 32, 1))
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "mixed", "-o", tmp_path / "o", "--checkpoint", checkpoint], capsys
    )
    assert code == 2 and "frames of different sizes" in err and "1.png is 32x26" in err
    write_image(str(tmp_path / "junk" / "0.png"), smooth_image(24, 32, 0))
    (tmp_path / "junk" / "1.png").write_text("junk")
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "junk", "-o", tmp_path / "o", "--checkpoint", checkpoint], capsys
    )
    assert code == 2 and re.search("cannot read .*1.png as an image", err)
    code, _, err = run(
        interpolate_cli.main,
        [
            tmp_path / "mixed" / "0.png",
            tmp_path / "mixed" / "1.png",
            "-o",
            tmp_path / "o.png",
            "--checkpoint",
            checkpoint,
        ],
        capsys,
    )
    assert code == 2 and "frames of different sizes" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.png").exists()
    (tmp_path / "x" / "old.png").parent.mkdir()
    (tmp_path / "x" / "old.png").write_bytes(b"old")
    for i in range(2):
        write_image(str(tmp_path / "ok" / f"{i}.png"), smooth_image(24, 32, i))
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "ok", "-o", tmp_path / "x", "--checkpoint", checkpoint], capsys
    )
    assert code == 2 and "is not empty; pass --overwrite" in err
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "ok", "-o", tmp_path / "x", "--checkpoint", checkpoint, "--overwrite"], capsys
    )
    assert code == 0 and (tmp_path / "x" / "000002.png").exists()


def test_tiles_cover_and_blend(checkpoint):
    assert tile_starts(100, 32, 24) == [0, 24, 48, 68] and tile_starts(20, 32, 24) == [0]
    model = load_model(checkpoint)
    I0, I1 = smooth_image(48, 80, 3)[None], smooth_image(48, 80, 4)[None]
    whole = interpolate(model, I0, I1, 0.5)
    torch.testing.assert_close(interpolate(model, I0, I1, 0.5, tile=128), whole)
    tiled = interpolate(model, I0, I1, 0.5, tile=32, overlap=8)
    assert tiled.shape == whole.shape and torch.isfinite(tiled).all()
    # A broken stitch (gaps, double weights) would be far off; the model differs only near tile edges.
    assert (tiled - whole).abs().mean() < 0.02


# --- evaluation ------------------------------------------------------------------------------------


def test_scores():
    x = smooth_image(40, 40, 5)[None]
    assert math.isinf(psnr(x, x)) and ssim(x, x) == pytest.approx(1.0)
    noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    assert 15 < psnr(noisy, x) < 25 and ssim(noisy, x) < 0.9
    assert psnr(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.1)) == pytest.approx(20.0)
    small = torch.rand(1, 3, 5, 7)  # smaller than the 11x11 window
    assert ssim(small, small) == pytest.approx(1.0) and ssim(small, 1 - small) < 0.5
    assert ssim(torch.rand(1, 3, 1, 9), torch.rand(1, 3, 1, 9)) < 1


def middlebury_like(folder, sequences, H=32, W=48, perfect=False):
    for name, seed in sequences:
        a, b = smooth_image(H, W, seed), smooth_image(H, W, seed + 1)
        if perfect:
            b = a
        write_image(str(folder / name / "frame10.png"), a)
        write_image(str(folder / name / "frame11.png"), b)
        write_image(str(folder / name / "frame10i11.png"), 0.5 * (a + b))


def test_evaluate_middlebury_layout(tmp_path, checkpoint, capsys):
    pytest.importorskip("cv2")
    middlebury_like(tmp_path / "mb", (("SeqA", 1), ("SeqB", 3)))
    json_path = tmp_path / "new" / "folder" / "scores.json"  # folders made as needed
    code, table, err = run(
        evaluate_cli.main, ["--middlebury", tmp_path / "mb", "--checkpoint", checkpoint, "--json", json_path], capsys
    )
    assert code == 0, err
    assert "| SeqA |" in table and "| mean |" in table and "model PSNR" in table and "classical PSNR" in table
    assert "time per pair" in table and "(flow" in table
    scores = json.loads(json_path.read_text())
    # The middle frames are the blends, up to 8-bit rounding.
    assert all(p > 40 for p, _ in scores["linear blend"].values())
    assert set(scores["model"]) == set(scores["classical"]) == {"SeqA", "SeqB"}


def test_evaluate_and_interpolate_with_the_softsplat_variant(tmp_path, capsys):
    pytest.importorskip("cv2")
    middlebury_like(tmp_path / "mb", (("SeqA", 1),))
    code, table, err = run(evaluate_cli.main, ["--middlebury", tmp_path / "mb", "--softsplat"], capsys)
    assert code == 0, err
    assert "classical softsplat PSNR" in table and table.count("(flow") == 2
    frames = moving(3, 48, 64)
    for i in (0, 2):
        write_image(str(tmp_path / f"f{i}.png"), frames[i])
    out = tmp_path / "mid.png"
    code, _, err = run(
        interpolate_cli.main, [tmp_path / "f0.png", tmp_path / "f2.png", "-o", out, "--warp", "softsplat"], capsys
    )
    assert code == 0, err
    inner = (..., slice(8, -8), slice(8, -8))
    assert psnr(read_image(str(out))[inner], frames[1][inner]) > psnr(
        ((frames[0] + frames[2]) / 2)[inner], frames[1][inner]
    )
    code, _, err = run(
        interpolate_cli.main,
        [
            tmp_path / "f0.png",
            tmp_path / "f2.png",
            "-o",
            tmp_path / "x.png",
            "--method",
            "model",
            "--checkpoint",
            out,
            "--warp",
            "softsplat",
        ],
        capsys,
    )
    assert code == 2 and "--warp applies to --method classical" in err


def test_evaluate_writes_valid_json_for_perfect_frames(tmp_path, capsys):
    middlebury_like(tmp_path / "mb", (("Still", 1),), H=9, W=10, perfect=True)  # also under SSIM's 11x11 window
    code, table, err = run(
        evaluate_cli.main, ["--middlebury", tmp_path / "mb", "--no-classical", "--json", tmp_path / "s.json"], capsys
    )
    assert code == 0, err
    assert "| Still | inf | 1.0000 |" in table
    scores = json.loads((tmp_path / "s.json").read_text(), parse_constant=lambda c: pytest.fail(f"invalid JSON: {c}"))
    assert scores == {"linear blend": {"Still": [None, pytest.approx(1.0)]}}


def test_evaluate_refuses_bad_arguments_before_work(tmp_path, checkpoint, capsys):
    middlebury_like(tmp_path / "mb", (("SeqA", 1),))
    (tmp_path / "file").write_text("x")
    cases = [
        (["--middlebury", tmp_path / "nothing"], "no such folder"),
        (["--middlebury", tmp_path / "mb", "--json", tmp_path / "file" / "s.json"], "--json .*file is a file"),
        (["--middlebury", tmp_path / "mb", "--json", tmp_path], "--json .* is a folder"),
        (["--middlebury", tmp_path / "mb", "--keep", 0.3], "--keep applies with --checkpoint"),
        (["--middlebury", tmp_path / "mb", "--checkpoint", checkpoint, "--keep", 2], r"argument --keep: must be"),
        (["--middlebury", tmp_path / "mb", "--checkpoint", checkpoint, "--keep", 0.3], "--keep applies to UGSP"),
        (["--middlebury", tmp_path / "mb", "--checkpoint", tmp_path / "file"], "is not a checkpoint written by"),
        (["--middlebury", tmp_path / "mb", "--device", "cuda:9"], "--device cuda:9: no such CUDA device"),
        (["--middlebury", tmp_path / "mb", "--vimeo", tmp_path], "give --middlebury DIR or --vimeo ROOT"),
        (["--vimeo", tmp_path / "mb"], "no list file"),
        (["--middlebury", tmp_path / "mb", "--no-classical", "--dis-preset", "fast"], "apply to the classical method"),
        (["--middlebury", tmp_path / "mb", "--no-classical", "--softsplat"], "apply to the classical method"),
    ]
    for args, match in cases:
        code, table, err = run(evaluate_cli.main, args, capsys)
        assert code == 2 and re.search(match, err) and "| mean |" not in table, (args, err)


def test_evaluate_without_opencv_names_the_extra(tmp_path, capsys, monkeypatch):
    middlebury_like(tmp_path / "mb", (("SeqA", 1),))
    monkeypatch.setitem(sys.modules, "cv2", None)
    code, _, err = run(evaluate_cli.main, ["--middlebury", tmp_path / "mb"], capsys)
    assert code == 2 and "pip install 'vfi_ops[models]'" in err
    code, table, _ = run(evaluate_cli.main, ["--middlebury", tmp_path / "mb", "--no-classical"], capsys)
    assert code == 0 and "| SeqA |" in table


@pytest.fixture(scope="module")
def ugsp_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ugsp")
    uen, main = str(folder / "uen.pt"), str(folder / "ugsp.pt")
    torch.manual_seed(0)
    Trainer(TrainConfig(model="ugsp", stage="uen", width=8), torch.device("cpu")).save(uen)
    Trainer(TrainConfig(model="ugsp", uen=uen, width=8), torch.device("cpu")).save(main)
    return uen, main


def test_ugsp_checkpoints_in_the_tools(tmp_path, checkpoint, ugsp_checkpoints, capsys):
    uen, main = ugsp_checkpoints
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(str(a), smooth_image(30, 41, 1))
    write_image(str(b), smooth_image(30, 41, 2))
    out = tmp_path / "mid.png"
    code, _, err = run(interpolate_cli.main, [a, b, "-o", out, "--checkpoint", main, "--keep", 0.3], capsys)
    assert code == 0, err
    assert read_image(str(out)).shape == (3, 30, 41)
    code, _, err = run(
        interpolate_cli.main, [a, b, "-o", tmp_path / "o2.png", "--checkpoint", checkpoint, "--keep", 0.3], capsys
    )
    assert code == 2 and "apply to UGSP checkpoints" in err
    code, _, err = run(interpolate_cli.main, [a, b, "-o", tmp_path / "o2.png", "--checkpoint", uen], capsys)
    assert code == 2 and "holds a UGSP uncertainty network" in err and "DAIN or UGSP" in err

    middlebury_like(tmp_path / "mb", (("SeqA", 1),))
    code, table, err = run(
        evaluate_cli.main,
        ["--middlebury", tmp_path / "mb", "--checkpoint", main, "--keep", 0.1, 0.5, "--no-classical"],
        capsys,
    )
    assert code == 0, err
    assert "model S_t=0.1 PSNR" in table and "model S_t=0.5 PSNR" in table and "model dense PSNR" in table
