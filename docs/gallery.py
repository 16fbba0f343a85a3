"""The docs' pictures, drawn from code at build time: what each op does, and the
classical interpolation of a synthetic pan.

    python docs/gallery.py OUT_DIR            # every picture, OUT_DIR/<name>.png
    python docs/gallery.py --readme docs/readme.png   # the README's picture

The docs build (docs/conf.py) runs :func:`render_all` into ``docs/_generated/gallery``,
so the pictures always show what the code does now. Every op of
``vfi_ops/_op_list.py`` needs an entry in :data:`PICTURES` (the build stops
without one). The frames are made here: a layered landscape (sky, mountains,
hills, trees) whose layers move at different speeds, as in a camera pan with
parallax. Nothing is read from disk or the network.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

# The checkout's vfi_ops (an editable install or an in-place build), as in docs/conf.py.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import vfi_ops  # noqa: E402
from vfi_ops._op_list import OPS  # noqa: E402

H, W = 144, 224  # every panel


# ----------------------------------------------------------------------- frames


def _noise(h, w, seed, octaves=5, base=4):
    """Smooth fractal noise in [0, 1], [1, 1, h, w]."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(1, 1, h, w)
    for o in range(octaves):
        n = base * 2**o
        coarse = torch.rand(1, 1, n, max(2, n * w // h), generator=g)
        out += F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False) / 2**o
    out -= out.min()
    return out / out.max()


def _ridge(w, seed, height, roughness):
    """A mountain ridge: one height (in rows) per column."""
    n = _noise(8, w, seed, octaves=4, base=2)[0, 0].mean(0)
    return height + roughness * (n - 0.5)


class Scene:
    """A landscape of four layers (colour [3, h, w], alpha [1, h, w]) and their
    speeds in pixels per unit of time: the pan moves near layers faster."""

    def __init__(self, h=H, w=W, margin=64, seed=1):
        self.h, self.w, self.margin = h, w, margin
        ww = w + 2 * margin
        ys = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1).expand(1, 1, h, ww)
        sky = torch.stack([0.35 + 0.3 * ys[0, 0] / h, 0.55 + 0.25 * ys[0, 0] / h, 0.9 + 0.0 * ys[0, 0]])
        clouds = _noise(h, ww, seed, octaves=5)[0].clamp(0.55, 1) - 0.55
        sky = (sky + 1.6 * clouds).clamp(0, 1)
        layers = [(sky, torch.ones(1, h, ww), 1.0)]
        for i, (height, rough, colour, speed, seed_i) in enumerate(
            [
                (0.45 * h, 40.0, (0.42, 0.45, 0.58), 4.0, seed + 1),
                (0.68 * h, 26.0, (0.28, 0.50, 0.22), 10.0, seed + 2),
            ]
        ):
            ridge = _ridge(ww, seed_i, height, rough)
            alpha = (ys[0] >= ridge.view(1, 1, ww)).float()
            texture = _noise(h, ww, seed_i + 10, octaves=6, base=8)[0]
            rgb = torch.tensor(colour).view(3, 1, 1) * (0.7 + 0.6 * texture)
            layers.append((rgb.clamp(0, 1), alpha, speed))
        # trees: dark crowns on trunks, the nearest layer
        g = torch.Generator().manual_seed(seed + 5)
        xs = torch.arange(ww, dtype=torch.float32).view(1, ww)
        yy = torch.arange(h, dtype=torch.float32).view(h, 1)
        alpha = torch.zeros(h, ww)
        for _ in range(7):
            cx = float(torch.rand(1, generator=g)) * ww
            cy = h * (0.55 + 0.2 * float(torch.rand(1, generator=g)))
            r = 9 + 8 * float(torch.rand(1, generator=g))
            crown = ((xs - cx) ** 2 + (yy - cy) ** 2) <= r * r
            trunk = ((xs - cx).abs() <= 2) & (yy >= cy) & (yy <= cy + 2.2 * r)
            alpha = torch.maximum(alpha, (crown | trunk).float())
        leaves = _noise(h, ww, seed + 6, octaves=5, base=16)[0]
        trees = torch.stack([0.10 + 0.15 * leaves[0], 0.22 + 0.25 * leaves[0], 0.08 + 0.1 * leaves[0]])
        layers.append((trees, alpha.unsqueeze(0), 22.0))
        self.layers = layers

    def frame(self, t):
        """The view at time t: [1, 3, h, w] in [0, 1]."""
        out = torch.zeros(1, 3, self.h, self.w + 2 * self.margin)
        for rgb, alpha, speed in self.layers:
            flow = torch.zeros(1, 2, self.h, self.w + 2 * self.margin)
            flow[:, 0] = speed * t  # the view moves right: content moves left
            rgb_t = vfi_ops.backward_warp(rgb.unsqueeze(0), flow, "border")
            alpha_t = vfi_ops.backward_warp(alpha.unsqueeze(0), flow, "border")
            out = out * (1 - alpha_t) + rgb_t * alpha_t
        return out[..., self.margin : self.margin + self.w].clamp(0, 1)


