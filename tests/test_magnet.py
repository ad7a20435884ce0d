"""The magnet test: matched null levels, the Mantel-Haenszel lift and its bootstrap, placebo
maps, and the direction logit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.magnet import (
    direction_logit,
    direction_table,
    logistic_regression,
    magnet_levels,
    magnet_lift,
)

H = 4 * 3600.0


def random_walk(seed: int, n: int = 3000, sigma: float = 0.001) -> pd.DataFrame:
    """A 1-minute log-random walk from 100,000 (sd 0.1 % a minute, ~1.5 % over 4 h)."""
    rng = np.random.default_rng(seed)
    t = 60.0 * np.arange(n)
    price = 100_000.0 * np.exp(np.cumsum(np.concatenate([[0.0], rng.normal(0, sigma, n - 1)])))
    return pd.DataFrame({"t": t, "last": price, "mid": price})


def clustered_walk(seed: int, n: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    """A 1-minute random walk whose volatility switches between calm (0.05 % a minute) and
    wild (0.3 %) spells of 2-8 hours: volatility that clusters. Returns it and the per-minute
    volatility."""
    rng = np.random.default_rng(seed)
    sigma = np.empty(n)
    i, wild = 0, False
    while i < n:
        span = int(rng.integers(120, 480))
        sigma[i:i + span] = 0.003 if wild else 0.0005
        i, wild = i + span, not wild
    steps = np.concatenate([[0.0], rng.normal(0.0, sigma[1:])])
    price = 100_000.0 * np.exp(np.cumsum(steps))
    t = 60.0 * np.arange(n)
    return pd.DataFrame({"t": t, "last": price, "mid": price}), sigma


def random_clusters(series: pd.DataFrame, seed: int, n: int = 400) -> pd.DataFrame:
    """Clusters that know nothing: random snapshot times, sides and distances (0-5 %)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "t": rng.choice(series["t"].to_numpy(), n),
        "side": rng.choice(["long", "short"], n),
        "edge_distance_pct": rng.uniform(0.0, 5.0, n),
    })


def volatile_clusters(series: pd.DataFrame, sigma: np.ndarray, seed: int,
                      n: int = 300) -> pd.DataFrame:
    """Clusters that know only when the market is wild: nine in ten are laid in wild minutes,
    where a cluster 1-5 % away mostly exists after a large move; their sides and distances
    know nothing of where the path goes next."""
    rng = np.random.default_rng(seed)
    t = series["t"].to_numpy()
    wild = np.flatnonzero(sigma > 0.001)
    calm = np.flatnonzero(sigma <= 0.001)
    n_wild = int(0.9 * n)
    picks = np.concatenate([rng.choice(wild, n_wild), rng.choice(calm, n - n_wild)])
    return pd.DataFrame({
        "t": t[picks], "side": rng.choice(["long", "short"], n),
        "edge_distance_pct": rng.uniform(0.2, 5.0, n),
    })


def lift_table(make_clusters, n_runs: int = 20, n_boot: int = 400, first_seed: int = 0,
               path=random_walk) -> pd.DataFrame:
    """The lift table of ``make_clusters(series, seed, sigma)`` on ``n_runs`` paths."""
    levels = []
    for run in range(n_runs):
        seed = first_seed + run
        made = path(seed)
        series, sigma = made if isinstance(made, tuple) else (made, None)
        clusters = make_clusters(series, seed + 10_000, sigma)
        levels.append(magnet_levels(clusters, series, rng=np.random.default_rng(seed + 20_000),
                                    horizon_s=H, run=run))
    return magnet_lift(pd.concat(levels), rng=np.random.default_rng(first_seed), n_boot=n_boot)


