"""Stylized-fact statistics on hand-built series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.stylized_facts import (
    autocorrelation,
    dead_zone_share,
    excess_kurtosis,
    funding_tail,
    largest_oi_drop,
    log_returns,
)


def test_log_returns_take_the_last_price_of_each_minute():
    # Seconds 1..180; the last price in minute 1 (t <= 60) is 100, in minute 2 is 110,
    # in minute 3 is 99: returns log(110/100) and log(99/110).
    t = np.arange(1, 181, dtype=float)
    last = np.where(t <= 60, 100.0, np.where(t <= 120, 110.0, 99.0))
    r = log_returns(pd.DataFrame({"t": t, "last": last}), 60.0)
    np.testing.assert_allclose(r, [np.log(1.1), np.log(0.9)])


def test_excess_kurtosis_of_two_point_distribution_is_minus_two():
    # +-1 with equal weight: m2 = 1, m4 = 1, kurtosis 1 - 3 = -2.
    assert excess_kurtosis(np.array([1.0, -1.0] * 50)) == pytest.approx(-2.0)


def test_autocorrelation_of_alternating_series_is_minus_one_then_one():
    # x = +1, -1, +1, ...: mean 0, sum of squares n; lag-1 products are all -1 (n - 1 of
    # them), lag-2 products all +1 (n - 2): acf = -(n-1)/n and (n-2)/n for n = 10.
    x = np.array([1.0, -1.0] * 5)
    np.testing.assert_allclose(autocorrelation(x, 2), [-9 / 10, 8 / 10])


def test_dead_zone_share_counts_settlements_at_the_runs_interest_rate():
    # Two of four settlements sit at 0.01 %; one of four at 0.03 %.
    funding = pd.DataFrame({"rate": [0.0001, 0.0001, 0.0003, -0.0002]})
    assert dead_zone_share(funding, 0.0001) == pytest.approx(0.5)
    assert dead_zone_share(funding, 0.0003) == pytest.approx(0.25)


def test_the_funding_tail_is_the_95th_percentile_and_the_negative_share():
    # 20 settlements: 0.01 % x 17, then 0.03 %, 0.05 % and -0.02 %. Sorted, the 95th
    # percentile sits at position 0.95 x 19 = 18.05: 0.03 % + 0.05 x (0.05 % - 0.03 %) = 0.031 %.
    funding = pd.DataFrame({"rate": [0.0001] * 17 + [0.0003, 0.0005, -0.0002]})
    tail = funding_tail(funding)
    assert tail["funding_p95"] == pytest.approx(0.00031)
    assert tail["funding_negative_share"] == pytest.approx(1 / 20)
    assert math.isnan(funding_tail(funding.iloc[:0])["funding_p95"])


def test_largest_oi_drop_finds_the_fall_inside_the_window():
    # OI 100 until t = 100, then 70 at t = 1000 and 40 at t = 2500. Within 1800 s of t = 100
    # the lowest level is 70 (a 30 % drop); 40 comes 2400 s after t = 100 (outside) but
    # 1500 s after t = 1000 (inside): 70 -> 40 is 3/7 = 42.9 %, the largest.
    series = pd.DataFrame({"t": [0.0, 100.0, 1000.0, 2500.0], "oi": [100.0, 100.0, 70.0, 40.0]})
    assert largest_oi_drop(series, 1800.0) == pytest.approx(3 / 7)
    # With a 1000 s window 40 is out of reach of t = 1000 too: only the 30 % drop is left.
    assert largest_oi_drop(series, 1000.0) == pytest.approx(0.3)


def test_largest_oi_drop_ignores_the_tiny_open_interest_of_a_run_start():
    # OI 1 at t = 0 falls to 0.2 (an 80 % "drop" of almost nothing), then grows to 100 and
    # dips to 90. The median OI is 100, so only levels >= 50 may start a drop: 10 %.
    series = pd.DataFrame({"t": [0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
                           "oi": [1.0, 0.2, 100.0, 100.0, 90.0, 100.0]})
    assert largest_oi_drop(series, 1800.0) == pytest.approx(0.1)
    assert largest_oi_drop(series, 1800.0, min_level=0.0) == pytest.approx(0.8)


def test_heatmap_concentration_tells_clusters_from_a_smear():
    from analysis.stylized_facts import heatmap_concentration

    # 100 bins, top 5 % = 5 bins. A uniform map puts 5/100 of its notional there.
    smear = np.ones((2, 100))
    assert heatmap_concentration(smear, np.zeros((2, 100))) == pytest.approx(0.05)
    # Snapshot 1: 90 in bin 10 (long) and 10 spread over 10 short bins (1 each): the top 5
    # bins hold 90 + 4 = 94 of 100. Snapshot 2 is empty and skipped.
    long = np.zeros((2, 100))
    short = np.zeros((2, 100))
    long[0, 10] = 90.0
    short[0, 50:60] = 1.0
    assert heatmap_concentration(long, short) == pytest.approx(0.94)


def test_hill_tail_index_by_hand_on_two_tail_values():
    from analysis.stylized_facts import hill_tail_index

    # 80 values, top 2.5 % -> k = 2: x_(1) = e^2, x_(2) = e, x_(3) = 1.
    # mean(log(x_(i) / x_(3))) = (2 + 1) / 2 = 1.5, alpha = 1 / 1.5. Signs do not matter (|x|).
    x = np.array([-np.e**2, np.e] + [1.0] * 78)
    assert hill_tail_index(x) == pytest.approx(2 / 3)


def test_hill_tail_index_recovers_a_pareto_alpha():
    from analysis.stylized_facts import hill_tail_index

    # Exact quantiles of a Pareto(alpha = 3) law: P(X > x) = x^-3, x_i = (1 - u_i)^(-1/3).
    # Over the top k = 100 of 4000 the Hill estimate is within a few % of 3.
    u = (np.arange(4000) + 0.5) / 4000
    x = (1.0 - u) ** (-1.0 / 3.0)
    assert hill_tail_index(x) == pytest.approx(3.0, rel=0.03)
    # Too few values for two in the tail: no estimate.
    assert np.isnan(hill_tail_index(x[:40]))


def test_return_facts_leave_a_dropped_return_out_of_every_pair():
    from analysis.stylized_facts import return_facts

    # +-1 bp around a dropped return (NaN): kept mean 0, so the NaN is set to 0. Lag-1
    # products: -1 five times before the gap, 0 twice across it, -1 five times after; sum of
    # squares 12: acf = -10 / 12 (a pair spanning the gap would have added another -1).
    r = np.array([1.0, -1.0] * 3 + [np.nan] + [1.0, -1.0] * 3) * 1e-4
    facts = return_facts(r)
    assert facts["n_returns_1m"] == 12
    assert facts["acf_lag1"] == pytest.approx(-10 / 12)
    assert facts["max_abs_acf_lags_1_10"] == pytest.approx(10 / 12)
    assert facts["std_1m_bp"] == pytest.approx(1.0)
    assert facts["excess_kurtosis_1m"] == pytest.approx(-2.0)


def test_stylized_facts_add_the_real_data_facts_without_changing_the_old_ones():
    from analysis.stylized_facts import return_facts, stylized_facts

    rng = np.random.default_rng(7)
    t = np.arange(1, 200 * 60 + 1, dtype=float)
    last = 100.0 * np.exp(np.cumsum(rng.standard_t(4, len(t)) * 1e-4))
    series = pd.DataFrame({"t": t, "last": last, "oi": np.ones(len(t))})
    facts = stylized_facts(series, pd.DataFrame({"rate": []}), interest_rate=1e-4)
    r = log_returns(series, 60.0)
    assert facts["excess_kurtosis_1m"] == excess_kurtosis(r)
    assert facts["acf_abs_lag30"] == autocorrelation(np.abs(r), 30)[29]
    same = return_facts(r)
    for key in ("std_1m_bp", "acf_abs_lag60", "max_abs_acf_lags_1_10", "hill_tail_index_1m",
                "acf_lag1", "acf_abs_lag10"):
        assert facts[key] == pytest.approx(same[key]), key
    assert facts["std_1m_bp"] == pytest.approx(r.std() * 1e4)


def test_basis_facts_by_hand():
    from analysis.stylized_facts import basis_facts

    # One row a minute; the index alternates +-10 bp, the perp's mid sits 2 bp above it:
    # equal log returns, correlation 1, a median premium of 2 bp.
    t = np.arange(1, 62) * 60.0
    index = 100_000.0 * np.exp(np.cumsum(np.where(np.arange(61) % 2 == 0, 1e-3, -1e-3)))
    same = pd.DataFrame({"t": t, "index": index, "mid": index * 1.0002})
    facts = basis_facts(same)
    assert facts["perp_index_corr_1m"] == pytest.approx(1.0)
    assert facts["premium_median_bp"] == pytest.approx(2.0)
    # A mid that moves against the index every minute: correlation -1.
    mirrored = pd.DataFrame({"t": t, "index": index, "mid": 1e10 / index})
    assert basis_facts(mirrored)["perp_index_corr_1m"] == pytest.approx(-1.0)
    # The index moves in every one of the 60 minutes: no flat minute.
    assert facts["index_longest_flat_min"] == 0


def test_the_longest_flat_run_finds_a_spot_market_that_stopped_trading():
    from analysis.stylized_facts import basis_facts

    # 61 one-minute closes, 60 returns. The index stands still in minutes 5-6 (a quoting grid:
    # a run of 2) and 31-45 (a market that stopped trading: a run of 15), and moves in the
    # other 43: the longest run is 15.
    t = np.arange(1, 62) * 60.0
    steps = np.full(61, 1e-3)
    steps[[0, 5, 6]] = 0.0
    steps[31:46] = 0.0
    index = 100_000.0 * np.exp(np.cumsum(steps))
    facts = basis_facts(pd.DataFrame({"t": t, "index": index, "mid": index}))
    assert facts["index_longest_flat_min"] == 15


def test_realism_facts_leave_out_the_burn_in():
    from scenarios.realism import facts_of_run

    # Series rows at t = 1 .. 900 s fall in minute bars 0 .. 14: 15 closes, 14 returns. From
    # t = 300 s on, bars 4 .. 14: 11 closes, 10 returns.
    whole = facts_of_run("calm", 0, ["duration_s=900"])
    burnt = facts_of_run("calm", 0, ["duration_s=900"], skip_s=300.0)
    assert whole["n_returns_1m"] == 14
    assert burnt["n_returns_1m"] == 10
