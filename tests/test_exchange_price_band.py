"""The percent-price band: limit, IOC, post-only and stop prices must lie within
mark x (1 - band) .. mark x (1 + band), bounds included; anything else is BAD_PRICE and changes
nothing (in particular the price ladder does not grow). Market orders carry no price.

Binance applies the same kind of filter (USDⓈ-M Futures 'Filters', PERCENT_PRICE) with a
tighter band; ours defaults to +-50%. At the default mark of 100,000 USD and a 0.1 tick the
mark is 1,000,000 ticks, so the default band is [500,000, 1,500,000] ticks.
"""

from __future__ import annotations

import pytest

from sim.exchange.codes import BUY, IOC, LIMIT, MARKET, POST_ONLY, SELL, STOP_MARKET, Status
from tests.exchange_builders import (
    changed_arrays,
    make_exchange,
    open_account,
    snapshot,
    ticks,
    trade_at,
)

LOW = 500_000  # 100,000 x (1 - 0.5) = 50,000 USD
HIGH = 1_500_000  # 100,000 x (1 + 0.5) = 150,000 USD


def rich_exchange(**config):
    """An exchange at mark 100,000 and one account with room for any order below."""
    ex = make_exchange(**config)
    return ex, open_account(ex, 10_000_000.0, 10.0)


# A buy below the band or a sell above it is passive (a resting order or a far stop);
# a buy above it or a sell below it would be marketable. Both directions are refused.
OUTSIDE = [
    (BUY, LIMIT, LOW - 1), (SELL, LIMIT, HIGH + 1), (BUY, LIMIT, HIGH + 1),
    (SELL, LIMIT, LOW - 1), (BUY, IOC, HIGH + 1), (SELL, IOC, LOW - 1),
    (BUY, POST_ONLY, LOW - 1), (SELL, POST_ONLY, HIGH + 1),
    (SELL, STOP_MARKET, LOW - 1), (BUY, STOP_MARKET, HIGH + 1),
    (BUY, LIMIT, 1), (SELL, LIMIT, 10**15),  # the absurd ones: no ladder of 10^15 levels
]


@pytest.mark.parametrize("side, kind, price", OUTSIDE)
def test_price_outside_the_band_is_rejected_and_changes_nothing(side, kind, price):
    ex, a = rich_exchange()
    before = snapshot(ex)
    res = ex.submit(a, side, kind, 1, price)
    assert (res.status, res.order_id, res.filled) == (Status.BAD_PRICE, 0, 0)
    assert changed_arrays(ex, before) == []  # book.levels included: the ladder did not grow


@pytest.mark.parametrize("side, kind, price", [
    (BUY, LIMIT, LOW), (SELL, LIMIT, HIGH), (BUY, POST_ONLY, LOW), (SELL, POST_ONLY, HIGH),
    (SELL, STOP_MARKET, LOW), (BUY, STOP_MARKET, HIGH), (BUY, IOC, HIGH), (SELL, IOC, LOW),
])
def test_prices_on_the_band_edges_are_accepted(side, kind, price):
    ex, a = rich_exchange()
    assert ex.submit(a, side, kind, 1, price).status == Status.OK


def test_market_orders_carry_no_price_and_pass():
    ex, a = rich_exchange()
    b = open_account(ex, 10_000_000.0, 10.0)
    ex.submit(b, SELL, LIMIT, 1, ticks(100_000.0))
    res = ex.submit(a, BUY, MARKET, 1)
    assert (res.status, res.filled) == (Status.OK, 1)


def test_the_band_follows_the_mark_price():
    ex, a = rich_exchange()
    assert ex.submit(a, SELL, LIMIT, 1, ticks(160_000.0)).status == Status.BAD_PRICE
    # Empty book, no trade yet: every leg of the mark is the index (no funding rate, no
    # basis, and the last price falls back to the index), so the mark is 120,000.
    ex.begin_step(1.0, 120_000.0)
    assert ex.mark_price == 120_000.0
    # band: 120,000 x 0.5 = 60,000 .. 120,000 x 1.5 = 180,000 USD
    assert ex.submit(a, BUY, LIMIT, 1, ticks(60_000.0) - 1).status == Status.BAD_PRICE
    assert ex.submit(a, BUY, LIMIT, 1, ticks(60_000.0)).status == Status.OK
    assert ex.submit(a, SELL, LIMIT, 1, ticks(160_000.0)).status == Status.OK  # was out
    assert ex.submit(a, SELL, LIMIT, 1, ticks(180_000.0)).status == Status.OK
    assert ex.submit(a, SELL, LIMIT, 1, ticks(180_000.0) + 1).status == Status.BAD_PRICE


def test_a_tight_band_like_a_venue_filter():
    ex, a = rich_exchange(price_band=0.05)  # 95,000 .. 105,000 USD
    assert ex.submit(a, BUY, LIMIT, 1, ticks(95_000.0)).status == Status.OK
    assert ex.submit(a, BUY, LIMIT, 1, ticks(94_999.9)).status == Status.BAD_PRICE
    assert ex.submit(a, SELL, STOP_MARKET, 1, ticks(94_999.9)).status == Status.BAD_PRICE
    assert ex.submit(a, SELL, LIMIT, 1, ticks(105_000.0)).status == Status.OK
    assert ex.submit(a, SELL, LIMIT, 1, ticks(105_000.1)).status == Status.BAD_PRICE


@pytest.mark.parametrize("band, side, edge", [
    # 1,000,000 x (1 - 0.18) is 820,000.0000000001 in floating point, above the exact edge
    (0.18, BUY, 820_000),
    # 1,000,000 x (1 + 0.36) is 1,359,999.9999999998, below the exact edge
    (0.36, SELL, 1_360_000),
])
def test_an_exact_edge_is_accepted_despite_float_rounding(band, side, edge):
    ex, a = rich_exchange(price_band=band)
    assert ex.submit(a, side, LIMIT, 1, edge).status == Status.OK
    beyond = edge - 1 if side == BUY else edge + 1
    assert ex.submit(a, side, LIMIT, 1, beyond).status == Status.BAD_PRICE


def test_reduce_only_orders_are_held_to_the_band_too():
    ex, a = rich_exchange()
    b = open_account(ex, 10_000_000.0, 10.0)
    trade_at(ex, a, b, 10, 100_000.0)  # a is long 10
    res = ex.submit(a, SELL, IOC, 10, LOW - 1, reduce_only=True)
    assert res.status == Status.BAD_PRICE
    res = ex.submit(a, SELL, STOP_MARKET, 10, LOW - 1, reduce_only=True)
    assert res.status == Status.BAD_PRICE
    assert ex.account(a).position_lots == 10
    assert ex.submit(a, SELL, STOP_MARKET, 10, LOW, reduce_only=True).status == Status.OK
