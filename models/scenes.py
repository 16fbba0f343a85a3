"""Scene cuts: where two consecutive frames belong to different shots, so nothing between them should be interpolated.

The score of a pair of RGB frames ``[C, H, W]`` in [0, 1] (alpha ignored) is in [0, 1]:

    score = min(histogram distance, 2 * mean difference)

where the histogram distance is the total-variation distance between the two
frames' joint RGB histograms (4 x 4 x 4 bins, frames first averaged down to
64 x 64), which motion hardly changes, and the mean difference is the mean
absolute difference of the frames averaged down to 16 x 16, which a global
change of brightness or contrast hardly changes. A cut changes both.

A pair is a cut where the score is at least the threshold and at least twice
the highest score of the two pairs before it (``CutDetector``): steady fast
motion of fine texture scores high on every pair, a cut stands out from the
pairs around it. The default threshold, 0.2,
was picked on synthetic pairs (``vfi_ops.models.data.SyntheticTriplets``:
textures and a moving ellipse, 48 to 128 pixels, 300 pairs each): moving
scenes score at most 0.11 when they move by up to 6 % of the frame per frame
(0.25 at 19 %, where flow fails too), fades by 15 % of the contrast at most
0.09, and cuts between two scenes at least 0.26.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_THRESHOLD = 0.2
BINS = 4


def _histogram(frame: Tensor) -> Tensor:
    small = F.adaptive_avg_pool2d(frame[None, :3].float(), (64, 64))[0]
    q = (small.clamp(0, 1) * BINS).long().clamp(max=BINS - 1)
    index = (q[0] * BINS + q[1]) * BINS + q[2]
    counts = torch.bincount(index.flatten(), minlength=BINS**3).float()
    return counts / counts.sum()


def cut_score(A: Tensor, B: Tensor) -> float:
    """How much two frames ``[C, H, W]`` (C = 3 or 4) in [0, 1] look like two shots, in [0, 1]."""
    if A.dim() != 3 or B.dim() != 3 or A.shape[1:] != B.shape[1:] or A.shape[0] < 3 or B.shape[0] < 3:
        raise ValueError(
            f"cut_score: A and B must be [C, H, W] frames of one size, but got {tuple(A.shape)} and {tuple(B.shape)}"
        )
    histogram = 0.5 * (_histogram(A) - _histogram(B)).abs().sum()
    a = F.adaptive_avg_pool2d(A[None, :3].float(), (16, 16))
    b = F.adaptive_avg_pool2d(B[None, :3].float(), (16, 16))
    return float(torch.minimum(histogram, 2 * (a - b).abs().mean()))


RELATIVE = 2.0  # a cut scores at least this times the pairs before it
HISTORY = 2


class CutDetector:
    """Called on consecutive pairs in order: whether each is a scene cut (module docstring);
    threshold 0: never (and nothing is computed)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD):
        if not 0 <= threshold <= 1:
            raise ValueError(f"--scene-threshold must be in [0, 1], but got {threshold}")
        self.threshold, self.recent = threshold, []

    def __call__(self, A: Tensor, B: Tensor) -> bool:
        if self.threshold <= 0:
            return False
        score = cut_score(A, B)
        cut = score >= self.threshold and all(score >= RELATIVE * s for s in self.recent)
        self.recent = (self.recent + [score])[-HISTORY:]
        return cut
