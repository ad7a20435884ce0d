"""`liqsim sweep`: the sweep block and its expansion, seeds on common random numbers, the
serial / process-pool / Dask backends giving the same rows, kill and resume, failed runs as
rows, shards and the dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scenarios.cli import main
from scenarios.schema import ScenarioError, SweepRange, load_scenario, load_sweep_points
from scenarios.sweep import (
    SweepError,
    executor,
    make_backend,
    parse_shard,
    plan_sweep,
    replicate_seed,
    run_sweep,
)
from scenarios.sweep.executor import DaskBackend, ProcessBackend, SerialBackend, Task

# A market of two simulated minutes: big enough to trade and record, small enough that a run
# takes a fraction of a second.
TINY = """\
name: tiny
description: two simulated minutes of a small market
duration_s: 120
agents:
  retail: {count: 300}
outputs: {heatmap_range_pct: 0.1}
"""
TWO_BY_TWO = """\
sweep:
  replicates: 2
  seed: 5
  params:
    agents.retail.long_bias: [0.3, 0.7]
"""


def sweep_file(tmp_path: Path, block: str = TWO_BY_TWO, base: str = TINY,
               name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(base + block, encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, ["sweep", *args])


def summary_without_wall_time(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "combined" / "summary.parquet").drop(columns="wall_s")


# ---------------------------------------------------------------------------------------------
# The block and its points
# ---------------------------------------------------------------------------------------------


def test_grid_takes_every_combination_with_the_last_key_varying_fastest(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  params:
    agents.retail.count: [100, 200]
    exchange.liquidation_trigger: [mark, last]
""")
    base, scenarios = load_sweep_points(path)
    assert base.sweep.points() == [
        {"agents.retail.count": 100, "exchange.liquidation_trigger": "mark"},
        {"agents.retail.count": 100, "exchange.liquidation_trigger": "last"},
        {"agents.retail.count": 200, "exchange.liquidation_trigger": "mark"},
        {"agents.retail.count": 200, "exchange.liquidation_trigger": "last"}]
    assert [(s.agents.retail.count, s.exchange.liquidation_trigger) for s in scenarios] == [
        (100, "mark"), (100, "last"), (200, "mark"), (200, "last")]
    assert all(s.sweep is None for s in scenarios)


def test_zip_pairs_the_ith_value_of_every_key(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  method: zip
  params:
    agents.retail.count: [100, 200, 300]
    agents.retail.long_bias: [0.2, 0.5, 0.8]
""")
    _, scenarios = load_sweep_points(path)
    assert [(s.agents.retail.count, s.agents.retail.long_bias) for s in scenarios] == [
        (100, 0.2), (200, 0.5), (300, 0.8)]


def test_a_range_includes_its_stop_and_decimal_steps_do_not_drift():
    tenths = SweepRange(start=0.0, stop=1.0, step=0.1).values()
    assert len(tenths) == 11
    # Added as floats, 0.1 three times is 0.30000000000000004; the range gives 0.3.
    assert tenths[3] == 0.3 and tenths[7] == 0.7 and tenths[-1] == 1.0
    assert SweepRange(start=1, stop=10, step=3).values() == (1, 4, 7, 10)
    assert all(isinstance(v, int) for v in SweepRange(start=1, stop=10, step=3).values())
    # A stop between two steps is not reached: 0, 0.3, 0.6, 0.9.
    assert SweepRange(start=0, stop=1, step=0.3).values() == (0.0, 0.3, 0.6, 0.9)


def test_a_range_in_the_file_expands_into_points(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  params:
    agents.retail.long_bias: {start: 0.1, stop: 0.3, step: 0.1}
""")
    _, scenarios = load_sweep_points(path)
    assert [s.agents.retail.long_bias for s in scenarios] == [0.1, 0.2, 0.3]


