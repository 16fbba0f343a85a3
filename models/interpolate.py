"""Interpolate frames: a pair of images, a folder of frames, a video file, or an animated GIF / PNG.

    vfi-interpolate A.png B.png -o MID.png [--t 0.5]
    vfi-interpolate FRAMES_DIR -o OUT_DIR --factor 4
    vfi-interpolate FRAMES_DIR -o OUT_DIR --fps 60 --input-fps 24
    vfi-interpolate clip.mp4 -o out.mp4 --fps 60          (or --factor N)
    vfi-interpolate FRAMES_DIR -o out.mp4 --fps 60        (frames to a video: frames at 30 fps)
    vfi-interpolate clip.mp4 -o OUT_DIR                   (a video to frames: PNG, 16-bit for deep video)
    vfi-interpolate anim.gif -o anim2.gif                 (also .apng / animated .png)

Without --checkpoint the classical method runs: OpenCV's optical flow (DIS
unless --flow) both ways, then vfi_ops' flow projection, warping and
occlusion-aware fusion (--method classical; no weights needed).
With --checkpoint a model trained by vfi-train runs instead.

Sequences get a new frame rate. --factor N puts N - 1 frames between each pair
(three frames with --factor 3 give 7); --fps R places output frame j at time
j / R and interpolates it between the two source frames around it, at t from
their times, keeping source frames exactly where they fall. The output runs
from the first source frame to the last (its duration is the input's within
one frame). Rates are exact fractions: 60000/1001 as given; a decimal that is
N x 1000/1001 to the digits given (29.97, 59.94, 23.976 or 23.98) means that
NTSC rate, any other decimal is read exactly (12.5 = 25/2).

Videos: frames keep their own timestamps. A variable-frame-rate input (phones,
screen captures) gives a constant-rate output with --fps, and with --factor N
(default 2) N - 1 frames between each pair at their own times (the output
stays variable-rate; AVI and GIF, which cannot hold that, need --fps). The
summary line says when the input was variable-rate. Output videos keep the
input's codec, pixel format, bits per frame and colour (matrix, range,
primaries and transfer: YUV is converted with the input's own BT.601 / 709 /
2020 matrix and range, and the tags are copied); 10-bit stays 10-bit.
--codec, --pix-fmt and --codec-option KEY=VALUE change them; unknown options
are refused by name. Encoders by container (each checked by writing and
reading back; others are refused, naming --codec and listing these):

    .mp4  libx264 (h264), libx265 (hevc), mpeg4, libvpx-vp9, mjpeg
    .mkv  libx264, libx265, mpeg4, libvpx-vp9, ffv1, prores_ks, prores, mjpeg
    .mov  libx264, libx265, mpeg4, prores_ks, prores, mjpeg
    .avi  mpeg4, mjpeg, ffv1, libx264 (without B-frames)
    .webm libvpx-vp9        .gif gif        .apng apng       .m4v as .mp4

GIF stores delays in hundredths of a second, so a GIF's rate must be 100 / k
(50, 25, 20, 12.5, 10, ...). Audio is copied packet for packet when the output
container holds its codec, re-encoded (AAC; Opus for .webm; MP3 for .avi) when
it does not, and left out with a warning for GIF / APNG; --no-audio leaves it
out. Subtitle and data streams are copied where the container takes them,
else left out with a warning; the summary lists what happened to each stream.
Transparency (GIF, APNG, RGBA frames, yuva formats) is interpolated like the
colour and kept where the output holds it.

Scene cuts: a pair of frames from two different shots is not interpolated
(that would blend the shots into ghosts); each output frame between them
repeats the nearer of the two. --scene-threshold sets the cut score from which
a pair counts as a cut (vfi_ops.models.scenes; 0 turns detection off); the
summary line gives the number of cuts found.

Folders are numbered 000000, 000001, ... in the first frame's file format.
Images keep their mode (grey, palette, 16-bit, alpha; see
vfi_ops.models.images). Every option is checked before any work (rates and
encoder settings too, before decoding starts), and outputs never replace
inputs (nor existing files, without --overwrite); a run that fails part way
leaves no half-written video, and a written video is read back (one frame per
planned time, in order, at that time) or removed with an error.

--tile N runs the model on overlapping N x N tiles (for frames that do not fit
in memory): equal to the untiled result wherever the model needs at most
overlap / 4 pixels of context (see vfi_ops.models.tiles).

Images are read upright: a photo's EXIF orientation (rotated or mirrored) is
applied on reading, and frames are written upright. A video's display rotation
(display matrix) is not applied: a warning says so, and the output holds the
frames as stored. A model output holding NaN or infinity is refused before it
is written (exit status 2), and so is a checkpoint whose weights do.
Needs the models extra: pip install 'vfi_ops[models]'.
"""

