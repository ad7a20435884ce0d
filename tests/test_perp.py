"""Tests for sim.exchange.perp: expected values are worked out by hand from the venue formulas."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.exchange.perp import (
    BTCUSDT_TIERS,
    MarginTier,
    bankruptcy_price,
    bankruptcy_price_nb,
    funding_rate,
    funding_rate_nb,
    liquidation_price,
    liquidation_price_nb,
    liquidation_prices_nb,
    maintenance_margin,
    maintenance_margin_nb,
    mark_price,
    mark_price_nb,
    premium_index,
    premium_index_nb,
    tier_arrays,
    tier_index,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FLOORS, MAX_LEV, MMR, CUM = tier_arrays()
REL = 1e-9


def margin_balance(side: int, qty: float, entry: float, wallet: float, price: float) -> float:
    """Return the isolated position's margin balance (wallet + unrealized PnL) at ``price``."""
    return wallet + side * qty * (price - entry)


def exact_liquidation_price(side: int, qty: float, entry: float, wallet: float) -> float:
    """Return the spec's liquidation price computed in exact rational arithmetic.

    The table is taken at its decimal values, where it is exactly continuous, so exactly one
    tier is consistent with its own candidate price and no fallback is needed.
    """
    q, ep, wb = Fraction(qty), Fraction(entry), Fraction(wallet)
    n = len(BTCUSDT_TIERS)
    for i, tier in enumerate(BTCUSDT_TIERS):
        rate = Fraction(repr(tier.maintenance_margin_rate))
        amount = Fraction(repr(tier.maintenance_amount))
        if side > 0:
            lp = (q * ep - wb - amount) / (q * (1 - rate))
        else:
            lp = (q * ep + wb + amount) / (q * (1 + rate))
        notional = lp * q
        lo = Fraction(repr(tier.notional_floor))
        hi = None if i == n - 1 else Fraction(repr(BTCUSDT_TIERS[i + 1].notional_floor))
        if notional >= lo and (hi is None or notional < hi):
            return max(float(lp), 0.0) if side > 0 else float(lp)
    # Only a long with a non-positive formula price misses every tier (notional < 0).
    assert side > 0
    return 0.0


def close(a: float, b: float, scale: float = 0.0) -> bool:
    """Return whether a and b agree to 1e-9 relative, allowing ``1e-12 * scale`` absolute."""
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12 * scale)


# ---------------------------------------------------------------------------------------------
# Tier table
# ---------------------------------------------------------------------------------------------


def test_btcusdt_table_rows():
    assert len(BTCUSDT_TIERS) == 10
    assert BTCUSDT_TIERS[0] == MarginTier(0.0, 125.0, 0.004, 0.0)
    assert BTCUSDT_TIERS[3] == MarginTier(1_000_000.0, 20.0, 0.025, 16_300.0)
    assert BTCUSDT_TIERS[-1] == MarginTier(300_000_000.0, 1.0, 0.50, 100_016_300.0)


def test_btcusdt_cum_makes_maintenance_margin_continuous():
    # Binance derives each maintenance amount as cum_i = cum_{i-1} + floor_i * (mmr_i - mmr_{i-1})
    # e.g. tier 2: 50 + 250_000 * (0.01 - 0.005) = 1_300.
    for prev, cur in zip(BTCUSDT_TIERS, BTCUSDT_TIERS[1:], strict=False):
        expected = prev.maintenance_amount + cur.notional_floor * (
            cur.maintenance_margin_rate - prev.maintenance_margin_rate
        )
        assert math.isclose(cur.maintenance_amount, expected, rel_tol=1e-12)


def test_margin_tier_is_frozen():
    with pytest.raises(AttributeError):
        BTCUSDT_TIERS[0].maintenance_margin_rate = 0.1  # type: ignore[misc]


def test_tier_arrays_values_and_dtype():
    floors, lev, mmr, cum = tier_arrays()
    for arr in (floors, lev, mmr, cum):
        assert arr.dtype == np.float64
        assert arr.shape == (10,)
    assert floors[1] == 50_000.0 and floors[-1] == 300_000_000.0
    assert lev[0] == 125.0 and lev[-1] == 1.0
    assert mmr[2] == 0.01 and mmr[5] == 0.10
    assert cum[4] == 266_300.0 and cum[8] == 25_016_300.0


def test_tier_arrays_returns_copies():
    floors, _, mmr, _ = tier_arrays()
    floors[1] = 1.0
    mmr[0] = 0.9
    # Mutating a returned array must not leak into later calls or the public functions.
    assert tier_arrays()[0][1] == 50_000.0
    assert maintenance_margin(40_000.0) == pytest.approx(40_000 * 0.004, rel=1e-12)


