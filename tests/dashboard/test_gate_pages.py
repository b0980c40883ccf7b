"""The gate, signature, release-report and auto-label pages on the real gate scenario (``gate_world``): street@v2
(blocked by the default policy) and street@v3 (passing), both candidates with a stored evaluation.

Everything goes through the real API (create_app): evaluations, approvals, rejection, release, reports, runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from lineage import identity
from lineage.models import DatasetVersion, Item, ReviewQueueItem, Role, User
from lineage.release.bundle import load_public_key, verify_bundle
from service.settings import Settings
from tests.dashboard.conftest import (
    SECRET,
    all_text,
    assert_clean,
    button,
    labels,
    open_page,
    signed_in,
    table_with,
    texts,
)
from tests.factories import World, actor_for

ALPHA = 1
DEFAULT_GATES = [
    "golden_set_error",
    "krippendorff_alpha",
    "precision",
    "recall",
    "map",
    "class_drift_psi",
    "expectations",
    "review_coverage",
]
V3_PLOTS = [
    "Composition by provenance",
    "Golden-set error per source",
    "Per-class metrics (- - policy minimum)",
    "Agreement per class",
    "Class distribution vs parent",
    "F1-optimal threshold per class (- - threshold in force)",
    "Precision–recall (◆ threshold)",
    "Confusion matrix",
]


def url(version: str, tail: str = "") -> str:
    return f"/api/v1/projects/{ALPHA}/datasets/street/versions/{version}{tail}"


def version_page(http: httpx.Client, token: str, version: str) -> AppTest:
    at = open_page(signed_in(http, token), "dataset_version")
    at.selectbox(key=f"dv_dataset_{ALPHA}").set_value("street").run()
    at.selectbox(key=f"dv_version_{ALPHA}_street").set_value(version).run()
    assert_clean(at)
    assert texts(at, "header") == [f"street@{version}"]
    return at


def charts(at: AppTest) -> list[dict[str, Any]]:
    """Each chart's Vega-Lite spec, with ``rows``: every data row it draws (inline layer data, and the data
    Streamlit moves out of the spec into Arrow)."""
    found = []
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        rows: list[dict[str, Any]] = []
        for part in [spec, *spec.get("layer", [])]:
            rows += (part.get("data") or {}).get("values", [])
        arrow = [element.proto.data.data] + [d.data.data for d in element.proto.datasets]
        for data in filter(None, arrow):
            rows += dataframe_util.convert_arrow_bytes_to_pandas_df(data).to_dict("records")
        found.append({**spec, "rows": rows})
    return found


def sign(http: httpx.Client, world: World, version: str, *, who: str = "compliance_officer") -> None:
    r = http.post(url(version, "/approvals"), json={"meaning": "approval", "signing_secret": SECRET},
                  headers=world.headers(who))  # fmt: skip
    assert r.status_code == 201, r.text


def release(http: httpx.Client, world: World, version: str) -> None:
    sign(http, world, version)
    r = http.post(url(version, "/release"), headers=world.headers("ml_engineer"))
    assert r.status_code == 201, r.text


# ---- the gate table and its evidence ------------------------------------------------------------------------


def test_passing_version_shows_its_gate_table_and_evidence_plots(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    (headline,) = texts(at, "success")
    assert headline.startswith("Gate check PASSED: evaluation #2 of policy default@1 (hash `"), headline
    assert "golden set street-golden@1 (20 items, " in headline
    assert not texts(at, "error") and "Blocking gates" not in all_text(at)
    gates = table_with(at, "gate")
    assert [g["gate"] for g in gates] == DEFAULT_GATES
    assert {g["verdict"] for g in gates} == {"PASS"}
    golden = next(g for g in gates if g["gate"] == "golden_set_error")
    assert golden["bound"] == "≤ 5.0 %" and str(golden["explanation"]).startswith("golden-set error 2.2% vs max 5.0%")
    specs = charts(at)
    assert [s.get("title") for s in specs] == V3_PLOTS
    golden_rows = specs[1]["rows"]
    sources = {r["source"] for r in golden_rows if "source" in r}
    assert sources == {"alice", "bob", "carol", "model:street-detector@2", "(all sources)"}
    assert all(r["low"] <= r["error"] <= r["high"] for r in golden_rows if "source" in r)  # intervals drawn
    assert {"bound": 0.05, "label": "max"} in golden_rows
    per_class = specs[2]["rows"]
    assert {r["metric"] for r in per_class if "class" in r} == {"precision", "recall", "AP@[.50:.95]"}
    assert {"metric": "recall", "bound": 0.85} in per_class
    assert {r["class"] for r in specs[3]["rows"] if "class" in r} == {"person", "car", "bicycle", "dog", "cat"}
    assert {r["version"] for r in specs[4]["rows"]} == {"parent", "this version"}
    # PR curves per class (from the evaluation's evidence) and the confusion matrix with a background class.
    assert {r["class"] for r in specs[6]["rows"] if "class" in r} == {"person", "car", "bicycle", "dog", "cat"}
    assert {r["truth"] for r in specs[7]["rows"] if "truth" in r} >= {"person", "background"}
    assert table_with(at, "expectation")  # the expectations gate's outcomes, in the evidence details


def test_blocked_version_names_the_blocking_gates_and_why(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["annotator"], "v2")
    (headline,) = texts(at, "error")
    assert headline.startswith("Gate check BLOCKED: evaluation #1 of policy default@1 (hash `"), headline
    assert "golden set street-golden@1 (20 items, " in headline
    gates = {g["gate"]: g for g in table_with(at, "gate")}
    assert list(gates) == DEFAULT_GATES
    assert {n for n, g in gates.items() if g["verdict"] == "BLOCK"} == {
        "golden_set_error",
        "precision",
        "recall",
        "map",
    }
    explanation = str(gates["golden_set_error"]["explanation"])
    assert "worst source model:street-detector@1" in explanation and "review its labels" in explanation
    blocking = next(m for m in texts(at, "markdown") if m.startswith("**Blocking gates**"))
    assert "worst source model:street-detector@1" in blocking
    assert "most missed objects in class 'person'" in blocking
    assert "krippendorff" not in blocking  # a passing gate is not listed as blocking
    assert len(charts(at)) == len(V3_PLOTS)


def test_the_newest_evaluation_is_shown_first(gate_http: TestClient, gate_world: World) -> None:
    lenient = "name: lenient\ngolden: street-golden@1\ngates:\n  recall: {min: 0.1, baseline: golden, threshold: 0.5}\n"
    r = gate_http.post(
        f"/api/v1/projects/{ALPHA}/policies", json={"yaml": lenient}, headers=gate_world.headers("ml_engineer")
    )
    assert r.status_code == 201, r.text
    r = gate_http.post(url("v2", "/evaluations"), json={"policy": "lenient"}, headers=gate_world.headers("ci"))
    assert r.status_code == 201 and r.json()["passed"] is True, r.text
    at = version_page(gate_http, gate_world.tokens["reviewer"], "v2")
    (headline,) = texts(at, "success")
    assert headline.startswith(f"Gate check PASSED: evaluation #{r.json()['id']} of policy lenient@1")
    assert [g["gate"] for g in table_with(at, "gate")] == ["recall"]
    listed = table_with(at, "evaluation")
    assert [(e["evaluation"], e["purpose"], e["verdict"]) for e in listed] == [
        (r.json()["id"], "evaluation", "PASS"),
        (1, "evaluation", "BLOCK"),
    ]
    assert listed[1]["blocking"] == "golden_set_error, precision, recall, map"
    assert listed[1]["golden set"].startswith("street-golden@1 (20 items, ")


def _strict_recheck(http: TestClient, world: World, version: str) -> int:
    """A blocking evaluation of ``version`` under a stricter policy (made after a release: a re-check)."""
    strict = "name: strict\ngolden: street-golden@1\ngates:\n  precision: {min: 0.999, threshold: 0.5}\n"
    r = http.post(f"/api/v1/projects/{ALPHA}/policies", json={"yaml": strict}, headers=world.headers("ml_engineer"))
    assert r.status_code == 201, r.text
    r = http.post(url(version, "/evaluations"), json={"policy": "strict"}, headers=world.headers("ci"))
    assert r.status_code == 201 and r.json()["passed"] is False, r.text
    return int(r.json()["id"])


def test_a_released_version_shows_its_release_evidence_not_a_later_recheck(
    gate_http: TestClient, gate_world: World
) -> None:
    release(gate_http, gate_world, "v3")
    recheck = _strict_recheck(gate_http, gate_world, "v3")
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    (headline,) = texts(at, "success")
    assert headline.startswith("Release evidence — Gate check PASSED: evaluation #2 of policy default@1"), headline
    assert not texts(at, "error")  # the blocking re-check does not take the evidence's place
    assert any(
        f"was released on evaluation #2: that is its gate evidence. Later evaluations (#{recheck}) are re-checks" in c
        for c in texts(at, "caption")
    ), texts(at, "caption")
    assert [s.get("title") for s in charts(at)] == V3_PLOTS  # the release evidence's plots
    listed = table_with(at, "purpose")
    assert [(e["evaluation"], e["purpose"], e["verdict"]) for e in listed] == [
        (recheck, "re-check", "BLOCK"),
        (2, "release evidence", "PASS"),
    ]
    assert at.selectbox(key=f"dv_eval_{ALPHA}_street_v3").value == 2


def test_the_selector_opens_any_evaluation_with_its_plots(gate_http: TestClient, gate_world: World) -> None:
    release(gate_http, gate_world, "v3")
    recheck = _strict_recheck(gate_http, gate_world, "v3")
    at = version_page(gate_http, gate_world.tokens["reviewer"], "v3")
    picker = at.selectbox(key=f"dv_eval_{ALPHA}_street_v3")
    assert picker.options[0].startswith(f"#{recheck} · re-check · BLOCK · policy strict@1")
    assert picker.options[1].startswith("#2 · release evidence · PASS · policy default@1")
    picker.set_value(recheck).run()
    assert_clean(at)
    (headline,) = texts(at, "error")
    assert headline.startswith(f"Re-check (not the release's evidence) — Gate check BLOCKED: evaluation #{recheck}")
    assert f"Showing evaluation #{recheck}; the version's gate evidence is evaluation #2." in texts(at, "caption")
    assert [g["gate"] for g in table_with(at, "gate")] == ["precision"]
    titles = [s.get("title") for s in charts(at)]
    assert "Precision–recall (◆ threshold)" in titles and "Confusion matrix" in titles  # its own plot data
    picker = at.selectbox(key=f"dv_eval_{ALPHA}_street_v3")
    picker.set_value(2).run()
    assert texts(at, "success")[0].startswith("Release evidence — Gate check PASSED: evaluation #2")


# ---- signatures and rejection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "signs", "rejects", "why"),
    [
        ("compliance_officer", True, True, None),
        ("reviewer", False, True, "you have no signing secret yet"),
        ("ml_engineer", False, True, "approval needs one of the roles"),
        ("annotator", False, False, "offered to compliance officers, reviewers, ML engineers and admins"),
        ("ci", False, False, "offered to compliance officers, reviewers, ML engineers and admins"),
    ],
)
def test_sign_and_reject_are_offered_to_signers_only(
    gate_http: TestClient, gate_world: World, role: str, signs: bool, rejects: bool, why: str | None
) -> None:
    """The sign form is shown only when the server would accept the signature now; otherwise its reason."""
    at = version_page(gate_http, gate_world.tokens[role], "v3")
    assert ("Sign and approve" in labels(at)) is signs
    assert ("Reject version" in labels(at)) is rejects
    if why is not None:
        assert any(why in c for c in texts(at, "caption")), texts(at, "caption")


def fill_signature(at: AppTest, secret: str, meaning: str = "approval") -> AppTest:
    at.radio(key="approve_meaning").set_value(meaning)
    at.text_input(key="approve_secret").input(secret)
    at.checkbox(key="approve_confirm").check()
    button(at, "Sign and approve").click()  # type: ignore[attr-defined]
    return at.run()


def test_compliance_officer_signs_with_the_secret_and_the_printed_name_is_listed(
    gate_http: TestClient, gate_world: World
) -> None:
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    assert "No signatures yet." in texts(at, "caption")
    button(at, "Sign and approve").click()  # type: ignore[attr-defined]
    at.run()
    assert "Enter your signing secret and tick the confirmation to sign." in texts(at, "error")
    fill_signature(at, "not the secret")
    assert_clean(at)
    assert any(e.startswith("The signing secret did not match, so nothing was signed.") for e in texts(at, "error")), (
        texts(at, "error")
    )
    assert gate_http.get(url("v3", "/approvals"), headers=gate_world.headers("reviewer")).json() == []
    fill_signature(at, SECRET)
    assert_clean(at)
    assert "Signed street@v3 (approval)." in texts(at, "success")
    (row,) = table_with(at, "printed name")
    assert (row["printed name"], row["role"], row["meaning"]) == (
        "Compliance Officer User",
        "compliance_officer",
        "approval",
    )
    served = gate_http.get(url("v3", "/approvals"), headers=gate_world.headers("reviewer")).json()
    assert [(a["printed_name"], a["meaning"]) for a in served] == [("Compliance Officer User", "approval")]
    full = served[0]["signature_hash"]
    assert row["signature hash"] == f"{full[:4]}…{full[-4:]}"
    # A second approval would be refused (409): no sign form, the reason is shown instead.
    assert "Sign and approve" not in labels(at) and "Sign" not in labels(at)
    assert any("You may not approve street@v3: you already signed this version" in c for c in texts(at, "caption"))


def test_four_eyes_refusal_is_shown_instead_of_the_approval(
    gate_http: TestClient, gate_world: World, engine: Engine
) -> None:
    with Session(engine) as s:  # alice labelled v3; made a compliance officer, she still may not approve it
        alice = s.exec(select(User).where(User.username == "alice")).one()
        admin = actor_for(gate_world.admin)
        identity.add_member(s, actor=admin, project=gate_world.project, user=alice, role=Role.compliance_officer)
        identity.set_signing_secret(s, actor=admin, user=alice, secret=SECRET, operator=True)
        token = identity.issue_token(s, actor=None, user=alice, name="t").token
        s.commit()
    at = version_page(gate_http, token, "v3")
    assert "Sign and approve" not in labels(at)
    assert any(
        c.startswith(":material/lock: You may not approve street@v3: four-eyes: you authored labels")
        for c in texts(at, "caption")
    ), texts(at, "caption")
    assert not at.radio  # no form: her approval could not count
    r = gate_http.post(url("v3", "/approvals"), json={"meaning": "approval", "signing_secret": SECRET},
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert r.status_code == 403 and r.json()["error"]["message"].startswith("four-eyes: you authored labels")
    assert "No signatures yet." in texts(at, "caption")


def test_a_blocked_version_shows_why_it_cannot_be_signed_and_the_api_refuses(
    gate_http: TestClient, gate_world: World
) -> None:
    """street@v2's latest evaluation blocked it: no sign form, the reason instead; a direct POST gets 409."""
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v2")
    assert "Sign and approve" not in labels(at) and "Sign" not in labels(at)
    assert "Reject version" in labels(at)  # rejecting stays open
    (shown,) = [c for c in texts(at, "caption") if "Signing is not open to you now" in c]
    assert "the latest gate evaluation of street@v2 (#1) is blocked" in shown, shown
    r = gate_http.post(url("v2", "/approvals"), json={"meaning": "approval", "signing_secret": SECRET},
                       headers=gate_world.headers("compliance_officer"))  # fmt: skip
    assert r.status_code == 409 and "the latest gate evaluation of street@v2 (#1) is blocked" in r.text
    assert gate_http.get(url("v2", "/approvals"), headers=gate_world.headers("reviewer")).json() == []