import argparse
import os
import shutil
import sys
import time
from fractions import Fraction
from typing import List, Optional

import torch
from torch import Tensor

from . import cli
from .images import IMAGE_EXTENSIONS, ImageFormat, file_format, image_size, output_mode, read_frame, write_frame
from .scenes import DEFAULT_THRESHOLD, CutDetector
from .tiles import NonFiniteOutputError, interpolate, tile_starts  # noqa: F401  (tile_starts: this module's interface)
from .timeline import grid, parse_rate, plan, subdivide, time_base
from .video import (
    CONSTANT_RATE_ONLY,
    SUPPORTED,
    VIDEO_EXTENSIONS,
    Colour,
    StreamCopier,
    VideoReader,
    VideoWriter,
    check_encoder,
    default_pix_fmt,
    display_rotation,
    encoder_name,
    has_alpha,
    is_animated_image,
    is_video_path,
    is_yuv,
    supported_codecs,
    verify,
)

MAX_BATCH = 8  # output frames between one pair computed in one model call
PROG = "vfi-interpolate"


def frame_paths(folder: str) -> List[str]:
    """The image files of a folder, sorted by name; errors for a missing folder or fewer than two."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no such folder: {folder}")
    paths = sorted(
        os.path.join(folder, n)
        for n in os.listdir(folder)
        if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, n))
    )
    if len(paths) < 2:
        raise ValueError(f"{folder} holds fewer than two frames ({', '.join(IMAGE_EXTENSIONS)})")
    return paths


def check_same_size(paths: List[str]) -> None:
    """Reads every file's header: errors name an unreadable file or the first of another size."""
    size = image_size(paths[0])
    for path in paths[1:]:
        other = image_size(path)
        if other != size:
            raise ValueError(
                f"frames of different sizes: {paths[0]} is {size[1]}x{size[0]}, {path} is {other[1]}x{other[0]}"
            )


class Interpolator:
    """Runs the model on [C, H, W] frames (C = 3, or 4 with alpha), several t at a time."""

    def __init__(self, model, device, tile, overlap):
        self.model, self.device, self.tile, self.overlap = model, device, tile, overlap

    def _run(self, a: Tensor, b: Tensor, times: List[float]) -> Tensor:
        out = []
        for start in range(0, len(times), MAX_BATCH):
            chunk = times[start : start + MAX_BATCH]
            I0 = a[None].to(self.device).expand(len(chunk), -1, -1, -1)  # one pair: one flow estimate
            I1 = b[None].to(self.device).expand(len(chunk), -1, -1, -1)
            out.append(
                interpolate(self.model, I0, I1, torch.tensor(chunk, dtype=torch.float64), self.tile, self.overlap).cpu()
            )
        return torch.cat(out)

    def __call__(self, A: Tensor, B: Tensor, times: List[float]) -> List[Tensor]:
        if not times:
            return []
        rgb = self._run(A[:3], B[:3], times)
        if A.shape[0] == 3 and B.shape[0] == 3:
            return list(rgb)
        alpha_a = A[3:] if A.shape[0] == 4 else torch.ones_like(A[:1])
        alpha_b = B[3:] if B.shape[0] == 4 else torch.ones_like(B[:1])
        if torch.equal(alpha_a, alpha_b):  # e.g. opaque: nothing moves
            alpha = alpha_a.expand(len(times), 1, *A.shape[1:])
        else:  # the alpha plane as a grey frame, through the same model
            alpha = self._run(alpha_a.expand(3, -1, -1), alpha_b.expand(3, -1, -1), times).mean(1, keepdim=True)
        return list(torch.cat((rgb, alpha), 1))


