"""CLI messages are printed verbatim, never read as Rich markup, and no exception ends in a traceback:
a refusal exits 1 and bad input 2, each with one line, an internal error exits 3 with one line naming the
exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lineage.errors import Conflict, CredentialRejected, InvalidInput, NotFound, PermissionDenied
from lineage.release.approvals import SigningConflict, SigningForbidden
from quality_gates.errors import InputFormatError, PolicyError
from service.cli.common import classify, exits_cleanly
from service.cli.main import app
from service.settings import get_settings
from tests.lineage.conftest import make_images

# A path and a class name that Rich would read as closing and link tags.
TAGS = "[/b]/[link=http://x]p[/link]"
CLASS = "[link=http://x]person[/link]"


@pytest.fixture
def cli_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    ws = tmp_path / "ws"
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(ws))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield ws
    get_settings.cache_clear()


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    # Every ending is a deliberate exit: an exception escaping the command would be kept here instead.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def ok(*args: str | Path) -> str:
    code, out = run(*args)
    assert code == 0, out
    return out


def coco(categories: list[str], bbox: list[float]) -> dict[str, object]:
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(categories)],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": bbox}],
    }


@pytest.fixture
def version(cli_ws: Path, tmp_path: Path) -> str:
    """pets@v1: one 40x30 image, schema animals@1 (cat, dog)."""
    ok("init")
    ok("project", "create", "demo")
    (tmp_path / "classes.yaml").write_text("- name: cat\n- name: dog\n")
    ok("schema", "create", "animals", "--classes", tmp_path / "classes.yaml")
    ok("dataset", "create", "pets")
    images = make_images(tmp_path / "imgs", {"a.png": (40, 30)})
    ok("dataset", "version", "pets@v1", "--from-dir", images, "--schema", "animals@1")
    return "pets@v1"


def test_error_text_with_brackets_prints_verbatim_from_a_path_with_tags(version: str, tmp_path: Path) -> None:
    source = tmp_path / TAGS
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps(coco(["cat"], [1, 2, 3])))
    code, out = run("import", version, source)
    assert code == 2, out
    assert "expected bbox [x, y, width, height]" in out and str(source) in out, out


def test_missing_file_whose_path_holds_tags_exits_2_naming_it(version: str, tmp_path: Path) -> None:
    missing = tmp_path / TAGS / "classes.yaml"
    code, out = run("schema", "publish", "animals", "--classes", missing)
    assert code == 2 and out.startswith("error: ") and str(missing) in out, out
    code, out = run("import", version, missing)
    assert code == 2 and str(missing) in out, out


def test_class_name_with_tags_is_reported_verbatim(version: str, tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(json.dumps(coco([CLASS], [1, 2, 3, 4])))
    code, out = run("import", version, tmp_path / "labels.json")
    assert code == 2 and f"class {CLASS!r} is not in the schema" in out, out


def test_gate_check_path_with_tags_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / TAGS / "policy.yaml"
    code, out = run("gate", "check", "--policy", missing, "--gt", tmp_path / "gt.json")
    assert code == 2 and str(missing) in out, out


def test_unexpected_exception_is_one_line_exit_3(version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\n[bold]not[/] markup")

    monkeypatch.setattr("service.actions.datasets.import_annotations", explode)
    (tmp_path / "labels.json").write_text(json.dumps(coco(["cat"], [1, 2, 3, 4])))
    code, out = run("import", version, tmp_path / "labels.json")
    assert code == 3, out
    assert out == "internal error: RuntimeError: boom [bold]not[/] markup\n", out


def test_unexpected_exception_in_gate_check_is_one_line_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise KeyError("[x, y, width, height]")

    monkeypatch.setattr("service.cli.gate._offline_check", explode)
    code, out = run("gate", "check", "--policy", tmp_path / "p.yaml", "--gt", tmp_path / "gt.json")
    assert code == 3 and out == "internal error: KeyError: '[x, y, width, height]'\n", out


def test_a_refusal_by_the_record_exits_1_with_one_refused_line(version: str) -> None:
    """A valid request the record refuses (a name taken; a state the flow does not allow) is 1, not bad input."""
    code, out = run("dataset", "create", "pets")
    assert code == 1 and out == "refused: name: a dataset named 'pets' already exists in this project\n", out
    code, out = run("dataset", "state", version, "deprecated")
    assert code == 1 and out.startswith("refused: state: cannot move a draft version to deprecated"), out


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (Conflict("pets@v1 is released and immutable", field="state"), 1, "refused: state: pets@v1 is released"),
        (PermissionDenied("needs the role ml_engineer", field="annotator"), 1, "refused: annotator: needs the role"),
        (SigningConflict("already signed", field="meaning"), 1, "refused: meaning: already signed"),
        (SigningForbidden("four-eyes: you authored labels", field="meaning"), 1, "refused: meaning: four-eyes"),
        (CredentialRejected("re-authentication failed", field="secret"), 2, "error: secret: re-authentication"),
        (InvalidInput("expected NAME=FILE", field="--map"), 2, "error: --map: expected NAME=FILE"),
        (NotFound("no version 'v9'", field="version"), 2, "error: version: no version 'v9'"),
        (InputFormatError("pred.json", "[3].score", "must be finite"), 2, "error: pred.json: [3].score: must be"),
        (PolicyError("gates.map", "unknown key", line=4), 2, "error: gates.map (line 4): unknown key"),
        (FileNotFoundError(2, "No such file or directory", "gt.json"), 2, "error: gt.json: No such file"),
        (RuntimeError("boom\nagain"), 3, "internal error: RuntimeError: boom again"),
    ],
)
def test_one_mapping_from_exception_to_exit_code(exc: Exception, code: int, line: str) -> None:
    """``classify`` is the one place: refusals 1, bad input 2 (a quality-gate parse error too, not a bug),
    anything else 3; every command ends through it (``exits_cleanly``)."""

    @exits_cleanly
    def command() -> None:
        raise exc

    cli = typer.Typer()
    cli.command()(command)
    result = CliRunner().invoke(cli, [])
    assert (result.exit_code, classify(exc).code) == (code, code), result.output
    assert result.output.startswith(line) and result.output.count("\n") == 1, result.output
