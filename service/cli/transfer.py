"""``labelgate import|export``: labels into and out of a dataset version, on the local workspace or through
a server (``--server``).

Remotely, ``import`` uploads a COCO file to the version's import endpoint (streamed from disk) and
``export`` downloads the version's labels: COCO as a JSON document, YOLO and VOC as a zip of their label
files, which :func:`unpack_export` writes where a local export writes them, in the same bytes, counted
the way ``lineage.formats.transfer.ExportResult`` counts. Both print the same.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from xml.etree import ElementTree as ET

import typer

from lineage.errors import InvalidInput
from service.cli.choices import LABEL_FORMATS as FORMATS
from service.cli.common import exits_cleanly, out
from service.cli.door import Remote, local, remote
from service.cli.lazy import lazy_module
from service.cli.lineage import ProjectOpt

if TYPE_CHECKING:
    from lineage.formats import transfer as formats
    from service import actions
else:
    actions = lazy_module("service.actions")
    formats = lazy_module("lineage.formats.transfer")


__all__ = ["export_command", "import_command", "unpack_export"]

_MEDIA = {"classes-csv": "text/csv", "cvat": "application/xml"}


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", field="format")


@exits_cleanly
def import_command(
    ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    source: Annotated[
        Path,
        typer.Argument(
            help="COCO JSON file, YOLO folder, VOC folder, Label Studio JSON export or CVAT XML (with --server: a file)"
        ),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))] = "coco",
    annotator: Annotated[
        str | None,
        typer.Option(
            help="record the labels as this user's human work (default: import); USER must hold annotator, "
            "reviewer or ml_engineer in the project, and you ml_engineer or admin"
        ),
    ] = None,
    openlineage_console: Annotated[
        bool, typer.Option("--openlineage-console", help="also print the OpenLineage event")
    ] = False,
    reimport: Annotated[
        bool,
        typer.Option("--reimport", help="import again a source (same SHA-256) this version already holds"),
    ] = False,
    users: Annotated[
        Path | None,
        typer.Option(
            "--users",
            help="labelstudio/cvat: a CSV (tool user,labelgate user) or JSON map of the tool's users (id or "
            "email) to labelgate users; unmapped authors are matched by email, then username",
        ),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Import labels into a version, all or nothing; a source the version already holds (same SHA-256) is
    a no-op that says so, unless --reimport. With --server a COCO file is uploaded. Exit 1 when refused (a
    released or frozen version refuses writes; a role that may not import; --annotator beyond your role),
    2 on bad input naming the file and line or record."""
    _check_format(format)
    dataset, version = actions.split_ref(ref)
    user_map = _user_map(users)
    with remote() as api:
        if api is not None:
            if openlineage_console:
                raise InvalidInput(
                    "--openlineage-console prints the event of a local import; the server emits its own "
                    "(in its workspace's openlineage/ folder)",
                    field="--server",
                )
            path = api.version_path(api.project_id(project), dataset, version) + "/imports"
            result = _upload(api, path, source, fmt=format, annotator=annotator, reimport=reimport, users=user_map)
        else:
            with local() as ctx:
                result = actions.import_labels(
                    ctx,
                    actions.find_project(ctx, project),
                    dataset,
                    version,
                    fmt=format,
                    path=source,
                    annotator=annotator,
                    reimport=reimport,
                    console=openlineage_console,
                    user_map=user_map,
                )
    if result.work is not None:
        _print_work(result)
        return
    if result.status == "already_imported":
        out.print(
            f"already imported: {result.version} holds this source (sha256 {result.source_sha256}) as "
            f"{result.duplicate_of}; nothing written (--reimport imports it again)"
        )
        return
    again = f", re-import #{result.generation}" if result.generation else ""
    clipped = f"; {result.clipped} box(es) past an edge by rounding moved onto it" if result.clipped else ""
    out.print(
        f"imported {result.annotations} {result.kind} annotations on {result.images} images into {result.version} "
        f"({result.format}, source sha256 {result.source_sha256}{again}){clipped}",
    )


def _user_map(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="--users")
    return actions.user_map_of(path.read_bytes(), source=str(path))


def _print_work(result: formats.ImportResult) -> None:
    """A Label Studio or CVAT import: what each unit of work became, and who its authors are."""
    work = result.work or {}
    authors = ", ".join(f"{k} -> {v}" for k, v in sorted(work.get("authors", {}).items())) or "none (machine work only)"
    verb = "imported" if result.status == "imported" else "nothing new in"
    out.print(
        f"{verb} {result.format} into {result.version} (source sha256 {result.source_sha256}): "
        f"{work.get('units_added', 0)} unit(s) added, {work.get('units_updated', 0)} updated, "
        f"{work.get('units_skipped', 0)} already on the record, {work.get('units_deleted', 0)} deleted; "
        f"{result.annotations} label(s) written, {work.get('tombstones', 0)} superseded without successor",
        markup=False,
    )
    out.print(f"authors: {authors}", markup=False)


