"""The benchmark harness's verdicts and its plain-PyTorch baselines (no timings
are checked: benchmarks are not tests)."""

import os
import sys

import pytest
import torch

import vfi_ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
try:
    from benchmarks.common import Result, format_row, paired_ms
    from benchmarks.flow_projection import plain_flow_projection
    from benchmarks.softsplat import plain_softsplat
finally:
    sys.path.remove(ROOT)


def result(ours, base, target=None, floor_ms=None, floor_target=None):
    """A Result from per-pair ms of ours and the baseline."""
    return Result(
        "op",
        "case",
        "cpu",
        "float32",
        "forward",
        sorted(ours)[len(ours) // 2],
        "base",
        sorted(base)[len(base) // 2],
        target,
        {},
        floor_ms,
        floor_target,
        list(ours),
        list(base),
    )


def test_speedup_is_the_median_of_the_pairs_ratios_with_its_spread():
    r = result([1, 1, 1, 2, 4], [3, 2, 4, 2, 4], target=2.0)
    # ratios 3, 2, 4, 1, 1
    assert r.speedup == 2.0 and r.spread == (1.0, 4.0)
    assert r.status == "ok" and r.met is True and r.missed == []


def test_a_row_is_missed_only_when_its_whole_spread_is_below_the_target():
    near = result([1] * 5, [2.0, 2.2, 2.4, 2.45, 2.6], target=2.5)  # median 2.4, best pair 2.6
    assert near.missed == [] and near.met is True and near.near and near.status == "near"
    missed = result([1] * 5, [2.0, 2.2, 2.4, 2.45, 2.49], target=2.5)
    assert missed.missed == ["speedup"] and missed.met is False and missed.status == "MISSED speedup"
    # A ratio that prints as the target but is below it is not a miss while a pair reaches it.
    assert result([1] * 5, [2.4, 2.5, 2.5, 2.5, 2.49], target=2.5).status == "ok"


def test_the_status_says_which_target_was_missed():
    # speedup 3x (target 2x), but 8x the floor at best (target 4x)
    floor = result([8, 8, 9, 9, 10], [24, 24, 27, 27, 30], target=2.0, floor_ms=1.0, floor_target=4.0)
    assert floor.missed == ["floor"] and floor.status == "MISSED floor"
    assert "MISSED floor" in format_row(floor) and " 9.0x " in format_row(floor)
    both = result([8] * 5, [8] * 5, target=2.0, floor_ms=1.0, floor_target=4.0)
    assert both.missed == ["speedup", "floor"] and both.status == "MISSED both"
    # the fastest pair within the floor target: not missed, though the median is not
    assert result([3.9, 5, 5, 5, 5], [20] * 5, target=2.0, floor_ms=1.0, floor_target=4.0).status == "near"
    assert result([1] * 5, [1] * 5).status == "" and result([1] * 5, [1] * 5).met is None


def test_busy_pairs_report_slowdowns():
    r = result([1, 1, 1, 1, 1], [2, 2, 2, 2, 2])
    assert r.busy is None
    r.busy_ours_pairs, r.busy_baseline_pairs = [2, 2, 3, 2, 2], [3, 3, 3, 3, 3]
    assert r.busy["ours slowdown"] == 2.0 and r.busy["baseline slowdown"] == 1.5
    assert r.busy["speedup"] == 1.5 and r.busy["spread"] == (1.0, 1.5)


def test_pairs_alternate_ours_and_the_baseline():
    calls = []
    quiet, busy = paired_ms(lambda: calls.append("ours"), lambda: calls.append("base"), "cpu", 1e-4)
    assert len(quiet[0]) == len(quiet[1]) >= 5 and busy == ([], [])
    timed = calls[2:]  # after a warm-up call of each
    # blocks of ours and of the baseline alternate
    blocks = [k for i, k in enumerate(timed) if i == 0 or timed[i - 1] != k]
    assert blocks == ["ours", "base"] * len(quiet[0])


@pytest.mark.parametrize("fill_holes", [False, True])
def test_plain_flow_projection_computes_what_the_op_does(fill_holes):
    B, H, W = 2, 24, 32
    flow = 4 * torch.randn(B, 2, H, W)
    weight = torch.rand(B, 1, H, W) + 0.1
    expected = vfi_ops.flow_projection(flow, weight, fill_holes)
    torch.testing.assert_close(plain_flow_projection(flow, weight, fill_holes), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["sum", "avg", "linear", "soft"])
def test_plain_softsplat_computes_what_the_op_does(mode):
    B, C, H, W = 2, 3, 20, 28
    input, flow = torch.randn(B, C, H, W), 3 * torch.randn(B, 2, H, W)
    metric = None if mode in ("sum", "avg") else torch.rand(B, 1, H, W) + (0.1 if mode == "linear" else -5)
    args = (input, flow) if metric is None else (input, flow, metric)
    expected = vfi_ops.softsplat(*args, mode=mode)
    torch.testing.assert_close(plain_softsplat(*args, mode=mode), expected, rtol=1e-5, atol=1e-5)
