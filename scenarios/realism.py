"""Realism checks: stylized facts of bundled scenarios over many seeds.

``realism_table(["calm", "whale_hunt"], seeds=range(10))`` runs every (scenario, seed) pair,
in parallel processes, and returns one row of ``analysis.stylized_facts.stylized_facts`` per
run. ``REALISM_BOUNDS`` are the loose bounds a realistic market meets (issue: 'Realism').

``compare_table(table, [real_facts("week.csv")])`` sets the scenarios' return facts beside those
of real kline files (``analysis.real_data``), measured by the same functions;
``compare_table(table, [], [real_funding_facts("funding.csv")])`` their funding facts beside a
real funding history's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.analyze import recorded_exchange
from analysis.real_data import kline_log_returns, read_funding, read_klines
from analysis.stylized_facts import (
    dead_zone_share,
    funding_tail,
    log_returns,
    return_facts,
    stylized_facts,
)

# (fact, scenario or "*" for every scenario, low, high): a run passes a bound when low <= x <= high.
REALISM_BOUNDS: tuple[tuple[str, str, float, float], ...] = (
    ("excess_kurtosis_1m", "*", 3.0, float("inf")),
    ("max_abs_mean_acf_lags_2_10", "*", 0.0, 0.05),
    ("acf_abs_lag1", "*", 0.0, 1.0),
    ("acf_abs_lag10", "*", 0.0, 1.0),
    ("acf_abs_lag30", "*", 0.0, 1.0),
    ("funding_dead_zone_share", "calm", 0.5, 1.0),
    ("funding_min", "crowded_longs", 0.0, float("inf")),
    # 30 days of regimes against Binance BTCUSDT 2020-2023 (41 % of settlements at the 0.01 %
    # dead zone, 95th percentile 0.062 %, 13.5 % negative), loosely: calmer and wilder years
    # differ.
    ("funding_dead_zone_share", "regimes", 0.2, 0.8),
    ("funding_p95", "regimes", 0.0002, 0.003),
    ("funding_negative_share", "regimes", 0.02, 0.4),
    ("largest_oi_drop_30m", "whale_hunt", 0.10, 1.0),
    ("heatmap_top5pct_share", "*", 0.25, 1.0),
    ("perp_index_corr_1m", "calm", 0.95, 1.0),
    ("index_longest_flat_min", "*", 0.0, 30.0),
)


COMPARED_FACTS: tuple[tuple[str, str], ...] = (
    ("n_returns_1m", "1-minute returns"),
    ("std_1m_bp", "std of r (bp)"),
    ("excess_kurtosis_1m", "excess kurtosis"),
    ("max_abs_acf_lags_1_10", "max |acf r| lags 1-10"),
    ("acf_abs_lag1", "acf |r| lag 1"),
    ("acf_abs_lag10", "acf |r| lag 10"),
    ("acf_abs_lag30", "acf |r| lag 30"),
    ("acf_abs_lag60", "acf |r| lag 60"),
    ("hill_tail_index_1m", "Hill index, top 2.5 % |r|"),
)
"""(fact key, label) of the return facts set beside real data's, in the table's order."""

COMPARED_FUNDING_FACTS: tuple[tuple[str, str], ...] = (
    ("funding_dead_zone_share", "funding: share at the dead zone"),
    ("funding_p95", "funding: 95th percentile"),
    ("funding_negative_share", "funding: share negative"),
)
"""(fact key, label) of the funding facts set beside a real funding history's."""


def facts_of_run(scenario: str, seed: int, overrides: Sequence[str] = (),
                 keep_returns: bool = False, skip_s: float = 0.0) -> dict:
    """Run one scenario and seed; return its stylized facts with the run's identity.

    The series and funding before ``skip_s`` seconds are left out (a burn-in); the heatmap
    is kept whole. With ``keep_returns`` the row also holds ``returns_1m``: the 1-minute log
    returns of the last price that the facts were measured on (an array).
    """
    from scenarios.runner import run

    result = run(scenario, seed=seed, overrides=overrides)
    series = result.series[result.series["t"] >= skip_s]
    funding = (result.funding[result.funding["t"] >= skip_s] if len(result.funding)
               else result.funding)
    facts = stylized_facts(series, funding, result.heatmap,
                           interest_rate=recorded_exchange(result.manifest)["interest_rate"])
    row = {"scenario": scenario, "seed": seed, **facts,
           "wall_seconds": result.manifest["wall_seconds"]}
    if keep_returns:
        row["returns_1m"] = log_returns(series, 60.0)
    return row


