"""Funding and open-interest states at cluster time, cross-tabulated with what followed.

The trader's claim under test: "a long cluster below, high funding and falling OI mean a long
cascade is coming". Funding is the rate the current interval would settle at, as the run
recorded it (the series' ``predicted_funding_rate``); it is *high* above the run's interest
rate, the baseline of the dead zone (Binance, 'Introduction to Binance Futures Funding Rates':
0.01 % per 8 h by default), *negative* below zero and *normal* in between; open interest is
*rising* or *falling* over the last hour. Shares carry Wilson score intervals (Wilson 1927,
'Probable inference, the law of succession, and statistical inference', JASA 22), which behave
at small counts and shares near 0 or 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.clusters import value_at
from analysis.outcomes import OUTCOMES

PREDICTED_FUNDING = "predicted_funding_rate"
"""The series column the funding state is read from (``sim.recorder.SERIES_COLUMNS``)."""
FUNDING_STATES = ("negative", "normal", "high")
OI_STATES = ("falling", "flat", "rising")


def oi_change_pct(series: pd.DataFrame, times: np.ndarray, lookback_s: float = 3600.0,
                  column: str = "oi") -> np.ndarray:
    """Return the open interest's change over the ``lookback_s`` before each time, in %.

    Compares the last row at or before ``t`` with the last at or before ``t - lookback_s``
    (the first row when the series starts later). NaN when the earlier level is 0 or missing.
    """
    t_s = series["t"].to_numpy(np.float64)
    oi = series[column].to_numpy(np.float64)
    times = np.asarray(times, dtype=np.float64)
    now = value_at(t_s, oi, times)
    before = value_at(t_s, oi, np.maximum(times - lookback_s, t_s[0] if len(t_s) else 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0, 100.0 * (now / before - 1.0), np.nan)


def funding_state(rate: np.ndarray, *, interest: float, eps: float = 1e-6) -> np.ndarray:
    """Return 'high' (rate > interest + eps), 'negative' (< -eps), 'normal', or 'unknown' (NaN).

    ``interest`` is the run's interest rate per funding interval (its manifest's
    ``resolved_scenario.exchange.interest_rate``).
    """
    rate = np.asarray(rate, dtype=np.float64)
    return np.select([np.isnan(rate), rate > interest + eps, rate < -eps],
                     ["unknown", "high", "negative"], "normal").astype(object)


def oi_state(change_pct: np.ndarray, *, eps_pct: float = 0.0) -> np.ndarray:
    """Return 'rising' (change > eps), 'falling' (< -eps), 'flat', or 'unknown' (NaN)."""
    change = np.asarray(change_pct, dtype=np.float64)
    return np.select([np.isnan(change), change > eps_pct, change < -eps_pct],
                     ["unknown", "rising", "falling"], "flat").astype(object)


def signal_states(frame: pd.DataFrame, series: pd.DataFrame, *, interest: float,
                  funding_column: str = PREDICTED_FUNDING, eps: float = 1e-6,
                  lookback_s: float = 3600.0, oi_column: str = "oi",
                  oi_eps_pct: float = 0.0) -> pd.DataFrame:
    """Return ``frame`` (rows with a time ``t``: clusters, outcomes) with its market state added.

    Added columns: ``funding_at`` (the series' ``funding_column`` at ``t``), ``funding_state``
    (against the run's ``interest`` rate), ``oi_change_pct`` (over ``lookback_s``) and
    ``oi_state``.
    """
    out = frame.copy()
    t = out["t"].to_numpy(np.float64)
    rate = value_at(series["t"].to_numpy(np.float64),
                    series[funding_column].to_numpy(np.float64), t)
    change = oi_change_pct(series, t, lookback_s, oi_column)
    out["funding_at"] = rate
    out["funding_state"] = funding_state(rate, interest=interest, eps=eps)
    out["oi_change_pct"] = change
    out["oi_state"] = oi_state(change, eps_pct=oi_eps_pct)
    return out


def wilson_interval(count: np.ndarray, n: np.ndarray, z: float = 1.959963984540054
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Return the Wilson score interval ``(lo, hi)`` of the share ``count / n`` (NaN if n = 0)."""
    count = np.asarray(count, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = count / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return centre - half, centre + half


def signal_table(frame: pd.DataFrame, by: Sequence[str] = ("side", "funding_state", "oi_state"),
                 *, outcome: str = "outcome", classes: Sequence[str] = OUTCOMES
                 ) -> pd.DataFrame:
    """Return the cross-tab of states and outcomes: counts and shares within each state.

    Returns:
        One row per observed combination of ``by`` and every outcome class (zeros included):
        the ``by`` columns, ``outcome``, ``count``, ``n`` (rows in the state), ``share``
        (count / n) and its Wilson 95 % interval ``share_lo``, ``share_hi``.
    """
    by = list(by)
    counts = frame.groupby([*by, outcome]).size().unstack(outcome, fill_value=0)
    counts = counts.reindex(columns=list(classes), fill_value=0)
    counts.columns.name = outcome
    long = counts.stack().rename("count").reset_index()
    long["n"] = long.groupby(by)["count"].transform("sum")
    long["share"] = long["count"] / long["n"]
    long["share_lo"], long["share_hi"] = wilson_interval(long["count"], long["n"])
    return long


def compare_state(frame: pd.DataFrame, state: Mapping[str, object], outcome_class: str, *,
                  outcome: str = "outcome") -> pd.DataFrame:
    """Return how often ``outcome_class`` follows ``state`` and how often it follows otherwise.

    ``state`` maps columns to values, e.g. ``{"side": "long", "funding_state": "high",
    "oi_state": "falling"}``. "Otherwise" is every row of the same ``side`` (when ``state``
    names one) not in the state, so the claim is compared with its own side's base rate.

    Returns:
        Two rows, ``group`` 'state' and 'otherwise', with ``n``, ``count``, ``share``,
        ``share_lo`` and ``share_hi`` (Wilson 95 %).
    """
    in_state = np.ones(len(frame), dtype=bool)
    for column, value in state.items():
        in_state &= (frame[column] == value).to_numpy()
    base = (frame["side"] == state["side"]).to_numpy() if "side" in state else True
    hit = (frame[outcome] == outcome_class).to_numpy()
    rows = []
    for group, mask in (("state", in_state), ("otherwise", ~in_state & base)):
        n, count = int(mask.sum()), int((mask & hit).sum())
        rows.append({"group": group, "n": n, "count": count})
    out = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = out["count"] / out["n"].where(out["n"] > 0)
    out["share_lo"], out["share_hi"] = wilson_interval(out["count"], out["n"])
    return out
