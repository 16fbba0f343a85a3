"""Image files as frames: every mode Pillow opens, read with its true values and written back in its format.

Reading gives a float32 tensor ``[C, H, W]`` with values in [0, 1]: C = 3 (RGB),
or 4 (RGB and alpha) for images with transparency. How each Pillow mode maps:

| mode | read as | written back as |
| --- | --- | --- |
| RGB, RGBA | value / 255 | the same |
| L, LA (8-bit grey), 1 (1-bit) | grey value / 255 in all three channels (1: 0 or 1) | luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), 1: luma >= 0.5 |
| I;16 (16-bit grey) | value / 65535 | 16-bit luma |
| I (32-bit integer) | value / 65535, clipped to [0, 1] | the same scale |
| F (32-bit float) | value, clipped to [0, 1] | float luma |
| P (palette) | its colours (RGBA if it has transparency) | the nearest colours of the same palette |
| 16-bit RGB / RGBA (PNG, TIFF) | value / 65535 (read with OpenCV: Pillow keeps 8 bits) | 16-bit again |
| CMYK, YCbCr and the rest | Pillow's conversion to RGB | Pillow's conversion back |

An output file format that cannot hold the mode (e.g. JPEG and 16-bit) gets the
nearest mode it can: 8-bit grey for grey modes, RGB(A) otherwise.

Orientation: a file whose EXIF orientation tag says it is rotated or mirrored
(as phone photos are) is read as it displays, upright (Pillow's
``ImageOps.exif_transpose``): a 64x48 JPEG tagged "rotate 90" is read as 48 wide
and 64 high, and ``image_size`` reports it so. Frames are written upright,
without the tag.

Size limit: a file whose header claims more pixels than Pillow's limit
(``PIL.Image.MAX_IMAGE_PIXELS``, about 179 million by default; a possible
decompression bomb) is refused with a ValueError naming the file, its size and
the limit, before anything is decoded.
"""

import contextlib
import io
import os
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from .extras import require

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
GREY_MODES = ("1", "L", "LA", "I;16", "I", "F")
SIXTEEN_BIT_COLOUR = ("RGB;16", "RGBA;16")  # our names: Pillow has no such modes
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ImageFormat:
    """How a frame was stored: the Pillow mode (or RGB;16 / RGBA;16), and a palette image's colours."""

    mode: str = "RGB"
    palette: Optional[Tuple[int, ...]] = None
    #: whether the file's EXIF orientation turned or mirrored it on reading (its stored pixels
    #: are not the frame as read); not part of the format's identity
    reoriented: bool = field(default=False, compare=False)

    @property
    def alpha(self) -> bool:
        return self.mode in ("RGBA", "LA", "RGBA;16")


def _pil():
    return require("PIL.Image", "reading and writing images")


def _rawmode(image) -> str:
    try:
        args = image.tile[0].args
    except (IndexError, AttributeError):
        return ""
    return args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else "")


@contextlib.contextmanager
def _readable(path: str, Image):
    """Turns what opening and decoding an image file raises into clear errors
    naming it: FileNotFoundError, or ValueError for what is not a readable image."""
    try:
        yield
    except FileNotFoundError:
        raise FileNotFoundError(f"no such image: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not an image") from None
    except Image.DecompressionBombError as err:
        raise ValueError(
            f"refusing to read {path}: its header claims more pixels than the limit of {Image.MAX_IMAGE_PIXELS} "
            f"(PIL.Image.MAX_IMAGE_PIXELS; a possible decompression bomb: {err}); if the image is genuine, "
            "raise that limit"
        ) from None
    except (Image.UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"cannot read {path} as an image ({err})") from None


