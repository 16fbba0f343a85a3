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
