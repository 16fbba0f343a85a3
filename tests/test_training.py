import io
import os
import re

import pytest
import torch
from vfi_ops.models.checkpoint import load_model
from vfi_ops.models.data import SyntheticTriplets, VimeoTriplets
from vfi_ops.models.images import read_image, write_image
from vfi_ops.models.train import TrainConfig, Trainer, train


def small_config(**over):
    config = dict(steps=4, batch_size=2, crop=32, width=8, workers=0, warmup=1, log_every=1, lr=2e-3)
    config.update(over)
    return TrainConfig(**config)


def test_synthetic_triplets():
    data = SyntheticTriplets(length=4, size=40, seed=3)
    I0, It, I1, t = data[1]
    assert I0.shape == It.shape == I1.shape == (3, 40, 40)
    assert 0.1 <= float(t) <= 0.9
    assert all(float(x.min()) >= 0 and float(x.max()) <= 1 for x in (I0, It, I1))
    for a, b in zip(data[1], SyntheticTriplets(length=4, size=40, seed=3)[1]):
        assert torch.equal(a, b)  # the same item every time
    assert not torch.allclose(I0, I1)  # things move
    # The middle frame is not the blend of the ends: the motion has to be found.
    assert (It - ((1 - t) * I0 + t * I1)).abs().mean() > 0.005


def test_synthetic_triplets_from_images(tmp_path):
    write_image(str(tmp_path / "a.png"), torch.rand(3, 50, 70))
    data = SyntheticTriplets(length=2, size=32, sources=[str(tmp_path)])
    assert data[0][0].shape == (3, 32, 32)


def test_training_steps_reduce_the_loss():
    # A few steps on one synthetic batch: the loss on it must fall.
    batch = [torch.stack(x) for x in zip(*[SyntheticTriplets(length=4, size=32, seed=5)[i] for i in range(4)])]
    trainer = Trainer(small_config(steps=25, lr=3e-3), torch.device("cpu"))
    losses = [trainer.train_step(batch) for _ in range(25)]
    assert trainer.step == 25
    assert sum(losses[-5:]) / 5 < 0.97 * losses[0]  # measured: 0.0606 -> 0.0575


def test_checkpoint_resume_round_trip(tmp_path):
    path = str(tmp_path / "run" / "dain.pt")
    out = io.StringIO()
    first = train(small_config(steps=3, checkpoint=path, save_every=3), out=out)
    assert len(first) == 3 and os.path.exists(path)
    resumed = train(small_config(steps=5, checkpoint=path, save_every=1), out=out)
    assert len(resumed) == 2 and "resumed from" in out.getvalue() and "step 5/5" in out.getvalue()
    state = torch.load(path, weights_only=True)
    assert state["step"] == 5
    trainer = Trainer(small_config(), torch.device("cpu"))
    trainer.load_state_dict(state)
    model = load_model(path)
    I0, I1 = torch.rand(1, 3, 20, 24), torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(I0, I1, 0.5), trainer.model.eval()(I0, I1, 0.5))


def test_vimeo_layout(tmp_path):
    for seq in ("00001/0001", "00001/0002"):
        for i in (1, 2, 3):
            write_image(str(tmp_path / "sequences" / seq / f"im{i}.png"), torch.rand(3, 40, 48))
    (tmp_path / "tri_trainlist.txt").write_text("00001/0001\n00001/0002\n")
    data = VimeoTriplets(str(tmp_path), crop=32)
    I0, It, I1, t = data[0]
    assert I0.shape == (3, 32, 32) and float(t) == 0.5
    losses = train(small_config(steps=2, data=f"vimeo:{tmp_path}"), out=io.StringIO())
    assert len(losses) == 2 and all(l == l for l in losses)
    with pytest.raises(FileNotFoundError, match="no list file"):
        VimeoTriplets(str(tmp_path / "elsewhere"))


def test_image_files(tmp_path):
    image = torch.rand(3, 9, 11)
    write_image(str(tmp_path / "x.png"), image)
    torch.testing.assert_close(read_image(str(tmp_path / "x.png")), image, atol=1 / 255, rtol=0)
    with pytest.raises(FileNotFoundError, match="no such image"):
        read_image(str(tmp_path / "missing.png"))
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read"):
        read_image(str(tmp_path / "bad.png"))


def test_bad_data_option():
    with pytest.raises(ValueError, match="--data must be"):
        train(small_config(data="imagenet"), out=io.StringIO())


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_torchrun_two_processes(tmp_path):
    # DistributedDataParallel over two CPU processes (gloo), as torchrun starts them.
    import subprocess
    import sys

    path = tmp_path / "ddp.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29531",
        "-m",
        "vfi_ops.models.train",
        "--data",
        "synthetic",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--crop",
        "32",
        "--width",
        "8",
        "--workers",
        "0",
        "--checkpoint",
        str(path),
    ]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        cmd, cwd=root, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1")
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "step 2/2" in done.stdout
    assert torch.load(path, weights_only=True)["step"] == 2


def test_ugsp_two_stage_training(tmp_path):
    uen_path, main_path = str(tmp_path / "uen.pt"), str(tmp_path / "ugsp.pt")
    out = io.StringIO()
    uen_losses = train(small_config(model="ugsp", stage="uen", steps=3, checkpoint=uen_path, save_every=3), out=out)
    assert len(uen_losses) == 3
    assert type(load_model(uen_path)).__name__ == "UncertaintyNet"
    losses = train(
        small_config(model="ugsp", uen=uen_path, sparsity=0.2, steps=3, checkpoint=main_path, save_every=3), out=out
    )
    assert len(losses) == 3 and all(l == l for l in losses)
    model = load_model(main_path)
    assert type(model).__name__ == "UGSP" and not model.training
    with pytest.raises(ValueError, match="needs --uen"):
        train(small_config(model="ugsp"), out=out)
    with pytest.raises(ValueError, match="--stage must be"):
        train(small_config(stage="uen"), out=out)


