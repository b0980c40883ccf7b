"""A server that holds a team's load (issue 16): ``--clients`` concurrent clients against a real uvicorn with two
worker processes on PostgreSQL for ``--seconds``, then an account of every write and the audit chain verified.

What it builds, through the project's own functions: the seeded scale workspace of ``bench/scale_workspace.py``
(a project ``scale`` with an ML engineer, a reviewer, a compliance officer and three annotators; dataset
version ``scale@v1`` of ``--images`` images and ``--labels-per-image`` imported boxes each; a golden set
``scale-golden@1`` labelled by the annotators; a simulated detector's labels, part of them reviewed; gate
policy ``scale@1``), plus a ``ci`` member, ``--history`` earlier small COCO deliveries into ``scale@v1`` (two
audit events each) and one API token per client and role (``lineage.identity.issue_token``).

Then ``--clients`` clients (asyncio + ``httpx.AsyncClient``), each with its own tokens, each using the token of
a role the request fits, send requests one after another for ``--seconds``, each drawn from this mix:

==================  ======  ============================================================  ====================
kind                weight  request                                                       role
==================  ======  ============================================================  ====================
audit_page          18      ``GET /projects/{p}/audit/events?limit=50&cursor=`` (follows    officer, ML, reviewer
                            its own ``next_cursor``; starts over at the end)
audit_filtered      6       the same with ``action=`` / ``object=scale@v1`` / ``actor=``,   officer, ML, reviewer,
                            or the workspace's ``GET /audit/events`` (admin)                admin
lineage_version     4       ``GET …/versions/v1/lineage``                                  any role
lineage_annotation  10      ``GET /projects/{p}/annotations/{id}/lineage``                 any role
lineage_item        10      ``GET /projects/{p}/items/{id}/lineage``                       any role
evaluations_list    8       ``GET …/versions/v1/evaluations`` or ``GET /projects/{p}/``    any role
                            ``evaluations``
evaluation_get      6       ``GET /projects/{p}/evaluations/{id}``                         any role
import              16      ``POST …/versions/v1/imports`` a small COCO file (a fresh one;  ML engineer
                            1 in 10 a file this client imported before, 1 in 10 one of 8
                            files every client races for)
review              16      ``POST /projects/{p}/annotations/{id}/reviews`` accept (70%)   reviewer
                            or reject a model label (clients pick from one shared pool,
                            so two may act on the same label)
evaluate            6       ``POST …/versions/v1/evaluations`` with policy ``scale@1``     ML, officer, ci
==================  ======  ============================================================  ====================

(``--mix evaluate=0,import=30`` changes the weights.) Every response's status, latency and ``X-Request-ID`` is
kept. After the run, while the server still serves: ``GET /audit/verify?deep=true`` (the chain, every column,
every signed checkpoint, every append-only row), and
an account of every write from the database: each import's source SHA-256 (``label_imports`` rows, its
``annotation.import`` events, its labels), each review's unique comment (``reviews`` rows, ``annotation.review``
events), each evaluation's request id (``gate.evaluate`` events), and every event the run appended by its
request id. A write the client got a 2xx for must be on the record exactly once; one it got a 4xx for, not
at all; one whose answer never came (a transport error), at most once; an event no client request explains
is reported.

    python bench/bench_load.py --clients 50 --seconds 60 --json /tmp/load.json
    python bench/bench_load.py --mix evaluate=0                         # the same without gate checks
    python bench/bench_load.py --clients 5 --seconds 5 --images 200 --golden 40 --history 50   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

__all__ = [
    "KINDS",
    "LoadRun",
    "LoadSpec",
    "Seeded",
    "account_writes",
    "build_load_workspace",
    "drop_load_workspace",
    "exceptions_logged",
    "report",
    "run_bench",
    "run_load",
    "serve_and_load",
    "summarise",
]

PG_URL = os.environ.get("LABELGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
API = "/api/v1"
PROJECT = "scale"
DATASET, VERSION = "scale", "v1"
POLICY = "scale@1"
ROLES = ("ml", "reviewer", "officer", "ci", "annotator", "admin")
#: (weight, roles that may send it) per kind of request
KINDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "audit_page": (18, ("officer", "ml", "reviewer")),
    "audit_filtered": (6, ("officer", "ml", "reviewer", "admin")),
    "lineage_version": (4, ROLES),
    "lineage_annotation": (10, ROLES),
    "lineage_item": (10, ROLES),
    "evaluations_list": (8, ROLES),
    "evaluation_get": (6, ROLES),
    "import": (16, ("ml",)),
    "review": (16, ("reviewer",)),
    "evaluate": (6, ("ml", "officer", "ci")),
}
WRITES = ("import", "review", "evaluate")
RACED_FILES = 8  # import files every client races for
ANNOTATORS = ("ann_alice", "ann_bob", "ann_carol")


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """The run's size. ``clients`` (50) for ``seconds`` (60); the workspace: ``images`` (3,000) in ``scale@v1``
    with ``labels_per_image`` (3) imported boxes, ``golden`` (300) golden images labelled by three annotators
    and a simulated detector, ``history`` (1,500) earlier deliveries (two events each); ``boxes_per_import`` (5)
    boxes in each file a client imports; ``seed`` (0)."""

    clients: int = 50
    seconds: float = 60.0
    images: int = 3000
    labels_per_image: int = 3
    golden: int = 300
    history: int = 1500
    boxes_per_import: int = 5
    seed: int = 0
    #: kind -> weight, overriding ``KINDS``' weights (a kind left out keeps its own; 0 sends none)
    mix: tuple[tuple[str, int], ...] = ()

    def weights(self) -> dict[str, int]:
        """The weight of every kind in this run."""
        chosen = dict(self.mix)
        return {kind: chosen.get(kind, weight) for kind, (weight, _) in KINDS.items()}


@dataclass
class Seeded:
    """What the clients need, and where the workspace lies."""

    out: Path
    database_url: str
    pg_schema: str | None
    workspace: Path
    project_id: int
    version_id: int
    tokens: list[dict[str, str]]  # per client: role -> token
    review_pool: list[int]  # model labels of scale@v1 nobody reviewed yet
    annotation_ids: list[int]
    item_files: list[str]  # file names of scale@v1's items (for import files)
    item_ids: list[int]
    classes: list[str]
    events_before: int
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Sample:
    """One request: its kind, status (0: no answer, ``error`` says why), seconds, the server's request id, the
    write's marker (import: source SHA-256; review: comment; evaluate: request id) and the error's cause."""

    kind: str
    status: int
    seconds: float
    request_id: str | None
    marker: str | None = None
    cause: str | None = None
    detail: dict[str, Any] | None = None


# --- the workspace ------------------------------------------------------------------------------------------


def _scale() -> Any:
    import scale_workspace

    return scale_workspace


def _history_file(rng: random.Random, files: list[str], classes: list[str], boxes: int, marker: str) -> bytes:
    """A small COCO delivery: ``boxes`` boxes on random items of the version, unique by ``marker``."""
    picked = rng.sample(range(len(files)), k=min(3, len(files)))
    images = [{"id": k + 1, "file_name": files[i], "width": 64, "height": 64} for k, i in enumerate(picked)]
    anns = []
    for n in range(boxes):
        w, h = round(rng.uniform(4, 30), 2), round(rng.uniform(4, 30), 2)
        x, y = round(rng.uniform(0, 64 - w), 2), round(rng.uniform(0, 64 - h), 2)
        anns.append({"id": n + 1, "image_id": rng.randint(1, len(images)), "category_id": rng.randint(1, len(classes)),
                     "bbox": [x, y, w, h], "area": round(w * h, 4), "iscrowd": 0})  # fmt: skip
    doc = {
        "info": {"description": marker},
        "images": images,
        "categories": [{"id": k + 1, "name": c} for k, c in enumerate(classes)],
        "annotations": anns,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def build_load_workspace(
    out: Path, spec: LoadSpec, *, pg_url: str = PG_URL, say: Callable[[str], None] = print
) -> Seeded:
    """The scale workspace (module docstring) on a fresh PostgreSQL schema in ``out``, plus a ``ci`` member, the
    earlier deliveries and every client's tokens."""
    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from lineage import identity
    from lineage.db import make_engine
    from lineage.formats import import_annotations
    from lineage.models import (
        Annotation,
        AuditEvent,
        DatasetVersion,
        Item,
        Project,
        ProvenanceKind,
        Review,
        Role,
        User,
    )

    gen = _scale()
    t0 = time.perf_counter()
    scale_spec = gen.ScaleSpec(
        images=spec.images, labels_per_image=spec.labels_per_image, classes=10, golden=spec.golden, seed=spec.seed
    )
    state = gen.build_scale_workspace(out, db="postgresql", spec=scale_spec, pg_url=pg_url, say=say)
    seconds = {"scale workspace": round(time.perf_counter() - t0, 1)}
    engine = make_engine(state["database_url"])
    rng = random.Random(spec.seed)
    try:
        with Session(engine, expire_on_commit=False) as s:
            users = {u.username: u for u in s.exec(select(User))}
            admin = users["admin"]
            admin_actor = gen._actor(admin)
            pid = int(state["project_id"])
            project = s.get(Project, pid)
            assert project is not None
            ci = identity.create_user(s, actor=admin_actor, username="ci_bot", full_name="CI bot")
            identity.add_member(s, actor=admin_actor, project=project, user=ci, role=Role.ci)
            s.commit()
            users["ci_bot"] = ci
            version = s.get(DatasetVersion, int(state["version_id"]))
            assert version is not None
            items = list(s.exec(select(Item).where(Item.dataset_version_id == version.id).order_by(col(Item.id))))
            files = [i.uri for i in items]
            classes = gen.class_names(10)
            t1 = time.perf_counter()
            ml = gen._actor(users["ml"])
            for n in range(spec.history):
                data = _history_file(rng, files, classes, 3, f"history-{n}")
                import_annotations(s, actor=ml, version=version, fmt="coco", data=data, source_name=f"history-{n}.json")
                if n % 100 == 99:
                    s.commit()
            s.commit()
            seconds["history deliveries"] = round(time.perf_counter() - t1, 1)
            by_role = {"ml": "ml", "reviewer": "reviewer", "officer": "officer", "ci": "ci_bot", "admin": "admin"}
            tokens: list[dict[str, str]] = []
            for c in range(spec.clients):
                mine = {
                    role: identity.issue_token(s, actor=admin_actor, user=users[name], name=f"load-{c}-{role}").token
                    for role, name in by_role.items()
                }
                annotator = users[ANNOTATORS[c % len(ANNOTATORS)]]
                mine["annotator"] = identity.issue_token(s, actor=admin_actor, user=annotator, name=f"load-{c}").token
                tokens.append(mine)
            s.commit()
            reviewed = select(Review.annotation_id)
            superseded = select(Annotation.supersedes_id).where(col(Annotation.supersedes_id).is_not(None))
            pool = list(
                s.exec(
                    select(Annotation.id).where(
                        Annotation.dataset_version_id == version.id,
                        Annotation.kind == ProvenanceKind.model,
                        col(Annotation.id).not_in(reviewed),
                        col(Annotation.id).not_in(superseded),
                    )
                )
            )
            some = list(
                s.exec(
                    select(Annotation.id)
                    .where(Annotation.dataset_version_id == version.id)
                    .order_by(func.random())
                    .limit(2000)
                )
            )
            events = int(s.exec(select(func.count()).select_from(AuditEvent)).one())
    finally:
        engine.dispose()
    return Seeded(
        out=out,
        database_url=state["database_url"],
        pg_schema=state["pg_schema"],
        workspace=Path(state["workspace"]),
        project_id=pid,
        version_id=int(state["version_id"]),
        tokens=tokens,
        review_pool=[int(a) for a in pool if a is not None],
        annotation_ids=[int(a) for a in some if a is not None],
        item_files=files,
        item_ids=[i.id or 0 for i in items],
        classes=classes,
        events_before=events,
        seconds=seconds,
    )