# ----------------------------------------------------------------------- drawing


def flow_to_rgb(flow, scale=None):
    """A flow [1, 2, h, w] as a colour-wheel picture [3, h, w]: hue the direction,
    saturation the length (white: no motion; full colour: `scale` px or more)."""
    u, v = flow[0, 0], flow[0, 1]
    mag = torch.sqrt(u * u + v * v)
    scale = float(mag.max()) if scale is None else scale
    hue = (torch.atan2(-v, -u) / math.pi + 1) / 2  # [0, 1]
    sat = (mag / max(scale, 1e-6)).clamp(0, 1)
    hsv = torch.stack([hue, sat, torch.ones_like(hue)], -1)
    img = Image.fromarray((hsv.numpy() * 255).round().astype(np.uint8), "HSV").convert("RGB")
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255


def colour_key(size=H):
    """The colour wheel itself: the flow at each pixel is its offset from the centre."""
    c = (size - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    key = flow_to_rgb(torch.stack([xs, ys]).unsqueeze(0).float(), scale=c)
    outside = (xs**2 + ys**2) > c * c
    return torch.where(outside, torch.ones_like(key), key)


def gray(t):
    """[1, h, w] or [h, w] in [0, 1] -> [3, h, w]."""
    t = t.reshape(1, *t.shape[-2:])
    return t.expand(3, -1, -1)


def error(a, b, gain=4.0):
    """|a - b| averaged over channels, times gain, as a dark-on-white picture."""
    return gray(1 - (gain * (a - b).abs().mean(-3)).clamp(0, 1))


def psnr(a, b):
    return float(10 * torch.log10(1 / F.mse_loss(a, b)))


def _font():
    try:
        return ImageFont.load_default(size=13)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        return ImageFont.load_default()


def compose(rows, title=None):
    """A grid of captioned panels: rows of (picture [3, h, w] in [0, 1], caption)."""
    font, pad, cap = _font(), 6, 18
    widths = [sum(p.shape[-1] for p, _ in row) + pad * (len(row) + 1) for row in rows]
    heights = [max(p.shape[-2] for p, _ in row) + cap + pad for row in rows]
    top = cap + pad if title else 0
    canvas = Image.new("RGB", (max(widths), sum(heights) + pad + top), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, pad), title, fill="black", font=font)
    y = top + pad
    for row, height in zip(rows, heights):
        x = pad
        for picture, caption in row:
            array = (picture.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
            canvas.paste(Image.fromarray(array.permute(1, 2, 0).numpy()), (x, y + cap))
            draw.text((x, y + 2), caption, fill="black", font=font)
            x += picture.shape[-1] + pad
        y += height
    return canvas


# ----------------------------------------------------------------------- pictures


def _disk(cx, cy, r, h=H, w=W):
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return (((xs - cx) ** 2 + (ys - cy) ** 2) <= r * r).float().view(1, 1, h, w)


def _swirl(strength=10.0):
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    dx, dy = xs - W / 2, ys - H / 2
    fall = torch.exp(-(dx**2 + dy**2) / (2 * (0.3 * H) ** 2))
    return (strength * fall * torch.stack([-dy, dx]) / (0.3 * H)).unsqueeze(0)


def picture_backward_warp():
    frame = Scene().frame(0.0)
    flow = _swirl()
    out = vfi_ops.backward_warp(frame, flow, "border")
    return compose(
        [[(frame[0], "input"), (flow_to_rgb(flow), "flow"), (colour_key(), "colour key"), (out[0], "output")]],
        "backward_warp(input, flow, 'border'): out(p) = input(p + flow(p))",
    )


def _moving_object():
    """A frame with a disk that moves 24 px right and 8 down between t = 0 and 1
    in front of a background that pans 6 px left; returns frame, flow_01, depth."""
    frame = Scene().frame(0.0)
    disk = _disk(80, 64, 26)
    frame = frame * (1 - disk) + disk * torch.tensor([0.9, 0.55, 0.15]).view(1, 3, 1, 1)
    flow = torch.zeros(1, 2, H, W)
    flow[:, 0] = -6.0
    flow = flow * (1 - disk) + disk * torch.tensor([24.0, 8.0]).view(1, 2, 1, 1)
    depth = 10 - 8 * disk  # the disk is nearer
    return frame, flow, depth


def picture_flow_projection():
    _, flow, depth = _moving_object()
    t = 0.5
    holes_left = vfi_ops.flow_projection(t * flow, 1 / depth)
    filled = vfi_ops.flow_projection(t * flow, 1 / depth, fill_holes=True)
    hole = (holes_left == 0).all(1, keepdim=True)
    scale = float(flow.abs().max()) * t
    shown = flow_to_rgb(holes_left, scale) * (1 - hole[0].float())  # holes black
    return compose(
        [
            [
                (flow_to_rgb(t * flow, scale), "t * flow_01 (from frame 0)"),
                (shown, "projected to time t (holes black)"),
                (flow_to_rgb(filled, scale), "fill_holes=True"),
            ]
        ],
        "flow_projection(t * flow_01, 1 / depth): the flow at time t, nearer pixels winning",
    )


def picture_softsplat():
    from vfi_ops.softsplat import MODES

    frame, flow, depth = _moving_object()
    metrics = {"sum": None, "avg": None, "linear": 1 / depth, "soft": -depth}  # nearer: larger
    outs = []
    for mode in MODES:
        out = vfi_ops.softsplat(frame, 0.5 * flow, metrics[mode], mode)
        outs.append((out[0].clamp(0, 1), f"mode='{mode}'"))
    return compose(
        [[(frame[0], "input (frame 0)"), (flow_to_rgb(0.5 * flow), "0.5 * flow_01")], outs],
        "softsplat(input, 0.5 * flow_01, metric, mode): forward warping (metric 1/depth, -depth)",
    )


def picture_adaptive_warp():
    frame = Scene().frame(0.0)
    flow = _swirl(6.0)
    ones = torch.ones(1, 16, H, W)
    near = torch.zeros(1, 4, 4)
    near[0, 1:3, 1:3] = 1  # the four taps around the sample: bilinear warping
    sharp = near.reshape(1, 16, 1, 1).expand(1, 16, H, W)
    return compose(
        [
            [
                (frame[0], "input"),
                (flow_to_rgb(flow), "flow"),
                (vfi_ops.adaptive_warp(frame, flow, sharp)[0], "kernel: inner 2x2 taps"),
                (vfi_ops.adaptive_warp(frame, flow, ones / 4)[0].clamp(0, 1), "kernel: all 16 taps"),
            ]
        ],
        "adaptive_warp(input, flow, kernel): a per-pixel 4x4 window around p + flow(p)",
    )


def picture_sparse_masked_conv2d():
    frame = Scene().frame(0.0)
    gray_frame = frame.mean(1, keepdim=True)
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    mask = (_noise(H, W, 9, octaves=3, base=3) > 0.55).float()
    dense = F.conv2d(gray_frame, lap, padding=1)
    sparse = vfi_ops.sparse_masked_conv2d(gray_frame, lap, None, mask, padding=1)
    show = lambda t: gray((0.5 + 2 * t[0]).clamp(0, 1))
    computed = torch.where(mask.bool(), torch.tensor([1.0, 0.3, 0.3]).view(1, 3, 1, 1), frame * 0.4 + 0.6)
    return compose(
        [
            [
                (gray(gray_frame[0]), "input"),
                (gray(mask[0]), "mask (white: computed)"),
                (computed[0], "positions computed (red)"),
            ],
            [(show(dense), "conv2d everywhere"), (show(sparse), "sparse_masked_conv2d (0 elsewhere)")],
        ],
        "sparse_masked_conv2d(input, laplacian, None, mask, padding=1): the convolution where the mask is on",
    )


def picture_sepconv():
    frame = Scene().frame(0.0)
    K = 9
    padded = F.pad(frame, (K // 2,) * 4, mode="replicate")
    box = torch.full((1, K, H, W), 1.0 / K)
    shift = torch.zeros(1, K, H, W)
    shift[:, K - 1] = 1  # the last tap: the output takes the input 4 px right and down
    return compose(
        [
            [
                (frame[0], "input"),
                (vfi_ops.sepconv(padded, box, box)[0], "9-tap box kernels: a blur"),
                (vfi_ops.sepconv(padded, shift, shift)[0], "one-hot last taps: a shift"),
            ]
        ],
        "sepconv(padded input, vertical, horizontal): per-pixel separable K x K kernels (K = 9)",
    )


def picture_adacof():
    frame = Scene().frame(0.0)
    n = 3  # F = 3, dilation 1: the input padded by one pixel on each side
    padded = F.pad(frame, (1, 1, 1, 1), mode="replicate")
    centre = torch.zeros(1, n * n, H, W)
    centre[:, n * n // 2] = 1
    flow = _swirl(8.0)
    offset_y, offset_x = flow[:, 1:].expand(1, n * n, H, W), flow[:, :1].expand(1, n * n, H, W)
    zero = torch.zeros(1, n * n, H, W)
    return compose(
        [
            [
                (frame[0], "input"),
                (flow_to_rgb(flow), "offsets (all taps)"),
                (vfi_ops.adacof(padded, centre, offset_y, offset_x)[0], "centre tap, offsets: a warp"),
                (vfi_ops.adacof(padded, torch.full_like(zero, 1 / 9), zero, zero)[0], "equal weights, no offsets"),
            ]
        ],
        "adacof(padded input, weight, offset_y, offset_x): F x F taps per pixel, each moved by its offset",
    )


def _features(frame):
    """Zero-mean local features of a frame: the frame minus its 9 x 9 mean."""
    return frame - F.avg_pool2d(F.pad(frame, (4,) * 4, mode="replicate"), 9, stride=1)


def _argmax_flow(volume, d):
    """The displacement of each pixel's largest cost-volume entry (summed over a 15 x 15 window
    first, as block matching does), as a flow [1, 2, h, w]."""
    k = F.avg_pool2d(F.pad(volume, (7,) * 4, mode="replicate"), 15, stride=1).argmax(1)
    n = 2 * d + 1
    return torch.stack([(k % n - d).float(), (k // n - d).float()], 1)


def picture_correlation():
    frame = Scene().frame(0.0)
    moved = torch.roll(frame, shifts=(-2, 3), dims=(2, 3))  # content moves 3 px right, 2 up
    d = 4
    volume = vfi_ops.correlation(_features(frame), _features(moved), d)
    n = 2 * d + 1
    true = volume[0, (-2 + d) * n + (3 + d)]
    return compose(
        [
            [
                (frame[0], "input1"),
                (moved[0], "input2 (moved 3 px right, 2 up)"),
                (gray((true / true.abs().max()).clamp(0, 1)), "channel of displacement (3, -2)"),
                (flow_to_rgb(_argmax_flow(volume, d), scale=d), "best displacement (15 x 15 sums)"),
            ]
        ],
        f"correlation(input1, input2, max_displacement={d}): a (2d+1)^2-channel cost volume",
    )


def picture_corr_lookup():
    frame = Scene().frame(0.0)
    moved = torch.roll(frame, shifts=(-2, 3), dims=(2, 3))
    f1, f2 = _features(frame), _features(moved)
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    here = torch.stack([xs, ys]).unsqueeze(0)
    r = 4
    around_here = vfi_ops.corr_lookup(f1, f2, here, r)
    guess = here + torch.tensor([2.5, -1.5]).view(1, 2, 1, 1)  # a sub-pixel guess of the flow
    around_guess = vfi_ops.corr_lookup(f1, f2, guess, r)
    n = 2 * r + 1
    scale = float(around_here.abs().max())
    return compose(
        [
            [
                (flow_to_rgb(_argmax_flow(around_here, r), scale=r), "best offset around p (15 x 15 sums)"),
                (gray((around_here[0, n * n // 2] / scale).clamp(0, 1)), "centre sample at p"),
                (gray((around_guess[0, n * n // 2] / scale).clamp(0, 1)), "centre sample at p + (2.5, -1.5)"),
            ]
        ],
        f"corr_lookup(fmap1, fmap2, coords, radius={r}): RAFT's window of the cost volume around coords",
    )


def picture_interpolation():
    """Classical interpolation of the pan at t = 0.5 with ClassicalFlow's defaults (DIS flow,
    occlusion-aware fusion of the two projected and warped frames), against the blend of the two frames."""
    from vfi_ops.models import ClassicalFlow

    scene = Scene()
    f0, truth, f1 = scene.frame(0.0), scene.frame(0.5), scene.frame(1.0)
    blend = (f0 + f1) / 2
    model = ClassicalFlow()
    with torch.no_grad():
        middle = model(f0, f1, 0.5).clamp(0, 1)
        flow = model.flow(f0, f1)
    return compose(
        [
            [
                (f0[0], "frame 0"),
                (f1[0], "frame 1"),
                (flow_to_rgb(flow), "flow 0 -> 1 (DIS)"),
                (truth[0], "truth at t = 0.5"),
            ],
            [
                (blend[0], f"blend: {psnr(blend, truth):.1f} dB"),
                (error(blend, truth), "blend error (x4)"),
                (middle[0], f"ClassicalFlow: {psnr(middle, truth):.1f} dB"),
                (error(middle, truth), "ClassicalFlow error (x4)"),
            ],
        ],
        "vfi_ops.models.ClassicalFlow: the middle frame of a synthetic pan with parallax",
    )


# One picture per op (the API pages show it), and the others.
PICTURES = {
    "backward_warp": picture_backward_warp,
    "flow_projection": picture_flow_projection,
    "softsplat": picture_softsplat,
    "adaptive_warp": picture_adaptive_warp,
    "sparse_masked_conv2d": picture_sparse_masked_conv2d,
    "sepconv": picture_sepconv,
    "adacof": picture_adacof,
    "correlation": picture_correlation,
    "corr_lookup": picture_corr_lookup,
    "interpolation": picture_interpolation,
}
README_PICTURE = "interpolation"


def render_all(out_dir):
    """Writes out_dir/<name>.png for every picture; raises if an op has none."""
    missing = [op for op in OPS if op not in PICTURES]
    if missing:
        raise RuntimeError(
            f"docs/gallery.py has no picture for {', '.join(missing)}: add a picture_<op>() function to PICTURES"
        )
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    for name, draw in PICTURES.items():
        draw().save(os.path.join(out_dir, f"{name}.png"), optimize=True)
    return sorted(PICTURES)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="a folder (every picture) or, with --readme, the PNG file to write")
    parser.add_argument("--readme", action="store_true", help="write only the README's picture, to OUT")
    args = parser.parse_args(argv)
    if args.readme:
        PICTURES[README_PICTURE]().save(args.out, optimize=True)
    else:
        render_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
