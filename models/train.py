"""Train the DAIN-style or the UGSP-style model.

    vfi-train --data synthetic --steps 2000 --checkpoint runs/dain.pt
    vfi-train --data vimeo:/path/to/vimeo_triplet --steps 300000 --checkpoint runs/dain.pt
    torchrun --nproc_per_node 4 -m vfi_ops.models.train --data vimeo:/path/to/vimeo_triplet ...

The UGSP-style model trains in two stages: its uncertainty network first, then
the interpolation network guided by it:

    vfi-train --model ugsp --stage uen --checkpoint runs/uen.pt ...
    vfi-train --model ugsp --uen runs/uen.pt --sparsity 0.3 --checkpoint runs/ugsp.pt ...

Charbonnier loss, AdamW, cosine learning-rate schedule, random crops, flips and
temporal reversal, mixed precision on CUDA, checkpoints that resume (the same
--checkpoint path is written every --save-every steps and read at start), and
DistributedDataParallel when started by torchrun.

While it trains, a run holds a lock on its --checkpoint (the file
<checkpoint>.lock, naming its process id): a second run on the same checkpoint
is refused until the first ends. The lock is released on exit, on Ctrl-C
(SIGINT) and on SIGTERM; one left by a killed run is taken over with a warning.
A checkpoint holding NaN or infinity (resumed, or given to --uen) is refused,
and a step whose loss is not finite stops training without saving it.
"""

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import torch
import torch.distributed as dist

from . import cli
from .checkpoint import MODELS, STAGES, check_finite, check_weights_fit, load_model, read_checkpoint, save_checkpoint
from .checkpoint import build_model as build_network
from .data import SyntheticTriplets, VimeoTriplets
from .extras import EXTRA
from .lock import CheckpointLock, CheckpointLockError
from .losses import census_loss, charbonnier, guidance_loss, sparsity_loss, uncertainty_loss
from .ugsp import UGSP


@dataclass
class TrainConfig:
    data: str = "synthetic"  # "synthetic" or "vimeo:<root>"
    sources: List[str] = field(default_factory=list)  # images whose crops texture the synthetic triplets
    steps: int = 1000
    batch_size: int = 8
    crop: int = 128
    width: Optional[int] = None  # None: the model's default (DAIN 16, UGSP 24, its UEN 16)
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup: int = 100
    workers: int = 2
    checkpoint: Optional[str] = None
    save_every: int = 500
    log_every: int = 10
    seed: int = 0
    amp: bool = True  # on CUDA only
    model: str = "dain"  # or "ugsp"
    stage: str = "main"  # ugsp: "uen" trains the uncertainty network, "main" the interpolation network
    uen: Optional[str] = None  # ugsp main stage: the trained uncertainty network's checkpoint
    sparsity: float = 0.3  # ugsp: the target fraction S_t of decoder positions computed


class PrunedAndUnpruned(torch.nn.Module):
    """UGSP's training forward: the pruned network (soft masks) and its unpruned
    branch (mode="dense"), in one call so that DistributedDataParallel sees one forward."""

    def __init__(self, model: UGSP):
        super().__init__()
        self.model = model

    def forward(self, I0, I1, t):
        return self.model(I0, I1, t, return_aux=True), self.model(I0, I1, t, mode="dense", return_aux=True)