def test_reject_needs_a_reason_and_records_it(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["reviewer"], "v2")
    button(at, "Reject version").click()  # type: ignore[attr-defined]
    at.run()
    assert "A rejection needs a reason." in texts(at, "error")
    at.text_area(key="reject_reason").input("recall 0.45 is far below 0.85")
    button(at, "Reject version").click()  # type: ignore[attr-defined]
    at.run()
    assert_clean(at)
    assert "Rejected street@v2." in texts(at, "success")
    assert any("state **rejected**" in m for m in texts(at, "markdown"))
    assert "Reject version" not in labels(at) and any("this one is rejected" in c for c in texts(at, "caption"))
    events = gate_http.get(
        f"/api/v1/projects/{ALPHA}/audit/events", params={"action": "dataset_version.state", "limit": 500},
        headers=gate_world.headers("compliance_officer"),
    ).json()["items"]  # fmt: skip
    assert events[-1]["actor"] == "reviewer_user" and events[-1]["payload"]["reason"] == "recall 0.45 is far below 0.85"


# ---- reports -----------------------------------------------------------------------------------------------


def reports_page(http: httpx.Client, token: str, version: str) -> AppTest:
    at = open_page(signed_in(http, token), "reports")
    at.selectbox(key=f"rep_v_dataset_{ALPHA}").set_value("street").run()
    at.selectbox(key=f"rep_v_version_{ALPHA}_street").set_value(version).run()
    assert_clean(at)
    return at


