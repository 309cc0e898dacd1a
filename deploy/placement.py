"""Where each part of the system runs: the Ray actor options of env actors, teacher pools and the learner.

    remote(EnvLoop, **placement.env_actor(0)).remote(...)          # name "env-actor-0", on an `env` node
    remote(TeacherPool, **placement.teacher_actor(0)).remote(...)  # name "teacher-pool-0", on the GPU head
    remote(Learner, **placement.learner()).remote(...)             # name "learner", with a GPU when there is one
    device = placement.learner_device(log, cfg.device)             # inside the learner: says so when on CPU

The cluster says where things go by custom resources (`ray_cluster.yaml`): the GPU head declares `learner: 1` and
`teacher: <pools>`, each CPU worker `env: <its CPUs>`. An actor asks for one unit of its part's resource when the
cluster declares it and falls back to plain CPU placement when it does not (a laptop, the test machine). GPUs: the
learner gets a whole one when the cluster has one; the teacher pools get their own GPUs when there are spare ones,
else share the learner's (fractional requests, so Ray still sets CUDA_VISIBLE_DEVICES for them).

Names make the dashboard's actor list read as the system's parts. `python -m deploy.placement` starts a light probe
per part with these options and prints where each landed: run it on a fresh cluster before submitting a job.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import socket
from collections.abc import Mapping

import ray
import torch

from deploy.ray_runtime import remote
from learner import pick_device

ENV, TEACHER, LEARNER = "env", "teacher", "learner"
"""The custom resources a cluster declares so each part lands on its nodes."""


def _resources(cluster: Mapping[str, float] | None) -> Mapping[str, float]:
    return available() if cluster is None else cluster


def available() -> Mapping[str, float]:
    """What this run's actors may use: the bundles of the placement group it runs in (a sweep trial's; its first
    bundle is the trial's own process), else the whole cluster."""
    group = ray.util.get_current_placement_group()
    if group is None:
        return ray.cluster_resources()
    total: dict[str, float] = {}
    for bundle in group.bundle_specs[1:]:
        for key, value in bundle.items():
            total[key] = total.get(key, 0.0) + value
    return total


def trial_bundles(num_actors: int, teacher_pools: int, evaluator: bool, cpus: float, gpus: int = 0,
                  cluster: Mapping[str, float] | None = None) -> list[dict[str, float]]:
    """The placement group of one training run (a `vid2act sweep --actors` trial): its own process (driver loop,
    Redis) first, then the learner, each teacher pool, each env actor and the evaluator. `cpus` are split evenly
    over the bundles (1 each on a cluster of real nodes, as `cpu_share`), `gpus` (whole) as `gpu_split` shares
    them, custom resources where the cluster declares them: each actor's own request (`cpu_share` over the group)
    fits one bundle."""
    cluster = ray.cluster_resources() if cluster is None else cluster
    share = 1.0 if cluster.get(ENV, 0) > 0 else cpus / (2 + teacher_pools + num_actors + int(evaluator))
    learner_gpu, pool_gpu = gpu_split(gpus, teacher_pools)

    def bundle(resource: str, gpu: float) -> dict[str, float]:
        return {"CPU": share, **({"GPU": gpu} if gpu else {}), **({resource: 1} if cluster.get(resource) else {})}

    return [{"CPU": share}, bundle(LEARNER, learner_gpu), *[bundle(TEACHER, pool_gpu)] * teacher_pools,
            *[bundle(ENV, 0.0)] * (num_actors + int(evaluator))]


def gpu_split(cluster_gpus: float, teacher_pools: int = 1) -> tuple[float, float]:
    """GPUs for (the learner, each teacher pool) on a cluster with `cluster_gpus` GPUs.

    None: both on CPU. At least one per part: a whole GPU each. One GPU: the learner and the pools share it half
    and half. More than one but not enough: the learner keeps one, the pools share the rest in fractions that fit.
    """
    gpus = int(cluster_gpus)
    if gpus < 1:
        return 0.0, 0.0
    if gpus >= 1 + teacher_pools:
        return 1.0, 1.0
    if gpus == 1:
        return 0.5, 0.5 / teacher_pools
    return 1.0, 1.0 / math.ceil(teacher_pools / (gpus - 1))


def _options(name: str, resource: str, cluster: Mapping[str, float], num_cpus: float, num_gpus: float) -> dict:
    options: dict = {"name": name, "num_cpus": num_cpus}
    if num_gpus:
        options["num_gpus"] = num_gpus
    if cluster.get(resource, 0) > 0:
        options["resources"] = {resource: 1}
    return options


