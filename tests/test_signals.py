"""Funding and OI states, and their cross-tab with outcomes, on hand-built tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.signals import (
    compare_state,
    funding_state,
    oi_change_pct,
    oi_state,
    signal_states,
    signal_table,
    wilson_interval,
)

# Six long clusters and two short ones, with their states and outcomes.
HAND = pd.DataFrame({
    "side": ["long"] * 6 + ["short"] * 2,
    "funding_state": ["high", "high", "high", "normal", "normal", "normal", "high", "high"],
    "oi_state": ["falling", "falling", "falling", "falling", "rising", "rising", "falling",
                 "falling"],
    "outcome": ["cascade", "cascade", "swept", "cascade", "untouched", "bounced", "untouched",
                "cascade"],
})


def test_signal_table_counts_and_shares_within_each_state():
    table = signal_table(HAND).set_index(["side", "funding_state", "oi_state", "outcome"])
    # long/high/falling: 3 rows, 2 cascades (2/3) and 1 sweep (1/3), no other class.
    assert table.loc[("long", "high", "falling", "cascade"), "count"] == 2
    assert table.loc[("long", "high", "falling", "cascade"), "n"] == 3
    assert table.loc[("long", "high", "falling", "cascade"), "share"] == pytest.approx(2 / 3)
    assert table.loc[("long", "high", "falling", "swept"), "share"] == pytest.approx(1 / 3)
    assert table.loc[("long", "high", "falling", "untouched"), "count"] == 0
    # long/normal/rising: 2 rows, one untouched, one bounce.
    assert table.loc[("long", "normal", "rising", "bounced"), "share"] == pytest.approx(0.5)
    # Four observed states x five outcome classes.
    assert len(table) == 4 * 5
    # Shares within a state add up to 1.
    sums = table.groupby(level=[0, 1, 2])["share"].sum()
    np.testing.assert_allclose(sums, 1.0)


def test_compare_state_against_the_same_side_otherwise():
    got = compare_state(HAND, {"side": "long", "funding_state": "high", "oi_state": "falling"},
                        "cascade").set_index("group")
    # In the state: 2 cascades of 3. Otherwise (longs not in it): 1 cascade of 3; the short
    # clusters are not part of the comparison.
    assert (got.loc["state", "count"], got.loc["state", "n"]) == (2, 3)
    assert (got.loc["otherwise", "count"], got.loc["otherwise", "n"]) == (1, 3)
    assert got.loc["state", "share"] == pytest.approx(2 / 3)
    assert got.loc["otherwise", "share"] == pytest.approx(1 / 3)


def test_wilson_interval_of_zero_successes():
    # k = 0, n = 10, z = 1.96: lo = 0, hi = z^2 / (n + z^2) = 3.8415 / 13.8415 = 0.27753.
    lo, hi = wilson_interval(np.array([0]), np.array([10]))
    assert lo[0] == pytest.approx(0.0, abs=1e-12)
    assert hi[0] == pytest.approx(3.841459 / 13.841459, rel=1e-5)


def test_wilson_interval_of_half():
    # k = 50, n = 100: centre 0.5, half-width z sqrt(0.25/100 + z^2/40000) / (1 + z^2/100)
    # = 1.96 x sqrt(0.0025 + 0.0000960) / 1.038415 = 1.96 x 0.050951 / 1.038415 = 0.096168.
    lo, hi = wilson_interval(np.array([50]), np.array([100]))
    assert (lo[0], hi[0]) == pytest.approx((0.5 - 0.096168, 0.5 + 0.096168), abs=1e-5)


def test_funding_states_around_the_interest_baseline():
    # 0.0001 is the baseline (normal); 0.000102 > 0.0001 + 1e-6 (high); 0.0001005 is inside
    # eps (normal); -0.00001 < -1e-6 (negative); 0 is normal; NaN unknown.
    rates = np.array([0.0001, 0.000102, 0.0001005, -0.00001, 0.0, np.nan])
    assert list(funding_state(rates, interest=0.0001)) == ["normal", "high", "normal",
                                                           "negative", "normal", "unknown"]


def test_funding_state_follows_the_runs_interest_rate():
    # A run with 0.03 % interest: 0.0002 (high at 0.01 %) is below 0.0003 + 1e-6 (normal),
    # 0.0003 is the baseline (normal), 0.000302 > 0.000301 (high).
    rates = np.array([0.0002, 0.0003, 0.000302])
    assert list(funding_state(rates, interest=0.0003)) == ["normal", "normal", "high"]
    assert list(funding_state(rates, interest=0.0001)) == ["high", "high", "high"]


def test_oi_states():
    assert list(oi_state(np.array([2.0, -0.5, 0.0, np.nan]))) == ["rising", "falling", "flat",
                                                                  "unknown"]


def test_oi_change_over_the_last_hour():
    # OI 100 at t <= 3600, 110 at 5400, 88 at 7200. At 7200 the hour-ago level (t = 3600) is
    # 100: -12 %. At 5400 it is that at t = 1800 (100): +10 %. At 1800 the series starts
    # less than an hour before (t = 0: 100): 0 %.
    series = pd.DataFrame({"t": [0.0, 1800.0, 3600.0, 5400.0, 7200.0],
                           "oi": [100.0, 100.0, 100.0, 110.0, 88.0]})
    np.testing.assert_allclose(oi_change_pct(series, np.array([7200.0, 5400.0, 1800.0])),
                               [-12.0, 10.0, 0.0])


def test_signal_states_adds_the_columns():
    # The settled rate (funding_rate) is 0 throughout: no settlement yet. The state is read
    # from the recorded prediction.
    series = pd.DataFrame({"t": [0.0, 3600.0, 7200.0], "oi": [100.0, 120.0, 90.0],
                           "funding_rate": 0.0,
                           "predicted_funding_rate": [0.0001, 0.0003, -0.0002]})
    frame = pd.DataFrame({"t": [3600.0, 7200.0], "outcome": ["swept", "cascade"]})
    out = signal_states(frame, series, interest=0.0001)
    # t = 3600: OI 100 -> 120 (+20 %, rising), predicted funding 0.0003 (high).
    # t = 7200: OI 120 -> 90 (-25 %, falling), predicted funding -0.0002 (negative).
    np.testing.assert_allclose(out["funding_at"], [0.0003, -0.0002])
    assert list(out["funding_state"]) == ["high", "negative"]
    np.testing.assert_allclose(out["oi_change_pct"], [20.0, -25.0])
    assert list(out["oi_state"]) == ["rising", "falling"]
    assert list(out["outcome"]) == ["swept", "cascade"]
