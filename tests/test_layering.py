"""Arrows point one way: service → inference → lineage → quality_gates; the dashboard talks HTTP only.

Each package is imported in a fresh interpreter that records every module imported; a forbidden
package appearing there fails the test. torch and ultralytics are never imported eagerly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "quality_gates": {"lineage", "inference", "service", "dashboard", "sqlmodel", "sqlalchemy", "fastapi", "torch"},
    "lineage": {"inference", "service", "dashboard", "fastapi", "torch", "ultralytics"},
    "inference": {"service", "dashboard", "fastapi", "torch", "ultralytics"},
    "dashboard": {"lineage", "inference", "service", "quality_gates", "sqlmodel", "sqlalchemy", "torch"},
    "service": {"torch", "ultralytics", "dashboard"},
}


def _modules_of(package: str) -> dict[str, list[str]]:
    """Import ``package`` and all its submodules in a fresh interpreter; map each to top-level names seen."""
    code = f"""
import importlib, json, pkgutil, sys
pkg = importlib.import_module({package!r})
result = {{}}
names = [{package!r}] + [m.name for m in pkgutil.walk_packages(pkg.__path__, {package!r} + ".")]
before = set(sys.modules)
for name in names:
    importlib.import_module(name)
result = sorted({{m.split(".")[0] for m in sys.modules}})
print(json.dumps(result))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {package: json.loads(proc.stdout.strip().splitlines()[-1])}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    seen = set(_modules_of(package)[package])
    bad = sorted(seen & FORBIDDEN[package])
    assert bad == [], f"{package} imports {bad}"


# ---- doors call only verbs ------------------------------------------------------------------------------------

#: The doors: API routes, CLI commands, the demo story and the worker. They parse input, call verbs of
#: ``service.actions`` and render; they never query the database or call the record's functions themselves.
DOORS = [
    "service/api/routes",
    "service/cli",
    "service/demo/story.py",
    "service/demo/integrity.py",
    "service/demo/tasks.py",
    "service/worker.py",
]
# Not doors: service/demo/scenario.py writes the story's starting history (a builder, like the tests' factories)
# and service/demo/tamper.py is the attacker of the integrity chapter (it writes SQL on a copy, on purpose).
#: What a door may import from the record and inference packages: error and value types, enums, and pure
#: functions over files the caller holds (offline verification of a bundle, an export or a checkpoint file).
DOOR_MAY_IMPORT = {
    "lineage.errors": "*",
    "lineage.models": "*",  # table classes as types and enums (Role, VersionState, ...)
    "lineage.context": {"Actor"},
    "lineage.release.approvals": {"Meaning"},
    "lineage.release.four_eyes": {"Meaning"},
    "lineage.release.bundle": {"load_public_key", "verify_bundle"},  # offline, over a bundle file
    "lineage.audit.verify": {"verify_file", "AuditFileError"},  # offline, over an export file
    "lineage.audit.checkpoints": {"Checkpoint", "parse_checkpoint"},  # parsing a checkpoint file
    "lineage.audit.whole": {"Witness", "parse_anchor", "verify_chain"},  # an anchor; verify_chain offline, no session
    "lineage.audit.query": {"AuditFilter"},
    "lineage.provenance": {"AnnotationLineage", "VersionLineage"},
    "lineage.item_lineage": {"ItemLineage", "ItemSummary"},  # response models, as provenance's
    "lineage.model_lineage": {"LoopGraph"},  # the same for a model's loop
    "lineage.schemas": {"GeometryType", "LabelClass", "SchemaOptions", "parse_classes", "parse_schema"},
    "lineage.formats": {"FORMATS"},
    "lineage.formats.transfer": {"ImportResult", "ExportResult"},
    "lineage.gates": {"EvaluationView"},
    "lineage.reports.annotator_report": {"report_csv", "report_html"},  # renderers of a report already made
    "lineage.connectors.labelstudio": {"Pulled"},  # what a pull did (a result type)
    "inference.runner": {"RunProgress", "RunSummary"},
    "lineage.progress": {"Update", "listening"},  # a door shows the progress of the work its verb does
    "inference.registry": {"CardWords", "TrainingRecord"},  # value types a registration is given
    "inference.active": {"Diversity", "Uncertainty"},
    "inference.tiny": {"ensure_tiny_model"},  # trains or loads the tiny test detector into a cache folder
    "inference.tiny_tasks": {"TinyTask", "ensure_tiny_task_model"},  # the same for segment, pose, classify
}
#: Door modules that are infrastructure, not doors: the transaction and the error mapping of the CLI.
DOOR_INFRASTRUCTURE = {"service/cli/common.py", "service/cli/door.py"}


def _door_files() -> list[Path]:
    files: list[Path] = []
    for entry in DOORS:
        path = ROOT / entry
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return [f for f in files if str(f.relative_to(ROOT)) not in DOOR_INFRASTRUCTURE]


def _forbidden_imports(path: Path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:  # names for annotations only: nothing runs
            continue
        if isinstance(node, ast.Import):
            pairs = [(a.name, "*") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            pairs = [(node.module, a.name) for a in node.names]
        else:
            continue
        for module, name in pairs:
            top = module.split(".")[0]
            if top in {"sqlmodel", "sqlalchemy"}:
                found.append(f"{module}:{name} (a door does not touch the database)")
            elif top in {"lineage", "inference"}:
                allowed = DOOR_MAY_IMPORT.get(module)
                if allowed != "*" and (allowed is None or name not in allowed):
                    found.append(f"{module}:{name}")
    return found


def test_doors_call_only_verbs() -> None:
    bad = {str(f.relative_to(ROOT)): _forbidden_imports(f) for f in _door_files()}
    bad = {k: v for k, v in bad.items() if v}
    assert bad == {}, "doors reaching past service.actions:\n" + "\n".join(f"{k}: {v}" for k, v in bad.items())


def test_the_door_check_can_fail(tmp_path: Path) -> None:
    door = tmp_path / "door.py"
    door.write_text("from lineage.release.releases import release\nfrom sqlmodel import select\nimport lineage.db\n")
    assert len(_forbidden_imports(door)) == 3
    door.write_text("from lineage.errors import NotFound\nfrom service import actions\n")
    assert _forbidden_imports(door) == []
    door.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sqlalchemy import Engine\n")
    assert _forbidden_imports(door) == []
