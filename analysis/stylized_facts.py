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


def hill_tail_index(x: np.ndarray, top_share: float = 0.025) -> float:
    """Return the Hill estimate of the tail index alpha of ``|x|`` from its top ``top_share``.

    Hill (1975), 'A simple general approach to inference about the tail of a distribution',
    Annals of Statistics 3: with x_(1) >= x_(2) >= ... the order statistics of |x| and
    k = floor(top_share * n), alpha = 1 / mean_{i <= k} log(x_(i) / x_(k+1)). A Pareto tail
    P(|X| > x) ~ x^-alpha gives alpha; returns have alpha near 3 to 4. NaNs are ignored; NaN
    when k < 2, x_(k+1) is 0 or the top k all equal x_(k+1) (no tail to measure).
    """
    a = np.abs(np.asarray(x, dtype=np.float64))
    a = np.sort(a[np.isfinite(a)])[::-1]
    k = int(np.floor(top_share * len(a)))
    if k < 2 or a[k] <= 0:
        return float("nan")
    mean_log_excess = float(np.mean(np.log(a[:k] / a[k])))
    return 1.0 / mean_log_excess if mean_log_excess > 0 else float("nan")


def return_facts(r: np.ndarray) -> dict[str, float]:
    """Return the facts of a series of 1-minute log returns, NaN marking a dropped return.

    A dropped return (one across a gap in the data) is left out of the moments and the tail
    index; in the autocorrelations it is set to the series' mean, so the pairs it belongs to add
    nothing to the sums (no pair spans the gap) while the other lags stay aligned in time.
    Keys: ``n_returns_1m``, ``std_1m_bp``, ``excess_kurtosis_1m``, ``acf_lag1..10``,
    ``max_abs_acf_lags_1_10``, ``acf_abs_lag1/10/30/60``, ``hill_tail_index_1m``.
    """
    r = np.asarray(r, dtype=np.float64)
    kept = r[np.isfinite(r)]
    if len(kept) == 0:
        filled = filled_abs = kept
    else:
        filled = np.where(np.isfinite(r), r, kept.mean())
        filled_abs = np.where(np.isfinite(r), np.abs(r), np.abs(kept).mean())
    acf = autocorrelation(filled, 10)
    acf_abs = autocorrelation(filled_abs, 60)
    return {
        "n_returns_1m": int(len(kept)),
        "std_1m_bp": float(kept.std() * 1e4) if len(kept) else float("nan"),
        "excess_kurtosis_1m": excess_kurtosis(kept),
        **{f"acf_lag{k}": float(acf[k - 1]) for k in range(1, 11)},
        "max_abs_acf_lags_1_10": _nanmax_abs(acf),
        "acf_abs_lag1": float(acf_abs[0]),
        "acf_abs_lag10": float(acf_abs[9]),
        "acf_abs_lag30": float(acf_abs[29]),
        "acf_abs_lag60": float(acf_abs[59]),
        "hill_tail_index_1m": hill_tail_index(kept),
    }


def _nanmax_abs(x: np.ndarray) -> float:
    x = np.abs(np.asarray(x, dtype=np.float64))
    return float(np.max(x[np.isfinite(x)])) if np.isfinite(x).any() else float("nan")


def dead_zone_share(funding: pd.DataFrame, interest_rate: float,
                    tolerance: float = 1e-6) -> float:
    """Return the share of funding settlements at the dead-zone rate: the interest rate per
    interval (the run's, e.g. 0.01 %), which the rate settles at while the premium is small."""
    if funding.empty:
        return float("nan")
    return float((np.abs(funding["rate"] - interest_rate) <= tolerance).mean())


