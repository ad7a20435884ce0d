"""What happened to each liquidation cluster within a horizon: untouched, bounced, swept, cascade.

For a cluster seen at decision time ``t0`` the price path over ``(t0, t0 + H]`` is read in the
cluster's direction (down for a long cluster below the price, up for a short cluster above):

- **touch**: the price comes within ``near`` (a fraction of the level) of the near edge;
- **enter**: the price reaches the near edge (crosses into the band);
- **untouched**: no touch within H;
- **bounced**: touched but never entered within H (the level held);
- **swept**: entered, liquidations of the cluster's side with liquidation prices inside the band
  fired within ``R`` of the entry, and within ``R`` of the entry the price came back beyond the
  pre-touch level (the last price before the touch) — a stop hunt: pierce, trigger, reverse;
- **cascade**: entered, not swept, and ran on at least ``run_on`` (a fraction) beyond the far
  edge (or the centre) within H;
- **pierced**: entered, but neither swept nor a cascade (it went in and stayed, or came back
  without liquidations firing).

A sweep that also ran far is a sweep: the reversal is what tells a hunt from a cascade. The
reversal window ``R`` may reach past the horizon when the entry comes late, as far as the data
go. The definitions follow the stop-hunt reading of Osler (2005), 'Stop-loss orders and price
cascades in currency markets' (J. Int. Money and Finance 24): clustered stops are either
triggered and propagate (a cascade) or the move reverses once they are taken out.

Liquidated notional is ``qty x entry_price`` (USD at entry, the unit of the heatmap) of the
liquidations of the cluster's side whose liquidation price lies in ``[low, high]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from analysis.clusters import price_path

OUTCOMES = ("untouched", "bounced", "swept", "cascade", "pierced")
"""Outcome classes, in the order tables list them."""

SIDE_SIGN = {"long": -1.0, "short": 1.0}
"""Direction from the price toward a cluster: long clusters lie below, short above."""


@njit(cache=True)
def _first_passages(t, p, i0, i_end, sign, near_edge, far_level, near, run_on, reversal_s,
                    out_touch, out_enter, out_reverse, out_run, out_extreme):
    """Fill, per level, the indices of touch, entry, reversal and run-on (-1: never).

    Prices are read as ``y = sign x p`` so that moving toward the level is ``y`` rising.
    ``out_extreme`` is the highest ``y`` over ``[i0, i_end]``.
    """
    n = len(t)
    for c in range(len(i0)):
        s = sign[c]
        e = s * near_edge[c]
        touch_at = e - abs(e) * near
        f = s * far_level[c]
        run_at = f + abs(f) * run_on
        ymax = -np.inf
        touch = -1
        enter = -1
        ran = -1
        for i in range(i0[c], i_end[c] + 1):
            y = s * p[i]
            if y > ymax:
                ymax = y
            if touch < 0 and y >= touch_at:
                touch = i
            if touch >= 0 and enter < 0 and y >= e:
                enter = i
            if enter >= 0 and ran < 0 and y >= run_at:
                ran = i
        reverse = -1
        if enter >= 0:
            pre = s * p[touch - 1] if touch > i0[c] else s * p[i0[c]]
            stop_t = t[enter] + reversal_s
            i = enter + 1
            while i < n and t[i] <= stop_t:
                if s * p[i] <= pre:
                    reverse = i
                    break
                i += 1
        out_touch[c] = touch
        out_enter[c] = enter
        out_reverse[c] = reverse
        out_run[c] = ran
        out_extreme[c] = ymax


@njit(cache=True)
def _window_sums(values, lo, hi, low_px, high_px, key, side_key, prices):
    """Return, per window ``[lo, hi)`` of the sorted events, the sum of ``values`` of the events
    of side ``side_key`` whose price lies in ``[low_px, high_px]``."""
    out = np.zeros(len(lo))
    for c in range(len(lo)):
        total = 0.0
        for j in range(lo[c], hi[c]):
            if key[j] == side_key[c] and low_px[c] <= prices[j] <= high_px[c]:
                total += values[j]
        out[c] = total
    return out


def path_indices(t_path: np.ndarray, t0: np.ndarray, horizon_s: float | np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(i0, i_end)``: the last path samples at or before ``t0`` and ``t0 + horizon``."""
    t0 = np.asarray(t0, dtype=np.float64)
    i0 = np.clip(np.searchsorted(t_path, t0, side="right") - 1, 0, None)
    i_end = np.searchsorted(t_path, t0 + horizon_s, side="right") - 1
    return i0.astype(np.int64), np.maximum(i_end, i0).astype(np.int64)


