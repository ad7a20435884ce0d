"""Liquidation clusters: bands of a heatmap far denser than their neighbourhood, tracked in time.

A cluster is a run of contiguous price bins of one side of a liquidation heatmap (the true map
or the public estimate, both ``T x P`` arrays of USD notional over ``price_edges``) in which
every bin holds more than ``multiple`` times the local median of its side (a rolling median
over ``+/- window_bins`` bins, the usual peak-over-local-baseline rule of peak detection), and
whose total notional is at least ``min_notional``. Each cluster carries its distance from the
price in percent and in ATR units (Wilder 1978, 'New Concepts in Technical Trading Systems':
average true range over 14 one-minute bars), and a track id that follows it from snapshot to
snapshot while its band keeps overlapping a band of the same side.

Sides follow the liquidated positions: ``long`` clusters are longs' liquidation prices, below
the price; ``short`` clusters are shorts', above it. A band on the wrong side of the price (or
straddling it) is being liquidated right now and is not a level price can still move to, so it
is left out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

SIDES = ("long", "short")
"""Cluster sides: ``long`` = liquidation prices of longs (below the price), ``short`` above."""

CLUSTER_COLUMNS = ("t", "snapshot", "side", "track_id", "low", "high", "width", "centre",
                   "near_edge", "notional", "n_bins", "price", "distance_pct",
                   "edge_distance_pct", "atr", "distance_atr")


def price_path(series: pd.DataFrame, column: str = "last") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(t, price)`` arrays of ``column``, gaps filled with the last value or the mid.

    Before the first trade ``last`` is NaN; those rows take ``mid`` so a path exists from the
    first row on. Rows that still have no price are dropped.
    """
    price = series[column].ffill()
    if "mid" in series.columns:
        price = price.fillna(series["mid"].ffill())
    ok = price.notna().to_numpy()
    return (series["t"].to_numpy(np.float64)[ok], price.to_numpy(np.float64)[ok])


