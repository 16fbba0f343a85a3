"""Frames on disk and training triplets: Vimeo90K-layout folders, and synthetic
triplets that move textures with known motion and occlusion (for smoke tests)."""

import os
import random
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

import vfi_ops

from .images import IMAGE_EXTENSIONS, read_image


def augment(frames: Sequence[Tensor], t: float, crop: Optional[int], rng: random.Random) -> Tuple[List[Tensor], float]:
    """The same random crop and flips for every frame, and temporal reversal
    (which swaps the end frames and turns t into 1 - t)."""
    frames = list(frames)
    if crop is not None:
        H, W = frames[0].shape[1:]
        if H < crop or W < crop:
            raise ValueError(f"frames of {H}x{W} are smaller than the crop {crop}")
        y, x = rng.randint(0, H - crop), rng.randint(0, W - crop)
        frames = [f[:, y : y + crop, x : x + crop] for f in frames]
    if rng.random() < 0.5:
        frames = [f.flip(2) for f in frames]
    if rng.random() < 0.5:
        frames = [f.flip(1) for f in frames]
    if rng.random() < 0.5:
        frames, t = frames[::-1], 1.0 - t
    return [f.contiguous() for f in frames], t


class VimeoTriplets(torch.utils.data.Dataset):
    """Vimeo90K's triplet layout: ``<root>/<list_file>`` lists ``a/b`` folders of
    ``<root>/sequences/a/b/im1.png, im2.png, im3.png`` (im2 is the middle frame).
    Items are (I0, It, I1, t) with t = 0.5 (1 - t after temporal reversal)."""

    def __init__(
        self, root: str, list_file: str = "tri_trainlist.txt", crop: Optional[int] = 256, augment: bool = True
    ):
        listing = os.path.join(root, list_file)
        if not os.path.isfile(listing):
            raise FileNotFoundError(f"VimeoTriplets: no list file {listing}")
        with open(listing) as f:
            self.items = [line.strip() for line in f if line.strip()]
        if not self.items:
            raise ValueError(f"VimeoTriplets: {listing} lists no sequences")
        self.root, self.crop, self.augment = root, crop, augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        folder = os.path.join(self.root, "sequences", self.items[index])
        frames = [read_image(os.path.join(folder, f"im{i}.png")) for i in (1, 2, 3)]
        t = 0.5
        if self.augment:
            # torch's generator is seeded per DataLoader worker and epoch, so augmentations differ across them.
            frames, t = augment(frames, t, self.crop, random.Random(int(torch.randint(2**62, (1,)))))
        return frames[0], frames[1], frames[2], torch.tensor(t)


def procedural_texture(size: int, generator: torch.Generator) -> Tensor:
    """[3, size, size] in [0, 1]: coloured noise at several scales plus a few sharp-edged blobs."""
    texture = torch.zeros(3, size, size)
    for scale in (4, 16, 64):
        coarse = torch.rand(1, 3, max(2, size // scale), max(2, size // scale), generator=generator)
        texture += F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0] / 3
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for _ in range(6):
        cy, cx, r = (torch.rand(3, generator=generator) * torch.tensor([size, size, size / 6])).tolist()
        inside = (ys - cy) ** 2 + (xs - cx) ** 2 < (r + 2) ** 2
        texture[:, inside] = torch.rand(3, 1, generator=generator)
    return texture.clamp(0, 1)


def shift(image: Tensor, dx: float, dy: float) -> Tensor:
    """image translated by (dx, dy) pixels, bilinear, borders replicated."""
    _, H, W = image.shape
    flow = torch.tensor([-dx, -dy], dtype=image.dtype).view(1, 2, 1, 1).expand(1, 2, H, W)
    return vfi_ops.backward_warp(image[None], flow, "border")[0]


class SyntheticTriplets(torch.utils.data.Dataset):
    """Triplets made on the fly: a textured background moving at one velocity and
    a textured ellipse moving at another in front of it (so it occludes and
    disoccludes), sampled at times 0, t and 1 with t uniform in (0.1, 0.9).

    Textures are crops of the images in ``sources`` (files or folders), or
    procedural ones. Item i is the same every time (seeded by ``seed`` and i)."""

    def __init__(
        self, length: int = 1000, size: int = 64, max_motion: float = 6.0, sources: Sequence[str] = (), seed: int = 0
    ):
        self.length, self.size, self.max_motion, self.seed = length, size, max_motion, seed
        self.images = [read_image(p) for p in self._image_paths(sources)]
        self.margin = int(max_motion) + 2

    @staticmethod
    def _image_paths(sources: Sequence[str]) -> List[str]:
        paths = []
        for source in sources:
            if os.path.isdir(source):
                paths += sorted(
                    os.path.join(source, n) for n in os.listdir(source) if n.lower().endswith(IMAGE_EXTENSIONS)
                )
            else:
                paths.append(source)
        return paths

    def __len__(self) -> int:
        return self.length

    def _texture(self, side: int, g: torch.Generator) -> Tensor:
        if self.images:
            image = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            _, H, W = image.shape
            if H >= side and W >= side:
                y = int(torch.randint(H - side + 1, (1,), generator=g))
                x = int(torch.randint(W - side + 1, (1,), generator=g))
                return image[:, y : y + side, x : x + side]
            return F.interpolate(image[None], size=(side, side), mode="bilinear", align_corners=False)[0]
        return procedural_texture(side, g)

    def __getitem__(self, index: int):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        size, side = self.size, self.size + 2 * self.margin
        background, sprite = self._texture(side, g), self._texture(side, g)
        v_bg = (torch.rand(2, generator=g) * 2 - 1) * self.max_motion
        v_fg = (torch.rand(2, generator=g) * 2 - 1) * self.max_motion
        centre = (0.25 + 0.5 * torch.rand(2, generator=g)) * size
        radii = (0.1 + 0.15 * torch.rand(2, generator=g)) * size
        t = float(0.1 + 0.8 * torch.rand(1, generator=g))
        ys, xs = torch.meshgrid(
            torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
        )
        m = self.margin

        def frame(s: float) -> Tensor:
            bg = shift(background, s * float(v_bg[0]), s * float(v_bg[1]))[:, m : m + size, m : m + size]
            fg = shift(sprite, s * float(v_fg[0]), s * float(v_fg[1]))[:, m : m + size, m : m + size]
            cx, cy = centre[0] + s * v_fg[0], centre[1] + s * v_fg[1]
            # A soft edge (one pixel wide), so the motion of the edge is sub-pixel too.
            d = ((xs - cx) / radii[0]) ** 2 + ((ys - cy) / radii[1]) ** 2
            alpha = (1 - (d - 1) * min(radii.tolist()) / 2).clamp(0, 1)
            return alpha * fg + (1 - alpha) * bg

        return frame(0.0), frame(t), frame(1.0), torch.tensor(t)