def cpu_share(parts: int, cluster: Mapping[str, float] | None = None) -> float:
    """CPUs each of `parts` actors asks for: 1 on a cluster that declares the `env` resource (real nodes), else
    the local CPUs split evenly (at most 1), so the learner, teacher pools and env actors fit one small machine."""
    cluster = _resources(cluster)
    if cluster.get(ENV, 0) > 0:
        return 1.0
    return min(1.0, float(cluster.get("CPU", 1)) / max(parts, 1))


def env_actor(index: int, cluster: Mapping[str, float] | None = None, num_cpus: float = 1) -> dict:
    """Options of env actor `index` (`env-actor-<index>`): one `env` unit on a CPU worker, else `num_cpus` CPUs."""
    return _options(f"env-actor-{index}", ENV, _resources(cluster), num_cpus, 0.0)


def teacher_actor(index: int, cluster: Mapping[str, float] | None = None, teacher_pools: int = 1,
                  num_cpus: float = 1) -> dict:
    """Options of teacher pool `index` (`teacher-pool-<index>`): on the `teacher` node, with its GPU share."""
    cluster = _resources(cluster)
    _, gpus = gpu_split(cluster.get("GPU", 0), teacher_pools)
    return _options(f"teacher-pool-{index}", TEACHER, cluster, num_cpus, gpus)


def learner(cluster: Mapping[str, float] | None = None, teacher_pools: int = 1, num_cpus: float = 1) -> dict:
    """Options of the learner (`learner`): on the `learner` node, with a GPU when the cluster has one."""
    cluster = _resources(cluster)
    gpus, _ = gpu_split(cluster.get("GPU", 0), teacher_pools)
    return _options("learner", LEARNER, cluster, num_cpus, gpus)


def learner_device(log: logging.Logger, name: str = "auto") -> torch.device:
    """The learner's torch device (`auto`, `cpu`, `cuda[:N]`); a clear warning when `auto` falls back to CPU."""
    device = pick_device(name)
    if device.type == "cuda":
        log.info("learner on %s (%s)", device, torch.cuda.get_device_name(device))
    elif name == "auto":
        assigned = ray.get_gpu_ids() if ray.is_initialized() else []
        why = f" (Ray assigned GPU {assigned}, but torch sees no CUDA device)" if assigned else ""
        log.warning("no GPU visible to the learner: training on CPU%s", why)
    else:
        log.info("learner on CPU, as configured")
    return device


class Probe:
    """A light stand-in for one part: started with that part's options, it reports where it runs."""

    def where(self) -> dict:
        """{name, node_id, host, gpu_ids, device} of this actor (the learner's device as `learner_device` says)."""
        context = ray.get_runtime_context()
        name = context.get_actor_name()
        device = learner_device(logging.getLogger(__name__)) if name == "learner" else pick_device("auto")
        return {"name": name, "node_id": context.get_node_id(), "host": socket.gethostname(),
                "gpu_ids": [str(i) for i in ray.get_gpu_ids()], "device": str(device)}


class PlacementError(RuntimeError):
    """A part that the cluster cannot place; the message names the part and what it asked for."""


def check(num_env_actors: int, teacher_pools: int = 1, timeout: float = 60.0) -> list[dict]:
    """Start one probe per part with its options, return where each landed; PlacementError if one cannot be placed.

    An actor whose resources no node offers stays pending forever in Ray; this turns that into an error that names
    the part, its request and what the cluster has (the autoscaler may still be adding nodes: wait, or raise
    `timeout`).
    """
    cluster = ray.cluster_resources()
    options = [learner(cluster, teacher_pools)]
    options += [teacher_actor(i, cluster, teacher_pools) for i in range(teacher_pools)]
    options += [env_actor(i, cluster) for i in range(num_env_actors)]
    probes = [(opts, remote(Probe, **opts).remote()) for opts in options]
    try:
        refs = [probe.where.remote() for _, probe in probes]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        for (opts, _), ref in zip(probes, refs):
            if ref not in ready:
                request = {k: v for k, v in opts.items() if k != "name"}
                raise PlacementError(f"{opts['name']} was not placed within {timeout:.0f}s: it asks for {request}, "
                                     f"the cluster has {dict(cluster)}")
        return ray.get(refs)
    finally:
        for _, probe in probes:
            ray.kill(probe)


def main(argv: list[str] | None = None) -> int:
    """`python -m deploy.placement --env-actors 4`: print where each part lands on the cluster in RAY_ADDRESS."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--env-actors", type=int, default=2)
    parser.add_argument("--teacher-pools", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), configure_logging=False)
    try:
        for where in check(args.env_actors, args.teacher_pools, args.timeout):
            print(f"{where['name']:16s} node {where['node_id'][:12]} on {where['host']:20s} "
                  f"GPUs {','.join(where['gpu_ids']) or '-'} device {where['device']}")
    except PlacementError as error:
        print(f"placement: {error}")
        return 1
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
