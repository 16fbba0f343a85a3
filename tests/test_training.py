import io
import os

import pytest
import torch

from vfi_ops.models.data import SyntheticTriplets, VimeoTriplets, read_image, write_image
from vfi_ops.models.losses import charbonnier
from vfi_ops.models.checkpoint import load_model
from vfi_ops.models.train import Trainer, TrainConfig, train


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
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           "-m", "vfi_ops.models.train", "--data", "synthetic", "--steps", "2", "--batch-size", "2", "--crop", "32",
           "--width", "8", "--workers", "0", "--checkpoint", str(path)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "step 2/2" in done.stdout
    assert torch.load(path, weights_only=True)["step"] == 2


def test_ugsp_two_stage_training(tmp_path):
    uen_path, main_path = str(tmp_path / "uen.pt"), str(tmp_path / "ugsp.pt")
    out = io.StringIO()
    uen_losses = train(small_config(model="ugsp", stage="uen", steps=3, checkpoint=uen_path, save_every=3), out=out)
    assert len(uen_losses) == 3
    assert type(load_model(uen_path)).__name__ == "UncertaintyNet"
    losses = train(small_config(model="ugsp", uen=uen_path, sparsity=0.2, steps=3, checkpoint=main_path,
                                save_every=3), out=out)
    assert len(losses) == 3 and all(l == l for l in losses)
    model = load_model(main_path)
    assert type(model).__name__ == "UGSP" and not model.training
    with pytest.raises(ValueError, match="needs --uen"):
        train(small_config(model="ugsp"), out=out)
    with pytest.raises(ValueError, match="--stage must be"):
        train(small_config(stage="uen"), out=out)
