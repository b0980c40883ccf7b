"""Dataset-version creation at scale (issue 16, "versions that scale like DVC at its best").

Method: for each of ``--runs`` runs, a fresh workspace (``service.workspace.init_workspace``, SQLite, a local
DVC remote beside it) and a source folder outside it holding ``--images`` 64x64 PNGs (``scale_workspace.
write_images``: flat background, boxes in class colours, the image number in the first pixels so every file
is unique; about 480 bytes each). Timed, each through ``lineage.datasets.create_version`` and a commit:

- **first version**: ``v1`` from the folder (hashing, cache objects, ``.dir``/``.dvc``, push to the remote,
  manifest commit, item rows);
- **next version, 1% changed**: ``--changed`` (1%) of the files replaced by new images (written beside and
  renamed over, as editors and ``rsync`` do), then ``v2`` from the same folder with ``v1`` as parent.

Workspace growth: the bytes under the repository (``.dvc`` cache, ``.git``, manifests, any working tree) that
``v1`` (then ``v2``) added, the remote (the backup) excluded and reported on its own; every inode is counted
once, so a cache object hard-linked to a source image costs nothing. Both apparent sizes (``st_size``) and
allocated disk blocks (``st_blocks``, what ``du`` shows) are given, as a multiple of the images' own bytes
measured the same way. Printed: the method, the machine, the median of each figure over the runs.

    python bench/bench_dvc_versions.py                      # 100,000 images, 1 run
    python bench/bench_dvc_versions.py --images 20000 --runs 3
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import machine  # noqa: E402
from bench.scale_workspace import ScaleSpec, file_name, make_truth, write_images  # noqa: E402


@dataclass
class Footprint:
    """Bytes of inodes not seen before: apparent (``st_size``) and allocated (``st_blocks`` * 512)."""

    apparent: int = 0
    allocated: int = 0

    def ratio(self, of: Footprint) -> tuple[float, float]:
        return self.apparent / max(of.apparent, 1), self.allocated / max(of.allocated, 1)


def footprint(paths: Iterable[Path], seen: set[tuple[int, int]]) -> Footprint:
    """What the files and folders under ``paths`` occupy, counting each inode once across calls (``seen``)."""
    total = Footprint()

    def count(path: str) -> None:
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total.apparent += st.st_size
            total.allocated += st.st_blocks * 512

    for top in paths:
        if top.exists():
            count(str(top))
            for here, dirs, files in os.walk(top):
                for name in [*dirs, *files]:
                    count(os.path.join(here, name))
    return total


# Where a version's bytes can land: each measured in this order, an inode counted at its first place.
PLACES = {"cache": ".dvc/cache", "working tree": "data", "manifests": "versions", "git": ".git"}


def growth(repo: Path, seen: set[tuple[int, int]]) -> dict[str, Footprint]:
    """New bytes per place in the repository, then whatever else is new under it (``other``)."""
    found = {place: footprint([repo / rel], seen) for place, rel in PLACES.items()}
    found["other"] = footprint([repo], seen)
    return found


def change_files(folder: Path, *, images: int, count: int, seed: int) -> None:
    """Replace ``count`` images by new ones (one pixel changed): written beside, renamed over the old."""
    from PIL import Image

    rng = np.random.default_rng(seed + 7)
    for i in rng.choice(images, size=count, replace=False).tolist():
        path = folder / file_name(i)
        with Image.open(path) as img:
            pixels = np.array(img.convert("RGB"))
        pixels[-1, -1] = 255 - pixels[-1, -1]
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
        tmp = folder.parent / f"{path.name}.new"
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)


def _record(out: dict[str, float], label: str, places: dict[str, Footprint], source: Footprint) -> None:
    """Store each place's growth and their total as ratios to the source images (apparent, allocated)."""
    total = Footprint(sum(f.apparent for f in places.values()), sum(f.allocated for f in places.values()))
    for place, f in [*places.items(), ("total", total)]:
        out[f"{label} {place} apparent"], out[f"{label} {place} allocated"] = f.ratio(source)