def test_custom_tiers_accepted_as_list():
    tiers = [MarginTier(0.0, 10.0, 0.01, 0.0), MarginTier(1_000.0, 5.0, 0.02, 10.0)]
    floors, lev, mmr, cum = tier_arrays(tiers)
    assert list(floors) == [0.0, 1_000.0]
    assert list(cum) == [0.0, 10.0]
    # 2_000 * 0.02 - 10 = 30
    assert maintenance_margin(2_000.0, tiers) == pytest.approx(30.0, rel=1e-12)


@pytest.mark.parametrize(
    ("tiers", "fragment"),
    [
        ((), "non-empty"),
        ((MarginTier(1.0, 10.0, 0.01, 0.0),), "notional_floor must be 0"),
        (
            (MarginTier(0.0, 10.0, 0.01, 0.0), MarginTier(0.0, 5.0, 0.02, 0.0)),
            "strictly increasing",
        ),
        (
            (MarginTier(0.0, 10.0, 0.01, 0.0), MarginTier(float("nan"), 5.0, 0.02, 0.0)),
            "strictly increasing",
        ),
        ((MarginTier(0.0, 10.0, 0.0, 0.0),), "maintenance_margin_rate must be in (0, 1)"),
        ((MarginTier(0.0, 10.0, 1.0, 0.0),), "maintenance_margin_rate must be in (0, 1)"),
        ((MarginTier(0.0, 0.5, 0.01, 0.0),), "max_leverage must be >= 1"),
        ((MarginTier(0.0, 10.0, 0.01, float("inf")),), "maintenance_amount must be finite"),
    ],
)
def test_tier_arrays_rejects_bad_tables(tiers, fragment):
    with pytest.raises(ValueError, match=r"^tiers") as info:
        tier_arrays(tiers)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("notional", "expected"),
    [
        (0.0, 0),
        (49_999.99, 0),
        (50_000.0, 1),  # floors are inclusive
        (-60_000.0, 1),  # sign ignored
        (249_999.0, 1),
        (250_000.0, 2),
        (1_000_000.0, 3),
        (5_000_000.0, 3),
        (19_999_999.0, 4),
        (299_999_999.0, 8),
        (499_999_999.0, 9),
        (1e12, 9),  # above 500M stays in the last tier
    ],
)
def test_tier_index(notional, expected):
    assert tier_index(notional) == expected


# ---------------------------------------------------------------------------------------------
# Maintenance margin
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notional", "expected"),
    [
        (40_000.0, 40_000 * 0.004 - 0),  # tier 0: 160
        (100_000.0, 100_000 * 0.005 - 50),  # tier 1: 450
        (-100_000.0, 100_000 * 0.005 - 50),  # a short's negative notional
        (5_000_000.0, 5_000_000 * 0.025 - 16_300),  # tier 3: 108_700
        (30_000_000.0, 30_000_000 * 0.10 - 1_266_300),  # tier 5: 1_733_700
        (1e9, 1e9 * 0.50 - 100_016_300),  # beyond the table: last tier, 399_983_700
    ],
)
def test_maintenance_margin(notional, expected):
    assert maintenance_margin(notional) == pytest.approx(expected, rel=1e-12)