def test_a_whole_mapping_is_one_value(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  params:
    agents.retail.leverage_mix:
      - {5: 0.5, 10: 0.3, 25: 0.2}
      - {25: 0.4, 50: 0.3, 100: 0.3}
""")
    _, scenarios = load_sweep_points(path)
    assert [s.agents.retail.leverage_mix for s in scenarios] == [
        {5.0: 0.5, 10.0: 0.3, 25.0: 0.2}, {25.0: 0.4, 50.0: 0.3, 100.0: 0.3}]


def test_the_sweep_block_is_no_part_of_the_scenarios_hash(tmp_path):
    with_block = load_scenario(sweep_file(tmp_path))
    without = load_scenario(sweep_file(tmp_path, block="", name="plain.yaml"))
    assert with_block.sweep is not None and without.sweep is None
    assert with_block.sha256() == without.sha256()
    assert "sweep" not in with_block.resolved()


def test_bad_blocks_name_the_key_path(tmp_path):
    cases = {
        "zip": ("sweep:\n  method: zip\n  params:\n    agents.retail.count: [1, 2, 3]\n"
                "    agents.retail.long_bias: [0.2, 0.5]\n",
                "sweep.params: method zip pairs the i-th values of every key, so every key "
                "needs as many values: agents.retail.count has 3, agents.retail.long_bias "
                "has 2"),
        "empty": ("sweep:\n  params:\n    agents.retail.count: []\n",
                  "sweep.params.agents.retail.count: got []: expected at least one value"),
        "seed": ("sweep:\n  params:\n    seed: [1, 2]\n", "sweep.params.seed: the sweep sets "
                                                         "every run's seed"),
        "range": ("sweep:\n  params:\n    duration_s: {start: 60, stop: 120}\n",
                  "sweep.params.duration_s.step: missing; a range needs start, stop and step"),
        "method": ("sweep:\n  metod: zip\n", "sweep.metod: unknown key; did you mean method?"),
    }
    for name, (block, expected) in cases.items():
        with pytest.raises(ScenarioError) as info:
            load_sweep_points(sweep_file(tmp_path, block, name=f"{name}.yaml"))
        assert any(expected in line for line in info.value.problems), (name, info.value)


def test_a_point_that_fails_validation_is_named_by_its_index(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  params:
    agents.retail.count: [300, 400, -5]
""")
    with pytest.raises(ScenarioError) as info:
        load_sweep_points(path)
    (line,) = info.value.problems
    assert line.startswith(f"{path}: sweep point 2: agents.retail.count: got -5: ")
    assert line.endswith("(set by sweep.params)")


def test_an_unknown_key_path_is_reported_once_for_every_point(tmp_path):
    path = sweep_file(tmp_path, "sweep:\n  params:\n    agents.retail.cont: [1, 2]\n")
    with pytest.raises(ScenarioError) as info:
        load_sweep_points(path)
    (line,) = info.value.problems
    assert line.startswith(f"{path}: sweep points 0, 1: agents.retail.cont: unknown key; "
                           f"did you mean count?")


def test_the_cli_refuses_a_bad_point_with_exit_2_and_writes_nothing(tmp_path):
    path = sweep_file(tmp_path, "sweep:\n  params:\n    agents.retail.count: [300, -5]\n")
    out = tmp_path / "out"
    result = invoke(str(path), "--out", str(out))
    assert result.exit_code == 2
    assert "sweep point 1: agents.retail.count: got -5" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_scenario_without_a_sweep_block_is_refused_unless_set_gives_one(tmp_path):
    plain = sweep_file(tmp_path, block="", name="plain.yaml")
    result = invoke(str(plain), "--out", str(tmp_path / "out"), "--dry-run")
    assert result.exit_code == 2 and "has no sweep: block" in result.output
    plan = plan_sweep(plain, ["sweep.replicates=3"], tmp_path / "out")
    assert (len(plan.points), len(plan.runs)) == (1, 3)


# ---------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------


def test_replicate_seed_is_the_spawned_seed_sequences_first_word():
    word = np.random.SeedSequence(5, spawn_key=(1,)).generate_state(1, np.uint64)[0]
    assert replicate_seed(5, 1) == int(word) >> 1
    assert 0 <= replicate_seed(2**63 - 1, 10**6) < 2**63


