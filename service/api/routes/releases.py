"""Release routes: electronic signatures, release and rejection, evidence and reports (signing secrets are
set through ``service.api.routes.users``)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from lineage.errors import NotFound
from lineage.models import Approval, Release
from lineage.release.approvals import Meaning
from service import actions
from service.api.deps import ContextDep, SettingsDep
from service.api.routes.datasets import VERSION
from service.api.routes.paging import CutDep
from service.api.schemas.common import IsoDateTime, ProjectRef, SignablePublic
from service.api.schemas.gates import ApprovalCreate, ApprovalPublic, RejectBody, ReleasePublic
from service.api.schemas.lineage import VersionPublic
from service.gate_report import ReportFormat, header_from_record, report_from_record
from service.gate_report import render as render_gate_report

router = APIRouter(tags=["releases"])

REPORT_KINDS = ("governance.html", "gate-report.json", "gate-report.txt", "gate-report.junit.xml")
GATE_REPORTS: dict[str, tuple[ReportFormat, str]] = {
    "gate-report.json": ("json", "application/json"),
    "gate-report.txt": ("text", "text/plain"),
    "gate-report.junit.xml": ("junit", "application/xml"),
}


@router.get(VERSION + "/approvals", name="list_approvals", response_model=list[ApprovalPublic])
def list_approvals(project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep, cut: CutDep) -> list[Approval]:
    return cut(actions.approvals_of(ctx, project_id, dataset, version))


@router.post(VERSION + "/approvals", name="sign_version", response_model=ApprovalPublic, status_code=201)
def post_approval(
    project_id: ProjectRef, dataset: str, version: str, body: ApprovalCreate, ctx: ContextDep
) -> Approval:
    """Sign the version (re-authenticating with your signing secret) under the release rules of the policy
    of its latest evaluation. 409, the reason named, unless the version is a candidate whose latest
    evaluation passed on its current content (or for a second signature with the same meaning); 403 for a
    wrong secret, a role the policy does not let approve, or four-eyes (you are an author of the version)."""
    return actions.sign(ctx, project_id, dataset, version, secret=body.signing_secret, meaning=body.meaning)


@router.get(VERSION + "/signable", name="signable_version", response_model=SignablePublic)
def get_signable(
    project_id: ProjectRef,
    dataset: str,
    version: str,
    ctx: ContextDep,
    meaning: Meaning = Query(Meaning.approval, description="the signature meaning asked about"),
) -> SignablePublic:
    """Whether you may sign the version now with ``meaning`` and, if not, the reason a signature would be
    refused with (the same checks as signing, but the secret); ``meanings`` answers for every meaning."""
    answers = actions.signable(ctx, project_id, dataset, version)
    return SignablePublic(
        meaning=meaning.value,
        can_sign=answers[meaning] is None,
        reason=answers[meaning],
        meanings={m.value: why for m, why in answers.items()},
    )


@router.post(VERSION + "/release", name="release_version", response_model=ReleasePublic, status_code=201)
def post_release(project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep) -> Release:
    """Release a candidate whose latest evaluation passed on unchanged data, with the approvals it needs."""
    return actions.release(ctx, project_id, dataset, version)


@router.post(VERSION + "/reject", name="reject_version", response_model=VersionPublic)
def post_reject(project_id: ProjectRef, dataset: str, version: str, body: RejectBody, ctx: ContextDep) -> object:
    return actions.reject(ctx, project_id, dataset, version, reason=body.reason)


@router.get(VERSION + "/bundle", name="get_evidence_bundle")
def get_bundle(project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep) -> JSONResponse:
    """The signed evidence bundle of a released version (verify it with `labelgate verify-bundle`)."""
    bundle = actions.bundle_of(ctx, project_id, dataset, version)
    headers = {"Content-Disposition": f'attachment; filename="{dataset}-{version}-evidence.json"'}
    return JSONResponse(bundle, headers=headers)


@router.get(VERSION + "/reports/{kind}", name="get_version_report")
def get_report(project_id: ProjectRef, dataset: str, version: str, kind: str, ctx: ContextDep) -> Response:
    """``governance.html`` (EU AI Act Art. 10) or the gate report of the version's evidence (the evaluation
    its release rests on once released, else the latest) as json, txt or junit.xml."""
    if kind not in REPORT_KINDS:
        actions.find_version(ctx, project_id, dataset, version)  # an unknown version is named first
        raise NotFound(f"no report {kind!r}; available: {', '.join(REPORT_KINDS)}", field="kind")
    if kind == "governance.html":
        return HTMLResponse(actions.governance_report(ctx, project_id, dataset, version))
    evaluation, policy = actions.evidence_report(ctx, project_id, dataset, version)
    fmt, media = GATE_REPORTS[kind]
    header = header_from_record(evaluation, policy_version=policy.version, target=f"{dataset}@{version}")
    body = render_gate_report(report_from_record(evaluation, policy.name), fmt, header=header)
    return Response(body, media_type=media)


@router.get("/projects/{project_id}/reports/audit-trail.html", name="get_audit_trail_report")
def get_audit_report(
    project_id: ProjectRef,
    ctx: ContextDep,
    since: IsoDateTime | None = Query(None, description="inclusive, ISO 8601 with a zone"),
    until: IsoDateTime | None = Query(None, description="exclusive, ISO 8601 with a zone"),
) -> HTMLResponse:
    """The project's audit trail in the form 21 CFR Part 11 §11.10(e) asks for."""
    return HTMLResponse(actions.audit_trail_report(ctx, project_id, since=since, until=until))


@router.get("/signing-key", name="get_signing_public_key")
def get_public_key(settings: SettingsDep) -> Response:
    """The workspace's Ed25519 public key (PEM), for auditors verifying bundles offline."""
    assert settings.signing_key_path is not None
    public = settings.signing_key_path.with_suffix(".pub.pem")
    if not public.exists():
        raise NotFound("the workspace has no signing key; run `labelgate init`", field="signing_key")
    return Response(public.read_bytes(), media_type="application/x-pem-file")
