"""``labelgate policy|golden|sign|release|reject|verify-bundle|report`` and the service form of
``labelgate gate check DATASET@VERSION`` (evaluated on the workspace's record)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lineage.errors import InvalidInput, NotFound
from service.cli.choices import Meaning
from service.cli.common import EXIT_BLOCKED, err, exits_cleanly, out
from service.cli.door import local, remote
from service.cli.lazy import lazy_module
from service.cli.lineage import ProjectOpt
from service.cli.table import print_table

if TYPE_CHECKING:
    from lineage.release import bundle as bundle_io
    from lineage.release import four_eyes
    from quality_gates import GateReport
    from service import actions, gate_report
    from service import settings as app_settings
    from service.api.schemas import gates as pub
else:
    app_settings = lazy_module("service.settings")
    gate_report = lazy_module("service.gate_report")
    actions = lazy_module("service.actions")
    bundle_io = lazy_module("lineage.release.bundle")
    four_eyes = lazy_module("lineage.release.four_eyes")
    pub = lazy_module("service.api.schemas.gates")


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
def policy_store(file: Path, project: ProjectOpt = None) -> None:
    """Validate FILE and store it as the next version of its policy name."""
    text = _read_text(file, "FILE")
    with remote() as api:
        if api is not None:
            path = f"/projects/{api.project_id(project)}/policies"
            record = api.model(pub.PolicyPublic, "POST", path, json={"yaml": text})
        else:
            with local() as ctx:
                stored = actions.store_policy(ctx, actions.find_project(ctx, project), yaml_text=text)
                record = pub.PolicyPublic.model_validate(stored)
    out.print(f"policy {record.name}@{record.version} (hash {record.policy_hash})")


@golden_app.command("register")
@exits_cleanly
def golden_register(
    name: str, version_ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")], project: ProjectOpt = None
) -> None:
    """Register DATASET@VERSION (of a golden dataset) as the next version of golden set NAME (NAME@1 first);
    a policy binds it with ``golden: NAME@VERSION``."""
    dataset, version = actions.split_ref(version_ref)
    with remote() as api:
        if api is not None:
            body = {"name": name, "dataset": dataset, "version": version}
            g = api.model(pub.GoldenSetPublic, "POST", f"/projects/{api.project_id(project)}/golden-sets", json=body)
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                registered = actions.register_golden(ctx, pid, name=name, dataset=dataset, version=version)
                g = pub.GoldenSetPublic.model_validate(registered)
    out.print(f"golden set {g.name}@{g.version} = {version_ref} (manifest {g.manifest_hash})")


@golden_app.command("seed")
@exits_cleanly
def golden_seed(
    name: str,
    version_ref: Annotated[str, typer.Option("--from", help="DATASET@VERSION holding the tool's ground truth")],
    golden_dataset: Annotated[
        str | None, typer.Option("--golden-dataset", help="golden dataset to add a version to (default DATASET-golden)")
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Seed golden set NAME from the ground truth marked in a labelling tool (Label Studio's ground-truth
    annotations imported into DATASET@VERSION): a new version of the golden dataset with those items and labels."""
    dataset, version = actions.split_ref(version_ref)
    body = {"name": name, "dataset": dataset, "version": version, "golden_dataset": golden_dataset}
    with remote() as api:
        if api is not None:
            path = f"/projects/{api.project_id(project)}/golden-sets/seed"
            g = api.model(pub.GoldenSetPublic, "POST", path, json=body)
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                seeded = actions.seed_golden(
                    ctx, pid, name=name, dataset=dataset, version=version, golden_dataset=golden_dataset
                )
                g = pub.GoldenSetPublic.model_validate(seeded)
    out.print(f"golden set {g.name}@{g.version} = {g.dataset_version} ({g.items} items, {g.labels} labels)")


