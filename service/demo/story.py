"""``labelgate demo``: the whole flow on an embedded SQLite workspace, narrated step by step.

Every step is a verb of ``service.actions`` taken by a demo user authenticated by their own token (the
same verbs, permission checks and audit events as the API and the CLI); only the history of labels the
story starts from is built directly (``service.demo.scenario``). The demo workspace is recreated on
each run (only a folder carrying the demo's marker file is ever removed). It ends by serving the API and
the dashboard (unless ``--no-serve``) and printing a token for each demo role.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from lineage.context import Actor
from lineage.errors import Conflict, LabelgateError
from lineage.models import Project, Role, User, VersionState
from lineage.release.approvals import Meaning
from lineage.release.bundle import load_public_key, verify_bundle
from service import actions
from service.actions import Context
from service.actions.runs import inference_available
from service.api.schemas.gates import evaluation_public
from service.cli.common import out
from service.cli.release import write_bundle
from service.demo.integrity import integrity_chapter
from service.demo.models import models_chapter
from service.demo.scenario import GateScenario, build_gate_scenario
from service.demo.tasks import tasks_chapter
from service.demo.tools import tools_chapter
from service.gate_report import golden_label, headline, report_from_public
from service.settings import Settings
from service.workspace import acting, init_workspace, open_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["DemoState", "run_demo"]

MARKER = ".labelgate-demo"
SIGNING_SECRET = "demo-signing-secret"  # the demo's compliance officer's second factor (printed below)
DEMO_USERS = {
    "mia": ("Mia Engineer", Role.ml_engineer),
    "alice": ("Alice Annotator", Role.annotator),
    "bob": ("Bob Annotator", Role.annotator),
    "carol": ("Carol Annotator", Role.annotator),
    "rex": ("Rex Reviewer", Role.reviewer),
    "cora": ("Cora Compliance", Role.compliance_officer),
    "ci-bot": ("CI Pipeline", Role.ci),
}


@dataclass
class DemoState:
    settings: Settings
    engine: Engine
    admin: Actor
    project: Project
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    scenario: GateScenario | None = None
    bundle_path: Path | None = None
    tasks: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # dataset → (v1 passed, v2 passed)

    @property
    def project_id(self) -> int:
        return self.project.id or 0

    def actor(self, username: str) -> Actor:
        """The audit actor of a demo user, for the scenario builder (which writes the story's history)."""
        user = self.users[username]
        return Actor(user_id=user.id or 0, username=user.username, request_id="demo", is_admin=user.is_admin)

    @contextmanager
    def as_(self, username: str) -> Iterator[Context]:
        """One transaction as ``username``, authenticated by their token like any API or CLI caller."""
        with acting(self.engine, self.settings, self.tokens[username], request=actions.request_id("demo")) as ctx:
            yield ctx


def _step(n: int, title: str) -> None:
    out.print(Text.assemble("\n", (f"{n}. {title}", "bold cyan")))


def _say(line: str) -> None:
    out.print(f"   {line}")


def _fresh_workspace(path: Path) -> None:
    if path.exists():
        if not (path / MARKER).exists():
            raise Conflict(f"{path} exists and is not a demo workspace; choose another --workspace", field="workspace")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("created by `labelgate demo`; removed by the next run\n")


def setup_identity(settings: Settings) -> DemoState:
    result = init_workspace(settings, admin_username="admin", admin_name="Demo Administrator")
    assert result.admin_token is not None
    engine = open_engine(settings)
    with acting(engine, settings, result.admin_token, request="demo") as ctx:
        admin = ctx.principal
        project = actions.create_project(ctx, name="street-scenes", description="demo project")
        state = DemoState(settings=settings, engine=engine, admin=admin.actor, project=project)
        state.users["admin"], state.tokens["admin"] = admin.user, result.admin_token
        for username, (name, role) in DEMO_USERS.items():
            user = actions.create_user(ctx, username=username, full_name=name, email=f"{username}@street.example")
            actions.add_member(ctx, project.id or 0, username=username, role=role)
            state.users[username] = user
            state.tokens[username] = actions.issue_token(ctx, user.id or 0, name="demo").token
    # The workspace's operator sets cora's second factor (a user sets their own with an enrolment code).
    with acting(engine, settings, None, request="demo") as operator:
        actions.set_secret_as_operator(operator, username="cora", secret=SIGNING_SECRET)
    return state


def build_history(state: DemoState, *, n_images: int) -> GateScenario:
    with state.as_("mia") as ctx:  # the story's history, written directly (see service.demo.scenario)
        scenario = build_gate_scenario(
            ctx.session,
            project_id=state.project.id or 0,
            ml=state.actor("mia"),
            reviewer=state.actor("rex"),
            annotators={n: state.users[n] for n in ("alice", "bob", "carol")},
            repo_dir=state.settings.repo_dir,
            work_dir=state.settings.workspace / "generated" / "street",
            n_images=n_images,
        )
    for v in (scenario.parent, scenario.blocked, scenario.passing):
        with state.as_("mia") as ctx:
            lin = actions.version_lineage(ctx, state.project_id, "street", v.version)
        kinds = ", ".join(f"{k} {int(row['count'])}" for k, row in lin.by_kind.items())
        _say(f"{lin.version}: {lin.dvc['items']} images, DVC {str(lin.dvc['dvc_hash'])[:12]}…, labels: {kinds}")
    state.scenario = scenario
    _say(
        f"golden set {scenario.golden.name}@{scenario.golden.version} (expert labels, hidden from annotators); "
        f"policy {scenario.policy.name}@{scenario.policy.version} binds it (golden: "
        f"{scenario.golden.name}@{scenario.golden.version})"
    )
    return scenario


def run_gates(state: DemoState) -> None:
    assert state.scenario is not None
    sc = state.scenario
    policy = f"{sc.policy.name}@{sc.policy.version}"
    for version in (sc.blocked, sc.passing):
        with state.as_("mia") as ctx:
            actions.change_state(
                ctx, state.project_id, "street", version.version, state=VersionState.candidate, reason="ready for gates"
            )
        with state.as_("ci-bot") as ctx:
            evaluation = evaluation_public(
                actions.evaluate(ctx, state.project_id, "street", version.version, policy=policy)
            )
        report, header = report_from_public(evaluation)
        verdict = ("PASSED", "green") if report.passed else ("BLOCKED", "red")
        out.print(
            Text.assemble(
                f"   street@{version.version}: ",
                verdict,
                f" (evaluation #{evaluation.id}; policy {policy}, {golden_label(header.golden)})",
            )
        )
        for g in report.gates:
            if not g.passed:
                _say(f"  ✗ {g.name}: {g.explanation}")
        if report.passed:
            m = report.metrics
            _say(
                f"  precision {m['precision']:.3f}, recall {m['recall']:.3f}, mAP {m['map']:.3f}, "
                f"golden error {m['golden_error']:.3f}, alpha {m['krippendorff_alpha']:.3f}"
            )


def _check_on_record(state: DemoState, ref: str, policy_file: str, *, golden: str | None = None) -> None:
    """``labelgate gate check REF --policy FILE [--golden NAME@VERSION]`` on the demo's record, narrated: the
    same verbs as the CLI's service form (the policy file stored as a version, then evaluated), as ci-bot."""
    command = f"labelgate gate check {ref} --policy {policy_file}" + (f" --golden {golden}" if golden else "")
    root = Path(__file__).resolve().parents[2]
    dataset, version = actions.split_ref(ref)
    try:
        text = (root / policy_file).read_text(encoding="utf-8")
        with state.as_("mia") as ctx:  # ci may evaluate, not store policies: the engineer stores the file
            policy = actions.store_policy(ctx, state.project_id, yaml_text=text)
        with state.as_("ci-bot") as ctx:
            view = actions.evaluate(
                ctx, state.project_id, dataset, version, policy=f"{policy.name}@{policy.version}", golden=golden
            )
            evaluation = evaluation_public(view)
    except LabelgateError as exc:
        _say(f"{command} → exit 2: {exc.message}")
        return
    report, header = report_from_public(evaluation)
    _say(f"{command} → exit {0 if report.passed else 1}")
    _say(f"  {headline(report, header)}")
    for g in report.blocking:
        _say(f"  ✗ {g.name}: {g.explanation}")
    if header.purpose == "recheck":
        _say(
            f"  evaluation #{evaluation.id} is a re-check of the released version; its release still rests "
            f"on evaluation #{header.release_evidence_id}"
        )


def which_golden_set(state: DemoState) -> None:
    """Each check names its golden set: the README's `gate check street@v3 --policy policies/default.yaml`,
    now that the project holds a newer golden set (the shapes one), still measures against street-golden@1 and
    is a re-check that leaves the release's evidence alone; a golden set of other images is refused rather
    than measured; the shapes pool has its own policy."""
    assert state.scenario is not None
    with state.as_("mia") as ctx:
        refs = [f"{g['name']}@{g['version']}" for g in actions.golden_sets(ctx, state.project_id)]
        pools = [d.name for d in actions.datasets_of(ctx, state.project_id)]
    _say(f"golden sets of the project now: {', '.join(refs)}")
    _check_on_record(state, "street@v3", "policies/default.yaml")
    if "shapes-golden@1" in refs:
        _check_on_record(state, "street@v3", "policies/default.yaml", golden="shapes-golden@1")
    if "shapes-pool" in pools:
        _check_on_record(state, "shapes-pool@v1", "policies/shapes.yaml")
        _check_on_record(state, "shapes-pool@v1", "policies/default.yaml")


def offline_ci_gate(state: DemoState) -> None:
    """The CI form: the same policy over plain files, no server, no database."""
    from typer.testing import CliRunner

    from service.cli.gate import gate_app
    from service.demo.synthetic import make_demo

    folder = state.settings.workspace / "ci"
    folder.mkdir(parents=True, exist_ok=True)
    data = make_demo(n_images=60, n_classes=5, seed=7)
    (folder / "golden.json").write_text(json.dumps(data.golden))
    for name, preds in (("good", data.good_predictions), ("bad", data.bad_predictions)):
        (folder / f"pred-{name}.json").write_text(json.dumps(preds))
    for name, coco in data.annotators.items():
        (folder / f"{name}.json").write_text(json.dumps(coco))
    (folder / "parent.json").write_text(json.dumps(data.parent))
    from service.demo.scenario import DEFAULT_POLICY_PATH

    base = ["check", "--policy", str(DEFAULT_POLICY_PATH), "--gt", str(folder / "golden.json")]
    base += ["--parent", str(folder / "parent.json")]
    for n in data.annotators:
        base += ["--annotations", f"{n}={folder / n}.json"]
    runner = CliRunner()
    for name in ("bad", "good"):
        result = runner.invoke(gate_app, [*base, "--pred", str(folder / f"pred-{name}.json"), "--format", "json"])
        if result.exit_code == 2:
            _say(f"labelgate gate check --pred pred-{name}.json … → exit 2: {result.output.strip()}")
            continue
        blocking = [g["name"] for g in json.loads(result.output)["gates"] if not g["passed"]]
        verdict = f"blocking: {', '.join(blocking)}" if blocking else "every gate passes"
        _say(f"labelgate gate check --pred pred-{name}.json … → exit {result.exit_code} ({verdict})")


def release_flow(state: DemoState) -> None:
    assert state.scenario is not None
    settings = state.settings
    assert settings.signing_key_path is not None
    version = state.scenario.passing.version
    ref = f"street@{version}"
    try:
        with state.as_("mia") as ctx:
            actions.release(ctx, state.project_id, "street", version)
    except Conflict as exc:
        _say(f"release before approval refused: {exc.message}")
    with state.as_("cora") as ctx:
        a = actions.sign(ctx, state.project_id, "street", version, secret=SIGNING_SECRET, meaning=Meaning.approval)
        _say(
            f"signed: {a.printed_name} ({a.role}), meaning '{a.meaning}', {a.signed_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"bound to content {a.content_hash[:12]}…"
        )
    with state.as_("mia") as ctx:
        record = actions.release(ctx, state.project_id, "street", version)
    assert record.bundle is not None
    path = write_bundle(record.bundle, settings.workspace / "releases" / f"street-{version}-evidence.json")
    state.bundle_path = path
    check = verify_bundle(
        json.loads(path.read_text()), public_key=load_public_key(settings.signing_key_path.with_suffix(".pub.pem"))
    )
    _say(f"released {ref}: git tag {record.git_tag}; audit head seq {record.audit_head_seq}")
    _say(f"evidence bundle {path}: verified offline against the workspace key: {'OK' if check.ok else check.problems}")
    with state.as_("cora") as ctx:
        gov_html = actions.governance_report(ctx, state.project_id, "street", version)
        trail_html = actions.audit_trail_report(ctx, state.project_id)
    gov = settings.workspace / "reports" / f"street-{version}-governance.html"
    gov.parent.mkdir(parents=True, exist_ok=True)
    gov.write_text(gov_html, encoding="utf-8")
    trail = settings.workspace / "reports" / "audit-trail.html"
    trail.write_text(trail_html, encoding="utf-8")
    _say(f"reports: {gov} (EU AI Act Art. 10) and {trail} (21 CFR Part 11 §11.10(e))")


def autolabel_step(state: DemoState, *, model_cache: Path | None = None) -> None:
    if not inference_available():
        _say(
            "skipped: the `inference` extra (torch, Ultralytics — AGPL-3.0) is not installed: "
            "pip install '.[inference]'"
        )
        return
    from service.demo.autolabel import autolabel_chapter

    autolabel_chapter(state, say=_say, cache_dir=model_cache)


def run_demo(
    workspace: str | None = None, *, serve: bool = True, n_images: int = 60, model_cache: Path | None = None
) -> DemoState:
    """The demo (module docstring). ``model_cache`` (``~/.cache/labelgate``): where the tiny detector is kept."""
    path = Path(workspace or "demo-workspace").resolve()
    _fresh_workspace(path)
    settings = Settings(workspace=path, database_url="")
    _step(1, f"Workspace, identities and roles ({path})")
    state = setup_identity(settings)
    for username, (name, role) in DEMO_USERS.items():
        _say(f"{username:<7} {role.value:<19} {name}")
    _step(2, "Lineage: a schema, a golden set, and three versions labelled by people, imports and detectors")
    build_history(state, n_images=n_images)
    _step(3, "Quality gates on the record (the policy blocks v2, passes v3)")
    run_gates(state)
    _step(4, "The same gate in CI, offline over files (exit 0 pass, 1 blocked)")
    offline_ci_gate(state)
    _step(5, "Release: an e-signed approval, a signed evidence bundle, regulatory reports")
    release_flow(state)
    _step(6, "Auto-labelling with a tiny YOLO trained here: calibrate, run, route to review")
    autolabel_step(state, model_cache=model_cache)
    _step(7, "Which golden set: each policy names its own; a re-check leaves the release's evidence alone")
    which_golden_set(state)
    _step(8, "Beyond boxes: a classification and a segmentation dataset, each blocked, fixed and passed")
    state.tasks = tasks_chapter(state, _say, n_images=max(20, n_images // 2))
    _step(9, "Where labels are made: Label Studio and CVAT work under its real authors; KPIs; what changed")
    tools_chapter(state, _say)
    _step(10, "Models on the record: stored weights, training lineage, a model card, a leakage gate that blocks")
    if inference_available():
        models_chapter(state, _say, _check_on_record)
    else:
        _say("skipped: the `inference` extra is not installed (no tiny detector was trained)")
    _step(11, "What the record proves: a signed checkpoint, the chain, every row, the release; a tamper named")
    integrity_chapter(state, _say)
    _step(12, "Tokens for each demo role")
    for username, token in state.tokens.items():
        _say(f"{username:<7} {token}")
    _say(f"cora's signing secret (for approvals in the dashboard): {SIGNING_SECRET}")
    if serve:
        serve_api_and_dashboard(state)
    out.print(Text.assemble("\n", ("demo finished", "bold green"), f": workspace {path}"))
    return state


def serve_api_and_dashboard(state: DemoState, *, api_port: int = 8000, ui_port: int = 8501) -> None:
    """Start the API and the dashboard on loopback, print their URLs, and wait for Ctrl-C."""
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "LABELGATE_WORKSPACE": str(state.settings.workspace)}
    api = subprocess.Popen(
        [sys.executable, "-m", "service.cli.main", "serve", "--port", str(api_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli.main",
            "dashboard",
            "--port",
            str(ui_port),
            "--api-url",
            f"http://127.0.0.1:{api_port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _step(12, "Serving (Ctrl-C to stop)")
    _say(f"API:       http://127.0.0.1:{api_port}/docs")
    _say(f"dashboard: http://127.0.0.1:{ui_port}  (sign in with a token above)")
    try:
        while api.poll() is None and ui.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in (api, ui):
            p.terminate()
        for p in (api, ui):
            p.wait(timeout=10)
