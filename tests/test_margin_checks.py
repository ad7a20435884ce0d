"""Order-entry checks: initial margin (with open-order margin), leverage-tier position limit,
reduce-only handling. A rejected order leaves every state array unchanged.

Initial margin of an order = lots x 0.001 x price / leverage. Open orders hold the larger of the
two sides' opening parts (one-way mode: only one side can become the position); the part of a
side that would reduce the position is free. Available = wallet - position margin - open-order
margin (+ unrealized loss in cross mode).
"""

from __future__ import annotations

import pytest

from sim.exchange.codes import (
    BUY,
    CROSS_MARGIN,
    IOC,
    LIMIT,
    MARKET,
    POST_ONLY,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    Status,
)
from sim.exchange.layouts import XI_STOPS_DROPPED
from tests.exchange_builders import (
    changed_arrays,
    make_exchange,
    no_fee_exchange,
    open_account,
    rest,
    snapshot,
    step,
    ticks,
    trade_at,
)

TAKER = 0.0005


def assert_rejected(ex, status, *order, **kw):
    before = snapshot(ex)
    res = ex.submit(*order, **kw)
    assert res.status == status
    assert res.filled == 0 and len(res.fills) == 0
    assert changed_arrays(ex, before) == []


def test_limit_order_needs_notional_over_leverage_of_free_balance():
    ex = make_exchange()
    a = open_account(ex, 1_000.0, 10.0)
    # 101 lots at 100,000: 0.101 x 100,000 / 10 = 1,010 > 1,000
    assert_rejected(ex, Status.INSUFFICIENT_MARGIN, a, BUY, LIMIT, 101, ticks(100_000.0))
    # 100 lots need exactly the 1,000 USD wallet
    assert ex.submit(a, BUY, LIMIT, 100, ticks(100_000.0)).status == Status.OK
    # nothing is left for even one more lot on the same side
    assert_rejected(ex, Status.INSUFFICIENT_MARGIN, a, BUY, LIMIT, 1, ticks(100_000.0))


def test_market_order_is_margined_at_the_best_opposite_price():
    ex = make_exchange()
    maker = open_account(ex, 100_000.0, 10.0)
    a = open_account(ex, 1_000.0, 10.0)
    rest(ex, maker, SELL, 200, 99_000.0)
    # 102 lots at the best ask 99,000: 0.102 x 99,000 / 10 = 1,009.8 > 1,000
    assert_rejected(ex, Status.INSUFFICIENT_MARGIN, a, BUY, MARKET, 102)
    # 101 lots: 999.9 <= 1,000
    assert ex.submit(a, BUY, MARKET, 101).filled == 101


def test_open_order_margin_is_the_larger_side_not_the_sum():
    ex = no_fee_exchange()
    a = open_account(ex, 1_000.0, 10.0)
    rest(ex, a, BUY, 50, 100_000.0)  # buy side holds 0.05 x 100,000 / 10 = 500
    rest(ex, a, SELL, 30, 101_000.0)  # sell side 303 < 500: max stays 500
    rest(ex, a, BUY, 50, 100_000.0)  # buy side 1,000: uses the last 500
    # sell side to 100 lots: 0.1 x 101,000 / 10 = 1,010 > 1,000 -> needs 10 more than free (0)
    assert_rejected(ex, Status.INSUFFICIENT_MARGIN, a, SELL, LIMIT, 70, ticks(101_000.0))
    # sell side to 99 lots: 999.9 <= 1,000 costs nothing extra although the sum is 1,999.9
    assert ex.submit(a, SELL, LIMIT, 69, ticks(101_000.0)).status == Status.OK
    assert len(ex.open_orders(a)) == 4


def test_cancel_frees_open_order_margin():
    ex = no_fee_exchange()
    a = open_account(ex, 1_000.0, 10.0)
    oid = rest(ex, a, BUY, 100, 100_000.0)
    assert_rejected(ex, Status.INSUFFICIENT_MARGIN, a, BUY, LIMIT, 1, ticks(100_000.0))
    assert ex.cancel(a, oid) == Status.OK
    assert ex.submit(a, BUY, LIMIT, 100, ticks(100_000.0)).status == Status.OK