@golden_app.command("list")
@exits_cleanly
def golden_list(project: ProjectOpt = None) -> None:
    """The project's golden sets, NAME@VERSION with the dataset version each names and its size."""
    with remote() as api:
        if api is not None:
            found = [
                pub.GoldenSetPublic.model_validate(g)
                for g in api.get(f"/projects/{api.project_id(project)}/golden-sets")
            ]
        else:
            with local() as ctx:
                found = [
                    pub.GoldenSetPublic.model_validate(g)
                    for g in actions.golden_sets(ctx, actions.find_project(ctx, project))
                ]
    print_table(
        ("GOLDEN SET", "DATASET@VERSION", "ITEMS", "LABELS"),
        [(f"{g.name}@{g.version}", g.dataset_version or f"#{g.dataset_version_id}", g.items, g.labels) for g in found],
        empty="no golden sets",
    )


def write_bundle(bundle: dict[str, Any], path: Path) -> Path:
    """Write an evidence bundle as a file, atomically (written beside, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(bundle, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _split_target(target: str) -> tuple[str | None, str]:
    """``PROJECT/DATASET@VERSION`` or ``DATASET@VERSION``."""
    project, _, ref = target.rpartition("/")
    return (project or None), ref


def service_check(
    target: str, policy_file: Path | None, golden: str | None = None
) -> tuple[GateReport, gate_report.ReportHeader]:
    """The service form of ``gate check``: evaluate DATASET@VERSION on the record (the workspace's, or the
    server's) under the given policy file (stored as a policy version) or the project's newest stored
    policy, against the golden set the policy names or ``golden`` (``NAME@VERSION``); the evaluation is
    recorded and audited (on a released version it is a re-check; the release's evidence stays). Raises
    ``LabelgateError`` types as they are: ``gate check`` maps them like every command (``classify``)."""
    project, ref = _split_target(target)
    dataset, version = actions.split_ref(ref)
    text = _read_text(policy_file, "--policy") if policy_file is not None else None
    with remote() as api:
        if api is not None:
            pid = api.project_id(project)
            if text is not None:
                policy = api.model(pub.PolicyPublic, "POST", f"/projects/{pid}/policies", json={"yaml": text})
            else:
                stored = [pub.PolicyPublic.model_validate(p) for p in api.get(f"/projects/{pid}/policies")]
                if not stored:
                    raise NotFound("the project has no stored policy; pass --policy FILE", field="--policy")
                policy = max(stored, key=lambda p: p.id)
            body = {"policy": f"{policy.name}@{policy.version}", "golden": golden}
            evaluation = api.model(
                pub.EvaluationPublic, "POST", api.version_path(pid, dataset, version) + "/evaluations", json=body
            )
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                record = (
                    actions.store_policy(ctx, pid, yaml_text=text)
                    if text is not None
                    else actions.newest_policy(ctx, pid)
                )
                view = actions.evaluate(
                    ctx, pid, dataset, version, policy=f"{record.name}@{record.version}", golden=golden
                )
                evaluation = pub.evaluation_public(view)
    return gate_report.report_from_public(evaluation)


@exits_cleanly
def sign(
    version_ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    meaning: Annotated[Meaning, typer.Option(help="what the signature attests")] = Meaning.approval,
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the signing secret from stdin")] = False,
    project: ProjectOpt = None,
) -> None:
    """Sign DATASET@VERSION electronically as the token's user (re-enter your signing secret). Exit 1 when
    the policy refuses the signature (not a candidate, no passed evaluation of its current content, a role
    that may not approve, four-eyes, already signed), 2 for bad input (unknown version, wrong secret)."""
    secret = sys.stdin.readline().rstrip("\n") if secret_stdin else typer.prompt("signing secret", hide_input=True)
    dataset, version = actions.split_ref(version_ref)
    with remote() as api:
        if api is not None:
            path = api.version_path(api.project_id(project), dataset, version) + "/approvals"
            a = api.model(pub.ApprovalPublic, "POST", path, json={"signing_secret": secret, "meaning": meaning.value})
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                a = pub.ApprovalPublic.model_validate(
                    actions.sign(ctx, pid, dataset, version, secret=secret, meaning=four_eyes.Meaning(meaning.value))
                )
    out.print(f"signed {version_ref}: {a.printed_name}, {a.meaning}, {a.signed_at.isoformat()} UTC")


@exits_cleanly
def set_secret(
    username: str,
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the new secret from stdin")] = False,
) -> None:
    """Set USERNAME's signing secret as the workspace's operator (on the workspace's machine only)."""
    secret = (
        sys.stdin.readline().rstrip("\n")
        if secret_stdin
        else typer.prompt("new signing secret", hide_input=True, confirmation_prompt=True)
    )
    with remote() as api:
        if api is not None:
            raise InvalidInput(
                "set-secret runs on the workspace's machine; remotely, use an enrolment code "
                "(`labelgate user enrol-code`) and the API's signing-secret endpoint",
                field="--server",
            )
    with local() as ctx:
        actions.set_secret_as_operator(ctx, username=username, secret=secret)
    out.print(f"signing secret set for {username}")


@exits_cleanly
def release(
    version_ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the evidence bundle here")] = None,
    project: ProjectOpt = None,
) -> None:
    """Release DATASET@VERSION: passed gates on unchanged data and the policy's approvals are required.
    Exit 1 when refused (not a candidate, already released, no or a failed gate evaluation, data changed
    since, approvals missing), 2 for bad input (unknown version or project)."""
    dataset, version = actions.split_ref(version_ref)
    with remote() as api:
        if api is not None:
            path = api.version_path(api.project_id(project), dataset, version)
            record = api.model(pub.ReleasePublic, "POST", path + "/release")
            bundle = api.get(path + "/bundle")
            folder = Path.cwd()
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                released = actions.release(ctx, pid, dataset, version)
                record, bundle = pub.ReleasePublic.model_validate(released), released.bundle
            folder = app_settings.get_settings().workspace / "releases"
    target = output or folder / f"{dataset}-{version}-evidence.json"
    write_bundle(bundle, target)
    out.print(f"released {version_ref} (tag {record.git_tag}); evidence bundle: {target}")


@exits_cleanly
def reject(
    version_ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    reason: Annotated[str, typer.Option(help="why the version is rejected")],
    project: ProjectOpt = None,
) -> None:
    """Reject DATASET@VERSION with a reason."""
    dataset, version = actions.split_ref(version_ref)
    with remote() as api:
        if api is not None:
            path = api.version_path(api.project_id(project), dataset, version) + "/reject"
            api.post(path, json={"reason": reason})
        else:
            with local() as ctx:
                actions.reject(ctx, actions.find_project(ctx, project), dataset, version, reason=reason)
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
    check = bundle_io.verify_bundle(bundle, public_key=bundle_io.load_public_key(public_key) if public_key else None)
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
    version_ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    output: Annotated[Path, typer.Option("--output", "-o")],
    project: ProjectOpt = None,
) -> None:
    """DATASET@VERSION's data-governance report (EU AI Act Art. 10(2)–(3) headings), HTML."""
    dataset, version = actions.split_ref(version_ref)
    with remote() as api:
        if api is not None:
            path = api.version_path(api.project_id(project), dataset, version) + "/reports/governance.html"
            html = api.request("GET", path).text
        else:
            with local() as ctx:
                html = actions.governance_report(ctx, actions.find_project(ctx, project), dataset, version)
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
    """The audit trail of a period in the form 21 CFR Part 11 §11.10(e) asks for, HTML (one project's with
    --project, else the whole workspace's: an admin's reading, on the workspace's machine)."""
    since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=UTC) if until and until.tzinfo is None else until
    with remote() as api:
        if api is not None:
            if project is None:
                raise InvalidInput("against a server, name the project whose audit trail to report", field="--project")
            params = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
            path = f"/projects/{api.project_id(project)}/reports/audit-trail.html"
            html = api.request("GET", path, params=params).text
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project) if project else None
                html = actions.audit_trail_report(ctx, pid, since=since, until=until)
    output.write_text(html, encoding="utf-8")
    out.print(f"wrote {output}")
