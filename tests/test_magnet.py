"""The magnet test: null levels, the lift and its bootstrap, and the direction logit."""

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


def random_clusters(series: pd.DataFrame, seed: int, n: int = 400) -> pd.DataFrame:
    """Clusters that know nothing: random snapshot times, sides and distances (0-5 %)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "t": rng.choice(series["t"].to_numpy(), n),
        "side": rng.choice(["long", "short"], n),
        "edge_distance_pct": rng.uniform(0.0, 5.0, n),
    })


def null_experiment(first_seed: int, n_runs: int = 20, n_boot: int = 400) -> pd.DataFrame:
    """The lift table of clusters placed at random on ``n_runs`` random walks (25 h each)."""
    levels = []
    for run in range(n_runs):
        seed = first_seed + run
        series = random_walk(seed, n=1500)
        clusters = random_clusters(series, seed + 10_000, n=150)
        levels.append(magnet_levels(clusters, series, rng=np.random.default_rng(seed + 20_000),
                                    horizon_s=H, decision_times=series["t"].to_numpy(),
                                    run=run))
    return magnet_lift(pd.concat(levels), rng=np.random.default_rng(first_seed), n_boot=n_boot)


def test_lift_of_random_clusters_on_random_walks_is_about_one():
    lift = null_experiment(0)
    assert (lift["resampled"] == "runs").all()
    assert (lift["n_units"] == 20).all()
    # Clusters and null levels sit at the same distances on the same paths; only the time
    # differs, and a random walk's increments do not depend on time: the lift is 1 in
    # expectation. Where touches are common (below 2 %) one experiment's spread is ~0.02-0.06.
    near = lift[lift["hi_pct"] <= 2.0]
    assert (np.abs(near["lift"] - 1.0) < 0.12).all(), lift
    assert ((lift["lift_lo"] < lift["lift"]) & (lift["lift"] < lift["lift_hi"])).all(), lift
    # Intervals are ~ +/- 2 spreads wide, not degenerate and not useless.
    width = (near["lift_hi"] - near["lift_lo"]).to_numpy()
    assert ((width > 0.02) & (width < 0.5)).all(), lift


def test_null_lift_is_unbiased_and_its_interval_has_near_nominal_coverage():
    # The experiment above, repeated on 12 independent sets of 20 paths: the lift averages
    # 1 (its spread per experiment is ~0.02-0.06 below 2 %, so the mean of 12 is within
    # ~0.02), and the 95 % intervals cover 1 in most experiments (a percentile bootstrap over
    # 20 units covers ~90 %; 8 of 12 leaves room for chance).
    tables = [null_experiment(1000 * (k + 1), n_boot=200) for k in range(12)]
    lift = np.array([t["lift"].to_numpy() for t in tables])
    covered = np.array([((t["lift_lo"] <= 1.0) & (t["lift_hi"] >= 1.0)).to_numpy()
                        for t in tables])
    assert (np.abs(lift[:, :3].mean(axis=0) - 1.0) < 0.03).all(), lift.mean(axis=0)
    assert (covered.sum(axis=0) >= 8).all(), covered.sum(axis=0)


def test_single_run_block_bootstrap_covers_one_in_most_runs():
    # One run each (100 h, 600 random clusters), resampled in blocks of one horizon (4 h):
    # 25 blocks. Over 10 independent runs the 95 % intervals cover 1 in at least 7 (the block
    # bootstrap over 25 blocks covers ~90 % by simulation).
    covered = []
    for k in range(10):
        series = random_walk(500 + k, n=6000)
        clusters = random_clusters(series, 600 + k, n=600)
        levels = magnet_levels(clusters, series, rng=np.random.default_rng(700 + k), horizon_s=H,
                               decision_times=series["t"].to_numpy())
        lift = magnet_lift(levels, rng=np.random.default_rng(800 + k), n_boot=200)
        assert (lift["resampled"] == "blocks").all()
        assert (lift["n_units"] == 25).all()
        covered.append(((lift["lift_lo"] <= 1.0) & (lift["lift_hi"] >= 1.0)).to_numpy())
    assert (np.sum(covered, axis=0) >= 7).all(), np.sum(covered, axis=0)


def test_clusters_that_foresee_the_path_have_lift_above_one():
    # A positive control: clusters placed at 90 % of the excursion the price is about to make
    # in their direction are always touched; random levels at those distances are not.
    series = random_walk(3)
    t, p = series["t"].to_numpy(), series["last"].to_numpy()
    rng = np.random.default_rng(4)
    starts = rng.integers(0, len(t) - 241, 300)
    rows = []
    for i in starts:
        window = p[i:i + 241]  # the next 4 h of 1-minute prices
        down, up = 1 - window.min() / p[i], window.max() / p[i] - 1
        side, dist = ("long", down) if down > up else ("short", up)
        rows.append({"t": t[i], "side": side, "edge_distance_pct": 90.0 * dist})
    levels = magnet_levels(pd.DataFrame(rows), series, rng=np.random.default_rng(5),
                           horizon_s=H, near=0.0, decision_times=t)
    lift = magnet_lift(levels, rng=np.random.default_rng(6), n_boot=300, block_s=H)
    populated = lift[lift["n_cluster"] >= 20]
    assert len(populated) >= 2
    assert (populated["p_touch_cluster"] == 1.0).all()
    assert (populated["lift_lo"] > 1.0).all(), lift


def test_null_levels_are_drawn_at_eligible_times_with_the_cluster_distance():
    # Price 100 until t = 540, 99 from t = 600 to the end (3600). A long cluster at t = 0,
    # 0.5 % below: level 99.5, reached at t = 600 within H = 1200. Pool {0, 1800, 3000, 3300}:
    # the cluster's window is min(1200, 3600 - 0) = 1200, so a null time must be <= 2400,
    # i.e. 0 or 1800. At 1800 the level is 99 x 0.995 = 98.505: never reached.
    t = np.arange(0.0, 3660.0, 60.0)
    price = np.where(t < 600, 100.0, 99.0)
    series = pd.DataFrame({"t": t, "last": price, "mid": price})
    clusters = pd.DataFrame({"t": [0.0], "side": ["long"], "edge_distance_pct": [0.5]})
    levels = magnet_levels(clusters, series, rng=np.random.default_rng(0), horizon_s=1200.0,
                           near=0.0, n_null=50, decision_times=np.array([0, 1800, 3000, 3300]),
                           run="a")
    cluster = levels[levels["kind"] == "cluster"].iloc[0]
    assert cluster["touched"]
    assert cluster["window_s"] == 1200.0
    null = levels[levels["kind"] == "null"]
    assert len(null) == 50
    assert set(null["t"]) == {0.0, 1800.0}
    assert (null["touched"] == (null["t"] == 0.0)).all()
    assert (null["distance_pct"] == 0.5).all()
    assert (levels["run"] == "a").all()


def test_lift_arithmetic_on_a_hand_table():
    # Bucket 0-0.5 %: clusters 1 of 2 touched (0.5), nulls 1 of 4 (0.25): lift 2.
    # Bucket 0.5-1 %: clusters 1 of 1, nulls 2 of 2: lift 1. A 7 % level is out of range.
    levels = pd.DataFrame({
        "run": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
        "t_decision": 0.0, "t": 0.0, "side": "long", "window_s": 3600.0,
        "distance_pct": [0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.7, 0.7, 0.7, 7.0],
        "kind": ["cluster", "cluster", "null", "null", "null", "null", "cluster", "null",
                 "null", "cluster"],
        "touched": [True, False, True, False, False, False, True, True, True, True],
    })
    lift = magnet_lift(levels, rng=np.random.default_rng(0), buckets=(0.0, 0.5, 1.0),
                       n_boot=200)
    assert list(lift["bucket"]) == ["0-0.5%", "0.5-1%"]
    assert list(lift["n_cluster"]) == [2, 1]
    assert list(lift["n_null"]) == [4, 2]
    np.testing.assert_allclose(lift["p_touch_cluster"], [0.5, 1.0])
    np.testing.assert_allclose(lift["p_touch_null"], [0.25, 1.0])
    np.testing.assert_allclose(lift["lift"], [2.0, 1.0])


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