def range_max_table(y: np.ndarray) -> np.ndarray:
    """Return the sparse table of ``y``: row ``k`` holds ``max(y[i : i + 2**k])`` (-inf past
    the end), for O(1) range maxima (Bentley 1980's doubling table)."""
    y = np.asarray(y, dtype=np.float64)
    levels = max(1, int(np.ceil(np.log2(max(len(y), 1)))) + 1)
    table = np.full((levels, len(y)), -np.inf)
    table[0] = y
    for k in range(1, levels):
        half = 1 << (k - 1)
        table[k, : len(y) - half] = np.maximum(table[k - 1, : len(y) - half],
                                               table[k - 1, half:])
    return table


@njit(cache=True)
def _first_reach(table, i0, i_end, threshold, out):
    """Fill ``out[c]`` with the first index in ``[i0[c], i_end[c]]`` whose value reaches
    ``threshold[c]`` (-1: none), skipping blocks of ``2**k`` samples that stay below it."""
    levels = table.shape[0]
    for c in range(len(i0)):
        i = i0[c]
        for k in range(levels - 1, -1, -1):
            if i + (1 << k) - 1 <= i_end[c] and table[k, i] < threshold[c]:
                i += 1 << k
        out[c] = i if i <= i_end[c] and table[0, i] >= threshold[c] else -1


def time_to_touch(t_path: np.ndarray, p_path: np.ndarray, t0: np.ndarray, level: np.ndarray,
                  sign: np.ndarray, horizon_s: float | np.ndarray, near: float = 0.001
                  ) -> np.ndarray:
    """Return the seconds from ``t0`` until the path comes within ``near`` of ``level``.

    ``sign`` is -1 for a level below the price (touched from above), +1 above. NaN when the
    level is not touched within ``horizon_s`` (a number or one per level). Each query takes
    O(log n) on range-maximum tables of the path and of its negative.
    """
    t0 = np.asarray(t0, dtype=np.float64)
    level = np.asarray(level, dtype=np.float64)
    sign = np.asarray(sign, dtype=np.float64)
    i0, i_end = path_indices(t_path, t0, horizon_s)
    # In y = sign x p a touch is y >= sign x level - |level| x near (see _first_passages).
    threshold = sign * level - np.abs(level) * near
    touch = np.full(len(t0), -1, dtype=np.int64)
    for s in (-1.0, 1.0):
        pick = sign == s
        if pick.any() and len(t_path):
            found = np.empty(int(pick.sum()), dtype=np.int64)
            _first_reach(range_max_table(s * p_path), i0[pick], i_end[pick], threshold[pick],
                         found)
            touch[pick] = found
    return np.where(touch >= 0, t_path[np.clip(touch, 0, None)] - t0, np.nan)


def decision_times(times: np.ndarray, every_s: float | None = None) -> np.ndarray:
    """Return the sorted unique ``times``, keeping only the first in each ``every_s`` interval."""
    times = np.unique(np.asarray(times, dtype=np.float64))
    if every_s is None or len(times) == 0:
        return times
    slot = np.floor(times / every_s)
    return times[np.concatenate([[True], slot[1:] != slot[:-1]])]


def liquidated_notional(liquidations: pd.DataFrame, side: np.ndarray, low: np.ndarray,
                        high: np.ndarray, t_from: np.ndarray, t_to: np.ndarray) -> np.ndarray:
    """Return the USD notional (qty x entry price) liquidated per band and time window.

    Counts the liquidations of positions of ``side`` ('long' | 'short') with ``liq_price`` in
    ``[low, high]`` and ``t`` in ``(t_from, t_to]``; a NaN bound gives 0.
    """
    n = len(side)
    if liquidations.empty or n == 0:
        return np.zeros(n)
    liq = liquidations.sort_values("t", kind="stable")
    t_liq = liq["t"].to_numpy(np.float64)
    t_from = np.asarray(t_from, dtype=np.float64)
    t_to = np.asarray(t_to, dtype=np.float64)
    ok = np.isfinite(t_from) & np.isfinite(t_to)
    lo = np.searchsorted(t_liq, np.where(ok, t_from, 0.0), side="right")
    hi = np.where(ok, np.searchsorted(t_liq, np.where(ok, t_to, 0.0), side="right"), lo)
    side_key = np.where(np.asarray(side) == "long", 1, -1).astype(np.int64)
    values = (liq["qty"] * liq["entry_price"]).to_numpy(np.float64)
    return _window_sums(values, lo.astype(np.int64), np.maximum(hi, lo).astype(np.int64),
                        np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64),
                        liq["side"].to_numpy(np.int64), side_key,
                        liq["liq_price"].to_numpy(np.float64))


