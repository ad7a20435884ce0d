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

A run directory is written atomically, so one that exists is complete: a stopped study
resumes by skipping runs whose manifest carries the expected scenario hash (a run of other
settings is an error, not silently reused) and re-analyzing only stale analyses. Runs go to
a pool of processes (spawn: ``import mesa`` asks for it, and numba's threads do not survive a
fork); the worker functions are top-level so the pool can import them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from analysis.analyze import (
    DEFAULT_CONFIG,
    AnalysisConfig,
    analysis_is_current,
    analyze_run_dir,
)
from analysis.placebo import placebo_partners
from analysis.report import report_runs
from scenarios.schema import Scenario, load_scenario


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
            manifest = run_dir / "manifest.json"
            done = manifest.is_file()
            if done:
                try:
                    found = json.loads(manifest.read_text()).get("scenario_sha256")
                except (OSError, ValueError):
                    found = None
                if found != sha:
                    raise StudyError(f"{run_dir}: holds a run of other settings (scenario "
                                     f"sha256 {found}, expected {sha}); use another --out")
            elif run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
                raise StudyError(f"{run_dir}: exists and is not a run directory")
            analyzed = done and analysis_is_current(run_dir, config)
            jobs.append(Job(case.name, seed, run_dir, sha, not done, not analyzed))
    return jobs


def run_job(study: str, case_name: str, seed: int, run_dir: str, overrides: Sequence[str],
            simulate: bool, config: dict, placebo_from: str | None = None) -> dict:
    """Run (when asked) and analyze one job in a worker; return its ``summary.json`` data.

    Without ``simulate`` the run must exist; ``placebo_from`` is the run whose true map is
    the placebo (``AnalysisConfig.placebo``).
    """
    from scenarios.runner import run

    started = time.perf_counter()
    if simulate:
        case = next(c for c in STUDIES[study] if c.name == case_name)
        run(case_scenario(case, seed, overrides), out=run_dir)
    analyze_run_dir(run_dir, AnalysisConfig.from_dict(config), placebo_from=placebo_from)
    info = json.loads((Path(run_dir) / "analysis" / "summary.json").read_text())
    info.pop("config", None)
    return {**info, "wall_seconds": time.perf_counter() - started}


def simulate_job(study: str, case_name: str, seed: int, run_dir: str,
                 overrides: Sequence[str]) -> dict:
    """Run one job in a worker without analyzing it; return its wall seconds."""
    from scenarios.runner import run

    started = time.perf_counter()
    case = next(c for c in STUDIES[study] if c.name == case_name)
    run(case_scenario(case, seed, overrides), out=run_dir)
    return {"wall_seconds": time.perf_counter() - started}


def placebo_sources(jobs: Sequence[Job]) -> dict[Path, Path | None]:
    """Return, per job's run directory, the run whose map is its placebo: the next seed of
    its case, cyclically (``analysis.placebo.placebo_partners``)."""
    partners = placebo_partners([j.case for j in jobs])
    return {j.run_dir: (jobs[k].run_dir if k is not None else None)
            for j, k in zip(jobs, partners, strict=True)}


def run_study(name: str, seeds: int = 20, out_dir: str | Path | None = None,
              overrides: Sequence[str] = (), config: AnalysisConfig = DEFAULT_CONFIG,
              workers: int | None = None,
              on_job: Callable[[Job, int, int, float], None] | None = None
              ) -> tuple[Path, list[Job]]:
    """Run the study's pending jobs in parallel, then combine and report; return (report, jobs).

    Args:
        name: a key of :data:`STUDIES`.
        seeds: seeds 0 .. seeds-1 of every case.
        out_dir: the study directory (default ``studies/<name>``).
        overrides: ``key.path=value`` settings applied to every case.
        config: the analysis settings.
        workers: processes (default: the CPU count, at most the pending jobs).
        on_job: called as ``on_job(job, done, total, seconds)`` as each job finishes.

    Raises:
        StudyError: see :func:`plan_study`; or some runs failed (the others are kept).
    """
    out = Path(out_dir) if out_dir is not None else Path("studies") / name
    jobs = plan_study(name, seeds, out, overrides, config)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps({
        "study": name, "seeds": seeds, "overrides": list(overrides),
        "cases": [{"name": c.name, "scenario": c.scenario, "overrides": list(c.overrides)}
                  for c in STUDIES[name]],
        "analysis": config.to_dict()}, indent=2) + "\n")
    pending = [j for j in jobs if j.simulate or j.analyze]
    failures: list[str] = []
    if config.placebo:
        # A placebo needs its partner run on disk: simulate everything first, then analyze.
        sims = [j for j in pending if j.simulate]
        failures += _in_pool(sims, workers, on_job, lambda pool, j: pool.submit(
            simulate_job, name, j.case, j.seed, str(j.run_dir), tuple(overrides)))
        sources = placebo_sources(jobs)
        done_ok = [j for j in pending if not any(f.startswith(f"{j.run_dir}:")
                                                 for f in failures)]
        failures += _in_pool(done_ok, workers, on_job, lambda pool, j: pool.submit(
            run_job, name, j.case, j.seed, str(j.run_dir), tuple(overrides), False,
            config.to_dict(), None if sources[j.run_dir] is None else str(sources[j.run_dir])))
    else:
        failures += _in_pool(pending, workers, on_job, lambda pool, j: pool.submit(
            run_job, name, j.case, j.seed, str(j.run_dir), tuple(overrides), j.simulate,
            config.to_dict()))
    if failures:
        raise StudyError("runs failed (the others are kept; run again to resume):\n"
                         + "\n".join(failures))
    run_dirs = [j.run_dir for j in jobs]
    html, _ = report_runs(run_dirs, config, out_dir=out / "combined",
                          title=f"liqsim study {name}: {len(STUDIES[name])} cases x "
                                f"{seeds} seeds")
    return html, jobs


def _in_pool(jobs: Sequence[Job], workers: int | None,
             on_job: Callable[[Job, int, int, float], None] | None,
             submit: Callable[[ProcessPoolExecutor, Job], object]) -> list[str]:
    """Run ``submit(pool, job)`` for every job on a spawn pool; return the failures."""
    failures: list[str] = []
    if not jobs:
        return failures
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        futures = {submit(pool, j): j for j in jobs}
        for done, future in enumerate(as_completed(futures), start=1):
            job = futures[future]
            try:
                info = future.result()
            except Exception as exc:  # noqa: BLE001 - one failed run must not stop the rest
                failures.append(f"{job.run_dir}: {type(exc).__name__}: {exc}")
                continue
            if on_job is not None:
                on_job(job, done, len(jobs), info["wall_seconds"])
    return failures


__all__ = ["Case", "Job", "STUDIES", "StudyError", "case_scenario", "placebo_sources",
           "plan_study", "run_job", "run_study", "simulate_job"]
