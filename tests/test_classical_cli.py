"""vfi-interpolate's classical options: --flow, --flow-scale, --warp."""

import pytest
import torch
from vfi_ops.models import interpolate as interpolate_cli
from vfi_ops.models.data import procedural_texture, shift
from vfi_ops.models.evaluate import psnr
from vfi_ops.models.images import read_image, write_image

pytest.importorskip("cv2")


def test_flow_options_reach_the_model(tmp_path, capsys):
    texture = procedural_texture(120, torch.Generator().manual_seed(2))
    frames = [shift(texture, 4.0 * t, 2.0 * t)[:, 20:84, 20:100] for t in (0.0, 0.5, 1.0)]
    for i in (0, 2):
        write_image(str(tmp_path / f"f{i}.png"), frames[i])
    inner = (..., slice(8, -8), slice(8, -8))
    blend = psnr(((frames[0] + frames[2]) / 2)[inner], frames[1][inner])
    for extra in (["--flow-scale", "0.5"], ["--flow", "farneback", "--warp", "projection"], []):
        out = tmp_path / f"mid{len(extra)}.png"
        code = interpolate_cli.main([str(tmp_path / "f0.png"), str(tmp_path / "f2.png"), "-o", str(out), *extra])
        assert code == 0, capsys.readouterr().err
        assert psnr(read_image(str(out))[inner], frames[1][inner]) > blend + 5, extra
    args = [str(tmp_path / "f0.png"), str(tmp_path / "f2.png"), "-o", str(tmp_path / "x.png")]
    with pytest.raises(SystemExit):
        interpolate_cli.main(args + ["--flow-scale", "0.1"])
    assert "--flow-scale: must be a number in [0.25, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        interpolate_cli.main(args + ["--method", "model", "--checkpoint", str(tmp_path / "f0.png"), "--flow", "dis"])
    assert "--flow applies to --method classical" in capsys.readouterr().err