def realism_table(scenarios: Iterable[str], seeds: Iterable[int],
                  overrides: Sequence[str] = (), workers: int | None = None,
                  keep_returns: bool = False, skip_s: float = 0.0) -> pd.DataFrame:
    """Return one row of stylized facts per (scenario, seed), runs spread over processes.

    With ``keep_returns`` each row also holds its run's 1-minute returns (``returns_1m``, an
    object column: drop it before writing the table out); ``skip_s`` as in ``facts_of_run``.
    """
    jobs = [(name, int(seed)) for name in scenarios for seed in seeds]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        rows = [facts_of_run(name, seed, overrides, keep_returns, skip_s)
                for name, seed in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(facts_of_run, name, seed, tuple(overrides), keep_returns,
                                   skip_s)
                       for name, seed in jobs]
            rows = [f.result() for f in futures]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class RealFacts:
    """The return facts of a real kline file, with what they were measured on."""

    name: str
    """The file's name, without its folder."""
    facts: dict[str, float]
    returns_1m: np.ndarray
    """1-minute log returns; NaN across a gap."""
    n_gaps: int
    n_missing_bars: int


def real_facts(path: str) -> RealFacts:
    """Return the return facts of the 1-minute kline CSV at ``path``.

    Raises:
        analysis.real_data.KlineFileError: the file is missing or fails a check.
    """
    klines = read_klines(path)
    r = kline_log_returns(klines)
    return RealFacts(name=klines.name, facts=return_facts(r), returns_1m=r,
                     n_gaps=klines.n_gaps, n_missing_bars=klines.n_missing_bars)


@dataclass(frozen=True)
class RealFunding:
    """The funding facts of a real funding history."""

    name: str
    facts: dict[str, float]
    n_settlements: int


def real_funding_facts(path: str, interest_rate: float = 0.0001) -> RealFunding:
    """Return the funding facts (``COMPARED_FUNDING_FACTS``) of the funding CSV at ``path``,
    the dead zone at ``interest_rate`` per interval (Binance's 0.01 % per 8 h).

    Raises:
        analysis.real_data.KlineFileError: the file is missing or fails a check.
    """
    rates = pd.DataFrame({"rate": read_funding(path)})
    facts = {"funding_dead_zone_share": dead_zone_share(rates, interest_rate),
             **funding_tail(rates)}
    return RealFunding(name=os.path.basename(path), facts=facts, n_settlements=len(rates))


def compare_table(table: pd.DataFrame, real: Sequence[RealFacts],
                  real_funding: Sequence[RealFunding] = ()) -> pd.DataFrame:
    """Return one row per compared fact: each scenario's "median (min .. max)" over seeds, then
    one column "real: <file name>" per real file. The return facts come with kline files,
    the funding facts with funding files."""
    rows = []
    compared = [(key, label, real) for key, label in COMPARED_FACTS if real]
    compared += [(key, label, real_funding) for key, label in COMPARED_FUNDING_FACTS
                 if real_funding]
    for key, label, files in compared:
        row = {"fact": label}
        for name, group in table.groupby("scenario", sort=False):
            values = group[key].astype(float)
            row[name] = (f"{_fmt(values.median())} "
                         f"({_fmt(values.min())} .. {_fmt(values.max())})")
        for one in files:
            row[f"real: {one.name}"] = _fmt(one.facts[key])
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return "nan" if pd.isna(x) else f"{x:.4g}" if abs(x) < 1000 else f"{x:.0f}"


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