def assert_reads_no_effect(make_clusters, path, n_experiments: int = 8) -> None:
    """Repeat the experiment on independent sets of 20 paths: the lift averages 1 and its
    95 % intervals cover 1 in most experiments (a percentile bootstrap over 20 runs covers
    ~90 %, so 6 of 8 leaves room for chance)."""
    tables = [lift_table(make_clusters, path=path, n_boot=200, first_seed=1000 * (k + 1))
              for k in range(n_experiments)]
    judged = np.array([(t["verdict"] != "too few touches").to_numpy() for t in tables])
    assert judged.all(axis=0).sum() >= 3, tables[0]
    lift = np.array([t["lift"].to_numpy() for t in tables])
    covered = np.array([((t["lift_lo"] <= 1.0) & (t["lift_hi"] >= 1.0)).to_numpy()
                        for t in tables])
    cols = judged.all(axis=0)
    assert (np.abs(lift[:, cols].mean(axis=0) - 1.0) < 0.05).all(), lift.mean(axis=0)
    assert (covered[:, cols].sum(axis=0) >= 6).all(), covered.sum(axis=0)


def test_random_clusters_on_random_walks_read_no_effect():
    lift = lift_table(lambda s, seed, _: random_clusters(s, seed, n=150))
    assert (lift["resampled"] == "runs").all() and (lift["n_units"] == 20).all()
    # Matched levels sit on the same path at the same time, within 25 % of the cluster's
    # distance; the lift is 1 up to the sampling error.
    assert_reads_no_effect(lambda s, seed, _: random_clusters(s, seed, n=150), random_walk)


def test_a_map_that_knows_only_volatility_reads_no_effect():
    # The placebo a null drawn at other times fails: clusters laid mostly in wild spells are
    # touched far more often than levels at the same distance at random times, because what
    # follows a wild minute is mostly wild. Levels matched at the cluster's own time share its
    # future.
    series, sigma = clustered_walk(7, n=6000)
    clusters = volatile_clusters(series, sigma, 8, n=600)
    levels = magnet_levels(clusters, series, rng=np.random.default_rng(9), horizon_s=H)
    at_cluster_times = levels.loc[levels["kind"] == "cluster", "touched"].mean()
    rng = np.random.default_rng(10)
    shifted = clusters.assign(t=rng.choice(series["t"].to_numpy()[:-240], len(clusters)))
    at_random = magnet_levels(shifted, series, rng=rng, horizon_s=H)
    at_random_times = at_random.loc[at_random["kind"] == "cluster", "touched"].mean()
    assert at_cluster_times > 1.15 * at_random_times  # the confound is in this data
    assert_reads_no_effect(lambda s, seed, sig: volatile_clusters(s, sig, seed, n=150),
                           clustered_walk)


def test_a_map_from_another_path_reads_no_effect():
    # Swapped maps: the clusters of another path (laid where that path was wild).
    def other_paths_clusters(series, seed, _):
        other, sigma = clustered_walk(seed + 1)
        return volatile_clusters(other, sigma, seed, n=150)

    assert_reads_no_effect(other_paths_clusters, clustered_walk)


def test_clusters_that_foresee_the_path_read_a_magnet():
    # A planted effect: clusters at 90 % of the excursion the price is about to make in their
    # direction are always touched; levels 25 % farther or nearer often are not.
    levels = []
    for run in range(10):
        series = random_walk(3 + run)
        t, p = series["t"].to_numpy(), series["last"].to_numpy()
        rng = np.random.default_rng(40 + run)
        rows = []
        for i in rng.integers(0, len(t) - 241, 100):
            window = p[i:i + 241]  # the next 4 h of 1-minute prices
            down, up = 1 - window.min() / p[i], window.max() / p[i] - 1
            side, dist = ("long", down) if down > up else ("short", up)
            rows.append({"t": t[i], "side": side, "edge_distance_pct": 90.0 * dist})
        levels.append(magnet_levels(pd.DataFrame(rows), series, horizon_s=H, near=0.0,
                                    rng=np.random.default_rng(50 + run), run=run))
    lift = magnet_lift(pd.concat(levels), rng=np.random.default_rng(6), n_boot=300)
    judged = lift[lift["verdict"] != "too few touches"]
    assert len(judged) >= 2
    assert (judged["p_touch_cluster"] == 1.0).all()
    assert (judged["verdict"] == "magnet").all() and (judged["lift_lo"] > 1.0).all(), lift


