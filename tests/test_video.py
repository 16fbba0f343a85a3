"""vfi-interpolate on videos made here: every encoder and container read back, colour, variable
rates, audio, GIF / APNG, scene cuts, frames to video and back, and the options refused up front."""

import os
import re
from fractions import Fraction

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from vfi_ops.models import interpolate as interpolate_cli  # noqa: E402
from vfi_ops.models import video  # noqa: E402
from vfi_ops.models.data import SyntheticTriplets, procedural_texture, shift  # noqa: E402
from vfi_ops.models.scenes import DEFAULT_THRESHOLD, CutDetector, cut_score  # noqa: E402
from vfi_ops.models.timeline import parse_rate, plan  # noqa: E402

H, W = 48, 64


def run(args, capsys):
    try:
        code = interpolate_cli.main([str(a) for a in args])
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def blend(monkeypatch):
    """The model replaced by a linear blend (these tests check files, times and colour, not flow);
    the calls are recorded."""
    calls = []

    def mix(self, A, B, times):
        calls.append(times)
        return [(1 - t) * A + t * B for t in times]

    monkeypatch.setattr(interpolate_cli.Interpolator, "__call__", mix)
    return calls


def texture_frames(n, dx=1.0, seed=7, low=0.0, high=1.0):
    texture = procedural_texture(W + 2 * n + 8, torch.Generator().manual_seed(seed))
    return [low + (high - low) * shift(texture, dx * i, 0.5 * i)[:, 4 : 4 + H, 4 : 4 + W] for i in range(n)]


