"""The magnet test: do liquidation clusters pull price toward them?

**Magnet lift** (by distance bucket) = P(touch within H | a cluster's near edge at distance d)
/ P(touch within H | a level at distance d at the same time, on the same side, without the
cluster). Touch probability at a distance depends on the volatility of the hours that follow,
and volatility clusters; clusters far from the price exist mostly after large moves, in
volatile spells. A null drawn at other times credits clusters with the volatility of the times
they exist in, and a map unrelated to the path reads as a magnet. So every cluster level is
matched, as in a matched case-control design (Breslow and Day 1980, 'Statistical Methods in
Cancer Research I', ch. 5 and 7), with ``n_null`` levels at its **own decision time** (the
same future path) and side, at distances ``d (1 + u)``, ``u`` uniform in ``-+ match_width``,
skipping the bands of other clusters of that side (the matched levels straddle the cluster's
own near edge).

On one path a level's touch is a step in its distance, so matched levels farther than the
cluster are touched less and nearer ones more; the touch rate of a symmetric band of distances
exceeds the rate at its centre by the curvature of the touch probability (second order in the
width). The matched rate at the cluster's own distance is therefore the intercept ``a`` of a
least-squares quadratic ``touched ~ a + b u + c u^2`` through the bucket's matched levels (a
local polynomial estimate at u = 0; Fan and Gijbels 1996, 'Local Polynomial Modelling and Its
Applications', ch. 3), which removes the first- and second-order terms. The lift is the
clusters' touch rate over ``a``. If a cluster says nothing about where the path goes, its
edge is touched as often as a level beside it, and the lift is 1.

Intervals are percentile bootstrap intervals (Efron and Tibshirani 1993, 'An Introduction to
the Bootstrap', ch. 13) over runs (seeds) drawn with replacement, so the dependence of touches
within a run is kept, and the quadratic is refitted in every replicate; with a single run, over
blocks of consecutive decision times (the non-overlapping block bootstrap of Carlstein 1986,
Annals of Statistics 14). A bucket whose cluster levels or matched levels have fewer than
``min_touches`` touches reads "too few touches", without a ratio.

**Direction logit**: at each decision time, whether the price over the next ``horizon_s`` moved
toward the nearest cluster (1) or away (0), regressed on the cluster's distance, log notional,
the funding rate, the OI change over the last hour and the price's own move over the previous
``horizon_s`` toward the cluster's side (a cluster's side is set by the moves before it: a long
cluster sits below after a rally, so mean reversion alone would read as "toward"; the prior
move takes that out of the other coefficients), by Newton-Raphson / IRLS maximum
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

MIN_TOUCHES = 10
"""Fewest touches, among cluster levels and among matched levels, for a bucket's lift."""

LOGIT_FEATURES = ("distance_pct", "log_notional", "funding_rate", "oi_change_pct",
                  "prior_move_pct")


def magnet_levels(clusters: pd.DataFrame, series: pd.DataFrame, *, rng: np.random.Generator,
                  horizon_s: float = 4 * 3600.0, near: float = 0.001, n_null: int = 20,
                  match_width: float = 0.25, run: object = 0,
                  price_column: str = "last") -> pd.DataFrame:
    """Return the touch indicator of every cluster level and of its matched no-cluster levels.

    Args:
        clusters: ``detect_clusters`` output: ``t``, ``side``, ``edge_distance_pct``, and
            ``low`` / ``high`` (USD) when known, the bands no matched level may fall in (within
            ``near``); without them only the near edges are avoided.
        series: the run's series (the price path).
        rng: the Generator that draws the matched levels' distances.
        horizon_s: the horizon H (s).
        near: a touch is coming within this fraction of the level (as in ``outcomes``).
        n_null: matched levels drawn per cluster (fewer when candidates fall in a band).
        match_width: a matched level's distance is uniform in ``d x (1 -+ match_width)``.
        run: a label for this run (a seed), copied to every row.
        price_column: the series column that is "the price".

    Returns:
        One row per level: ``run``, ``set`` (the matched set: the cluster's row number),
        ``t_decision`` and ``t`` (both the cluster's time), ``side``, ``distance_pct``,
        ``kind`` ('cluster' | 'null'), ``window_s`` (horizon covered by the data) and
        ``touched``.
    """
    t_path, p_path = price_path(series, price_column)
    t_end = t_path[-1] if len(t_path) else 0.0
    t0 = clusters["t"].to_numpy(np.float64)
    side = clusters["side"].to_numpy()
    dist = clusters["edge_distance_pct"].to_numpy(np.float64)
    window = np.clip(t_end - t0, 0.0, horizon_s)
    sign = pd.Series(side).map(SIDE_SIGN).to_numpy(np.float64)
    price = value_at(t_path, p_path, t0)
    # Candidates (more than needed: some fall in bands), then the first n_null outside them.
    n_try = 3 * n_null
    u = rng.random((len(t0), n_try))
    cand = dist[:, None] * (1.0 + match_width * (2.0 * u - 1.0))
    cand_price = price[:, None] * (1.0 + sign[:, None] * cand / 100.0)
    if {"low", "high"} <= set(clusters.columns):
        low, high = clusters["low"].to_numpy(np.float64), clusters["high"].to_numpy(np.float64)
    else:
        low = high = price * (1.0 + sign * dist / 100.0)
    inside = _in_other_bands(t0, side, low, high, cand_price)
    keep = ~inside & (np.cumsum(~inside, axis=1) <= n_null)
    rows, cols = np.nonzero(keep)
    levels = pd.DataFrame({
        "set": np.concatenate([np.arange(len(t0)), rows]),
        "t_decision": np.concatenate([t0, t0[rows]]),
        "side": np.concatenate([side, side[rows]]),
        "distance_pct": np.concatenate([dist, cand[rows, cols]]),
        "offset": np.concatenate([np.zeros(len(t0)), 2.0 * u[rows, cols] - 1.0]) * match_width,
        "kind": np.repeat(["cluster", "null"], [len(t0), len(rows)]),
        "window_s": np.concatenate([window, window[rows]]),
    })
    levels.insert(2, "t", levels["t_decision"])
    s = np.concatenate([sign, sign[rows]])
    p0 = np.concatenate([price, price[rows]])
    level = p0 * (1.0 + s * levels["distance_pct"].to_numpy() / 100.0)
    wait = time_to_touch(t_path, p_path, levels["t"].to_numpy(np.float64), level, s,
                         levels["window_s"].to_numpy(), near)
    levels["touched"] = np.isfinite(wait)
    levels = levels.sort_values(["set", "kind"], kind="stable").reset_index(drop=True)
    levels.insert(0, "run", run)
    return levels