def test_replicate_r_has_one_seed_at_every_point_and_replicates_differ(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  replicates: 3
  seed: 11
  params:
    agents.retail.count: [100, 200]
    exchange.liquidation_trigger: [mark, last]
""")
    plan = plan_sweep(path, out_dir=tmp_path / "out")
    seeds = {(run.point, run.replicate): run.seed for run in plan.runs}
    for replicate in range(3):
        assert {seeds[p, replicate] for p in range(4)} == {replicate_seed(11, replicate)}
    assert len({seeds[0, r] for r in range(3)}) == 3
    assert all(run.scenario.seed == run.seed for run in plan.runs)


# ---------------------------------------------------------------------------------------------
# Running: backends, failures, resume, shards
# ---------------------------------------------------------------------------------------------


def test_make_backend_picks_the_backend_asked_for():
    assert isinstance(make_backend("process", 1), SerialBackend)
    assert isinstance(make_backend("process", 2), ProcessBackend)
    with pytest.raises(Exception, match="--scheduler needs --backend dask"):
        make_backend("process", 2, "local")


def test_serial_process_pool_and_dask_give_the_same_rows(tmp_path):
    path = sweep_file(tmp_path)
    serial = run_sweep(plan_sweep(path, out_dir=tmp_path / "serial"), make_backend("process", 1))
    assert (serial.n_rows, serial.n_ok) == (4, 4)
    expected = summary_without_wall_time(tmp_path / "serial")
    assert list(expected["run_id"]) == ["p0-r0", "p0-r1", "p1-r0", "p1-r1"]
    assert list(expected["agents.retail.long_bias"]) == [0.3, 0.3, 0.7, 0.7]
    # The two points differ, and replicate r of each point ran on the same seed.
    assert expected["seed"].iloc[0] == expected["seed"].iloc[2] != expected["seed"].iloc[1]
    assert not expected.iloc[0].equals(expected.iloc[2])

    run_sweep(plan_sweep(path, out_dir=tmp_path / "pool"), ProcessBackend(2))
    pd.testing.assert_frame_equal(summary_without_wall_time(tmp_path / "pool"), expected)

    pytest.importorskip("dask.distributed",
                        reason="dask is not installed: pip install -e '.[dask]'")
    run_sweep(plan_sweep(path, out_dir=tmp_path / "dask"), DaskBackend("local", 2))
    pd.testing.assert_frame_equal(summary_without_wall_time(tmp_path / "dask"), expected)


def test_process_pools_are_replaced_after_their_share_of_tasks(monkeypatch):
    # One worker, a fresh pool every 2 tasks: 5 tasks run in ceil(5 / 2) = 3 processes,
    # tasks 1-2 in the first, 3-4 in the second, 5 in the third, none in this one.
    monkeypatch.setattr(executor, "TASKS_PER_WORKER", 2)
    tasks = [Task(f"t{i}", os.getpid) for i in range(5)]
    pids = {o.task.key: o.value for o in ProcessBackend(1).run(tasks)}
    assert len(set(pids.values())) == 3
    assert pids["t0"] == pids["t1"] != pids["t2"] == pids["t3"] != pids["t4"]
    assert os.getpid() not in pids.values()


def test_a_run_that_raises_is_a_row_with_its_error_and_the_others_finish(tmp_path,
                                                                           monkeypatch):
    import scenarios.sweep.runs as runs

    real_run = runs.run

    def run_or_raise(scenario):
        if scenario.agents.retail.long_bias == 0.7 and scenario.seed == replicate_seed(5, 1):
            raise RuntimeError("no market for this one")
        return real_run(scenario)

    monkeypatch.setattr(runs, "run", run_or_raise)
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    result = invoke(str(path), "--out", str(out), "--jobs", "1")
    assert result.exit_code == 1, result.output
    summary = pd.read_parquet(out / "combined" / "summary.parquet")
    assert list(summary["status"]) == ["ok", "ok", "ok", "error"]
    failed = summary.iloc[3]
    assert failed["run_id"] == "p1-r1"
    assert failed["error"].startswith("RuntimeError: no market for this one")
    assert np.isnan(failed["liq_long_count"])
    assert not (out / "runs" / "p1-r1").exists()
    points = pd.read_parquet(out / "combined" / "points_summary.parquet")
    assert list(points["n_runs"]) == [2, 2] and list(points["n_ok"]) == [2, 1]

    # Run again: the failed run is retried, the finished ones are left alone.
    monkeypatch.setattr(runs, "run", real_run)
    stamp = (out / "runs" / "p0-r0" / "manifest.json").stat().st_mtime_ns
    again = invoke(str(path), "--out", str(out), "--jobs", "1")
    assert again.exit_code == 0, again.output
    assert "[1/1] p1-r1 ok" in again.output
    assert list(pd.read_parquet(out / "combined" / "summary.parquet")["status"]) == ["ok"] * 4
    assert (out / "runs" / "p0-r0" / "manifest.json").stat().st_mtime_ns == stamp


def test_a_killed_sweep_resumes_to_the_summary_of_an_uninterrupted_one(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  replicates: 3
  seed: 5
  params:
    agents.retail.long_bias: [0.3, 0.7]
""")
    reference = tmp_path / "reference"
    run_sweep(plan_sweep(path, out_dir=reference), make_backend("process", 1))

    out = tmp_path / "killed"
    driver = subprocess.Popen(
        [sys.executable, "-c", "from scenarios.cli import main; main()", "sweep", str(path),
         "--out", str(out), "--jobs", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1])
    runs_dir = out / "runs"
    deadline = time.monotonic() + 120
    try:
        while not (runs_dir.is_dir() and any(not p.name.startswith(".")
                                             for p in runs_dir.iterdir())):
            assert driver.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no run finished within 120 s"
            time.sleep(0.01)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait()
    finished = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert 1 <= len(finished) < 6
    assert not (out / "combined").exists()

    result = invoke(str(path), "--out", str(out), "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert f"{len(finished)} done, {6 - len(finished)} to run" in result.output
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted(
        f"p{p}-r{r}" for p in range(2) for r in range(3))
    pd.testing.assert_frame_equal(summary_without_wall_time(out),
                                  summary_without_wall_time(reference))


def test_a_run_written_before_its_row_gets_its_row_from_the_run_directory(tmp_path):
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    run_sweep(plan_sweep(path, out_dir=out), make_backend("process", 1))
    expected = summary_without_wall_time(out)
    (out / "rows" / "p1-r0.json").unlink()  # killed after the run was written, before its row
    plan = plan_sweep(path, out_dir=out)
    assert plan.todo == []
    outcome = run_sweep(plan, make_backend("process", 1))
    assert (outcome.n_simulated, outcome.n_ok) == (0, 4)
    pd.testing.assert_frame_equal(summary_without_wall_time(out), expected)


def test_rerunning_a_changed_sweep_into_its_directory_says_what_changed(tmp_path):
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    run_sweep(plan_sweep(path, out_dir=out), make_backend("process", 1))
    before = sorted(p.name for p in out.rglob("*"))
    result = invoke(str(path), "--out", str(out), "--set", "sweep.replicates=3",
                    "--set", "duration_s=60")
    assert result.exit_code == 2
    assert f"{out}: holds another sweep" in result.output
    assert "scenario.duration_s: 120.0 -> 60.0" in result.output
    assert "sweep.replicates: 2 -> 3" in result.output
    assert sorted(p.name for p in out.rglob("*")) == before


def test_shards_together_run_every_point_once(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  params:
    agents.retail.count: [100, 200, 300]
""")
    out = tmp_path / "out"
    assert parse_shard("2/2") == (2, 2)
    with pytest.raises(SweepError, match="expected K/N with 1 <= K <= N"):
        parse_shard("3/2")
    first = plan_sweep(path, out_dir=out, shard=(1, 2))
    second = plan_sweep(path, out_dir=out, shard=(2, 2))
    assert [r.point for r in first.todo] == [0, 2]
    assert [r.point for r in second.todo] == [1]
    assert run_sweep(first, make_backend("process", 1)).n_rows == 2
    outcome = run_sweep(second, make_backend("process", 1))
    assert (outcome.n_rows, outcome.n_ok, outcome.n_simulated) == (3, 3, 1)
    summary = pd.read_parquet(out / "combined" / "summary.parquet")
    assert list(summary["agents.retail.count"]) == [100, 200, 300]


def test_dry_run_prints_the_grid_and_an_estimate_and_writes_nothing(tmp_path):
    path = sweep_file(tmp_path, """\
sweep:
  replicates: 2
  params:
    agents.retail.count: [100, 200, 300]
""")
    out = tmp_path / "out"
    result = invoke(str(path), "--out", str(out), "--dry-run", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "grid over 1 key, 3 points x 2 replicates = 6 runs; 0 done, 6 to run" in (
        result.output)
    assert "agents.retail.count" in result.output
    assert "estimated: 6 runs in about" in result.output
    assert not out.exists()


def test_the_outputs_hold_the_sweep_its_points_and_one_row_per_run(tmp_path):
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    run_sweep(plan_sweep(path, out_dir=out), make_backend("process", 1))
    document = json.loads((out / "sweep.json").read_text())
    assert (document["n_points"], document["replicates"], document["n_runs"]) == (2, 2, 4)
    assert document["sweep"]["params"] == {"agents.retail.long_bias": [0.3, 0.7]}
    assert len(document["sha256"]) == 64
    points = pd.read_parquet(out / "points.parquet")
    assert points.to_dict("list") == {"point": [0, 1], "agents.retail.long_bias": [0.3, 0.7]}
    summary = pd.read_csv(out / "combined" / "summary.csv")
    assert list(summary.columns[:8]) == ["run_id", "point", "replicate", "seed", "status",
                                         "error", "wall_s", "agents.retail.long_bias"]
    for metric in ("liq_long_count", "liq_short_notional_usd", "cascade_notional_usd",
                   "oi_change_pct", "funding_max", "whale_pnl_usd", "whale_hunts",
                   "excess_kurtosis_1m", "heatmap_top5pct_share"):
        assert metric in summary.columns
    for run_id in summary["run_id"]:
        assert (out / "runs" / run_id / "manifest.json").is_file()
