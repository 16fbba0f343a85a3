"""vfi-interpolate on a real scene, as a user would run it, through several encoders and containers.

    python -m benchmarks.video_formats --frames DIR [--only libx264,ffv1]

The even frames of DIR (a folder of consecutive frames of one scene, sorted by
name) are encoded at 12 fps (GIF: 12.5) with each encoder / container below;
``vfi-interpolate IN -o OUT --factor 2`` (its defaults: the classical method,
the input's codec kept) doubles the rate, and the output is read back: its frame
count, whether its times are strictly increasing on the 24 fps grid, its
stated rate, and the PSNR (8-bit RGB, mean over frames) of the source frames it
re-encoded and of the odd frames it put back, each against the original frame.
"""

import argparse
import os
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import torch
from vfi_ops.models import video
from vfi_ops.models.images import IMAGE_EXTENSIONS, read_image

CASES = (  # (container, encoder, pixel format, encoder options)
    (".mp4", "libx264", "yuv420p", {"crf": "18"}),
    (".mkv", "libx265", "yuv420p", {"crf": "20", "x265-params": "log-level=error"}),
    (".avi", "mpeg4", "yuv420p", {"b": "4000000"}),
    (".webm", "libvpx-vp9", "yuv420p", {"crf": "24", "b": "0"}),
    (".mkv", "ffv1", "yuv444p", {}),
    (".mov", "prores_ks", "yuv422p10le", {}),
    (".avi", "mjpeg", "yuvj420p", {"b": "4000000"}),
    (".gif", "gif", "pal8", {}),
)


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, help="a folder of consecutive frames of one scene")
    parser.add_argument("--only", help="comma-separated encoders to run (default: all)")
    parser.add_argument("--work", default="video_formats_work", help="folder for the files made")
    args = parser.parse_args()
    names = sorted(n for n in os.listdir(args.frames) if n.lower().endswith(IMAGE_EXTENSIONS))
    frames = [read_image(os.path.join(args.frames, n)) for n in names]
    H, W = (s - s % 2 for s in frames[0].shape[1:])  # even sizes for 4:2:0
    frames = [f[:, :H, :W] for f in frames]
    originals = [(f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for f in frames]
    os.makedirs(args.work, exist_ok=True)
    print(
        "| container | encoder | pixel format | frames | times on the grid | rate | source frames dB | put back dB | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for ext, codec, pix_fmt, options in CASES:
        if args.only and codec not in args.only.split(","):
            continue
        if video.encoder_name(codec) != codec:
            print(f"| {ext} | {codec} | | | not in this FFmpeg build | | | | |")
            continue
        rate = Fraction(25, 2) if ext == ".gif" else Fraction(12)
        source, out = os.path.join(args.work, f"in_{codec}{ext}"), os.path.join(args.work, f"out_{codec}{ext}")
        for path in (source, out):
            if os.path.exists(path):
                os.remove(path)
        # BT.709, as HD video; AVI and GIF hold no colour tags, so those stay untagged (read as BT.601).
        colour = None if ext in (".avi", ".gif") else video.Colour(1, 1, 1, 1, pix_fmt)
        writer = video.VideoWriter(source, codec, pix_fmt, rate, W, H, options=options, colour=colour)
        for i, frame in enumerate(frames[0::2]):
            writer.write(frame, i / rate)
        writer.close()
        started = time.perf_counter()
        command = [sys.executable, "-m", "vfi_ops.models.interpolate", source, "-o", out, "--factor", "2"]
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if result.returncode:
            print(f"| {ext} | {codec} | {pix_fmt} | failed: {result.stderr.strip().splitlines()[-1]} | | | | | |")
            continue
        reader = video.VideoReader(out)
        decoded = [(t.permute(1, 2, 0).numpy()[..., :3] * 255).round().astype(np.uint8) for _, _, t, _ in reader]
        times = reader.times
        on_grid = all(abs(t - j / (2 * rate)) <= Fraction(1, 1000) for j, t in enumerate(times))
        stated = reader.stream.average_rate
        kept = np.mean([psnr8(decoded[j], originals[j]) for j in range(0, len(decoded), 2)])
        put_back = np.mean([psnr8(decoded[j], originals[j]) for j in range(1, len(decoded), 2)])
        print(
            f"| {ext} | {codec} | {reader.pix_fmt} | {len(decoded)} | {'yes' if on_grid else 'NO'} | {stated} "
            f"| {kept:.2f} | {put_back:.2f} | {elapsed:.0f} |",
            flush=True,
        )
        reader.close()


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
