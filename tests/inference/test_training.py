"""``labelgate model train`` for real: a dataset version of 30 generated shape images (96 px), labelled through
the record's own functions (one label corrected, two images left unlabelled), exported to the YOLO layout
with exactly the version's live labels, a tiny detector trained for two epochs on the CPU and registered with
its training on the record; and the refusals that must come before any training, with nothing written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from inference.tiny import ShapeBox, ShapesSpec, generator_config_hash, write_shapes
from inference.training import TRAINER, EpochProgress, collect_training_data, export_training_data
from inference.weights import weights_file
from lineage.context import Actor
from lineage.datasets import create_dataset, create_version, list_items
from lineage.datasets.dvcrepo import head_revision, init_repo
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.labels.annotations import BoxChange, NewLabel, Provenance, add_annotations, correct_annotation
from lineage.models import Annotation, AuditEvent, Item, ModelTrainingData, ModelVersion, ProvenanceKind
from lineage.schemas import LabelClass, create_schema
from service.actions.context import Context, Principal
from service.actions.training import train_and_register
from service.settings import Settings
from tests.factories import World, actor_for, make_world
from tests.lineage.conftest import quick_version
from tests.lineage.test_lineage_openlineage_schemas import read_events, validate_event

SPEC = ShapesSpec(size=96)
IMAGES = 30
UNLABELLED = 2  # the last two images: in the version, without labels
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Shapes:
    settings: Settings
    engine: Engine
    world: World
    ml: Actor
    schema_version_id: int
    truth: dict[str, tuple[ShapeBox, ...]]
    corrected: tuple[str, ShapeBox, ShapeBox]  # the image, its label before and after the correction

    @property
    def project_id(self) -> int:
        return self.world.project.id or 0

    def context(self, session: Session, role: str = "ml_engineer") -> Context:
        user = self.world.users[role]
        return Context(session=session, principal=Principal(user=user, actor=actor_for(user)), settings=self.settings)

    def written(self) -> tuple[int, int, int, str]:
        """(model versions, training-data rows, audit events, the repository's HEAD): what a refusal leaves."""
        with Session(self.engine) as s:
            counts = [s.exec(select(func.count()).select_from(t)).one() for t in (ModelVersion, ModelTrainingData)]
            seq = s.exec(select(func.count()).select_from(AuditEvent)).one()
        return int(counts[0]), int(counts[1]), int(seq), head_revision(self.settings.repo_dir)


@pytest.fixture
def shapes(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[Shapes]:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    init_repo(settings.repo_dir, remote=settings.dvc_remote)
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
        ml = actor_for(world.users["ml_engineer"])
        sv = create_schema(
            s, actor=ml, project_id=world.project.id or 0, name="shapes", repo_dir=settings.repo_dir,
            classes=[LabelClass(name=c, description=f"a filled {c}") for c in SPEC.classes],
        )  # fmt: skip
        truth = write_shapes(tmp_path / "images", SPEC, count=IMAGES, seed=5)
        ds = create_dataset(s, actor=ml, project_id=world.project.id or 0, name="shapes")
        v = create_version(
            s, actor=ml, dataset=ds, version="v1", repo_dir=settings.repo_dir, source_dir=tmp_path / "images",
            schema_version_id=sv.id,
        )  # fmt: skip
        labelled = sorted(truth)[: IMAGES - UNLABELLED]
        items = {i.uri: i.id or 0 for i in list_items(s, version_id=v.id or 0)}
        labels = [
            NewLabel(item_id=items[uri], category=b.category, x=b.x, y=b.y, w=b.w, h=b.h)
            for uri in labelled
            for b in truth[uri]
        ]
        provenance = Provenance(
            kind=ProvenanceKind.synthetic, generator_config_hash=generator_config_hash(SPEC, count=IMAGES, seed=5)
        )
        add_annotations(s, actor=ml, version=v, labels=labels, provenance=provenance)
        # a person moves the first label of the first image and calls it a circle: the export must say so
        first = s.exec(
            select(Annotation).where(Annotation.item_id == items[labelled[0]]).order_by(col(Annotation.id))
        ).first()
        assert first is not None
        before = truth[labelled[0]][0]
        after = ShapeBox("circle", before.x + 2, before.y + 1, before.w - 2, before.h - 1)
        change = BoxChange(category="circle", x=after.x, y=after.y, w=after.w, h=after.h)
        correct_annotation(s, actor=ml, annotation_id=first.id or 0, change=change, reason="test")
        # a version in the other project, and one of this project without labels
        quick_version(s, actor=ml, project_id=world.other_project.id or 0, items={"a.png": (96, 96)}, dataset="away")
        create_version(
            s, actor=ml, dataset=ds, version="bare", repo_dir=settings.repo_dir, parent=v, inherit_labels=False
        )
        s.commit()
        yield Shapes(settings, engine, world, ml, sv.id or 0, truth, (labelled[0], before, after))


def _expected_lines(shapes: Shapes) -> dict[str, list[str]]:
    """``{image stem: sorted YOLO lines rounded to 4 decimals}`` of the version's live labels."""
    name, before, after = shapes.corrected
    n = SPEC.size
    expected: dict[str, list[str]] = {}
    for uri in sorted(shapes.truth)[: IMAGES - UNLABELLED]:
        boxes = [after if (uri, b) == (name, before) else b for b in shapes.truth[uri]]
        expected[uri.rsplit(".", 1)[0]] = sorted(
            f"{SPEC.classes.index(b.category)} {(b.x + b.w / 2) / n:.4f} {(b.y + b.h / 2) / n:.4f} "
            f"{b.w / n:.4f} {b.h / n:.4f}"
            for b in boxes
        )
    return expected


def _written_lines(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(root.glob("*/*/labels/*.txt")):
        assert path.stem not in found, f"{path.stem} exported twice"
        found[path.stem] = sorted(
            f"{int(p[0])} " + " ".join(f"{float(v):.4f}" for v in p[1:])
            for p in (line.split() for line in path.read_text().splitlines() if line.strip())
        )
    return found


def test_the_export_holds_the_versions_live_labels_and_its_images(shapes: Shapes, tmp_path: Path) -> None:
    with Session(shapes.engine) as s:
        data = collect_training_data(
            s, project_id=shapes.project_id, train=["shapes@v1"], schema_version_id=shapes.schema_version_id
        )
        [part] = data.train
        assert (data.classes, part.ref, part.unlabelled) == (SPEC.classes, "shapes@v1", UNLABELLED)
        exported = export_training_data(data, tmp_path / "out", repo_dir=shapes.settings.repo_dir, seed=3)
        hashes = {i.uri: i.sha256 for i in s.exec(select(Item).where(Item.dataset_version_id == part.version.id))}
    labelled = IMAGES - UNLABELLED
    assert (exported.train_images, exported.val_images) == (labelled - 6, 6)  # 20 % of 28, rounded
    assert exported.val_fraction == 0.2
    assert _written_lines(tmp_path / "out") == _expected_lines(shapes)
    images = {p.name: p for p in (tmp_path / "out").glob("*/*/images/*.png")}
    assert len(images) == labelled and set(images) == set(sorted(shapes.truth)[:labelled])
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == hashes[name] for name, p in images.items())
    import yaml

    config = yaml.safe_load(exported.data_yaml.read_text())
    assert config["names"] == dict(enumerate(SPEC.classes)) and config["val"] == ["val/1/images"]
    # the same seed holds out the same images
    again = export_training_data(data, tmp_path / "again", repo_dir=shapes.settings.repo_dir, seed=3)
    assert sorted(p.name for p in (tmp_path / "again").glob("val/*/images/*")) == sorted(
        p.name for p in (tmp_path / "out").glob("val/*/images/*")
    )
    assert again.val_images == 6


@sqlite_only
def test_train_and_register_records_the_training(shapes: Shapes) -> None:
    epochs: list[EpochProgress] = []
    with Session(shapes.engine, expire_on_commit=False) as s:
        model = train_and_register(
            shapes.context(s), shapes.project_id, ref="shapes-det@1", train=["shapes@v1"], schema_ref="shapes",
            base="tiny", epochs=2, imgsz=96, batch=8, seed=1, device="cpu", intended_use="tests only",
            caveats=["two epochs"], progress=epochs.append,
        )  # fmt: skip
        s.commit()
        rows = list(s.exec(select(ModelTrainingData).where(ModelTrainingData.model_version_id == model.id)))
        path = weights_file(model, shapes.settings.repo_dir)
    assert [(e.epoch, e.epochs) for e in epochs] == [(1, 2), (2, 2)]
    assert all(e.loss is not None and e.loss > 0 for e in epochs)
    training = model.training or {}
    assert training["trainer"] == TRAINER and training["started_at"] <= training["finished_at"]
    assert set(training["metrics"]) == {"map50", "map50_95", "precision", "recall"}
    assert all(0.0 <= v <= 1.0 for v in training["metrics"].values())
    hyper = training["hyperparameters"]
    assert (hyper["base"], hyper["epochs"], hyper["imgsz"], hyper["batch"], hyper["seed"]) == ("tiny", 2, 96, 8, 1)
    assert (hyper["train_images"], hyper["val_images"], hyper["val_fraction"]) == (22, 6, 0.2)
    assert [(r.role, r.item_count) for r in rows] == [("train", IMAGES)]
    assert model.class_map == {"0": "square", "1": "circle", "2": "triangle"}
    assert model.card == {"intended_use": "tests only", "caveats": ["two epochs"]}
    assert hashlib.sha256(path.read_bytes()).hexdigest() == model.weights_sha256
    events = read_events(shapes.settings.workspace / "openlineage" / "events.jsonl")
    for event in events:
        validate_event(event)
    trained = [e for e in events if e["job"]["name"] == "alpha.models.shapes-det.train"]
    assert [e["eventType"] for e in trained] == ["START", "COMPLETE"]
    assert trained[1]["run"]["facets"]["labelgateTraining"]["metrics"] == training["metrics"]


@pytest.mark.parametrize(
    ("train", "val", "error", "message"),
    [
        (["nope@v1"], [], NotFound, "training data 'nope@v1': no dataset"),
        (["shapes@v9"], [], NotFound, "training data 'shapes@v9'"),
        (["away@v1"], [], NotFound, "training data 'away@v1'"),  # a version of the other project
        (["shapes"], [], InvalidInput, "expected DATASET@VERSION"),
        (["shapes@bare"], [], InvalidInput, "shapes@bare has no box labels to train on"),
        (["shapes@v1"], ["shapes@bare"], InvalidInput, "validation data shapes@bare has no box labels"),
        (["shapes@v1"], ["shapes@v1"], InvalidInput, "both training and validation data"),
        ([], [], InvalidInput, "at least one training dataset version"),
    ],
)
def test_a_bad_reference_is_refused_before_training_with_nothing_written(
    shapes: Shapes, train: list[str], val: list[str], error: type[Exception], message: str
) -> None:
    before = shapes.written()
    with Session(shapes.engine) as s, pytest.raises(error, match=message):
        train_and_register(
            shapes.context(s), shapes.project_id, ref="m@1", train=train, val=val, schema_ref="shapes", epochs=1
        )
    assert shapes.written() == before
    assert not list(shapes.settings.workspace.glob("labelgate-train-*"))  # no training was started


@sqlite_only  # the options are checked before the record is read
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"ref": "m"}, InvalidInput, "expected NAME@VERSION"),
        ({"base": "yolov8n.pt"}, InvalidInput, "nothing is downloaded"),
        ({"schema_ref": "nope"}, NotFound, "nope"),
        ({"epochs": 0}, InvalidInput, "epochs must be"),
        ({"caveats": ["x" * 5000]}, InvalidInput, "at most 4000 characters"),
    ],
)
def test_bad_options_are_refused_before_training(
    shapes: Shapes, options: dict[str, object], error: type[Exception], message: str
) -> None:
    before = shapes.written()
    args: dict[str, object] = {"ref": "m@1", "train": ["shapes@v1"], "schema_ref": "shapes", "epochs": 1}
    with Session(shapes.engine) as s, pytest.raises(error, match=message):
        train_and_register(shapes.context(s), shapes.project_id, **(args | options))  # type: ignore[arg-type]
    assert shapes.written() == before