def test_maintenance_margin_continuous_at_floors():
    for tier, prev in zip(BTCUSDT_TIERS[1:], BTCUSDT_TIERS, strict=False):
        floor = tier.notional_floor
        # Just below the floor uses the previous tier's line; at the floor both lines agree.
        below = floor * prev.maintenance_margin_rate - prev.maintenance_amount
        assert maintenance_margin(floor) == pytest.approx(below, rel=1e-12)
        assert maintenance_margin(np.nextafter(floor, 0.0)) == pytest.approx(below, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Liquidation price (hand-worked cases)
# ---------------------------------------------------------------------------------------------

LIQ_CASES = [
    # (side, qty, entry, wallet, expected, tier of LP*Q)
    # Long 1 BTC @ 40k, 10x (WB = 4k). Tier 0: (40_000 - 4_000 - 0) / (1 * 0.996) = 36_144.58;
    # LP*Q = 36.1k is in [0, 50k): consistent.
    (1, 1.0, 40_000.0, 4_000.0, (40_000 - 4_000 - 0) / (1 * (1 - 0.004)), 0),
    # Long 1 BTC @ 55k, 5x (WB = 11k): entry is tier 1 but LP is tier 0.
    # Tier 0: 44_000 / 0.996 = 44_176.7 -> LP*Q = 44.2k < 50k: consistent.
    (1, 1.0, 55_000.0, 11_000.0, (55_000 - 11_000 - 0) / (1 * (1 - 0.004)), 0),
    # Long 2 BTC @ 60k, 10x (WB = 12k), notional 120k.
    # Tier 0: 108_000 / 1.992 = 54_216.9 -> LP*Q = 108.4k >= 50k: not tier 0.
    # Tier 1: (120_000 - 12_000 - 50) / (2 * 0.995) = 107_950 / 1.99 = 54_246.2
    # -> LP*Q = 108.5k in [50k, 250k): consistent.
    (1, 2.0, 60_000.0, 12_000.0, (120_000 - 12_000 - 50) / (2 * (1 - 0.005)), 1),
    # Long 100 BTC @ 50k, 20x (WB = 250k), notional 5M.
    # Tier 0: 4.75M / 99.6 = 47_690.8 -> 4.77M, no.  Tier 1: (4.75M - 50) / 99.5 -> 4.77M, no.
    # Tier 2: (4.75M - 1_300) / 99 = 47_967.7 -> 4.80M, no.
    # Tier 3: (4.75M - 16_300) / 97.5 = 48_550.8 -> 4.86M in [1M, 10M): consistent.
    (1, 100.0, 50_000.0, 250_000.0, (5_000_000 - 250_000 - 16_300) / (100 * (1 - 0.025)), 3),
    # Short 1 BTC @ 40k, 10x (WB = 4k). Tier 0: 44_000 / 1.004 = 43_824.7 -> 43.8k: consistent.
    (-1, 1.0, 40_000.0, 4_000.0, (40_000 + 4_000 + 0) / (1 * (1 + 0.004)), 0),
    # Short 1 BTC @ 48k, 5x (WB = 9.6k): entry tier 0, LP tier 1.
    # Tier 0: 57_600 / 1.004 = 57_370.5 -> 57.4k >= 50k: no.
    # Tier 1: (57_600 + 50) / 1.005 = 57_363.2 -> 57.4k in [50k, 250k): consistent.
    (-1, 1.0, 48_000.0, 9_600.0, (48_000 + 9_600 + 50) / (1 * (1 + 0.005)), 1),
    # Short 100 BTC @ 50k, 20x (WB = 250k).
    # Tier 0: 5.25M / 100.4 -> 5.23M, no.  Tier 1: 5_250_050 / 100.5 -> 5.22M, no.
    # Tier 2: 5_251_300 / 101 = 51_993 -> 5.20M, no.
    # Tier 3: (5M + 250k + 16_300) / 102.5 = 51_378.5 -> 5.14M in [1M, 10M): consistent.
    (-1, 100.0, 50_000.0, 250_000.0, (5_000_000 + 250_000 + 16_300) / (100 * (1 + 0.025)), 3),
    # Short 1 BTC @ 40k at 1x (WB = 40k): still liquidatable, tier 0: 80_000 / 1.004 = 79_681
    # -> 79.7k >= 50k, no.  Tier 1: 80_050 / 1.005 = 79_651.7 -> tier 1: consistent.
    (-1, 1.0, 40_000.0, 40_000.0, (40_000 + 40_000 + 50) / (1 * (1 + 0.005)), 1),
]


@pytest.mark.parametrize(("side", "qty", "entry", "wallet", "expected", "tier"), LIQ_CASES)
def test_liquidation_price_hand_cases(side, qty, entry, wallet, expected, tier):
    lp = liquidation_price(side, qty, entry, wallet)
    assert lp == pytest.approx(expected, rel=1e-12)
    assert tier_index(lp * qty) == tier
    # The defining property: margin balance at LP equals the maintenance margin there.
    assert margin_balance(side, qty, entry, wallet, lp) == pytest.approx(
        maintenance_margin(lp * qty), rel=1e-9
    )


def test_liquidation_price_on_tier_floor_where_float_candidates_miss_both_tiers():
    # Short 400 BTC @ 20k (notional 8M, tier 3), WB = 12_733_700. Exactly:
    # tier 4: (8M + 12_733_700 + 266_300) / (400 * 1.05) = 21M / 420 = 50_000 -> LP*Q = 20M,
    #         which is tier 5's floor, so tier 4 is (just) inconsistent;
    # tier 5: (8M + 12_733_700 + 1_266_300) / (400 * 1.10) = 22M / 440 = 50_000 -> consistent.
    # In floats 400 * 1.1 rounds up, putting tier 5's candidate an ulp below 20M, so neither
    # tier passes the strict check. The entry tier (3) would give
    # 20_750_000 / 410 = 50_609.76, which is wrong; the answer is 50_000.
    side, qty, entry, wallet = -1, 400.0, 20_000.0, 12_733_700.0
    candidates = [
        (qty * entry + wallet + c) / (qty * (1 + m)) for m, c in zip(MMR, CUM, strict=True)
    ]
    strict_ok = [
        FLOORS[i] <= candidates[i] * qty and (i == 9 or candidates[i] * qty < FLOORS[i + 1])
        for i in range(10)
    ]
    assert not any(strict_ok)  # the case really exercises the edge path
    lp = liquidation_price(side, qty, entry, wallet)
    assert lp == pytest.approx(50_000.0, rel=1e-12)
    # At LP: WB - Q * (LP - EP) = 12_733_700 - 400 * 30_000 = 733_700
    # and MM(20M) = 20M * 0.10 - 1_266_300 = 733_700.
    assert margin_balance(side, qty, entry, wallet, lp) == pytest.approx(733_700.0, rel=1e-9)
    assert maintenance_margin(lp * qty) == pytest.approx(733_700.0, rel=1e-9)


def test_liquidation_price_long_fully_collateralised_is_zero():
    # Long 1 BTC @ 40k at 1x: tier 0 gives (40_000 - 40_000 - 0) / 0.996 = 0 -> not liquidatable.
    assert liquidation_price(1, 1.0, 40_000.0, 40_000.0) == 0.0
    # Over-collateralised: (40_000 - 50_000) / 0.996 < 0 -> 0.0.
    assert liquidation_price(1, 1.0, 40_000.0, 50_000.0) == 0.0
    # Large long at 1x: (2.5e7 - 2.5e7 - cum) / ... < 0 in every tier -> 0.0.
    assert liquidation_price(1, 500.0, 50_000.0, 25_000_000.0) == 0.0


def test_liquidation_price_zero_wallet_is_above_entry_for_long():
    # Long 1 BTC @ 40k with no margin: (40_000 - 0 - 0) / 0.996 = 40_160.6 > entry.
    lp = liquidation_price(1, 1.0, 40_000.0, 0.0)
    assert lp == pytest.approx(40_000 / 0.996, rel=1e-12)
    assert lp > 40_000.0


def test_liquidation_price_uses_entry_tier_when_table_is_inconsistent():
    # A deliberately discontinuous table: MM jumps from 0.01 * 1_000 = 10 to
    # 0.5 * 1_000 - 600 = -100 at the 1_000 floor.
    tiers = (MarginTier(0.0, 100.0, 0.01, 0.0), MarginTier(1_000.0, 2.0, 0.5, 600.0))
    # Long 1 @ 1_500, WB 500:
    # tier 0: (1_500 - 500 - 0) / 0.99 = 1_010.1 -> >= 1_000, not tier 0;
    # tier 1: (1_500 - 500 - 600) / 0.5 = 800 -> < 1_000, not tier 1;
    # entry notional 1_500 is tier 1 -> 800.
    assert liquidation_price(1, 1.0, 1_500.0, 500.0, tiers) == pytest.approx(
        (1_500 - 500 - 600) / (1 * (1 - 0.5)), rel=1e-12
    )
    # Short on a second inconsistent table: MM jumps from 10 to 500 at the floor.
    tiers_short = (MarginTier(0.0, 100.0, 0.01, 0.0), MarginTier(1_000.0, 2.0, 0.5, 0.0))
    # Short 1 @ 500, WB 600:
    # tier 0: (500 + 600 + 0) / 1.01 = 1_089.1 -> not tier 0;
    # tier 1: (500 + 600 + 0) / 1.5 = 733.3 -> not tier 1;
    # entry notional 500 is tier 0 -> 1_100 / 1.01.
    assert liquidation_price(-1, 1.0, 500.0, 600.0, tiers_short) == pytest.approx(
        (500 + 600 + 0) / (1 * (1 + 0.01)), rel=1e-12
    )


# ---------------------------------------------------------------------------------------------
# Liquidation price (properties)
# ---------------------------------------------------------------------------------------------

sides = st.sampled_from([1, -1])
qtys = st.floats(0.001, 500.0)
entries = st.floats(1_000.0, 200_000.0)
leverages = st.floats(1.0, 125.0)


@settings(max_examples=300, deadline=None)
@given(side=sides, qty=qtys, entry=entries, leverage=leverages)
def test_margin_balance_at_liquidation_equals_maintenance(side, qty, entry, leverage):
    wallet = qty * entry / leverage
    lp = liquidation_price(side, qty, entry, wallet)
    assume(lp > 0.0)
    mb = margin_balance(side, qty, entry, wallet, lp)
    mm = maintenance_margin(lp * qty)
    # WB + side*Q*(LP - EP) cancels terms of size Q*EP, so rounding is bounded by the position
    # notional rather than by MM, which can be tiny for a nearly fully collateralised long.
    assert close(mb, mm, scale=qty * entry)
    # A position that opens above maintenance is liquidated by an adverse move (leverages above
    # the tier's maximum can open below maintenance, where LP is on the other side of entry).
    if wallet > maintenance_margin(qty * entry) * (1 + 1e-9):
        assert side * (entry - lp) > 0


@st.composite
def tier_edge_positions(draw):
    """Return (side, qty, entry, wallet) whose exact liquidation notional sits on a tier floor.

    The wallet is solved from one neighbouring tier's formula for a target notional within a
    few ulps of a floor, so the candidates of both neighbouring tiers straddle their ranges.
    """
    side = draw(sides)
    b = draw(st.integers(1, len(BTCUSDT_TIERS) - 1))
    i = draw(st.sampled_from([b - 1, b]))
    qty = draw(st.one_of(st.sampled_from([0.5, 1.0, 3.0, 7.0, 100.0, 400.0]), qtys))
    nudge = draw(st.sampled_from([0.0, 1e-15, -1e-15, 1e-13, -1e-13]))
    stretch = draw(st.floats(1.0, 3.0))
    target = FLOORS[b] * (1.0 + nudge)
    if side > 0:
        entry = target / qty * stretch
        wallet = qty * entry - CUM[i] - target * (1.0 - MMR[i])
    else:
        entry = target / qty / stretch
        wallet = target * (1.0 + MMR[i]) - qty * entry - CUM[i]
    return side, qty, entry, max(wallet, 0.0)


@settings(max_examples=300, deadline=None)
@given(pos=tier_edge_positions())
def test_liquidation_price_at_tier_edges(pos):
    side, qty, entry, wallet = pos
    lp = liquidation_price(side, qty, entry, wallet)
    assert close(lp, exact_liquidation_price(side, qty, entry, wallet), scale=entry)
    if lp > 0.0:
        mb = margin_balance(side, qty, entry, wallet, lp)
        assert close(mb, maintenance_margin(lp * qty), scale=qty * entry + wallet)


# ---------------------------------------------------------------------------------------------
# Bankruptcy price
# ---------------------------------------------------------------------------------------------


def test_bankruptcy_price_hand_cases():
    # Long 1 BTC @ 40k, WB 4k: 40_000 - 4_000 / 1 = 36_000.
    assert bankruptcy_price(1, 1.0, 40_000.0, 4_000.0) == pytest.approx(36_000.0, rel=1e-12)
    # Short 2 BTC @ 50k, WB 10k: 50_000 + 10_000 / 2 = 55_000.
    assert bankruptcy_price(-1, 2.0, 50_000.0, 10_000.0) == pytest.approx(55_000.0, rel=1e-12)
    # Long with WB > notional: 40_000 - 50_000 < 0 -> floored at 0.0.
    assert bankruptcy_price(1, 1.0, 40_000.0, 50_000.0) == 0.0
    # Zero margin: bankrupt at entry.
    assert bankruptcy_price(-1, 1.0, 40_000.0, 0.0) == 40_000.0


def test_bankruptcy_beyond_liquidation():
    # Long 1 @ 40k, 10x: LP = 36_144.6 > BP = 36_000; short: LP = 43_824.7 < BP = 44_000.
    args = (1.0, 40_000.0, 4_000.0)
    assert bankruptcy_price(1, *args) < liquidation_price(1, *args)
    assert bankruptcy_price(-1, *args) > liquidation_price(-1, *args)


@settings(max_examples=200, deadline=None)
@given(side=sides, qty=qtys, entry=entries, leverage=st.floats(1.0001, 125.0))
def test_margin_balance_at_bankruptcy_is_zero(side, qty, entry, leverage):
    wallet = qty * entry / leverage
    bp = bankruptcy_price(side, qty, entry, wallet)
    assert bp > 0.0
    assert abs(margin_balance(side, qty, entry, wallet, bp)) <= 1e-12 * qty * entry


# ---------------------------------------------------------------------------------------------
# Premium index, funding rate, mark price
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bid", "ask", "index", "expected"),
    [
        (100_050.0, 100_070.0, 100_000.0, (50 - 0) / 100_000),  # book above index: +0.0005
        (99_900.0, 99_950.0, 100_000.0, (0 - 50) / 100_000),  # book below index: -0.0005
        (99_990.0, 100_010.0, 100_000.0, 0.0),  # index inside the spread
    ],
)
def test_premium_index(bid, ask, index, expected):
    assert premium_index(bid, ask, index) == pytest.approx(expected, rel=1e-12, abs=1e-18)


