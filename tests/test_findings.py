"""The findings page and the planner report: numbers from the analyses, paper beside them."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tune_seeds.analysis import (
    compute_to_match,
    cut_rank_correlation,
    cut_table,
    evaluate_plan,
    expected_max,
    fixed_plan,
    plan_cost,
)
from tune_seeds.replay.compare import paired_vs_fifo
from tune_seeds.replay.synthetic import synthetic_curves
from tune_seeds.reporting.findings import (
    Sweep,
    findings,
    load_comparison,
    paper,
    render,
)
from tune_seeds.reporting.report import cut_report, format_report, planner_report, sweep_report
from tune_seeds.tables import trials_from_curves

from .test_analysis import _script

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "findings.md"


def as_recorded(curves: pd.DataFrame, task: str = "mrpc") -> pd.DataFrame:
    """Synthetic curves relabelled as one task's, for the renderer's checks only.

    The page refuses synthetic data; these tests check how it renders numbers it is
    given, so the label is dropped here and nowhere else.
    """
    out = curves.drop(columns=["synthetic"]).assign(task=task)
    out.attrs = {}
    return out


@pytest.fixture(scope="module")
def sweep() -> tuple[pd.DataFrame, pd.DataFrame]:
    curves = as_recorded(synthetic_curves(6, 5, seed=4))
    return trials_from_curves(curves), curves


def comparison_dir(tmp_path: Path) -> Path:
    """A compare_schedulers.py output folder with hand-made runs (3 repeats)."""
    runs = pd.DataFrame({
        "repeat": [0, 0, 0, 1, 1, 1, 2, 2, 2],
        "scheduler": ["fifo", "early-discard", "asha"] * 3,
        "started": [4, 10, 10] * 3,
        "milestone": [None, 8, None] * 3,
        "keep": [None, 2, None] * 3,
        "compute": [4.0, 3.9, 6.5, 4.0, 3.9, 7.5, 4.0, 3.9, 5.5],
        "best_score": [0.80, 0.82, 0.80, 0.70, 0.74, 0.69, 0.75, 0.75, 0.78],
        "wall_s": 1.0,
    })
    from tune_seeds.replay.compare import summarize

    tmp_path.mkdir(parents=True, exist_ok=True)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    summarize(runs).to_csv(tmp_path / "summary.csv", index=False)
    (tmp_path / "meta.json").write_text(json.dumps({
        "budget": 4.0, "repeats": 3, "schedulers": ["fifo", "early-discard", "asha"],
        "pilot_share": 0.2, "seed": 0, "resamples": 100, "curves": "results/x",
        "n_curves": 30, "n_evals": 30, "synthetic": False,
    }))
    return tmp_path


PLANNER_KEYS = {"budget", "started", "kept", "cut_after", "cut_share", "cost",
                "expected_best", "se", "no_early_stopping", "gain", "rule_of_thumb"}


def test_planner_report_plans_spend_the_budget_and_match_the_planner(sweep):
    _, curves = sweep
    rows = planner_report(curves, [3, 6], n_resamples=300, seed=1)
    assert [r["budget"] for r in rows] == [3.0, 6.0]
    for r in rows:
        assert set(r) == PLANNER_KEYS
        assert r["cost"] == plan_cost(r["started"], r["cut_after"], r["kept"], 30)
        assert r["cost"] == r["budget"] * 30  # the paper's plans spend the budget exactly
        assert r["cut_share"] == pytest.approx(r["cut_after"] / 30)
        assert r["gain"] == pytest.approx(r["expected_best"] - r["no_early_stopping"])
        # Exact: the expected best of `budget` full runs drawn with replacement, scored
        # after training starts (evaluations 1..30).
        final = curves[curves["eval_index"] > 0].groupby("trial_id")["score"].max()
        assert r["no_early_stopping"] == pytest.approx(expected_max(final, int(r["budget"]))[0])
        t, e, p = fixed_plan(r["budget"], 30)
        rule = r["rule_of_thumb"]
        assert (rule["started"], rule["cut_after"], rule["kept"]) == (t, e, p)
        assert rule["expected_best"] == pytest.approx(
            evaluate_plan(curves, t, e, p, n_resamples=300, seed=1)[0])


def test_planner_report_without_replacement_leaves_out_a_rule_needing_more_trials():
    curves = as_recorded(synthetic_curves(3, 3, seed=0))  # 9 trials; rule at 6 starts 14
    row = planner_report(curves, [6], n_resamples=50, replace=False, exact_budget=False)[0]
    assert row["started"] <= 9 and row["rule_of_thumb"] is None
    assert planner_report(curves, [6], n_resamples=50)[0]["rule_of_thumb"]["started"] == 14


def test_paired_vs_fifo_by_hand(tmp_path):
    cmp = load_comparison(comparison_dir(tmp_path))
    paired = paired_vs_fifo(cmp.runs)
    d = np.array([0.02, 0.04, 0.0])
    assert paired.loc["early-discard", "diff"] == pytest.approx(d.mean())
    assert paired.loc["early-discard", "se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert paired.loc["early-discard", ["wins", "ties", "losses"]].tolist() == [2, 1, 0]
    assert paired.loc["asha", ["wins", "ties", "losses"]].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="no FIFO"):
        paired_vs_fifo(cmp.runs[cmp.runs["scheduler"] != "fifo"])


def as_sweep(trials, curves, source="results/x", spec=None, plan=(4,)) -> Sweep:
    report = sweep_report(trials)
    if plan:
        report["planner"] = planner_report(curves, list(plan), n_resamples=200)
        report["match"] = compute_to_match(curves, plan[0], n_resamples=300).to_dict()
        report["cuts"] = cut_table(curves, plan[0], n_resamples=300).to_dict(orient="records")
    return Sweep(source, report, trials, curves, spec)


SPEC = {"train": {"model": "default", "optimizer": "adamw", "lr": 1e-4, "train_examples": 320,
                  "dev_examples": None, "epochs": 3, "evals_per_epoch": 10,
                  "dropout_seed": "do", "precision": "bf16"}}


def test_findings_page_states_the_four_findings_with_the_reports_numbers(sweep, tmp_path):
    trials, curves = sweep
    s = as_sweep(trials, curves, spec=SPEC)
    report = s.report
    page = render(findings([s], comparisons=[load_comparison(comparison_dir(tmp_path))],
                           commands=["python make-it"]))
    for heading in ("## (a) Expected best", "## (b) Weight initialization",
                    "## (c) Failed runs", "## (d) Early discarding"):
        assert heading in page
    evp10 = next(r for r in report["expected_best"] if r["n"] == 10)
    paper_mrpc10 = paper()["evp"]["mrpc"]["10"]
    assert f"| 10 | {evp10['mean']:.3f} | {evp10['sd']:.3f} | {paper_mrpc10:.3f} |" \
        in squeeze(page)
    v = report["variance"]
    assert f"| overall | {v['overall']:.3f} | 0.061 |" in squeeze(page)
    fails = report["failures"]
    assert f"**{fails['n_failed']} of {fails['n_trials']}** runs failed" in page
    assert "the paper's threshold" in page  # MRPC has one
    assert "| early-discard | 10 | 8 = 27% | 3.90 |" in squeeze(page)
    assert "+0.0200 ± 0.0115 | 2/1/0 |" in squeeze(page)
    plan = report["planner"][0]
    assert (f"| 4 | {plan['started']} | {plan['kept']} | {plan['cut_after']} "
            f"({plan['cut_share']:.0%}) |") in squeeze(page)
    assert "start 24, train 4 fully, stop the rest after 30%: 0.898 -> 0.902" in page
    assert "| learning rate | 0.0001 | 2e-05 |" in squeeze(page)
    assert "| dev examples | all | 408 |" in squeeze(page)
    assert "| precision | bf16 | fp32 |" in squeeze(page)
    assert "python make-it" in page and "`results/x`" in page


def squeeze(page: str) -> str:
    """The page with the padding of table cells removed, to look for rows."""
    import re

    return "\n".join(re.sub(r" *\| *", " | ", line).strip() for line in page.splitlines())


def test_findings_refuse_synthetic_or_mixed_data(sweep):
    trials, curves = sweep
    synthetic = Sweep("s", sweep_report(trials, synthetic=True), trials, curves, None)
    with pytest.raises(ValueError, match="synthetic"):
        findings([synthetic])
    mixed = trials.assign(task=["rte"] * 3 + ["mrpc"] * (len(trials) - 3))
    with pytest.raises(ValueError, match="one task"):
        findings([Sweep("m", sweep_report(mixed, threshold=0.5), mixed, curves, None)])
    s = as_sweep(trials, curves, plan=())
    with pytest.raises(ValueError, match="two sweeps of one task with the same training set"):
        findings([s, s])


def test_two_tasks_and_good_wi_seeds_across_them(sweep):
    trials, curves = sweep
    mrpc = as_sweep(trials, curves, "results/mrpc", plan=())
    other = as_recorded(synthetic_curves(6, 5, seed=8), "sst2")
    sst2 = as_sweep(trials_from_curves(other), other, "results/sst2", plan=())
    numbers = findings([mrpc, sst2])
    assert [t["task"] for t in numbers["tasks"]] == ["mrpc", "sst2"]
    x = numbers["cross_task"][0]
    from tune_seeds.analysis.consistency import seed_consistency

    direct = seed_consistency(mrpc.trials, sst2.trials, "wi_seed")
    assert x["rho"] == pytest.approx(direct.rho) and x["n_seeds"] == 6
    page = render(numbers)
    assert "# Findings on MRPC and SST-2" in page
    assert "## Are good WI seeds good on every task?" in page
    assert f"On MRPC and SST-2 the rank correlation is {direct.rho:.2f}" in page


def test_findings_page_states_the_compute_to_match_and_every_cut(sweep):
    trials, curves = sweep
    s = as_sweep(trials, curves, spec=SPEC)
    page = squeeze(render(findings([s])))
    m = s.report["match"]
    assert (f"spends {m['plan_budget']:.2f} full runs, {m['share']:.0%} of the compute "
            f"(start {m['plan']['started']}, keep {m['plan']['kept']}, cut after "
            f"{m['plan']['cut_after']}") in page
    assert f"could be as little as {m['plan_budget_low']:.2f}" in page
    # Every cut of the 30 intervals has its row, with its rank correlation.
    rho = cut_rank_correlation(curves)["spearman"].round(3).tolist()
    for cut in s.report["cuts"]:
        e = cut["cut_after"]
        assert f"| {e} ({e / 30:.0%}) | {rho[e - 1]:.3f} | {cut['started']}/{cut['kept']} |" \
            in page


def test_report_prints_the_planner_section(sweep):
    trials, curves = sweep
    report = sweep_report(trials)
    report["planner"] = planner_report(curves, [2], n_resamples=100)
    assert "Budget planner" in format_report(report)
    assert "Budget planner" not in format_report(sweep_report(trials))


def test_findings_cli_and_its_errors(sweep, tmp_path, capsys):
    trials, curves = sweep
    results = tmp_path / "results"
    results.mkdir()
    trials.to_parquet(results / "trials.parquet")
    curves.to_parquet(results / "curves.parquet")
    cmp = comparison_dir(tmp_path / "cmp")
    meta = json.loads((cmp / "meta.json").read_text())
    (cmp / "meta.json").write_text(json.dumps({**meta, "curves": str(results)}))
    cli = _script("findings")
    page = tmp_path / "docs" / "findings.md"
    for args, message in [
        (["--contrast", str(tmp_path / "nothing")], "nothing"),
        (["--plan", "0.5"], "at least 1 full run"),
        (["--plan", "5,x"], "comma-separated numbers"),
        (["--compare", str(tmp_path)], "lacks meta.json"),
        (["--compare", str(comparison_dir(tmp_path / "other"))], "not one of the sweeps"),
    ]:
        with pytest.raises(SystemExit) as exc:
            cli.main([str(results), "--out", str(page), *args])
        assert exc.value.code == 2 and message in capsys.readouterr().err
        assert not page.exists()
    argv = [str(results), "--plan", "3", "--resamples", "100", "--compare", str(cmp),
            "--out", str(page)]
    assert cli.main(argv) == 0
    text = page.read_text()
    assert "## (d) Early discarding" in text and "| 3 " in text
    # The page names the commands that regenerate it, the comparison's first.
    assert f"python experiments/compare_schedulers.py --curves {results} --budget 4 " \
        f"--repeats 3 --schedulers fifo,early-discard,asha --pilot-share 0.2 --seed 0 " \
        f"--resamples 100 --out {cmp}" in text
    assert "python experiments/findings.py " + " ".join(argv) in text


def regenerate_command(page: str) -> list[str]:
    """The findings.py arguments written in a findings page's 'Regenerate with' block."""
    block = page.split("Regenerate with:", 1)[1].split("```")[1]
    lines = [ln for ln in block.strip().splitlines()
             if ln.startswith("python experiments/findings.py")]
    assert len(lines) == 1, "the page must name exactly one findings.py command"
    return shlex.split(lines[0])[2:]


