"""How accurate is the public heatmap estimate? Scored against the true map of the same run.

A map is a dict in the form of ``RunResult.heatmap``: ``price_edges`` (P+1,), ``long`` and
``short`` (T, P) in USD, and optionally ``t`` (T,). Both maps must share one grid (same edges,
same snapshot times), which :func:`estimated_map` arranges.

Scores, per run:

* Pearson correlation of the two maps over the grid (cells flattened over time × price), per
  side and combined (the long and short cells of each map concatenated, so that density put on
  the wrong side counts against the estimate);
* top-k clusters: in every snapshot and on each side, the k highest local maxima of the map
  smoothed over ``smooth_bins`` price bins, centred on their bin's mid-price. Estimated and true
  clusters of the same snapshot and side are paired greedily, nearest first, one to one, when
  their centres lie within ``price_tolerance`` (a fraction of the true centre). Precision =
  matched / estimated clusters, recall = matched / true clusters, pooled over snapshots and
  sides; the centre error is the mean |estimated − true| centre of the matched pairs.

This is the standard detection scoring of peak matching within a tolerance window (as in
onset/beat detection evaluation, e.g. ``mir_eval``), applied to the heatmap's price axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sim.heatmap_estimate import DEFAULT_LEVERAGE_MIX, estimate_heatmap
from sim.public_data import candles

__all__ = ["ACCURACY_COLUMNS", "accuracy_table", "estimated_map", "map_accuracy",
           "match_clusters", "pearson", "top_clusters"]

ACCURACY_COLUMNS = ("pearson_long", "pearson_short", "pearson_combined", "precision", "recall",
                    "centre_error_usd", "centre_error_frac", "n_true", "n_est", "n_matched")


def estimated_map(result, interval_s: float = 60.0,
                  leverage_mix: Mapping[float, float] = DEFAULT_LEVERAGE_MIX,
                  **estimator_options) -> dict[str, np.ndarray]:
    """Return the public estimate of a run's map, on the grid of its true map (same keys).

    Candles of ``interval_s`` are built from the run's trades and series
    (:func:`sim.public_data.candles`), after the 1-minute candles of a warm start's past
    (``result.warm_candles``, which a dashboard watching the venue would have seen), and fed
    to :func:`sim.heatmap_estimate.estimate_heatmap` at the true map's snapshot times;
    ``estimator_options`` go to it (``naive``, ``tiers``, ``initial_oi``, ``position_usd``).
    """
    true = result.heatmap
    bars = candles(result.trades, result.series, interval_s)
    if len(result.warm_candles):
        bars = pd.concat([result.warm_candles, bars], ignore_index=True)
    long_usd, short_usd = estimate_heatmap(bars, true["price_edges"], true["t"],
                                           leverage_mix=leverage_mix, **estimator_options)
    return {"t": np.asarray(true["t"]).copy(), "price_edges": np.asarray(true["price_edges"]),
            "long": long_usd, "short": short_usd}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Pearson correlation of two equal-shaped arrays (flattened); NaN if one is flat."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"arrays must have one shape, got {np.shape(a)} and {np.shape(b)}")
    dx = x - x.mean()
    dy = y - y.mean()
    denom = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    return float(np.dot(dx, dy) / denom) if denom > 0 else float("nan")


def top_clusters(density: np.ndarray, edges: np.ndarray, k: int = 5,
                 smooth_bins: int = 3) -> np.ndarray:
    """Return (T, k) centre prices of each row's k largest local maxima; NaN where fewer.

    Each row (one snapshot, one side) is smoothed along price by a triangular kernel of
    ``smooth_bins`` bins (e.g. 3 -> weights 1/4, 1/2, 1/4; zero beyond the grid), which keeps a
    one-bin spike peaked at its own bin. A bin is a local maximum when its smoothed value is
    > 0, > its left neighbour's and >= its right neighbour's (a flat top counts once, at its
    left end). Centres are bin mid-prices, largest maximum first.
    """
    if k < 1 or smooth_bins < 1:
        raise ValueError(f"k and smooth_bins must be >= 1, got {k!r} and {smooth_bins!r}")
    d = np.atleast_2d(np.asarray(density, dtype=np.float64))
    edges = np.asarray(edges, dtype=np.float64)
    n_rows, n_bins = d.shape
    kernel = np.bartlett(smooth_bins + 2)[1:-1]
    kernel /= kernel.sum()
    half = smooth_bins // 2
    padded = np.pad(d, ((0, 0), (half, smooth_bins - 1 - half)))
    s = np.zeros_like(d)
    for j, w in enumerate(kernel):
        s += w * padded[:, j : j + n_bins]
    left = np.pad(s, ((0, 0), (1, 0)), constant_values=-np.inf)[:, :-1]
    right = np.pad(s, ((0, 0), (0, 1)), constant_values=-np.inf)[:, 1:]
    peak = (s > 0) & (s > left) & (s >= right)
    score = np.where(peak, s, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")[:, :k]
    found = np.isfinite(np.take_along_axis(score, order, axis=1))
    mids = 0.5 * (edges[:-1] + edges[1:])
    out = np.full((n_rows, k), np.nan)
    out[:, : order.shape[1]] = np.where(found, mids[order], np.nan)
    return out


def match_clusters(true_centres: np.ndarray, est_centres: np.ndarray,
                   price_tolerance: float = 0.005) -> tuple[int, int, int, float, float]:
    """Return (n_true, n_est, n_matched, sum |error| USD, sum |error|/true) for one row pair.

    NaN centres are absent. Pairs are taken nearest first, each centre at most once, while
    ``|est − true| <= price_tolerance × true``.
    """
    tc = np.asarray(true_centres, dtype=np.float64)
    ec = np.asarray(est_centres, dtype=np.float64)
    tc = tc[np.isfinite(tc)]
    ec = ec[np.isfinite(ec)]
    if len(tc) == 0 or len(ec) == 0:
        return len(tc), len(ec), 0, 0.0, 0.0
    dist = np.abs(ec[None, :] - tc[:, None])
    ok = dist <= price_tolerance * tc[:, None]
    rows, cols = np.nonzero(ok)
    order = np.argsort(dist[rows, cols], kind="stable")
    used_t: set[int] = set()
    used_e: set[int] = set()
    err_usd = err_frac = 0.0
    for i, j in zip(rows[order], cols[order], strict=True):
        if i in used_t or j in used_e:
            continue
        used_t.add(i)
        used_e.add(j)
        err_usd += dist[i, j]
        err_frac += dist[i, j] / tc[i]
    return len(tc), len(ec), len(used_t), err_usd, err_frac


def _check_grid(true_map: Mapping, est_map: Mapping) -> np.ndarray:
    edges = np.asarray(true_map["price_edges"], dtype=np.float64)
    if not np.array_equal(edges, np.asarray(est_map["price_edges"], dtype=np.float64)):
        raise ValueError("the true and estimated maps must share price_edges")
    for side in ("long", "short"):
        if np.shape(true_map[side]) != np.shape(est_map[side]):
            raise ValueError(f"the maps' {side} arrays differ in shape: "
                             f"{np.shape(true_map[side])} vs {np.shape(est_map[side])}")
        if np.shape(true_map[side])[-1] != len(edges) - 1:
            raise ValueError(f"{side} must have len(price_edges) - 1 = {len(edges) - 1} columns")
    if ("t" in true_map and "t" in est_map
            and not np.allclose(true_map["t"], est_map["t"], rtol=0, atol=1e-6)):
        raise ValueError("the true and estimated maps must share snapshot times t")
    return edges


def map_accuracy(true_map: Mapping, est_map: Mapping, k: int = 5, price_tolerance: float = 0.005,
                 smooth_bins: int = 3) -> dict[str, float]:
    """Return the scores of the module docstring (keys :data:`ACCURACY_COLUMNS`) for one run.

    Args:
        true_map: The true map (``RunResult.heatmap``).
        est_map: The estimated map on the same grid.
        k: Clusters per snapshot and side.
        price_tolerance: Largest centre distance of a match, as a fraction of the true centre
            (0.005 = 0.5%).
        smooth_bins: Width, in bins, of the smoothing before peak finding.
    """
    edges = _check_grid(true_map, est_map)
    tl, ts = (np.asarray(true_map[s], dtype=np.float64) for s in ("long", "short"))
    el, es = (np.asarray(est_map[s], dtype=np.float64) for s in ("long", "short"))
    n_true = n_est = n_matched = 0
    err_usd = err_frac = 0.0
    for t_side, e_side in ((tl, el), (ts, es)):
        t_c = top_clusters(t_side, edges, k, smooth_bins)
        e_c = top_clusters(e_side, edges, k, smooth_bins)
        for row in range(t_c.shape[0]):
            nt, ne, nm, eu, ef = match_clusters(t_c[row], e_c[row], price_tolerance)
            n_true += nt
            n_est += ne
            n_matched += nm
            err_usd += eu
            err_frac += ef
    nan = float("nan")
    return {
        "pearson_long": pearson(tl, el),
        "pearson_short": pearson(ts, es),
        "pearson_combined": pearson(np.concatenate([tl.ravel(), ts.ravel()]),
                                    np.concatenate([el.ravel(), es.ravel()])),
        "precision": n_matched / n_est if n_est else nan,
        "recall": n_matched / n_true if n_true else nan,
        "centre_error_usd": err_usd / n_matched if n_matched else nan,
        "centre_error_frac": err_frac / n_matched if n_matched else nan,
        "n_true": n_true, "n_est": n_est, "n_matched": n_matched,
    }


def accuracy_table(results: Sequence[tuple[Mapping, Mapping]], k: int = 5,
                   price_tolerance: float = 0.005, smooth_bins: int = 3,
                   labels: Sequence | None = None) -> pd.DataFrame:
    """Return one row of :func:`map_accuracy` scores per (true_map, est_map) pair.

    Args:
        results: One (true map, estimated map) pair per run, e.g. per seed.
        labels: Index values (e.g. seeds); 0..n−1 when omitted.
    """
    rows = [map_accuracy(t, e, k, price_tolerance, smooth_bins) for t, e in results]
    index = pd.Index(range(len(rows)) if labels is None else list(labels), name="run")
    return pd.DataFrame(rows, columns=list(ACCURACY_COLUMNS), index=index)
