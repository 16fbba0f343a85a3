"""Interpolate frames: a pair of images, a folder of frames, or a video file.

    vfi-interpolate A.png B.png -o MID.png [--t 0.5]
    vfi-interpolate FRAMES_DIR -o OUT_DIR --factor 4
    vfi-interpolate FRAMES_DIR -o OUT_DIR --fps 60 --input-fps 24
    vfi-interpolate clip.mp4 -o out.mp4 --fps 60          (or --factor N)

Without --checkpoint the classical method runs: OpenCV's DIS optical flow, then
vfi_ops' flow projection and warping (--method classical; no weights needed).
With --checkpoint a model trained by vfi-train runs instead.

Sequences (a folder of frames sorted by name, or a video) get a new frame rate:
--factor N puts N - 1 frames between each pair (three frames with --factor 3
give 7); --fps R places each output frame at its own time, and t between its
two source frames, keeping source frames exactly where they fall. The output
runs from the first source frame to the last. Folders are numbered 000000,
000001, ... in the first frame's file format; videos keep the input's codec,
pixel format and bits per frame unless --codec, --pix-fmt or --codec-option say
otherwise (audio is not copied). Images keep their mode (grey, palette, 16-bit,
alpha; see vfi_ops.models.images). Every option is checked before any work, and
outputs never replace inputs (nor existing files, without --overwrite).

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
from typing import List, Optional

import torch
from torch import Tensor

from . import cli
from .images import IMAGE_EXTENSIONS, ImageFormat, file_format, image_size, output_mode, read_frame, write_frame
from .tiles import NonFiniteOutputError, interpolate, tile_starts  # noqa: F401  (tile_starts: this module's interface)
from .timeline import between, ends_on_source, output_count, parse_rate
from .video import VIDEO_EXTENSIONS, VideoReader, VideoWriter, check_encoder, display_rotation, is_video_path

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
        "inputs", nargs="*", metavar="INPUT", help="two images A B, a folder of frames, or a video file"
    )
    parser.add_argument("--frames", metavar="DIR", help="a folder of frames (the same as giving it as INPUT)")
    parser.add_argument(
        "-o", "--output", required=True, help="output image (for A B), folder (for a folder of frames) or video file"
    )
    parser.add_argument(
        "--t",
        type=cli.real(0, 1, True, True),
        help="A B: time of the output frame in (0, 1) between A (0) and B (1); default 0.5",
    )
    parser.add_argument(
        "--factor", type=cli.integer(2), help="sequences: multiply the frame rate by this integer >= 2 (default 2)"
    )
    parser.add_argument("--fps", help="sequences: the output frame rate, e.g. 60, 59.94 or 60000/1001")
    parser.add_argument("--input-fps", help="folders with --fps: the frame rate of the input frames")
    parser.add_argument(
        "--method",
        choices=("classical", "model"),
        help="classical: DIS optical flow and vfi_ops (default without --checkpoint); model: the --checkpoint's model",
    )
    parser.add_argument("--checkpoint", help="a model trained by vfi-train")
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
        choices=("projection", "softsplat"),
        help="classical: flow projection and backward warping (default), or softmax splatting of both frames",
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
        kind = "folder" if os.path.isdir(inputs[0]) else "video" if is_video_path(inputs[0]) else None
        if kind is None:
            if not os.path.exists(inputs[0]):
                raise FileNotFoundError(f"no such file or folder: {inputs[0]}")
            parser.error(
                f"one input must be a folder of frames or a video ({', '.join(VIDEO_EXTENSIONS)}); "
                f"for images give two, A B"
            )
    else:
        parser.error("give two images A B, a folder of frames, or a video file")
    args.inputs = inputs

    sequence = kind != "pair"
    for option, value, wanted in (
        ("--t", args.t, not sequence),
        ("--factor", args.factor, sequence),
        ("--fps", args.fps, sequence),
        ("--input-fps", args.input_fps, kind == "folder"),
        ("--codec", args.codec, kind == "video"),
        ("--pix-fmt", args.pix_fmt, kind == "video"),
        ("--codec-option", args.codec_option, kind == "video"),
    ):
        if value not in (None, []) and not wanted:
            parser.error(f"{option} does not apply to {'a pair of images' if kind == 'pair' else f'a {kind}'}")
    if args.factor is not None and args.fps is not None:
        parser.error("give --factor or --fps, not both")
    if args.fps is not None:
        args.fps = parse_rate(args.fps, "--fps")
    if args.input_fps is not None:
        args.input_fps = parse_rate(args.input_fps, "--input-fps")
    if kind == "folder" and args.fps is not None and args.input_fps is None:
        parser.error("--fps on a folder of frames needs --input-fps (the frames' own rate)")
    if kind == "folder" and args.input_fps is not None and args.fps is None:
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
    if kind == "pair":
        for path in inputs:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such image: {path}")
        if os.path.isdir(out):
            parser.error(f"-o {out} is a folder; give a file name")
        if not os.path.splitext(out)[1] or file_format(out) is None:
            parser.error(f"-o {out}: give an image file name with an extension ({', '.join(IMAGE_EXTENSIONS)})")
        cli.check_output_file(out, "-o", args.overwrite, inputs)
    elif kind == "folder":
        if os.path.exists(out) and not os.path.isdir(out):
            parser.error(f"-o {out} is a file; for a folder of frames give an output folder")
        if cli.same_path(out, inputs[0]):
            parser.error(f"-o {out} is the input folder; writing there would replace its frames")
        if os.path.isdir(out) and os.listdir(out) and not args.overwrite:
            parser.error(f"-o {out} is not empty; pass --overwrite to write frames into it")
    else:
        if os.path.isdir(out):
            parser.error(f"-o {out} is a folder; give a video file name")
        if not is_video_path(out):
            parser.error(f"-o {out}: give a video file name ({', '.join(VIDEO_EXTENSIONS)})")
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
            args.warp or "projection",
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


def run_folder(args, model_factory) -> str:
    paths = frame_paths(args.inputs[0])
    check_same_size(paths)
    source_rate, output_rate = (args.input_fps, args.fps) if args.fps else (1, args.factor or 2)
    extension = os.path.splitext(paths[0])[1].lower()
    first, out_fmt = read_frame(paths[0])
    mode = output_mode(out_fmt.mode, "x" + extension)
    run = Interpolator(model_factory(), args.device, args.tile, args.overlap)
    os.makedirs(args.output, exist_ok=True)
    counts = {"source": 0, "interpolated": 0}
    started = time.perf_counter()

    def keep_source(j: int, path: str, frame: Tensor, fmt: ImageFormat) -> None:
        target = os.path.join(args.output, f"{j:06d}{extension}")
        if os.path.splitext(path)[1].lower() == extension and fmt == out_fmt and not fmt.reoriented:
            shutil.copyfile(path, target)  # exactly the source file
        else:
            write_frame(target, frame, out_fmt)
        counts["source"] += 1

    total = output_count(len(paths), source_rate, output_rate)
    with progress(total) as bar:
        current, fmt = first, out_fmt
        for i in range(len(paths) - 1):
            following, following_fmt = read_frame(paths[i + 1])
            slots = between(i, source_rate, output_rate)
            if slots and slots[0][1] == 0:
                keep_source(slots[0][0], paths[i], current, fmt)
                bar.update(1)
                slots = slots[1:]
            frames = run(current, following, [float(t) for _, t in slots])
            for (j, _), frame in zip(slots, frames):
                write_frame(os.path.join(args.output, f"{j:06d}{extension}"), frame, out_fmt)
                counts["interpolated"] += 1
                bar.update(1)
            current, fmt = following, following_fmt
        if ends_on_source(len(paths), source_rate, output_rate):
            keep_source(total - 1, paths[-1], current, fmt)
            bar.update(1)
    elapsed = time.perf_counter() - started
    written = counts["source"] + counts["interpolated"]
    rate = f" at {output_rate} fps" if args.fps else f" (x{output_rate})"
    note = "" if mode == out_fmt.mode else f", mode {mode}"
    return (
        f"wrote {written} frames ({counts['interpolated']} interpolated, {counts['source']} source{note}){rate} "
        f"to {args.output} in {elapsed:.1f} s ({written / max(elapsed, 1e-9):.1f} frames/s)"
    )


def run_video(args, model_factory) -> str:
    reader = VideoReader(args.inputs[0])
    writer = None
    try:
        codec, pix_fmt = args.codec or reader.codec, args.pix_fmt or reader.pix_fmt
        check_encoder(codec, pix_fmt)
        output_rate = args.fps if args.fps is not None else reader.rate * (args.factor or 2)
        frames = iter(reader)
        first = next(frames, None)
        if first is None:
            raise ValueError(f"{args.inputs[0]} has no video frames")
        run = Interpolator(model_factory(), args.device, args.tile, args.overlap)
        bit_rate = None
        if reader.bit_rate and not args.codec_option and codec == reader.codec:
            bit_rate = int(reader.bit_rate * output_rate / reader.rate)  # the input's bits per frame
        writer = VideoWriter(
            args.output, codec, pix_fmt, output_rate, reader.width, reader.height, bit_rate, args.codec_option
        )
        counts = {"source": 0, "interpolated": 0}
        started = time.perf_counter()
        total = output_count(reader.frames, reader.rate, output_rate) if reader.frames else None
        with progress(total) as bar:
            (current_av, current), i = first, 0
            for following_av, following in frames:
                slots = between(i, reader.rate, output_rate)
                if slots and slots[0][1] == 0:
                    writer.write(current_av)  # the decoded source frame itself
                    counts["source"] += 1
                    bar.update(1)
                    slots = slots[1:]
                for frame in run(current, following, [float(t) for _, t in slots]):
                    writer.write(frame)
                    counts["interpolated"] += 1
                    bar.update(1)
                (current_av, current), i = (following_av, following), i + 1
            if ends_on_source(i + 1, reader.rate, output_rate):
                writer.write(current_av)
                counts["source"] += 1
                bar.update(1)
        writer.close()
        writer = None
    finally:
        if writer is not None:  # stopped part way: no half-written video is left behind
            writer.container.close()
            if os.path.exists(args.output):
                os.remove(args.output)
        reader.close()
    elapsed = time.perf_counter() - started
    written = counts["source"] + counts["interpolated"]
    return (
        f"wrote {written} frames ({counts['interpolated']} interpolated, {counts['source']} source) at "
        f"{output_rate} fps, {codec} {pix_fmt}, to {args.output} in {elapsed:.1f} s "
        f"({written / max(elapsed, 1e-9):.1f} frames/s)"
    )


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

        summary = {"pair": run_pair, "folder": run_folder, "video": run_video}[kind](args, model_factory)
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