def offered(at: AppTest) -> set[str]:
    return {b.label for b in at.get("download_button")}  # type: ignore[attr-defined]


def test_before_a_release_there_is_no_bundle_but_the_reports_are_offered(
    gate_http: TestClient, gate_world: World, downloads: dict[str, Callable[[], Any]]
) -> None:
    at = reports_page(gate_http, gate_world.tokens["ci"], "v2")
    assert offered(at) == {
        "Data governance (EU AI Act Art. 10, HTML)",
        "Gate report (JSON)",
        "Gate report (text)",
        "Gate report (JUnit XML)",
    }  # ci reads version reports but not the audit trail
    assert any(
        c.startswith("The signed evidence bundle exists once the version is released") for c in texts(at, "caption")
    )
    junit = downloads["street-v2-gate-report.junit.xml"]().decode()
    assert "<testsuite" in junit and "<failure" in junit and "golden_set_error" in junit


def test_after_a_release_the_reports_page_downloads_governance_html_and_the_bundle(
    gate_http: TestClient, gate_world: World, settings: Settings, downloads: dict[str, Callable[[], Any]]
) -> None:
    release(gate_http, gate_world, "v3")
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    assert any("state **released**" in m for m in texts(at, "markdown"))
    assert "Sign and approve" not in labels(at) and any("this one is released" in c for c in texts(at, "caption"))
    assert [r["printed name"] for r in table_with(at, "printed name")] == ["Compliance Officer User"]

    at = reports_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    assert {"Evidence bundle (signed, JSON)", "Data governance (EU AI Act Art. 10, HTML)"} <= offered(at)
    assert {"Audit trail (JSON Lines)", "Audit trail (CSV)", "Chain verification (JSON)"} <= offered(at)
    bundle = json.loads(downloads["street-v3-evidence.json"]())
    assert settings.signing_key_path is not None
    check = verify_bundle(bundle, public_key=load_public_key(settings.signing_key_path.with_suffix(".pub.pem")))
    assert check.ok, check.problems
    assert bundle["content"]["evaluation"]["passed"] is True
    html = downloads["street-v3-governance.html"]().decode()
    for needle in ("10(2)(a)", "10(2)(h)", "Compliance Officer User", "alice"):
        assert needle in html, needle
    report = json.loads(downloads["street-v3-gate-report.json"]())
    assert report["passed"] is True and [g["name"] for g in report["gates"]] == DEFAULT_GATES

    trail = downloads["alpha-audit-trail.html"]().decode()
    assert "release.create" in trail and "signature.sign" in trail
    at.date_input(key="rep_since").set_value(date.today() + timedelta(days=2)).run()
    later = downloads["alpha-audit-trail.html"]().decode()
    assert "release.create" not in later and "signature.sign" not in later  # the range reached the server


