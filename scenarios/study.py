"""Bundled studies: several scenarios over many seeds, analyzed together into one report.

``magnet_vs_sweep`` asks whether liquidation clusters pull the price (magnet) or get swept
(hunt), with and without a whale, and whether it matters which map the whale reads. Four
cases over N seeds each: ``calm``, ``crowded_longs``, ``whale_hunt_true`` (the whale reads the
true map) and ``whale_hunt_estimated`` (the same scenario, the whale reads the public
estimate). The two whale cases share seeds, so they differ only in the map the whale reads.

Layout of a study directory::

    OUT/study.json                    the study, seeds, overrides and analysis settings
    OUT/runs/<case>-seed<N>/          one run directory each, analyzed in place
    OUT/combined/                     the tables over all runs, figures/, report.html/.md
    OUT/combined/summary.parquet/.csv one row per run: case, seed, status, error, metrics
    OUT/rows/<case>-seed<N>.json      each run's row, kept as it finishes

A study is a bundled set of runs plus their analysis, on the machinery of ``liqsim sweep``
(``scenarios.sweep``): the same task simulates and writes each run and returns its row
(``simulate_run``; a failed run is a row with its error), the same executors run the tasks
(a spawn process pool by default, in this process with one worker, or Dask), after the same
warm-up of numba's cache in this process. A run directory is written atomically, so one
that exists is complete: a stopped study resumes by skipping runs whose manifest carries the
expected scenario hash (``existing_run``: a run of other settings is an error, not silently
reused) and re-analyzing only stale analyses. What a study adds to a sweep: its arms are
different scenarios (cases) rather than points of one, its seeds are 0 .. N-1, and every run
is analyzed and reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.analyze import (
    DEFAULT_CONFIG,
    AnalysisConfig,
    analysis_is_current,
    analyze_run_dir,
)
from analysis.placebo import placebo_partners
from analysis.report import report_runs
from scenarios.schema import Scenario, load_scenario
from scenarios.sweep.executor import Backend, Task, execute, make_backend, warm_simulation_kernels
from scenarios.sweep.runs import (
    ERROR,
    OK,
    RunDirError,
    clear_partial_write,
    describe_error,
    existing_run,
    metrics_of_run_dir,
    simulate_run,
)
from scenarios.sweep.store import read_row, write_row, write_table


@dataclass(frozen=True)
class Case:
    """One arm of a study: a bundled scenario under a case name, with overrides."""

    name: str
    scenario: str
    overrides: tuple[str, ...] = ()


STUDIES: dict[str, tuple[Case, ...]] = {
    "magnet_vs_sweep": (
        Case("calm", "calm"),
        Case("crowded_longs", "crowded_longs"),
        Case("whale_hunt_true", "whale_hunt", ('agents.whale.heatmap="true"',)),
        Case("whale_hunt_estimated", "whale_hunt", ("agents.whale.heatmap=estimated",)),
    ),
}


@dataclass(frozen=True)
class Job:
    """One run of a study: its case, seed, directory and what is left to do."""

    case: str
    seed: int
    run_dir: Path
    sha256: str
    simulate: bool
    analyze: bool


class StudyError(RuntimeError):
    """The study cannot go on as asked; the message says why and names the path."""


def case_scenario(case: Case, seed: int, overrides: Sequence[str] = ()) -> Scenario:
    """Return the case's validated scenario for ``seed``; named after the case.

    The case name becomes the scenario's ``name``, so every run's manifest says which arm it
    belongs to and the analysis groups by it. Raises ``scenarios.schema.ScenarioError``.
    """
    sc = load_scenario(case.scenario, (f"name={case.name}", *case.overrides, *overrides))
    return sc.model_copy(update={"seed": int(seed)})


def plan_study(name: str, seeds: int, out_dir: str | Path, overrides: Sequence[str] = (),
               config: AnalysisConfig = DEFAULT_CONFIG) -> list[Job]:
    """Return the study's jobs, marking what is already done under ``out_dir``.

    Raises:
        StudyError: the study is unknown, or a run directory holds a run of other settings.
        scenarios.schema.ScenarioError: a case's scenario with ``overrides`` is invalid.
    """
    if name not in STUDIES:
        raise StudyError(f"{name}: unknown study; bundled studies are: {', '.join(STUDIES)}")
    runs = Path(out_dir) / "runs"
    jobs = []
    for case in STUDIES[name]:
        for seed in range(seeds):
            sha = case_scenario(case, seed, overrides).sha256()
            run_dir = runs / f"{case.name}-seed{seed}"
            try:
                done = existing_run(run_dir, sha)
            except RunDirError as exc:
                raise StudyError(str(exc)) from None
            analyzed = done and analysis_is_current(run_dir, config)
            jobs.append(Job(case.name, seed, run_dir, sha, not done, not analyzed))
    return jobs


def run_job(study: str, case_name: str, seed: int, run_dir: str, overrides: Sequence[str],
            simulate: bool, config: dict, placebo_from: str | None = None) -> dict:
    """Run (when asked) and analyze one job in a worker; return its ``summary.json`` data.

    The returned data also hold ``wall_seconds`` and, when it simulated, the run's ``row``
    (``scenarios.sweep.runs.simulate_run``); a run that failed is not analyzed and comes
    back as its row alone. Without ``simulate`` the run must exist; ``placebo_from`` is the
    run whose true map is the placebo (``AnalysisConfig.placebo``).
    """
    started = time.perf_counter()
    row = None
    if simulate:
        row = simulate_job(study, case_name, seed, run_dir, overrides)["row"]
        if row["status"] != OK:
            return {"row": row, "wall_seconds": time.perf_counter() - started}
    analyze_run_dir(run_dir, AnalysisConfig.from_dict(config), placebo_from=placebo_from)
    info = json.loads((Path(run_dir) / "analysis" / "summary.json").read_text())
    info.pop("config", None)
    return {**info, "row": row, "wall_seconds": time.perf_counter() - started}


def simulate_job(study: str, case_name: str, seed: int, run_dir: str,
                 overrides: Sequence[str]) -> dict:
    """Run one job in a worker without analyzing it; return its row and wall seconds.

    The row is ``scenarios.sweep.runs.simulate_run``'s: a failed run is a row with its
    error, and nothing is written for it.
    """
    started = time.perf_counter()
    case = next(c for c in STUDIES[study] if c.name == case_name)
    row = simulate_run(case_scenario(case, seed, overrides), run_dir)
    return {"row": row, "wall_seconds": time.perf_counter() - started}


def placebo_sources(jobs: Sequence[Job]) -> dict[Path, Path | None]:
    """Return, per job's run directory, the run whose map is its placebo: the next seed of
    its case, cyclically (``analysis.placebo.placebo_partners``)."""
    partners = placebo_partners([j.case for j in jobs])
    return {j.run_dir: (jobs[k].run_dir if k is not None else None)
            for j, k in zip(jobs, partners, strict=True)}


def run_study(name: str, seeds: int = 20, out_dir: str | Path | None = None,
              overrides: Sequence[str] = (), config: AnalysisConfig = DEFAULT_CONFIG,
              workers: int | None = None,
              on_job: Callable[[Job, int, int, float], None] | None = None,
              backend: Backend | None = None) -> tuple[Path, list[Job]]:
    """Run the study's pending jobs in parallel, then combine and report; return (report, jobs).

    Args:
        name: a key of :data:`STUDIES`.
        seeds: seeds 0 .. seeds-1 of every case.
        out_dir: the study directory (default ``studies/<name>``).
        overrides: ``key.path=value`` settings applied to every case.
        config: the analysis settings.
        workers: processes (default: the CPU count, at most the pending jobs; 1 runs them
            in this process).
        on_job: called as ``on_job(job, done, total, seconds)`` as each job finishes.
        backend: where jobs run (``scenarios.sweep.executor``; default: a process pool of
            ``workers``).

    Raises:
        StudyError: see :func:`plan_study`; or some runs failed (the others are kept, and
            ``combined/summary.*`` holds their rows with the errors).
    """
    out = Path(out_dir) if out_dir is not None else Path("studies") / name
    jobs = plan_study(name, seeds, out, overrides, config)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps({
        "study": name, "seeds": seeds, "overrides": list(overrides),
        "cases": [{"name": c.name, "scenario": c.scenario, "overrides": list(c.overrides)}
                  for c in STUDIES[name]],
        "analysis": config.to_dict()}, indent=2) + "\n")
    backend = backend or make_backend("process", workers)
    pending = [j for j in jobs if j.simulate or j.analyze]
    for job in pending:
        if job.simulate:
            clear_partial_write(job.run_dir)
    overrides = tuple(overrides)
    failures: list[str] = []
    # Run directories go to workers as absolute paths: a Dask worker may run elsewhere.
    if config.placebo:
        # A placebo needs its partner run on disk: simulate everything first, then analyze.
        sims = [j for j in pending if j.simulate]
        failures += _run_jobs(out, sims, backend, on_job, lambda j: (
            simulate_job, (name, j.case, j.seed, str(j.run_dir.absolute()), overrides)))
        sources = placebo_sources(jobs)
        done_ok = [j for j in pending if not any(f.startswith(f"{j.run_dir}:")
                                                 for f in failures)]
        failures += _run_jobs(out, done_ok, backend, on_job, lambda j: (
            run_job, (name, j.case, j.seed, str(j.run_dir.absolute()), overrides, False,
                      config.to_dict(),
                      None if sources[j.run_dir] is None
                      else str(sources[j.run_dir].absolute()))))
    else:
        failures += _run_jobs(out, pending, backend, on_job, lambda j: (
            run_job, (name, j.case, j.seed, str(j.run_dir.absolute()), overrides, j.simulate,
                      config.to_dict())))
    write_table(study_summary(out, jobs), out / "combined" / "summary")
    if failures:
        raise StudyError("runs failed (the others are kept; run again to resume):\n"
                         + "\n".join(failures))
    run_dirs = [j.run_dir for j in jobs]
    html, _ = report_runs(run_dirs, config, out_dir=out / "combined",
                          title=f"liqsim study {name}: {len(STUDIES[name])} cases x "
                                f"{seeds} seeds")
    return html, jobs


def _run_jobs(out: Path, jobs: Sequence[Job], backend: Backend,
              on_job: Callable[[Job, int, int, float], None] | None,
              task_of: Callable[[Job], tuple[Callable, tuple]]) -> list[str]:
    """Run every job's task on ``backend`` and store the rows of the runs it simulated;
    return the failures, one ``<run_dir>: <error>`` line each."""
    by_key = {j.run_dir.name: j for j in jobs}
    tasks = [Task(j.run_dir.name, *task_of(j)) for j in jobs]
    failures: list[str] = []
    for done, outcome in enumerate(execute(tasks, backend, warm_up=warm_study_kernels),
                                   start=1):
        job = by_key[outcome.task.key]
        row = (outcome.value or {}).get("row")
        if outcome.error is not None:
            row = {"status": ERROR, "error": outcome.error, "wall_s": float("nan")}
        if row is not None and job.simulate:
            write_row(out, job.run_dir.name, job.sha256, row)
        if row is not None and row["status"] != OK:
            failures.append(f"{job.run_dir}: {row['error']}")
            continue
        if on_job is not None:
            on_job(job, done, len(jobs), outcome.value["wall_seconds"])
    return failures


def study_summary(out: Path, jobs: Sequence[Job]) -> pd.DataFrame:
    """Return one row per run: ``run_id, case, seed, status, error, wall_s`` and the run's
    headline metrics (``scenarios.sweep.runs.run_metrics``); runs not simulated are left
    out, and a run on disk without a stored row gets one from its directory."""
    records = []
    for job in jobs:
        row = read_row(out, job.run_dir.name, job.sha256)
        if row is None and (job.run_dir / "manifest.json").is_file():
            try:
                row = metrics_of_run_dir(job.run_dir)
            except Exception as exc:  # noqa: BLE001 - a run that cannot be read is a row too
                row = {"status": ERROR, "error": describe_error(exc), "wall_s": float("nan")}
            write_row(out, job.run_dir.name, job.sha256, row)
        if row is not None:
            records.append({"run_id": job.run_dir.name, "case": job.case, "seed": job.seed,
                            **row})
    columns = ["run_id", "case", "seed", "status", "error", "wall_s"]
    return pd.DataFrame.from_records(records, columns=None if records else columns)


def warm_study_kernels() -> None:
    """Compile, or load from numba's cache, the simulation's kernels and the analysis's
    (``analysis.outcomes``), on a three-second path with one cluster."""
    warm_simulation_kernels()
    from analysis.outcomes import classify_outcomes, time_to_touch

    path = pd.DataFrame({"t": [0.0, 1.0, 2.0, 3.0], "last": [100.0, 99.0, 98.0, 100.0]})
    classify_outcomes(
        pd.DataFrame({"t": [0.0], "side": ["long"], "low": [98.0], "high": [99.0],
                      "centre": [98.5], "near_edge": [99.0]}),
        path,
        pd.DataFrame({"t": [2.0], "side": [1], "qty": [1.0], "entry_price": [100.0],
                      "liq_price": [98.5]}),
        horizon_s=3.0, reversal_s=1.0)
    time_to_touch(path["t"].to_numpy(), path["last"].to_numpy(), np.array([0.0]),
                  np.array([98.0]), np.array([-1.0]), 3.0)


__all__ = ["Case", "Job", "STUDIES", "StudyError", "case_scenario", "placebo_sources",
           "plan_study", "run_job", "run_study", "simulate_job", "study_summary",
           "warm_study_kernels"]