def _in_other_bands(t0: np.ndarray, side: np.ndarray, low: np.ndarray, high: np.ndarray,
                    prices: np.ndarray) -> np.ndarray:
    """Return, per candidate price (row i: cluster i's), whether it lies in the band
    ``[low, high]`` of another cluster of the same time and side."""
    inside = np.zeros(prices.shape, dtype=bool)
    groups = pd.DataFrame({"t": t0, "side": side}).groupby(["t", "side"], sort=False).indices
    for idx in groups.values():
        if len(idx) < 2:
            continue
        p = prices[idx][:, :, None]
        hit = (p >= low[idx][None, None, :]) & (p <= high[idx][None, None, :])
        hit[np.arange(len(idx)), :, np.arange(len(idx))] = False  # its own band is allowed
        inside[idx] = hit.any(axis=2)
    return inside

# Sums per resampling unit and bucket: the cluster levels' count and touches, then the matched
# levels' count, moments of their offset u and touch-weighted moments (the normal equations of
# touched ~ a + b u + c u^2), then their raw touches.
(_N_CLUSTER, _Y, _S0, _S1, _S2, _S3, _S4, _T0, _T1, _T2) = range(10)
_N_TERMS = 10


def _level_terms(levels: pd.DataFrame) -> np.ndarray:
    """Return, per level, its contributions to the sums (``_N_CLUSTER`` ... ``_T2``)."""
    is_cluster = (levels["kind"] == "cluster").to_numpy()
    y = levels["touched"].to_numpy(np.float64)
    u = levels["offset"].to_numpy(np.float64)
    c, n = is_cluster.astype(np.float64), (~is_cluster).astype(np.float64)
    return np.column_stack([c, c * y, n, n * u, n * u**2, n * u**3, n * u**4, n * y,
                            n * y * u, n * y * u**2])


