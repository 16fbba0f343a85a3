"""Image files in every mode Pillow opens: true values in, the same format out."""

import numpy as np
import pytest
import torch

Image = pytest.importorskip("PIL.Image")

from vfi_ops.models.images import ImageFormat, output_mode, read_frame, read_image, write_frame  # noqa: E402


def ramp(H=6, W=7):
    return np.arange(H * W).reshape(H, W)


def test_grey_and_alpha_modes(tmp_path):
    Image.fromarray((ramp() * 6).astype(np.uint8), "L").save(tmp_path / "l.png")
    frame, fmt = read_frame(str(tmp_path / "l.png"))
    assert fmt == ImageFormat("L") and frame.shape == (3, 6, 7)
    assert torch.equal(frame[0], frame[2]) and frame[0, 1, 2].item() == pytest.approx(9 * 6 / 255)
    assert write_frame(str(tmp_path / "l_out.png"), frame, fmt) == "L"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "l_out.png")), (ramp() * 6).astype(np.uint8))

    la = np.stack(((ramp() * 6).astype(np.uint8), np.full((6, 7), 100, np.uint8)), 2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    frame, fmt = read_frame(str(tmp_path / "la.png"))
    assert fmt.mode == "LA" and fmt.alpha and frame.shape == (4, 6, 7) and frame[3, 0, 0] == pytest.approx(100 / 255)
    write_frame(str(tmp_path / "la_out.png"), frame, fmt)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "la_out.png")), la)

    Image.fromarray(ramp() % 2 == 0).save(tmp_path / "bits.png")
    frame, fmt = read_frame(str(tmp_path / "bits.png"))
    assert fmt.mode == "1" and set(frame.unique().tolist()) == {0.0, 1.0}
    write_frame(str(tmp_path / "bits_out.png"), frame, fmt)
    assert Image.open(tmp_path / "bits_out.png").mode == "1"


def test_sixteen_bit_values_are_kept(tmp_path):
    grey = (ramp() * 1501).astype(np.uint16)  # values above 255: 8 bits would lose them
    Image.fromarray(grey).save(tmp_path / "g16.png")
    frame, fmt = read_frame(str(tmp_path / "g16.png"))
    assert fmt.mode == "I;16" and frame[0, 3, 4].item() == pytest.approx(grey[3, 4] / 65535, abs=1e-7)
    assert write_frame(str(tmp_path / "g16_out.png"), frame, fmt) == "I;16"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g16_out.png")), grey)
    # A format that cannot hold 16 bits gets the nearest mode.
    assert output_mode("I;16", str(tmp_path / "x.jpg")) == "L"
    assert write_frame(str(tmp_path / "g16.jpg"), frame, fmt) == "L"

    cv2 = pytest.importorskip("cv2")
    rgba = (np.random.default_rng(0).random((6, 7, 4)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgba[..., [2, 1, 0, 3]])
    frame, fmt = read_frame(str(tmp_path / "c16.png"))
    assert fmt.mode == "RGBA;16" and frame.shape == (4, 6, 7)
    torch.testing.assert_close(frame, torch.from_numpy(rgba / 65535).permute(2, 0, 1).float(), atol=1e-7, rtol=0)
    write_frame(str(tmp_path / "c16_out.png"), frame, fmt)
    assert np.array_equal(cv2.imread(str(tmp_path / "c16_out.png"), cv2.IMREAD_UNCHANGED), rgba[..., [2, 1, 0, 3]])


def test_palette_and_other_modes(tmp_path):
    image = Image.fromarray((ramp() % 5).astype(np.uint8), "P")
    palette = [(37 * i) % 256 for i in range(768)]
    image.putpalette(palette)
    image.save(tmp_path / "p.png")
    frame, fmt = read_frame(str(tmp_path / "p.png"))
    assert fmt.mode == "P" and frame[:, 0, 1].tolist() == pytest.approx([p / 255 for p in palette[3:6]])
    write_frame(str(tmp_path / "p_out.png"), frame, fmt)
    out = Image.open(tmp_path / "p_out.png")
    assert out.mode == "P" and np.array_equal(np.asarray(out.convert("RGB")), np.asarray(image.convert("RGB")))

    Image.new("RGBA", (7, 6), (10, 20, 30, 40)).save(tmp_path / "rgba.png")
    frame, fmt = read_frame(str(tmp_path / "rgba.png"))
    assert fmt.mode == "RGBA" and (frame[:, 0, 0] * 255).round().tolist() == [10, 20, 30, 40]
    assert read_image(str(tmp_path / "rgba.png")).shape == (3, 6, 7)
    assert write_frame(str(tmp_path / "rgba.jpg"), frame, fmt) == "RGB"

    Image.new("CMYK", (7, 6), (0, 255, 255, 0)).save(tmp_path / "cmyk.tif")
    frame, fmt = read_frame(str(tmp_path / "cmyk.tif"))
    assert fmt.mode == "CMYK" and (frame[:, 0, 0] * 255).round().tolist() == [255, 0, 0]
    write_frame(str(tmp_path / "cmyk_out.tif"), frame, fmt)
    assert Image.open(tmp_path / "cmyk_out.tif").mode == "CMYK"

    Image.fromarray(np.full((6, 7), 0.25, np.float32), "F").save(tmp_path / "f.tif")
    frame, fmt = read_frame(str(tmp_path / "f.tif"))
    assert fmt.mode == "F" and frame.max().item() == 0.25
    write_frame(str(tmp_path / "f_out.tif"), frame, fmt)
    assert Image.open(tmp_path / "f_out.tif").getpixel((0, 0)) == 0.25


def test_unreadable_files(tmp_path):
    (tmp_path / "junk.png").write_text("junk")
    with pytest.raises(ValueError, match="cannot read .*junk.png as an image"):
        read_frame(str(tmp_path / "junk.png"))
    with pytest.raises(FileNotFoundError, match="no such image"):
        read_frame(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="is a folder, not an image"):
        read_frame(str(tmp_path))
    with pytest.raises(ValueError, match="unknown image file extension"):
        output_mode("RGB", str(tmp_path / "frame.xyz"))