def test_matched_levels_share_the_cluster_time_and_side_and_skip_other_bands():
    # Price 100 until t = 540, 99 from t = 600 on. At t = 0 two long clusters: A with its near
    # edge 0.5 % below (99.5; band 99.4-99.5) and B with band 99.55-99.6 (near edge 0.4 %).
    # A's matched levels are drawn at 0.5 x (1 -+ 0.25) = 0.375-0.625 %, i.e. prices
    # 99.375-99.625, minus B's band 99.55-99.6 (A's own band is where its levels straddle the
    # near edge). All of them are above 99 and reached at t = 600.
    t = np.arange(0.0, 3660.0, 60.0)
    price = np.where(t < 600, 100.0, 99.0)
    series = pd.DataFrame({"t": t, "last": price, "mid": price})
    clusters = pd.DataFrame({"t": [0.0, 0.0], "side": ["long", "long"],
                             "edge_distance_pct": [0.5, 0.4], "low": [99.4, 99.55],
                             "high": [99.5, 99.6]})
    levels = magnet_levels(clusters, series, rng=np.random.default_rng(0), horizon_s=1200.0,
                           near=0.0, n_null=50, run="a")
    assert (levels["run"] == "a").all() and (levels["t"] == 0.0).all()
    assert (levels["side"] == "long").all()
    null_a = levels[(levels["kind"] == "null") & (levels["set"] == 0)]
    assert len(null_a) == 50
    level_price = 100.0 * (1.0 - null_a["distance_pct"] / 100.0)
    assert ((level_price >= 99.375 - 1e-9) & (level_price <= 99.625 + 1e-9)).all()
    assert not ((level_price >= 99.55) & (level_price <= 99.6)).any()
    assert ((level_price >= 99.4) & (level_price <= 99.5)).any()
    # offset = distance / 0.5 - 1, within -+ 0.25.
    np.testing.assert_allclose(null_a["offset"], null_a["distance_pct"] / 0.5 - 1.0)
    assert (levels.loc[levels["kind"] == "cluster", "offset"] == 0.0).all()
    assert levels["touched"].all()


def _hand_levels(sets) -> pd.DataFrame:
    """Rows of ``(run, set, distance_pct, cluster touched, [(offset, touched), ...])``."""
    rows = []
    for run, s, dist, y, nulls in sets:
        rows.append((run, s, dist, "cluster", 0.0, y))
        rows.extend((run, s, dist * (1 + u), "null", u, v) for u, v in nulls)
    levels = pd.DataFrame(rows, columns=["run", "set", "distance_pct", "kind", "offset",
                                         "touched"])
    return levels.assign(t_decision=0.0, t=0.0, side="long", window_s=3600.0)