def progress(total: Optional[int]):
    from .extras import require

    tqdm = require("tqdm", "the progress bar")
    return tqdm.tqdm(total=total, unit="frame", dynamic_ncols=True, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="two images A B, a folder of frames, or a video file (or animated GIF / PNG)",
    )
    parser.add_argument("--frames", metavar="DIR", help="a folder of frames (the same as giving it as INPUT)")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output image (for A B); for sequences a video file (by its extension) or a folder of frames",
    )
    parser.add_argument(
        "--t",
        type=cli.real(0, 1, True, True),
        help="A B: time of the output frame in (0, 1) between A (0) and B (1); default 0.5",
    )
    parser.add_argument(
        "--factor", type=cli.integer(2), help="sequences: multiply the frame rate by this integer >= 2 (default 2)"
    )
    parser.add_argument(
        "--fps", help="sequences: the output frame rate, e.g. 60, 59.94 or 60000/1001 (exact; see above)"
    )
    parser.add_argument(
        "--input-fps",
        help="folders: the frame rate of the input frames (needed with --fps into a folder; into a video, default --fps / --factor)",
    )
    parser.add_argument(
        "--method",
        choices=("classical", "model"),
        help="classical: optical flow and vfi_ops (default without --checkpoint); model: the --checkpoint's model",
    )
    parser.add_argument("--checkpoint", help="a model trained by vfi-train")
    parser.add_argument(
        "--flow",
        choices=("dis", "farneback", "deepflow", "dualtvl1"),
        help="classical: the optical flow (default dis: the fastest; deepflow and dualtvl1 need "
        "opencv-contrib-python-headless in place of opencv-python-headless, and take several seconds per 1080p pair)",
    )
    parser.add_argument(
        "--flow-scale",
        type=cli.real(0.25, 1),
        help="classical: estimate the flow on frames scaled by this factor, 0.25 to 1, then upsample it "
        "(faster on large frames; default 1 up to 1920x1088 pixels, 0.5 up to 4K UHD, 0.25 above)",
    )
    parser.add_argument(
        "--dis-preset", choices=("ultrafast", "fast", "medium"), help="classical: DIS preset (default medium)"
    )
    parser.add_argument(
        "--dis-finest-scale",
        type=cli.integer(0),
        help="classical: finest DIS pyramid level, 0 = full resolution (default 0)",
    )
    parser.add_argument(
        "--warp",
        choices=("fusion", "projection", "softsplat"),
        help="classical: both flows projected and warped, blended by visibility (fusion, default); one flow "
        "projected, blended by t (projection: half the flow time); or softmax splatting of both frames",
    )
    parser.add_argument(
        "--keep", type=cli.real(0, 1), help="UGSP checkpoints: fraction S_t of decoder positions computed"
    )
    parser.add_argument("--dense", action="store_true", help="UGSP checkpoints: compute every position")
    parser.add_argument(
        "--tile", type=cli.integer(1), help="run on tiles of this size (frames that do not fit in memory)"
    )
    parser.add_argument("--overlap", type=cli.integer(0), help="with --tile: tile overlap in pixels (default 64)")
    parser.add_argument("--codec", help="videos: the output codec (default: the input's), e.g. libx264")
    parser.add_argument("--pix-fmt", help="videos: the output pixel format (default: the input's), e.g. yuv420p")
    parser.add_argument(
        "--codec-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="videos: an encoder option, e.g. crf=18 (repeatable)",
    )
    parser.add_argument(
        "--no-audio", action="store_true", help="videos: leave the audio out (default: copy it, see above)"
    )
    parser.add_argument(
        "--scene-threshold",
        type=cli.real(0, 1),
        help=f"sequences: cut score in [0, 1] from which a pair counts as a scene cut, whose nearer frame is "
        f"repeated instead of interpolating (default {DEFAULT_THRESHOLD}; 0: no detection)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file or frames")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="where the model runs: cpu, cuda or cuda:N (default: cuda where available, else cpu)",
    )
    return parser