@pytest.mark.parametrize("premium", [0.0, 0.0003, -0.0003, 0.0001, 0.00059])
def test_funding_rate_dead_zone_is_exactly_interest(premium):
    # |0.0001 - P| <= 0.0005 -> F = P + (0.0001 - P) = 0.0001, exactly.
    assert funding_rate(premium) == 0.0001


@pytest.mark.parametrize(
    ("premium", "expected"),
    [
        (0.002, 0.002 - 0.0005),  # I - P = -0.0019 -> clamp -0.0005: 0.0015
        (-0.001, -0.001 + 0.0005),  # I - P = 0.0011 -> clamp +0.0005: -0.0005
        (0.01, 0.003),  # 0.01 - 0.0005 = 0.0095 -> capped at +0.003
        (-0.01, -0.003),  # -0.01 + 0.0005 = -0.0095 -> capped at -0.003
    ],
)
def test_funding_rate_outside_dead_zone(premium, expected):
    assert funding_rate(premium) == pytest.approx(expected, rel=1e-12)


def test_funding_rate_custom_parameters():
    # P = 0.001, I = 0, clamp 0: F = 0.001; cap 0.0004 -> 0.0004; cap 0 -> 0.
    assert funding_rate(0.001, interest=0.0, clamp=0.0) == pytest.approx(0.001, rel=1e-12)
    assert funding_rate(0.001, interest=0.0, clamp=0.0, cap=0.0004) == 0.0004
    assert funding_rate(0.001, cap=0.0) == 0.0