def make_clip(path, frames, codec="libx264", pix_fmt="yuv420p", rate=24, stamps=None, colour=None, audio=None):
    """Encodes [3, H, W] frames at rate (or at stamps / 24 s) with PyAV: colour = (AVColorSpace,
    AVColorRange) converts and tags as a camera would; audio = an encoder for a 440 Hz tone as
    long as the video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        base = Fraction(1, 240) if stamps else 1 / Fraction(rate)
        stream.codec_context.time_base = base
        matrix = None
        if colour:
            matrix = {1: "ITU709", 5: "ITU601", 6: "SMPTE170M"}[colour[0]]
            context = stream.codec_context
            context.colorspace, context.color_range = colour
            context.color_primaries = context.color_trc = colour[0]
        sound = None
        if audio:
            sound = container.add_stream(audio, rate=48000)
            sound.layout = "stereo"
        for i, frame in enumerate(frames):
            array = (frame.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            out = av.VideoFrame.from_ndarray(array, format="rgb24")
            if colour:
                out = out.reformat(
                    format=pix_fmt, dst_colorspace=matrix, dst_color_range=colour[1], interpolation="BICUBIC"
                )
                out.colorspace, out.color_range = colour
            time = Fraction(stamps[i], 24) if stamps else i / Fraction(rate)
            out.pts, out.time_base = int(time / base), base
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            total = int((Fraction(stamps[-1] + 1, 24) if stamps else len(frames) / Fraction(rate)) * 48000)
            for start in range(0, total, 1024):
                k = min(1024, total - start)
                tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(start, start + k) / 48000)
                piece = av.AudioFrame.from_ndarray(np.repeat(tone[None], 2, 0).astype(np.float32), "fltp", "stereo")
                piece.sample_rate, piece.pts, piece.time_base = 48000, start, Fraction(1, 48000)
                for packet in sound.encode(piece):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)


def read_back(path):
    """(frame times in seconds, decoded frames, the video stream's facts, audio codecs and durations)."""
    fmt = "apng" if str(path).endswith(".apng") else None
    with av.open(str(path), format=fmt) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        context = stream.codec_context
        facts = {
            "rate": stream.average_rate,
            "codec": context.name,
            "pix_fmt": context.pix_fmt,
            "tags": (context.colorspace, context.color_range, context.color_primaries, context.color_trc),
        }
        audio = [
            (s.codec_context.name, float(s.duration * s.time_base) if s.duration else None)
            for s in container.streams.audio
        ]
    times = [f.pts * f.time_base for f in frames]
    return times, frames, facts, audio


def check_timing(times, count, rate, exact=True):
    """count frames, strictly increasing, on the grid j / rate (to the container's rounding)."""
    assert len(times) == count
    assert all(b > a for a, b in zip(times, times[1:]))
    tolerance = 0 if exact else Fraction(1, 1000)
    for j, time in enumerate(times):
        assert abs(time - times[0] - j / Fraction(rate)) <= tolerance, (j, time)


# --- every encoder and container of the support table, written and read back -----------------------

PAIRS = [(ext, codec) for ext, codecs in video.SUPPORTED.items() for codec in codecs]


@pytest.mark.parametrize("ext,codec", PAIRS, ids=[f"{c}{e}" for e, c in PAIRS])
def test_every_supported_encoder_and_container_reads_back(tmp_path, ext, codec):
    if video.encoder_name(codec) != codec:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    rate = Fraction(100, 3) if ext == ".gif" else Fraction(30000, 1001)  # GIF: delays of 3/100 s
    count = 130  # past every encoder's lookahead and B-frame reordering
    path = str(tmp_path / f"out{ext}")
    pix_fmt = video.default_pix_fmt(codec, "yuv420p")
    options = {"x265-params": "log-level=error"} if codec == "libx265" else None
    writer = video.VideoWriter(path, codec, pix_fmt, rate, W, H, options=options)
    frames = texture_frames(4)
    for j in range(count):
        writer.write(frames[j % 4], j / rate)
    writer.close()
    times, decoded, facts, _ = read_back(path)
    # Matroska / WebM store milliseconds, APNG delays 16-bit fractions: their times are rounded.
    check_timing(times, count, rate, exact=ext not in (".mkv", ".webm", ".apng"))
    assert abs(Fraction(facts["rate"]) - rate) / rate < Fraction(1, 500)
    with av.open(path, format="apng" if ext == ".apng" else None) as container:
        duration = container.duration
    if duration is None:  # APNG states no duration: its frames' delays give it, checked above
        assert ext == ".apng"
    else:
        assert abs(Fraction(duration, 1_000_000) - count / rate) <= 1 / rate  # within one frame


def test_the_written_file_is_read_back(tmp_path):
    path = str(tmp_path / "out.mp4")
    writer = video.VideoWriter(path, "libx264", "yuv420p", Fraction(24), W, H)
    for j, frame in enumerate(texture_frames(5)):
        writer.write(frame, Fraction(j, 24))
    writer.close()
    video.verify(path, [Fraction(j, 24) for j in range(5)])
    with pytest.raises(ValueError, match="holds a frame at 0.041667 s where 0.033333 s was written"):
        video.verify(path, [Fraction(j, 30) for j in range(5)])
    with pytest.raises(ValueError, match="written with 5 frames, not 6"):
        video.verify(path, [Fraction(j, 24) for j in range(6)])
    writer = video.VideoWriter(str(tmp_path / "o.mkv"), "ffv1", "yuv420p", 24, W, H)
    writer.write(texture_frames(1)[0], Fraction(1, 24))
    with pytest.raises(ValueError, match="frame times must increase"):
        writer.write(texture_frames(1)[0], Fraction(1, 24))
    with pytest.raises(ValueError, match="not a whole number of the time base 1/24"):
        writer.write(texture_frames(1)[0], Fraction(1, 30))
    writer.close()


def test_unsupported_encoder_container_pairs_are_refused_naming_codec(tmp_path, capsys):
    make_clip(tmp_path / "clip.mp4", texture_frames(3))
    for out, codec in (("o.webm", "mpeg4"), ("o.mp4", "ffv1"), ("o.avi", "libvpx-vp9"), ("o.gif", "libx264")):
        code, stdout, err = run([tmp_path / "clip.mp4", "-o", tmp_path / out, "--codec", codec], capsys)
        assert code == 2 and "--codec" in err and "choose one of" in err, err
        assert not (tmp_path / out).exists()
    code, _, err = run([tmp_path / "clip.mp4", "-o", tmp_path / "o.mp4", "--codec", "nosuchcodec"], capsys)
    assert code == 2 and "--codec: FFmpeg (in PyAV) has no encoder for codec 'nosuchcodec'" in err
    assert "libx264" in err  # what works is listed


# --- the regressions of the timestamp failures -----------------------------------------------------


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov"])
def test_h264_output_past_the_lookahead(tmp_path, capsys, blend, ext):
    # Used to fail after ~42 output frames with "non-strictly-monotonic PTS".
    make_clip(tmp_path / "clip.mp4", texture_frames(61))
    code, stdout, err = run([tmp_path / "clip.mp4", "-o", tmp_path / f"x2{ext}"], capsys)
    assert code == 0, err
    times, _, facts, _ = read_back(tmp_path / f"x2{ext}")
    check_timing(times, 121, 48, exact=ext != ".mkv")
    assert facts["rate"] == 48 and facts["codec"] == "h264"
    assert "wrote 121 frames (60 interpolated, 61 source) at 48 fps" in stdout


def test_factor_4_on_12_frames(tmp_path, capsys, blend):
    make_clip(tmp_path / "clip.mp4", texture_frames(12))
    code, _, err = run([tmp_path / "clip.mp4", "--factor", 4, "-o", tmp_path / "x4.mp4"], capsys)
    assert code == 0, err
    times, *_ = read_back(tmp_path / "x4.mp4")
    check_timing(times, 45, 96)


def test_ffv1_in_matroska_codec_kept_and_into_mp4(tmp_path, capsys, blend):
    # Used to write every frame at time 0 (.mkv) or claim 432 fps (.mp4).
    make_clip(tmp_path / "clip.mkv", texture_frames(24), codec="ffv1")
    code, _, err = run([tmp_path / "clip.mkv", "-o", tmp_path / "out.mkv"], capsys)
    assert code == 0, err
    times, decoded, facts, _ = read_back(tmp_path / "out.mkv")
    check_timing(times, 47, 48, exact=False)
    assert facts["codec"] == "ffv1" and facts["rate"] == 48
    source = [f.to_ndarray() for f in av.open(str(tmp_path / "clip.mkv")).decode(video=0)]
    assert np.array_equal(decoded[2].to_ndarray(), source[1])  # lossless, passed through
    code, stdout, err = run([tmp_path / "clip.mkv", "-o", tmp_path / "out.mp4"], capsys)
    assert code == 0, err
    times, _, facts, _ = read_back(tmp_path / "out.mp4")
    check_timing(times, 47, 48)
    assert facts["rate"] == 48 and facts["codec"] == "h264"  # ffv1 does not go into .mp4: the first that does


def test_mpeg4_kept_and_chosen(tmp_path, capsys, blend):
    # Used to fail with "avcodec_send_frame() returned 22" at any rate.
    make_clip(tmp_path / "old.avi", texture_frames(24), codec="mpeg4")
    code, _, err = run([tmp_path / "old.avi", "-o", tmp_path / "out.avi"], capsys)
    assert code == 0, err
    times, _, facts, _ = read_back(tmp_path / "out.avi")
    check_timing(times, 47, 48)
    assert facts["codec"] == "mpeg4" and facts["rate"] == 48
    code, _, err = run(
        [tmp_path / "old.avi", "-o", tmp_path / "ntsc.mp4", "--codec", "mpeg4", "--fps", "59.94"], capsys
    )
    assert code == 0, err
    times, _, facts, _ = read_back(tmp_path / "ntsc.mp4")
    check_timing(times, 58, Fraction(60000, 1001))  # 0 to 23/24 s
    assert facts["rate"] == Fraction(60000, 1001)


# --- colour ----------------------------------------------------------------------------------------


def planes(frame):
    return [np.asarray(video._plane_array(p, np.uint8), dtype=int) for p in frame.planes]


@pytest.mark.parametrize("space", [1, 6], ids=["bt709", "bt601"])
@pytest.mark.parametrize("range_", [1, 2], ids=["limited", "full"])
def test_colour_round_trip(tmp_path, capsys, space, range_):
    # A static clip: inserted frames used to be 14-16 levels off (BT.709) or 11-12 (full range).
    still = texture_frames(1, low=0.2, high=0.8)[0]
    make_clip(tmp_path / "clip.mkv", [still] * 3, codec="ffv1", colour=(space, range_))
    code, _, err = run([tmp_path / "clip.mkv", "-o", tmp_path / "out.mkv"], capsys)  # the real model
    assert code == 0, err
    _, source, source_facts, _ = read_back(tmp_path / "clip.mkv")
    _, out, facts, _ = read_back(tmp_path / "out.mkv")
    assert len(out) == 5 and facts["tags"] == source_facts["tags"] == (space, range_, space, space)
    for j in range(5):  # even: source frames passed through; odd: inserted between two equal ones
        for made, kept in zip(planes(out[j]), planes(source[j // 2])):
            assert np.abs(made - kept).max() <= 2, (j, np.abs(made - kept).max())
    assert out[1].colorspace == space and out[1].color_range == range_


def test_ten_bit_stays_ten_bit(tmp_path, capsys, blend):
    make_clip(tmp_path / "clip.mkv", texture_frames(3, low=0.2, high=0.8), codec="ffv1", pix_fmt="yuv420p10le")
    code, _, err = run([tmp_path / "clip.mkv", "-o", tmp_path / "out.mkv"], capsys)
    assert code == 0, err
    _, out, facts, _ = read_back(tmp_path / "out.mkv")
    assert facts["pix_fmt"] == "yuv420p10le" and len(out) == 5


# --- variable frame rates --------------------------------------------------------------------------


def test_variable_frame_rate_input(tmp_path, capsys, blend):
    stamps = [0, 1, 2, 8, 9, 10]  # / 24 s
    make_clip(tmp_path / "phone.mkv", texture_frames(6), stamps=stamps)
    code, stdout, err = run([tmp_path / "phone.mkv", "--fps", 48, "-o", tmp_path / "cfr.mp4"], capsys)
    assert code == 0, err
    times, _, facts, _ = read_back(tmp_path / "cfr.mp4")
    check_timing(times, 21, 48)  # 0 to 10/24 s: not 11 frames over 0.21 s
    assert "variable-frame-rate input" in stdout
    # Output frame 3 (1/16 s) lies between source frames 1 and 2 at t = 1/2; frame 5 (5/48 s) between 2 and 8 at t = 1/12.
    assert [float(t) for t in blend[1]] == [0.5] and blend[2] == pytest.approx([1 / 12 * k for k in range(1, 12)])
    code, stdout, err = run([tmp_path / "phone.mkv", "-o", tmp_path / "vfr.mkv"], capsys)
    assert code == 0, err
    times, *_ = read_back(tmp_path / "vfr.mkv")
    wanted = [Fraction(s, 48) for s in (0, 1, 2, 3, 4, 10, 16, 17, 18, 19, 20)]
    assert all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(times, wanted)) and len(times) == 11
    assert "at the input's own times (variable rate, x2)" in stdout
    code, _, err = run([tmp_path / "phone.mkv", "-o", tmp_path / "vfr.avi"], capsys)
    assert code == 2 and "--fps" in err and "constant rate" in err and not (tmp_path / "vfr.avi").exists()


# --- audio -----------------------------------------------------------------------------------------


def test_audio_copied_reencoded_or_dropped(tmp_path, capsys, blend):
    make_clip(tmp_path / "clip.mp4", texture_frames(24), audio="aac")
    code, stdout, err = run([tmp_path / "clip.mp4", "-o", tmp_path / "out.mp4"], capsys)
    assert code == 0, err and "audio (aac) copied" in stdout
    times, _, _, audio = read_back(tmp_path / "out.mp4")
    assert [a[0] for a in audio] == ["aac"]
    assert abs(audio[0][1] - 1.0) < 1 / 24  # within a frame of the input's second
    with av.open(str(tmp_path / "clip.mp4")) as a, av.open(str(tmp_path / "out.mp4")) as b:
        packets_in = [bytes(p) for p in a.demux(audio=0) if p.size]
        packets_out = [bytes(p) for p in b.demux(audio=0) if p.size]
    assert packets_in == packets_out  # not re-encoded
    code, stdout, err = run([tmp_path / "clip.mp4", "-o", tmp_path / "out.webm"], capsys)
    assert code == 0, err
    assert "re-encoded to libopus" in stdout and [a[0] for a in read_back(tmp_path / "out.webm")[3]] == ["opus"]
    code, stdout, err = run([tmp_path / "clip.mp4", "-o", tmp_path / "silent.mp4", "--no-audio"], capsys)
    assert code == 0 and "left out (--no-audio)" in stdout and read_back(tmp_path / "silent.mp4")[3] == []
    code, stdout, err = run([tmp_path / "clip.mp4", "-o", tmp_path / "anim.gif", "--fps", 25], capsys)
    assert code == 0 and "warning: audio (aac) left out" in stdout


# --- animated images and alpha ---------------------------------------------------------------------


def animation(path, n=6, **save):
    Image = pytest.importorskip("PIL.Image")
    images = []
    for i in range(n):
        rgba = np.zeros((H, W, 4), np.uint8)
        rgba[10:30, 5 + 4 * i : 25 + 4 * i] = (255, 200, 0, 255)  # an opaque square moving over transparency
        images.append(Image.fromarray(rgba, "RGBA"))
    images[0].save(str(path), save_all=True, append_images=images[1:], duration=100, loop=0, **save)


def test_gif_in_and_out(tmp_path, capsys, blend):
    # Used to exit 2 blaming --pix-fmt.
    animation(tmp_path / "in.gif", disposal=2)
    code, stdout, err = run([tmp_path / "in.gif", "-o", tmp_path / "out.gif"], capsys)
    assert code == 0, err
    times, frames, facts, _ = read_back(tmp_path / "out.gif")
    check_timing(times, 11, 20)
    assert facts["codec"] == "gif"
    for frame in frames[:3]:  # transparency kept, on source and new frames
        alpha = frame.to_ndarray(format="rgba")[..., 3]
        assert alpha.min() == 0 and 300 < (alpha > 128).sum() < 500  # about the 20 x 20 square
    code, _, err = run([tmp_path / "in.gif", "-o", tmp_path / "bad.gif", "--fps", 24], capsys)
    assert code == 2 and "--fps" in err and "100 / k" in err and not (tmp_path / "bad.gif").exists()


def test_apng_and_alpha_through_frames(tmp_path, capsys, blend):
    Image = pytest.importorskip("PIL.Image")
    animation(tmp_path / "in.png")
    code, _, err = run([tmp_path / "in.png", "-o", tmp_path / "out.apng"], capsys)
    assert code == 0, err
    times, frames, facts, _ = read_back(tmp_path / "out.apng")
    assert len(times) == 11 and facts["pix_fmt"] == "rgba"
    alpha = frames[1].to_ndarray(format="rgba")[..., 3]
    assert alpha.min() == 0 and alpha.max() == 255  # the blend moved alpha with the colour
    code, _, err = run([tmp_path / "in.png", "-o", tmp_path / "frames"], capsys)
    assert code == 0, err
    names = sorted(os.listdir(tmp_path / "frames"))
    assert len(names) == 11 and names[0] == "000000.png"
    with Image.open(tmp_path / "frames" / "000001.png") as image:
        assert image.mode == "RGBA" and np.asarray(image)[..., 3].min() == 0


# --- scene cuts ------------------------------------------------------------------------------------


def test_scene_cut_repeats_the_nearer_frame(tmp_path, capsys):
    first, second = texture_frames(4, seed=1), texture_frames(4, seed=2)
    make_clip(tmp_path / "cut.mkv", first + second, codec="ffv1", pix_fmt="yuv444p")
    code, stdout, err = run([tmp_path / "cut.mkv", "--factor", 4, "-o", tmp_path / "out.mkv"], capsys)
    assert code == 0, err and "1 scene cuts" in stdout
    assert "wrote 29 frames (18 interpolated, 8 source, 3 repeated)" in stdout
    _, out, *_ = read_back(tmp_path / "out.mkv")
    _, source, *_ = read_back(tmp_path / "cut.mkv")
    # Output 12 is source 3; 13 (t = 1/4) repeats it; 14 and 15 (t = 1/2, 3/4) repeat source 4 (output 16).
    same = [
        np.array_equal(out[j].to_ndarray(), source[i].to_ndarray()) for j, i in ((12, 3), (13, 3), (14, 4), (15, 4))
    ]
    assert all(same)
    code, stdout, _ = run(
        [tmp_path / "cut.mkv", "--factor", 4, "-o", tmp_path / "off.mkv", "--scene-threshold", 0], capsys
    )
    assert code == 0 and "scene cuts not looked for" in stdout
    assert "wrote 29 frames (21 interpolated, 8 source)" in stdout  # the cut pair interpolated too


def test_cut_score_separates_cuts_from_motion_on_synthetic_scenes():
    triplets = SyntheticTriplets(40, size=64, max_motion=4.0, seed=11)
    items = [triplets[i] for i in range(40)]
    motion = [cut_score(a, c) for a, _, c, _ in items]
    cuts = [cut_score(items[i][0], items[(i + 5) % 40][2]) for i in range(40)]
    assert max(motion) < DEFAULT_THRESHOLD <= min(cuts)
    detector = CutDetector()
    assert not detector(items[0][0], items[0][2]) and detector(items[0][2], items[9][0])
    assert not CutDetector(0)(items[0][2], items[9][0])


# --- frames to a video and back --------------------------------------------------------------------


def test_frames_to_video_and_video_to_frames(tmp_path, capsys, blend):
    from vfi_ops.models.images import write_frame

    for i, frame in enumerate(texture_frames(5)):
        write_frame(str(tmp_path / "frames" / f"{i:03d}.png"), frame)
    # Used to write a folder named frames.mp4 full of PNGs.
    code, stdout, err = run([tmp_path / "frames", "-o", tmp_path / "frames.mp4", "--fps", 30], capsys)
    assert code == 0, err
    assert os.path.isfile(tmp_path / "frames.mp4")
    times, _, facts, _ = read_back(tmp_path / "frames.mp4")
    check_timing(times, 9, 30)  # frames at 15 fps (--fps / 2), doubled
    assert facts["tags"][0] == 1  # RGB frames written as BT.709, and tagged so
    code, _, err = run([tmp_path / "frames", "-o", tmp_path / "x3.mkv", "--input-fps", 10, "--factor", 3], capsys)
    assert code == 0, err
    check_timing(read_back(tmp_path / "x3.mkv")[0], 13, 30, exact=False)
    code, _, err = run([tmp_path / "frames.mp4", "-o", tmp_path / "back"], capsys)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "back")) == [f"{j:06d}.png" for j in range(17)]
    code, _, err = run([tmp_path / "frames", "-o", tmp_path / "none.mp4"], capsys)
    assert code == 2 and "needs a rate: --fps" in err


# --- options refused before any work ---------------------------------------------------------------


def test_unknown_codec_options_and_impossible_rates_are_refused_up_front(tmp_path, capsys, blend):
    make_clip(tmp_path / "clip.mp4", texture_frames(4))
    code, _, err = run([tmp_path / "clip.mp4", "-o", tmp_path / "o.mp4", "--codec-option", "nosuchoption=1"], capsys)
    assert code == 2 and "--codec-option" in err and "'nosuchoption'" in err and not blend
    assert not (tmp_path / "o.mp4").exists()
    code, _, err = run([tmp_path / "clip.mp4", "-o", tmp_path / "o.mp4", "--fps", "1e-300"], capsys)
    assert code == 2 and err.count("--fps") >= 1 and "--pix-fmt" not in err and not blend
    code, _, err = run(
        [tmp_path / "clip.mp4", "-o", tmp_path / "o.avi", "--codec", "mpeg4", "--fps", "100000/3"], capsys
    )
    assert code == 2 and "--fps" in err and not blend and not (tmp_path / "o.avi").exists()


def test_rates_are_exact_fractions():
    assert parse_rate("29.97", "--fps") == Fraction(30000, 1001)
    assert parse_rate("23.976", "--fps") == parse_rate("23.98", "--fps") == Fraction(24000, 1001)
    assert parse_rate("60000/1001", "--fps") == parse_rate("59.94", "--fps")
    assert parse_rate("12.5", "--fps") == Fraction(25, 2) and parse_rate("30.0", "--fps") == 30
    with pytest.raises(ValueError, match=re.escape("--fps 1e-300 cannot be a frame rate")):
        parse_rate("1e-300", "--fps")
    times = [Fraction(s, 24) for s in (0, 1, 2, 8, 9, 10)]
    assert len(plan(times, rate=48)) == 21 and len(plan(times, factor=2)) == 11