# ---- auto-label runs, review queue, overview ----------------------------------------------------------------


def test_autolabel_page_lists_the_runs_and_the_review_queue(
    gate_http: TestClient, gate_world: World, engine: Engine
) -> None:
    at = open_page(signed_in(gate_http, gate_world.tokens["ml_engineer"]), "autolabel")
    assert_clean(at)
    assert at.metric[0].value == "0" and "Nothing waits for review in this project." in texts(at, "caption")
    runs = table_with(at, "run")
    assert [(r["version"], r["model"], r["state"], r["items"], r["progress"]) for r in runs] == [
        ("street@v3", "street-detector@2", "succeeded", "20/20", 1.0),
        ("street@v2", "street-detector@1", "succeeded", "20/20", 1.0),
    ]
    with Session(engine) as s:  # one open entry in the queue
        v3 = s.exec(select(DatasetVersion).where(DatasetVersion.version == "v3")).one()
        item = s.exec(select(Item).where(Item.dataset_version_id == v3.id).order_by(Item.id)).first()  # type: ignore[arg-type]
        assert item is not None
        s.add(ReviewQueueItem(dataset_version_id=v3.id or 0, item_id=item.id or 0, reason="low_confidence"))
        s.commit()
        uri = item.uri
    at = open_page(signed_in(gate_http, gate_world.tokens["reviewer"]), "autolabel")
    assert_clean(at)
    assert at.metric[0].value == "1"
    (entry,) = table_with(at, "entry")
    assert (entry["version"], entry["image"], entry["reason"]) == ("street@v3", uri, "low_confidence")
    assert "The runs are listed for ML engineers and admins." in texts(at, "caption")  # reviewers see the queue only


