"""The bundled study: its cases, the plan that skips finished runs, a small study end to end
and its resumption, and `liqsim study` on bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.analyze import AnalysisConfig
from scenarios.cli import main
from scenarios.study import STUDIES, StudyError, case_scenario, plan_study, run_study

TINY = ("duration_s=900", "agents.retail.count=400", "agents.whale.active_from_s=300")
SMALL = AnalysisConfig(horizon_s=300.0, reversal_s=120.0, warmup_s=300.0,
                       decision_every_s=300.0, n_boot=100)


def test_magnet_vs_sweep_has_the_four_cases():
    cases = {c.name: c for c in STUDIES["magnet_vs_sweep"]}
    assert list(cases) == ["calm", "crowded_longs", "whale_hunt_true", "whale_hunt_estimated"]
    true = case_scenario(cases["whale_hunt_true"], 3)
    est = case_scenario(cases["whale_hunt_estimated"], 3)
    assert (true.name, true.seed, true.agents.whale.heatmap) == ("whale_hunt_true", 3, "true")
    assert (est.name, est.seed, est.agents.whale.heatmap) == ("whale_hunt_estimated", 3,
                                                              "estimated")
    # The two whale cases differ in their name and the map the whale reads, nothing else.
    a, b = true.resolved(), est.resolved()
    assert {k for k in a if a[k] != b[k]} == {"name", "agents"}
    assert {k for k in a["agents"] if a["agents"][k] != b["agents"][k]} == {"whale"}
    assert case_scenario(cases["calm"], 0).agents.whale.count == 0


def fake_run(run_dir, sha: str) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"scenario_sha256": sha}))


def test_plan_skips_finished_runs_and_refuses_runs_of_other_settings(tmp_path):
    jobs = plan_study("magnet_vs_sweep", 2, tmp_path, TINY)
    assert [(j.case, j.seed) for j in jobs][:3] == [("calm", 0), ("calm", 1),
                                                    ("crowded_longs", 0)]
    assert len(jobs) == 8 and all(j.simulate and j.analyze for j in jobs)
    assert jobs[0].run_dir == tmp_path / "runs" / "calm-seed0"
    # A finished run of the same settings is skipped (but still analyzed: it has none).
    fake_run(jobs[0].run_dir, jobs[0].sha256)
    again = plan_study("magnet_vs_sweep", 2, tmp_path, TINY)
    assert (again[0].simulate, again[0].analyze) == (False, True)
    assert all(j.simulate for j in again[1:])
    # Other overrides give another scenario hash: the old run is not silently reused.
    with pytest.raises(StudyError, match="calm-seed0: holds a run of other settings"):
        plan_study("magnet_vs_sweep", 2, tmp_path, (*TINY, "agents.retail.count=300"))
    # Neither a run nor empty: refused.
    (tmp_path / "runs" / "calm-seed1").mkdir()
    (tmp_path / "runs" / "calm-seed1" / "notes.txt").write_text("mine")
    with pytest.raises(StudyError, match="calm-seed1: exists and is not a run directory"):
        plan_study("magnet_vs_sweep", 2, tmp_path, TINY)


def test_unknown_study_is_refused():
    with pytest.raises(StudyError, match="nope: unknown study; bundled studies are: "
                                         "magnet_vs_sweep"):
        plan_study("nope", 1, "unused")


@pytest.mark.slow
def test_a_small_study_runs_and_resumes(tmp_path):
    finished = []
    html, jobs = run_study("magnet_vs_sweep", 1, tmp_path, TINY, SMALL, workers=2,
                           on_job=lambda job, done, total, s: finished.append((job.case, done,
                                                                               total)))
    assert html == tmp_path / "combined" / "report.html"
    assert sorted(c for c, _, _ in finished) == sorted(c.name for c in STUDIES["magnet_vs_sweep"])
    assert {total for _, _, total in finished} == {4}
    runs = pd.read_csv(tmp_path / "combined" / "runs.csv")
    assert sorted(runs["group"]) == sorted(c.name for c in STUDIES["magnet_vs_sweep"])
    summary = pd.read_parquet(tmp_path / "combined" / "summary.parquet")
    assert sorted(summary["run_id"]) == sorted(f"{c.name}-seed0"
                                               for c in STUDIES["magnet_vs_sweep"])
    assert set(summary["status"]) == {"ok"} and "liq_long_count" in summary
    stamps = {j.run_dir: (j.run_dir / "manifest.json").stat().st_mtime_ns for j in jobs}
    study = json.loads((tmp_path / "study.json").read_text())
    assert (study["study"], study["seeds"], study["overrides"]) == ("magnet_vs_sweep", 1,
                                                                    list(TINY))

    # A second seed: only the four new runs are simulated; the first four are left alone.
    finished.clear()
    html, jobs = run_study("magnet_vs_sweep", 2, tmp_path, TINY, SMALL, workers=2,
                           on_job=lambda job, done, total, s: finished.append((job, done,
                                                                               total)))
    assert sorted((j.case, j.seed, j.simulate) for j, _, _ in finished) == sorted(
        (c.name, 1, True) for c in STUDIES["magnet_vs_sweep"])
    for run_dir, stamp in stamps.items():
        assert (run_dir / "manifest.json").stat().st_mtime_ns == stamp
    runs = pd.read_csv(tmp_path / "combined" / "runs.csv")
    assert len(runs) == 8
    summary = pd.read_parquet(tmp_path / "combined" / "summary.parquet")
    assert len(summary) == 8 and set(summary["status"]) == {"ok"}
    assert {g: sorted(s) for g, s in runs.groupby("group")["seed"]} == {
        c.name: [0, 1] for c in STUDIES["magnet_vs_sweep"]}
    page = html.read_text()
    for case in STUDIES["magnet_vs_sweep"]:
        assert f"{case.name}, seed 0: true liquidation map" in page
    # Everything done: a third call runs nothing and rewrites the report.
    finished.clear()
    run_study("magnet_vs_sweep", 2, tmp_path, TINY, SMALL, workers=2,
              on_job=lambda *a: finished.append(a))
    assert finished == []


def test_study_cli_refuses_bad_input_and_writes_nothing(tmp_path):
    out = tmp_path / "study"
    unknown = CliRunner().invoke(main, ["study", "nope", "--out", str(out)])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "nope: unknown study; bundled studies are: magnet_vs_sweep"
    bad = CliRunner().invoke(main, ["study", "magnet_vs_sweep", "--out", str(out),
                                    "--set", "agents.retail.count=-5"])
    assert bad.exit_code == 2
    assert "agents.retail.count" in bad.output and "Traceback" not in bad.output
    assert not out.exists()


def test_failed_runs_are_rows_with_their_errors_and_the_study_says_which(tmp_path, monkeypatch):
    import scenarios.sweep.runs as runs

    def no_market(scenario):
        raise RuntimeError(f"no market for {scenario.name}")

    monkeypatch.setattr(runs, "run", no_market)
    with pytest.raises(StudyError, match="runs failed") as info:
        run_study("magnet_vs_sweep", 1, tmp_path, TINY, SMALL, workers=1)
    for case in STUDIES["magnet_vs_sweep"]:
        run_dir = tmp_path / "runs" / f"{case.name}-seed0"
        assert f"{run_dir}: RuntimeError: no market for {case.name}" in str(info.value)
        assert not (tmp_path / "runs" / f"{case.name}-seed0").exists()
    summary = pd.read_parquet(tmp_path / "combined" / "summary.parquet")
    assert list(summary["status"]) == ["error"] * 4
    assert summary["error"].str.startswith("RuntimeError: no market for ").all()
    # Nothing was simulated, so nothing is left to report on, and a rerun starts clean.
    assert not (tmp_path / "combined" / "report.html").exists()
    assert all(j.simulate for j in plan_study("magnet_vs_sweep", 1, tmp_path, TINY))