# index 100k, last funding 0.0001, half the interval left:
# price 1 = 100_000 * (1 + 0.0001 * 0.5) = 100_005; basis 10: price 2 = 100_010.
@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (100_007.0, 100_007.0),  # last price in the middle
        (100_020.0, 100_010.0),  # price 2 in the middle
        (99_990.0, 100_005.0),  # price 1 in the middle
    ],
)
def test_mark_price_median(last, expected):
    assert mark_price(100_000.0, 0.0001, 0.5, 10.0, last) == pytest.approx(expected, rel=1e-12)


def test_mark_price_at_funding_time_and_negative_basis():
    # frac 0: price 1 = index = 50_000; basis -30: price 2 = 49_970; last 49_980 -> median 49_980.
    assert mark_price(50_000.0, 0.003, 0.0, -30.0, 49_980.0) == pytest.approx(49_980.0)
    # frac 1, rate -0.001: price 1 = 50_000 * 0.999 = 49_950; basis +5: 50_005; last 60k
    # -> median 50_005.
    assert mark_price(50_000.0, -0.001, 1.0, 5.0, 60_000.0) == pytest.approx(50_005.0)


# ---------------------------------------------------------------------------------------------
# Numba kernels
# ---------------------------------------------------------------------------------------------

notionals = st.one_of(
    st.floats(-1e9, 1e9),
    st.sampled_from(list(FLOORS)).map(lambda f: float(np.nextafter(f, -np.inf))),
    st.sampled_from(list(FLOORS)),
)


