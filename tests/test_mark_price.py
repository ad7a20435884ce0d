"""Mark price = median(index x (1 + last funding rate x time-to-funding fraction),
index + moving average of (mid - index), last price); ``begin_step`` sets it and every trigger
pass recomputes it from the new last price. Stops watch the mark or the last price.
"""

from __future__ import annotations

import pytest

from sim.exchange.codes import (
    BUY,
    FLAG_STOP,
    MARKET,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Status,
)
from tests.exchange_builders import (
    make_exchange,
    no_fee_exchange,
    open_account,
    rest,
    step,
    ticks,
    trade_at,
)

INTERVAL = 8 * 3600.0


def print_last(ex, price):
    """Make two fresh 1x accounts trade one lot at ``price`` (an ask that a market buy takes)."""
    x = open_account(ex, 1_000_000.0, 1.0)
    y = open_account(ex, 1_000_000.0, 1.0)
    trade_at(ex, y, x, 1, price)
    assert ex.last_price == pytest.approx(price)


def test_mark_starts_at_the_initial_price_and_follows_the_index_without_basis_or_funding():
    ex = make_exchange(initial_price=50_000.0)
    assert ex.mark_price == 50_000.0 and ex.index_price == 50_000.0
    print_last(ex, 51_000.0)  # no book left on either side: basis leg = index
    ex.begin_step(1.0, 49_000.0)
    assert ex.mark_price == pytest.approx(49_000.0)  # median(49,000, 49,000, 51,000)
    ex.begin_step(2.0, 52_000.0)
    assert ex.mark_price == pytest.approx(52_000.0)  # median(52,000, 52,000, 51,000)


def test_each_of_the_three_legs_can_be_the_median():
    ex = no_fee_exchange()
    print_last(ex, 99_500.0)
    maker = open_account(ex, 1_000_000.0, 10.0)
    rest(ex, maker, BUY, 50, 100_100.0)
    rest(ex, maker, SELL, 50, 100_300.0)  # mid 100,200: basis 200
    ex.begin_step(1.0, 100_000.0)
    # legs: 100,000 (funding), 100,000 + 200 (basis), 99,500 (last) -> funding leg
    assert ex.mark_price == pytest.approx(100_000.0)
    print_last(ex, 100_150.0)
    ex.settle()  # the settle recomputes the mark from the new last price
    assert ex.mark_price == pytest.approx(100_150.0)  # last leg
    print_last(ex, 100_250.0)
    ex.settle()
    assert ex.mark_price == pytest.approx(100_200.0)  # basis leg


def test_basis_leg_is_the_moving_average_over_the_window():
    ex = no_fee_exchange(mark_basis_window_s=3.0)
    print_last(ex, 101_000.0)  # last above both index legs
    for t in (1.0, 2.0, 3.0):
        ex.begin_step(t, 100_000.0)  # empty book: basis samples 0
        assert ex.mark_price == pytest.approx(100_000.0)
    maker = open_account(ex, 1_000_000.0, 10.0)
    rest(ex, maker, BUY, 10, 100_100.0)
    rest(ex, maker, SELL, 10, 100_300.0)  # basis 200 from now on
    expected = (200 / 3, 400 / 3, 200.0, 200.0)  # (0 + 0 + 200) / 3, (0 + 200 + 200) / 3, ...
    for t, ma in zip((4.0, 5.0, 6.0, 7.0), expected, strict=True):
        ex.begin_step(t, 100_000.0)
        assert ex.mark_price == pytest.approx(100_000.0 + ma, rel=1e-12)


def test_funding_leg_uses_last_rate_times_fraction_of_interval_left():
    # premium 0 (empty book) inside a 0.1% dead zone around 0.1% interest: rate 0.1%
    ex = no_fee_exchange(interest_rate=0.001, funding_clamp=0.001)
    step(ex, INTERVAL, 100_000.0)
    assert ex.funding_rate == pytest.approx(0.001)
    print_last(ex, 100_500.0)
    ex.begin_step(INTERVAL + 7_200.0, 100_000.0)  # 6 h of 8 left: fraction 0.75
    assert ex.mark_price == pytest.approx(100_000.0 * (1 + 0.001 * 0.75))  # 100,075
    ex.begin_step(INTERVAL + 21_600.0, 100_000.0)  # 2 h left: 0.25
    assert ex.mark_price == pytest.approx(100_000.0 * (1 + 0.001 * 0.25))  # 100,025
    print_last(ex, 100_010.0)
    ex.settle()
    assert ex.mark_price == pytest.approx(100_010.0)  # now the last price is the median


def test_mark_stop_fires_on_the_mark_and_last_stop_on_the_last_price():
    ex = no_fee_exchange()
    holder = open_account(ex, 100_000.0, 2.0)
    seller = open_account(ex, 1_000_000.0, 2.0)
    trade_at(ex, holder, seller, 50, 100_000.0)
    ids = {}
    for trigger in (TRIGGER_MARK, TRIGGER_LAST):
        res = ex.submit(holder, SELL, STOP_MARKET, 20, ticks(99_000.0), trigger=trigger,
                        reduce_only=True)
        assert res.status == Status.OK
        ids[trigger] = res.order_id
    bidder = open_account(ex, 1_000_000.0, 10.0)
    rest(ex, bidder, BUY, 20, 99_500.0)
    rest(ex, bidder, BUY, 100, 98_900.0)
    # bids only: mark = index = 98,500 <= 99,000; last stays 100,000
    report = step(ex, 1.0, 98_500.0)
    assert report.passes == 1
    assert ex.account(holder).position_lots == 30  # only the mark stop sold (at 99,500)
    assert ex.last_price == pytest.approx(99_500.0)  # above the last stop: it waits
    assert ex.open_orders(holder) == [ids[TRIGGER_LAST]]
    step(ex, 2.0, 100_000.0)
    assert ex.account(holder).position_lots == 30
    pusher = open_account(ex, 100_000.0, 1.0)
    ex.submit(pusher, SELL, MARKET, 1)  # prints 98,900 <= 99,000 with the mark at 100,000
    assert ex.mark_price == pytest.approx(100_000.0)
    report = ex.settle()
    assert report.passes == 1
    assert ex.account(holder).position_lots == 10
    assert ex.open_orders(holder) == []
    stops = ex.drain_fills()
    stops = stops[(stops["flags"] & FLAG_STOP) != 0]
    assert stops[["price", "qty"]].tolist() == [(ticks(99_500.0), 20), (ticks(98_900.0), 20)]


def test_a_step_longer_than_the_basis_window_uses_its_own_sample():
    ex = no_fee_exchange(mark_basis_window_s=300.0)
    print_last(ex, 101_000.0)
    ex.begin_step(1.0, 100_000.0)  # empty book: basis 0
    maker = open_account(ex, 1_000_000.0, 10.0)
    rest(ex, maker, BUY, 10, 100_100.0)
    rest(ex, maker, SELL, 10, 100_300.0)  # basis 200
    ex.begin_step(601.0, 100_000.0, dt_seconds=600.0)  # one sample spans two windows
    assert ex.mark_price == pytest.approx(100_200.0)  # median(100,000, 100,200, 101,000)
