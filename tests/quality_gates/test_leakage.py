"""The training-leakage gate, pure (:mod:`quality_gates.leakage`): its policy syntax, its findings counted by
content hash (each item once), its verdict under the modes, its explanation and evidence (naming models,
dataset versions and counts, never a golden item), the report round trip, and the refusal without inputs.

Hashes are short stand-ins (``g1``: a golden item's content hash; ``x1``: another item's).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from quality_gates import GateInputs, MissingInputError, PolicyError, evaluate, parse_policy, policy_hash
from quality_gates.evidence_leakage import LeakageEvidence
from quality_gates.leakage import LeakageInputs, ModelUse, TrainingData, leakage_findings, leakage_result
from quality_gates.policy import TrainingLeakageGate
from quality_gates.verdict import GateReport

GOLDEN = frozenset({"g1", "g2", "g3", "g4", "g5"})
ITEMS = frozenset({"g1", "g2", "g3", "g4", "g5", "x1", "x2", "x3"})


def policy(modes: str = "{}", *, golden: bool = True) -> str:
    head = "name: leak\n" + ("golden: street-golden@1\n" if golden else "")
    return head + f"gates:\n  training_leakage: {modes}\n"


def gate(**modes: str) -> TrainingLeakageGate:
    return TrainingLeakageGate.model_validate(modes)


def use(model: str, labelled: set[str], *training: TrainingData | None) -> ModelUse:
    return ModelUse(model, frozenset(labelled), None if training == (None,) else tuple(t for t in training if t))


def data(ref: str, role: str, hashes: set[str] | list[str], items: int | None = None) -> TrainingData:
    return TrainingData(ref, "train" if role == "train" else "val", frozenset(hashes), items)


# --- policy ------------------------------------------------------------------------------------------------


def test_policy_defaults_block_golden_and_warn_otherwise_on_every_task() -> None:
    for task in ("detect", "segment", "pose", "classify"):
        p = parse_policy(f"task: {task}\n" + policy())
        g = p.gates.training_leakage
        assert g is not None and (g.golden, g.autolabelled, g.unrecorded) == ("block", "warn", "warn")
        assert p.golden_gates() == ["training_leakage"]


def test_bare_off_in_yaml_is_off_and_a_gate_without_golden_check_needs_no_golden_set() -> None:
    p = parse_policy(policy("{golden: off, autolabelled: block}", golden=False))
    g = p.gates.training_leakage
    assert g is not None and (g.golden, g.autolabelled) == ("off", "block")
    assert p.golden_gates() == []
    # "off" spelled as a string is the same policy (same hash)
    assert policy_hash(p) == policy_hash(parse_policy(policy("{golden: 'off', autolabelled: block}", golden=False)))


@pytest.mark.parametrize(
    ("modes", "says"),
    [
        ("{golden: on}", "'block', 'warn' or 'off'"),
        ("{golden: strict}", "'block', 'warn' or 'off'"),
        ("{golden: off, autolabelled: off, unrecorded: off}", "all off: remove the gate"),
        ("{models: all}", "valid fields: golden, autolabelled, unrecorded"),
    ],
)
def test_policy_refuses_unknown_modes_fields_and_a_gate_that_checks_nothing(modes: str, says: str) -> None:
    with pytest.raises(PolicyError, match=r"gates\.training_leakage") as err:
        parse_policy(policy(modes))
    assert says in str(err.value)


def test_existing_policies_keep_their_hash() -> None:
    # The hash is of the dump without unset gates: a policy that does not configure the new gate is unchanged.
    text = "name: p\ngates:\n  review_coverage: {min: 0.1}\n"
    assert parse_policy(text).model_dump(mode="json", exclude_none=True)["gates"] == {"review_coverage": {"min": 0.1}}


# --- findings ----------------------------------------------------------------------------------------------


def test_no_models_passes_and_says_there_is_nothing_to_check() -> None:
    ev = leakage_findings(LeakageInputs((), ITEMS, GOLDEN), gate())
    result = leakage_result(ev)
    assert (result.passed, result.value, ev.verdict, ev.leaked_golden, ev.models) == (True, 0.0, "pass", 0, ())
    assert "no model labels" in result.explanation


def test_a_leaked_golden_item_blocks_naming_the_model_the_versions_and_the_count() -> None:
    # g2 is in both versions: counted once for the model, once per version.
    detector = use(
        "street-detector@2",
        {"g1", "x1"},
        data("train-data@t1", "train", {"g1", "g2", "x9"}, items=120),
        data("val-data@v1", "val", {"g2", "g3"}),
    )
    ev = leakage_findings(LeakageInputs((detector,), ITEMS, GOLDEN), gate())
    result = leakage_result(ev)
    assert (result.passed, result.value, result.op, result.threshold) == (False, 3.0, "<=", 0.0)
    assert (ev.verdict, ev.golden_items, ev.leaked_golden, ev.leaked_golden_in_version) == ("block", 5, 3, 3)
    (m,) = ev.models
    assert (m.model, m.recorded, m.leaked_golden, m.labelled_items) == ("street-detector@2", True, 3, 2)
    assert [(d.dataset_version, d.role, d.items, d.golden) for d in m.data] == [
        ("train-data@t1", "train", 120, 2),
        ("val-data@v1", "val", 2, 2),
    ]
    text = result.explanation
    assert "model street-detector@2 was trained or validated on 3 of the 5 golden items" in text
    assert "train-data@t1 (train): 2, val-data@v1 (val): 2" in text
    assert "retrain without the golden items" in text
    # g1 is labelled by the model and in its training data: the autolabelled check warns on it
    assert ev.autolabelled_trained == 1 and "warning: model street-detector@2 auto-labelled 1 items" in text


def test_golden_in_warn_mode_passes_with_a_warning_and_off_ignores_it() -> None:
    detector = use("d@1", set(), data("t@1", "train", {"g1", "g4"}))
    warn = leakage_findings(LeakageInputs((detector,), ITEMS, GOLDEN), gate(golden="warn"))
    result = leakage_result(warn)
    assert (result.passed, result.value, warn.verdict, warn.leaked_golden) == (True, 0.0, "warn", 2)
    assert result.explanation.startswith("warning: model d@1 was trained or validated on 2 of the 5 golden items")
    off = leakage_findings(LeakageInputs((detector,), ITEMS, None), gate(golden="off"))
    assert (leakage_result(off).passed, off.verdict, off.leaked_golden, off.golden_items) == (True, "pass", 0, None)
    assert leakage_result(off).explanation.startswith("no leakage")


def test_training_on_items_of_another_version_with_the_same_bytes_counts() -> None:
    # The evaluated version's and the training version's items share content, not names: hashes are all
    # that is compared, so a copy under another path is the same item.
    copied = use("d@1", {"x1"}, data("elsewhere@v9", "train", {"g5", "x1"}))
    ev = leakage_findings(LeakageInputs((copied,), ITEMS, GOLDEN), gate(autolabelled="block"))
    assert (ev.leaked_golden, ev.autolabelled_trained, leakage_result(ev).value) == (1, 1, 2.0)


def test_duplicates_are_counted_once_across_versions_models_and_inputs() -> None:
    # The same hash listed twice, in two versions, and in the data of two models: one leaked item.
    a = use("a@1", ["g1", "g1"], data("t@1", "train", ["g1", "g1"]), data("t@2", "train", ["g1"]))  # type: ignore[arg-type]
    b = use("b@1", {"g1"}, data("t@1", "train", {"g1"}))
    ev = leakage_findings(LeakageInputs((b, a), ITEMS, GOLDEN), gate(autolabelled="block"))
    assert (ev.leaked_golden, ev.autolabelled_trained) == (1, 1)
    assert [m.model for m in ev.models] == ["a@1", "b@1"] and [m.leaked_golden for m in ev.models] == [1, 1]
    assert leakage_result(ev).value == 2.0  # one golden item + one self-labelled item


def test_autolabelled_counts_training_data_only_not_validation_data() -> None:
    m = use("d@1", {"x1", "x2", "x3"}, data("t@1", "train", {"x1", "x2"}), data("v@1", "val", {"x3"}))
    ev = leakage_findings(LeakageInputs((m,), ITEMS, GOLDEN), gate(autolabelled="block"))
    assert (ev.autolabelled_trained, ev.leaked_golden, leakage_result(ev).passed) == (2, 0, False)
    assert [(d.dataset_version, d.labelled) for d in ev.models[0].data] == [("t@1", 2), ("v@1", 1)]
    assert "model d@1 auto-labelled 2 items it was trained on (t@1 (train): 2)" in leakage_result(ev).explanation
    assert "have those items labelled by people" in leakage_result(ev).explanation


def test_a_model_without_recorded_training_data_warns_by_default_and_can_block() -> None:
    unknown = use("old@1", {"x1"}, None)
    ev = leakage_findings(LeakageInputs((unknown,), ITEMS, GOLDEN), gate())
    assert (ev.verdict, ev.unrecorded, leakage_result(ev).passed) == ("warn", ("old@1",), True)
    assert "warning: training data not on the record for old@1" in leakage_result(ev).explanation
    blocked = leakage_result(leakage_findings(LeakageInputs((unknown,), ITEMS, GOLDEN), gate(unrecorded="block")))
    assert (blocked.passed, blocked.value) == (False, 1.0)
    assert "register the models with their training data" in blocked.explanation
    silent = leakage_findings(LeakageInputs((unknown,), ITEMS, GOLDEN), gate(unrecorded="off"))
    assert (silent.verdict, silent.unrecorded) == ("pass", ())


def test_clean_training_data_passes_saying_what_was_checked() -> None:
    m = use("d@1", {"x1"}, data("t@1", "train", {"x9"}), data("v@1", "val", {"x8"}))
    result = leakage_result(leakage_findings(LeakageInputs((m,), ITEMS, GOLDEN), gate(autolabelled="block")))
    assert (result.passed, result.value) == (True, 0.0)
    assert result.explanation == (
        "no leakage: the training data of 1 model (2 dataset versions) holds none of the 5 golden items and "
        "none of the items its models labelled"
    )


def test_the_golden_check_without_golden_hashes_is_a_missing_input() -> None:
    with pytest.raises(MissingInputError, match=r"training_leakage.*golden set's item hashes"):
        leakage_findings(LeakageInputs((), ITEMS, None), gate())


def test_findings_equal_a_brute_force_count_on_random_cases() -> None:
    rng = random.Random(17)
    pool = [f"h{i}" for i in range(40)]
    for _ in range(200):
        golden = set(rng.sample(pool, rng.randint(0, 10)))
        items = set(rng.sample(pool, rng.randint(0, 30)))
        models = []
        for k in range(rng.randint(0, 3)):
            labelled = set(rng.sample(sorted(items), rng.randint(0, len(items))))
            trainings = [
                data(f"t@{k}{j}", rng.choice(["train", "val"]), set(rng.sample(pool, rng.randint(0, 15))))
                for j in range(rng.randint(0, 3))
            ]
            models.append(use(f"m{k}@1", labelled, *trainings))
        modes = {c: rng.choice(["block", "warn"]) for c in ("golden", "autolabelled")}
        ev = leakage_findings(
            LeakageInputs(tuple(models), frozenset(items), frozenset(golden)), gate(**modes, unrecorded="off")
        )
        leaked = {h for m in models for t in m.training or () for h in t.hashes if h in golden}
        selfish = {
            h for m in models for t in m.training or () if t.role == "train" for h in t.hashes if h in m.labelled
        }
        assert (ev.leaked_golden, ev.autolabelled_trained) == (len(leaked), len(selfish))
        assert ev.leaked_golden_in_version == len(leaked & items)
        blocking = len(leaked) * (modes["golden"] == "block") + len(selfish) * (modes["autolabelled"] == "block")
        result = leakage_result(ev)
        assert (result.value, result.passed) == (float(blocking), blocking == 0)
        assert ev.verdict == ("block" if blocking else "warn" if leaked or selfish else "pass")


# --- the report ----------------------------------------------------------------------------------------------


def _inputs(leakage: LeakageInputs | None) -> GateInputs:
    return GateInputs(class_names=["car"], leakage=leakage)


def test_evaluate_reports_the_gate_and_its_evidence_round_trips_without_golden_hashes() -> None:
    golden = frozenset(f"{i:064x}" for i in range(5))
    m = use("d@1", {"f" * 64}, data("t@1", "train", set(golden) | {"f" * 64}))
    p = parse_policy(policy("{autolabelled: block}"))
    report = evaluate(p, _inputs(LeakageInputs((m,), golden | {"f" * 64}, golden)))
    result = report.result("training_leakage")
    assert result is not None and not report.passed and result.value == 6.0
    assert isinstance(result.evidence, LeakageEvidence)
    as_dict = report.to_dict()
    assert GateReport.from_dict(json.loads(json.dumps(as_dict))) == report
    text = json.dumps(as_dict)
    assert not any(h in text for h in golden)
    gate_dict = as_dict["gates"][0]
    assert gate_dict["metric"] == "blocking_leaks" and gate_dict["evidence"]["verdict"] == "block"
    assert gate_dict["evidence"]["models"][0]["data"] == [
        {"dataset_version": "t@1", "role": "train", "items": 6, "golden": 5, "labelled": 1}
    ]


def test_a_warning_round_trips_and_a_tampered_verdict_is_refused() -> None:
    m = use("d@1", set(), data("t@1", "val", {"g1"}))
    report = evaluate(parse_policy(policy("{golden: warn}")), _inputs(LeakageInputs((m,), ITEMS, GOLDEN)))
    assert report.passed
    as_dict = report.to_dict()
    assert as_dict["gates"][0]["evidence"]["verdict"] == "warn"
    assert GateReport.from_dict(as_dict) == report
    as_dict["gates"][0]["evidence"]["verdict"] = "fine"
    with pytest.raises(ValueError, match=r"gates\[0\]\.evidence\.verdict"):
        GateReport.from_dict(as_dict)


def test_a_warning_reads_as_warn_in_the_text_report_and_the_dashboard_tables() -> None:
    from dashboard.readable import readable_gate_rows
    from dashboard.tables import gate_rows
    from service.gate_report import render_text

    m = use("d@1", set(), data("t@1", "val", {"g1"}))
    for modes, word in (("{golden: warn}", "WARN"), ("{golden: block}", "BLOCK")):
        report = evaluate(parse_policy(policy(modes)), _inputs(LeakageInputs((m,), ITEMS, GOLDEN)))
        assert f"  {word:5} training_leakage: " in render_text(report)
        gates = report.to_dict()["gates"]
        assert readable_gate_rows(gates)[0]["verdict"] == gate_rows(gates)[0]["verdict"] == word
        assert readable_gate_rows(gates)[0]["value"] == ("0" if word == "WARN" else "1")


def test_every_task_evaluates_the_gate() -> None:
    m = use("tagger@1", {"x1"}, data("t@1", "train", {"g1", "x1"}))
    for task in ("segment", "classify"):
        p = parse_policy(f"task: {task}\n" + policy())
        report = evaluate(p, GateInputs(class_names=["cat"], task=task, leakage=LeakageInputs((m,), ITEMS, GOLDEN)))
        result = report.result("training_leakage")
        assert result is not None and (result.passed, result.value) == (False, 1.0)
        assert GateReport.from_dict(report.to_dict()) == report


def test_the_offline_check_refuses_the_gate_naming_where_it_runs(demo_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from service.cli.gate import gate_app

    policy_file = tmp_path / "leak.yaml"
    policy_file.write_text(policy("{golden: block}"))
    res = CliRunner().invoke(gate_app, ["check", "--policy", str(policy_file), "--gt", str(demo_dir / "golden.json"),
                                        "--pred", str(demo_dir / "good.json")])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "gate 'training_leakage' is configured but its input is missing" in res.stderr
    assert "training_leakage runs on the record only" in res.stderr


def test_without_training_data_the_gate_is_refused_never_passed() -> None:
    # Offline (files) nothing says what a model was trained on: a missing input, with the offline hint.
    from service.cli.gate_offline import missing_input_hint

    with pytest.raises(MissingInputError, match="training_leakage") as err:
        evaluate(parse_policy(policy()), _inputs(None))
    assert "on the record only" in missing_input_hint(err.value)
    with pytest.raises(MissingInputError, match="golden set's item hashes"):
        evaluate(parse_policy(policy()), _inputs(LeakageInputs((), ITEMS, None)))