def test_overview_lists_the_latest_verdicts_newest_first(gate_http: TestClient, gate_world: World) -> None:
    at = signed_in(gate_http, gate_world.tokens["compliance_officer"])
    verdicts = table_with(at, "verdict")
    assert [(v["version"], v["verdict"]) for v in verdicts] == [("street@v3", "PASS"), ("street@v2", "BLOCK")]
    assert verdicts[1]["blocking"] == "golden_set_error, precision, recall, map"


@pytest.mark.parametrize("role", ["admin", "compliance_officer", "ml_engineer", "reviewer", "annotator", "ci"])
def test_every_offered_page_renders_on_the_gate_scenario(gate_http: TestClient, gate_world: World, role: str) -> None:
    at = signed_in(gate_http, gate_world.tokens[role])
    offered_pages = at.session_state["lg_viewer"].pages()
    assert ("autolabel" in offered_pages) is (role in {"admin", "ml_engineer", "reviewer"})
    assert ("reports" in offered_pages) is (role != "annotator")
    for page in offered_pages:
        open_page(at, page)
        assert_clean(at)
        shown = texts(at, "info") + texts(at, "warning") + texts(at, "error")
        assert not shown, (page, shown)


def test_a_server_without_a_route_shows_not_available(gate_http: TestClient, gate_world: World) -> None:
    """An older server (no evaluations route) gets "not available yet", not an error."""

    def handle(request: httpx.Request) -> httpx.Response:
        if re.search(r"/(evaluations|evidence)$", request.url.path):
            return httpx.Response(404, json={"error": {"status": 404, "message": "Not Found", "field": None}})
        r = gate_http.request(request.method, request.url.path, params=request.url.params, headers=request.headers,
                              content=request.content)  # fmt: skip
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)

    with httpx.Client(transport=httpx.MockTransport(handle), base_url="http://testserver") as older:
        at = version_page(older, gate_world.tokens["compliance_officer"], "v3")
        assert "**Gate results**: not available yet on this server." in texts(at, "info")
        at = open_page(at, "overview")
        assert "**Gate verdicts**: not available yet on this server." in texts(at, "info")
