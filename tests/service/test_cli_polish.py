"""The CLI as its users meet it: a fast, ordered ``--help`` without type noise, ``DATASET@VERSION`` everywhere,
list commands with a header row and names, and hints on the likely mistakes (a file's extension, a cut-off
JSON file)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from lineage.db import make_engine
from lineage.models import AutoLabelRun, ModelVersion, RunState, User
from service.cli.helpstyle import PANELS
from service.cli.main import WORKFLOW, app
from service.settings import get_settings
from tests.lineage.conftest import make_images

ROOT = Path(__file__).resolve().parents[2]

#: What ``--help`` must not load: the record (SQL), the web stack, the gate and data libraries, the model code.
HEAVY = [
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "pandas",
    "numpy",
    "scipy",
    "great_expectations",
    "dvc",
    "PIL",
    "openlineage",
    "matplotlib",
    "streamlit",
    "torch",
    "ultralytics",
    "pycocotools",
    "cryptography",
    "yaml",
    "pydantic_settings",
    "quality_gates",
    "inference",
]
#: Of labelgate's own packages, only these load for ``--help``: the CLI, and the record's error classes.
OWN_ALLOWED = ("service", "service.cli", "lineage", "lineage.errors")

HELP_PROBE = """
import sys
from typer.testing import CliRunner
from service.cli.main import WORKFLOW, app
runner = CliRunner()
runs = [["--help"]] + [[name, "--help"] for _, names in WORKFLOW for name in names]
runs += [["gate", "check", "--help"], ["dataset", "version", "--help"], ["runs", "list", "--help"]]
for args in runs:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
heavy = set(sys.argv[1].split())
own = {m for m in sys.modules if m.split(".")[0] in {"service", "lineage"}}
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
print(sorted(m for m in own if not m.startswith("service.cli") and m not in sys.argv[2].split()))
"""


def test_help_loads_no_heavy_module() -> None:
    """``labelgate --help`` and every command's ``--help`` import typer and the CLI's own modules only (the
    heavy ones load in the command bodies); in a fresh interpreter, since this one has loaded everything."""
    probe = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, " ".join(HEAVY), " ".join(OWN_ALLOWED)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    heavy, own = probe.stdout.splitlines()
    assert heavy == "[]", f"--help imported {heavy}"
    assert own == "[]", f"--help imported {own}"


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "160", "TERMINAL_WIDTH": "160"})
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_the_commands_panel_by_panel_in_workflow_order() -> None:
    text = _help()
    titles = re.findall(r"╭─ (.+?) ─", text)
    assert titles == ["Options", *PANELS], titles
    listed = re.findall(r"^│ ([a-z][a-z-]*) ", text, re.M)
    assert listed == [name for _, names in WORKFLOW for name in names], listed
    assert listed[:6] == ["init", "migrate", "user", "project", "token", "login"]
    assert listed.index("import") < listed.index("gate") < listed.index("release") < listed.index("dashboard")
    assert set(listed) == set(app_commands()), "every command has its place in WORKFLOW"


def app_commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return list(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "args",
    [(), ("dataset", "version"), ("runs", "list"), ("gate", "check"), ("sign",), ("import",), ("audit", "log")],
)
def test_help_has_no_type_noise(args: tuple[str, ...]) -> None:
    """No ``<bool>``/``<str>``/``<path>`` beside the options, no ``{braces}`` around the arguments: a flag
    shows nothing, a value its metavar or type (``TEXT``, ``PATH``), a choice its choices."""
    text = _help(*args)
    assert not re.search(r"<[a-z][a-z \[\]|]*>", text), text
    assert not re.search(r"\{[a-z_@]+\}", text), text


def test_help_names_values_plainly() -> None:
    assert re.search(r"Usage: labelgate dataset version \[OPTIONS\] DATASET@VERSION", _help("dataset", "version"))
    sign = _help("sign")
    assert "DATASET@VERSION" in sign and re.search(r"--meaning +review\|approval\|responsibility", sign), sign
    check = _help("gate", "check")
    assert re.search(r"--policy +PATH ", check) and re.search(r"--format +text\|json\|junit ", check), check
    assert re.search(r"--multi-label +classification", check), check  # a flag: no type at all
    assert re.search(r"--server +URL ", _help()), "the root option's metavar"


def test_cli_choices_are_the_records() -> None:
    """The CLI's copies of the record's enumerations (they keep ``--help`` from importing the SQL models)."""
    from lineage.formats import FORMATS
    from lineage.models import Role
    from lineage.release.four_eyes import Meaning
    from service.actions.diff import MAX_LIMIT
    from service.cli import choices

    assert [m.value for m in choices.Role] == [m.value for m in Role]
    assert [m.value for m in choices.RunState] == [m.value for m in RunState]
    assert [m.value for m in choices.Meaning] == [m.value for m in Meaning]
    assert choices.LABEL_FORMATS == FORMATS and choices.MAX_DIFF_LIMIT == MAX_LIMIT


# ---- on a workspace ------------------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A SQLite workspace with project ``demo``, schema ``animals`` and ``pets@v1`` of two PNG images."""
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("LABELGATE_TOKEN", raising=False)
    monkeypatch.delenv("LABELGATE_SERVER", raising=False)
    get_settings.cache_clear()
    ok("init")
    ok("project", "create", "demo")
    (tmp_path / "classes.yaml").write_text("- name: cat\n- name: dog\n")
    ok("schema", "create", "animals", "--classes", tmp_path / "classes.yaml")
    make_images(tmp_path / "imgs", {"00000001.png": (40, 30), "00000002.png": (20, 10)})
    ok("dataset", "create", "pets")
    assert "pets@v1: 2 items" in ok("dataset", "version", "pets@v1", "--from-dir", tmp_path / "imgs")
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str | Path) -> str:
    code, out, err = run(*args)
    assert code == 0, (args, out, err)
    return out


