"""The figures `bench/compare.py` reads from each bench's stdout: one parser per bench, the text each prints."""
from __future__ import annotations

import re
from dataclasses import dataclass

HIGHER, LOWER, CONTROL = "higher", "lower", "control"


@dataclass
class Figure:
    value: float
    kind: str = HIGHER
    """`higher` or `lower` is better, or `control` (code that did not change: shown, not gated)."""
    headline: bool = False


# -- parsers: one per bench, from its stdout ---------------------------------------------------------------------
NUM = r"([0-9][0-9,]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?)"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_learner(out: str) -> dict[str, Figure]:
    figs = {}
    for m in re.finditer(rf"^(cpu|paper) (dreamerv2|vid2act) \((\d+) t\.\)\s+{NUM}M\s+update alone\s+{NUM} upd/s"
                         rf"(?:.*->\s+{NUM} upd/s)?", out, re.M):
        preset, method, n = m.group(1), m.group(2), int(m.group(3))
        figs[f"learner: {preset} {method} ({n} t.), update alone, upd/s"] = Figure(_num(m.group(5)))
        if m.group(6):
            figs[f"learner: {preset} {method} ({n} t.), + teacher features, upd/s"] = Figure(_num(m.group(6)))
    m = re.search(rf"^headline: ours/peer updates/s at matched sizes .*= {NUM}x \(ours {NUM} upd/s .*peer {NUM} "
                  r"upd/s", out, re.M)
    if m:
        figs["learner: matched dreamerv2, ours, upd/s"] = Figure(_num(m.group(2)))
        figs["learner: matched dreamerv2, peer sheeprl, upd/s"] = Figure(_num(m.group(3)), CONTROL)
        figs["learner: ours/peer upd/s at matched sizes"] = Figure(_num(m.group(1)), headline=True)
    else:
        m = re.search(rf"^headline: ours {NUM} upd/s at matched sizes", out, re.M)
        if m:
            figs["learner: matched dreamerv2, ours, upd/s"] = Figure(_num(m.group(1)), headline=True)
    return figs


def parse_replay(out: str) -> dict[str, Figure]:
    figs = {}
    m = re.search(rf"^redis \+ Sampler\s+{NUM}\s+{NUM}", out, re.M)
    if m:
        figs["replay: redis insert steps/s"] = Figure(_num(m.group(1)))
        figs["replay: sampler batches/s"] = Figure(_num(m.group(2)))
    m = re.search(rf"^numpy ring \(in-process\)\s+{NUM}\s+{NUM}", out, re.M)
    if m:
        figs["replay: numpy ring insert steps/s"] = Figure(_num(m.group(1)), CONTROL)
        figs["replay: numpy ring batches/s"] = Figure(_num(m.group(2)), CONTROL)
    m = re.search(rf"^redis memory: .*? raw = {NUM}x", out, re.M)
    if m:
        figs["replay: redis memory / raw bytes"] = Figure(_num(m.group(1)), LOWER)
    m = re.search(rf"^sampler/numpy ratio: {NUM}", out, re.M)
    if m:
        figs["replay: sampler/numpy batches/s"] = Figure(_num(m.group(1)), headline=True)
    return figs


def parse_actors(out: str) -> dict[str, Figure]:
    figs = {}
    rows = [("plain env loop", r"plain env loop"), ("1 env actor -> Redis", r"1 env actor -> Redis"),
            ("2 env actors -> Redis, each", r"2 env actors -> Redis, each"),
            ("1 env actor acting with cpu-preset weights", r"1 env actor acting with .*weights")]
    for name, pattern in rows:
        m = re.search(rf"^\s*{pattern}\s+{NUM}(?:.*total {NUM})?", out, re.M)
        if m:
            figs[f"actors: {name}, agent steps/s"] = Figure(_num(m.group(1)))
            if m.group(2):
                figs["actors: 2 env actors -> Redis, total, agent steps/s"] = Figure(_num(m.group(2)))
    m = re.search(rf"^headline: per-actor streaming throughput {NUM}x", out, re.M)
    if m:
        figs["actors: per-actor / plain loop (worst of 1 and 2 actors)"] = Figure(_num(m.group(1)), headline=True)
    return figs


def parse_world_model(out: str) -> dict[str, Figure]:
    return {f"world_model: {m.group(1)} updates/s": Figure(_num(m.group(3)))
            for m in re.finditer(rf"^(cpu|paper)\s+{NUM}M params\s+{NUM} updates/s", out, re.M)}


def parse_teachers(out: str) -> dict[str, Figure]:
    figs = {}
    for m in re.finditer(rf"^\s*(\d+)\s+{NUM}\s+{NUM}\s+{NUM}\s+(\S+)\s", out, re.M):
        n = m.group(1)
        figs[f"teachers: N={n} loop, s/call"] = Figure(_num(m.group(2)), LOWER)
        figs[f"teachers: N={n} batched, s/call"] = Figure(_num(m.group(3)), LOWER)
        if m.group(5) != "-":
            figs[f"teachers: N={n} ray, s/call"] = Figure(_num(m.group(5)), LOWER)
    m = re.search(rf"^headline: batched/loop at N=4 = {NUM}", out, re.M)
    if m:
        figs["teachers: batched/loop at N=4"] = Figure(_num(m.group(1)), LOWER, headline=True)
    return figs


PARSERS = {"learner": parse_learner, "replay": parse_replay, "actors": parse_actors,
           "world_model": parse_world_model, "teachers": parse_teachers}