def test_committed_findings_page_is_regenerated_by_its_own_command(tmp_path, monkeypatch):
    """docs/findings.md must be exactly what its recorded command writes today."""
    if not PAGE.is_file():
        pytest.skip("no docs/findings.md yet")
    committed = PAGE.read_text()
    argv = regenerate_command(committed)
    out = tmp_path / "findings.md"
    i = argv.index("--out")
    recorded_path = argv[i + 1]
    argv[i + 1] = str(out)
    paths = {str(out): recorded_path}
    if "--cut-figure" in argv:  # drawn beside the copy, so the page links it alike
        j = argv.index("--cut-figure")
        figure = Path(argv[j + 1])
        argv[j + 1] = str(out.parent / figure.relative_to(Path(recorded_path).parent))
        paths[argv[j + 1]] = str(figure)
    monkeypatch.chdir(ROOT)
    assert _script("findings").main(argv) == 0
    page = out.read_text()
    for ours, recorded in paths.items():
        page = page.replace(ours, recorded)
    assert page == committed


def test_contrast_sweeps_sit_beside_the_failed_runs(sweep):
    trials, curves = sweep
    other_curves = as_recorded(synthetic_curves(4, 4, seed=9, fail_rate=0.5))
    other_trials = trials_from_curves(other_curves)
    spec = {"train": {"optimizer": "bert-adam", "lr": 2e-5}}
    contrast = Sweep("results/other", sweep_report(other_trials), other_trials, other_curves,
                     spec)
    page = squeeze(render(findings([as_sweep(trials, curves, plan=())], contrasts=[contrast])))
    fails = contrast.report["failures"]
    assert fails["n_failed"] > 0
    assert (f"| results/other | bert-adam | 2e-05 | 16 | {fails['n_failed']} | "
            f"{fails['rate']:.3f} | {fails['lowest_score']:.3f} | "
            f"{contrast.report['variance']['overall']:.3f} |") in page
    wrong_curves = as_recorded(synthetic_curves(2, 2), "rte")
    wrong_trials = trials_from_curves(wrong_curves)
    wrong = Sweep("x", sweep_report(wrong_trials), wrong_trials, wrong_curves, None)
    with pytest.raises(ValueError, match="needs exactly one main sweep of its task"):
        findings([as_sweep(trials, curves, plan=())], contrasts=[wrong])


