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
