"""Outcome classification on hand-built price paths: one path per class, and the mirror."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.outcomes import (
    classify_outcomes,
    decision_times,
    liquidated_notional,
    time_to_touch,
)

# A long cluster below 100,000: band 99,000-99,500, near edge 99,500, far edge 99,000.
# near = 0.1 %: a touch is a price <= 99,500 x 1.001 = 99,599.5; an entry is <= 99,500.
# run_on = 1 % beyond the far edge: <= 99,000 x 0.99 = 98,010.
LONG = {"t": 0.0, "side": "long", "low": 99_000.0, "high": 99_500.0, "centre": 99_250.0,
        "near_edge": 99_500.0}
# The mirror: a short cluster above 100,000, band 100,500-101,000, near edge 100,500.
SHORT = {"t": 0.0, "side": "short", "low": 100_500.0, "high": 101_000.0, "centre": 100_750.0,
         "near_edge": 100_500.0}


def step_path(points: dict[float, float], t_end: float = 7200.0, dt: float = 60.0
              ) -> pd.DataFrame:
    """Series sampled every ``dt``; the price is that of the last key point at or before t."""
    t = np.arange(0.0, t_end + dt, dt)
    keys = np.array(sorted(points))
    prices = np.array([points[k] for k in keys])
    last = prices[np.searchsorted(keys, t, side="right") - 1]
    return pd.DataFrame({"t": t, "last": last, "mid": last})


def liqs(rows: list[tuple[float, int, float, float, float]]) -> pd.DataFrame:
    """Liquidations from (t, side, qty, entry_price, liq_price)."""
    return pd.DataFrame(rows, columns=["t", "side", "qty", "entry_price", "liq_price"])


NO_LIQS = liqs([])
# A long position liquidated at t = 600 inside the band: 2 BTC x 100,000 entry = 200,000 USD.
LONG_LIQ = liqs([(600.0, 1, 2.0, 100_000.0, 99_450.0)])

UNTOUCHED = {0: 100_000.0, 600: 99_700.0}  # 99,700 > 99,599.5: never within 0.1 %
BOUNCED = {0: 100_000.0, 600: 99_550.0, 660: 100_200.0}  # within 0.1 %, never <= 99,500
SWEPT = {0: 100_000.0, 540: 99_700.0, 600: 99_400.0, 660: 99_300.0, 900: 99_800.0}
CASCADE = {0: 100_000.0, 600: 99_400.0, 1200: 97_900.0}


def classify(path: dict[float, float], liquidations: pd.DataFrame, cluster: dict = LONG,
             **kw) -> pd.Series:
    clusters = pd.DataFrame([cluster])
    return classify_outcomes(clusters, step_path(path), liquidations, **kw).iloc[0]


def test_untouched_path():
    row = classify(UNTOUCHED, NO_LIQS)
    assert row["outcome"] == "untouched"
    assert not row["touched"]
    assert np.isnan(row["time_to_touch_s"])
    assert row["mae_pct"] == 0.0


def test_bounced_path_comes_within_near_and_turns_back():
    row = classify(BOUNCED, NO_LIQS)
    # 99,550 <= 99,599.5 at t = 600 (a touch) but > 99,500 (no entry).
    assert row["outcome"] == "bounced"
    assert row["time_to_touch_s"] == 600.0
    assert np.isnan(row["time_to_enter_s"])
    assert row["mae_pct"] == 0.0


def test_swept_path_pierces_liquidates_and_reverses():
    row = classify(SWEPT, LONG_LIQ)
    # Pre-touch level: the last price before the touch, 99,700 (t = 540). Entry at t = 600
    # (99,400), low 99,300, back at 99,800 >= 99,700 at t = 900, 300 s after the entry (< R),
    # with 200,000 USD of longs liquidated in the band at t = 600.
    assert row["outcome"] == "swept"
    assert row["time_to_touch_s"] == 600.0
    assert row["time_to_enter_s"] == 600.0
    assert row["liq_notional_usd"] == pytest.approx(200_000.0)
    assert row["liq_notional_entry_usd"] == pytest.approx(200_000.0)
    # MAE: (99,500 - 99,300) / 99,500 = 0.201005 %.
    assert row["mae_pct"] == pytest.approx(100 * 200 / 99_500)


def test_same_path_without_liquidations_is_only_pierced():
    row = classify(SWEPT, NO_LIQS)
    assert row["outcome"] == "pierced"
    assert row["reversed"]


def test_reversal_after_r_is_not_a_sweep():
    # The recovery to 99,800 comes 300 s after the entry: with R = 200 s it is too late, and
    # the low 99,300 is not 1 % beyond the far edge -> pierced.
    row = classify(SWEPT, LONG_LIQ, reversal_s=200.0)
    assert row["outcome"] == "pierced"
    assert not row["reversed"]


def test_cascade_path_runs_beyond_the_far_edge():
    row = classify(CASCADE, LONG_LIQ)
    # 97,900 <= 98,010 at t = 1200 and no way back: a cascade.
    assert row["outcome"] == "cascade"
    assert row["ran_on"]
    # MAE: (99,500 - 97,900) / 99,500 = 1.60804 %.
    assert row["mae_pct"] == pytest.approx(100 * 1_600 / 99_500)


def test_cascade_measured_from_the_centre():
    # From the centre 99,250 the run-on level is 99,250 x 0.99 = 98,257.5: a low of 98,100
    # counts from the centre but not from the far edge (98,010).
    path = {0: 100_000.0, 600: 99_400.0, 1200: 98_100.0}
    assert classify(path, LONG_LIQ)["outcome"] == "pierced"
    assert classify(path, LONG_LIQ, run_from="centre")["outcome"] == "cascade"


def test_touch_after_the_horizon_is_untouched():
    # The bounce touches at t = 600; with H = 500 s nothing happens within the horizon.
    row = classify(BOUNCED, NO_LIQS, horizon_s=500.0)
    assert row["outcome"] == "untouched"
    assert row["window_s"] == 500.0
    assert row["complete"]


def test_short_cluster_mirror_of_the_sweep():
    # Mirror of SWEPT around 100,000 -> 200,000 - p: pre-touch 100,300, entry 100,600 >=
    # 100,500, high 100,700, back at 100,200 <= 100,300 at t = 900. A short liquidated in the
    # band (liq price 100,550) at t = 600: 1 BTC x 100,000 = 100,000 USD.
    path = {k: 200_000.0 - v for k, v in SWEPT.items()}
    short_liq = liqs([(600.0, -1, 1.0, 100_000.0, 100_550.0)])
    row = classify(path, short_liq, cluster=SHORT)
    assert row["outcome"] == "swept"
    assert row["liq_notional_usd"] == pytest.approx(100_000.0)
    # MAE: (100,700 - 100,500) / 100,500.
    assert row["mae_pct"] == pytest.approx(100 * 200 / 100_500)


def test_liquidations_of_the_other_side_or_outside_the_band_do_not_count():
    # A short liquidated in the band, a long liquidated below the band (98,900): neither is
    # a long liquidation inside 99,000-99,500, so the sweep is only a pierce.
    other = liqs([(600.0, -1, 1.0, 100_000.0, 99_450.0), (600.0, 1, 1.0, 100_000.0, 98_900.0)])
    assert classify(SWEPT, other)["outcome"] == "pierced"


def test_liquidated_notional_windows_are_left_open_right_closed():
    table = liqs([(10.0, 1, 1.0, 100.0, 50.0), (20.0, 1, 2.0, 100.0, 50.0),
                  (30.0, 1, 4.0, 100.0, 50.0)])
    # (10, 30] holds the second and third: (2 + 4) x 100 = 600; (0, 10] the first: 100.
    got = liquidated_notional(table, np.array(["long", "long"]), np.array([40.0, 40.0]),
                              np.array([60.0, 60.0]), np.array([10.0, 0.0]),
                              np.array([30.0, 10.0]))
    np.testing.assert_allclose(got, [600.0, 100.0])


def test_time_to_touch_from_above_and_below():
    series = step_path({0: 100.0, 120: 98.0, 300: 103.0})
    t, p = series["t"].to_numpy(), series["last"].to_numpy()
    # Level 99 below (sign -1) is reached at t = 120; level 102 above (sign +1) at t = 300;
    # level 102 within 200 s is not reached (NaN).
    got = time_to_touch(t, p, np.array([0.0, 0.0, 0.0]), np.array([99.0, 102.0, 102.0]),
                        np.array([-1.0, 1.0, 1.0]), np.array([3600.0, 3600.0, 200.0]), near=0.0)
    np.testing.assert_allclose(got, [120.0, 300.0, np.nan])


def test_decision_times_keep_the_first_snapshot_of_each_interval():
    # floor(t / 300): 60..240 -> 0, 300..540 -> 1, 600 -> 2.
    times = np.arange(60.0, 660.0, 60.0)
    np.testing.assert_allclose(decision_times(times, 300.0), [60.0, 300.0, 600.0])


def test_every_s_subsamples_the_clusters():
    clusters = pd.DataFrame([{**LONG, "t": 0.0}, {**LONG, "t": 60.0}, {**LONG, "t": 600.0}])
    out = classify_outcomes(clusters, step_path(UNTOUCHED), NO_LIQS, every_s=300.0)
    assert list(out["t"]) == [0.0, 600.0]


def test_time_to_touch_agrees_with_a_brute_force_scan():
    # The O(log n) range-maximum search against a plain scan of every sample, on a random
    # path with random levels on both sides, horizons and the 0.1 % tolerance.
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 5000.0, 1.0)
    p = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, len(t))))
    t0 = rng.choice(t, 300)
    sign = rng.choice([-1.0, 1.0], 300)
    level = p[t0.astype(int)] * (1 + sign * rng.uniform(0, 0.08, 300))
    horizon = rng.uniform(10, 3000, 300)
    got = time_to_touch(t, p, t0, level, sign, horizon, near=0.001)
    expected = np.full(300, np.nan)
    for c in range(300):
        window = (t >= t0[c]) & (t <= t0[c] + horizon[c])
        hit = sign[c] * p[window] >= sign[c] * level[c] - level[c] * 0.001
        if hit.any():
            expected[c] = t[window][np.argmax(hit)] - t0[c]
    np.testing.assert_array_equal(got, expected)
    assert 50 < np.isfinite(got).sum() < 250  # both outcomes occur