def check_arguments(parser, args) -> str:
    """Every option, before any work: returns the kind of job, "pair", "folder" or "video"."""
    inputs = list(args.inputs) + ([args.frames] if args.frames else [])
    if args.frames and args.inputs:
        parser.error("give the folder either as INPUT or as --frames, not both")
    if len(inputs) == 2:
        kind = "pair"
        for path in inputs:
            if os.path.isdir(path) or is_video_path(path):
                parser.error(f"two inputs must be two images; {path} is not (give a folder or a video alone)")
    elif len(inputs) == 1:
        kind = "folder" if os.path.isdir(inputs[0]) else None
        if kind is None and (is_video_path(inputs[0]) or is_animated_image(inputs[0])):
            kind = "video"
        if kind is None:
            if not os.path.exists(inputs[0]):
                raise FileNotFoundError(f"no such file or folder: {inputs[0]}")
            parser.error(
                f"one input must be a folder of frames or a video ({', '.join(VIDEO_EXTENSIONS)}); "
                f"for images give two, A B"
            )
    else:
        parser.error("give two images A B, a folder of frames, or a video file")
    args.inputs, args.kind = inputs, kind

    sequence = kind != "pair"
    args.out_video = sequence and is_video_path(args.output)
    target = "a pair of images" if kind == "pair" else f"a {kind}" + ("" if args.out_video else " written as frames")
    for option, value, wanted in (
        ("--t", args.t, not sequence),
        ("--factor", args.factor, sequence),
        ("--fps", args.fps, sequence),
        ("--input-fps", args.input_fps, kind == "folder"),
        ("--codec", args.codec, args.out_video),
        ("--pix-fmt", args.pix_fmt, args.out_video),
        ("--codec-option", args.codec_option, args.out_video),
        ("--no-audio", args.no_audio or None, args.out_video and kind == "video"),
        ("--scene-threshold", args.scene_threshold, sequence),
    ):
        if value not in (None, []) and not wanted:
            parser.error(f"{option} does not apply to {target}")
    # A folder written as a video may give its frames' rate as --fps / --factor (the frames have none).
    frames_to_video = kind == "folder" and args.out_video and args.input_fps is None
    if args.factor is not None and args.fps is not None and not frames_to_video:
        parser.error("give --factor or --fps, not both")
    if args.fps is not None:
        args.fps = parse_rate(args.fps, "--fps")
    if args.input_fps is not None:
        args.input_fps = parse_rate(args.input_fps, "--input-fps")
    if kind == "folder" and args.out_video and args.fps is None and args.input_fps is None:
        parser.error("a folder of frames written as a video needs a rate: --fps (output) or --input-fps (frames)")
    if kind == "folder" and not args.out_video and args.fps is not None and args.input_fps is None:
        parser.error("--fps on a folder of frames needs --input-fps (the frames' own rate)")
    if kind == "folder" and not args.out_video and args.input_fps is not None and args.fps is None:
        parser.error("--input-fps applies with --fps")
    options = {}
    for item in args.codec_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--codec-option must be KEY=VALUE, but got {item!r}")
        options[key] = value
    args.codec_option = options

    args.method = args.method or ("model" if args.checkpoint else "classical")
    if args.method == "classical":
        for option, value in (
            ("--checkpoint", args.checkpoint),
            ("--keep", args.keep),
            ("--dense", args.dense or None),
        ):
            if value is not None:
                parser.error(f"{option} applies to --method model")
    else:
        if not args.checkpoint:
            parser.error("--method model needs --checkpoint")
        for option, value in (
            ("--dis-preset", args.dis_preset),
            ("--dis-finest-scale", args.dis_finest_scale),
            ("--warp", args.warp),
            ("--flow", args.flow),
            ("--flow-scale", args.flow_scale),
        ):
            if value is not None:
                parser.error(f"{option} applies to --method classical")
        if args.keep is not None and args.dense:
            parser.error("give --keep or --dense, not both")
    if args.overlap is not None and args.tile is None:
        parser.error("--overlap applies with --tile")
    args.overlap = 64 if args.overlap is None else args.overlap
    if args.tile is not None and args.overlap >= args.tile:
        parser.error(f"--overlap ({args.overlap}) must be smaller than --tile ({args.tile})")
    args.device = cli.check_device(args.device)
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(f"--checkpoint: no such checkpoint: {args.checkpoint}")

    out = args.output
    frames_out = sequence and not args.out_video
    if kind == "pair":
        for path in inputs:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such image: {path}")
        if os.path.isdir(out):
            parser.error(f"-o {out} is a folder; give a file name")
        if not os.path.splitext(out)[1] or file_format(out) is None:
            parser.error(f"-o {out}: give an image file name with an extension ({', '.join(IMAGE_EXTENSIONS)})")
        cli.check_output_file(out, "-o", args.overwrite, inputs)
    elif frames_out:
        if kind == "video" and os.path.splitext(out)[1] and not os.path.isdir(out):
            parser.error(
                f"-o {out}: give a video file name ({', '.join(VIDEO_EXTENSIONS)}), or a folder (no extension) "
                "for frames"
            )
        if os.path.exists(out) and not os.path.isdir(out):
            parser.error(f"-o {out} is a file; for a folder of frames give an output folder")
        if cli.same_path(out, inputs[0]):
            parser.error(f"-o {out} is the input folder; writing there would replace its frames")
        if os.path.isdir(out) and os.listdir(out) and not args.overwrite:
            parser.error(f"-o {out} is not empty; pass --overwrite to write frames into it")
    else:
        if os.path.isdir(out):
            parser.error(f"-o {out} is a folder; give a video file name")
        cli.check_output_file(out, "-o", args.overwrite, inputs)
        rotation = display_rotation(inputs[0])
        if rotation:
            print(
                f"{PROG}: warning: {inputs[0]} is tagged to display rotated by {rotation} degrees (its display "
                "matrix); the rotation is not applied and not copied: the output holds the frames as stored",
                file=sys.stderr,
            )
    return kind