def test_reducing_orders_need_no_margin_and_only_the_opening_part_counts():
    ex = make_exchange()
    maker = open_account(ex, 100_000.0, 10.0)
    a = open_account(ex, 1_000.0, 10.0)
    trade_at(ex, a, maker, 50, 100_000.0)  # long 50: margin 500, taker fee 5,000 x 0.05% = 2.5
    free = 1_000.0 - 2.5 - 500.0  # 497.5
    assert ex.account(a).available == pytest.approx(free)
    # a 50-lot sell closes the position: free although 0.05 x 101,000 / 10 = 505 > 497.5
    rest(ex, a, SELL, 50, 101_000.0)
    # 51 more: the side is 101 lots, 51 opening -> 51/101 of 101 x 1,010,000 ticks x 1e-4 / 10
    # = 51 x 10.1 = 515.1 > 497.5
    assert_rejected(ex, Status.INSUFFICIENT_MARGIN, a, SELL, LIMIT, 51, ticks(101_000.0))
    # 49 more: 49 x 10.1 = 494.9 <= 497.5
    assert ex.submit(a, SELL, LIMIT, 49, ticks(101_000.0)).status == Status.OK


def test_cross_mode_counts_unrealized_loss_against_available_balance():
    results = {}
    for mode in (0, CROSS_MARGIN):
        ex = make_exchange()
        maker = open_account(ex, 100_000.0, 10.0)
        a = open_account(ex, 1_000.0, 10.0, mode)
        trade_at(ex, a, maker, 50, 100_000.0)  # margin 500, fee 2.5
        # one-sided book (no asks), funding rate 0: mark = median(index, index, last) = index
        step(ex, 1.0, 99_000.0)
        assert ex.mark_price == pytest.approx(99_000.0)
        assert ex.account(a).unrealized_pnl == pytest.approx(-50.0)  # 0.05 x (99,000 - 100,000)
        results[mode] = [ex.submit(a, BUY, LIMIT, n, ticks(99_000.0)).status == Status.OK
                         for n in (46, 5)]
    # isolated: free 497.5 -> 46 lots (455.4) fit, 5 more (total 504.9) do not
    assert results[0] == [True, False]
    # cross: free 497.5 - 50 = 447.5 -> 46 lots (455.4) already do not fit, 5 lots (49.5) do
    assert results[CROSS_MARGIN] == [False, True]


def test_position_limit_at_125x_is_50000_usd_notional():
    ex = make_exchange()
    maker = open_account(ex, 1_000_000.0, 10.0)
    a = open_account(ex, 1_000.0, 125.0)
    rest(ex, maker, SELL, 2_000, 100_000.0)
    # 501 lots = 50,100 USD > 50,000 (the 125x tier ends there); margin 400.8 would fit
    assert_rejected(ex, Status.POSITION_LIMIT, a, BUY, MARKET, 501)
    assert_rejected(ex, Status.POSITION_LIMIT, a, BUY, LIMIT, 501, ticks(100_000.0))
    # 400 lots open, then 101 more would make 50,100 USD
    assert ex.submit(a, BUY, MARKET, 400).filled == 400
    assert_rejected(ex, Status.POSITION_LIMIT, a, BUY, MARKET, 101)
    # exactly 50,000 USD is allowed
    assert ex.submit(a, BUY, MARKET, 100).filled == 100
    assert ex.account(a).position_lots == 500


def test_position_limit_applies_to_the_opened_side_of_a_flip():
    ex = make_exchange()
    maker = open_account(ex, 1_000_000.0, 10.0)
    a = open_account(ex, 1_000.0, 125.0)
    trade_at(ex, a, maker, 400, 100_000.0)  # long 400 lots = 40,000 USD
    rest(ex, maker, BUY, 2_000, 100_000.0)
    # selling 1,000 leaves short 600 lots = 60,000 USD > 50,000
    assert_rejected(ex, Status.POSITION_LIMIT, a, SELL, MARKET, 1_000)
    # selling 900 leaves short 500 lots = 50,000 USD
    assert ex.submit(a, SELL, MARKET, 900).filled == 900
    assert ex.account(a).position_lots == -500


def test_resting_orders_on_the_same_side_count_toward_the_position_limit():
    ex = no_fee_exchange()
    a = open_account(ex, 10_000.0, 125.0)
    rest(ex, a, BUY, 400, 100_000.0)  # 40,000 USD if it fills
    # 400 resting + 101 = 501 lots = 50,100 USD > 50,000: two orders cannot beat the cap
    assert_rejected(ex, Status.POSITION_LIMIT, a, BUY, LIMIT, 101, ticks(100_000.0))
    rest(ex, a, BUY, 100, 100_000.0)  # 500 lots = 50,000 USD
    # the other side is checked on its own: 400 lots x 101,000 = 40,400 USD
    rest(ex, a, SELL, 400, 101_000.0)
    maker = open_account(ex, 1_000_000.0, 10.0)
    assert ex.submit(maker, SELL, MARKET, 500).filled == 500
    assert ex.account(a).position_lots * 0.001 * 100_000.0 <= 50_000.0


