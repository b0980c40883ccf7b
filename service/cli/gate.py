"""``labelgate gate check``: the CI gate, offline over COCO or classification files (no server, no database,
no torch).

    labelgate gate check --policy policy.yaml --gt golden_coco.json --pred predictions_coco_results.json \
        [--annotations alice=alice.json --annotations bob=bob.json] [--parent parent_coco.json] \
        [--sigmas 0.026,0.025,...] [--multi-label] [--classes classes.txt] \
        [--format text|json|junit] [--output report.xml] [--progress | --quiet]

The task comes from ``--gt`` (``service.cli.gate_offline``): COCO annotations with ``keypoints`` are pose
(``--sigmas``: the OKS sigmas, one per point; default the COCO person sigmas for 17 points, any other count
without ``--sigmas`` exits 2), with ``segmentation`` segment (results carry RLE ``segmentation``), else detect;
a classification file (``golden.csv`` with columns ``item,class``, or ``golden.json`` mapping each item to its
class or classes) is classify, single-label unless ``--multi-label``, its classes those of ``--classes`` (one
name a line) or the ones ``--gt`` uses; predictions then carry scores (a ``score`` column, or
``{"item": {"class": score}}``). The policy's ``task`` must match (unset means detect).

and on the record, for a dataset version of the workspace (the service form, registered by ``service.cli.main``):

    labelgate gate check [PROJECT/]DATASET@VERSION [--policy policy.yaml] [--golden NAME@VERSION]

which measures against the golden set the policy names (``golden: NAME@VERSION``) or ``--golden``; a policy
with golden-based gates and neither exits 2 saying how to name one. Offline, ``--gt`` is the golden set
(``service.cli.gate_offline`` reads the files). Every report's headline names the policy (``name@version`` on the
record, the file offline) with its short hash, and the golden set with its version and size (items, labels).

The CI contract. Exit codes (``service.cli.common.classify``, the same for every command): 0 every gate
passes, 1 a gate blocks, 2 bad input (invalid policy, unreadable or invalid JSON, categories that disagree,
predictions for unknown images, NaN/negative scores, empty files, a configured gate without its input, an
unknown version or golden set, an unknown flag or a bad flag value), 3 an internal error (a bug). Every
outcome leaves its report: in ``--output`` when given (any format; written whole or not at all, its folder
created), else on stdout for ``--format json|junit``; on 2 and 3 it is the error report
(``service.gate_report.render_error``: JSON ``status: "error"``, JUnit one ``<error>`` test case), and one
line ``error: ...`` (``internal error: ...``) naming the file, flag or field goes to stderr, never a
traceback. Progress lines (one per phase, with the seconds elapsed) go to stderr only, during offline checks,
when stderr is a terminal or ``--progress`` is given; ``--quiet`` turns them off.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

from service.cli.common import EXIT_BLOCKED, EXIT_OK, EXIT_USAGE, Outcome, classify, err, exits_cleanly, fail
from service.cli.lazy import lazy_module

# The offline check reads files with numpy and the gate code: loaded when a check runs, not for `--help`.
if TYPE_CHECKING:
    from quality_gates.evaluate import Progress
    from quality_gates.verdict import GateReport
    from service import gate_report
    from service.cli.gate_offline import MISSING_INPUT_HINTS, CheckRefused, missing_input_hint, offline_inputs
    from service.cli.gate_offline import offline_check as _offline_check
    from service.gate_report import ReportHeader
else:
    gate_report = lazy_module("service.gate_report")

    def _offline_check(*args: Any, **kwargs: Any) -> Any:
        from service.cli.gate_offline import offline_check

        return offline_check(*args, **kwargs)

    def __getattr__(name: str) -> Any:  # the names this module re-exports from ``gate_offline``
        if name in {"MISSING_INPUT_HINTS", "CheckRefused", "missing_input_hint", "offline_inputs"}:
            from service.cli import gate_offline

            return getattr(gate_offline, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EXIT_BLOCKED",
    "EXIT_INPUT",
    "EXIT_OK",
    "MISSING_INPUT_HINTS",
    "CheckRefused",
    "gate_app",
    "missing_input_hint",
    "offline_inputs",
    "set_service_check",
]

EXIT_INPUT = EXIT_USAGE

gate_app = typer.Typer(
    name="gate",
    help="Quality gates: evaluate a gate policy (offline over COCO files, or a dataset version).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# ---- SERVICE HOOK ---------------------------------------------------------------------------------------------
# The service form `labelgate gate check DATASET@VERSION` is wired here: the service layer registers a function
# (target "DATASET@VERSION", optional policy file, optional golden set "NAME@VERSION") -> (GateReport, its
# ReportHeader) with `set_service_check`, loading the version's labels, golden set, parent and policy from the
# workspace; it raises what it raises (a LabelgateError for bad input), `classify` maps it. Until then the
# offline form is the only one.
ServiceCheck = Callable[[str, Path | None, str | None], "tuple[GateReport, ReportHeader]"]
_service_check: ServiceCheck | None = None


def set_service_check(fn: ServiceCheck | None) -> None:
    """Register (or clear, with None) the function that evaluates ``DATASET@VERSION`` through the service."""
    global _service_check
    _service_check = fn


# ---------------------------------------------------------------------------------------------------------------


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _progress(started: float) -> Progress:
    """Phase lines on stderr with the seconds since the check started, ``gate check [  3.1 s] COCO
    evaluation``: never in a report, never on stdout (where a JSON or JUnit report may be going)."""

    def say(phase: str) -> None:
        typer.echo(f"gate check [{time.monotonic() - started:5.1f} s] {phase}", err=True)

    return say


def _write_whole(path: Path, text: str) -> str | None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed over it), creating its folder;
    returns what went wrong, or None."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return f"{path}: cannot write report: {exc.strerror or exc}"
    return None


class _Report:
    """Where this check's report goes (``--output``, else stdout for json and junit) and what it says, for
    every outcome: a verdict (exit 0 or 1) or an error (``classify``: 1, 2 or 3). A report that cannot be
    written is bad input (exit 2; 3 stays 3)."""

    def __init__(self, fmt: OutputFormat, output: Path | None, *, target: str | None, policy: Path | None) -> None:
        self.fmt, self.output, self.target, self.policy = fmt, output, target, policy
        self.started = time.monotonic()

    def verdict(self, report: GateReport, header: ReportHeader) -> NoReturn:
        code = EXIT_OK if report.passed else EXIT_BLOCKED
        text = gate_report.render(report, self.fmt.value, header=header, elapsed=time.monotonic() - self.started)
        if self.output is None:
            typer.echo(text, nl=False)
            raise typer.Exit(code)
        problem = _write_whole(self.output, text)
        if problem:
            fail("error", problem, EXIT_USAGE)
        typer.echo(f"gate check {'PASSED' if report.passed else 'BLOCKED'}: report written to {self.output}")
        for g in report.blocking:
            typer.echo(f"  BLOCK {g.name}: {g.explanation}")
        raise typer.Exit(code)

    def error(self, outcome: Outcome) -> NoReturn:
        """Write the error report, print the outcome's one line on stderr, exit with its code."""
        text = gate_report.render_error(
            outcome.message,
            self.fmt.value,
            target=self.target,
            exit_code=outcome.code,
            kind=outcome.kind,
            field=outcome.field,
            policy_source=str(self.policy) if self.policy is not None else None,
            elapsed=time.monotonic() - self.started,
        )
        if self.output is None:
            if self.fmt is not OutputFormat.text:
                typer.echo(text, nl=False)
            fail(outcome.label, outcome.message, outcome.code)
        problem = _write_whole(self.output, text)
        if problem:
            err.print(f"error: {problem}")
            fail(outcome.label, outcome.message, max(outcome.code, EXIT_USAGE))
        typer.echo(f"gate check ERROR (exit {outcome.code}): report written to {self.output}")
        fail(outcome.label, outcome.message, outcome.code)


