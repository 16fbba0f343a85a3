"""Video files through PyAV (FFmpeg), streamed: frames are decoded and encoded one at a time.

Decoded frames become float32 RGB ``[3, H, W]`` in [0, 1]: 8-bit pixel
formats through rgb24, deeper ones (e.g. yuv420p10le) through rgb48le, so no
precision is lost. The writer encodes with the codec, pixel format and bits per
frame of the input unless told otherwise; source frames are passed to the
encoder as decoded (no round trip through RGB). Alpha in video is not kept.
Frame rates are taken as constant (the stream's average rate).
"""

import os
from fractions import Fraction
from typing import Dict, Iterator, Optional, Tuple

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
)


def _av():
    return require("av", "reading and writing video files")


def is_video_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def deep_pixel_format(pix_fmt: str) -> bool:
    """Whether a pixel format has more than 8 bits per component."""
    av = _av()
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    except (ValueError, TypeError):
        return False


def check_encoder(codec: str, pix_fmt: Optional[str], option: str = "--codec") -> None:
    """Raises ValueError naming the option if FFmpeg has no encoder for codec, or it cannot take pix_fmt."""
    av = _av()
    try:
        encoder = av.Codec(codec, "w")
    except Exception:  # av raises its own error types for unknown codecs
        raise ValueError(
            f"{option}: FFmpeg (in PyAV) has no encoder for codec {codec!r}; choose one with --codec "
            "(e.g. libx264, libx265, libvpx-vp9, ffv1, mpeg4)"
        ) from None
    if pix_fmt is None:
        return
    formats = [f.name for f in (encoder.video_formats or [])]
    if formats and pix_fmt not in formats:
        raise ValueError(
            f"--pix-fmt: the {encoder.name} encoder cannot take pixel format {pix_fmt!r} "
            f"(it takes {', '.join(formats)})"
        )


class VideoReader:
    """The first video stream of a file: its properties, and its frames one at a time."""

    def __init__(self, path: str):
        av = _av()
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such video file: {path}")
        try:
            self.container = av.open(path)
        except Exception as err:  # av.error.* for unreadable files
            raise ValueError(f"cannot read {path} as a video ({err})") from None
        if not self.container.streams.video:
            self.container.close()
            raise ValueError(f"{path} has no video stream")
        self.path, self.stream = path, self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        context = self.stream.codec_context
        self.codec = context.name
        self.pix_fmt = context.pix_fmt or "yuv420p"
        self.width, self.height = context.width, context.height
        self.rate = Fraction(self.stream.average_rate or self.stream.guessed_rate or 0)
        self.frames = self.stream.frames  # 0 when the container does not say
        self.bit_rate = self.stream.bit_rate or context.bit_rate or None
        self.deep = deep_pixel_format(self.pix_fmt)
        if self.rate <= 0:
            self.container.close()
            raise ValueError(f"{path}: the video stream has no frame rate")

    def __iter__(self) -> Iterator[Tuple[object, Tensor]]:
        """(av.VideoFrame, [3, H, W] float32 RGB in [0, 1]) for each frame, in order."""
        av = _av()
        try:
            for frame in self.container.decode(self.stream):
                if self.deep:
                    rgb = frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
                else:
                    rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
                yield frame, torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
        except av.error.FFmpegError as err:
            raise ValueError(f"cannot decode {self.path} ({err})") from None

    def close(self) -> None:
        self.container.close()


class VideoWriter:
    """Encodes frames to a new file, at a constant rate."""

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
    ):
        av = _av()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        try:
            self.container = av.open(path, "w")
        except Exception as err:
            raise ValueError(f"-o: cannot write a video to {path} ({err})") from None
        try:
            self.stream = self.container.add_stream(codec, rate=rate)
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
            self.stream.time_base = 1 / Fraction(rate)
            if bit_rate:
                self.stream.bit_rate = int(bit_rate)
            if options:
                self.stream.options = dict(options)
            self.stream.codec_context.open()  # fails here, before any frame, on a bad combination
        except Exception as err:
            self.container.close()
            if os.path.exists(path):
                os.remove(path)
            raise ValueError(
                f"cannot encode {codec} / {pix_fmt} at {width}x{height}, {rate} fps into {path} "
                f"({err}); choose others with --codec / --pix-fmt"
            ) from None
        self.deep = deep_pixel_format(pix_fmt)
        self.count = 0

    def write(self, frame) -> None:
        """Appends a frame: an av.VideoFrame (encoded as it is), or a [3, H, W] tensor in [0, 1]."""
        av = _av()
        if isinstance(frame, Tensor):
            array = frame.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            if self.deep:
                frame = av.VideoFrame.from_ndarray((array * 65535.0).round().astype(np.uint16), format="rgb48le")
            else:
                frame = av.VideoFrame.from_ndarray((array * 255.0).round().astype(np.uint8), format="rgb24")
        frame.pts, frame.time_base = self.count, self.stream.time_base
        frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose, not the source's type
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
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