def _to_tensor(array: np.ndarray, scale: float) -> Tensor:
    """[H, W] or [H, W, C] numbers / scale -> [3 or 4, H, W] float32 in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32) / scale).clamp_(0, 1)
    if x.dim() == 2:
        return x.expand(3, *x.shape).contiguous()
    if x.shape[2] == 2:  # grey and alpha
        return torch.cat((x[..., :1].expand(*x.shape[:2], 3), x[..., 1:]), 2).permute(2, 0, 1).contiguous()
    return x.permute(2, 0, 1).contiguous()


def read_frame(path: str) -> Tuple[Tensor, ImageFormat]:
    """An image file as ``[C, H, W]`` float32 in [0, 1] (C = 3, or 4 with alpha) and its format
    (module docstring). Raises FileNotFoundError, or ValueError for a file that is not a readable image."""
    Image = _pil()
    with _readable(path, Image), Image.open(path) as opened:
        mode, rawmode = opened.mode, _rawmode(opened)
        orientation = _orientation(opened)
        if rawmode.startswith(("RGB;16", "RGBA;16")):
            return _read_16bit_colour(path, rawmode.startswith("RGBA"), orientation)
        image = require("PIL.ImageOps", "reading images").exif_transpose(opened) if orientation != 1 else opened
        tensor, fmt = _decode(image, mode)
        return tensor, ImageFormat(fmt.mode, fmt.palette, reoriented=orientation != 1)


def _orientation(image) -> int:
    """The EXIF orientation tag (1 to 8; 1, upright, when absent or invalid)."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block: read the pixels as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _oriented(array: np.ndarray, orientation: int) -> np.ndarray:
    """[H, W, ...] as displayed for an EXIF orientation (the transposes of ImageOps.exif_transpose)."""
    swap = lambda a: a.swapaxes(0, 1)
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: swap,
        6: lambda a: swap(a)[:, ::-1],
        7: lambda a: swap(a[::-1, ::-1]),
        8: lambda a: swap(a)[::-1],
    }[orientation](array)


def _decode(image, mode: str) -> Tuple[Tensor, ImageFormat]:
    """A Pillow image (upright) as read_frame returns it, by its mode."""
    if mode.startswith("I;16"):
        return _to_tensor(np.asarray(image).astype(np.float32), 65535.0), ImageFormat("I;16")
    if mode == "I":
        return _to_tensor(np.asarray(image).astype(np.float64), 65535.0), ImageFormat("I")
    if mode == "F":
        return _to_tensor(np.asarray(image), 1.0), ImageFormat("F")
    if mode in ("1", "L", "LA", "RGB", "RGBA"):
        array = np.asarray(image.convert("L") if mode == "1" else image)
        return _to_tensor(array, 255.0), ImageFormat(mode)
    if mode in ("P", "PA"):
        if mode == "PA" or "transparency" in image.info:
            return _to_tensor(np.asarray(image.convert("RGBA")), 255.0), ImageFormat("RGBA")
        return _to_tensor(np.asarray(image.convert("RGB")), 255.0), ImageFormat("P", tuple(image.getpalette()))
    alpha = "A" in mode or "a" in mode
    return _to_tensor(np.asarray(image.convert("RGBA" if alpha else "RGB")), 255.0), ImageFormat(
        "RGBA" if alpha else mode
    )


def _read_16bit_colour(path: str, alpha: bool, orientation: int = 1) -> Tuple[Tensor, ImageFormat]:
    cv2 = require("cv2", f"reading 16-bit colour images such as {path}")
    array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16 or array.ndim != 3:
        raise ValueError(f"cannot read {path} as a 16-bit colour image")
    array = array[..., [2, 1, 0, 3]] if array.shape[2] == 4 else array[..., ::-1]  # OpenCV's BGR(A)
    fmt = ImageFormat("RGBA;16" if alpha else "RGB;16", reoriented=orientation != 1)
    return _to_tensor(_oriented(array, orientation), 65535.0), fmt


def read_image(path: str) -> Tensor:
    """An image file as RGB ``[3, H, W]`` float32 in [0, 1] (read_frame without alpha)."""
    return read_frame(path)[0][:3]


def image_size(path: str) -> Tuple[int, int]:
    """(H, W) as read_frame reads it (upright, after the EXIF orientation), from the file's header
    without decoding it; errors as read_frame."""
    Image = _pil()
    with _readable(path, Image), Image.open(path) as image:
        return (image.width, image.height) if _orientation(image) >= 5 else (image.height, image.width)


def file_format(path: str) -> Optional[str]:
    """Pillow's format name for a file name's extension (e.g. "PNG"), None if it has none it can write."""
    Image = _pil()
    Image.init()
    name = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    return name if name in Image.SAVE else None


def _can_save(mode: str, fmt: str) -> bool:
    Image = _pil()
    if mode in SIXTEEN_BIT_COLOUR:
        return fmt in ("PNG", "TIFF")
    try:
        Image.new(mode, (1, 1)).save(io.BytesIO(), format=fmt)
        return True
    except (OSError, ValueError, KeyError):
        return False