def test_lift_divides_the_cluster_rate_by_the_matched_rate_at_zero_offset():
    # Bucket 0-0.5 %: two sets, both clusters touched (rate 1). Matched levels at offsets
    # -0.2 (2 of 2 touched), +0.1 (1 of 2), +0.2 (0 of 2): a quadratic through three offsets
    # interpolates their rates; at 0 the Lagrange weights are (0.1 x 0.2) / (0.3 x 0.4) = 1/6,
    # (0.2 x 0.2) / (0.3 x 0.1) = 4/3 and -(0.2 x 0.1) / (0.4 x 0.1) = -1/2, so the matched
    # rate is 1/6 x 1 + 4/3 x 1/2 - 1/2 x 0 = 5/6 and the lift 1 / (5/6) = 1.2.
    # Bucket 0.5-1 %: clusters 1 of 2 touched, every matched level touched: lift 0.5.
    # A set at 7 % is out of range.
    levels = _hand_levels([
        (0, 0, 0.1, True, [(-0.2, True), (0.1, True), (0.2, False)]),
        (0, 1, 0.2, True, [(-0.2, True), (0.1, False), (0.2, False)]),
        (1, 0, 0.7, True, [(-0.2, True), (0.0, True), (0.2, True)]),
        (1, 1, 0.8, False, [(-0.1, True), (0.1, True), (0.2, True)]),
        (1, 2, 7.0, True, [(-0.2, True), (0.0, True), (0.2, True)]),
    ])
    lift = magnet_lift(levels, rng=np.random.default_rng(0), buckets=(0.0, 0.5, 1.0),
                       n_boot=200, min_touches=1)
    assert list(lift["bucket"]) == ["0-0.5%", "0.5-1%"]
    assert list(lift["n_cluster"]) == [2, 2]
    assert list(lift["n_null"]) == [6, 6]
    np.testing.assert_allclose(lift["p_touch_cluster"], [1.0, 0.5])
    np.testing.assert_allclose(lift["p_touch_null"], [5 / 6, 1.0])
    np.testing.assert_allclose(lift["lift"], [1.2, 0.5])
    assert list(lift["n_touch_cluster"]) == [2, 1]
    assert list(lift["n_touch_null"]) == [3, 6]


def test_a_bucket_with_few_touches_gives_no_ratio():
    # One touch among the cluster levels of the bucket: below min_touches = 10.
    levels = _hand_levels([(0, 0, 3.0, True, [(-0.2, False), (0.0, True), (0.2, False)]),
                           (1, 0, 3.0, False, [(-0.2, True), (0.0, False), (0.2, False)])])
    lift = magnet_lift(levels, rng=np.random.default_rng(0), buckets=(2.0, 5.0), n_boot=50)
    row = lift.iloc[0]
    assert row["verdict"] == "too few touches"
    assert np.isnan(row["lift"]) and np.isnan(row["lift_lo"]) and np.isnan(row["lift_hi"])
    assert row["p_touch_cluster"] == 0.5 and row["n_touch_cluster"] == 1


def test_single_run_block_bootstrap_covers_one_in_most_runs():
    # One run each (100 h, 600 random clusters), resampled in blocks of one horizon (4 h):
    # 25 blocks. Over 10 independent runs the 95 % intervals cover 1 in at least 7.
    covered = []
    for k in range(10):
        series = random_walk(500 + k, n=6000)
        clusters = random_clusters(series, 600 + k, n=600)
        levels = magnet_levels(clusters, series, rng=np.random.default_rng(700 + k), horizon_s=H)
        lift = magnet_lift(levels, rng=np.random.default_rng(800 + k), n_boot=200)
        assert (lift["resampled"] == "blocks").all()
        assert (lift["n_units"] == 25).all()
        judged = lift["verdict"] != "too few touches"
        covered.append(((lift["lift_lo"] <= 1.0) & (lift["lift_hi"] >= 1.0) | ~judged).to_numpy())
    assert (np.sum(covered, axis=0) >= 7).all(), np.sum(covered, axis=0)


def test_logit_with_only_an_intercept_matches_the_closed_form():
    # y = 1, 1, 1, 0: p = 0.75, coef = log(0.75 / 0.25) = log 3; the information is
    # n p (1 - p) = 4 x 0.1875 = 0.75, so se = 1 / sqrt(0.75).
    coef, se, converged, _, log_lik = logistic_regression(np.ones((4, 1)),
                                                          np.array([1, 1, 1, 0]))
    assert converged
    assert coef[0] == pytest.approx(np.log(3.0))
    assert se[0] == pytest.approx(1.0 / np.sqrt(0.75))
    # log L = 3 log 0.75 + log 0.25.
    assert log_lik == pytest.approx(3 * np.log(0.75) + np.log(0.25))


