"""The magnet test: do liquidation clusters pull price toward them?

**Magnet lift** (by distance bucket) = P(touch within H | a cluster's near edge at distance d)
/ P(touch within H | a random level at distance d, same side, same path). The null levels are
drawn, per cluster, at the cluster's own distance and side from the price at decision times
drawn at random (uniformly, with a seeded Generator) from the run's decision times, and are
given the same observable horizon as the cluster. A null level at the cluster's own time as well
would be the cluster's own level, so time is what the null randomizes: if clusters carry no
information, a level at distance d is touched as often at a cluster's time as at any other, and
the lift is 1. Intervals are percentile bootstrap intervals (Efron and Tibshirani 1993, 'An
Introduction to the Bootstrap', ch. 13) over runs (seeds) drawn with replacement; with a
single run, over blocks of consecutive decision times (the non-overlapping block bootstrap of
Carlstein 1986, Annals of Statistics 14), since touches over overlapping horizons are dependent.

**Direction logit**: at each decision time, whether the price over the next ``horizon_s`` moved
toward the nearest cluster (1) or away (0), regressed on the cluster's distance, log notional,
the funding rate and the OI change over the last hour, by Newton-Raphson / IRLS maximum
likelihood (McCullagh and Nelder 1989, 'Generalized Linear Models', sec. 4.4). This is the
magnet-effect test of the price-limit literature (Cho, Russell, Tiao and Tsay 2003, 'The
magnet effect of price limits', J. Empirical Finance 10), with the cluster for the limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.clusters import price_path, value_at
from analysis.outcomes import SIDE_SIGN, time_to_touch
from analysis.signals import oi_change_pct

DISTANCE_BUCKETS_PCT = (0.0, 0.5, 1.0, 2.0, 5.0)
"""Bucket edges of the near edge's distance from the price (% of price)."""

LOGIT_FEATURES = ("distance_pct", "log_notional", "funding_rate", "oi_change_pct")


def magnet_levels(clusters: pd.DataFrame, series: pd.DataFrame, *, rng: np.random.Generator,
                  horizon_s: float = 4 * 3600.0, near: float = 0.001, n_null: int = 20,
                  decision_times: np.ndarray | None = None, run: object = 0,
                  price_column: str = "last") -> pd.DataFrame:
    """Return the touch indicator of every cluster level and of its ``n_null`` random levels.

    Args:
        clusters: ``detect_clusters`` output (``t``, ``side``, ``edge_distance_pct``).
        series: the run's series (the price path).
        rng: the Generator that draws the null levels' times.
        horizon_s: the horizon H (s).
        near: a touch is coming within this fraction of the level (as in ``outcomes``).
        n_null: random levels per cluster.
        decision_times: times the null may be drawn at (default: the clusters' times; pass the
            heatmap's ``t`` to include snapshots without clusters).
        run: a label for this run (a seed), copied to every row.
        price_column: the series column that is "the price".

    Returns:
        One row per level: ``run``, ``t_decision`` (the cluster's time), ``t`` (the level's
        time: the cluster's, or the drawn one), ``side``, ``distance_pct``, ``kind``
        ('cluster' | 'null'), ``window_s`` (horizon covered by the data) and ``touched``.
    """
    t_path, p_path = price_path(series, price_column)
    t_end = t_path[-1] if len(t_path) else 0.0
    t0 = clusters["t"].to_numpy(np.float64)
    side = clusters["side"].to_numpy()
    dist = clusters["edge_distance_pct"].to_numpy(np.float64)
    window = np.clip(t_end - t0, 0.0, horizon_s)
    pool = np.unique(t0 if decision_times is None else np.asarray(decision_times, np.float64))
    # A null time must leave the cluster's window inside the data: t' <= t_end - window.
    n_ok = np.searchsorted(pool, t_end - window, side="right")
    n_ok = np.maximum(n_ok, 1)
    draws = np.floor(rng.random((len(t0), n_null)) * n_ok[:, None]).astype(np.int64)
    t_null = pool[draws].ravel()
    rep = np.repeat(np.arange(len(t0)), n_null)
    levels = pd.DataFrame({
        "t_decision": np.concatenate([t0, t0[rep]]),
        "t": np.concatenate([t0, t_null]),
        "side": np.concatenate([side, side[rep]]),
        "distance_pct": np.concatenate([dist, dist[rep]]),
        "kind": np.repeat(["cluster", "null"], [len(t0), len(t_null)]),
        "window_s": np.concatenate([window, window[rep]]),
    })
    sign = levels["side"].map(SIDE_SIGN).to_numpy(np.float64)
    t_lvl = levels["t"].to_numpy(np.float64)
    price = value_at(t_path, p_path, t_lvl)
    level = price * (1.0 + sign * levels["distance_pct"].to_numpy() / 100.0)
    wait = time_to_touch(t_path, p_path, t_lvl, level, sign, levels["window_s"].to_numpy(),
                         near)
    levels["touched"] = np.isfinite(wait)
    levels.insert(0, "run", run)
    return levels