def build_model(args):
    if args.method == "classical":
        from .classical import ClassicalFlow

        return ClassicalFlow(
            args.dis_preset or "medium",
            0 if args.dis_finest_scale is None else args.dis_finest_scale,
            args.warp or "fusion",
            flow=args.flow or "dis",
            flow_scale=args.flow_scale,
        )
    from .checkpoint import load_for_inference

    return load_for_inference(args.checkpoint, args.device, args.keep, args.dense)


def run_pair(args, model_factory) -> str:
    a_path, b_path = args.inputs
    check_same_size([a_path, b_path])
    A, fmt = read_frame(a_path)
    B, _ = read_frame(b_path)
    mode = output_mode(fmt.mode, args.output)
    run = Interpolator(model_factory(), args.device, args.tile, args.overlap)
    t = 0.5 if args.t is None else args.t
    started = time.perf_counter()
    frame = run(A, B, [t])[0]
    write_frame(args.output, frame, fmt)
    note = "" if mode == fmt.mode else f" (mode {mode}: the file format cannot hold {fmt.mode})"
    return f"wrote {args.output} at t = {t:g}{note} in {time.perf_counter() - started:.2f} s"


FOLDER_VIDEO_CODEC = {".avi": "mpeg4", ".webm": "libvpx-vp9", ".gif": "gif", ".apng": "apng"}  # else libx264


