"""vfi-evaluate: small frames, library errors reported as messages."""

import pytest
import torch
from vfi_ops.models import evaluate as evaluate_cli
from vfi_ops.models.images import write_image

cv2 = pytest.importorskip("cv2")


def write_triplets(folder, H, W, names=("SeqA",)):
    for i, name in enumerate(names):
        g = torch.Generator().manual_seed(i)
        a, b = torch.rand(3, H, W, generator=g), torch.rand(3, H, W, generator=g)
        write_image(str(folder / name / "frame10.png"), a)
        write_image(str(folder / name / "frame11.png"), b)
        write_image(str(folder / name / "frame10i11.png"), 0.5 * (a + b))


def run(args, capsys):
    code = evaluate_cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (5, 30)])
def test_frames_smaller_than_the_flow_needs(tmp_path, capsys, size):
    write_triplets(tmp_path / "mb", *size)
    code, out, err = run(["--middlebury", tmp_path / "mb", "--softsplat"], capsys)
    assert code == 0, err
    assert "| SeqA |" in out and "classical PSNR" in out and "Traceback" not in err


def test_an_opencv_error_is_a_message(tmp_path, capsys, monkeypatch):
    from vfi_ops.models.classical import ClassicalFlow

    def failing(self, I0, I1):
        raise cv2.error("OpenCV(5) simulated failure")

    monkeypatch.setattr(ClassicalFlow, "_flow", failing)
    write_triplets(tmp_path / "mb", 16, 16)
    code, _, err = run(["--middlebury", tmp_path / "mb"], capsys)
    assert code == 2 and err.startswith("vfi-evaluate: ") and "simulated failure" in err


def ssim_float64_2d(prediction, target):
    """The definition computed directly: a float64 11x11 2-D window (smaller frames: the largest odd one)."""
    import torch.nn.functional as F

    x, y = (z.double().reshape(-1, 1, *z.shape[-2:]) for z in (prediction, target))
    size = min(11, x.shape[-2], x.shape[-1])
    size -= 1 - size % 2
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = ((g / g.sum())[:, None] * (g / g.sum())[None, :])[None, None]
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x, var_y = F.conv2d(x * x, window) - mu_x**2, F.conv2d(y * y, window) - mu_y**2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))).mean()


def test_fast_ssim_matches_the_float64_definition():
    from vfi_ops.models.ssim import ssim

    g = torch.Generator().manual_seed(0)
    for shape in ((1, 3, 61, 83), (2, 3, 11, 11), (1, 3, 5, 7), (1, 1, 1, 9)):
        x = torch.rand(shape, generator=g)
        for y in (x, (x + 0.05 * torch.randn(shape, generator=g)).clamp(0, 1), torch.rand(shape, generator=g)):
            assert abs(ssim(x, y) - ssim_float64_2d(x, y).item()) < 1e-4, shape
    x = torch.rand(1, 3, 40, 40, generator=g)
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-6) and evaluate_cli.ssim(x, 1 - x) < 0.2
    with pytest.raises(ValueError, match="ssim: expected two images of one shape"):
        ssim(x, x[..., :-1])


def test_progress_lines_and_the_projection_variant(tmp_path, capsys):
    write_triplets(tmp_path / "mb", 24, 32, names=("SeqA", "SeqB"))
    code, out, err = run(["--middlebury", tmp_path / "mb", "--projection"], capsys)
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1/2] SeqA: linear blend ") and lines[1].startswith("[2/2] SeqB")
    assert "classical projection" in lines[0] and "classical projection PSNR" in out and out.count("(flow") == 2
    code, out, err = run(["--middlebury", tmp_path / "mb", "--quiet", "--flow-scale", "0.5"], capsys)
    assert code == 0 and err == "" and "classical PSNR" in out
    with pytest.raises(SystemExit):
        evaluate_cli.main(["--middlebury", str(tmp_path / "mb"), "--no-classical", "--flow", "farneback"])
    assert "apply to the classical method" in capsys.readouterr().err