def test_cut_rank_correlation_by_hand():
    # Three trials whose order at evaluation 1 is reversed at the end, then kept.
    m = np.array([[0.5, 0.9, 0.9, 0.9], [0.5, 0.8, 0.8, 0.95], [0.5, 0.7, 0.99, 0.99]])
    table = cut_rank_correlation(m)
    assert table["milestone"].tolist() == [1, 2]
    assert table["share"].tolist() == pytest.approx([1 / 3, 2 / 3])
    # best-so-far at 1: 0.9, 0.8, 0.7; final best: 0.9, 0.95, 0.99 -> ranks reversed.
    assert table["spearman"].tolist() == pytest.approx([-1.0, 0.5])
    ties = np.array([[0.5, 0.6, 0.9], [0.5, 0.6, 0.8]])
    assert np.isnan(cut_rank_correlation(ties, [1])["spearman"].iloc[0])
    with pytest.raises(ValueError, match=r"cuts must lie in 1\.\.2"):
        cut_rank_correlation(ties, [0, 3])


def test_cut_report_and_its_words_on_the_page(sweep):
    trials, curves = sweep
    cuts = cut_report(curves)
    assert [c["milestone"] for c in cuts] == [3, 6, 8, 9, 12, 15, 18, 21, 24, 27]
    direct = cut_rank_correlation(curves, [8])["spearman"].iloc[0]
    assert cuts[2]["spearman"] == pytest.approx(direct)
    page = render(findings([as_sweep(trials, curves)]))
    assert f"| 8 (27%) | {direct:.3f} |" in squeeze(page)
    assert f"At 27% of training, near the paper's cut, the rank correlation is {direct:.2f}" \
        in page