def drop_load_workspace(out: Path, *, pg_url: str = PG_URL) -> str | None:
    """Drop the workspace's PostgreSQL schema (``bench/scale_workspace.py``'s ``drop_workspace_schema``)."""
    return _scale().drop_workspace_schema(out, pg_url)  # type: ignore[no-any-return]


# --- the clients --------------------------------------------------------------------------------------------


class Shared:
    """What the clients share: the review pool, the evaluations seen, the racing import files, the samples."""

    def __init__(self, seeded: Seeded, spec: LoadSpec) -> None:
        self.seeded = seeded
        self.spec = spec
        self.samples: list[Sample] = []
        self.warmup: list[Sample] = []
        self.evaluation_ids: list[int] = []
        rng = random.Random(spec.seed + 7)
        self.raced = [
            _history_file(rng, seeded.item_files, seeded.classes, spec.boxes_per_import, f"raced-{k}")
            for k in range(RACED_FILES)
        ]


def _cause(kind: str, status: int, body: Any) -> str:
    """A 4xx's cause in one line: the kind, the status, the record's error class and its message with numbers
    replaced by ``#`` (so one cause groups its occurrences)."""
    err = body.get("error", {}) if isinstance(body, dict) else {}
    message = re.sub(r"\d+", "#", str(err.get("message", "")))[:120]
    return f"{kind} {status} {err.get('type')}: {message}"


