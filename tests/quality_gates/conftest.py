"""Fixtures of the quality-gate tests: the seeded demo data, in memory and written to files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.demo.synthetic import DemoData, make_demo

from .helpers import DEMO_POLICY


@pytest.fixture(scope="session")
def demo() -> DemoData:
    return make_demo(n_images=60, n_classes=4, seed=3)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, demo: DemoData) -> Path:
    """The demo written as files: golden.json, parent.json, good.json, bad.json, alice/bob/carol.json,
    policy.yaml."""
    d = tmp_path_factory.mktemp("demo")
    (d / "golden.json").write_text(json.dumps(demo.golden))
    (d / "parent.json").write_text(json.dumps(demo.parent))
    (d / "good.json").write_text(json.dumps(demo.good_predictions))
    (d / "bad.json").write_text(json.dumps(demo.bad_predictions))
    for name, ann in demo.annotators.items():
        (d / f"{name}.json").write_text(json.dumps(ann))
    (d / "policy.yaml").write_text(DEMO_POLICY)
    return d
