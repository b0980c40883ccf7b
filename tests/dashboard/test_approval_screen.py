"""The approval screen on the real gate scenario: it opens on the newest non-golden candidate, names the release
rule and the authors four-eyes excludes (``GET .../signoff``), offers the sign form only when the signature can
count (else one line why not), never offers to reject a golden set, and answers a wrong or missing signing
secret in the page (what to do here, not a command line), where a first secret can be set with an enrolment
code.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import all_text, assert_clean, button, labels, open_page, signed_in, texts
from tests.dashboard.test_gate_pages import ALPHA, fill_signature, url, version_page
from tests.factories import World


def four_eyes_line(at: AppTest) -> str:
    (line,) = [m for m in texts(at, "markdown") if "**Four-eyes**" in m]
    return line


def test_the_page_opens_on_the_newest_non_golden_candidate(gate_http: TestClient, gate_world: World) -> None:
    at = open_page(signed_in(gate_http, gate_world.tokens["compliance_officer"]), "dataset_version")
    assert_clean(at)
    assert at.selectbox(key=f"dv_dataset_{ALPHA}").options[0] == "golden"  # listed first, yet not opened
    assert texts(at, "header") == ["street@v3"]
    assert "What changed since the last release, and who changed it" in texts(at, "subheader")


def test_signoff_names_the_authors_four_eyes_excludes(gate_http: TestClient, gate_world: World) -> None:
    body = gate_http.get(url("v3", "/signoff"), headers=gate_world.headers("reviewer")).json()
    assert body["four_eyes"] is True and body["approvals_needed"] == 1 and body["approvals_counting"] == 0
    assert {u["username"] for u in body["excluded"]} == {"alice", "bob", "carol", "ml_engineer_user"}
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    line = four_eyes_line(at)
    for name in ("Alice (alice)", "Bob (bob)", "Carol (carol)", "Ml Engineer User (ml\\_engineer\\_user)"):
        assert name in line, line
    assert "Compliance Officer" not in line
    assert any(m.startswith("**Release rule**: 1 approval(s) by a compliance officer or reviewer; 0 counting now")
               for m in texts(at, "markdown"))  # fmt: skip


def test_a_permitted_signer_sees_the_form_and_an_excluded_author_one_line_why_not(
    gate_http: TestClient, gate_world: World
) -> None:
    officer = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    assert "Sign and approve" in labels(officer)
    assert any(":green-badge[" in m and "PASSED" in m for m in texts(officer, "markdown"))  # the verdict
    ml = version_page(gate_http, gate_world.tokens["ml_engineer"], "v3")  # an author, and not an approver role
    assert "Sign and approve" not in labels(ml) and not ml.radio
    (why,) = [c for c in texts(ml, "caption") if c.startswith(":material/lock:")]
    assert why.startswith(":material/lock: You may not approve street@v3: approval needs one of the roles")


def test_no_sign_form_on_a_blocked_version(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v2")
    assert "Sign and approve" not in labels(at)
    assert any("Signing is not open to you now" in c and "is blocked" in c for c in texts(at, "caption"))


def test_a_wrong_secret_says_what_to_do_in_the_dashboard(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    fill_signature(at, "not the secret")
    assert_clean(at)
    (error,) = texts(at, "error")
    assert error.startswith("The signing secret did not match, so nothing was signed.")
    assert "enrolment code" in error and "labelgate" not in error and "set-secret" not in error
    assert gate_http.get(url("v3", "/approvals"), headers=gate_world.headers("reviewer")).json() == []


def test_a_golden_set_has_no_reject_form(gate_http: TestClient, gate_world: World) -> None:
    at = open_page(signed_in(gate_http, gate_world.tokens["compliance_officer"]), "dataset_version")
    at.selectbox(key=f"dv_dataset_{ALPHA}").set_value("golden").run()
    assert_clean(at)
    assert texts(at, "header") == ["golden@g1"] and any("state **draft**" in m for m in texts(at, "markdown"))
    assert "Reject version" not in labels(at)
    assert any("golden@g1 is a golden set" in c for c in texts(at, "caption"))
    street = version_page(gate_http, gate_world.tokens["compliance_officer"], "v2")
    assert "Reject version" in labels(street)  # a plain candidate keeps its reject form


def test_a_signer_without_a_secret_sets_one_with_an_enrolment_code_and_signs(
    gate_http: TestClient, gate_world: World
) -> None:
    at = version_page(gate_http, gate_world.tokens["reviewer"], "v3")
    assert "Sign and approve" not in labels(at)
    assert any("you have no signing secret yet" in c for c in texts(at, "caption"))
    reviewer = gate_world.users["reviewer"].id
    r = gate_http.post(f"/api/v1/users/{reviewer}/signing-enrolment", json={}, headers=gate_world.headers("admin"))
    assert r.status_code == 201, r.text
    at.text_input(key="secret_code").input(r.json()["enrolment_code"])
    at.text_input(key="secret_new").input("reviewer secret 1")
    at.text_input(key="secret_again").input("reviewer secret 1")
    button(at, "Save signing secret").click()  # type: ignore[attr-defined]
    at.run()
    assert_clean(at)
    assert "Signing secret saved: use it to sign." in texts(at, "success"), all_text(at)
    at.run()
    assert "Sign and approve" in labels(at)
    fill_signature(at, "reviewer secret 1")
    assert_clean(at)
    assert "Signed street@v3 (approval)." in texts(at, "success")
