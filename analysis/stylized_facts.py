"""Stylized facts of a run's prices, funding and open interest (Cont 2001, 'Empirical
properties of asset returns: stylized facts and statistical issues').

The checks a realistic market should pass: fat-tailed returns (positive excess kurtosis),
no linear autocorrelation of returns beyond the first lag, slowly decaying positive
autocorrelation of absolute returns (volatility clustering). Plus the perpetual's own facts:
funding at the interest-rate dead zone in calm markets, and cascades that cut open interest.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd


def log_returns(series: pd.DataFrame, interval_s: float = 60.0, column: str = "last"
                ) -> np.ndarray:
    """Return log-returns of ``column`` sampled every ``interval_s`` (last value per bar)."""
    prices = series[["t", column]].dropna()
    if prices.empty:
        return np.zeros(0)
    bars = np.floor((prices["t"].to_numpy() - 1e-9) / interval_s).astype(np.int64)
    closes = prices.groupby(bars)[column].last()
    return np.diff(np.log(closes.to_numpy()))


def excess_kurtosis(x: np.ndarray) -> float:
    """Return the sample excess kurtosis m4 / m2^2 - 3 (0 for a normal distribution)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 4:
        return float("nan")
    d = x - x.mean()
    m2 = np.mean(d**2)
    return float(np.mean(d**4) / m2**2 - 3.0) if m2 > 0 else float("nan")


def autocorrelation(x: np.ndarray, lags: int) -> np.ndarray:
    """Return the sample autocorrelation at lags 1..``lags`` (the biased estimator)."""
    x = np.asarray(x, dtype=np.float64)
    d = x - x.mean()
    denom = float(np.dot(d, d))
    if denom == 0 or len(x) <= lags:
        return np.full(lags, np.nan)
    return np.array([np.dot(d[:-k], d[k:]) / denom for k in range(1, lags + 1)])


def dead_zone_share(funding: pd.DataFrame, interest_rate: float,
                    tolerance: float = 1e-6) -> float:
    """Return the share of funding settlements at the dead-zone rate: the interest rate per
    interval (the run's, e.g. 0.01 %), which the rate settles at while the premium is small."""
    if funding.empty:
        return float("nan")
    return float((np.abs(funding["rate"] - interest_rate) <= tolerance).mean())


def largest_oi_drop(series: pd.DataFrame, window_s: float = 1800.0,
                    min_level: float = 0.5) -> float:
    """Return the largest fall of open interest within ``window_s``, as a fraction of its level.

    For each time t: (OI(t) - min OI over (t, t + window]) / OI(t), maximized over the times
    whose OI is at least ``min_level`` x the run's median OI (so the first trades of a run,
    when OI is tiny, do not count as a collapse).
    """
    t = series["t"].to_numpy()
    oi = series["oi"].to_numpy()
    floor = min_level * float(np.median(oi)) if len(oi) else 0.0
    best = 0.0
    j = 0
    # A monotone deque of window minima over the look-ahead window.
    window: deque[int] = deque()
    for i in range(len(t)):
        while j < len(t) and t[j] <= t[i] + window_s:
            while window and oi[window[-1]] >= oi[j]:
                window.pop()
            window.append(j)
            j += 1
        while window and window[0] <= i:
            window.popleft()
        if window and oi[i] > 0 and oi[i] >= floor:
            best = max(best, (oi[i] - oi[window[0]]) / oi[i])
    return float(best)


def heatmap_concentration(long: np.ndarray, short: np.ndarray, top_share: float = 0.05) -> float:
    """Return the mean share of a snapshot's notional held by its densest ``top_share`` of bins.

    Long and short maps are added bin by bin. A uniform smear scores ``top_share``; a map whose
    notional sits in a few clusters scores near 1. Empty snapshots are skipped (NaN if all are).
    """
    total = np.asarray(long, dtype=np.float64) + np.asarray(short, dtype=np.float64)
    if total.ndim != 2 or total.shape[1] == 0:
        return float("nan")
    k = max(1, int(round(top_share * total.shape[1])))
    sums = total.sum(axis=1)
    live = sums > 0
    if not live.any():
        return float("nan")
    top = -np.sort(-total[live], axis=1)[:, :k].sum(axis=1)
    return float(np.mean(top / sums[live]))


def stylized_facts(series: pd.DataFrame, funding: pd.DataFrame,
                   heatmap: dict[str, np.ndarray] | None = None, *,
                   interest_rate: float) -> dict[str, float]:
    """Return the run's stylized facts (1-minute returns of the last price); funding's dead
    zone is at ``interest_rate`` (the run's, per interval)."""
    r = log_returns(series, 60.0)
    acf = autocorrelation(r, 30)
    acf_abs = autocorrelation(np.abs(r), 30)
    return {
        "n_returns_1m": int(len(r)),
        "excess_kurtosis_1m": excess_kurtosis(r),
        **{f"acf_lag{k}": float(acf[k - 1]) for k in range(1, 11)},
        "max_abs_acf_lags_2_10": float(np.nanmax(np.abs(acf[1:10]))),
        "acf_abs_lag1": float(acf_abs[0]),
        "acf_abs_lag10": float(acf_abs[9]),
        "acf_abs_lag30": float(acf_abs[29]),
        "funding_dead_zone_share": dead_zone_share(funding, interest_rate),
        "funding_mean": float(funding["rate"].mean()) if len(funding) else float("nan"),
        "funding_min": float(funding["rate"].min()) if len(funding) else float("nan"),
        "largest_oi_drop_30m": largest_oi_drop(series, 1800.0),
        "heatmap_top5pct_share": (heatmap_concentration(heatmap["long"], heatmap["short"])
                                  if heatmap is not None else float("nan")),
    }