def _sized(trials, curves, source, train_examples):
    spec = {"train": {**SPEC["train"], "train_examples": train_examples}}
    return as_sweep(trials, curves, source, spec=spec, plan=())


def test_two_sweeps_of_one_task_on_two_training_sets(sweep):
    trials, curves = sweep
    # The same pairs trained on more data: every score 0.05 higher, so the ranking holds.
    more_curves = curves.assign(score=curves["score"] + 0.05)
    small = _sized(trials, curves, "results/small", 320)
    full = _sized(trials_from_curves(more_curves), more_curves, "results/full", None)
    numbers = findings([full, small])
    assert [t["label"] for t in numbers["tasks"]] == ["MRPC (3,668 examples)",
                                                      "MRPC (320 examples)"]
    assert numbers["cross_task"] == []
    x = numbers["same_seeds"][0]
    assert (x["a"], x["b"]) == ("MRPC (320 examples)", "MRPC (3,668 examples)")
    assert x["n_pairs"] == 30 and x["n_higher"] == 30 and x["complete"]
    assert x["delta"] == pytest.approx(0.05) and x["ci_low"] == pytest.approx(0.05)
    assert x["pairs"]["rho"] == pytest.approx(1.0)
    assert x["shares"][0]["share_wi"] == pytest.approx(x["shares"][1]["share_wi"])
    page = squeeze(render(numbers))
    assert "# Findings on MRPC (3,668 examples) and MRPC (320 examples)" in page
    assert "## The same seeds on two training sets: MRPC (320 examples) and MRPC (3,668" in page
    assert "| pairs higher on MRPC (3,668 examples) | 30 of 30 |" in page
    assert "A pair that is good on MRPC (320 examples) tends to stay good" in page