class Client:
    """One client: its tokens, its own random stream, its audit cursor, the imports it got a 201 for."""

    def __init__(self, index: int, shared: Shared, http: Any) -> None:
        self.index = index
        self.shared = shared
        self.http = http
        self.rng = random.Random(shared.spec.seed * 100_003 + index)
        self.tokens = shared.seeded.tokens[index]
        self.cursor: str | None = None
        self.imported: list[bytes] = []
        self.n = 0

    def auth(self, kind: str) -> dict[str, str]:
        role = self.rng.choice(KINDS[kind][1])
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def send(self, kind: str, method: str, path: str, *, marker: str | None = None, **kw: Any) -> Any:
        """Send one request, keep its sample; the parsed body of a 2xx (``None`` otherwise)."""
        t0 = time.perf_counter()
        try:
            r = await self.http.request(method, API + path, headers=self.auth(kind), **kw)
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        except Exception as exc:  # a transport failure is a result to count, not a crash
            self.shared.samples.append(
                Sample(kind, 0, time.perf_counter() - t0, None, marker, cause=f"{kind} transport {type(exc).__name__}")
            )
            return None
        seconds = time.perf_counter() - t0
        sample = Sample(kind, r.status_code, seconds, r.headers.get("x-request-id"), marker)
        if r.status_code >= 400:
            sample.cause = _cause(kind, r.status_code, body)
        elif kind == "import" and isinstance(body, dict):
            sample.detail = {"status": body.get("status"), "import_id": body.get("import_id")}
        elif kind == "evaluate" and isinstance(body, dict):
            sample.detail = {"id": body.get("id")}
        self.shared.samples.append(sample)
        return body if r.status_code < 300 else None

    # one coroutine per kind -----------------------------------------------------------------------------

    async def audit_page(self) -> None:
        params: dict[str, Any] = {"limit": 50}
        if self.cursor:
            params["cursor"] = self.cursor
        body = await self.send("audit_page", "GET", f"/projects/{PROJECT}/audit/events", params=params)
        self.cursor = body.get("next_cursor") if isinstance(body, dict) else None

    async def audit_filtered(self) -> None:
        pick = self.rng.random()
        if pick < 0.25:
            headers_role = "admin"
            params: dict[str, Any] = {"limit": 50, "order": "desc", "action": "annotation.review,gate.evaluate"}
            await self._as(headers_role, "audit_filtered", "GET", "/audit/events", params=params)
            return
        params = {"limit": 50, "order": "desc"}
        params |= self.rng.choice([{"action": "import"}, {"object": f"{DATASET}@{VERSION}"}, {"actor": "review"}])
        await self.send("audit_filtered", "GET", f"/projects/{PROJECT}/audit/events", params=params)

    async def _as(self, role: str, kind: str, method: str, path: str, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            r = await self.http.request(
                method, API + path, headers={"Authorization": f"Bearer {self.tokens[role]}"}, **kw
            )
            body = r.json()
        except Exception as exc:
            self.shared.samples.append(
                Sample(kind, 0, time.perf_counter() - t0, None, cause=f"{kind} transport {type(exc).__name__}")
            )
            return None
        sample = Sample(kind, r.status_code, time.perf_counter() - t0, r.headers.get("x-request-id"))
        if r.status_code >= 400:
            sample.cause = _cause(kind, r.status_code, body)
        self.shared.samples.append(sample)
        return body

    async def lineage_version(self) -> None:
        await self.send("lineage_version", "GET", f"/projects/{PROJECT}/datasets/{DATASET}/versions/{VERSION}/lineage")

    async def lineage_annotation(self) -> None:
        aid = self.rng.choice(self.shared.seeded.annotation_ids)
        await self.send("lineage_annotation", "GET", f"/projects/{PROJECT}/annotations/{aid}/lineage")

    async def lineage_item(self) -> None:
        iid = self.rng.choice(self.shared.seeded.item_ids)
        await self.send("lineage_item", "GET", f"/projects/{PROJECT}/items/{iid}/lineage")

    async def evaluations_list(self) -> None:
        if self.rng.random() < 0.5:
            path = f"/projects/{PROJECT}/datasets/{DATASET}/versions/{VERSION}/evaluations"
            await self.send("evaluations_list", "GET", path)
        else:
            await self.send("evaluations_list", "GET", f"/projects/{PROJECT}/evaluations", params={"limit": 20})

    async def evaluation_get(self) -> None:
        if not self.shared.evaluation_ids:
            return await self.evaluations_list()
        eid = self.rng.choice(self.shared.evaluation_ids)
        await self.send("evaluation_get", "GET", f"/projects/{PROJECT}/evaluations/{eid}")
        return None

    async def import_(self) -> None:
        pick = self.rng.random()
        if pick < 0.1 and self.imported:
            data = self.rng.choice(self.imported)  # a file this client delivered before: already imported
        elif pick < 0.2:
            data = self.rng.choice(self.shared.raced)
        else:
            self.n += 1
            marker = f"load-c{self.index}-n{self.n}"
            data = _history_file(self.rng, self.shared.seeded.item_files, self.shared.seeded.classes,
                                 self.shared.spec.boxes_per_import, marker)  # fmt: skip
        sha = hashlib.sha256(data).hexdigest()
        path = f"/projects/{PROJECT}/datasets/{DATASET}/versions/{VERSION}/imports"
        files = {"file": (f"{sha[:12]}.json", data, "application/json")}
        body = await self.send("import", "POST", path, marker=sha, data={"format": "coco"}, files=files)
        if isinstance(body, dict) and body.get("status") == "imported":
            self.imported.append(data)

    async def review(self) -> None:
        aid = self.rng.choice(self.shared.seeded.review_pool)
        self.n += 1
        comment = f"load-c{self.index}-r{self.n}"
        decision = "accept" if self.rng.random() < 0.7 else "reject"
        body = {"decision": decision, "comment": comment}
        await self.send("review", "POST", f"/projects/{PROJECT}/annotations/{aid}/reviews", marker=comment, json=body)

    async def evaluate(self) -> None:
        path = f"/projects/{PROJECT}/datasets/{DATASET}/versions/{VERSION}/evaluations"
        body = await self.send("evaluate", "POST", path, json={"policy": POLICY})
        if isinstance(body, dict) and isinstance(body.get("id"), int):
            self.shared.evaluation_ids.append(body["id"])

    async def run(self, deadline: float) -> None:
        ops = {k: getattr(self, "import_" if k == "import" else k) for k in KINDS}
        mix = self.shared.spec.weights()
        kinds, weights = list(mix), list(mix.values())
        while time.monotonic() < deadline:
            await ops[self.rng.choices(kinds, weights)[0]]()


async def _load(url: str, seeded: Seeded, spec: LoadSpec) -> tuple[Shared, float]:
    import httpx

    shared = Shared(seeded, spec)
    # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout closes them from its side: a
    # request sent on a connection the server is closing fails with no answer (a ReadError), which is the
    # client's race, not the server's failure.
    limits = httpx.Limits(
        max_connections=spec.clients + 4, max_keepalive_connections=spec.clients + 4, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(300.0), limits=limits) as http:
        # One evaluation before the clock starts, so evaluation_get has an id from the first request on.
        first = Client(0, shared, http)
        await first.evaluate()
        shared.warmup, shared.samples = shared.samples, []
        clients = [Client(i, shared, http) for i in range(spec.clients)]
        t0 = time.monotonic()
        await asyncio.gather(*(c.run(t0 + spec.seconds) for c in clients))
        wall = time.monotonic() - t0
    return shared, wall


def run_load(url: str, seeded: Seeded, spec: LoadSpec) -> tuple[list[Sample], list[Sample], float]:
    """The clients against ``url`` for ``spec.seconds``: every sample, the warm-up's (one evaluation before the
    clock starts) and the wall seconds until the last request in flight at the deadline was answered."""
    shared, wall = asyncio.run(_load(url, seeded, spec))
    return shared.samples, shared.warmup, wall


# --- what the run did ---------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[k]


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = [v * 1000 for v in values]
    return {"p50_ms": round(_pct(ms, 50), 1), "p95_ms": round(_pct(ms, 95), 1), "p99_ms": round(_pct(ms, 99), 1),
            "mean_ms": round(statistics.fmean(ms), 1), "max_ms": round(max(ms), 1)}  # fmt: skip


def summarise(samples: list[Sample], wall: float) -> dict[str, Any]:
    """Requests, throughput and latency per kind and overall; 5xx and transport errors; 4xx by cause."""
    per_kind: dict[str, Any] = {}
    for kind in KINDS:
        mine = [s for s in samples if s.kind == kind]
        if not mine:
            continue
        per_kind[kind] = {
            "requests": len(mine),
            "per_s": round(len(mine) / wall, 2),
            "status": dict(sorted(Counter(str(s.status) for s in mine).items())),
            **_latency([s.seconds for s in mine]),
        }
    return {
        "requests": len(samples),
        "wall_s": round(wall, 2),
        "per_s": round(len(samples) / wall, 2) if wall else 0.0,
        "latency": _latency([s.seconds for s in samples]),
        "kinds": per_kind,
        "server_errors": sum(1 for s in samples if s.status >= 500),
        "server_error_causes": dict(Counter(s.cause or "" for s in samples if s.status >= 500)),
        "transport_errors": dict(Counter(s.cause or "" for s in samples if s.status == 0)),
        "client_errors": sum(1 for s in samples if 400 <= s.status < 500),
        "client_error_causes": dict(Counter(s.cause or "" for s in samples if 400 <= s.status < 500).most_common()),
    }


def _check_once(name: str, marker: str, outcomes: list[Sample], on_record: int, problems: list[str]) -> str:
    """One write's verdict: ``ok`` or the problem. ``on_record``: how many times the record holds it."""
    ok2 = [s for s in outcomes if 200 <= s.status < 300]
    unknown = [s for s in outcomes if s.status == 0 or s.status >= 500]
    if ok2:
        if on_record != 1:
            problems.append(f"{name} {marker}: answered 2xx but on the record {on_record} times")
            return "lost" if on_record == 0 else "doubled"
        return "ok"
    if on_record > (1 if unknown else 0):
        problems.append(f"{name} {marker}: never answered 2xx but on the record {on_record} times")
        return "doubled"
    return "ok"


def account_writes(database_url: str, samples: list[Sample], *, events_before: int, boxes: int) -> dict[str, Any]:
    """Every write of the run against the record (module docstring); ``problems`` lists each lost or doubled
    one, and every event the run appended that no client request explains."""
    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from lineage.db import make_engine
    from lineage.models import Annotation, AuditEvent, GateEvaluation, LabelImport, Review

    problems: list[str] = []
    by_marker: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for x in samples:
        if x.kind in WRITES and x.marker is not None:
            by_marker[(x.kind, x.marker)].append(x)
        if x.kind == "evaluate" and x.request_id is not None:
            by_marker[("evaluate", x.request_id)].append(x)
    engine = make_engine(database_url)
    verdicts: Counter[str] = Counter()
    try:
        with Session(engine) as db:
            events = list(db.exec(select(AuditEvent).where(col(AuditEvent.seq) > events_before)))
            import_events: Counter[str] = Counter()
            review_events: Counter[str] = Counter()
            eval_events: Counter[str] = Counter()
            for e in events:
                if e.action == "annotation.import":
                    import_events[str(e.payload.get("source_sha256"))] += 1
                elif e.action == "annotation.review":
                    review_events[str(e.payload.get("comment"))] += 1
                elif e.action == "gate.evaluate":
                    eval_events[str(e.request_id)] += 1
            shas = sorted({m for k, m in by_marker if k == "import"})
            held = select(LabelImport.source_sha256).where(col(LabelImport.source_sha256).in_(shas))
            rows: Counter[str] = Counter(db.exec(held))
            labels = dict(
                db.exec(
                    select(Annotation.source_sha256, func.count())
                    .where(col(Annotation.source_sha256).in_(shas))
                    .group_by(Annotation.source_sha256)
                ).all()
            )
            for sha in shas:
                outcomes = by_marker[("import", sha)]
                n = rows.get(sha, 0)
                verdicts[_check_once("import", sha[:12], outcomes, n, problems)] += 1
                if import_events.get(sha, 0) != n:
                    problems.append(f"import {sha[:12]}: {n} label_imports rows but {import_events.get(sha, 0)} events")
                if labels.get(sha, 0) != n * boxes:
                    problems.append(f"import {sha[:12]}: {labels.get(sha, 0)} labels for {n} imports of {boxes}")
                created = [o for o in outcomes if o.status == 201]
                if len(created) > 1:
                    problems.append(f"import {sha[:12]}: {len(created)} answers 201 (one import expected)")
            comments = sorted({m for k, m in by_marker if k == "review"})
            reviewed = select(Review.comment).where(col(Review.comment).in_(comments))
            review_rows: Counter[str] = Counter(db.exec(reviewed))
            for c in comments:
                n = review_rows.get(c, 0)
                verdicts[_check_once("review", c, by_marker[("review", c)], n, problems)] += 1
                if review_events.get(c, 0) != n:
                    problems.append(f"review {c}: {n} rows but {review_events.get(c, 0)} events")
            rids = sorted({m for k, m in by_marker if k == "evaluate"})
            for rid in rids:
                n = eval_events.get(rid, 0)
                verdicts[_check_once("evaluate", rid, by_marker[("evaluate", rid)], n, problems)] += 1
            returned = [o.detail["id"] for (k, _), outs in by_marker.items() if k == "evaluate" for o in outs
                        if o.status == 201 and o.detail]  # fmt: skip
            if returned:
                found = int(db.exec(select(func.count()).where(col(GateEvaluation.id).in_(returned))).one())
                if found != len(set(returned)):
                    problems.append(f"evaluate: {len(set(returned))} ids answered, {found} on the record")
            known = {x.request_id for x in samples if x.request_id is not None}
            failed = {x.request_id for x in samples if x.request_id is not None and x.status >= 400}
            unexplained = Counter(e.action for e in events if e.request_id not in known)
            if unexplained:
                problems.append(f"events no client request explains: {dict(unexplained)}")
            after_4xx = Counter(e.action for e in events if e.request_id in failed)
            if after_4xx:
                problems.append(f"events of requests answered 4xx/5xx: {dict(after_4xx)}")
    finally:
        engine.dispose()
    return {
        "writes_checked": sum(verdicts.values()),
        "verdicts": dict(verdicts),
        "events_appended": len(events),
        "events_by_action": dict(Counter(e.action for e in events).most_common()),
        "problems": problems,
    }


def verify_deep(url: str, token: str) -> dict[str, Any]:
    """``GET /audit/verify?deep=true`` as a compliance officer."""
    import httpx

    r = httpx.get(f"{url}{API}/audit/verify", params={"deep": "true"}, timeout=600,
                  headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


# --- the whole bench ----------------------------------------------------------------------------------------


@dataclass
class LoadRun:
    """What one load run left: the samples (the warm-up's apart), the wall seconds, the deep verify's answer
    and its seconds, and the server's log."""

    samples: list[Sample]
    warmup: list[Sample]
    wall: float
    verify: dict[str, Any]
    verify_s: float
    server_log: str


def serve_and_load(seeded: Seeded, spec: LoadSpec, *, workers: int = 2, say: Callable[[str], None] = print) -> LoadRun:
    """uvicorn with ``workers`` processes on the workspace (``tests/live_server.serving``), the clients against
    it, then the deep verify through the API, while it still serves."""
    from tests.live_server import serving

    log = seeded.out / "server.log"
    with serving(seeded.workspace, seeded.database_url, log, uvicorn_args=["--workers", str(workers)]) as served:
        say(f"serving {served.url} with {workers} workers; {spec.clients} clients for {spec.seconds:g} s")
        samples, warmup, wall = run_load(served.url, seeded, spec)
        t0 = time.perf_counter()
        check = verify_deep(served.url, seeded.tokens[0]["officer"])
        verify_s = time.perf_counter() - t0
    return LoadRun(samples, warmup, wall, check, verify_s, log.read_text(errors="replace"))


_RAISED = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Deadlock\w*)): (?P<message>.*)$", re.MULTILINE)


