"""N frozen teachers F^1..F^N, evaluated together: each teacher's own posterior features s_t^i (Eq. 3-4 inputs).

    pool = TeacherPool.load(["runs/teachers/walker_walk", "runs/teachers/cheetah_run"], device="cpu")
    pool.check_compatible(student_kwargs)
    feat_NBTF = pool.features(image_BTHWC, action_BTA, is_first_BT)   # (N, B, T, F), no gradients

The teachers share an architecture, so their parameters stack and one call evaluates all N. The frames are
preprocessed once, and the GRU scan runs once for all N instead of N times: `functional_call` swaps the N teachers'
stacked RSSM parameters (N, ...) into one RSSM whose layers then do batched matmuls (on 2 CPU cores, B16 x T50, N=4:
19 ms against 4 x 8 ms looped, and 37 ms under `torch.func.vmap`).

The encoders run one of two ways (`grouped_convs`, chosen by device unless given):
- grouped (the default on CUDA): one conv per layer for all N - the first reads the shared frames with all N
  teachers' filters (N x C out channels), the later ones are grouped convs (groups = N) - so N teachers cost as
  many kernel launches as one;
- per teacher (the default on a CPU): each teacher's own encoder on the shared frames. A CPU's convs are
  compute-bound and do the same work either way: over `bench/teachers.py` runs on 2 cores the grouped layout timed
  0.95-1.14x the per-teacher one at N = 4-8, never reliably faster. There the encoders are ~75% of the loop, which
  bounds what batching can save; the bench prints that floor.
`features_loop` is the reference (a Python loop over teachers) for tests and the benchmark. Features use the
posterior mean / mode (sample=False), so they are deterministic; on CUDA both paths run under bf16 autocast.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state

from learner import (
    CHECKPOINT_SIDECAR,
    CheckpointError,
    WorldModel,
    autocast,
    load_checkpoint,
    pad_action,
    pick_device,
    preprocess,
    restore_checkpoint,
    to_torch,
)

# WorldModel kwargs that change the computed features; the rest (loss weights, reward head) do not.
ARCH_KEYS = ("image_size", "depth", "stoch", "discrete", "deter", "hidden", "min_std")
LOAD_HINT = "re-run `vid2act pretrain --dataset <its source> --out <this dir>` (it resumes from a good checkpoint)"


def _teacher_features(model: WorldModel, image_BTHWC, action_BTA, is_first_BT) -> torch.Tensor:
    post, _ = model.observe(model.encode(image_BTHWC), action_BTA, is_first_BT, sample=False)
    return model.features(post)  # (B, T, F)


def _stacked_convs(models: list[WorldModel]) -> list[tuple | None]:
    """Per encoder layer, the F.conv2d arguments (weight, bias, stride, padding, dilation, groups) of one conv that
    computes all N teachers' outputs side by side in its channels (teacher-major), or None for a parameter-free
    layer (the activation, applied as is). The first conv sees the shared frames (groups = 1); each later one
    maps every teacher's channels with that teacher's filters (groups = N)."""
    stacked, groups = [], 1
    for layers in zip(*(m.encoder.net for m in models)):
        conv = layers[0]
        if not isinstance(conv, nn.Conv2d):
            stacked.append(None)
            continue
        weight, bias = torch.cat([c.weight for c in layers]), torch.cat([c.bias for c in layers])
        stacked.append((weight, bias, conv.stride, conv.padding, conv.dilation, groups))
        groups = len(models)
    return stacked


def load_teacher(directory: str | Path, device: str | torch.device = "cpu") -> tuple[WorldModel, dict]:
    """One teacher from its directory, frozen (eval, no gradients): (model, sidecar info + `dir`)."""
    info, tensors = load_checkpoint(directory, LOAD_HINT)
    try:
        model = WorldModel(**info["kwargs"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{Path(directory) / CHECKPOINT_SIDECAR}: bad model kwargs ({err}); "
                              f"{LOAD_HINT}") from None
    restore_checkpoint({"model": model}, info, tensors, directory)
    return model.to(pick_device(str(device))).eval().requires_grad_(False), {**info, "dir": str(directory)}


class TeacherPool:
    def __init__(self, models: list[WorldModel], infos: list[dict], device: torch.device,
                 grouped_convs: bool | None = None):
        self.models, self.infos, self.device = models, infos, device
        self.grouped_convs = device.type == "cuda" if grouped_convs is None else grouped_convs
        self.kwargs = dict(models[0].kwargs)
        for model in models:
            model.eval().requires_grad_(False)
        # RSSM: parameters stacked along a leading teacher dim; its stack-aware layers (learner.nets.Linear) run
        # the one scan over time for all N with batched matmuls.
        self._rssm = stack_module_state([m.rssm for m in models])
        self._rssm_base = copy.deepcopy(models[0].rssm).to("meta")
        self._rssm_base.forward = self._rssm_base.observe  # functional_call calls forward
        self._convs = _stacked_convs(models) if self.grouped_convs else None

    @classmethod
    def load(cls, dirs: list[str | Path], device: str | torch.device = "cpu", expect: dict | None = None,
             grouped_convs: bool | None = None):
        """Load frozen teachers from their directories; `expect` = the student's kwargs to check against;
        `grouped_convs` = how the encoders run (None: grouped on CUDA, per teacher on a CPU)."""
        if not dirs:
            raise ValueError("no teacher directories given (train.teachers is empty)")
        device = pick_device(str(device))
        models, infos = zip(*(load_teacher(d, device) for d in dirs))
        ref = infos[0]
        for info in infos[1:]:
            diff = {k: (ref["kwargs"][k], info["kwargs"][k]) for k in ARCH_KEYS + ("action_dim",)
                    if ref["kwargs"][k] != info["kwargs"][k]}
            if diff:
                raise ValueError(f"teachers {ref['dir']} and {info['dir']} differ in architecture {diff}; "
                                 f"all teachers must be pretrained with the same model config")
        pool = cls(list(models), list(infos), device, grouped_convs)
        if expect is not None:
            pool.check_compatible(expect)
        return pool

    @property
    def n(self) -> int:
        return len(self.models)

    @property
    def feature_size(self) -> int:
        return self.models[0].feature_size

    @property
    def action_dim(self) -> int:
        return self.kwargs["action_dim"]

    @property
    def tasks(self) -> list[str]:
        """The source task each teacher was pretrained on (`suite/task`), in pool order."""
        return [f"{i.get('suite', '?')}/{i.get('task', '?')}" for i in self.infos]

    def check_compatible(self, student_kwargs: dict) -> None:
        """ValueError unless the student has the teachers' architecture, feature size and action width."""
        diff = {k: (student_kwargs.get(k), self.kwargs[k]) for k in ARCH_KEYS + ("action_dim",)
                if student_kwargs.get(k) != self.kwargs[k]}
        if diff:
            detail = ", ".join(f"{k}: student {s} vs teachers {t}" for k, (s, t) in diff.items())
            raise ValueError(f"the student does not match the teachers ({detail}); the student's feature size "
                             f"must equal the teachers' ({self.feature_size}): use the model config the teachers "
                             f"were pretrained with ({self.infos[0]['dir']}/checkpoint.json)")

    def _inputs(self, image_BTHWC, action_BTA, is_first_BT):
        data = to_torch({"image": image_BTHWC, "action": action_BTA, "is_first": is_first_BT}, self.device)
        if data["action"].shape[-1] > self.action_dim:
            raise ValueError(f"actions have {data['action'].shape[-1]} dims but the teachers were built for "
                             f"{self.action_dim}; pretrain teachers with a wider model.action_pad")
        return data["image"], pad_action(data["action"].float(), self.action_dim), data["is_first"]

    @torch.no_grad()
    def teacher_features(self, index: int, image_BTHWC, action_BTA, is_first_BT) -> torch.Tensor:
        """Teacher `index`'s posterior features on one batch: (B, T, F) float32."""
        with autocast(self.device):
            return _teacher_features(self.models[index], *self._inputs(image_BTHWC, action_BTA, is_first_BT)).float()

    def _encode(self, x_MCHW: torch.Tensor) -> torch.Tensor:
        """Every teacher's embedding of the shared frames: (M, 3, H, W) -> (N, M, E)."""
        if not self.grouped_convs:
            return torch.stack([model.encoder(x_MCHW) for model in self.models])
        h = x_MCHW
        for layer, conv in zip(self.models[0].encoder.net, self._convs):
            h = F.conv2d(h, *conv) if conv else layer(h)
        return h.unflatten(1, (self.n, -1)).transpose(0, 1).flatten(2)  # (M, N*C, h, w) -> (N, M, C*h*w)

    @torch.no_grad()
    def features(self, image_BTHWC, action_BTA, is_first_BT) -> torch.Tensor:
        """Every teacher's posterior features on one batch, in one vectorised call: (N, B, T, F) float32."""
        image, action, first = self._inputs(image_BTHWC, action_BTA, is_first_BT)
        lead = (self.n, *first.shape)
        with autocast(self.device):
            embed_NBTE = self._encode(preprocess(image)).unflatten(1, first.shape)  # frames preprocessed once
            post, _ = functional_call(self._rssm_base, self._rssm, (embed_NBTE, action.expand(*lead, -1),
                                                                    first.expand(lead)), {"sample": False})
        return self.models[0].features(post).float()  # e_t = concat(stoch, deter) per teacher: (N, B, T, F)

    @torch.no_grad()
    def features_loop(self, image_BTHWC, action_BTA, is_first_BT) -> torch.Tensor:
        """The same as `features`, one teacher at a time (reference path): (N, B, T, F) float32."""
        return torch.stack([self.teacher_features(i, image_BTHWC, action_BTA, is_first_BT) for i in range(self.n)])
