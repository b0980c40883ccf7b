"""Release routes: electronic signatures, release and rejection, evidence and reports (signing secrets are
set through ``service.routes.users``)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from lineage.errors import NotFound
from lineage.gates.records import evidence_evaluation
from lineage.models import Approval, GatePolicy, Release
from lineage.release import releases
from lineage.release.approvals import Meaning, approvals_for, sign_version, signing_refusals
from lineage.release.bundle import load_private_key
from lineage.reports.html import audit_trail_report, governance_report
from service.deps import CallerDep, SessionDep, SettingsDep
from service.gate_report import ReportFormat
from service.gate_report import render as render_gate_report
from service.routes.datasets import VERSION, actor_of, emitter_for, visible_version
from service.schemas import IsoDateTime, RowId, SignablePublic
from service.schemas_gates import ApprovalCreate, ApprovalPublic, RejectBody, ReleasePublic
from service.schemas_lineage import VersionPublic
from service.settings import Settings

router = APIRouter(tags=["releases"])

REPORT_KINDS = ("governance.html", "gate-report.json", "gate-report.txt", "gate-report.junit.xml")
GATE_REPORTS: dict[str, tuple[ReportFormat, str]] = {
    "gate-report.json": ("json", "application/json"),
    "gate-report.txt": ("text", "text/plain"),
    "gate-report.junit.xml": ("junit", "application/xml"),
}


@router.get(VERSION + "/approvals", name="list_approvals", response_model=list[ApprovalPublic])
def list_approvals(
    project_id: RowId, dataset: str, version: str, session: SessionDep, caller: CallerDep
) -> list[Approval]:
    _, v = visible_version(session, caller, project_id, dataset, version)
    return approvals_for(session, v)


@router.post(VERSION + "/approvals", name="sign_version", response_model=ApprovalPublic, status_code=201)
def post_approval(
    project_id: RowId, dataset: str, version: str, body: ApprovalCreate, session: SessionDep, caller: CallerDep
) -> Approval:
    """Sign the version (re-authenticating with your signing secret) under the release rules of the policy
    of its latest evaluation. 409, the reason named, unless the version is a candidate whose latest
    evaluation passed on its current content (or for a second signature with the same meaning); 403 for a
    wrong secret, a role the policy does not let approve, or four-eyes (you are an author of the version)."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    return sign_version(session, actor=actor_of(caller), version=v, secret=body.signing_secret, meaning=body.meaning)


@router.get(VERSION + "/signable", name="signable_version", response_model=SignablePublic)
def get_signable(
    project_id: RowId,
    dataset: str,
    version: str,
    session: SessionDep,
    caller: CallerDep,
    meaning: Meaning = Query(Meaning.approval, description="the signature meaning asked about"),
) -> SignablePublic:
    """Whether you may sign the version now with ``meaning`` and, if not, the reason a signature would be
    refused with (the same checks as signing, but the secret); ``meanings`` answers for every meaning."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    answers = signing_refusals(session, actor=actor_of(caller), version=v)
    return SignablePublic(
        meaning=meaning.value,
        can_sign=answers[meaning] is None,
        reason=answers[meaning],
        meanings={m.value: why for m, why in answers.items()},
    )


def _signing_key(settings: Settings):  # type: ignore[no-untyped-def]
    assert settings.signing_key_path is not None
    return load_private_key(settings.signing_key_path)


@router.post(VERSION + "/release", name="release_version", response_model=ReleasePublic, status_code=201)
def post_release(
    project_id: RowId, dataset: str, version: str, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> Release:
    """Release a candidate whose latest evaluation passed on unchanged data, with the approvals it needs."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    return releases.release(
        session,
        actor=actor_of(caller),
        version=v,
        repo_dir=settings.repo_dir,
        signing_key=_signing_key(settings),
        emitter=emitter_for(settings),
    )


@router.post(VERSION + "/reject", name="reject_version", response_model=VersionPublic)
def post_reject(
    project_id: RowId, dataset: str, version: str, body: RejectBody, session: SessionDep, caller: CallerDep
) -> object:
    _, v = visible_version(session, caller, project_id, dataset, version)
    return releases.reject(session, actor=actor_of(caller), version=v, reason=body.reason)


@router.get(VERSION + "/bundle", name="get_evidence_bundle")
def get_bundle(project_id: RowId, dataset: str, version: str, session: SessionDep, caller: CallerDep) -> JSONResponse:
    """The signed evidence bundle of a released version (verify it with `labelgate verify-bundle`)."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    record = releases.get_release(session, v)
    if record is None or record.bundle is None:
        raise NotFound(f"{dataset}@{version} has not been released", field="version")
    headers = {"Content-Disposition": f'attachment; filename="{dataset}-{version}-evidence.json"'}
    return JSONResponse(record.bundle, headers=headers)


@router.get(VERSION + "/reports/{kind}", name="get_version_report")
def get_report(
    project_id: RowId, dataset: str, version: str, kind: str, session: SessionDep, caller: CallerDep
) -> Response:
    """``governance.html`` (EU AI Act Art. 10) or the gate report of the version's evidence (the evaluation
    its release rests on once released, else the latest) as json, txt or junit.xml."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    if kind not in REPORT_KINDS:
        raise NotFound(f"no report {kind!r}; available: {', '.join(REPORT_KINDS)}", field="kind")
    if kind == "governance.html":
        return HTMLResponse(governance_report(session, version_id=v.id or 0))
    evaluation = evidence_evaluation(session, v)
    if evaluation is None:
        raise NotFound("the version has no gate evaluation", field="evaluation")
    from service.gate_report import header_from_record, report_from_record

    fmt, media = GATE_REPORTS[kind]
    policy = session.get(GatePolicy, evaluation.policy_id)
    header = header_from_record(
        evaluation, policy_version=policy.version if policy else None, target=f"{dataset}@{version}"
    )
    body = render_gate_report(report_from_record(evaluation, policy.name if policy else "?"), fmt, header=header)
    return Response(body, media_type=media)


@router.get("/projects/{project_id}/reports/audit-trail.html", name="get_audit_trail_report")
def get_audit_report(
    project_id: RowId,
    session: SessionDep,
    since: IsoDateTime | None = Query(None, description="inclusive, ISO 8601 with a zone"),
    until: IsoDateTime | None = Query(None, description="exclusive, ISO 8601 with a zone"),
) -> HTMLResponse:
    """The project's audit trail in the form 21 CFR Part 11 §11.10(e) asks for."""
    return HTMLResponse(
        audit_trail_report(session, since=since, until=until, project_id=project_id, title=f"project {project_id}")
    )


@router.get("/signing-key", name="get_signing_public_key")
def get_public_key(settings: SettingsDep) -> Response:
    """The workspace's Ed25519 public key (PEM), for auditors verifying bundles offline."""
    assert settings.signing_key_path is not None
    public = settings.signing_key_path.with_suffix(".pub.pem")
    if not public.exists():
        raise NotFound("the workspace has no signing key; run `labelgate init`", field="signing_key")
    return Response(public.read_bytes(), media_type="application/x-pem-file")