def value_at(t_path: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Return the path's value at each of ``times`` (the last sample at or before; NaN before)."""
    times = np.asarray(times, dtype=np.float64)
    if len(t_path) == 0:
        return np.full(times.shape, np.nan)
    i = np.searchsorted(t_path, times, side="right") - 1
    out = np.asarray(values, dtype=np.float64)[np.clip(i, 0, None)]
    out[i < 0] = np.nan
    return out


def minute_bars(series: pd.DataFrame, bar_s: float = 60.0, column: str = "last"
                ) -> pd.DataFrame:
    """Return OHLC bars of ``column``: ``t_close, open, high, low, close`` (one row per bar).

    A sample at time ``t`` belongs to bar ``ceil(t / bar_s) - 1``, i.e. bar ``k`` covers
    ``(k * bar_s, (k + 1) * bar_s]`` and closes at ``(k + 1) * bar_s``; bars without a sample
    are left out.
    """
    t, p = price_path(series, column)
    k = np.ceil(t / bar_s).astype(np.int64) - 1
    g = pd.Series(p).groupby(k)
    bars = pd.DataFrame({"open": g.first(), "high": g.max(), "low": g.min(), "close": g.last()})
    bars.insert(0, "t_close", (bars.index.to_numpy() + 1) * bar_s)
    return bars.reset_index(drop=True)


def average_true_range(bars: pd.DataFrame, n: int = 14) -> np.ndarray:
    """Return Wilder's average true range of ``bars`` (one value per bar, at its close).

    Wilder (1978): ``TR = max(high - low, |high - prev close|, |low - prev close|)`` (the first
    bar's TR is its range); ``ATR`` is the mean of the first ``n`` TRs, then
    ``ATR_k = ATR_{k-1} + (TR_k - ATR_{k-1}) / n``. Before ``n`` bars exist the mean of the TRs
    so far is used, so the first bars already have a (noisier) value.
    """
    high = bars["high"].to_numpy(np.float64)
    low = bars["low"].to_numpy(np.float64)
    close = bars["close"].to_numpy(np.float64)
    prev = np.concatenate([close[:1], close[:-1]])
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
    if len(tr) <= n:
        return np.cumsum(tr) / np.arange(1, len(tr) + 1)
    head = np.cumsum(tr[:n]) / np.arange(1, n + 1)
    # Wilder's smoothing is an exponential average with alpha = 1/n seeded by the n-bar mean.
    tail = pd.Series(np.concatenate([head[-1:], tr[n:]])).ewm(alpha=1.0 / n, adjust=False)
    return np.concatenate([head, tail.mean().to_numpy()[1:]])


def atr_at(series: pd.DataFrame, times: np.ndarray, *, bar_s: float = 60.0, n: int = 14,
           column: str = "last") -> np.ndarray:
    """Return the ATR (USD) known at each of ``times``: that of the last bar closed by then.

    NaN before the first bar closes, so no value looks ahead.
    """
    bars = minute_bars(series, bar_s, column)
    if bars.empty:
        return np.full(len(times), np.nan)
    return value_at(bars["t_close"].to_numpy(np.float64), average_true_range(bars, n), times)


def local_median(density: np.ndarray, window_bins: int = 25) -> np.ndarray:
    """Return the rolling median of each row of ``density`` over ``+/- window_bins`` bins.

    The window is centred and truncated at the grid's ends.
    """
    frame = pd.DataFrame(np.asarray(density, dtype=np.float64).T)
    roll = frame.rolling(2 * window_bins + 1, center=True, min_periods=1)
    return roll.median().to_numpy().T


def find_bands(density: np.ndarray, *, multiple: float = 3.0, window_bins: int = 25
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(row, first_bin, last_bin)`` of every run of bins above the local level.

    A bin is in a band when its value is positive and exceeds ``multiple`` x its local median
    (``local_median``); a band is a maximal run of such bins in one row (bins inclusive).
    """
    density = np.asarray(density, dtype=np.float64)
    hot = (density > 0) & (density > multiple * local_median(density, window_bins))
    padded = np.zeros((hot.shape[0], hot.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = hot
    step = np.diff(padded, axis=1)
    rows, first = np.nonzero(step == 1)
    # nonzero scans row-major, so each row's starts and ends pair up in order.
    _, end = np.nonzero(step == -1)
    return rows, first, end - 1


def assign_tracks(snapshot: np.ndarray, side: np.ndarray, first_bin: np.ndarray,
                  last_bin: np.ndarray) -> np.ndarray:
    """Return a track id per band: bands that overlap one of the previous snapshot share its id.

    Bands are matched side by side between consecutive snapshots (a gap of one snapshot ends
    a track). A band takes the id of the previous band it overlaps by the most bins (ties: the
    lower band); when several bands claim one previous band, the one with the largest overlap
    keeps the id (ties: the lower band) and the others start new tracks. Ids count from 0 in
    order of first appearance (snapshot, side, price).
    """
    n = len(snapshot)
    track = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((first_bin, side, snapshot))
    next_id = 0
    prev: dict[object, list[int]] = {}
    prev_snap = None
    i = 0
    while i < n:
        s = snapshot[order[i]]
        j = i
        while j < n and snapshot[order[j]] == s:
            j += 1
        current: dict[object, list[int]] = {}
        for k in order[i:j]:
            current.setdefault(side[k], []).append(int(k))
        consecutive = prev_snap is not None and s == prev_snap + 1
        for sd, members in current.items():
            candidates = prev.get(sd, []) if consecutive else []
            claims: dict[int, tuple[int, int]] = {}  # previous band -> (overlap, band)
            for k in members:
                best, best_overlap = -1, 0
                for q in candidates:
                    overlap = min(last_bin[k], last_bin[q]) - max(first_bin[k], first_bin[q]) + 1
                    if overlap > best_overlap:
                        best, best_overlap = q, overlap
                if best >= 0 and (best not in claims or best_overlap > claims[best][0]):
                    claims[best] = (best_overlap, k)
            for q, (_, k) in claims.items():
                track[k] = track[q]
            for k in members:
                if track[k] < 0:
                    track[k] = next_id
                    next_id += 1
        prev, prev_snap = current, s
        i = j
    return track


def detect_clusters(heatmap: Mapping[str, np.ndarray], series: pd.DataFrame, *,
                    multiple: float = 3.0, window_bins: int = 25,
                    min_notional: float = 500_000.0, atr_bars: int = 14,
                    price_column: str = "last") -> pd.DataFrame:
    """Return every liquidation cluster of every snapshot of ``heatmap``, one row each.

    Args:
        heatmap: ``t`` (T), ``price_edges`` (P+1, equal bins), ``long`` and ``short`` (T x P)
            USD notional per bin: the true map of a run or an estimate on the same layout.
        series: the run's series (``t`` and ``price_column``; ``mid`` fills gaps).
        multiple: a bin is hot when it exceeds this multiple of its local median.
        window_bins: half-width of the rolling-median window, in bins.
        min_notional: a band's minimum total notional (USD).
        atr_bars: bars in Wilder's ATR of 1-minute bars.
        price_column: the series column that is "the price".

    Returns:
        One row per cluster, sorted by ``t``, ``side``, ``low``, with columns ``t`` (snapshot
        time, s), ``snapshot`` (its index), ``side`` ('long' | 'short'), ``track_id``, ``low``,
        ``high``, ``width`` (USD, band edges), ``centre`` (notional-weighted mean of the bins'
        mid prices), ``near_edge`` (the edge facing the price: ``high`` for long clusters,
        ``low`` for short), ``notional`` (USD), ``n_bins``, ``price`` (at ``t``),
        ``distance_pct`` (price to centre, % of price, positive), ``edge_distance_pct`` (price to
        the near edge), ``atr`` (USD, last closed bar) and ``distance_atr`` (price to centre / ATR).
    """
    t = np.asarray(heatmap["t"], dtype=np.float64)
    edges = np.asarray(heatmap["price_edges"], dtype=np.float64)
    mids = 0.5 * (edges[:-1] + edges[1:])
    parts = []
    for side in SIDES:
        density = np.asarray(heatmap[side], dtype=np.float64)
        rows, first, last = find_bands(density, multiple=multiple, window_bins=window_bins)
        cum = np.concatenate([np.zeros((len(t), 1)), np.cumsum(density, axis=1)], axis=1)
        cum_px = np.concatenate([np.zeros((len(t), 1)), np.cumsum(density * mids, axis=1)],
                                axis=1)
        notional = cum[rows, last + 1] - cum[rows, first]
        weighted = cum_px[rows, last + 1] - cum_px[rows, first]
        parts.append(pd.DataFrame({
            "snapshot": rows, "side": side, "first_bin": first, "last_bin": last,
            "low": edges[first], "high": edges[last + 1], "notional": notional,
            "centre": weighted / np.where(notional > 0, notional, 1.0),
        }))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["notional"] >= min_notional]
    frame.insert(0, "t", t[frame["snapshot"].to_numpy()])
    t_path, p_path = price_path(series, price_column)
    price = value_at(t_path, p_path, frame["t"].to_numpy())
    is_long = (frame["side"] == "long").to_numpy()
    reachable = np.where(is_long, frame["high"].to_numpy() < price,
                         frame["low"].to_numpy() > price)
    frame = frame[reachable].copy()
    price = price[reachable]
    is_long = is_long[reachable]
    frame["price"] = price
    frame["width"] = frame["high"] - frame["low"]
    frame["near_edge"] = np.where(is_long, frame["high"], frame["low"])
    frame["n_bins"] = frame["last_bin"] - frame["first_bin"] + 1
    gap = np.abs(frame["centre"].to_numpy() - price)
    frame["distance_pct"] = 100.0 * gap / price
    frame["edge_distance_pct"] = 100.0 * np.abs(frame["near_edge"].to_numpy() - price) / price
    frame["atr"] = atr_at(series, frame["t"].to_numpy(), n=atr_bars, column=price_column)
    frame["distance_atr"] = gap / frame["atr"].to_numpy()
    frame["track_id"] = assign_tracks(frame["snapshot"].to_numpy(),
                                      frame["side"].to_numpy(dtype=str),
                                      frame["first_bin"].to_numpy(),
                                      frame["last_bin"].to_numpy())
    frame = frame.sort_values(["t", "side", "low"], kind="stable").reset_index(drop=True)
    return frame[list(CLUSTER_COLUMNS)]