def test_dataset_version_takes_dataset_at_version(ws: Path) -> None:
    made = ok("dataset", "version", "pets@v2", "--parent", "pets@v1", "--schema", "animals@1")
    assert made.startswith("pets@v2: 2 items"), made
    # The old form works for one release, saying what to write instead.
    code, out, err = run("dataset", "version", "pets", "--version", "v3", "--parent", "v2")
    assert code == 0 and out.startswith("pets@v3: 2 items"), (out, err)
    assert err.startswith("note: ") and "deprecated" in err and "`dataset version pets@v3`" in err, err
    for args, expected in [
        (("pets",), "expected DATASET@VERSION, got 'pets'"),
        (("pets@v4", "--version", "v5"), "drop --version"),
        (("pets@v4", "--parent", "birds@v1"), "--parent birds@v1 is a version of 'birds', not of 'pets'"),
    ]:
        code, out, err = run("dataset", "version", *args)
        assert code == 2 and err.startswith("error: ") and expected in err and len(err.splitlines()) == 1, err
    listed = ok("dataset", "list")
    assert listed.splitlines()[0].split() == ["DATASET", "VERSION", "STATE", "ITEMS", "GIT"], listed
    assert [line.split()[:3] for line in listed.splitlines()[1:]] == [
        ["pets", "v1", "draft"],
        ["pets", "v2", "draft"],
        ["pets", "v3", "draft"],
    ], listed
    assert "pets@v4" not in ok("lineage", "version", "pets@v3")  # nothing of the refused ones was made


def test_runs_list_has_a_header_and_names(ws: Path) -> None:
    assert ok("runs", "list") == "no auto-label runs\n"
    engine = make_engine(get_settings().database_url)
    try:
        with Session(engine) as s:
            admin = s.exec(select(User).where(User.username == "admin")).one()
            model = ModelVersion(
                project_id=1, name="det", version="7", weights_uri="file:///det.pt", weights_sha256="0" * 64,
                created_by=admin.id or 0,
            )  # fmt: skip
            s.add(model)
            s.flush()
            s.add(
                AutoLabelRun(
                    dataset_version_id=1,
                    model_version_id=model.id or 0,
                    threshold=0.25,
                    state=RunState.failed,
                    items_total=2,
                    items_done=1,
                    device="cpu",
                    error="disk full",
                    created_by=admin.id or 0,
                )
            )
            s.commit()
    finally:
        engine.dispose()
    lines = ok("runs", "list").splitlines()
    assert lines[0].split() == [
        "RUN",
        "STATE",
        "DATASET@VERSION",
        "MODEL",
        "DONE",
        "THRESHOLD",
        "DEVICE",
        "RATE",
        "ERROR",
    ]
    assert lines[1].split() == ["1", "failed", "pets@v1", "det@7", "1/2", "0.25", "cpu", "-", "disk", "full"], lines
    assert json.loads(ok("runs", "list", "--json"))[0]["dataset_version_id"] == 1  # the JSON keeps its ids
    models = ok("model", "list").splitlines()
    assert models[0].split() == ["MODEL", "FRAMEWORK", "TASK", "SHA-256", "WEIGHTS"] and models[1].startswith("det@7 ")


def _coco(names: list[str]) -> dict[str, object]:
    return {
        "images": [{"id": i, "file_name": n, "width": 40, "height": 30} for i, n in enumerate(names, start=1)],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}],
    }


def test_import_hints_at_the_versions_extension(ws: Path) -> None:
    source = ws / "coco.json"
    source.write_text(json.dumps(_coco(["00000001.jpg"])))
    code, _, err = run("import", "pets@v1", source)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "image '00000001.jpg' is not in dataset version pets@v1; hint: the version's files are .png" in err, err
    source.write_text(json.dumps(_coco(["elsewhere/00000001.png"])))
    err = run("import", "pets@v1", source)[2]
    assert "hint: the version has '00000001.png'" in err, err
    source.write_text(json.dumps(_coco(["00000009.jpg"])))
    err = run("import", "pets@v1", source)[2]
    assert err.rstrip().endswith("is not in dataset version pets@v1"), err  # no near file: no guess
    assert "(0 live labels)" in ok("lineage", "version", "pets@v1")  # nothing was written


@pytest.mark.parametrize("cut", [60, 95, -3])
def test_a_cut_off_json_file_is_named_with_its_line_and_column(ws: Path, cut: int) -> None:
    whole = json.dumps(_coco(["00000001.png", "00000002.png"]), indent=2).encode()
    data = whole[:cut]
    source = ws / "cut.json"
    source.write_bytes(data)
    code, _, err = run("import", "pets@v1", source)
    line = data.count(b"\n") + 1
    column = len(data) - (data.rfind(b"\n") + 1) + 1
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {source}:{line}:{column}: malformed JSON"), (line, column, err)


def test_a_near_miss_names_the_closest_version_or_dataset(ws: Path) -> None:
    cases: list[tuple[tuple[str | Path, ...], str]] = [
        (("lineage", "version", "pets@V1"), "dataset 'pets' has no version 'V1'; did you mean 'pets@v1'?"),
        (("lineage", "version", "pet@v1"), "no dataset named 'pet' in this project; did you mean 'pets'?"),
        (("import", "Pets@v1", ws / "classes.yaml"), "did you mean 'pets'?"),
    ]
    for args, expected in cases:
        code, _, err = run(*args)
        assert code == 2 and expected in err and len(err.splitlines()) == 1, err
    code, _, err = run("lineage", "version", "pets@v9")
    assert code == 2 and err.rstrip().endswith("has no version 'v9'"), err  # nothing close: no guess