def _upload(
    api: Remote,
    path: str,
    source: Path,
    *,
    fmt: str,
    annotator: str | None,
    reimport: bool,
    users: dict[str, str] | None = None,
) -> formats.ImportResult:
    """POST a COCO or class-table file to the version's import endpoint, streamed from disk. Its name is sent
    as given, so the server's messages name the file as a local import would."""
    if source.is_dir():
        raise InvalidInput(
            f"{source} is a folder: a server imports YOLO, VOC and class folders only from its workspace's "
            "incoming/ folder; upload a COCO or class-table file, or run this on the workspace's machine without "
            "--server",
            field="--server",
        )
    if not source.is_file():
        raise InvalidInput(f"no such file: {source}", field="path")
    form = {"format": fmt, "reimport": "true" if reimport else "false"}
    if annotator:
        form["annotator"] = annotator
    if users:
        form["users"] = json.dumps(users)
    with source.open("rb") as fh:
        answer = api.post(
            path,
            data=form,
            files={"file": (str(source), fh, _MEDIA.get(fmt, "application/json"))},
        )
    from pydantic import TypeAdapter

    return TypeAdapter(formats.ImportResult).validate_python(answer)


@exits_cleanly
def export_command(
    ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    output: Annotated[Path, typer.Argument(help="a .json file (COCO) or a folder")],
    format: Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))] = "coco",
    images: Annotated[
        bool, typer.Option("--images", help="also write the images, read from DVC (on the workspace's machine)")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Export a version's live labels (with --server, downloaded from the server)."""
    _check_format(format)
    dataset, version = actions.split_ref(ref)
    with remote() as api:
        if api is not None:
            if images:
                raise InvalidInput(
                    "--images reads the images from DVC on the workspace's machine; the server exports labels "
                    "only: leave out --images, or run this on the workspace's machine without --server",
                    field="--server",
                )
            path = api.version_path(api.project_id(project), dataset, version) + "/export"
            content = api.request("GET", path, params={"format": format}).content
            result = unpack_export(content, fmt=format, version_ref=f"{dataset}@{version}", out=output)
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                result = actions.export_labels(
                    ctx, pid, dataset, version, fmt=format, out=output, include_images=images
                )
    out.print(
        f"exported {result.annotations} annotations on {result.images} images of {result.version} to {result.path}"
    )


def _cvat_counts(data: bytes) -> tuple[int, int]:
    """Images and labels of a CVAT XML export, counted as ``lineage.formats.transfer`` counts them."""
    root = ET.fromstring(data)
    images = root.findall("image")
    return len(images), sum(len(image) for image in images)


def unpack_export(content: bytes, *, fmt: str, version_ref: str, out: Path) -> formats.ExportResult:
    """Write the server's export of ``version_ref`` in ``fmt`` to ``out`` (a ``.json`` file for COCO, else
    ``out/annotations.json``; a folder for YOLO and VOC, whose data.yaml then names ``out``, absolute)."""
    if fmt == "coco":
        document = json.loads(content)
        target = out if out.suffix == ".json" else out / "annotations.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document), encoding="utf-8")
        images, boxes = len(document["images"]), len(document["annotations"])
        return formats.ExportResult(format=fmt, version=version_ref, path=str(target), images=images, annotations=boxes)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        root = out.resolve()
        for name in names:
            if not (root / name).resolve().is_relative_to(root):
                raise InvalidInput(f"the server's export names a file outside {out}: {name!r}", field="--server")
        images = boxes = 0
        written = out
        for name in names:
            data = archive.read(name)
            if fmt == "yolo" and name == "data.yaml":
                data = _rooted(data, out)
            elif fmt == "yolo" and name.startswith("labels/") and name.endswith(".txt"):
                images += 1
                boxes += sum(1 for line in data.decode("utf-8").splitlines() if line.strip())
            elif fmt == "voc" and name.startswith("Annotations/") and name.endswith(".xml"):
                images += 1
                boxes += len(ET.fromstring(data).findall("object"))
            elif fmt in ("classes-csv", "classes-json") and name in ("labels.csv", "labels.json"):
                images, boxes = _class_counts(data, fmt)
                written = out / name  # a local export names its table file
            elif fmt == "cvat" and name == "annotations.xml":
                images, boxes = _cvat_counts(data)
                written = out / name
            elif fmt == "classes-folder" and name.count("/") >= 1:
                images += 1
                boxes += 1
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    if fmt == "yolo":
        (out / "images").mkdir(parents=True, exist_ok=True)  # a zip holds no empty folder; a local export has it
    return formats.ExportResult(format=fmt, version=version_ref, path=str(written), images=images, annotations=boxes)


def _class_counts(data: bytes, fmt: str) -> tuple[int, int]:
    """(items, tags) of an exported class table: one CSV row per (item, class); JSON item → class(es)."""
    if fmt == "classes-csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
        return len({r[0] for r in rows if r}), sum(1 for r in rows if r)
    table = json.loads(data)
    return len(table), sum(len(v) if isinstance(v, list) else 1 for v in table.values())


def _rooted(data_yaml: bytes, out: Path) -> bytes:
    """data.yaml with ``path`` set to ``out`` (absolute, which Ultralytics needs) instead of the archive's
    ``.``, as ``lineage.formats.yolo.export_yolo`` writes it for a local export."""
    import yaml

    spec = yaml.safe_load(data_yaml)
    spec["path"] = str(out.resolve())
    return yaml.safe_dump(spec, sort_keys=False).encode("utf-8")