@pytest.mark.parametrize(
    "args,match",
    [
        (["--save-every", "0"], "argument --save-every: must be at least 1"),
        (["--steps", "-1"], "argument --steps: must be at least 1"),
        (["--lr", "nan"], "argument --lr: must be a number in"),
        (["--sparsity", "1.5"], r"argument --sparsity: must be a number in \[0, 1\]"),
        (["--batch-size", "two"], "argument --batch-size: expected an integer"),
    ],
)
def test_cli_refuses_bad_numbers(args, match, capsys):
    from vfi_ops.models.train import main

    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2 and re.search(match, capsys.readouterr().err)


def test_cli_checks_paths_and_options_before_work(tmp_path, capsys):
    from vfi_ops.models.train import main

    cases = [
        (["--checkpoint", str(tmp_path)], "--checkpoint .* is a folder"),
        (["--width", "1"], "--width: DAIN: width must be at least 2"),
        (["--data", "vimeo:" + str(tmp_path / "none")], "--data vimeo:.*no list file"),
        (["--sources", str(tmp_path / "none")], "--sources: no such file or folder"),
        (["--model", "ugsp", "--uen", str(tmp_path / "none.pt")], "--uen: no such checkpoint"),
        (["--uen", str(tmp_path / "x.pt")], "--uen applies to --model ugsp --stage main"),
    ]
    for args, match in cases:
        assert main(args + ["--steps", "1", "--workers", "0"]) == 2, args
        assert re.search(match, capsys.readouterr().err), args
    assert os.listdir(tmp_path) == []


def test_nan_loss_stops_with_an_error_and_saves_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / "run.pt")
    train(small_config(steps=2, checkpoint=path, save_every=1), out=io.StringIO())
    saved = torch.load(path, weights_only=True)
    monkeypatch.setattr(Trainer, "loss", lambda self, *batch: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(FloatingPointError, match="the loss is nan at step 3"):
        train(small_config(steps=4, checkpoint=path, save_every=1), out=io.StringIO())
    after = torch.load(path, weights_only=True)
    assert after["step"] == 2 and all(torch.equal(after["model"][k], v) for k, v in saved["model"].items())


def test_saves_use_their_own_temporary_files(tmp_path, monkeypatch):
    from vfi_ops.models import checkpoint

    names, replace = [], os.replace
    monkeypatch.setattr(checkpoint.os, "replace", lambda src, dst: (names.append(src), replace(src, dst)))
    path = str(tmp_path / "same.pt")
    checkpoint.save_checkpoint({"a": torch.zeros(1)}, path)
    checkpoint.save_checkpoint({"a": torch.ones(1)}, path)
    assert len(set(names)) == 2 and all(os.path.dirname(n) == str(tmp_path) for n in names)
    assert os.listdir(tmp_path) == ["same.pt"] and torch.load(path, weights_only=True)["a"].item() == 1


def test_stored_configuration_is_checked(tmp_path):
    path = str(tmp_path / "dain.pt")
    Trainer(small_config(), torch.device("cpu")).save(path)
    state = torch.load(path, weights_only=True)
    for change, match in (
        ({"width": -4}, "stored configuration is invalid .*width must be at least 2"),
        ({"width": 10**6}, r"weights do not fit a DAIN of width 1000000 .*shape mismatch"),
        ({"model": "resnet"}, "stored configuration is invalid .*model must be one of"),
    ):
        bad = str(tmp_path / "bad.pt")
        torch.save(dict(state, config=dict(state["config"], **change)), bad)
        with pytest.raises(ValueError, match=re.escape(bad) + ": .*" + match):
            load_model(bad)
    state["model"].pop("synthesis.0.0.weight")
    torch.save(state, str(tmp_path / "cut.pt"))
    with pytest.raises(ValueError, match=r"cut.pt: its weights do not fit .*missing \(1\): synthesis.0.0.weight"):
        load_model(str(tmp_path / "cut.pt"))


def test_resuming_with_other_options_names_them(tmp_path):
    path = str(tmp_path / "run.pt")
    train(small_config(steps=1, checkpoint=path), out=io.StringIO())
    with pytest.raises(ValueError, match=r"run.pt was trained with --width 8, but this run has --width 16"):
        train(small_config(steps=2, checkpoint=path, width=None), out=io.StringIO())
    with pytest.raises(ValueError, match=r"run.pt was trained with --model dain, but this run has --model ugsp"):
        train(small_config(steps=2, checkpoint=path, model="ugsp", stage="uen"), out=io.StringIO())


def test_files_that_are_not_checkpoints(tmp_path):
    from fractions import Fraction

    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save(torch.zeros(3), str(tmp_path / "tensor.pt"))
    torch.save({"thing": Fraction(1, 3)}, str(tmp_path / "object.pt"))  # loading it would need weights_only=False
    (tmp_path / "text.pt").write_text("hello")
    for name in ("empty.pt", "tensor.pt", "object.pt", "text.pt"):
        with pytest.raises(ValueError, match="is not a checkpoint written by vfi-train") as err:
            load_model(str(tmp_path / name))
        assert "weights_only" not in str(err.value), name
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_model(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="is a folder, not a checkpoint"):
        load_model(str(tmp_path))