@settings(max_examples=200, deadline=None)
@given(notional=notionals)
def test_maintenance_margin_nb_agrees(notional):
    # Independent check: the line of the tier holding |notional|, looked up with a list scan.
    i = max(k for k, t in enumerate(BTCUSDT_TIERS) if t.notional_floor <= abs(notional))
    t = BTCUSDT_TIERS[i]
    expected = abs(notional) * t.maintenance_margin_rate - t.maintenance_amount
    got = maintenance_margin_nb(notional, FLOORS, MMR, CUM)
    assert close(got, expected, scale=abs(notional))
    assert close(got, maintenance_margin(notional), scale=abs(notional))
    assert tier_index(notional) == i


@settings(max_examples=300, deadline=None)
@given(
    pos=st.one_of(
        tier_edge_positions(),
        st.tuples(sides, qtys, entries, leverages).map(
            lambda t: (t[0], t[1], t[2], t[1] * t[2] / t[3])
        ),
    )
)
def test_liquidation_price_nb_agrees(pos):
    side, qty, entry, wallet = pos
    got = liquidation_price_nb(side, qty, entry, wallet, FLOORS, MMR, CUM)
    assert close(got, liquidation_price(side, qty, entry, wallet), scale=entry)
    assert close(got, exact_liquidation_price(side, qty, entry, wallet), scale=entry)
    assert close(
        bankruptcy_price_nb(side, qty, entry, wallet),
        bankruptcy_price(side, qty, entry, wallet),
        scale=entry,
    )