def test_same_seeds_numbers_against_a_direct_computation(sweep):
    from scipy import stats

    from tune_seeds.analysis.variance import two_way_anova

    trials, curves = sweep
    other_curves = as_recorded(synthetic_curves(6, 5, seed=11))
    other = trials_from_curves(other_curves)
    # The bigger sweep is still running: only its first 20 trials have finished.
    finished = other["trial_id"].isin(other["trial_id"].iloc[:20])
    other = other.assign(status=np.where(finished, "TERMINATED", "RUNNING"))
    a = _sized(trials, curves, "results/a", 320)
    b = _sized(other, other_curves, "results/b", 640)
    x = findings([a, b])["same_seeds"][0]
    done = other[finished]
    merged = trials.merge(done, on=["wi_seed", "do_seed"], suffixes=("_a", "_b"))
    assert x["n_pairs"] == 20 and not x["complete"]
    rho = stats.spearmanr(merged["best_score_a"], merged["best_score_b"]).statistic
    assert x["pairs"]["rho"] == pytest.approx(rho)
    assert x["mean_a"] == pytest.approx(merged["best_score_a"].mean())
    assert x["delta"] == pytest.approx((merged["best_score_b"] - merged["best_score_a"]).mean())
    assert x["n_higher"] == int((merged["best_score_b"] > merged["best_score_a"]).sum())
    by_do = merged.groupby("do_seed")[["best_score_a", "best_score_b"]].mean()
    do_rho = stats.spearmanr(by_do["best_score_a"], by_do["best_score_b"]).statistic
    assert x["do"]["rho"] == pytest.approx(do_rho) and x["do"]["n"] == len(by_do)
    anova = two_way_anova(done)
    assert x["shares"][1]["share_do"] == pytest.approx(anova.loc["do_seed", "share"])


def test_contrast_goes_to_the_sweep_with_its_training_set(sweep):
    trials, curves = sweep
    small = _sized(trials, curves, "results/small", 320)
    full = _sized(trials, curves.assign(score=curves["score"] + 0.01), "results/full", None)
    full = Sweep(full.source, full.report, trials_from_curves(full.curves), full.curves,
                 full.spec)
    contrast = _sized(trials, curves, "results/contrast", 320)
    per = findings([small, full], contrasts=[contrast])["tasks"]
    assert [len(t["failures"]["contrasts"]) for t in per] == [1, 0]
    orphan = _sized(trials, curves, "results/orphan", 100)
    with pytest.raises(ValueError, match="found 0"):
        findings([small, full], contrasts=[orphan])


@pytest.mark.parametrize(("gain", "significant", "failed", "share", "expected"), [
    (0.02, ["WI", "DO"], 1, 0.5, ["yes", "yes", "yes", "yes"]),
    (0.005, ["DO"], 0, 0.9, ["no", "partly", "no", "partly"]),
    (0.01, [], 0, 1.0, ["yes", "no", "no", "no"]),
])
def test_which_findings_hold(gain, significant, failed, share, expected):
    from tune_seeds.reporting.findings import _holds

    t = {"evp": {"gain_1_to_10": gain, "paper_gain_1_to_10": 0.07},
         "variance": {"anova": {"significant": significant, "wi": {"share": 0.3},
                                "do": {"share": 0.4}}},
         "failures": {"n_failed": failed, "n_trials": 100},
         "match": {"share": share, "plan_budget": 10 * share}}
    assert [h["holds"] for h in _holds(t)] == expected