class FolderSource:
    """A folder of frames as a sequence: frames at i / rate (rate 1 for --factor alone)."""

    def __init__(self, folder: str, rate: Fraction):
        self.paths = frame_paths(folder)
        check_same_size(self.paths)
        self.rate, self.vfr = Fraction(rate), False
        self.times = [i / self.rate for i in range(len(self.paths))]
        self.extension = os.path.splitext(self.paths[0])[1].lower()
        self.first, self.format = read_frame(self.paths[0])
        self.alpha, self.deep = self.first.shape[0] == 4, self.format.mode in ("RGB;16", "RGBA;16", "I;16", "I")

    def __iter__(self):
        for i, path in enumerate(self.paths):
            frame, fmt = (self.first, self.format) if i == 0 else read_frame(path)
            yield self.times[i], (path, fmt), frame

    def close(self) -> None:
        pass


class VideoSource:
    """A video (or animated image) as a sequence: its frames at their own times."""

    def __init__(self, path: str):
        self.reader = VideoReader(path)
        self.times, self.rate, self.vfr = self.reader.times, self.reader.rate, self.reader.vfr
        self.alpha, self.deep = self.reader.alpha, self.reader.deep

    def __iter__(self):
        for when, frame, tensor, _ in self.reader:
            yield when, frame, tensor

    def close(self) -> None:
        self.reader.close()


class FolderSink:
    """Output frames numbered 000000, 000001, ... in a folder; source frames copied where their file
    and format are kept."""

    def __init__(self, folder: str, extension: str, fmt: ImageFormat):
        self.folder, self.extension, self.format = folder, extension, fmt
        os.makedirs(folder, exist_ok=True)
        self.count = 0

    def write(self, original, frame: Tensor, time) -> None:
        target = os.path.join(self.folder, f"{self.count:06d}{self.extension}")
        if isinstance(original, tuple) and os.path.splitext(original[0])[1].lower() == self.extension:
            if original[1] == self.format and not original[1].reoriented:
                shutil.copyfile(original[0], target)  # exactly the source file
                self.count += 1
                return
        write_frame(target, frame, self.format)
        self.count += 1

    def close(self) -> None:
        pass

    def discard(self) -> None:
        pass


class VideoSink:
    """Output frames encoded at their times (decoded source frames as they are)."""

    def __init__(self, writer: VideoWriter):
        self.writer = writer

    def write(self, original, frame: Tensor, time) -> None:
        # A decoded frame in the output's pixel format goes in as it is; any other is converted from RGB,
        # exactly as the new frames are, so that source and new frames match.
        same = original is not None and not isinstance(original, tuple) and original.format.name == self.writer.pix_fmt
        self.writer.write(original if same else frame, time)

    def close(self) -> None:
        self.writer.close()

    def discard(self) -> None:  # stopped part way: no half-written video is left behind
        self.writer._discard()


def convert(source, sink, run, rate: Optional[Fraction], factor: Optional[int], threshold: float, bar) -> dict:
    """Writes every output frame of source to sink: on the grid j / rate, or factor frames per pair;
    a pair that is a scene cut gets the nearer of its frames repeated instead of new ones."""
    counts = {"source": 0, "interpolated": 0, "repeated": 0, "cuts": 0}
    previous, is_cut = None, CutDetector(threshold)
    for when, original, frame in source:
        if previous is not None:
            start, a_original, a = previous
            if when <= start:  # a repeated timestamp: the later frame is dropped
                continue
            slots = grid(start, when, rate) if rate else subdivide(start, when, factor)
            if slots and slots[0][1] == 0:
                sink.write(a_original, a, slots[0][0])
                counts["source"] += 1
                bar.update(1)
                slots = slots[1:]
            cut = is_cut(a, frame)
            counts["cuts"] += cut
            if cut:
                for out_time, t in slots:
                    sink.write(*((a_original, a) if t < 0.5 else (original, frame)), out_time)
                    counts["repeated"] += 1
                    bar.update(1)
            elif slots:
                for (out_time, _), new in zip(slots, run(a, frame, [float(t) for _, t in slots])):
                    sink.write(None, new, out_time)
                    counts["interpolated"] += 1
                    bar.update(1)
        previous = (when, original, frame)
    if previous is not None and (not rate or (previous[0] * Fraction(rate)).denominator == 1):
        sink.write(previous[1], previous[2], previous[0])
        counts["source"] += 1
        bar.update(1)
    return counts


