"""Realism checks: stylized facts of bundled scenarios over many seeds.

``realism_table(["calm", "whale_hunt"], seeds=range(10))`` runs every (scenario, seed) pair,
in parallel processes, and returns one row of ``analysis.stylized_facts.stylized_facts`` per
run. ``REALISM_BOUNDS`` are the loose bounds a realistic market meets (issue: 'Realism').
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from analysis.analyze import recorded_exchange
from analysis.stylized_facts import stylized_facts

# (fact, scenario or "*" for every scenario, low, high): a run passes a bound when low <= x <= high.
REALISM_BOUNDS: tuple[tuple[str, str, float, float], ...] = (
    ("excess_kurtosis_1m", "*", 3.0, float("inf")),
    ("max_abs_mean_acf_lags_2_10", "*", 0.0, 0.05),
    ("acf_abs_lag1", "*", 0.0, 1.0),
    ("acf_abs_lag10", "*", 0.0, 1.0),
    ("acf_abs_lag30", "*", 0.0, 1.0),
    ("funding_dead_zone_share", "calm", 0.5, 1.0),
    ("funding_min", "crowded_longs", 0.0, float("inf")),
    ("largest_oi_drop_30m", "whale_hunt", 0.10, 1.0),
    ("heatmap_top5pct_share", "*", 0.25, 1.0),
)


def facts_of_run(scenario: str, seed: int, overrides: Sequence[str] = ()) -> dict:
    """Run one scenario and seed; return its stylized facts with the run's identity."""
    from scenarios.runner import run

    result = run(scenario, seed=seed, overrides=overrides)
    facts = stylized_facts(result.series, result.funding, result.heatmap,
                           interest_rate=recorded_exchange(result.manifest)["interest_rate"])
    return {"scenario": scenario, "seed": seed, **facts,
            "wall_seconds": result.manifest["wall_seconds"]}


def realism_table(scenarios: Iterable[str], seeds: Iterable[int],
                  overrides: Sequence[str] = (), workers: int | None = None) -> pd.DataFrame:
    """Return one row of stylized facts per (scenario, seed), runs spread over processes."""
    jobs = [(name, int(seed)) for name in scenarios for seed in seeds]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        rows = [facts_of_run(name, seed, overrides) for name, seed in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(facts_of_run, name, seed, tuple(overrides))
                       for name, seed in jobs]
            rows = [f.result() for f in futures]
    return pd.DataFrame(rows)


def check_bounds(table: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (bound, scenario): the median over seeds and whether it is in bounds.

    A bound is judged on the median across seeds, since one seed's statistic is noisy; the
    return autocorrelations beyond lag 1 are pooled first (the largest |mean over seeds| of
    lags 2..10), since the largest of nine noisy estimates is biased away from zero.
    """
    rows = []
    for fact, scope, low, high in REALISM_BOUNDS:
        for name, group in table.groupby("scenario"):
            if scope not in ("*", name):
                continue
            if fact == "max_abs_mean_acf_lags_2_10":
                pooled = group[[f"acf_lag{k}" for k in range(2, 11)]].mean().abs()
                group = group.assign(**{fact: float(pooled.max())})
            median = float(group[fact].median())
            rows.append({"fact": fact, "scenario": name, "median": median,
                         "min": float(group[fact].min()), "max": float(group[fact].max()),
                         "low": low, "high": high, "passed": low <= median <= high})
    return pd.DataFrame(rows)
