"""Kernel-based interpolation heads trained briefly: do sepconv's and adacof's gradients train?

    python -m benchmarks.kernel_heads [--steps 300] [--middlebury FOLDER] [--json PATH]

Two small networks of the same body (a three-level encoder on I0, I1 and t,
about 0.1 M parameters) predict, per output pixel,
- SepConv: vertical and horizontal 13-tap kernels for each frame (softmax-
  normalised) and a blend mask: I_t = m sepconv(I0) + (1-m) sepconv(I1);
- AdaCoF: 5 x 5 weights (softmax), offsets and a mask, the same way with adacof.
Each is trained on SyntheticTriplets (moving textures with occlusion, 64 x 64
crops) with the Charbonnier loss, and its loss printed along the way; with
--middlebury the trained heads are scored (evaluation only) beside the blend
(I0 + I1) / 2 on the Middlebury frames. A demonstration that the hand-written
gradients train a model, not a competitive model.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn
from vfi_ops.models.data import SyntheticTriplets
from vfi_ops.models.losses import charbonnier

import vfi_ops

SEPCONV_K = 13
ADACOF_F, ADACOF_D = 5, 1


class Body(nn.Module):
    """I0, I1 and t (as a channel) -> `out` channels per pixel, at full resolution."""

    def __init__(self, out: int, width: int = 32):
        super().__init__()
        act = nn.LeakyReLU(0.1)
        self.enc0 = nn.Sequential(nn.Conv2d(7, width, 3, padding=1), act)
        self.enc1 = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), act)
        self.enc2 = nn.Sequential(
            nn.Conv2d(width, width, 3, stride=2, padding=1), act, nn.Conv2d(width, width, 3, padding=1), act
        )
        self.dec = nn.Sequential(nn.Conv2d(3 * width, width, 3, padding=1), act, nn.Conv2d(width, out, 3, padding=1))

    def forward(self, I0, I1, t):
        x = torch.cat((I0, I1, t.view(-1, 1, 1, 1).expand(-1, 1, *I0.shape[2:])), 1)
        f0 = self.enc0(x)
        f1 = self.enc1(f0)
        f2 = self.enc2(f1)
        size = f0.shape[2:]
        up = lambda f: F.interpolate(f, size=size, mode="bilinear", align_corners=False)
        return self.dec(torch.cat((f0, up(f1), up(f2)), 1))


class SepConvHead(nn.Module):
    def __init__(self, K: int = SEPCONV_K):
        super().__init__()
        self.K = K
        self.body = Body(4 * K + 1)

    def forward(self, I0, I1, t):
        K = self.K
        out = self.body(I0, I1, t)
        v0, h0, v1, h1 = (k.softmax(1) for k in out[:, : 4 * K].split(K, 1))
        m = torch.sigmoid(out[:, 4 * K :])
        pad = lambda I: F.pad(I, [K // 2] * 4, mode="replicate")
        return m * vfi_ops.sepconv(pad(I0), v0, h0) + (1 - m) * vfi_ops.sepconv(pad(I1), v1, h1)


class AdaCoFHead(nn.Module):
    def __init__(self, F_: int = ADACOF_F, dilation: int = ADACOF_D):
        super().__init__()
        self.F, self.dilation = F_, dilation
        self.body = Body(6 * F_ * F_ + 1)

    def forward(self, I0, I1, t):
        n = self.F * self.F
        out = self.body(I0, I1, t)
        w0, oy0, ox0, w1, oy1, ox1 = out[:, : 6 * n].split(n, 1)
        m = torch.sigmoid(out[:, 6 * n :])
        pad = lambda I: F.pad(I, [(self.F - 1) * self.dilation // 2] * 4, mode="replicate")
        a = vfi_ops.adacof(pad(I0), w0.softmax(1), oy0, ox0, self.dilation)
        b = vfi_ops.adacof(pad(I1), w1.softmax(1), oy1, ox1, self.dilation)
        return m * a + (1 - m) * b


def train(model, steps: int, batch: int, size: int, log_every: int, seed: int = 0):
    """Adam, lr 1e-3; returns [(step, mean loss over the last log_every steps)]."""
    torch.manual_seed(seed)
    data = SyntheticTriplets(length=steps * batch, size=size, seed=seed)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    curve, window = [], []
    for step, (I0, It, I1, t) in enumerate(loader, 1):
        loss = charbonnier(model(I0, I1, t), It)
        opt.zero_grad()
        loss.backward()
        opt.step()
        window.append(loss.item())
        if step % log_every == 0:
            curve.append((step, sum(window) / len(window)))
            print(f"  step {step:4d}  loss {curve[-1][1]:.4f}", flush=True)
            window = []
    return curve


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kernel_heads", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per head (default: 300)")
    parser.add_argument("--batch", type=int, default=4, help="triplets per step (default: 4)")
    parser.add_argument("--size", type=int, default=64, help="side of the training crops in pixels (default: 64)")
    parser.add_argument("--log-every", type=int, default=25, help="steps per printed loss (default: 25)")
    parser.add_argument("--middlebury", help="folder of Middlebury <sequence>/frame10.png, frame11.png, frame10i11.png")
    parser.add_argument("--json", help="also write the curves and scores here")
    args = parser.parse_args(argv)
    heads = {"sepconv head": SepConvHead(), "adacof head": AdaCoFHead()}
    result = {"steps": args.steps, "batch": args.batch, "size": args.size, "curves": {}, "seconds": {}}
    for name, model in heads.items():
        params = sum(p.numel() for p in model.parameters())
        print(f"{name} ({params / 1e6:.2f} M parameters):", flush=True)
        started = time.perf_counter()
        result["curves"][name] = train(model, args.steps, args.batch, args.size, args.log_every)
        result["seconds"][name] = time.perf_counter() - started
    if args.middlebury:
        from vfi_ops.models.evaluate import evaluate, middlebury_triplets

        half = torch.tensor([0.5])
        methods = {"blend": lambda a, b: (a + b) / 2}
        for name, model in heads.items():
            model.eval()
            methods[name] = lambda a, b, model=model: model(a, b, half)
        scores, _ = evaluate(middlebury_triplets(args.middlebury), methods)
        result["middlebury"] = {}
        print("Middlebury (mean over sequences): PSNR dB, SSIM")
        for method, per_sequence in scores.items():
            values = list(per_sequence.values())
            mean_psnr = sum(v[0] for v in values) / len(values)
            mean_ssim = sum(v[1] for v in values) / len(values)
            result["middlebury"][method] = {"psnr": mean_psnr, "ssim": mean_ssim, "per sequence": per_sequence}
            print(f"  {method:14s} {mean_psnr:6.2f}  {mean_ssim:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