def funding_tail(funding: pd.DataFrame) -> dict[str, float]:
    """Return the 95th percentile of the funding rate (linear interpolation) and the share of
    settlements with a negative rate: the two figures, beside the dead-zone share, that tell a
    crowded market's funding from a calm one's (Binance BTCUSDT 2020-2023: 0.062 % and 13.5 %)."""
    if funding.empty:
        return {"funding_p95": float("nan"), "funding_negative_share": float("nan")}
    rate = funding["rate"].to_numpy(dtype=np.float64)
    return {"funding_p95": float(np.percentile(rate, 95)),
            "funding_negative_share": float((rate < 0.0).mean())}


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


def longest_run(flags: np.ndarray) -> int:
    """Return the length of the longest run of consecutive True values in ``flags``."""
    best = run = 0
    for flag in np.asarray(flags, dtype=bool):
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def basis_facts(series: pd.DataFrame) -> dict[str, float]:
    """Return how tightly the perpetual follows the index: the correlation of their 1-minute
    log returns (the perp's mid, whose changes carry no bid-ask bounce), the median
    ``|mid / index - 1|`` in bp, and the longest run of minutes in which the index did not
    move at all (``index_longest_flat_min``: a quoting grid leaves a few, a spot market that
    stopped trading leaves hours); NaN for a series without those columns."""
    if not {"mid", "index"} <= set(series.columns):
        return {"perp_index_corr_1m": float("nan"), "premium_median_bp": float("nan"),
                "index_longest_flat_min": float("nan")}
    perp = log_returns(series, 60.0, "mid")
    index = log_returns(series, 60.0, "index")
    n = min(len(perp), len(index))
    both = np.isfinite(perp[:n]) & np.isfinite(index[:n])
    corr = (float(np.corrcoef(perp[:n][both], index[:n][both])[0, 1])
            if both.sum() > 2 and perp[:n][both].std() > 0 and index[:n][both].std() > 0
            else float("nan"))
    premium = (series["mid"] / series["index"] - 1.0).abs().dropna()
    return {"perp_index_corr_1m": corr,
            "premium_median_bp": float(premium.median() * 1e4) if len(premium) else float("nan"),
            "index_longest_flat_min": float(longest_run(index == 0.0))}


def stylized_facts(series: pd.DataFrame, funding: pd.DataFrame,
                   heatmap: dict[str, np.ndarray] | None = None, *,
                   interest_rate: float) -> dict[str, float]:
    """Return the run's stylized facts (1-minute returns of the last price); funding's dead
    zone is at ``interest_rate`` (the run's, per interval)."""
    r = log_returns(series, 60.0)
    acf = autocorrelation(r, 30)
    acf_abs = autocorrelation(np.abs(r), 30)
    # The facts added for comparison with real data come from the function that computes them
    # for a real kline file, so both sides are measured the same way.
    same_as_real = return_facts(r)
    return {
        "n_returns_1m": int(len(r)),
        "std_1m_bp": same_as_real["std_1m_bp"],
        "excess_kurtosis_1m": excess_kurtosis(r),
        **{f"acf_lag{k}": float(acf[k - 1]) for k in range(1, 11)},
        "max_abs_acf_lags_2_10": (float(np.nanmax(np.abs(acf[1:10])))
                                  if np.isfinite(acf[1:10]).any() else float("nan")),
        "acf_abs_lag1": float(acf_abs[0]),
        "acf_abs_lag10": float(acf_abs[9]),
        "acf_abs_lag30": float(acf_abs[29]),
        **{key: same_as_real[key] for key in
           ("acf_abs_lag60", "max_abs_acf_lags_1_10", "hill_tail_index_1m")},
        "funding_dead_zone_share": dead_zone_share(funding, interest_rate),
        "funding_mean": float(funding["rate"].mean()) if len(funding) else float("nan"),
        "funding_min": float(funding["rate"].min()) if len(funding) else float("nan"),
        **funding_tail(funding),
        "largest_oi_drop_30m": largest_oi_drop(series, 1800.0),
        "heatmap_top5pct_share": (heatmap_concentration(heatmap["long"], heatmap["short"])
                                  if heatmap is not None else float("nan")),
        **basis_facts(series),
    }