def exceptions_logged(log: str) -> dict[str, int]:
    """The exceptions a server log's tracebacks end with (``type: message``, numbers as ``#``), counted: what a
    5xx was, since the client only sees "Internal Server Error"."""
    found: Counter[str] = Counter()
    for block in log.split("Traceback (most recent call last):")[1:]:
        if "The above exception was the direct cause" in block or "During handling of the above" in block:
            continue  # a link of a chain: its last traceback names what the request died of
        raised = list(_RAISED.finditer(block))
        if raised:
            last = raised[-1]
            found[f"{last['type']}: {re.sub(r'[0-9]+', '#', last['message'])[:160]}"] += 1
    return dict(found.most_common())


def report(seeded: Seeded, spec: LoadSpec, run: LoadRun) -> dict[str, Any]:
    """The figures (``summarise``), the account of every write, the deep verify and the server log's alarms."""
    result = summarise(run.samples, run.wall)
    result["account"] = account_writes(
        seeded.database_url, run.samples + run.warmup, events_before=seeded.events_before, boxes=spec.boxes_per_import
    )
    check = run.verify
    result["verify"] = {
        "ok": check["ok"],
        "events": check["events"],
        "checkpoints": check.get("checkpoints"),
        "rows_checked": check.get("rows_checked"),
        "problems": check.get("problems", []) + check.get("row_problems", []),
        "reason": check.get("reason"),
        "seconds": round(run.verify_s, 2),
    }
    result["server_log"] = {
        "tracebacks": run.server_log.count("Traceback"),
        "exceptions": exceptions_logged(run.server_log),
        "checkpoint_failures": run.server_log.count("audit checkpoint not taken"),
    }
    result["seeded"] = {"events": seeded.events_before, "items": len(seeded.item_ids),
                        "review_pool": len(seeded.review_pool), "seconds": seeded.seconds}  # fmt: skip
    result["spec"] = asdict(spec)
    return result


