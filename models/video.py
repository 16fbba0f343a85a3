"""Video files and animated images through PyAV (FFmpeg), streamed: frames are decoded and encoded one at a time.

Frames and times
    Each decoded frame has a time in seconds, an exact ``Fraction``: its
    timestamp times the stream's time base, counted from the first frame. A
    stream whose frames all sit on the grid ``i / rate`` (within the rounding of
    its time base) is constant-rate and its frames are placed exactly at
    ``i / rate``; any other is variable-rate (VFR) and keeps its own times.
    The writer takes each output frame with its time; it gives the encoder a
    time base in which every time is a whole number of ticks (``1 / rate`` for
    constant rates), and the container rescales into the time base it chose.

Colour
    Frames become float32 RGB ``[3, H, W]`` (``[4, H, W]`` with alpha: GIF,
    APNG, yuva formats) in [0, 1]: 8-bit pixel formats through rgb24 / rgba,
    deeper ones (e.g. yuv420p10le) through rgb48 / rgba64, so no precision is
    lost. YUV is converted with the stream's own matrix (BT.601, BT.709,
    BT.2020, SMPTE 240M, FCC) and range (limited or full); untagged streams
    are read as FFmpeg does (BT.601; full range for yuvj formats, else
    limited) and written back the same way, so new frames match the decoded
    ones. The writer converts RGB back with the same matrix and range, and
    copies the colour tags (matrix, primaries, transfer, range) to the output.
    Source frames are passed to the encoder as decoded when the pixel format
    is kept (no round trip through RGB).

Encoders and containers
    ``SUPPORTED`` lists the encoder / container pairs that are written and read
    back by the tests (times strictly increasing, rate, frame count and
    duration as promised); others are refused before any work.
"""

import io
import os
from fractions import Fraction
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from .extras import require

VIDEO_EXTENSIONS = (
    ".mp4",
    ".mkv",
    ".mov",
    ".avi",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".flv",
    ".wmv",
    ".ogv",
    ".y4m",
    ".gif",
    ".apng",
)

# Output container (by file extension) -> the encoders it is written with, each checked by writing and
# reading back (tests/test_video.py). Aliases (h264, hevc) resolve to the encoder FFmpeg picks for them.
SUPPORTED = {
    ".mp4": ("libx264", "libx265", "mpeg4", "libvpx-vp9", "mjpeg"),
    ".m4v": ("libx264", "libx265", "mpeg4"),
    ".mkv": ("libx264", "libx265", "mpeg4", "libvpx-vp9", "ffv1", "prores_ks", "prores", "mjpeg"),
    ".mov": ("libx264", "libx265", "mpeg4", "prores_ks", "prores", "mjpeg"),
    ".avi": ("mpeg4", "mjpeg", "ffv1", "libx264"),
    ".webm": ("libvpx-vp9",),
    ".gif": ("gif",),
    ".apng": ("apng",),
}
# Containers that hold a constant frame rate only (frame counts, no timestamps; GIF: delays in 1/100 s).
CONSTANT_RATE_ONLY = (".avi",)
# Audio encoders used when a container cannot hold the input's audio codec as it is.
AUDIO_FALLBACK = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus", ".avi": "libmp3lame"}
NO_AUDIO = (".gif", ".apng")

# AVColorSpace -> the matrix swscale converts with (unspecified and unknown: FFmpeg's default, BT.601).
_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
_MPEG, _JPEG = 1, 2  # AVColorRange: limited, full


def _av():
    return require("av", "reading and writing video files")


def is_video_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def is_animated_image(path: str) -> bool:
    """Whether an image file (PNG, WebP, ...) holds more than one frame (e.g. APNG)."""
    try:
        Image = require("PIL.Image", "reading images")
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    except Exception:  # not an image: not an animated one
        return False


def _format(pix_fmt: str):
    return _av().VideoFormat(pix_fmt)


def deep_pixel_format(pix_fmt: str) -> bool:
    """Whether a pixel format has more than 8 bits per component."""
    try:
        return max(c.bits for c in _format(pix_fmt).components) > 8
    except (ValueError, TypeError):
        return False


def has_alpha(pix_fmt: str) -> bool:
    try:
        return any(c.is_alpha for c in _format(pix_fmt).components)
    except (ValueError, TypeError):
        return False


