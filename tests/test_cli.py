import math

import pytest
import torch

from vfi_ops.models import evaluate as evaluate_cli
from vfi_ops.models import interpolate as interpolate_cli
from vfi_ops.models.data import read_image, write_image
from vfi_ops.models.evaluate import psnr, ssim
from vfi_ops.models.interpolate import interpolate, tile_starts
from vfi_ops.models.checkpoint import load_model
from vfi_ops.models.train import Trainer, TrainConfig


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


def test_interpolate_two_pngs(tmp_path, checkpoint):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(str(a), smooth_image(30, 41, 1))
    write_image(str(b), smooth_image(30, 41, 2))
    out = tmp_path / "out" / "mid.png"
    assert interpolate_cli.main([str(a), str(b), "-o", str(out), "--t", "0.3", "--checkpoint", checkpoint]) == 0
    assert read_image(str(out)).shape == (3, 30, 41)


def test_interpolate_bad_inputs(tmp_path, checkpoint, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(str(a), smooth_image(30, 40, 1))
    write_image(str(b), smooth_image(32, 40, 2))
    assert interpolate_cli.main([str(a), str(b), "-o", str(tmp_path / "o.png"), "--checkpoint", checkpoint]) == 2
    assert "expected I1 of I0's shape" in capsys.readouterr().err
    (tmp_path / "junk.png").write_text("junk")
    assert interpolate_cli.main([str(a), str(tmp_path / "junk.png"), "-o", str(tmp_path / "o.png"),
                                 "--checkpoint", checkpoint]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert interpolate_cli.main([str(a), str(a), "-o", str(tmp_path / "o.png"), "--t", "1.5",
                                 "--checkpoint", checkpoint]) == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err
    assert interpolate_cli.main([str(a), str(a), "-o", str(tmp_path / "o.png"),
                                 "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_frame_rate_factor(tmp_path, checkpoint):
    frames = tmp_path / "frames"
    for i in range(3):
        write_image(str(frames / f"f{i}.png"), smooth_image(24, 32, i))
    out = tmp_path / "x4"
    assert interpolate_cli.main(["--frames", str(frames), "-o", str(out), "--factor", "4", "--checkpoint", checkpoint]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:06d}.png" for i in range(9)]
    torch.testing.assert_close(read_image(str(out / "000004.png")), read_image(str(frames / "f1.png")))


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
    with pytest.raises(ValueError, match="must be smaller than --tile"):
        interpolate(model, I0, I1, 0.5, tile=32, overlap=32)


def test_scores():
    x = smooth_image(40, 40, 5)[None]
    assert math.isinf(psnr(x, x)) and ssim(x, x) == pytest.approx(1.0)
    noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    assert 15 < psnr(noisy, x) < 25 and ssim(noisy, x) < 0.9
    assert psnr(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.1)) == pytest.approx(20.0)


def test_evaluate_middlebury_layout(tmp_path, checkpoint, capsys):
    for name, seed in (("SeqA", 1), ("SeqB", 3)):
        a, b = smooth_image(32, 48, seed), smooth_image(32, 48, seed + 1)
        write_image(str(tmp_path / name / "frame10.png"), a)
        write_image(str(tmp_path / name / "frame11.png"), b)
        write_image(str(tmp_path / name / "frame10i11.png"), 0.5 * (a + b))
    json_path = tmp_path / "scores.json"
    assert evaluate_cli.main(["--middlebury", str(tmp_path), "--checkpoint", checkpoint, "--json", str(json_path)]) == 0
    table = capsys.readouterr().out
    assert "| SeqA |" in table and "| mean |" in table and "model PSNR" in table
    scores = __import__("json").loads(json_path.read_text())
    # The middle frames are the blends, up to 8-bit rounding.
    assert all(p > 40 for p, _ in scores["linear blend"].values())
    assert set(scores["model"]) == {"SeqA", "SeqB"}
    assert evaluate_cli.main(["--middlebury", str(tmp_path / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err


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
    assert interpolate_cli.main([str(a), str(b), "-o", str(out), "--checkpoint", main, "--keep", "0.3"]) == 0
    assert read_image(str(out)).shape == (3, 30, 41)
    assert interpolate_cli.main([str(a), str(b), "-o", str(out), "--checkpoint", checkpoint, "--keep", "0.3"]) == 2
    assert "apply to UGSP checkpoints" in capsys.readouterr().err
    assert interpolate_cli.main([str(a), str(b), "-o", str(out), "--checkpoint", uen]) == 2
    assert "not an interpolation model" in capsys.readouterr().err

    for name in ("SeqA",):
        write_image(str(tmp_path / "mb" / name / "frame10.png"), smooth_image(32, 48, 1))
        write_image(str(tmp_path / "mb" / name / "frame11.png"), smooth_image(32, 48, 2))
        write_image(str(tmp_path / "mb" / name / "frame10i11.png"), smooth_image(32, 48, 3))
    assert evaluate_cli.main(["--middlebury", str(tmp_path / "mb"), "--checkpoint", main, "--keep", "0.1", "0.5"]) == 0
    table = capsys.readouterr().out
    assert "model S_t=0.1 PSNR" in table and "model S_t=0.5 PSNR" in table and "model dense PSNR" in table
