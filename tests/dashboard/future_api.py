"""Canned answers for the routes the dashboard expects but the server does not serve yet.

Shapes follow ``dashboard.client``'s docstrings (and ``lineage.lineage_query`` / ``quality_gates.verdict``).
Requests to any other path go to the real app. Delete a route here once the server has it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from dashboard.client import ENDPOINTS

P = r"/api/v1/projects/(?P<pid>\d+)"
V = P + r"/datasets/(?P<dataset>[^/]+)/versions/(?P<version>[^/]+)"

#: (method, dashboard.client endpoint name) this module answers; listed in the OpenAPI document it serves.
FUTURE_ENDPOINTS = [
    ("GET", "version_evaluations"), ("GET", "approvals"), ("POST", "approvals"), ("GET", "evidence_bundle"),
    ("GET", "report"), ("GET", "project_evaluations"), ("GET", "autolabel_runs"), ("GET", "review_queue"),
]  # fmt: skip

EVALUATION = {
    "id": 11,
    "passed": False,
    "policy_name": "default",
    "policy_hash": "ab" * 32,
    "created_at": "2026-11-21T09:00:00Z",
    "gates": [
        {"name": "precision", "metric": "precision", "value": 0.93, "threshold": 0.9, "op": ">=", "passed": True,
         "explanation": "precision 0.93 vs min 0.9", "evidence": {"threshold": 0.5, "per_class": {"cat": 0.95}}},
        {"name": "golden_set_error", "metric": "golden_error", "value": 0.031, "threshold": 0.02, "op": "<=",
         "passed": False, "explanation": "golden-set error 3.1% vs max 2%; worst source annotator_user",
         "evidence": {"per_source": {
             "annotator_user": {"error": 0.05, "tp": 40, "fp": 2, "fn": 2, "wilson": [0.02, 0.11],
                                "clopper_pearson": [0.015, 0.12]},
             "model:yolo-1": {"error": 0.01, "tp": 90, "fp": 1, "fn": 1, "wilson": [0.003, 0.04],
                              "clopper_pearson": [0.001, 0.05]}}}},
        {"name": "krippendorff_alpha", "metric": "krippendorff_alpha", "value": 0.84, "threshold": 0.8, "op": ">=",
         "passed": True, "explanation": "alpha 0.84", "evidence": {"per_class": {"cat": 0.9, "dog": 0.78}}},
        {"name": "class_drift_psi", "metric": "psi", "value": 0.05, "threshold": 0.2, "op": "<=", "passed": True,
         "explanation": "PSI 0.05", "evidence": {"current": {"cat": 0.6, "dog": 0.4},
                                                 "parent": {"cat": 0.55, "dog": 0.45}}},
    ],
    "metrics": {"precision": 0.93, "recall": 0.88, "threshold": 0.5},
    "evidence": {
        "pr_curves": {
            "cat": {"precision": [1.0, 0.95, 0.8], "recall": [0.3, 0.7, 0.9], "thresholds": [0.9, 0.5, 0.2]},
            "dog": {"precision": [1.0, 0.9], "recall": [0.4, 0.8], "thresholds": [0.8, 0.3]},
        },
        "confusion_matrix": {"labels": ["cat", "dog", "background"], "matrix": [[40, 2, 3], [1, 30, 4], [2, 1, 0]]},
    },
}  # fmt: skip

RUNS = [
    {"id": 5, "version": "train@v2", "model": "yolo:1", "threshold": 0.3, "review_band_low": 0.1, "nms_iou": 0.7,
     "device": "cpu", "batch_size": 16, "state": "running", "items_total": 200, "items_done": 50,
     "images_per_s": 12.5, "error": None, "created_at": "2026-11-21T08:00:00Z"},
]  # fmt: skip


def _routes(state: dict[str, Any]) -> list[tuple[str, str, Callable[..., Any]]]:
    return [
        ("GET", V + r"/evaluations", lambda **_: [EVALUATION]),
        ("GET", V + r"/approvals", lambda **_: state["approvals"]),
        ("POST", V + r"/approvals", lambda body, **_: _approve(state, body)),
        ("GET", V + r"/bundle", lambda **_: b"PK\x05\x06" + b"\0" * 18),
        ("GET", V + r"/reports/(?P<kind>[^/]+)", lambda kind, **_: f"report {kind}".encode()),
        ("GET", P + r"/evaluations", lambda **_: [{"id": 11, "version": "train@v2", "passed": False,
                                                   "policy_name": "default", "created_at": "2026-11-21T09:00:00Z"}]),
        ("GET", P + r"/autolabel/runs", lambda **_: RUNS),
        ("GET", P + r"/review-queue", lambda **_: {"items": [], "total": 17, "offset": 0, "limit": 1}),
    ]  # fmt: skip


def _approve(state: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    approval = {"printed_name": "Signer", "role": "compliance_officer", "meaning": body["meaning"],
                "signed_at": "2026-11-22T10:00:00Z", "content_hash": "cd" * 32}  # fmt: skip
    state["approvals"].append(approval)
    state["approve_bodies"].append(body)
    return approval


def handler(real: httpx.Client, state: dict[str, Any] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    """A MockTransport handler: canned future routes first (after the real app has authenticated the
    caller through ``/me``), the real app for everything else. ``state`` records approvals and rejections."""
    routes = _routes(state if state is not None else {"approvals": [], "approve_bodies": []})

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/openapi.json":
            spec = real.get(path).json()
            for method, name in FUTURE_ENDPOINTS:
                spec["paths"].setdefault(ENDPOINTS[name], {})[method.lower()] = {}
            return httpx.Response(200, json=spec)
        for method, pattern, answer in routes:
            m = re.fullmatch(pattern, path)
            if m and request.method == method:
                auth = real.get("/api/v1/me", headers={"Authorization": request.headers.get("authorization", "")})
                if auth.status_code != 200:
                    return httpx.Response(auth.status_code, content=auth.content, headers=auth.headers)
                body = json.loads(request.content) if request.content else None
                result = answer(body=body, **m.groupdict())
                if isinstance(result, bytes):
                    return httpx.Response(200, content=result)
                return httpx.Response(200, json=result)
        r = real.request(request.method, path, params=request.url.params, headers=request.headers,
                         content=request.content)  # fmt: skip
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)

    return handle