def output_codec(args, source, extension: str):
    """(encoder, pixel format) of a video output: --codec / --pix-fmt, else the input's (for video
    inputs), else a default for the container."""
    video_input = isinstance(source, VideoSource)
    if args.codec is None and video_input and encoder_name(source.reader.codec) in SUPPORTED.get(extension, ()):
        codec = source.reader.codec
    elif args.codec is None:
        codec = (
            FOLDER_VIDEO_CODEC.get(extension, "libx264")
            if not video_input
            else (supported_codecs(extension) or ["libx264"])[0]
        )
    else:
        codec = args.codec
    encoder = check_encoder(codec, args.pix_fmt, extension)
    if args.pix_fmt:
        return encoder, args.pix_fmt
    pix_fmt = source.reader.pix_fmt if video_input else ("rgba" if source.alpha else "rgb24")
    if video_input and source.alpha and not has_alpha(pix_fmt):
        pix_fmt = "rgba"  # e.g. GIF's palette with transparency
    return encoder, default_pix_fmt(encoder, pix_fmt)


def check_timing(extension: str, times: List[Fraction], variable: bool) -> None:
    """Output frame times a container cannot hold: refused naming --fps, before any work."""
    if not times:
        raise ValueError("the input gives no output frames")
    if extension in CONSTANT_RATE_ONLY and variable:
        raise ValueError(
            f"--fps: the input has a variable frame rate and {extension} files hold a constant rate only; "
            "give --fps for a constant-rate output"
        )
    if extension == ".gif":
        steps = [b - a for a, b in zip(times, times[1:])]
        if any((t * 100).denominator != 1 for t in times) or any(step < Fraction(2, 100) for step in steps):
            raise ValueError(
                "--fps: GIF frame delays are whole hundredths of a second, at least 2 (players slow shorter "
                "ones down), so a GIF's rate must be 100 / k for a whole k >= 2: 50, 100/3, 25, 20, 50/3, "
                "100/7, 12.5, 100/9, 10, ...; give one of these with --fps"
            )


