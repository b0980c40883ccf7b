"""The dataset version page reads gate reports of one version: the one ``quality_gates`` writes; an
evaluation of another version (or none, from a server of an older release) is named, not read."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.views import dataset_version
from quality_gates import REPORT_VERSION
from tests.dashboard.conftest import all_text, texts


def test_the_page_reads_the_report_version_quality_gates_writes() -> None:
    assert dataset_version.REPORT_VERSION == REPORT_VERSION


def _section(report_version: object) -> None:
    from dashboard.views.dataset_version import _evaluation_section

    # Nothing but the version is read from a report of another version: these keys are not there.
    _evaluation_section({"id": 7, "report_version": report_version})


@pytest.mark.parametrize("version", [2, None])
def test_an_evaluation_of_another_report_version_is_named_not_read(version: int | None) -> None:
    at = AppTest.from_function(_section, args=(version,)).run()
    assert not at.exception
    assert texts(at, "error") == [
        f"Evaluation #7 is a gate report of version {version}; this dashboard reads version {REPORT_VERSION}. "
        "Use the dashboard of the server's labelgate release."
    ]
    assert "Gate check" not in all_text(at) and not at.get("vega_lite_chart")