class _CheckCommand(TyperCommand):
    """``gate check`` whose usage errors (an unknown flag, a bad ``--format`` value, a flag without its
    value) still leave the error report a CI job uploads, ``--format`` and ``--output`` read from the raw
    arguments (the format from ``--output``'s suffix, ``.xml`` or ``.json``, when ``--format`` is the bad
    value)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        raw = list(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as exc:
            if getattr(exc, "exit_code", None) == EXIT_USAGE:
                _usage_error_report(raw, exc)
            raise


def _raw_option(args: list[str], name: str) -> str | None:
    """The last value given to option ``name`` (``--name VALUE`` or ``--name=VALUE``) before ``--``."""
    value = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.partition("=")[2]
    return value


def _usage_error_report(args: list[str], exc: typer.TyperException) -> None:
    output = _raw_option(args, "--output")
    suffix = Path(output).suffix if output else ""
    by_suffix = {".xml": OutputFormat.junit, ".json": OutputFormat.json}.get(suffix, OutputFormat.text)
    fmt = next((f for f in OutputFormat if f.value == _raw_option(args, "--format")), by_suffix)
    param = getattr(exc, "param", None)
    field = getattr(exc, "option_name", None) or (param.opts[0] if param is not None and param.opts else None)
    text = gate_report.render_error(exc.format_message(), fmt.value, exit_code=EXIT_USAGE, field=field)
    if output:
        problem = _write_whole(Path(output), text)
        if problem:
            err.print(f"error: {problem}")
    elif fmt is not OutputFormat.text:
        typer.echo(text, nl=False)


@gate_app.callback()
def _gate() -> None:
    """Quality gates."""


@gate_app.command("check", cls=_CheckCommand)
@exits_cleanly
def check(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="DATASET@VERSION", help="the version to check through the service (not available offline)"
        ),
    ] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="gate policy YAML file")] = None,
    gt: Annotated[
        Path | None, typer.Option("--gt", help="golden set: COCO instances JSON, or classification CSV/JSON")
    ] = None,
    pred: Annotated[
        Path | None, typer.Option("--pred", help="model predictions: COCO results JSON, or scored classes")
    ] = None,
    annotations: Annotated[
        list[str] | None, typer.Option("--annotations", help="NAME=coco.json, one annotator's labels; repeatable")
    ] = None,
    parent: Annotated[Path | None, typer.Option("--parent", help="parent version's labels, COCO JSON")] = None,
    sigmas: Annotated[
        str | None, typer.Option("--sigmas", help="pose: OKS sigmas, one per keypoint, comma-separated")
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="classification: an item may have several classes")
    ] = False,
    classes: Annotated[
        Path | None, typer.Option("--classes", help="classification: the class names, one a line")
    ] = None,
    golden: Annotated[
        str | None,
        typer.Option(
            "--golden", help="NAME@VERSION of the golden set for DATASET@VERSION (overrides the policy's `golden`)"
        ),
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="report format")] = OutputFormat.text,
    output: Annotated[
        Path | None, typer.Option("--output", help="write the report to this file, whatever the outcome")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress", help="print a line per phase on stderr (default: when stderr is a terminal)")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress lines")] = False,
) -> None:
    """Evaluate a gate policy; exit 0 when every gate passes, 1 when one blocks, 2 on bad input, 3 on an
    internal error. Every outcome writes its report (to --output, else json and junit to stdout): on 2 and 3
    an error report, so CI keeps an artefact either way."""
    sink = _Report(fmt, output, target=target, policy=policy)
    try:
        if target is not None and gt is None and pred is None:
            if _service_check is None:
                from service.cli.gate_files import CheckRefused as Refused

                raise Refused("service form not available offline; pass --gt/--pred (and --policy)", field=target)
            report, header = _service_check(target, policy, golden)
        else:
            loud = not quiet and (progress or _stderr_is_terminal())
            say = _progress(sink.started) if loud else None
            report, header = _offline_check(
                policy, gt, pred, annotations or [], parent, golden, progress=say,
                sigmas=sigmas, multi_label=multi_label, classes=classes,
            )  # fmt: skip
            if say is not None:
                say("evaluated; writing the report" if output is not None else "evaluated")
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:  # every ending leaves its report; `classify` gives the code, as for every command
        sink.error(classify(exc))
    sink.verdict(report, header)