@sqlite_only
def test_only_who_may_register_models_may_train_them(shapes: Shapes) -> None:
    from lineage.errors import PermissionDenied

    with Session(shapes.engine) as s, pytest.raises(PermissionDenied):
        train_and_register(
            shapes.context(s, "annotator"), shapes.project_id, ref="m@1", train=["shapes@v1"], schema_ref="shapes"
        )


@sqlite_only
def test_a_registered_name_and_version_is_refused_before_training(shapes: Shapes) -> None:
    with Session(shapes.engine) as s:
        s.add(
            ModelVersion(
                project_id=shapes.project_id, name="m", version="1", framework="ultralytics", weights_uri="/x.pt",
                weights_sha256="0" * 64, class_map={}, created_by=shapes.ml.user_id,
            )
        )  # fmt: skip
        s.commit()
    with Session(shapes.engine) as s, pytest.raises(Conflict, match="m@1 is already registered"):
        train_and_register(shapes.context(s), shapes.project_id, ref="m@1", train=["shapes@v1"], schema_ref="shapes")


def _cli(shapes: Shapes, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    import typer
    from typer.testing import CliRunner

    from service.cli.model_train import model_train_command
    from service.settings import get_settings

    app = typer.Typer()
    app.command("train")(model_train_command)
    app.command("other")(lambda: None)  # two commands: typer keeps ``train`` as a subcommand
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(shapes.settings.workspace))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", shapes.settings.database_url)
    monkeypatch.setenv("LABELGATE_ENV", "test")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["train", *args])
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


@sqlite_only
def test_the_command_refuses_a_bad_reference_in_one_line(shapes: Shapes, monkeypatch: pytest.MonkeyPatch) -> None:
    before = shapes.written()
    code, output = _cli(shapes, monkeypatch, "m@1", "--data", "nope@v1", "--schema", "shapes", "-p", "alpha")
    assert code != 0 and "training data 'nope@v1'" in output and "Traceback" not in output
    assert shapes.written() == before
    monkeypatch.setenv("LABELGATE_SERVER", "http://127.0.0.1:9")
    code, output = _cli(shapes, monkeypatch, "m@1", "--data", "shapes@v1", "--schema", "shapes")
    assert code != 0 and "runs on the workspace's machine only" in output