@settings(max_examples=200, deadline=None)
@given(
    bid=st.floats(1_000.0, 200_000.0),
    spread=st.floats(0.0, 500.0),
    index=st.floats(1_000.0, 200_000.0),
    premium=st.floats(-0.02, 0.02),
    frac=st.floats(0.0, 1.0),
    basis=st.floats(-500.0, 500.0),
)
def test_scalar_kernels_agree(bid, spread, index, premium, frac, basis):
    ask = bid + spread
    assert close(premium_index_nb(bid, ask, index), premium_index(bid, ask, index))
    # Spelled out from the formula rather than calling the shared kernel.
    p = (max(0.0, bid - index) - max(0.0, index - ask)) / index
    assert close(premium_index(bid, ask, index), p)
    expected_f = min(max(premium + min(max(0.0001 - premium, -0.0005), 0.0005), -0.003), 0.003)
    assert close(funding_rate_nb(premium, 0.0001, 0.0005, 0.003), funding_rate(premium))
    assert math.isclose(funding_rate(premium), expected_f, rel_tol=REL, abs_tol=1e-15)
    expected_m = sorted([index * (1 + premium * frac), index + basis, bid])[1]
    assert close(mark_price_nb(index, premium, frac, basis, bid), expected_m)
    assert close(mark_price(index, premium, frac, basis, bid), expected_m)


def test_liquidation_prices_nb_vectorized():
    sides_arr = np.array([1, -1, 1, -1, 1, 0], dtype=np.int64)
    qty_arr = np.array([1.0, 1.0, 0.0, 100.0, 2.0, 1.0])
    entry_arr = np.array([40_000.0, 48_000.0, 40_000.0, 50_000.0, 60_000.0, 40_000.0])
    wallet_arr = np.array([4_000.0, 9_600.0, 4_000.0, 250_000.0, 12_000.0, 4_000.0])
    out = liquidation_prices_nb(sides_arr, qty_arr, entry_arr, wallet_arr, FLOORS, MMR, CUM)
    assert out.dtype == np.float64 and out.shape == (6,)
    assert np.isnan(out[2])  # qty 0: flat
    assert np.isnan(out[5])  # side 0: flat
    # Same hand numbers as LIQ_CASES.
    assert out[0] == pytest.approx(36_000 / 0.996, rel=1e-12)
    assert out[1] == pytest.approx(57_650 / 1.005, rel=1e-12)
    assert out[3] == pytest.approx(5_266_300 / 102.5, rel=1e-12)
    assert out[4] == pytest.approx(107_950 / 1.99, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(
        st.tuples(sides, st.one_of(st.just(0.0), qtys), entries, leverages), min_size=1, max_size=20
    )
)
def test_liquidation_prices_nb_matches_scalar(data):
    s = np.array([d[0] for d in data], dtype=np.int64)
    q = np.array([d[1] for d in data])
    e = np.array([d[2] for d in data])
    w = q * e / np.array([d[3] for d in data])
    out = liquidation_prices_nb(s, q, e, w, FLOORS, MMR, CUM)
    for k in range(len(data)):
        if q[k] == 0.0:
            assert np.isnan(out[k])
        else:
            assert close(out[k], liquidation_price(int(s[k]), q[k], e[k], w[k]), scale=e[k])


