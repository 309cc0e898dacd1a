"""Checkpoints in a safe format: safetensors for every tensor, a JSON sidecar for everything else.

    save(dir, {"model": model, "model_opt": opt, ...}, info={"step": 10, ...})
    info, tensors = load(dir)
    restore({"model": model, "model_opt": opt}, info, tensors, where=dir)

    <dir>/checkpoint.safetensors   <part>/<param> for modules, <part>/<index>/<slot> for optimisers
    <dir>/checkpoint.json          `step`, optimiser param groups, and whatever the caller puts in `info`

Nothing is unpickled on load. Both files are written to a temp name and moved in place (os.replace), tensors
first and the sidecar last. The sidecar records the sha256 of the tensor file, and load checks it before any tensor
is used: a flipped byte, a replaced file or a kill between the two writes names the file instead of loading
silently different weights.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as tensors_from_bytes
from safetensors.torch import save as tensors_to_bytes

TENSORS = "checkpoint.safetensors"
SIDECAR = "checkpoint.json"
Part = torch.nn.Module | torch.optim.Optimizer


class CheckpointError(RuntimeError):
    """A missing, corrupt or unusable checkpoint; the message names the file and what to do."""


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def exists(directory: str | Path) -> bool:
    return (Path(directory) / SIDECAR).exists()


def rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A learner's random streams as `save`'s extra tensors: its own generator and torch's global one."""
    return {"rng/learner": generator.get_state(), "rng/torch": torch.get_rng_state()}


def restore_rng(generator: torch.Generator, tensors: dict[str, torch.Tensor]) -> None:
    """Take back `rng_state`'s streams, so a resumed run draws on where it stopped (a checkpoint written before they
    were saved keeps the fresh ones)."""
    if "rng/learner" in tensors:
        generator.set_state(tensors["rng/learner"])
        torch.set_rng_state(tensors["rng/torch"])


def save(directory: str | Path, parts: dict[str, Part], info: dict, extra: dict[str, torch.Tensor] | None = None):
    """Write every part's tensors (+ `extra` tensors) and the `info` sidecar (must hold `step`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in (extra or {}).items()}
    info = dict(info, param_groups={})
    for name, part in parts.items():
        if isinstance(part, torch.optim.Optimizer):
            state = part.state_dict()
            for index, slots in state["state"].items():
                for slot, value in slots.items():
                    tensors[f"{name}/{index}/{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
            info["param_groups"][name] = state["param_groups"]
        else:
            tensors.update({f"{name}/{k}": v.detach().cpu().contiguous() for k, v in part.state_dict().items()})
    _write(directory, tensors, info)


def _write(directory: Path, tensors: dict[str, torch.Tensor], info: dict) -> None:
    data = tensors_to_bytes(tensors, metadata={"step": str(info["step"])})
    info["tensors_sha256"] = hashlib.sha256(data).hexdigest()
    _atomic(directory / TENSORS, lambda tmp: tmp.write_bytes(data))
    _atomic(directory / SIDECAR, lambda tmp: tmp.write_text(json.dumps(info, indent=1)))


def without_optimisers(source: str | Path, dest: str | Path) -> None:
    """Copy the checkpoint in `source` to `dest` less its optimisers' moments (Adam's two slots: 2/3 of a model's
    bytes), e.g. to ship a frozen teacher. The optimisers' param groups stay, so a resume from the copy restarts
    their moments from zero (the sidecar says so: `optimiser_moments: dropped`). `source` is checked as `load`
    checks it; CheckpointError names a bad file."""
    info, tensors = load(source)
    optimisers = set(info.get("param_groups", {}))
    kept = {k: v for k, v in tensors.items() if k.split("/", 1)[0] not in optimisers}
    Path(dest).mkdir(parents=True, exist_ok=True)
    _write(Path(dest), kept, {**info, "optimiser_moments": "dropped"})


def read_info(directory: str | Path, hint: str = "start over without it, or restore it from a copy") -> dict:
    """The JSON sidecar of a checkpoint (no tensors read); CheckpointError naming the file when missing, not JSON,
    or without an integer `step`."""
    sidecar = Path(directory) / SIDECAR
    if not sidecar.is_file():
        raise CheckpointError(f"{sidecar}: missing; is {directory} a checkpoint directory? {hint}")
    try:
        info = json.loads(sidecar.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        reason = f"not JSON: {err}"
    else:
        reason = None if isinstance(info, dict) and isinstance(info.get("step"), int) else "no integer step"
    if reason:  # a damaged checkpoint: making a new one (the hint) would not be what was meant
        raise CheckpointError(f"{sidecar}: unreadable sidecar ({reason}); restore it from a copy, or remove "
                              f"{directory} to start over")
    return info


def load(directory: str | Path, hint: str = "start over without it, or restore it from a copy"):
    """(info, tensors) of a checkpoint; CheckpointError naming the file when missing, corrupt or inconsistent."""
    directory = Path(directory)
    sidecar, tensors_path = directory / SIDECAR, directory / TENSORS
    for path in (sidecar, tensors_path):
        if not path.exists():
            raise CheckpointError(f"{path}: missing; is {directory} a checkpoint directory? {hint}")
    info = read_info(directory, hint)
    if "tensors_sha256" not in info:
        raise CheckpointError(f"{sidecar}: records no content hash (written by an older version); {hint}")
    data = tensors_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != info["tensors_sha256"]:
        raise CheckpointError(f"{tensors_path}: content does not match the hash in {SIDECAR} (a corrupt or replaced "
                              f"file, or a write interrupted between the two); {hint}")
    try:
        tensors = tensors_from_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{tensors_path}: corrupt tensor file ({err}); {hint}") from None
    return info, tensors


def restore(parts: dict[str, Part], info: dict, tensors: dict[str, torch.Tensor], where: str | Path) -> None:
    """Load each part from its `<part>/...` tensors; a shape or key mismatch -> CheckpointError."""
    for name, part in parts.items():
        prefix = f"{name}/"
        own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            if isinstance(part, torch.optim.Optimizer):
                state: dict[int, dict[str, torch.Tensor]] = {}
                for key, value in own.items():
                    index, slot = key.split("/", 1)
                    state.setdefault(int(index), {})[slot] = value
                part.load_state_dict({"state": state, "param_groups": info["param_groups"][name]})
            else:
                part.load_state_dict(own)
        except (RuntimeError, KeyError, ValueError) as err:
            raise CheckpointError(f"{where}: part {name!r} does not fit the saved tensors ({err})") from None