def is_yuv(pix_fmt: str) -> bool:
    """Whether a pixel format is YUV (converted with a matrix and a range)."""
    name = pix_fmt.lower()
    return name.startswith(("yuv", "yuvj", "nv", "p0", "p2", "ayuv", "uyvy", "yuyv"))


def _rgb_format(alpha: bool, deep: bool) -> str:
    return ("rgba64le" if alpha else "rgb48le") if deep else ("rgba" if alpha else "rgb24")


def encoder_name(codec: str) -> Optional[str]:
    """The encoder FFmpeg uses for a codec or encoder name (h264 -> libx264), None if it has none."""
    try:
        return _av().Codec(codec, "w").name
    except Exception:  # av raises its own error types for unknown codecs
        return None


def supported_codecs(extension: str) -> List[str]:
    """The encoders this FFmpeg build has of those SUPPORTED for a container (by extension)."""
    return [c for c in SUPPORTED.get(extension.lower(), ()) if encoder_name(c) == c]


def default_pix_fmt(codec: str, source_pix_fmt: str) -> str:
    """The input's pixel format if the encoder takes it, else the first it takes with the same alpha
    and depth (or the first it takes at all)."""
    formats = [f.name for f in (_av().Codec(codec, "w").video_formats or [])]
    if codec == "mjpeg" and source_pix_fmt.startswith("yuv") and "yuvj" + source_pix_fmt[3:] in formats:
        return "yuvj" + source_pix_fmt[3:]  # JPEG's own full range (limited range is non-standard)
    if not formats or source_pix_fmt in formats:
        return source_pix_fmt
    if codec == "gif":
        return "pal8"
    alpha, deep = has_alpha(source_pix_fmt), deep_pixel_format(source_pix_fmt)
    for f in formats:
        if has_alpha(f) == alpha and deep_pixel_format(f) == deep:
            return f
    return formats[0]


def check_encoder(codec: str, pix_fmt: Optional[str], extension: str, option: str = "--codec") -> str:
    """The encoder's name; ValueError naming the option (and listing what works) if FFmpeg has no
    encoder for codec, it is not one SUPPORTED for the container, or it cannot take pix_fmt."""
    extension = extension.lower()
    works = supported_codecs(extension)
    name = encoder_name(codec)
    if name is None:
        raise ValueError(
            f"{option}: FFmpeg (in PyAV) has no encoder for codec {codec!r}; for {extension} choose one with "
            f"--codec: {', '.join(works) or '(none in this build)'}"
        )
    if extension in SUPPORTED and name not in SUPPORTED[extension]:
        raise ValueError(
            f"{option}: {codec!r} ({name}) cannot be written into {extension} files; for {extension} choose "
            f"one of: {', '.join(works) or '(none in this build)'} (or another file extension)"
        )
    if pix_fmt is not None:
        formats = [f.name for f in (_av().Codec(name, "w").video_formats or [])]
        if formats and pix_fmt not in formats:
            raise ValueError(
                f"--pix-fmt: the {name} encoder cannot take pixel format {pix_fmt!r} (it takes {', '.join(formats)})"
            )
    return name


class Colour:
    """A stream's colour: matrix and range for conversions, and the four tags to copy."""

    def __init__(self, colorspace=2, color_range=0, color_primaries=2, color_trc=2, pix_fmt="yuv420p"):
        self.colorspace, self.color_range = int(colorspace or 2), int(color_range or 0)
        self.color_primaries, self.color_trc = int(color_primaries or 2), int(color_trc or 2)
        self.pix_fmt = pix_fmt

    @classmethod
    def of(cls, frame, context=None) -> "Colour":
        def pick(name, unset):
            value = int(getattr(frame, name, unset) or unset)
            if value == unset and context is not None:
                value = int(getattr(context, name, unset) or unset)
            return value

        return cls(
            pick("colorspace", 2),
            pick("color_range", 0),
            pick("color_primaries", 2),
            pick("color_trc", 2),
            frame.format.name,
        )

    @property
    def matrix(self) -> str:
        return _MATRIX.get(self.colorspace, "ITU601")

    def range_for(self, pix_fmt: str) -> int:
        """The range a YUV pixel format is converted with: yuvj formats are full; untagged ones limited."""
        if pix_fmt.startswith("yuvj"):
            return _JPEG
        return self.color_range if self.color_range in (_MPEG, _JPEG) else _MPEG

    def tag(self, target, pix_fmt: str) -> None:
        """Writes the tags onto a frame or codec context carrying pix_fmt (range only for YUV)."""
        target.colorspace, target.color_primaries, target.color_trc = (
            self.colorspace,
            self.color_primaries,
            self.color_trc,
        )
        if is_yuv(pix_fmt):
            range_ = self.range_for(pix_fmt)
            target.color_range = range_ if (self.color_range or pix_fmt.startswith("yuvj")) else 0
        else:
            target.color_range = _JPEG if self.color_range else 0