def test_logit_recovers_known_coefficients():
    rng = np.random.default_rng(42)
    n = 20_000
    x1 = rng.normal(0, 1, n)
    x2 = rng.uniform(-1, 1, n)
    truth = np.array([-0.5, 1.0, -2.0])
    x = np.column_stack([np.ones(n), x1, x2])
    y = rng.random(n) < 1 / (1 + np.exp(-(x @ truth)))
    coef, se, converged, _, _ = logistic_regression(x, y)
    assert converged
    # With n = 20,000 the standard errors are about 0.02-0.03: the estimates lie within
    # 4 se of the truth, and within 0.1 in absolute terms.
    assert (np.abs(coef - truth) < 4 * se).all(), (coef, se)
    np.testing.assert_allclose(coef, truth, atol=0.1)
    assert (se < 0.05).all()


def test_direction_logit_reports_a_constant_feature_as_nan():
    rng = np.random.default_rng(1)
    n = 500
    table = pd.DataFrame({"distance_pct": rng.uniform(0, 2, n), "funding_rate": 0.0001,
                          "toward": rng.integers(0, 2, n)})
    out = direction_logit(table, features=("distance_pct", "funding_rate"))
    assert list(out["term"]) == ["intercept", "distance_pct", "funding_rate"]
    assert out["coef"].iloc[:2].notna().all()
    assert np.isnan(out["coef"].iloc[2])
    assert out.attrs["n"] == n


def test_direction_table_picks_the_nearest_cluster_and_the_direction():
    # Price 100,000 until t = 600, 99,800 from then on. At t = 0 the nearest near edge is the
    # long one (0.3 % below, against a short 0.8 % above); 900 s later the price is lower:
    # the move (-0.2 %) went toward it. At t = 1200 the nearest is a short 0.1 % above; the
    # price 900 s later is unchanged -> no move, the row is left out.
    t = np.arange(0.0, 3660.0, 60.0)
    price = np.where(t < 600, 100_000.0, 99_800.0)
    series = pd.DataFrame({"t": t, "last": price, "mid": price, "funding_rate": 0.0001,
                           "oi": 100.0})
    clusters = pd.DataFrame({
        "t": [0.0, 0.0, 1200.0], "side": ["long", "short", "short"],
        "edge_distance_pct": [0.3, 0.8, 0.1], "notional": [1e6, 2e6, 3e6],
    })
    table = direction_table(clusters, series)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["side"] == "long"
    assert row["distance_pct"] == 0.3
    assert row["log_notional"] == pytest.approx(np.log(1e6))
    assert row["move_pct"] == pytest.approx(-0.2)
    assert row["toward"] == 1
    assert row["oi_change_pct"] == 0.0


def test_direction_table_signs_the_prior_move_toward_the_cluster():
    # Price 100,000 before t = 600, 100,500 until t = 1800, 100,200 after. A long cluster
    # 0.5 % below at t = 1200: over the 900 s before, the price rose 100,000 -> 100,500,
    # +0.5 %, away from a cluster below: prior_move_pct = 0.5 x (-1) = -0.5. Over the next
    # 900 s it fell to 100,200 (-0.2985 %), toward it.
    t = np.arange(0.0, 3660.0, 60.0)
    price = np.select([t < 600, t < 1800], [100_000.0, 100_500.0], 100_200.0)
    series = pd.DataFrame({"t": t, "last": price, "mid": price, "funding_rate": 0.0001,
                           "oi": 100.0})
    clusters = pd.DataFrame({"t": [1200.0], "side": ["long"], "edge_distance_pct": [0.5],
                             "notional": [1e6]})
    row = direction_table(clusters, series).iloc[0]
    assert row["prior_move_pct"] == pytest.approx(-0.5)
    assert row["move_pct"] == pytest.approx(100.0 * (100_200.0 / 100_500.0 - 1.0))
    assert row["toward"] == 1
