"""Pure shaping: table rows, audit payload changes, exports, lineage graphs (hand-written inputs, exact outputs)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx

from dashboard import export, graphs, tables
from dashboard.client import Api, AuditQuery

EVENT = {
    "seq": 3,
    "ts": "2026-11-22T10:00:00Z",
    "actor": "alice",
    "action": "dataset_version.state",
    "object_type": "dataset_version",
    "object_id": "9",
    "project_id": 1,
    "request_id": None,
    "payload": {"to": "released", "from": "candidate", "note": 'ünïcode, "quoted"'},
    "prev_hash": "a" * 64,
    "hash": "b" * 64,
}


def test_event_rows() -> None:
    assert tables.event_rows([EVENT]) == [
        {"seq": 3, "time": "2026-11-22T10:00:00Z", "actor": "alice", "action": "dataset_version.state",
         "object": "dataset_version:9", "project": 1, "request_id": None}
    ]  # fmt: skip
    assert tables.event_rows([]) == []


def test_payload_changes_recognise_pairs_at_top_level_and_one_level_down() -> None:
    assert tables.payload_changes({"from": "draft", "to": "candidate"}) == [
        {"field": "value", "old": "draft", "new": "candidate"}
    ]
    assert tables.payload_changes({"field": "state", "old": 1, "new": 2}) == [{"field": "state", "old": 1, "new": 2}]
    nested = {"category": {"old": "cat", "new": "dog"}, "box": {"before": [1], "after": [2]}, "x": {"old": 1}}
    assert tables.payload_changes(nested) == [
        {"field": "category", "old": "cat", "new": "dog"},
        {"field": "box", "old": [1], "new": [2]},
    ]
    assert tables.payload_changes({"name": "train", "to": "only one side"}) == []
    assert tables.payload_changes({}) == []


def test_schema_diff_rows() -> None:
    diff = {"added": ["bird"], "removed": ["fish"], "renamed": [{"from": "kitty", "to": "cat"}],
            "redefined": [{"name": "dog", "fields": ["description", "attributes"]}], "reordered": True}  # fmt: skip
    assert tables.schema_diff_rows(diff) == [
        {"change": "added", "class": "bird", "detail": ""},
        {"change": "removed", "class": "fish", "detail": ""},
        {"change": "renamed", "class": "kitty → cat", "detail": ""},
        {"change": "redefined", "class": "dog", "detail": "description, attributes"},
        {"change": "reordered", "class": "(order of kept classes)", "detail": "YOLO indices change"},
    ]
    assert tables.schema_diff_rows(None) == [] and tables.schema_diff_rows({"added": []}) == []


def test_state_counts_keep_every_state_in_order() -> None:
    versions = [{"state": "released"}, {"state": "draft"}, {"state": "released"}, {"state": "odd"}]
    assert tables.state_counts(versions) == {
        "draft": 1, "candidate": 0, "released": 2, "rejected": 0, "deprecated": 0, "odd": 1,
    }  # fmt: skip
    assert sum(tables.state_counts([]).values()) == 0


def test_gate_and_run_rows() -> None:
    gates = [
        {"name": "recall", "value": 0.8512, "threshold": 0.85, "op": ">=", "passed": True, "explanation": "ok"},
        {"name": "alpha", "value": None, "threshold": 0.8, "op": ">=", "passed": False, "explanation": "nan"},
    ]
    assert tables.gate_rows(gates) == [
        {"gate": "recall", "verdict": "PASS", "value": "0.8512", "bound": ">= 0.85", "explanation": "ok"},
        {"gate": "alpha", "verdict": "BLOCK", "value": "n/a", "bound": ">= 0.8", "explanation": "nan"},
    ]
    run = {"id": 1, "dataset_version_id": 4, "model_version_id": 2, "state": "queued", "items_total": 0,
           "items_done": 0, "threshold": 0.3, "class_thresholds": {"cat": 0.45, "dog": None}}  # fmt: skip
    (row,) = tables.run_rows([run], versions={4: "street@v3"}, models={2: "det@2"})
    assert (row["version"], row["model"], row["class thresholds"]) == ("street@v3", "det@2", "cat: 0.45")
    assert row["progress"] == 0.0 and row["items"] == "0/0" and row["error"] == ""
    (row,) = tables.run_rows([{"id": 2, "dataset_version_id": 9, "model_version_id": 1, "items_total": 8,
                               "items_done": 2}])  # fmt: skip
    assert row["progress"] == 0.25 and (row["version"], row["model"]) == ("#9", "#1")  # ids without a name


def test_evaluation_approval_queue_and_expectation_rows() -> None:
    evaluation = {"id": 3, "passed": False, "policy_name": "default", "policy_hash": "ab" * 32, "dataset": "street",
                  "version": "v2", "created_at": "2026-11-26T05:00:00Z",
                  "gates": [{"name": "recall", "passed": False}, {"name": "map", "passed": True},
                            {"name": "precision", "passed": False}]}  # fmt: skip
    assert tables.evaluation_rows([evaluation]) == [
        {"evaluation": 3, "version": "street@v2", "verdict": "BLOCK", "policy": "default (abababababab)",
         "blocking": "recall, precision", "at": "2026-11-26T05:00:00Z"}
    ]  # fmt: skip
    assert "version" not in tables.evaluation_rows([{**evaluation, "dataset": None}])[0]
    # A blocking re-check of a released version says what it is, beside the release's own evidence.
    recheck = tables.evaluation_rows([{**evaluation, "purpose": "recheck"}])[0]
    assert (recheck["verdict"], recheck["purpose"]) == ("BLOCK", "re-check after release")
    assert list(recheck)[:4] == ["evaluation", "version", "verdict", "purpose"]
    approval = {"id": 1, "printed_name": "Ada L", "role": "reviewer", "meaning": "review", "signed_at": "t",
                "content_hash": "c" * 64, "signature_hash": "d" * 64}  # fmt: skip
    assert tables.approval_rows([approval]) == [
        {"printed name": "Ada L", "role": "reviewer", "meaning": "review", "signed at (UTC)": "t",
         "content hash": "c" * 16, "signature hash": "d" * 16}
    ]  # fmt: skip
    scores = [{"confidence": 0.41}, {"confidence": 0.33}, {"confidence": None}]
    entry = {"id": 5, "dataset_version_id": 4, "uri": "img/1.png", "reason": "low_confidence", "autolabel_run_id": 2,
             "created_at": "t", "labels": scores}  # fmt: skip
    assert tables.queue_rows([entry], versions={4: "street@v3"}) == [
        {"entry": 5, "version": "street@v3", "image": "img/1.png", "reason": "low_confidence", "run": 2,
         "labels": 3, "lowest confidence": 0.33, "queued at": "t"}
    ]  # fmt: skip
    assert tables.queue_rows([{**entry, "labels": []}])[0]["lowest confidence"] is None
    outcomes = [
        {"name": "a", "expectation": "x", "column": "c", "success": True, "element_count": 3, "unexpected_count": 0},
        {"name": "b", "expectation": "y", "column": "d", "success": False, "element_count": 3, "unexpected_count": 2},
    ]
    assert [(r["expectation"], r["verdict"]) for r in tables.expectation_rows(outcomes)] == [("b", "FAIL"), ("a", "ok")]


# ---- exports -------------------------------------------------------------------------------------------------


def test_csv_export_has_a_header_and_payload_as_json() -> None:
    data = export.events_csv([EVENT]).decode()
    rows = list(csv.DictReader(io.StringIO(data)))
    assert list(rows[0]) == list(export.EVENT_COLUMNS)
    assert rows[0]["seq"] == "3" and rows[0]["request_id"] == ""
    assert json.loads(rows[0]["payload"]) == EVENT["payload"]
    assert export.events_csv([]).decode() == ",".join(export.EVENT_COLUMNS) + "\n"


def test_jsonl_export_round_trips_every_event_unchanged() -> None:
    other = {**EVENT, "seq": 4, "payload": {}}
    lines = export.events_jsonl([EVENT, other]).decode().splitlines()
    assert [json.loads(line) for line in lines] == [EVENT, other]
    assert export.events_jsonl([]) == b""


def test_fetch_all_events_pages_through_the_api() -> None:
    total = 1234
    asked: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        offset, limit = int(params["offset"]), int(params["limit"])
        items = [{"seq": s} for s in range(offset + 1, min(total, offset + limit) + 1)]
        return httpx.Response(200, json={"items": items, "total": total, "offset": offset, "limit": limit})

    api = Api(httpx.Client(transport=httpx.MockTransport(handle), base_url="http://api"), "t")
    events = export.fetch_all_events(api, AuditQuery(actor="alice"), project_id=2)
    assert [e["seq"] for e in events] == list(range(1, total + 1))
    assert [(a["offset"], a["limit"]) for a in asked] == [("0", "500"), ("500", "500"), ("1000", "500")]
    assert all(a["actor"] == "alice" for a in asked)
    assert len(export.fetch_all_events(api, AuditQuery(), cap=600)) == 600


# ---- lineage graphs -------------------------------------------------------------------------------------------


def test_quote_escapes_dot_strings() -> None:
    assert graphs.quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'


ANCESTRY: list[dict[str, Any]] = [
    {"version": "train@v3", "state": "candidate", "git_revision": "c" * 40, "dvc_hash": "x.dir",
     "schema": {"name": "animals", "version": 2}, "schema_changed": True},
    {"version": "train@v2", "state": "released", "schema": {"name": "animals", "version": 1}, "schema_changed": False},
    {"version": "train@v1", "state": "deprecated", "schema": None, "schema_changed": False},
]  # fmt: skip


def test_ancestry_dot_runs_oldest_to_newest_and_marks_schema_changes() -> None:
    dot = graphs.ancestry_dot(ANCESTRY)
    assert dot.index("train@v1") < dot.index("train@v2") < dot.index("train@v3")
    assert "  v0 -> v1;" in dot
    assert '  v1 -> v2 [label="schema changed"' in dot
    assert "schema animals v2" in dot and "no schema" in dot and 'fillcolor="#c8e6c9"' in dot
    assert graphs.ancestry_dot([]).count("->") == 0


def test_annotation_dot_links_corrections_and_copies() -> None:
    lineage = {
        "annotation_id": 7,
        "history": [
            {"id": 3, "version": "t@v1", "category": "kitty", "kind": "model",
             "provenance": {"confidence": 0.4, "threshold": 0.3}, "supersedes_id": None, "origin_id": None,
             "reviews": [{"decision": "correct", "reviewer": "rita"}]},
            {"id": 5, "version": "t@v2", "category": "kitty", "kind": "model", "provenance": {},
             "supersedes_id": None, "origin_id": 3},
            {"id": 7, "version": "t@v2", "category": "cat", "kind": "human", "provenance": {},
             "supersedes_id": 5, "origin_id": None},
        ],
        "superseded_by": [],
    }  # fmt: skip
    dot = graphs.annotation_dot(lineage)
    assert '  a3 -> a5 [label="copied", style=dashed];' in dot
    assert '  a5 -> a7 [label="corrected"];' in dot
    assert "review: correct by rita" in dot and "conf 0.4 ≥ thr 0.3" in dot
    assert "penwidth=3" in dot.split("a7 [")[1].split("\n")[0]
    assert graphs.annotation_dot({}).count("->") == 0