def run_bench(
    spec: LoadSpec,
    *,
    out: Path,
    pg_url: str = PG_URL,
    workers: int = 2,
    keep: bool = False,
    server_log: Path | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Seed, serve, load, verify, account; the workspace's schema is dropped afterwards unless ``keep``; the
    server's log is copied to ``server_log`` when given."""
    seeded = build_load_workspace(out, spec, pg_url=pg_url, say=say)
    try:
        say(f"seeded: {seeded.events_before} audit events, {len(seeded.item_ids)} items, "
            f"{len(seeded.review_pool)} labels to review, {seeded.seconds}")  # fmt: skip
        run = serve_and_load(seeded, spec, workers=workers, say=say)
        if server_log is not None:
            server_log.parent.mkdir(parents=True, exist_ok=True)
            server_log.write_text(run.server_log, encoding="utf-8")
        result = report(seeded, spec, run)
        result["workers"] = workers
        return result
    finally:
        if not keep:
            drop_load_workspace(out, pg_url=pg_url)


def _print(result: dict[str, Any]) -> None:
    print(f"\n{'kind':<20}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  status")
    for kind, k in result["kinds"].items():
        print(
            f"{kind:<20}{k['requests']:>9}{k['per_s']:>8}{k['p50_ms']:>9}{k['p95_ms']:>9}{k['p99_ms']:>9}  "
            f"{k['status']}"
        )
    lat = result["latency"]
    print(f"{'all':<20}{result['requests']:>9}{result['per_s']:>8}{lat.get('p50_ms', 0):>9}{lat.get('p95_ms', 0):>9}"
          f"{lat.get('p99_ms', 0):>9}")  # fmt: skip
    print(f"\n5xx: {result['server_errors']} {result['server_error_causes'] or ''}")
    print(f"transport errors: {result['transport_errors'] or 0}")
    print(f"4xx: {result['client_errors']}")
    for cause, n in result["client_error_causes"].items():
        print(f"  {n:>6}  {cause}")
    acc, ver = result["account"], result["verify"]
    print(f"\naudit verify --deep: ok={ver['ok']} events={ver['events']} checkpoints={ver['checkpoints']} "
          f"({ver['seconds']} s) {ver['reason']}")  # fmt: skip
    print(f"writes checked: {acc['writes_checked']} {acc['verdicts']}; events appended: {acc['events_appended']}")
    for p in acc["problems"][:30]:
        print(f"  PROBLEM: {p}")
    print(f"server log: {result['server_log']}")


def _parse_mix(text: str, ap: argparse.ArgumentParser) -> tuple[tuple[str, int], ...]:
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, weight = part.partition("=")
        if kind not in KINDS or not weight.isdigit():
            ap.error(f"--mix: {part!r} is not KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
        pairs.append((kind, int(weight)))
    return tuple(pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = LoadSpec()
    ap.add_argument("--clients", type=int, default=d.clients)
    ap.add_argument("--seconds", type=float, default=d.seconds)
    ap.add_argument("--images", type=int, default=d.images)
    ap.add_argument("--labels-per-image", type=int, default=d.labels_per_image)
    ap.add_argument("--golden", type=int, default=d.golden)
    ap.add_argument("--history", type=int, default=d.history, help="earlier deliveries (two audit events each)")
    ap.add_argument("--boxes-per-import", type=int, default=d.boxes_per_import)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--mix", default="", help="weights overriding the default mix, e.g. evaluate=0,import=30")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--out", type=Path, help="the workspace folder (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the workspace and its PostgreSQL schema")
    ap.add_argument("--json", type=Path, help="write the figures here (and the server's log beside, .server.log)")
    args = ap.parse_args()
    spec = LoadSpec(
        clients=args.clients, seconds=args.seconds, images=args.images, labels_per_image=args.labels_per_image,
        golden=args.golden, history=args.history, boxes_per_import=args.boxes_per_import, seed=args.seed,
        mix=_parse_mix(args.mix, ap),
    )  # fmt: skip
    from _common import machine

    print(f"machine: {machine()}")
    print("method: a real uvicorn (--workers N) on PostgreSQL; clients are asyncio tasks with httpx.AsyncClient in")
    print("one process on the same machine, each sending its next request when the previous one is answered;")
    print("latency is send to body read; the account and the deep verify run after the load.")
    print(f"spec: {spec}")
    tmp = None
    if args.out is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    out = args.out or (tmp / "ws")  # type: ignore[operator]
    try:
        log = args.json.with_suffix(".server.log") if args.json else None
        result = run_bench(spec, out=out, pg_url=args.pg_url, workers=args.workers, keep=args.keep, server_log=log)
        result["machine"] = machine()
        _print(result)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            print(f"\nwrote {args.json}")
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