def _percentile_interval(draws: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 100.0 * (1.0 - confidence) / 2.0
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(draws), draws, np.nan)
        all_nan = np.all(np.isnan(finite), axis=0)
        safe = np.where(all_nan[None, :], 0.0, finite)
        lo = np.nanpercentile(safe, alpha, axis=0)
        hi = np.nanpercentile(safe, 100.0 - alpha, axis=0)
    return np.where(all_nan, np.nan, lo), np.where(all_nan, np.nan, hi)


def magnet_lift(levels: pd.DataFrame, *, rng: np.random.Generator,
                buckets: Sequence[float] = DISTANCE_BUCKETS_PCT, n_boot: int = 1000,
                block_s: float | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Return the magnet lift per distance bucket with its bootstrap interval.

    Args:
        levels: ``magnet_levels`` rows of one run or many (concatenated; ``run`` tells them
            apart).
        rng: the Generator of the bootstrap draws.
        buckets: edges of the distance buckets (%); a level at distance d is in bucket
            ``[lo, hi)``.
        n_boot: bootstrap replicates.
        block_s: block length (s) of the single-run bootstrap (default: the largest
            ``window_s``, i.e. the horizon).
        confidence: the interval's coverage.

    Returns:
        One row per bucket: ``bucket`` ('0-0.5%'), ``lo_pct``, ``hi_pct``, ``n_cluster``,
        ``n_null``, ``p_touch_cluster``, ``p_touch_null``, ``lift``, ``lift_lo``, ``lift_hi``,
        ``n_units`` (runs or blocks resampled) and ``resampled`` ('runs' | 'blocks').
    """
    edges = np.asarray(buckets, dtype=np.float64)
    k = len(edges) - 1
    b = np.searchsorted(edges, levels["distance_pct"].to_numpy(np.float64), side="right") - 1
    in_range = (b >= 0) & (b < k)
    runs = levels["run"].to_numpy()
    if len(pd.unique(runs)) > 1:
        resampled = "runs"
        unit = pd.factorize(runs)[0]
    else:
        resampled = "blocks"
        width = block_s if block_s is not None else float(levels["window_s"].max() or 1.0)
        unit = pd.factorize(np.floor(levels["t_decision"].to_numpy() / max(width, 1e-9)))[0]
    n_units = int(unit.max()) + 1 if len(unit) else 0
    is_null = (levels["kind"] == "null").to_numpy()
    touched = levels["touched"].to_numpy(bool)
    # counts[u, j, bucket]: j = cluster levels, cluster touches, null levels, null touches.
    counts = np.zeros((max(n_units, 1), 4, k))
    for j, (mask, weight) in enumerate([(~is_null, None), (~is_null, touched),
                                        (is_null, None), (is_null, touched)]):
        sel = in_range & mask
        w = np.ones(sel.sum()) if weight is None else weight[sel].astype(np.float64)
        np.add.at(counts, (unit[sel], j, b[sel]), w)
    total = counts.sum(axis=0)

    def lift_of(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            p_cluster = c[..., 1, :] / c[..., 0, :]
            p_null = c[..., 3, :] / c[..., 2, :]
            return p_cluster, p_null, p_cluster / p_null

    p_cluster, p_null, lift = lift_of(total)
    lo = hi = np.full(k, np.nan)
    if n_units >= 2 and n_boot > 0:
        picks = rng.integers(0, n_units, size=(n_boot, n_units))
        weights = np.zeros((n_boot, n_units))
        np.add.at(weights, (np.repeat(np.arange(n_boot), n_units), picks.ravel()), 1.0)
        boot = np.einsum("bu,ujk->bjk", weights, counts)
        lo, hi = _percentile_interval(lift_of(boot)[2], confidence)
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}%" for i in range(k)]
    return pd.DataFrame({
        "bucket": labels, "lo_pct": edges[:-1], "hi_pct": edges[1:],
        "n_cluster": total[0].astype(np.int64), "n_null": total[2].astype(np.int64),
        "p_touch_cluster": p_cluster, "p_touch_null": p_null, "lift": lift,
        "lift_lo": lo, "lift_hi": hi, "n_units": n_units, "resampled": resampled,
    })


def direction_table(clusters: pd.DataFrame, series: pd.DataFrame, *, horizon_s: float = 900.0,
                    lookback_s: float = 3600.0, price_column: str = "last",
                    funding_column: str = "funding_rate") -> pd.DataFrame:
    """Return, per decision time, the nearest cluster and whether price moved toward it.

    The nearest cluster is the one whose near edge is closest to the price (either side).
    Times whose move is zero or whose horizon runs past the data are left out.

    Returns:
        ``t``, ``side``, ``distance_pct`` (to the near edge), ``notional``, ``log_notional``
        (natural log of USD), ``funding_rate`` (the series' ``funding_column`` at ``t``),
        ``oi_change_pct`` (over ``lookback_s``), ``move_pct`` (price change over the horizon, %)
        and ``toward`` (1 if the move was toward the cluster, else 0).
    """
    if clusters.empty:
        return pd.DataFrame(columns=["t", "side", "distance_pct", "notional", "log_notional",
                                     "funding_rate", "oi_change_pct", "move_pct", "toward"])
    nearest = clusters.loc[clusters.groupby("t")["edge_distance_pct"].idxmin()]
    t0 = nearest["t"].to_numpy(np.float64)
    t_path, p_path = price_path(series, price_column)
    p0 = value_at(t_path, p_path, t0)
    p1 = value_at(t_path, p_path, t0 + horizon_s)
    move = 100.0 * (p1 / p0 - 1.0)
    sign = nearest["side"].map(SIDE_SIGN).to_numpy(np.float64)
    t_s = series["t"].to_numpy(np.float64)
    table = pd.DataFrame({
        "t": t0, "side": nearest["side"].to_numpy(),
        "distance_pct": nearest["edge_distance_pct"].to_numpy(np.float64),
        "notional": nearest["notional"].to_numpy(np.float64),
        "log_notional": np.log(nearest["notional"].to_numpy(np.float64)),
        "funding_rate": value_at(t_s, series[funding_column].to_numpy(np.float64), t0),
        "oi_change_pct": oi_change_pct(series, t0, lookback_s),
        "move_pct": move,
        "toward": (move * sign > 0).astype(np.int64),
    })
    in_data = (t0 + horizon_s <= (t_path[-1] if len(t_path) else -np.inf)) & (move != 0)
    return table[in_data].reset_index(drop=True)


def logistic_regression(x: np.ndarray, y: np.ndarray, *, max_iter: int = 50, tol: float = 1e-10
                        ) -> tuple[np.ndarray, np.ndarray, bool, int, float]:
    """Return ``(coef, se, converged, iterations, log_likelihood)`` of a logit of ``y`` on ``x``.

    Newton-Raphson (equivalently IRLS) on the Bernoulli log-likelihood; ``x`` must hold the
    intercept column if one is wanted. Standard errors are the square roots of the diagonal of
    the inverse observed information ``(X' W X)^-1`` at the optimum, ``W = diag(p (1 - p))``.
    Under complete separation the likelihood has no maximum: ``converged`` is False then.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    beta = np.zeros(x.shape[1])
    converged = False
    iterations = 0
    while not converged and iterations < max_iter:
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        info = x.T @ (x * (p * (1.0 - p))[:, None])
        step = np.linalg.solve(info, x.T @ (y - p))
        beta = beta + step
        iterations += 1
        converged = bool(np.max(np.abs(step)) < tol * (1.0 + np.max(np.abs(beta))))
    eta = x @ beta
    p = 1.0 / (1.0 + np.exp(-eta))
    info = x.T @ (x * (p * (1.0 - p))[:, None])
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    # log L = sum(y eta - log(1 + e^eta)), written stably.
    log_lik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    return beta, se, converged, iterations, log_lik


def direction_logit(table: pd.DataFrame, features: Sequence[str] = LOGIT_FEATURES, *,
                    outcome: str = "toward") -> pd.DataFrame:
    """Return the direction logit's coefficient table (intercept first).

    Rows with a missing feature are dropped; a feature without variation in what is left
    (funding before the first settlement, say) cannot be estimated and gets a NaN row. When
    the information matrix is singular (collinear features, complete separation) every row is
    NaN and ``attrs["converged"]`` is False.

    Returns:
        One row per term: ``term``, ``coef``, ``se``, ``z``, ``p_value`` (two-sided, normal);
        ``attrs`` hold ``n``, ``converged``, ``iterations`` and ``log_likelihood``.
    """
    data = table[[*features, outcome]].dropna()
    usable = [f for f in features if data[f].nunique() > 1]
    x = np.column_stack([np.ones(len(data))] + [data[f].to_numpy(np.float64) for f in usable])
    terms = ["intercept", *features]
    coef = pd.Series(np.nan, index=terms)
    se = pd.Series(np.nan, index=terms)
    converged, iterations, log_lik = False, 0, float("nan")
    if len(data) > x.shape[1]:
        try:
            b, s, converged, iterations, log_lik = logistic_regression(
                x, data[outcome].to_numpy(np.float64))
            coef[["intercept", *usable]] = b
            se[["intercept", *usable]] = s
        except np.linalg.LinAlgError:  # collinear features, or separation drove p to 0 / 1
            converged = False
    z = coef / se
    p_value = [math.erfc(abs(v) / math.sqrt(2.0)) if np.isfinite(v) else np.nan for v in z]
    out = pd.DataFrame({"term": terms, "coef": coef.to_numpy(), "se": se.to_numpy(),
                        "z": z.to_numpy(), "p_value": p_value})
    out.attrs.update(n=len(data), converged=converged, iterations=iterations,
                     log_likelihood=log_lik)
    return out