def output_mode(mode: str, path: str) -> str:
    """The mode written to path for frames read in mode: mode itself if path's format holds it,
    else the nearest one it does."""
    fmt = file_format(path)
    if fmt is None:
        raise ValueError(f"{path}: unknown image file extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    if mode in GREY_MODES:
        candidates = [mode, "I;16", "L"] if mode in ("I", "F") else [mode, "L"]
    elif mode in SIXTEEN_BIT_COLOUR or mode == "RGBA":
        candidates = [mode, "RGBA", "RGB"] if "A" in mode else [mode, "RGB"]
    else:
        candidates = [mode, "RGB"]
    for candidate in candidates:
        if _can_save(candidate, fmt):
            return candidate
    raise ValueError(f"{path}: Pillow cannot write {fmt} files in mode {mode} or RGB")


def _quantize(x: Tensor, scale: float, dtype) -> np.ndarray:
    return (x.detach().float().clamp(0, 1) * scale).round().cpu().numpy().astype(dtype)


def _nearest_colours(pixels: np.ndarray, palette: Tuple[int, ...]) -> np.ndarray:
    """[H, W, 3] uint8 -> [H, W] uint8 indices of the nearest palette colours (exact, unlike Pillow's
    quantize, which searches a coarsened colour cube)."""
    colours = torch.tensor(palette[:768], dtype=torch.float32).view(-1, 3)
    flat = torch.from_numpy(pixels.reshape(-1, 3)).float()
    index = torch.empty(flat.shape[0], dtype=torch.uint8)
    for start in range(0, flat.shape[0], 65536):  # 65536 x 256 distances at a time
        index[start : start + 65536] = torch.cdist(flat[start : start + 65536], colours).argmin(1).to(torch.uint8)
    return index.view(pixels.shape[:2]).numpy()


def write_frame(path: str, frame: Tensor, fmt: ImageFormat = ImageFormat()) -> str:
    """Writes ``[C, H, W]`` (or ``[1, C, H, W]``) values in [0, 1] (C = 3, or 4 with alpha) to path
    in fmt's mode, or the nearest one path's format holds (output_mode); returns the mode written.
    Creates missing folders."""
    Image = _pil()
    if frame.dim() == 4:
        frame = frame[0]
    mode = output_mode(fmt.mode, path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    rgb, alpha = frame[:3].detach().float().cpu(), (frame[3] if frame.shape[0] == 4 else None)
    if mode in SIXTEEN_BIT_COLOUR:
        cv2 = require("cv2", "writing 16-bit colour images")
        planes = [rgb[2], rgb[1], rgb[0]] + (
            [alpha if alpha is not None else torch.ones_like(rgb[0])] if mode == "RGBA;16" else []
        )
        if not cv2.imwrite(path, _quantize(torch.stack(planes, 2), 65535.0, np.uint16)):
            raise ValueError(f"cannot write {path}")
        return mode
    if mode in GREY_MODES:
        luma = sum(w * c for w, c in zip(LUMA, rgb))
        if mode == "1":
            image = Image.fromarray(_quantize(luma >= 0.5, 255.0, np.uint8)).convert("1")
        elif mode == "L":
            image = Image.fromarray(_quantize(luma, 255.0, np.uint8))
        elif mode == "LA":
            a = alpha if alpha is not None else torch.ones_like(luma)
            image = Image.fromarray(_quantize(torch.stack((luma, a), 2), 255.0, np.uint8), "LA")
        elif mode == "I;16":
            image = Image.fromarray(_quantize(luma, 65535.0, np.uint16))
        elif mode == "I":
            image = Image.fromarray(_quantize(luma, 65535.0, np.int32))
        else:  # F
            image = Image.fromarray(luma.clamp(0, 1).numpy().astype(np.float32))
    else:
        channels = [rgb[0], rgb[1], rgb[2]]
        if mode == "RGBA":
            channels.append(alpha if alpha is not None else torch.ones_like(rgb[0]))
        pixels = _quantize(torch.stack(channels, 2), 255.0, np.uint8)
        if mode == "P" and fmt.palette is not None:
            image = Image.fromarray(_nearest_colours(pixels, fmt.palette), "P")
            image.putpalette(list(fmt.palette))
        else:
            image = Image.fromarray(pixels, "RGBA" if mode == "RGBA" else "RGB")
            if mode not in ("RGB", "RGBA", "P"):
                image = image.convert(mode)
    image.save(path)
    return mode


def write_image(path: str, image: Tensor) -> None:
    """Writes RGB ``[3, H, W]`` (or ``[1, 3, H, W]``) values in [0, 1] as an 8-bit RGB image."""
    write_frame(path, image)