def test_reducing_order_passes_the_position_limit_after_the_price_rose():
    ex = no_fee_exchange()
    a = open_account(ex, 10_000.0, 125.0)
    maker = open_account(ex, 1_000_000.0, 10.0)
    trade_at(ex, a, maker, 500, 100_000.0)  # exactly 50,000 USD
    # 499 lots at 110,000 would be 54,890 USD, but the order shrinks the position
    rest(ex, maker, BUY, 1, 110_000.0)
    assert ex.submit(a, SELL, MARKET, 1).filled == 1
    assert ex.account(a).position_lots == 499


def test_lower_leverage_raises_the_position_limit():
    ex = make_exchange()
    maker = open_account(ex, 1_000_000.0, 10.0)
    a = open_account(ex, 10_000.0, 125.0)
    rest(ex, maker, SELL, 2_000, 100_000.0)
    assert_rejected(ex, Status.POSITION_LIMIT, a, BUY, MARKET, 600)
    ex.set_leverage(a, 100.0)  # 100x is allowed up to the 250,000 USD floor
    assert ex.submit(a, BUY, MARKET, 600).filled == 600  # 60,000 USD, margin 600


def test_reduce_only_market_is_cut_to_the_position():
    ex = make_exchange()
    maker = open_account(ex, 100_000.0, 10.0)
    a = open_account(ex, 10_000.0, 10.0)
    trade_at(ex, a, maker, 50, 100_000.0)
    rest(ex, maker, BUY, 200, 99_900.0)
    res = ex.submit(a, SELL, MARKET, 80, reduce_only=True)
    assert res.status == Status.OK and res.filled == 50
    assert ex.account(a).position_lots == 0
    assert ex.account(maker).position_lots == 0  # sold 50, bought 50 back


def test_reduce_only_ioc_is_cut_to_the_position():
    ex = make_exchange()
    maker = open_account(ex, 100_000.0, 10.0)
    a = open_account(ex, 10_000.0, 10.0)
    trade_at(ex, maker, a, 30, 100_000.0, maker_side=BUY)  # a short 30
    rest(ex, maker, SELL, 200, 100_100.0)
    res = ex.submit(a, BUY, IOC, 100, ticks(100_200.0), reduce_only=True)
    assert res.filled == 30 and ex.account(a).position_lots == 0


@pytest.mark.parametrize("position, side, kind", [
    (0, SELL, MARKET),  # nothing to reduce
    (0, BUY, IOC),
    (50, BUY, MARKET),  # same side as the position grows it
    (50, SELL, LIMIT),  # reduce-only resting orders are not supported
    (50, SELL, POST_ONLY),
])
def test_reduce_only_that_cannot_reduce_is_rejected(position, side, kind):
    ex = make_exchange()
    maker = open_account(ex, 100_000.0, 10.0)
    a = open_account(ex, 10_000.0, 10.0)
    if position:
        trade_at(ex, a, maker, position, 100_000.0)
    rest(ex, maker, BUY, 100, 99_000.0)
    rest(ex, maker, SELL, 100, 101_000.0)
    price = ticks(102_000.0) if side == BUY else ticks(98_000.0)
    if kind == POST_ONLY:
        price = ticks(101_500.0)
    assert_rejected(ex, Status.REDUCE_ONLY, a, side, kind, 10, price, reduce_only=True)


def test_stop_is_not_margined_at_entry_but_dropped_when_it_cannot_be_afforded():
    ex = no_fee_exchange()
    maker = open_account(ex, 1_000_000.0, 10.0)
    a = open_account(ex, 100.0, 10.0)
    # a buy stop for 1,000 lots (10,000 USD of margin at 10x) is accepted with a 100 USD wallet
    res = ex.submit(a, BUY, STOP_MARKET, 1_000, ticks(100_500.0), trigger=TRIGGER_LAST)
    assert res.status == Status.OK
    rest(ex, maker, SELL, 2_000, 100_600.0)
    other = open_account(ex, 100_000.0, 10.0)
    trade_at(ex, other, maker, 1, 100_600.0)  # last = 100,600 >= 100,500: the stop fires
    dropped = int(ex.ex_i[XI_STOPS_DROPPED])
    step(ex, 1.0, 100_000.0)
    assert int(ex.ex_i[XI_STOPS_DROPPED]) == dropped + 1
    assert ex.account(a).position_lots == 0
    assert ex.open_orders(a) == []
