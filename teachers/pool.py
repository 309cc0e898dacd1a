"""N frozen teachers F^1..F^N, evaluated together: each teacher's own posterior features s_t^i (Eq. 3-4 inputs).

    pool = TeacherPool.load(["runs/teachers/walker_walk", "runs/teachers/cheetah_run"], device="cpu")
    pool.check_compatible(student_kwargs)
    feat_NBTF = pool.features(image_BTHWC, action_BTA, is_first_BT)   # (N, B, T, F), no gradients

The teachers share an architecture, so their parameters stack into one set with a leading teacher dim and a single
`torch.func.vmap(functional_call)` evaluates all N: a conv on the shared input frames becomes one conv with N times
the output channels, later convs grouped convs, and the GRU scan runs once for all N instead of N times.
`features_loop` is the reference (a Python loop over teachers) for tests and the benchmark. Features use the
posterior mean / mode (sample=False), so they are deterministic.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap

from learner import WorldModel, pad_action, pick_device, to_torch
from teachers import checkpoint

# WorldModel kwargs that change the computed features; the rest (loss weights, reward head) do not.
ARCH_KEYS = ("image_size", "depth", "stoch", "discrete", "deter", "hidden", "min_std")


def _teacher_features(model: WorldModel, image_BTHWC, action_BTA, is_first_BT) -> torch.Tensor:
    post, _ = model.observe(model.encode(image_BTHWC), action_BTA, is_first_BT, sample=False)
    return model.features(post)  # (B, T, F)


class TeacherPool:
    def __init__(self, models: list[WorldModel], infos: list[dict], device: torch.device):
        self.models, self.infos, self.device = models, infos, device
        self.kwargs = dict(models[0].kwargs)
        for model in models:
            model.eval().requires_grad_(False)
        params, buffers = stack_module_state(models)  # each (N, ...)
        self._stacked = (params, buffers)
        self._base = copy.deepcopy(models[0]).to("meta")

        def one(p, b, image, action, first):
            return functional_call(self._base, (p, b), (image, action, first))

        self._base.forward = lambda image, action, first: _teacher_features(self._base, image, action, first)
        self._vmapped = vmap(one, in_dims=(0, 0, None, None, None))

    @classmethod
    def load(cls, dirs: list[str | Path], device: str | torch.device = "cpu", expect: dict | None = None):
        """Load frozen teachers from their directories; `expect` = the student's kwargs to check against."""
        if not dirs:
            raise ValueError("no teacher directories given (train.teachers is empty)")
        device = pick_device(str(device))
        models, infos = [], []
        for directory in dirs:
            info, tensors = checkpoint.load(directory)
            try:
                model = WorldModel(**info["kwargs"])
            except (KeyError, TypeError) as err:
                raise checkpoint.CheckpointError(f"{Path(directory) / checkpoint.SIDECAR}: bad model kwargs ({err}); "
                                                 f"re-run `vid2act pretrain` for it") from None
            checkpoint.restore_model(model, tensors, directory)
            models.append(model.to(device))
            infos.append({**info, "dir": str(directory)})
        ref = infos[0]
        for info in infos[1:]:
            diff = {k: (ref["kwargs"][k], info["kwargs"][k]) for k in ARCH_KEYS + ("action_dim",)
                    if ref["kwargs"][k] != info["kwargs"][k]}
            if diff:
                raise ValueError(f"teachers {ref['dir']} and {info['dir']} differ in architecture {diff}; "
                                 f"all teachers must be pretrained with the same model config")
        pool = cls(models, infos, device)
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
    def features(self, image_BTHWC, action_BTA, is_first_BT) -> torch.Tensor:
        """Every teacher's posterior features on one batch, in one vectorised call: (N, B, T, F)."""
        image, action, first = self._inputs(image_BTHWC, action_BTA, is_first_BT)
        return self._vmapped(*self._stacked, image, action, first)

    @torch.no_grad()
    def features_loop(self, image_BTHWC, action_BTA, is_first_BT) -> torch.Tensor:
        """The same as `features`, one teacher at a time (reference path): (N, B, T, F)."""
        image, action, first = self._inputs(image_BTHWC, action_BTA, is_first_BT)
        return torch.stack([_teacher_features(m, image, action, first) for m in self.models])