def classify_outcomes(clusters: pd.DataFrame, series: pd.DataFrame,
                      liquidations: pd.DataFrame, *, horizon_s: float = 4 * 3600.0,
                      near: float = 0.001, reversal_s: float = 1800.0, run_on: float = 0.01,
                      run_from: str = "far", every_s: float | None = None,
                      price_column: str = "last") -> pd.DataFrame:
    """Return each cluster's outcome within ``horizon_s`` of its decision time, one row each.

    Args:
        clusters: ``analysis.clusters.detect_clusters`` output (``t``, ``side``, ``low``,
            ``high``, ``centre``, ``near_edge`` and whatever else it carries).
        series: the run's series (the price path: ``t`` and ``price_column``).
        liquidations: the run's liquidations (``t``, ``side`` +1 long / -1 short, ``qty``,
            ``entry_price``, ``liq_price``).
        horizon_s: the horizon H (s).
        near: a touch is coming within this fraction of the near edge.
        reversal_s: the window R after the entry in which a sweep must reverse (s).
        run_on: a cascade runs at least this fraction beyond ``run_from``.
        run_from: 'far' (the far edge) or 'centre'.
        every_s: keep only the first snapshot in each ``every_s`` as decision times (None: all).
        price_column: the series column that is "the price" ('last', or 'mark').

    Returns:
        The cluster rows with added columns ``outcome`` (one of ``OUTCOMES``), ``touched``,
        ``entered``, ``reversed``, ``ran_on`` (bool), ``time_to_touch_s``,
        ``time_to_enter_s`` (NaN if never), ``liq_notional_usd`` (liquidated in the band
        within H), ``liq_notional_entry_usd`` (within R of the entry), ``mae_pct`` (the deepest
        the price went past the near edge, % of the edge; 0 if it never entered),
        ``window_s`` (the horizon the data cover) and ``complete`` (``window_s == horizon_s``).
    """
    if run_from not in ("far", "centre"):
        raise ValueError(f"run_from must be 'far' or 'centre', got {run_from!r}")
    keep = np.isin(clusters["t"].to_numpy(np.float64),
                   decision_times(clusters["t"].to_numpy(), every_s))
    out = clusters[keep].reset_index(drop=True)
    t_path, p_path = price_path(series, price_column)
    t0 = out["t"].to_numpy(np.float64)
    sign = out["side"].map(SIDE_SIGN).to_numpy(np.float64)
    near_edge = out["near_edge"].to_numpy(np.float64)
    far_edge = np.where(sign < 0, out["low"].to_numpy(np.float64),
                        out["high"].to_numpy(np.float64))
    far = far_edge if run_from == "far" else out["centre"].to_numpy(np.float64)
    i0, i_end = path_indices(t_path, t0, horizon_s)
    n = len(out)
    touch, enter, rev, ran = (np.empty(n, np.int64) for _ in range(4))
    extreme = np.empty(n)
    _first_passages(t_path, p_path, i0, i_end, sign, near_edge, far, near, run_on,
                    reversal_s, touch, enter, rev, ran, extreme)

    def when(index: np.ndarray) -> np.ndarray:
        return np.where(index >= 0, t_path[np.clip(index, 0, None)], np.nan)

    t_enter = when(enter)
    low = out["low"].to_numpy(np.float64)
    high = out["high"].to_numpy(np.float64)
    side = out["side"].to_numpy()
    liq_h = liquidated_notional(liquidations, side, low, high, t0, t0 + horizon_s)
    # Liquidations at the entry's own timestamp count: the search is (t_enter - eps, t_enter + R].
    liq_r = liquidated_notional(liquidations, side, low, high, np.nextafter(t_enter, -np.inf),
                                t_enter + reversal_s)
    touched, entered = touch >= 0, enter >= 0
    reversed_ = rev >= 0
    swept = entered & reversed_ & (liq_r > 0)
    cascade = entered & ~swept & (ran >= 0)
    outcome = np.select([~touched, ~entered, swept, cascade],
                        ["untouched", "bounced", "swept", "cascade"], "pierced")
    edge_y = sign * near_edge
    out["outcome"] = outcome
    out["touched"] = touched
    out["entered"] = entered
    out["reversed"] = reversed_
    out["ran_on"] = ran >= 0
    out["time_to_touch_s"] = when(touch) - t0
    out["time_to_enter_s"] = t_enter - t0
    out["liq_notional_usd"] = liq_h
    out["liq_notional_entry_usd"] = np.where(entered, liq_r, 0.0)
    out["mae_pct"] = 100.0 * np.maximum(extreme - edge_y, 0.0) / np.abs(edge_y)
    window = np.minimum(horizon_s, (t_path[-1] if len(t_path) else 0.0) - t0)
    out["window_s"] = np.maximum(window, 0.0)
    out["complete"] = out["window_s"].to_numpy() >= horizon_s
    return out
