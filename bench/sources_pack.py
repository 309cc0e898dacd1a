"""A bundle of `bench/sources.sh`'s slow parts, so a fresh machine rebuilds the sources in minutes, not an hour.

    .venv/bin/python bench/sources_pack.py pack ROOT BUNDLE      # after bench/sources.sh (or sources_mw.sh)
    .venv/bin/python bench/sources_pack.py unpack BUNDLE ROOT    # bench/sources.sh does this first when BUNDLE exists

The bundle holds the behaviour agents (`agents/`, ~0.3 MB each) and every pretrained model (`teachers/<task>`,
`apv-video`, `pvdr-video`) without its optimiser's moments (learner.checkpoint.without_optimisers: a cpu-preset
teacher is 5.5 MB instead of 16 MB), with its resolved config; `MANIFEST.json` records each file's sha256 and size.
Not the datasets: `vid2act collect` remakes them from the agents, seeded, byte for byte in ~2 minutes, and each
teacher's resume checks the remade dataset's manifest hash against its own. `unpack` checks every file against the
manifest (and each checkpoint against its own hash) before copying anything, and keeps the models and agents ROOT
holds (a model without its checkpoint sidecar, half written, is replaced whole). `bench/sources.sh` then skips the
agents, remakes the data, and its `pretrain` calls find their teachers finished.
A bad bundle exits with one line naming the file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from learner import CheckpointError, load_checkpoint  # noqa: E402
from learner.checkpoint import without_optimisers  # noqa: E402

MANIFEST = "MANIFEST.json"
MODELS = ("teachers/*", "apv-video", "pvdr-video")  # checkpoint directories under a sources ROOT


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pack(root: Path, bundle: Path) -> dict[str, dict]:
    """Write ROOT's agents and pretrained models (less optimiser moments) into BUNDLE; returns the manifest, which
    lists only those (reports kept beside them in BUNDLE are not unpacked into a sources ROOT)."""
    models = [d for pattern in MODELS for d in sorted(root.glob(pattern)) if (d / "checkpoint.json").exists()]
    if not models:
        sys.exit(f"{root}: holds no pretrained model (teachers/<task>, apv-video, pvdr-video): run bench/sources.sh "
                 f"first")
    for model in models:
        dest = bundle / model.relative_to(root)
        without_optimisers(model, dest)
        shutil.copy2(model / "config.yaml", dest / "config.yaml")
    written = [bundle / model.relative_to(root) for model in models]
    if (root / "agents").is_dir():
        shutil.copytree(root / "agents", bundle / "agents", dirs_exist_ok=True)
        written.append(bundle / "agents")
    manifest = {str(p.relative_to(bundle)): {"sha256": _sha256(p), "bytes": p.stat().st_size}
                for p in sorted(f for d in written for f in d.rglob("*")) if p.is_file()}
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _held(root: Path, name: str) -> bool:
    """ROOT has this agent file, or the finished checkpoint of the model this file belongs to."""
    target = root / name
    return target.exists() if name.startswith("agents/") else (target.parent / "checkpoint.json").exists()


def unpack(bundle: Path, root: Path) -> list[str]:
    """Check BUNDLE against its manifest, then copy into ROOT each file ROOT lacks; returns the files copied."""
    try:
        manifest = json.loads((bundle / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        sys.exit(f"{bundle / MANIFEST}: unreadable ({err}); restore the bundle from git (git checkout -- {bundle})")
    for name, entry in manifest.items():
        path = bundle / name
        if not path.is_file() or _sha256(path) != entry.get("sha256"):
            sys.exit(f"{path}: missing or not the file {MANIFEST} records; restore the bundle from git "
                     f"(git checkout -- {bundle}) or rebuild it with bench/sources.sh and `pack`")
    for sidecar in sorted({bundle / name for name in manifest if name.endswith("checkpoint.json")}):
        try:
            load_checkpoint(sidecar.parent)
        except CheckpointError as err:
            sys.exit(str(err))
    held = {name for name in manifest if _held(root, name)}  # decided before anything is copied
    for name in (copied := [n for n in manifest if n not in held]):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(bundle / name, root / name)
    return copied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("source", type=Path, help="pack: the sources ROOT; unpack: the bundle")
    parser.add_argument("dest", type=Path, help="pack: the bundle to write; unpack: the sources ROOT to fill")
    args = parser.parse_args()
    if args.action == "pack":
        manifest = pack(args.source, args.dest)
        print(f"bundle {args.dest}: {len(manifest)} files, {sum(e['bytes'] for e in manifest.values()) / 1e6:.1f} MB")
    else:
        copied = unpack(args.source, args.dest)
        print(f"sources {args.dest}: {len(copied)} files from {args.source} (the rest were there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
