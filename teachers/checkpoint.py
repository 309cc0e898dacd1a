"""Teacher checkpoints in a safe format: safetensors for every tensor, a JSON sidecar for everything else.

    <dir>/checkpoint.safetensors   model/<param>, optim/<index>/<state>, rng/torch  (metadata: {"step": ...})
    <dir>/checkpoint.json          step, model kwargs, config, dataset manifest hash, suite/task/action_dim,
                                   optimiser hyper-parameters, numpy RNG state

Nothing is unpickled on load. Both files are written to a temp name and moved in place (os.replace); the tensors
go first and the sidecar last, and load checks that they name the same step, so a kill between them is detected.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

TENSORS = "checkpoint.safetensors"
SIDECAR = "checkpoint.json"


class CheckpointError(RuntimeError):
    """A missing, corrupt or unusable checkpoint; the message names the file and what to do."""


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def exists(directory: str | Path) -> bool:
    return (Path(directory) / SIDECAR).exists()


def save(directory: str | Path, model: torch.nn.Module, info: dict, optimizer: torch.optim.Optimizer | None = None,
         rng_torch: torch.Tensor | None = None) -> None:
    """Write model (+ optimiser state, + torch RNG state) tensors and the `info` sidecar (must hold `step`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    info = dict(info)
    if optimizer is not None:
        state = optimizer.state_dict()
        for index, slots in state["state"].items():
            for name, value in slots.items():
                tensors[f"optim/{index}/{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
        info["optimizer"] = state["param_groups"]
    if rng_torch is not None:
        tensors["rng/torch"] = rng_torch
    _atomic(directory / TENSORS, lambda tmp: save_file(tensors, str(tmp), metadata={"step": str(info["step"])}))
    _atomic(directory / SIDECAR, lambda tmp: tmp.write_text(json.dumps(info, indent=1)))


def load(directory: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(info, tensors) of a checkpoint; CheckpointError naming the file when missing, corrupt or inconsistent."""
    directory = Path(directory)
    sidecar, tensors_path = directory / SIDECAR, directory / TENSORS
    hint = "re-run `vid2act pretrain` for this teacher (it resumes from a good checkpoint, else starts over)"
    for path in (sidecar, tensors_path):
        if not path.exists():
            raise CheckpointError(f"{path}: missing; is {directory} a teacher directory? {hint}")
    try:
        info = json.loads(sidecar.read_text())
        step = int(info["step"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{sidecar}: unreadable sidecar ({err}); {hint}") from None
    try:
        tensors = load_file(str(tensors_path))
        with safe_open(str(tensors_path), "pt") as handle:
            saved_step = int((handle.metadata() or {}).get("step", -1))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{tensors_path}: corrupt tensor file ({err}); {hint}") from None
    if saved_step != step:
        raise CheckpointError(f"{directory}: {SIDECAR} is at step {step} but {TENSORS} at step {saved_step} "
                              f"(interrupted write?); {hint}")
    return info, tensors


def restore_model(model: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str | Path) -> None:
    """Load the `model/...` tensors into `model`; a shape or key mismatch -> CheckpointError."""
    state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{where}: weights do not fit the model its sidecar describes ({err})") from None


def restore_optimizer(optimizer: torch.optim.Optimizer, info: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Rebuild the optimiser state from `optim/<index>/<slot>` tensors and the sidecar's param groups."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": info["optimizer"]})