def run_sequence(args, model_factory) -> str:
    folder_input = args.kind == "folder"
    threshold = DEFAULT_THRESHOLD if args.scene_threshold is None else args.scene_threshold
    if folder_input:
        source_rate = args.input_fps or (args.fps / (args.factor or 2) if args.fps and args.out_video else None) or 1
        source = FolderSource(args.inputs[0], source_rate)
        rate, factor = (args.fps if args.fps else source.rate * (args.factor or 2)), None
    else:
        source = VideoSource(args.inputs[0])
        if not source.times:
            source.close()
            raise ValueError(f"{args.inputs[0]} has no video frames")
        if args.fps is not None:
            rate, factor = args.fps, None
        elif source.vfr:
            rate, factor = None, args.factor or 2
        else:
            rate, factor = source.rate * (args.factor or 2), None
    sink = None
    try:
        times = plan(source.times, rate, factor)
        extension = os.path.splitext(args.output)[1].lower()
        notes = []
        if args.out_video:
            codec, pix_fmt = output_codec(args, source, extension)
            check_timing(extension, times, rate is None)
            mean_rate = rate if rate else (source.rate * factor).limit_denominator(1001000)
            bit_rate, colour = None, Colour(1, 1, 1, 13, pix_fmt)  # RGB frames (sRGB): written as BT.709
            if not folder_input:
                reader = source.reader
                if is_yuv(reader.pix_fmt):
                    colour = reader.colour()
                if reader.bit_rate and not args.codec_option and codec == encoder_name(reader.codec):
                    bit_rate = int(reader.bit_rate * mean_rate / reader.rate)  # the input's bits per frame
            height, width = (source.reader.height, source.reader.width) if not folder_input else source.first.shape[1:]
            writer = VideoWriter(
                args.output,
                codec,
                pix_fmt,
                mean_rate,
                width,
                height,
                bit_rate,
                args.codec_option,
                colour,
                None if rate else time_base(times),
            )
            sink = VideoSink(writer)
            if not folder_input:
                try:
                    start = source.reader.first_stamp * source.reader.time_base if source.reader.stamped else 0
                    writer.copier = StreamCopier(
                        args.inputs[0], writer, Fraction(start), not args.no_audio, source.reader.format
                    )
                    notes = writer.copier.notes
                except Exception as err:  # the input's other streams cannot be read: video only
                    notes = [f"warning: audio and other streams left out ({err})"]
            described = f"{codec} {pix_fmt}"
            if source.alpha and not has_alpha(pix_fmt):
                notes.append(
                    f"note: alpha left out: {codec} / {pix_fmt} has none (GIF, APNG or --pix-fmt with alpha keep it)"
                )
        else:
            if folder_input:
                extension, fmt = source.extension, source.format
            else:
                extension = ".png"
                fmt = ImageFormat(("RGBA" if source.alpha else "RGB") + (";16" if source.deep else ""))
            sink = FolderSink(args.output, extension, fmt)
            described = f"{extension[1:]} frames"
        run = Interpolator(model_factory(), args.device, args.tile, args.overlap)
        started = time.perf_counter()
        with progress(len(times)) as bar:
            counts = convert(source, sink, run, rate, factor, threshold, bar)
        sink.close()
        if args.out_video:  # read back: one frame per planned time, at that time
            verify(args.output, times, "apng" if extension == ".apng" else None)  # else removed, below
        sink = None
    finally:
        if sink is not None:
            sink.discard()
        source.close()
    elapsed = time.perf_counter() - started
    written = counts["source"] + counts["interpolated"] + counts["repeated"]
    if rate is None:
        timing = f"at the input's own times (variable rate, x{factor})"
    elif folder_input and not args.fps and not args.out_video:
        timing = f"(x{args.factor or 2})"
    else:
        timing = f"at {rate} fps"
    if not folder_input and source.vfr:
        timing += ", from a variable-frame-rate input"
    repeated = f", {counts['repeated']} repeated" if counts["repeated"] else ""
    cuts = f", {counts['cuts']} scene cuts" if threshold > 0 else ", scene cuts not looked for"
    mode = (
        ""
        if args.out_video or not folder_input or output_mode(fmt.mode, "x" + extension) == fmt.mode
        else (f", mode {output_mode(fmt.mode, 'x' + extension)}")
    )
    summary = (
        f"wrote {written} frames ({counts['interpolated']} interpolated, {counts['source']} source{repeated}{mode}) "
        f"{timing}{cuts}, {described}, to {args.output} in {elapsed:.1f} s ({written / max(elapsed, 1e-9):.1f} frames/s)"
    )
    return "\n".join([summary] + notes)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        kind = check_arguments(parser, args)
        model = []

        def model_factory():  # built after the inputs are checked, once
            if not model:
                model.append(build_model(args))
            return model[0]

        summary = (run_pair if kind == "pair" else run_sequence)(args, model_factory)
    except NonFiniteOutputError as err:
        source = f"the model of --checkpoint {args.checkpoint}" if args.checkpoint else "the classical method"
        print(
            f"{PROG}: {err}: {source} failed on {' and '.join(args.inputs)}; nothing more was written", file=sys.stderr
        )
        return 2
    except (FileNotFoundError, ValueError, TypeError, ImportError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
