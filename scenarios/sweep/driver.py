"""Run a planned sweep: simulate what is left, store each run's row, combine the tables.

A sweep killed at any moment loses at most the runs in flight: every run directory and row
file is renamed into place whole, and the next call with the same command skips what is
done. ``estimate`` times a short piece of the first run for ``--dry-run``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scenarios.runner import build_market
from scenarios.schema import Scenario
from scenarios.sweep.executor import (
    Backend,
    Task,
    execute,
    make_backend,
    warm_simulation_kernels,
)
from scenarios.sweep.plan import PlannedRun, SweepPlan
from scenarios.sweep.runs import (
    ERROR,
    OK,
    clear_partial_write,
    describe_error,
    metrics_of_run_dir,
    simulate_run,
)
from scenarios.sweep.store import (
    SWEEP_FILE,
    points_summary_table,
    points_table,
    read_row,
    summary_table,
    write_atomic,
    write_row,
    write_table,
)


@dataclass(frozen=True)
class Progress:
    """Where a sweep stands after a run finished."""

    run: PlannedRun
    row: dict
    done: int
    total: int
    failed: int
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        """Seconds left at the pace so far."""
        return self.elapsed_s / self.done * (self.total - self.done)


@dataclass(frozen=True)
class SweepOutcome:
    """What a call left: the summary table and its counts."""

    summary: Path
    n_runs: int
    n_rows: int
    n_ok: int
    n_failed: int
    n_simulated: int

    @property
    def complete(self) -> bool:
        """Every run of the sweep finished (all shards)."""
        return self.n_ok == self.n_runs


def run_sweep(plan: SweepPlan, backend: Backend | None = None,
              on_run: Callable[[Progress], None] | None = None) -> SweepOutcome:
    """Simulate the plan's pending runs of its shard, then write the combined tables.

    Args:
        plan: from ``plan_sweep``.
        backend: where runs execute (default: a process pool over the CPUs).
        on_run: called with a ``Progress`` as each run finishes.

    Failed runs are rows with their error; the others go on. Returns the combined counts
    over every run with a row, whichever shard wrote it.
    """
    out = plan.out
    write_atomic(out / SWEEP_FILE, json.dumps(sweep_document(plan), indent=2) + "\n")
    write_table(points_table(plan.keys, plan.points), out / "points", csv=False)
    for run in plan.shard_runs:
        if run.done and read_row(out, run.run_id, run.sha256) is None:
            write_row(out, run.run_id, run.sha256, _row_from_disk(run))  # killed before its row
    todo = plan.todo
    for run in todo:
        clear_partial_write(run.run_dir)
    by_id = {run.run_id: run for run in todo}
    # Absolute: a worker of a Dask cluster may not share this process's working directory.
    tasks = [Task(run.run_id, simulate_run, (run.scenario, str(run.run_dir.absolute())))
             for run in todo]
    started = time.perf_counter()
    failed = 0
    for done, outcome in enumerate(execute(tasks, backend or make_backend()), start=1):
        run = by_id[outcome.task.key]
        row = outcome.value if outcome.error is None else {
            "status": ERROR, "error": outcome.error, "wall_s": math.nan}
        write_row(out, run.run_id, run.sha256, row)
        failed += row["status"] != OK
        if on_run is not None:
            on_run(Progress(run, row, done, len(tasks), failed, time.perf_counter() - started))
    return combine(plan, n_simulated=len(tasks))


def _row_from_disk(run: PlannedRun) -> dict:
    try:
        return metrics_of_run_dir(run.run_dir)
    except Exception as exc:  # noqa: BLE001 - reported as the run's row, like any failure
        return {"status": ERROR, "error": describe_error(exc), "wall_s": math.nan}


def sweep_document(plan: SweepPlan) -> dict:
    """Return ``sweep.json``: the identity (resolved scenario and sweep, sha256) and counts."""
    spec = plan.spec
    return {"sha256": plan.identity["sha256"], "scenario_name": plan.base.name,
            "source": plan.source, "keys": plan.keys, "n_points": len(plan.points),
            "replicates": spec.replicates, "n_runs": len(plan.runs),
            "seeds": "numpy.random.SeedSequence(sweep.seed, spawn_key=(replicate,))"
                     ".generate_state(1, uint64)[0] >> 1",
            "scenario": plan.identity["scenario"], "sweep": plan.identity["sweep"]}


def combine(plan: SweepPlan, n_simulated: int = 0) -> SweepOutcome:
    """Write ``combined/summary.*`` and ``combined/points_summary.*`` from the stored rows."""
    idents, rows = [], []
    for run in plan.runs:
        row = read_row(plan.out, run.run_id, run.sha256)
        if row is None or (row["status"] == OK and not (run.run_dir / "manifest.json").is_file()):
            continue  # not run yet (another shard's, or still to do), or its run was removed
        idents.append({"run_id": run.run_id, "point": run.point, "replicate": run.replicate,
                       "seed": run.seed})
        rows.append(row)
    points = points_table(plan.keys, plan.points)
    summary = summary_table(idents, points, rows)
    combined = plan.out / "combined"
    write_table(summary, combined / "summary")
    write_table(points_summary_table(summary, points), combined / "points_summary")
    n_ok = int((summary["status"] == OK).sum())
    return SweepOutcome(combined / "summary.parquet", len(plan.runs), len(summary), n_ok,
                        len(summary) - n_ok, n_simulated)


@dataclass(frozen=True)
class RunEstimate:
    """A timing run's figures: build seconds, seconds per step, and the run's steps."""

    build_s: float
    step_s: float
    n_steps: int
    timed_steps: int

    @property
    def run_s(self) -> float:
        """Estimated seconds of one whole run."""
        return self.build_s + self.step_s * self.n_steps


def estimate(scenario: Scenario, budget_s: float = 3.0, max_steps: int = 3_000) -> RunEstimate:
    """Return the timing of a short piece of ``scenario``: built, then stepped for at most
    ``budget_s`` seconds or ``max_steps`` steps (after the numba cache is warm)."""
    warm_simulation_kernels()
    started = time.perf_counter()
    market = build_market(scenario)
    build_s = time.perf_counter() - started
    limit = min(market.n_steps, max_steps)
    steps = 0
    started = time.perf_counter()
    while steps < limit and (steps == 0 or time.perf_counter() - started < budget_s):
        market.model.step()
        steps += 1
    return RunEstimate(build_s, (time.perf_counter() - started) / max(steps, 1),
                       market.n_steps, steps)




__all__ = ["Progress", "RunEstimate", "SweepOutcome", "combine", "estimate", "run_sweep",
           "sweep_document"]
