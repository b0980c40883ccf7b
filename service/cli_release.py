"""``labelgate policy|golden|sign|release|reject|verify-bundle|report`` and the service form of
``labelgate gate check DATASET@VERSION`` (evaluated on the workspace's record)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from lineage import datasets
from lineage.errors import InvalidInput, NotFound
from lineage.gates.records import (
    evaluate_version,
    evaluation_purpose,
    get_policy,
    golden_summary,
    list_golden_sets,
    register_golden_set,
    store_policy,
)
from lineage.identity.accounts import get_user_by_name, set_signing_secret
from lineage.models import GatePolicy
from lineage.openlineage import workspace_emitter
from lineage.release import releases
from lineage.release.approvals import Meaning, sign_version
from lineage.release.bundle import load_private_key, load_public_key, verify_bundle
from lineage.reports.html import audit_trail_report, governance_report
from quality_gates import GateReport
from service.cli_common import EXIT_BLOCKED, err, exits_cleanly, local_actor, out, store
from service.cli_lineage import AsUser, ProjectOpt, _project_id
from service.gate_report import ReportHeader
from service.settings import get_settings

policy_app = typer.Typer(help="Gate policies (versioned YAML).", no_args_is_help=True)
golden_app = typer.Typer(help="Golden sets.", no_args_is_help=True)
report_app = typer.Typer(help="Regulatory reports (HTML).", no_args_is_help=True)


def _read_text(path: Path, option: str) -> str:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field=option)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", field=option) from None


@policy_app.command("store")
@exits_cleanly
def policy_store(file: Path, project: ProjectOpt = None, as_user: AsUser = None) -> None:
    """Validate FILE and store it as the next version of its policy name."""
    text = _read_text(file, "FILE")
    with store() as session:
        record = store_policy(
            session, actor=local_actor(session, as_user), project_id=_project_id(session, project), yaml_text=text
        )
        out.print(f"policy {record.name}@{record.version} (hash {record.policy_hash})")


@golden_app.command("register")
@exits_cleanly
def golden_register(name: str, version_ref: str, project: ProjectOpt = None, as_user: AsUser = None) -> None:
    """Register DATASET@VERSION (of a golden dataset) as the next version of golden set NAME (NAME@1 first);
    a policy binds it with ``golden: NAME@VERSION``."""
    with store() as session:
        pid = _project_id(session, project)
        _, version = datasets.resolve_version(session, project_id=pid, ref=version_ref)
        g = register_golden_set(
            session, actor=local_actor(session, as_user), project_id=pid, name=name, version=version
        )
        out.print(f"golden set {g.name}@{g.version} = {version_ref} (manifest {g.manifest_hash})")


@golden_app.command("list")
@exits_cleanly
def golden_list(project: ProjectOpt = None) -> None:
    """The project's golden sets, NAME@VERSION with the dataset version each names and its size."""
    with store() as session:
        pid = _project_id(session, project)
        for g in list_golden_sets(session, project_id=pid):
            info = golden_summary(session, g)
            out.print(f"{info['ref']}  {info['dataset_version']}  {info['items']} items, {info['labels']} labels")


def _split_target(target: str) -> tuple[str | None, str]:
    """``PROJECT/DATASET@VERSION`` or ``DATASET@VERSION``."""
    project, _, ref = target.rpartition("/")
    return (project or None), ref


def service_check(target: str, policy_file: Path | None, golden: str | None = None) -> tuple[GateReport, ReportHeader]:
    """The service form of ``gate check``: evaluate DATASET@VERSION on the workspace's record under the
    given policy file (stored as a policy version) or the project's newest stored policy, against the golden
    set the policy names or ``golden`` (``NAME@VERSION``); the evaluation is recorded and audited like one
    made through the API (on a released version it is a re-check; the release's evidence stays). Raises
    ``LabelgateError`` types as they are: ``gate check`` maps them like every command (``classify``)."""
    from sqlmodel import col, select

    from service.gate_report import header_from_record, report_from_record

    project, ref = _split_target(target)
    with store() as session:
        pid = _project_id(session, project)
        dataset, version = datasets.resolve_version(session, project_id=pid, ref=ref)
        actor = local_actor(session, None)
        if policy_file is not None:
            record = store_policy(session, actor=actor, project_id=pid, yaml_text=_read_text(policy_file, "--policy"))
        else:
            newest = session.exec(
                select(GatePolicy).where(GatePolicy.project_id == pid).order_by(col(GatePolicy.id).desc())
            ).first()
            if newest is None:
                raise NotFound("the project has no stored policy; pass --policy FILE", field="--policy")
            record = get_policy(session, project_id=pid, ref=f"{newest.name}@{newest.version}")
        outcome = evaluate_version(session, actor=actor, version=version, policy_record=record, golden=golden)
        release = releases.get_release(session, version)
        header = header_from_record(
            outcome.record,
            policy_version=record.version,
            target=datasets.version_ref(dataset, version),
            purpose=evaluation_purpose(outcome.record, release),
            release_evidence_id=release.evaluation_id if release is not None else None,
        )
        return report_from_record(outcome.record, record.name), header