# Luma weights (Kr, Kb) of each matrix: ITU-R BT.601 / SMPTE 170M, BT.709, BT.2020 (non-constant
# luminance), SMPTE 240M, and the FCC's.
_KR_KB = {
    "ITU601": (0.299, 0.114),
    "SMPTE170M": (0.299, 0.114),
    "ITU709": (0.2126, 0.0722),
    "BT2020": (0.2627, 0.0593),
    "SMPTE240M": (0.212, 0.087),
    "FCC": (0.30, 0.11),
}


def _planar_yuv(pix_fmt: str, width: int, height: int) -> Optional[Tuple[str, int, int, int]]:
    """(planar format, bits, chroma step x, chroma step y) that holds pix_fmt's samples exactly
    (nv12 -> yuv420p, p010le -> yuv420p10le), None when there is none."""
    if not is_yuv(pix_fmt):
        return None
    try:
        fmt = _format(pix_fmt)
    except (ValueError, TypeError):
        return None
    components = fmt.components
    if len(components) not in (3, 4) or fmt.is_bit_stream or fmt.has_palette:
        return None
    bits = components[0].bits
    sx = 2 if fmt.chroma_width(width * 4) == width * 2 else 4 if fmt.chroma_width(width * 4) == width else 1
    sy = 2 if fmt.chroma_height(height * 4) == height * 2 else 1
    sub = {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411"}.get((sx, sy))
    if sub is None or bits not in (8, 9, 10, 12, 14, 16):
        return None
    alpha = len(components) == 4
    name = ("yuvj" if pix_fmt.startswith("yuvj") and not alpha else "yuva" if alpha else "yuv") + sub + "p"
    name += "" if bits == 8 else f"{bits}le"
    try:
        _format(name)
    except (ValueError, TypeError):
        return None
    return name, bits, sx, sy


def _plane_array(plane, dtype) -> np.ndarray:
    item = np.dtype(dtype).itemsize
    array = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // item)
    return array[:, : plane.width]


def _levels(bits: int, full: bool) -> Tuple[float, float, float]:
    """(luma offset, luma scale, chroma scale) of a range at a bit depth (chroma is centred on 2^(bits-1))."""
    if full:
        top = float(2**bits - 1)
        return 0.0, top, top
    step = float(2 ** (bits - 8))
    return 16.0 * step, 219.0 * step, 224.0 * step


def _yuv_to_rgb(frame, colour: Colour, layout) -> np.ndarray:
    """A planar YUV frame as [H, W, 3 or 4] float32 RGB(A) in [0, 1] (not clipped): chroma repeated
    over the pixels it covers, then the matrix and range exactly (float)."""
    name, bits, sx, sy = layout
    if frame.format.name != name:
        frame = frame.reformat(format=name)  # the same samples, repacked (e.g. nv12 -> yuv420p)
    dtype = np.uint16 if bits > 8 else np.uint8
    H, W = frame.height, frame.width
    planes = [_plane_array(p, dtype).astype(np.float32) for p in frame.planes]
    kr, kb = _KR_KB[colour.matrix]
    offset, luma_scale, chroma_scale = _levels(bits, colour.range_for(frame.format.name) == _JPEG)
    centre = float(2 ** (bits - 1))
    y = (planes[0] - offset) / luma_scale
    cb, cr = ((np.repeat(np.repeat(c, sy, 0), sx, 1)[:H, :W] - centre) / chroma_scale for c in planes[1:3])
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    channels = [r, g, b]
    if len(planes) == 4:
        channels.append(planes[3] / float(2**bits - 1))
    return np.stack(channels, 2)


def _rgb_to_yuv(array: np.ndarray, colour: Colour, pix_fmt: str, layout):
    """[H, W, 3 or 4] float RGB(A) in [0, 1] as a frame of pix_fmt: the matrix and range exactly,
    chroma averaged over the pixels it covers (the inverse of _yuv_to_rgb)."""
    av = _av()
    name, bits, sx, sy = layout
    H, W = array.shape[:2]
    kr, kb = _KR_KB[colour.matrix]
    offset, luma_scale, chroma_scale = _levels(bits, colour.range_for(name) == _JPEG)
    centre, top = float(2 ** (bits - 1)), float(2**bits - 1)
    r, g, b = (array[..., c].astype(np.float64) for c in range(3))
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    Hc, Wc = -(-H // sy), -(-W // sx)

    def subsample(c):
        padded = np.pad(c, ((0, Hc * sy - H), (0, Wc * sx - W)), mode="edge")
        return padded.reshape(Hc, sy, Wc, sx).mean((1, 3))

    planes = [y * luma_scale + offset, subsample(cb) * chroma_scale + centre, subsample(cr) * chroma_scale + centre]
    if name.startswith("yuva"):
        planes.append((array[..., 3] if array.shape[2] == 4 else np.ones((H, W))) * top)
    dtype = np.uint16 if bits > 8 else np.uint8
    frame = av.VideoFrame(W, H, name)
    for plane, values in zip(frame.planes, planes):
        data = np.zeros((plane.height, plane.line_size // np.dtype(dtype).itemsize), dtype=dtype)
        data[:, : plane.width] = np.clip(np.round(values), 0, top)
        plane.update(data)
    if name != pix_fmt:
        frame = frame.reformat(format=pix_fmt)  # the same samples, repacked
    return frame


def frame_to_tensor(frame, colour: Colour, alpha: bool) -> Tensor:
    """A decoded frame as ``[3 or 4, H, W]`` float32 in [0, 1], YUV through colour's matrix and range."""
    pix_fmt = frame.format.name
    deep = deep_pixel_format(pix_fmt)
    target = _rgb_format(alpha, deep)
    layout = _planar_yuv(pix_fmt, frame.width, frame.height)
    if layout is not None:
        rgb = _yuv_to_rgb(frame, colour, layout)
        if alpha and rgb.shape[2] == 3:
            rgb = np.concatenate((rgb, np.ones_like(rgb[..., :1])), 2)
        return torch.from_numpy(np.clip(rgb[..., : 4 if alpha else 3], 0, 1)).permute(2, 0, 1).contiguous()
    if is_yuv(pix_fmt):
        frame = frame.reformat(
            format=target,
            src_colorspace=colour.matrix,
            dst_colorspace=colour.matrix,
            src_color_range=colour.range_for(pix_fmt),
            dst_color_range=_JPEG,
            interpolation="BICUBIC",
        )
    array = frame.to_ndarray(format=target)
    scale = 65535.0 if deep else 255.0
    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def _palette_frame(rgba: np.ndarray):
    """An [H, W, 4] uint8 array as a pal8 frame: Pillow's median-cut palette of up to 255 colours, and
    one fully transparent entry where any pixel is transparent (alpha < 128)."""
    av, Image = _av(), require("PIL.Image", "writing GIF files")
    transparent = rgba[..., 3] < 128
    colours = 255 if transparent.any() else 256
    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")
    quantized = image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    index = np.asarray(quantized, dtype=np.uint8).copy()
    rgb = np.array(quantized.getpalette()[: 3 * colours], dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), dtype=np.uint8)  # ARGB, as PyAV wants it
    palette[:, 0] = 255  # opaque: the GIF encoder takes the least opaque entry as the transparent one
    palette[: len(rgb), 1:] = rgb
    if transparent.any():
        index[transparent] = 255
        palette[255] = 0
    return av.VideoFrame.from_ndarray((index, palette), format="pal8")


class VideoReader:
    """The first video stream of a file: its properties, its frame times, and its frames one at a time."""

    def __init__(self, path: str):
        av = _av()
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such video file: {path}")
        self.path = path
        self.format = "apng" if path.lower().endswith((".png", ".apng")) else None
        self.container = self._open()
        if not self.container.streams.video:
            self.container.close()
            raise ValueError(f"{path} has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        context = self.stream.codec_context
        self.codec = context.name
        self.pix_fmt = context.pix_fmt or "yuv420p"
        self.width, self.height = context.width, context.height
        self.bit_rate = self.stream.bit_rate or context.bit_rate or None
        self.deep = deep_pixel_format(self.pix_fmt)
        self.alpha = has_alpha(self.pix_fmt) or self.codec in ("gif", "apng", "png")
        self.time_base = Fraction(self.stream.time_base or 0)
        self.times = self._scan(av)  # exact times of every frame in seconds, from 0 (before decoding)
        self.frames = len(self.times)
        self.rate, self.vfr = self._rate()
        if self.vfr:
            self.times = [self._snap(t) for t in self.times]
        else:  # on the grid (time_of gives the decoded frames the same times)
            self.times = [i / self.rate for i in range(len(self.times))]
        self.duration = self._duration()

    def _open(self):
        av = _av()
        try:
            return av.open(self.path, format=self.format)
        except Exception as err:  # av.error.* for unreadable files
            raise ValueError(f"cannot read {self.path} as a video ({err})") from None

    def _scan(self, av) -> List[Fraction]:
        """The frames' timestamps from the packets (no decoding); the container is reopened after."""
        stamps, self.last_duration = [], 0
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0:
                    continue
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    stamps = None
                    break
                stamps.append(stamp)
                self.last_duration = max(self.last_duration, packet.duration or 0)
        except av.error.FFmpegError as err:
            self.container.close()
            raise ValueError(f"cannot read {self.path} ({err})") from None
        self.container.close()
        self.container = self._open()
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        if stamps is None or not self.time_base:  # no timestamps: count the frames, at the stated rate
            rate = Fraction(self.stream.average_rate or self.stream.guessed_rate or 0)
            if rate <= 0:
                raise ValueError(f"{self.path}: the video stream has no frame rate")
            count = sum(1 for _ in self._decoded_frames())
            self.container.close()
            self.container = self._open()
            self.stream = self.container.streams.video[0]
            self.stamped = False
            return [i / rate for i in range(count)]
        self.stamped = True
        stamps = sorted(set(stamps))
        self.first_stamp = stamps[0] if stamps else 0
        return [(s - stamps[0]) * self.time_base for s in stamps]

    def _rate(self) -> Tuple[Fraction, bool]:
        """(rate, variable): the stated rate when every frame lies on its grid, else the mean rate and True."""
        n = len(self.times)
        for candidate in (self.stream.average_rate, self.stream.guessed_rate):
            rate = Fraction(candidate or 0)
            if rate <= 0:
                continue
            tolerance = min(self.time_base or Fraction(1, 1000), 1 / (4 * rate))
            if all(abs(s - i / rate) <= tolerance for i, s in enumerate(self.times)):
                return rate, False
        if n < 2:
            rate = Fraction(self.stream.average_rate or self.stream.guessed_rate or 0)
            if rate <= 0:
                raise ValueError(f"{self.path}: the video stream has no frame rate")
            return rate, False
        return Fraction(n - 1) / self.times[-1], True

    def _snap(self, time: Fraction) -> Fraction:
        """A VFR frame's time on the grid of the stream's nominal rate where its time base only rounded
        it there (Matroska's milliseconds: 42 ms is 1/24 s); other times as they are."""
        rate = Fraction(self.stream.guessed_rate or self.stream.average_rate or 0)
        if not self.vfr or rate <= 0 or not self.time_base:
            return time
        on_grid = Fraction(round(time * rate)) / rate
        return on_grid if abs(on_grid - time) <= self.time_base / 2 else time

    def _duration(self) -> Fraction:
        if not self.times:
            return Fraction(0)
        if not self.vfr:
            return len(self.times) / self.rate
        last = (
            self.last_duration * self.time_base if self.last_duration else self.times[-1] / max(len(self.times) - 1, 1)
        )
        return self.times[-1] + last

    def time_of(self, index: int, frame) -> Fraction:
        """A decoded frame's time: on the grid for constant rates, its own timestamp for VFR."""
        if not self.vfr or not self.stamped:
            return index / self.rate
        stamp = frame.pts if frame.pts is not None else frame.best_effort_timestamp
        if stamp is None:
            return self.times[min(index, len(self.times) - 1)]
        return self._snap((stamp - self.first_stamp) * self.time_base)

    def _decoded_frames(self):
        av = _av()
        try:
            yield from self.container.decode(self.stream)
        except av.error.FFmpegError as err:
            raise ValueError(f"cannot decode {self.path} ({err})") from None

    def __iter__(self) -> Iterator[Tuple[Fraction, object, Tensor, Colour]]:
        """(time in seconds, av.VideoFrame, [3 or 4, H, W] float32 RGB(A) in [0, 1], its Colour) per frame."""
        context = self.stream.codec_context
        for index, frame in enumerate(self._decoded_frames()):
            colour = Colour.of(frame, context)
            yield self.time_of(index, frame), frame, frame_to_tensor(frame, colour, self.alpha), colour

    def colour(self) -> Colour:
        """The stream's colour as its codec context states it (frames may refine it)."""
        context = self.stream.codec_context
        return Colour(context.colorspace, context.color_range, context.color_primaries, context.color_trc, self.pix_fmt)

    def close(self) -> None:
        self.container.close()


def output_time_base(rate: Fraction, times_base: Optional[Fraction]) -> Fraction:
    """The encoder's time base: 1 / rate for constant rates, else the given base of the frame times."""
    return times_base if times_base is not None else 1 / Fraction(rate)


class VideoWriter:
    """Encodes frames, each with its time, to a new file (or an in-memory one, to check settings).

    ``time_base`` is the encoder's: every frame time must be a whole number of it (1 / rate for
    constant rates). Frames may be av.VideoFrames (encoded as they are when their pixel format is the
    output's) or ``[3 or 4, H, W]`` tensors in [0, 1], converted with ``colour``'s matrix and range.
    """

    def __init__(
        self,
        path: str,
        codec: str,
        pix_fmt: str,
        rate: Fraction,
        width: int,
        height: int,
        bit_rate: Optional[int] = None,
        options: Optional[Dict[str, str]] = None,
        colour: Optional[Colour] = None,
        time_base: Optional[Fraction] = None,
        memory: bool = False,
    ):
        av = _av()
        self.path, self.extension = path, os.path.splitext(path)[1].lower()
        self.memory = memory
        muxer = {".apng": "apng", ".m4v": "mp4"}.get(self.extension)
        if memory:
            self.file = io.BytesIO()
        try:
            if memory:
                self.container = av.open(self.file, "w", format=muxer or self._muxer_for(path))
            else:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                self.container = av.open(path, "w", format=muxer)
        except Exception as err:
            raise ValueError(f"-o: cannot write a video to {path} ({err})") from None
        self.rate, self.time_base = Fraction(rate), output_time_base(rate, time_base)
        self.colour = colour or Colour(pix_fmt=pix_fmt)
        self.pix_fmt, self.deep, self.alpha = pix_fmt, deep_pixel_format(pix_fmt), has_alpha(pix_fmt)
        self.last_pts, self.count, self.copier = None, 0, None
        try:
            self.stream = self.container.add_stream(codec, rate=self.rate)
            context = self.stream.codec_context
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
            context.time_base = self.time_base
            self.stream.time_base = self.time_base  # a wish: the muxer may choose another on opening
            if bit_rate:
                self.stream.bit_rate = int(bit_rate)
            self.colour.tag(context, pix_fmt)
            options = dict(options or {})
            if self.extension in CONSTANT_RATE_ONLY and codec in ("libx264", "h264"):
                options.setdefault("bf", "0")  # AVI has no timestamps to reorder B-frames with
            if options:
                self.stream.options = options
            context.open()  # fails here, before any frame, on a bad combination
            unknown = sorted(context.options or {})
        except Exception as err:
            self._discard()
            raise ValueError(
                f"cannot encode {codec} / {pix_fmt} at {width}x{height}, {self.rate} fps into "
                f"{os.path.basename(path)} ({err}); choose another --fps, --codec or --pix-fmt"
            ) from None
        if unknown:
            self._discard()
            raise ValueError(
                f"--codec-option: the {context.name} encoder has no option {', '.join(map(repr, unknown))}"
            )
        self.extra: List[list] = []  # copied streams: [input stream, output stream, offset, queued packets]

    @staticmethod
    def _muxer_for(path: str) -> str:
        return {
            ".mp4": "mp4",
            ".mkv": "matroska",
            ".mov": "mov",
            ".avi": "avi",
            ".webm": "webm",
            ".gif": "gif",
            ".ts": "mpegts",
            ".mts": "mpegts",
            ".flv": "flv",
            ".mpg": "mpeg",
            ".mpeg": "mpeg",
            ".wmv": "asf",
            ".ogv": "ogg",
            ".y4m": "yuv4mpegpipe",
        }.get(os.path.splitext(path)[1].lower(), "matroska")

    def _discard(self) -> None:
        if self.copier is not None:
            self.copier.container.close()
            self.copier = None
        try:
            self.container.close()
        except Exception:  # closing a container that failed part way may raise again
            pass
        if not self.memory and os.path.exists(self.path):
            os.remove(self.path)

    def to_frame(self, frame):
        """An av.VideoFrame in the output's pixel format and colour."""
        av = _av()
        if isinstance(frame, Tensor):
            array = frame.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            alpha = array.shape[2] == 4
            if self.pix_fmt == "pal8":
                if not alpha:
                    array = np.concatenate((array, np.ones_like(array[..., :1])), 2)
                return _palette_frame((array * 255.0).round().astype(np.uint8))
            layout = _planar_yuv(self.pix_fmt, array.shape[1], array.shape[0])
            if layout is not None:
                return _rgb_to_yuv(array, self.colour, self.pix_fmt, layout)
            deep = self.deep
            scale, dtype = (65535.0, np.uint16) if deep else (255.0, np.uint8)
            frame = av.VideoFrame.from_ndarray((array * scale).round().astype(dtype), format=_rgb_format(alpha, deep))
            source_range, source_matrix = _JPEG, self.colour.matrix
        else:
            if frame.format.name == self.pix_fmt:
                return frame
            if self.pix_fmt == "pal8":
                return _palette_frame(frame.to_ndarray(format="rgba"))
            source = Colour.of(frame)
            source_range, source_matrix = source.range_for(frame.format.name), source.matrix
        target_range = self.colour.range_for(self.pix_fmt) if is_yuv(self.pix_fmt) else _JPEG
        out = frame.reformat(
            format=self.pix_fmt,
            src_colorspace=source_matrix,
            dst_colorspace=self.colour.matrix,
            src_color_range=source_range,
            dst_color_range=target_range,
            interpolation="BICUBIC",
        )
        return out

    def write(self, frame, time: Fraction) -> None:
        """Appends a frame at time (seconds from the start; later than the previous frame's)."""
        av = _av()
        ticks = Fraction(time) / self.time_base
        if ticks.denominator != 1:
            raise ValueError(f"frame time {time} s is not a whole number of the time base {self.time_base}")
        pts = int(ticks)
        if self.last_pts is not None and pts <= self.last_pts:
            raise ValueError(f"frame times must increase: {time} s after {self.last_pts * self.time_base} s")
        if self.copier is not None:
            self.copier.feed(Fraction(time))
        self.flush_extra(Fraction(time))
        out = self.to_frame(frame)
        out.pts, out.time_base = pts, self.time_base
        self.colour.tag(out, self.pix_fmt)
        out.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose, not the source's type
        for packet in self.stream.encode(out):
            self.container.mux(packet)
        self.last_pts = pts
        self.count += 1

    # --- other streams (audio, subtitles), copied as packets --------------------------------------------

    def copy_stream(self, source_stream, offset: Fraction) -> bool:
        """Adds an output stream copying source_stream's packets as they are; False (nothing added) if
        this container cannot hold its codec. offset: the input time that becomes 0 in the output."""
        try:
            probe = av_probe_copy(self.container.format.name, source_stream)
        except Exception:  # any refusal from the muxer: not holdable
            probe = False
        if not probe:
            return False
        out = self.container.add_stream_from_template(source_stream)
        self.extra.append([source_stream, out, offset, []])
        return True

    def queue(self, packet, entry) -> None:
        entry[3].append(packet)

    def flush_extra(self, until: Optional[Fraction]) -> None:
        """Muxes the queued packets of copied streams whose time is at most until (all with None)."""
        for entry in self.extra:
            source, out, offset, pending = entry
            keep = []
            for packet in pending:
                time = (packet.pts if packet.pts is not None else packet.dts or 0) * packet.time_base - offset
                if until is None or time <= until:
                    shift = round(offset / packet.time_base)
                    if packet.pts is not None:
                        packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                    packet.stream = out
                    self.container.mux(packet)
                else:
                    keep.append(packet)
            entry[3] = keep

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        if self.copier is not None:
            self.copier.close()
        self.flush_extra(None)
        self.container.close()


def verify(path: str, times: List[Fraction], input_format: Optional[str] = None) -> None:
    """Reads a written file's video packets back (no decoding): ValueError unless it holds one frame per
    planned time, in strictly increasing order, each within 2 ms (or its time base) of the plan."""
    av = _av()
    with av.open(path, format=input_format) as container:
        stream = container.streams.video[0]
        base = Fraction(stream.time_base)
        stamps = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
    stamps.sort()
    tolerance = max(base, Fraction(1, 500))
    found = [(s - stamps[0]) * base for s in stamps] if stamps else []
    if len(found) != len(times) or len(set(stamps)) != len(stamps):
        raise ValueError(f"{path} was written with {len(found)} frames, not {len(times)}; it was removed")
    for planned, got in zip(times, found):
        if abs(planned - got) > tolerance:
            raise ValueError(
                f"{path} holds a frame at {float(got):.6f} s where {float(planned):.6f} s was written; it was removed"
            )


def av_probe_copy(muxer: str, source_stream) -> bool:
    """Whether a muxer accepts a stream copied from source_stream (its header is written in memory)."""
    av = _av()
    with av.open(io.BytesIO(), "w", format=muxer) as probe:
        probe.add_stream_from_template(source_stream)
        probe.start_encoding()
    return True


class StreamCopier:
    """The non-video streams of an input (audio, subtitles) copied into a VideoWriter's file: packets
    as they are where the container holds their codec, audio re-encoded where not (AUDIO_FALLBACK),
    anything else left out with a warning. ``notes`` says what happened to each stream."""

    def __init__(self, path: str, writer: VideoWriter, offset: Fraction, audio: bool, input_format=None):
        av = _av()
        self.notes: List[str] = []
        self.writer, self.offset = writer, offset
        self.container = av.open(path, format=input_format)
        self.copied, self.encoders = [], {}
        for stream in self.container.streams:
            if stream.type == "video":
                continue
            kind = stream.type
            name = getattr(stream.codec_context, "name", None) or "unknown"
            if kind == "audio" and not audio:
                self.notes.append(f"audio ({name}) left out (--no-audio)")
                continue
            if writer.extension in NO_AUDIO:
                self.notes.append(f"warning: {kind} ({name}) left out: {writer.extension} files hold no {kind}")
                continue
            if writer.copy_stream(stream, offset):
                self.copied.append(stream)
                self.notes.append(f"{kind} ({name}) copied")
            elif kind == "audio" and writer.extension in AUDIO_FALLBACK:
                encoder = AUDIO_FALLBACK[writer.extension]
                try:
                    out = writer.container.add_stream(encoder, rate=stream.codec_context.sample_rate)
                    out.layout = stream.codec_context.layout
                    out.time_base = Fraction(1, stream.codec_context.sample_rate)
                except Exception as err:  # the fallback encoder is missing in this build
                    self.notes.append(f"warning: audio ({name}) left out: {writer.extension} cannot hold it ({err})")
                    continue
                self.copied.append(stream)
                self.encoders[stream.index] = out
                self.notes.append(f"audio ({name}) re-encoded to {encoder}: {writer.extension} cannot hold {name}")
            else:
                self.notes.append(f"warning: {kind} ({name}) left out: {writer.extension} files cannot hold it")
        self.packets = self.container.demux(self.copied) if self.copied else iter(())
        self.done = not self.copied

    def feed(self, until: Optional[Fraction]) -> None:
        """Queues the input's packets up to time until (seconds in the output; all with None)."""
        if self.done:
            return
        entries = {entry[0].index: entry for entry in self.writer.extra}
        for packet in self.packets:
            if packet.size == 0 and packet.pts is None:
                continue
            index = packet.stream.index
            if index in self.encoders:
                for frame in packet.decode():
                    start = round(self.offset * frame.sample_rate)
                    if frame.pts is not None:
                        frame.pts = int(frame.pts * frame.time_base * frame.sample_rate) - start
                        frame.time_base = Fraction(1, frame.sample_rate)
                        if frame.pts < 0:
                            continue
                    for out_packet in self.encoders[index].encode(frame):
                        self.writer.container.mux(out_packet)
            else:
                self.writer.queue(packet, entries[index])
            stamp = packet.pts if packet.pts is not None else packet.dts
            if until is not None and stamp is not None and stamp * packet.time_base - self.offset > until:
                return
        self.done = True

    def close(self) -> None:
        self.feed(None)
        for out in self.encoders.values():
            for packet in out.encode():
                self.writer.container.mux(packet)
        self.container.close()


def display_rotation(path: str) -> int:
    """The rotation in degrees, counter-clockwise, that players apply to the first video stream of
    path (its display matrix, as PyAV's ``VideoFrame.rotation`` reads it from the first frame);
    0 when there is none or the file cannot be read (the reader reports that itself)."""
    av = _av()
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                return int(round(getattr(frame, "rotation", 0) or 0)) % 360
    except Exception:  # av.error.*: VideoReader names the problem
        return 0
    return 0