def one_run(work: Path, *, images: int, changed: int, seed: int, link: bool, say: Any) -> dict[str, float]:
    from sqlmodel import Session, select

    from lineage import datasets, identity
    from lineage.context import Actor
    from lineage.db import make_engine
    from lineage.models import User
    from service.settings import Settings
    from service.workspace import init_workspace

    src = work / "source" / "images"
    t0 = time.perf_counter()
    truth = make_truth(ScaleSpec(images=images, labels_per_image=2, golden=1, seed=seed))
    write_images(truth, src, images=images, seed=seed)
    say(f"  {images} images written in {time.perf_counter() - t0:.1f} s")
    settings = Settings(workspace=work / "ws", database_url=f"sqlite:///{work / 'ws.db'}", env="dev")
    init_workspace(settings)
    repo, remote = settings.repo_dir, Path(settings.dvc_remote)
    seen: set[tuple[int, int]] = set()
    source = footprint([src], seen)
    footprint([repo, remote], seen)  # the empty repository and remote: not growth
    engine = make_engine(settings.database_url)
    out: dict[str, float] = {}
    with Session(engine, expire_on_commit=False) as s:
        admin = s.exec(select(User).where(User.is_admin == True)).one()  # noqa: E712
        actor = Actor(user_id=admin.id or 0, username=admin.username, request_id="bench", is_admin=True)
        project = identity.create_project(s, actor=actor, name="bench")
        ds = datasets.create_dataset(s, actor=actor, project_id=project.id or 0, name="scale")
        s.commit()
        t0 = time.perf_counter()
        v1 = datasets.create_version(
            s, actor=actor, dataset=ds, version="v1", repo_dir=repo, source_dir=src, link_source=link
        )
        s.commit()
        out["first_s"] = time.perf_counter() - t0
        _record(out, "v1", growth(repo, seen), source)
        _record(out, "remote", {"remote": footprint([remote], seen)}, source)
        change_files(src, images=images, count=changed, seed=seed)
        t0 = time.perf_counter()
        datasets.create_version(
            s, actor=actor, dataset=ds, version="v2", repo_dir=repo, source_dir=src, parent=v1, link_source=link
        )
        s.commit()
        out["next_s"] = time.perf_counter() - t0
        _record(out, "v2", growth(repo, seen), source)
    engine.dispose()
    out["source_mb"] = source.apparent / 1e6
    out["source_alloc_mb"] = source.allocated / 1e6
    say(
        f"  first {out['first_s']:.1f} s, next {out['next_s']:.1f} s; growth v1 {out['v1 total apparent']:.3f}x "
        f"apparent / {out['v1 total allocated']:.3f}x allocated, v2 {out['v2 total apparent']:.3f}x / "
        f"{out['v2 total allocated']:.3f}x"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--changed", type=float, default=0.01, help="share of images changed for v2 (0.01)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--copy", action="store_true", help="copy the images into the cache (link_source=False)")
    ap.add_argument("--tmp", type=Path, default=None, help="where the workspaces go (a temporary folder)")
    args = ap.parse_args(argv)
    changed = max(1, round(args.images * args.changed))
    how = "copied into" if args.copy else "hard-linked into"
    print(f"method: create_version of N 64x64 PNGs into a fresh SQLite workspace ({how} the DVC")
    print("        cache, pushed to a local remote), then of the same folder with", changed, "files replaced;")
    print("        growth = new inodes under the repository (remote excluded) / the images' bytes")
    print("machine:", machine())
    results: list[dict[str, float]] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(dir=args.tmp, prefix="bench-dvc-") as tmp:
            print(f"run {run + 1}/{args.runs}")
            results.append(
                one_run(
                    Path(tmp), images=args.images, changed=changed, seed=args.seed + run, link=not args.copy, say=print
                )
            )
    med = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(f"\nmedians over {args.runs} run(s), {args.images} images ({med['source_mb']:.1f} MB apparent, "
          f"{med['source_alloc_mb']:.1f} MB allocated):")  # fmt: skip
    print("| figure | value |\n| --- | --- |")
    print(f"| first version | {med['first_s']:.1f} s |")
    print(f"| next version, {changed} files changed | {med['next_s']:.1f} s |")
    print("\nworkspace growth as a multiple of the images' bytes (apparent / allocated); remote not in the total:")
    print("| place | after v1 | v2 adds |\n| --- | --- | --- |")
    for place in [*PLACES, "other", "total"]:
        cells = [f"{med[f'{v} {place} apparent']:.4f}x / {med[f'{v} {place} allocated']:.4f}x" for v in ("v1", "v2")]
        print(f"| {place} | {cells[0]} | {cells[1]} |")
    print(f"| DVC remote (backup) | {med['remote remote apparent']:.4f}x / {med['remote remote allocated']:.4f}x | |")


if __name__ == "__main__":
    main()