@exits_cleanly
def sign(
    version_ref: str,
    meaning: Annotated[Meaning, typer.Option(help="what the signature attests")] = Meaning.approval,
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the signing secret from stdin")] = False,
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Sign DATASET@VERSION electronically (re-enter your signing secret). Exit 1 when the policy refuses
    the signature (not a candidate, no passed evaluation of its current content, a role that may not
    approve, four-eyes, already signed), 2 for bad input (unknown version or user, wrong secret)."""
    secret = sys.stdin.readline().rstrip("\n") if secret_stdin else typer.prompt("signing secret", hide_input=True)
    with store() as session:
        pid = _project_id(session, project)
        _, version = datasets.resolve_version(session, project_id=pid, ref=version_ref)
        a = sign_version(session, actor=local_actor(session, as_user), version=version, secret=secret, meaning=meaning)
        out.print(f"signed {version_ref}: {a.printed_name}, {a.meaning}, {a.signed_at.isoformat()} UTC")


@exits_cleanly
def set_secret(
    username: str,
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the new secret from stdin")] = False,
    as_user: AsUser = None,
) -> None:
    """Set USERNAME's signing secret (run by an admin on the workspace machine)."""
    secret = (
        sys.stdin.readline().rstrip("\n")
        if secret_stdin
        else typer.prompt("new signing secret", hide_input=True, confirmation_prompt=True)
    )
    with store() as session:
        user = get_user_by_name(session, username)
        # The workspace operator on the local database: no enrolment code or current secret needed.
        set_signing_secret(session, actor=local_actor(session, as_user), user=user, secret=secret, operator=True)
        out.print(f"signing secret set for {username}")


@exits_cleanly
def release(
    version_ref: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the evidence bundle here")] = None,
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Release DATASET@VERSION: passed gates on unchanged data and the policy's approvals are required.
    Exit 1 when refused (not a candidate, already released, no or a failed gate evaluation, data changed
    since, approvals missing), 2 for bad input (unknown version, project or user)."""
    settings = get_settings()
    assert settings.signing_key_path is not None
    key = load_private_key(settings.signing_key_path)
    with store() as session:
        pid = _project_id(session, project)
        _, version = datasets.resolve_version(session, project_id=pid, ref=version_ref)
        record = releases.release(
            session,
            actor=local_actor(session, as_user),
            version=version,
            repo_dir=settings.repo_dir,
            signing_key=key,
            emitter=workspace_emitter(settings.workspace),
        )
    path = output or settings.workspace / "releases" / f"{version_ref.replace('@', '-')}-evidence.json"
    releases.write_bundle_file(record, path)
    out.print(f"released {version_ref} (tag {record.git_tag}); evidence bundle: {path}")


@exits_cleanly
def reject(
    version_ref: str,
    reason: Annotated[str, typer.Option(help="why the version is rejected")],
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Reject DATASET@VERSION with a reason."""
    with store() as session:
        pid = _project_id(session, project)
        _, version = datasets.resolve_version(session, project_id=pid, ref=version_ref)
        releases.reject(session, actor=local_actor(session, as_user), version=version, reason=reason)
        out.print(f"rejected {version_ref}: {reason}")


@exits_cleanly
def verify_bundle_command(
    file: Path,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="the workspace's exported public key (PEM)")
    ] = None,
) -> None:
    """Check an evidence bundle offline; exit 0 when intact, 1 naming every changed field."""
    text = _read_text(file, "FILE")
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{file}:{exc.lineno}: not JSON ({exc.msg})", field="FILE") from None
    check = verify_bundle(bundle, public_key=load_public_key(public_key) if public_key else None)
    if not check.ok:
        for p in check.problems:
            err.print(f"INVALID: {p}")
        raise typer.Exit(EXIT_BLOCKED)
    trust = "the trusted key" if check.trusted_key else "its embedded key (pass --public-key to check its origin)"
    content = bundle["content"]
    out.print(
        f"OK: {content['dataset']['name']}@{content['dataset']['version']} evidence intact, signed by key "
        f"{check.key_id} — verified against {trust}",
    )


@report_app.command("governance")
@exits_cleanly
def report_governance(
    version_ref: str, output: Annotated[Path, typer.Option("--output", "-o")], project: ProjectOpt = None
) -> None:
    """DATASET@VERSION's data-governance report (EU AI Act Art. 10(2)–(3) headings), HTML."""
    with store() as session:
        pid = _project_id(session, project)
        _, version = datasets.resolve_version(session, project_id=pid, ref=version_ref)
        html = governance_report(session, version_id=version.id or 0)
    output.write_text(html, encoding="utf-8")
    out.print(f"wrote {output}")


@report_app.command("audit-trail")
@exits_cleanly
def report_audit_trail(
    output: Annotated[Path, typer.Option("--output", "-o")],
    since: Annotated[datetime | None, typer.Option(help="UTC, inclusive")] = None,
    until: Annotated[datetime | None, typer.Option(help="UTC, exclusive")] = None,
    project: ProjectOpt = None,
) -> None:
    """The audit trail of a period in the form 21 CFR Part 11 §11.10(e) asks for, HTML."""
    with store() as session:
        pid = _project_id(session, project) if project else None
        html = audit_trail_report(
            session,
            since=since.replace(tzinfo=UTC) if since and since.tzinfo is None else since,
            until=until.replace(tzinfo=UTC) if until and until.tzinfo is None else until,
            project_id=pid,
            title=f"project {project}" if project else "whole workspace",
        )
    output.write_text(html, encoding="utf-8")
    out.print(f"wrote {output}")