def check_config(config: TrainConfig) -> None:
    """Every option, before any work; errors name the option."""
    if config.model not in MODELS:
        raise ValueError(f"--model must be one of {MODELS}, but got {config.model!r}")
    if config.stage not in STAGES or (config.stage == "uen" and config.model != "ugsp"):
        raise ValueError(f"--stage must be 'main', or 'uen' with --model ugsp, but got {config.stage!r}")
    for name, minimum in (
        ("steps", 1),
        ("batch_size", 1),
        ("crop", 8),
        ("warmup", 0),
        ("workers", 0),
        ("save_every", 1),
        ("log_every", 1),
    ):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be an integer >= {minimum}, but got {value!r}")
    for name, low, high in (("lr", 0.0, math.inf), ("weight_decay", 0.0, math.inf), ("sparsity", 0.0, 1.0)):
        value = getattr(config, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high) or (
            name == "lr" and value == 0
        ):
            bounds = "> 0" if name == "lr" else f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
            raise ValueError(f"--{name.replace('_', '-')} must be a finite number {bounds}, but got {value!r}")
    try:
        with torch.device("meta"):  # checks the width without allocating anything
            build_network(config.model, config.stage, config.width)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--width: {err}") from None
    if config.model == "ugsp" and config.stage == "main":
        if not config.uen:
            raise ValueError("--model ugsp needs --uen CHECKPOINT (train it first with --stage uen)")
        if not os.path.isfile(config.uen):
            raise FileNotFoundError(f"--uen: no such checkpoint: {config.uen}")
    elif config.uen:
        raise ValueError("--uen applies to --model ugsp --stage main")
    if config.data != "synthetic" and not config.data.startswith("vimeo:"):
        raise ValueError(f"--data must be 'synthetic' or 'vimeo:<root>', but got {config.data!r}")
    if config.data.startswith("vimeo:"):
        listing = os.path.join(config.data[len("vimeo:") :], "tri_trainlist.txt")
        if not os.path.isfile(listing):
            raise FileNotFoundError(f"--data {config.data}: no list file {listing}")
    for source in config.sources:
        if not os.path.exists(source):
            raise FileNotFoundError(f"--sources: no such file or folder: {source}")
    if config.checkpoint:
        if os.path.isdir(config.checkpoint):
            raise ValueError(f"--checkpoint {config.checkpoint} is a folder; give a file name")
        existing = os.path.dirname(os.path.abspath(config.checkpoint))
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
            raise ValueError(f"--checkpoint {config.checkpoint}: cannot write into {existing}")


def resolved_width(model: str, stage: str, width: Optional[int]) -> int:
    """The width a model is built with (None: its default)."""
    with torch.device("meta"):
        return build_network(model, stage, width).width


def build_model(config: TrainConfig) -> torch.nn.Module:
    check_config(config)
    return build_network(config.model, config.stage, config.width)


def make_dataset(config: TrainConfig) -> torch.utils.data.Dataset:
    if config.data == "synthetic":
        return SyntheticTriplets(
            length=max(1000, config.steps * config.batch_size),
            size=config.crop,
            sources=config.sources,
            seed=config.seed,
        )
    if config.data.startswith("vimeo:"):
        return VimeoTriplets(config.data[len("vimeo:") :], crop=config.crop)
    raise ValueError(f"--data must be 'synthetic' or 'vimeo:<root>', but got {config.data!r}")


def lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then a cosine decay to 1% over the remaining steps."""
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Trainer:
    """Holds the model, optimiser, schedule and step; ``state_dict`` / ``load_state_dict`` checkpoint them all."""

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        torch.manual_seed(config.seed)
        self.model = build_model(config).to(device)
        self.uen = None
        if config.model == "ugsp" and config.stage == "main":
            if not config.uen:
                raise ValueError("--model ugsp needs --uen CHECKPOINT (train it first with --stage uen)")
            self.uen = load_model(config.uen, device, expected=[("ugsp", "uen")], option="--uen")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, config))
        self.use_amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.step = 0
        self.net = PrunedAndUnpruned(self.model) if self.uen is not None else self.model
        if dist.is_available() and dist.is_initialized():
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[device.index] if device.type == "cuda" else None
            )

    def loss(self, I0, It, I1, t):
        if self.config.model == "dain":
            return charbonnier(self.net(I0, I1, t).float(), It)
        if self.config.stage == "uen":
            estimate, log_u = self.net(I0, I1, t)
            return uncertainty_loss(estimate.float(), It, log_u.float())
        # UGSP: the pruned network (soft masks) and the unpruned branch (mode="dense"), both reconstructing
        # the frame; masks pulled toward S_t and toward the uncertainty; pruned features toward unpruned ones.
        with torch.no_grad():
            _, log_u = self.uen(I0, I1, t)
        (out, aux), (full, aux_full) = self.net(I0, I1, t)
        census = sum(census_loss(a.float(), b.detach().float()) for a, b in zip(aux["features"], aux_full["features"]))
        return (
            charbonnier(out.float(), It)
            + charbonnier(full.float(), It)
            + 0.1 * sparsity_loss(aux["probs"], self.config.sparsity)
            + 0.1 * guidance_loss(aux["probs"], log_u)
            + 0.1 * census / len(aux["features"])
        )

    def train_step(self, batch) -> float:
        """One optimiser step; raises FloatingPointError (before the step) if the loss is not finite."""
        I0, It, I1, t = (x.to(self.device, non_blocking=True) for x in batch)
        self.net.train()
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            loss = self.loss(I0, It, I1, t)
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(
                f"the loss is {loss.item()} at step {self.step + 1}; training stopped "
                "without saving it (lower --lr, or check the data)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        self.step += 1
        return loss.item()

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict, path: str = "the checkpoint") -> None:
        """Resumes from a checkpoint written by save; errors name the file and any option that differs."""
        stored = state.get("config", {})
        for name in ("model", "stage"):
            if stored.get(name, getattr(TrainConfig, name)) != getattr(self.config, name):
                raise ValueError(
                    f"{path} was trained with --{name} {stored.get(name)}, but this run has "
                    f"--{name} {getattr(self.config, name)}; use the same, or another --checkpoint"
                )
        width = resolved_width(self.config.model, self.config.stage, self.config.width)
        try:
            stored_width = resolved_width(self.config.model, self.config.stage, stored.get("width"))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{path}: its stored configuration is invalid ({err})") from None
        if stored_width != width:
            raise ValueError(
                f"{path} was trained with --width {stored_width}, but this run has --width {width}; "
                "use the same, or another --checkpoint"
            )
        check_weights_fit(self.model, state["model"], path, f"{type(self.model).__name__} of width {width}")
        missing = [k for k in ("optimizer", "schedule", "scaler", "step") if k not in state]
        if missing:
            raise ValueError(f"{path} cannot be resumed: it has no {', '.join(missing)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = state["step"]

    def save(self, path: str) -> None:
        """Writes the checkpoint atomically (never half-written); raises FloatingPointError, writing
        nothing, if a tensor of the state (weights, optimiser) is not finite."""
        state = self.state_dict()
        try:
            check_finite(state, path)
        except ValueError:
            raise FloatingPointError(
                f"the model's weights or the optimiser's state hold NaN or infinity after step {self.step}; "
                f"training stopped without writing {path} (lower --lr, or check the data)"
            ) from None
        save_checkpoint(state, path)


def batches(loader, sampler):
    """Endless batches, reshuffled each pass."""
    epoch = 0
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def train(config: TrainConfig, device: Optional[torch.device] = None, out=sys.stdout) -> List[float]:
    """Trains up to config.steps (resuming from config.checkpoint if it exists);
    returns the losses of the steps run here. The process that saves (rank 0) holds
    config.checkpoint's lock throughout (vfi_ops.models.lock: CheckpointLockError
    while another run holds it)."""
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    if rank == 0 and config.checkpoint:
        with CheckpointLock(config.checkpoint):
            return _train(config, device, out, distributed, rank)
    return _train(config, device, out, distributed, rank)


def _train(config: TrainConfig, device, out, distributed: bool, rank: int) -> List[float]:
    if device is None:
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    trainer = Trainer(config, device)
    if config.checkpoint and os.path.exists(config.checkpoint):
        trainer.load_state_dict(read_checkpoint(config.checkpoint, device), config.checkpoint)
        if rank == 0:
            print(f"resumed from {config.checkpoint} at step {trainer.step}", file=out)
    dataset = make_dataset(config)
    sampler = torch.utils.data.DistributedSampler(dataset, seed=config.seed) if distributed else None
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=config.workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        persistent_workers=config.workers > 0,
    )
    losses, started, window = [], time.perf_counter(), []
    for batch in batches(loader, sampler):
        if trainer.step >= config.steps:
            break
        losses.append(trainer.train_step(batch))
        window.append(losses[-1])
        if rank == 0 and (trainer.step % config.log_every == 0 or trainer.step == config.steps):
            elapsed = time.perf_counter() - started
            rate = len(losses) * config.batch_size * (dist.get_world_size() if distributed else 1) / elapsed
            done = trainer.step / config.steps
            bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
            end = "\r" if out.isatty() and trainer.step < config.steps else "\n"
            print(
                f"[{bar}] step {trainer.step}/{config.steps}  loss {sum(window) / len(window):.4f}  "
                f"{rate:.1f} triplets/s  lr {trainer.schedule.get_last_lr()[0]:.2e}",
                end=end,
                file=out,
                flush=True,
            )
            window = []
        if rank == 0 and config.checkpoint and (trainer.step % config.save_every == 0 or trainer.step == config.steps):
            trainer.save(config.checkpoint)
    return losses


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="vfi-train",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]) + f"\nNeeds the models extra for image files: {EXTRA}",
    )
    parser.add_argument("--data", default=defaults.data, help="'synthetic' or 'vimeo:<root of vimeo_triplet>'")
    parser.add_argument("--sources", nargs="*", default=[], help="images or folders to texture synthetic triplets")
    integers = {
        "steps": (1, "optimiser steps in all (a resumed run continues to this count)"),
        "batch_size": (1, "triplets per step (per process under torchrun)"),
        "crop": (8, "side of the square training crops, in pixels"),
        "width": (1, "the model's base channel width (default: DAIN 16, UGSP 24, its uncertainty network 16)"),
        "warmup": (0, "steps of linear learning-rate warm-up"),
        "workers": (0, "data-loading worker processes (0: in the training process)"),
        "save_every": (1, "write the checkpoint every this many steps (and at the end)"),
        "log_every": (1, "print the mean loss every this many steps"),
    }
    for name, (minimum, text) in integers.items():
        default = getattr(defaults, name)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=cli.integer(minimum),
            default=default,
            help=f"{text}; an integer >= {minimum}" + ("" if default is None else f" (default {default})"),
        )
    parser.add_argument(
        "--seed", type=cli.integer(0), default=defaults.seed, help=f"random seed (default {defaults.seed})"
    )
    parser.add_argument(
        "--lr",
        type=cli.real(0, low_open=True),
        default=defaults.lr,
        help=f"peak learning rate (default {defaults.lr:g})",
    )
    parser.add_argument(
        "--weight-decay",
        type=cli.real(0),
        default=defaults.weight_decay,
        help=f"AdamW weight decay (default {defaults.weight_decay:g})",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="where to save (and resume from); locked (CHECKPOINT.lock) while this run trains",
    )
    parser.add_argument("--model", choices=MODELS, default=defaults.model, help="the model to train (default dain)")
    parser.add_argument("--stage", choices=STAGES, default=defaults.stage, help="ugsp: 'uen' first, then 'main'")
    parser.add_argument(
        "--uen", default=None, help="ugsp main stage: checkpoint of the trained uncertainty network (--stage uen)"
    )
    parser.add_argument("--sparsity", type=cli.real(0, 1), default=defaults.sparsity, help="ugsp: target fraction S_t")
    parser.add_argument("--no-amp", action="store_true", help="train in float32 on CUDA too")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k != "no_amp"}, amp=not args.no_amp)
    try:
        check_config(config)
    except (FileNotFoundError, ValueError) as err:
        print(f"vfi-train: {err}", file=sys.stderr)
        return 2
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    try:
        train(config)
    except (FileNotFoundError, ValueError, ImportError, CheckpointLockError) as err:
        print(f"vfi-train: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vfi-train: interrupted; the checkpoint holds the last step saved", file=sys.stderr)
        return 130
    except FloatingPointError as err:
        print(f"vfi-train: {err}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