def test_kernels_run_without_jit():
    script = """
import json
import numpy as np
from numba import config
from sim.exchange import perp
assert config.DISABLE_JIT
f, _, m, c = perp.tier_arrays()
print(json.dumps([
    perp.maintenance_margin_nb(5e6, f, m, c),
    perp.liquidation_price_nb(1, 100.0, 50000.0, 250000.0, f, m, c),
    perp.liquidation_price_nb(-1, 400.0, 20000.0, 12733700.0, f, m, c),
    perp.liquidation_price_nb(1, 1.0, 40000.0, 50000.0, f, m, c),
    perp.bankruptcy_price_nb(-1, 2.0, 50000.0, 10000.0),
    perp.premium_index_nb(100050.0, 100070.0, 100000.0),
    perp.funding_rate_nb(0.01, 0.0001, 0.0005, 0.003),
    perp.mark_price_nb(100000.0, 0.0001, 0.5, 10.0, 100007.0),
    [None if np.isnan(x) else x for x in perp.liquidation_prices_nb(
        np.array([1, -1]), np.array([1.0, 0.0]), np.array([4e4, 4e4]), np.array([4e3, 4e3]),
        f, m, c)],
]))
"""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    pure = json.loads(proc.stdout)
    jitted = [
        maintenance_margin_nb(5e6, FLOORS, MMR, CUM),
        liquidation_price_nb(1, 100.0, 50_000.0, 250_000.0, FLOORS, MMR, CUM),
        liquidation_price_nb(-1, 400.0, 20_000.0, 12_733_700.0, FLOORS, MMR, CUM),
        liquidation_price_nb(1, 1.0, 40_000.0, 50_000.0, FLOORS, MMR, CUM),
        bankruptcy_price_nb(-1, 2.0, 50_000.0, 10_000.0),
        premium_index_nb(100_050.0, 100_070.0, 100_000.0),
        funding_rate_nb(0.01, 0.0001, 0.0005, 0.003),
        mark_price_nb(100_000.0, 0.0001, 0.5, 10.0, 100_007.0),
    ]
    for a, b in zip(pure[:-1], jitted, strict=True):
        assert close(a, b)
    assert pure[-1][1] is None
    assert close(pure[-1][0], 36_000 / 0.996)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: liquidation_price(0, 1.0, 40_000.0, 4_000.0), "side"),
        (lambda: liquidation_price(2, 1.0, 40_000.0, 4_000.0), "side"),
        (lambda: liquidation_price(1, -1.0, 40_000.0, 4_000.0), "qty"),
        (lambda: liquidation_price(1, 0.0, 40_000.0, 4_000.0), "qty"),
        (lambda: liquidation_price(1, float("nan"), 40_000.0, 4_000.0), "qty"),
        (lambda: liquidation_price(1, 1.0, 0.0, 4_000.0), "entry_price"),
        (lambda: liquidation_price(1, 1.0, float("inf"), 4_000.0), "entry_price"),
        (lambda: liquidation_price(1, 1.0, 40_000.0, -1.0), "wallet_balance"),
        (lambda: liquidation_price(1, 1.0, 40_000.0, 4_000.0, ()), "tiers"),
        (lambda: bankruptcy_price(-2, 1.0, 40_000.0, 4_000.0), "side"),
        (lambda: bankruptcy_price(1, -0.5, 40_000.0, 4_000.0), "qty"),
        (lambda: bankruptcy_price(1, 1.0, -5.0, 4_000.0), "entry_price"),
        (lambda: bankruptcy_price(1, 1.0, 40_000.0, float("nan")), "wallet_balance"),
        (lambda: maintenance_margin(float("nan")), "notional"),
        (lambda: tier_index(float("inf")), "notional"),
        (lambda: premium_index(0.0, 100.0, 100.0), "impact_bid"),
        (lambda: premium_index(100.0, -1.0, 100.0), "impact_ask"),
        (lambda: premium_index(100.0, 100.0, 0.0), "index"),
        (lambda: funding_rate(float("nan")), "premium_avg"),
        (lambda: funding_rate(0.0, interest=float("inf")), "interest"),
        (lambda: funding_rate(0.0, clamp=-0.1), "clamp"),
        (lambda: funding_rate(0.0, cap=-0.1), "cap"),
        (lambda: mark_price(0.0, 0.0, 0.5, 0.0, 100.0), "index"),
        (lambda: mark_price(100.0, float("nan"), 0.5, 0.0, 100.0), "last_funding_rate"),
        (lambda: mark_price(100.0, 0.0, 1.5, 0.0, 100.0), "time_to_funding_frac"),
        (lambda: mark_price(100.0, 0.0, -0.1, 0.0, 100.0), "time_to_funding_frac"),
        (lambda: mark_price(100.0, 0.0, 0.5, float("inf"), 100.0), "ma_basis"),
        (lambda: mark_price(100.0, 0.0, 0.5, 0.0, 0.0), "last_price"),
    ],
)
def test_validation_names_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_validation_message_shows_value():
    with pytest.raises(ValueError, match=r"^qty must be > 0, got -1$"):
        liquidation_price(1, -1, 40_000.0, 4_000.0)