def _null_rate_at_zero(s: np.ndarray) -> np.ndarray:
    """Return the intercept ``a`` of the least-squares quadratic ``a + b u + c u^2`` through
    the matched levels' touches, from the sums ``s[..., term, bucket]`` (Cramer's rule),
    clipped to [0, 1]; NaN where the moments are singular."""
    m = np.stack([np.stack([s[..., _S0, :], s[..., _S1, :], s[..., _S2, :]], -1),
                  np.stack([s[..., _S1, :], s[..., _S2, :], s[..., _S3, :]], -1),
                  np.stack([s[..., _S2, :], s[..., _S3, :], s[..., _S4, :]], -1)], -2)
    rhs = np.stack([s[..., _T0, :], s[..., _T1, :], s[..., _T2, :]], -1)
    m_a = m.copy()
    m_a[..., :, 0] = rhs
    with np.errstate(divide="ignore", invalid="ignore"):
        det = np.linalg.det(m)
        a = np.linalg.det(m_a) / det
    scale = np.maximum(s[..., _S0, :], 1.0) * np.maximum(s[..., _S4, :], 1e-300)
    # A least-squares fit of 0/1 touches may leave [0, 1] where touches are rare or certain.
    a = np.clip(a, 0.0, 1.0)
    return np.where(np.abs(det) > 1e-9 * scale * np.maximum(s[..., _S2, :], 1e-300), a, np.nan)


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
                block_s: float | None = None, confidence: float = 0.95,
                min_touches: int = MIN_TOUCHES) -> pd.DataFrame:
    """Return the magnet lift per distance bucket (module docstring) with its bootstrap
    interval and a verdict.

    Args:
        levels: ``magnet_levels`` rows of one run or many (concatenated; ``run`` tells them
            apart).
        rng: the Generator of the bootstrap draws.
        buckets: edges of the distance buckets (%); a matched set goes to the bucket
            ``[lo, hi)`` of its cluster's distance.
        n_boot: bootstrap replicates.
        block_s: block length (s) of the single-run bootstrap (default: the largest
            ``window_s``, i.e. the horizon).
        confidence: the interval's coverage.
        min_touches: fewest touches among the bucket's cluster levels and among its matched
            levels for a lift; below it the bucket reads "too few touches".

    Returns:
        One row per bucket: ``bucket`` ('0-0.5%'), ``lo_pct``, ``hi_pct``, ``n_cluster``,
        ``n_null`` (matched levels), ``p_touch_cluster``, ``p_touch_null`` (the matched
        levels' touch rate at the cluster's own distance: the fit's intercept), ``lift``,
        ``lift_lo``, ``lift_hi``, ``n_touch_cluster``, ``n_touch_null``, ``verdict``
        ('magnet' when the interval lies above 1, 'repels' below 1, 'no effect' when it
        covers 1, 'too few touches', 'no interval' with one resampling unit), ``n_units``
        (runs or blocks resampled) and ``resampled`` ('runs' | 'blocks').
    """
    edges = np.asarray(buckets, dtype=np.float64)
    k = len(edges) - 1
    set_distance = levels.groupby(["run", "set"], sort=False)["distance_pct"].transform("first")
    b = np.searchsorted(edges, set_distance.to_numpy(np.float64), side="right") - 1
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
    terms = _level_terms(levels)
    counts = np.zeros((max(n_units, 1), _N_TERMS, k))  # counts[unit, term, bucket]
    for j in range(_N_TERMS):
        np.add.at(counts, (unit[in_range], j, b[in_range]), terms[in_range, j])
    total = counts.sum(axis=0)

    def lift_of(c: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (c[..., _Y, :] / c[..., _N_CLUSTER, :]) / _null_rate_at_zero(c)

    with np.errstate(divide="ignore", invalid="ignore"):
        p_cluster = total[_Y] / total[_N_CLUSTER]
    p_null = _null_rate_at_zero(total)
    lift = lift_of(total)
    lo = hi = np.full(k, np.nan)
    if n_units >= 2 and n_boot > 0:
        picks = rng.integers(0, n_units, size=(n_boot, n_units))
        weights = np.zeros((n_boot, n_units))
        np.add.at(weights, (np.repeat(np.arange(n_boot), n_units), picks.ravel()), 1.0)
        lo, hi = _percentile_interval(lift_of(np.einsum("bu,ujk->bjk", weights, counts)),
                                      confidence)
    enough = (total[_Y] >= min_touches) & (total[_T0] >= min_touches)
    verdict = np.where(~enough, "too few touches",
                       np.where(np.isnan(lo), "no interval",
                                np.where(lo > 1.0, "magnet",
                                         np.where(hi < 1.0, "repels", "no effect"))))
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}%" for i in range(k)]
    return pd.DataFrame({
        "bucket": labels, "lo_pct": edges[:-1], "hi_pct": edges[1:],
        "n_cluster": total[_N_CLUSTER].astype(np.int64), "n_null": total[_S0].astype(np.int64),
        "p_touch_cluster": p_cluster, "p_touch_null": p_null,
        "lift": np.where(enough, lift, np.nan), "lift_lo": np.where(enough, lo, np.nan),
        "lift_hi": np.where(enough, hi, np.nan),
        "n_touch_cluster": total[_Y].astype(np.int64),
        "n_touch_null": total[_T0].astype(np.int64),
        "verdict": verdict, "n_units": n_units, "resampled": resampled,
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
        ``oi_change_pct`` (over ``lookback_s``), ``prior_move_pct`` (the price's move over the
        ``horizon_s`` before ``t``, %, positive when it went toward the cluster's side),
        ``move_pct`` (price change over the horizon, %) and ``toward`` (1 if the move was
        toward the cluster, else 0).
    """
    if clusters.empty:
        return pd.DataFrame(columns=["t", "side", "distance_pct", "notional", "log_notional",
                                     "funding_rate", "oi_change_pct", "prior_move_pct",
                                     "move_pct", "toward"])
    nearest = clusters.loc[clusters.groupby("t")["edge_distance_pct"].idxmin()]
    t0 = nearest["t"].to_numpy(np.float64)
    t_path, p_path = price_path(series, price_column)
    p0 = value_at(t_path, p_path, t0)
    p1 = value_at(t_path, p_path, t0 + horizon_s)
    p_prior = value_at(t_path, p_path, np.maximum(t0 - horizon_s, t_path[0]))
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
        "prior_move_pct": 100.0 * (p0 / p_prior - 1.0) * sign,
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
