"""The facade's O(1) read accessors, each against the raw arrays it replaces and a hand count.

Conventions (``tests/exchange_builders.py``): tick 0.1 USD, lot 0.001 BTC, so 100 lots are
0.1 BTC and 100,000 USD is 1,000,000 ticks; maker fee 0.02 %, taker fee 0.05 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.exchange import (
    BUY,
    MARKET,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Exchange,
    Status,
)
from sim.exchange.book import market_value, order_slot
from sim.exchange.layouts import (
    A_ENTRY,
    A_FEES,
    A_MAX_NOTIONAL,
    A_POS_MARGIN,
    A_REALIZED,
    A_WALLET,
    I_POSITION,
    O_QTY,
    W_BUY_LOTS,
    W_SELL_LOTS,
)
from tests.exchange_builders import (
    changed_arrays,
    make_exchange,
    open_account,
    rest,
    snapshot,
    ticks,
    trade_at,
)


def account_columns(ex: Exchange, account: int) -> dict[str, float]:
    """Every account accessor next to the raw array entry it replaces."""
    return {
        "position_lots": (ex.position_lots(account), ex.acct_i[account, I_POSITION]),
        "entry_price_usd": (ex.entry_price_usd(account), ex.acct_f[account, A_ENTRY]),
        "wallet_usd": (ex.wallet_usd(account), ex.acct_f[account, A_WALLET]),
        "position_margin_usd": (ex.position_margin_usd(account),
                                ex.acct_f[account, A_POS_MARGIN]),
        "max_position_notional_usd": (ex.max_position_notional_usd(account),
                                      ex.acct_f[account, A_MAX_NOTIONAL]),
        "realized_pnl_usd": (ex.realized_pnl_usd(account), ex.acct_f[account, A_REALIZED]),
        "fees_paid_usd": (ex.fees_paid_usd(account), ex.acct_f[account, A_FEES]),
    }


def assert_matches_arrays(ex: Exchange, account: int) -> None:
    for name, (read, raw) in account_columns(ex, account).items():
        assert read == raw, name
        assert type(read) is (int if name == "position_lots" else float), name


# ---------------------------------------------------------------- accounts


def test_account_reads_after_an_opening_fill():
    ex = make_exchange()
    buyer = open_account(ex, 10_000.0, 10)
    seller = open_account(ex, 1_000_000.0, 10)
    trade_at(ex, buyer, seller, 100, 100_000.0)  # the seller rests, the buyer takes
    assert_matches_arrays(ex, buyer)
    assert_matches_arrays(ex, seller)
    assert ex.position_lots(buyer) == 100 and ex.position_lots(seller) == -100
    assert ex.entry_price_usd(buyer) == 100_000.0
    # taker fee 0.1 BTC x 100,000 x 0.05 % = 5; maker fee 10,000 x 0.02 % = 2
    assert ex.fees_paid_usd(buyer) == pytest.approx(5.0)
    assert ex.wallet_usd(buyer) == pytest.approx(9_995.0)
    assert ex.wallet_usd(seller) == pytest.approx(999_998.0)
    assert ex.position_margin_usd(buyer) == pytest.approx(1_000.0)  # 10,000 / 10x
    assert ex.realized_pnl_usd(buyer) == 0.0
    # 10x is allowed up to the top of the 10 M tier (max 10x), that is the 20 M floor.
    assert ex.max_position_notional_usd(buyer) == 20_000_000.0


def test_account_reads_after_a_partial_close():
    ex = make_exchange()
    buyer = open_account(ex, 10_000.0, 10)
    seller = open_account(ex, 1_000_000.0, 10)
    bidder = open_account(ex, 1_000_000.0, 10)
    trade_at(ex, buyer, seller, 100, 100_000.0)
    trade_at(ex, bidder, buyer, 40, 101_000.0, maker_side=BUY)  # the buyer sells 40 back
    assert_matches_arrays(ex, buyer)
    assert ex.position_lots(buyer) == 60
    assert ex.entry_price_usd(buyer) == 100_000.0  # unchanged by a reduction
    assert ex.realized_pnl_usd(buyer) == pytest.approx(40.0)  # 0.04 BTC x 1,000
    # fees 5 + 0.04 x 101,000 x 0.05 % = 5 + 2.02; wallet 10,000 - 7.02 + 40
    assert ex.fees_paid_usd(buyer) == pytest.approx(7.02)
    assert ex.wallet_usd(buyer) == pytest.approx(10_032.98)
    assert ex.position_margin_usd(buyer) == pytest.approx(600.0)  # 1,000 x 60 / 100


def test_positions_lots_reads_many_accounts_as_a_copy():
    ex = make_exchange()
    buyer, seller, bidder, flat = (open_account(ex, 1_000_000.0, 10) for _ in range(4))
    trade_at(ex, buyer, seller, 100, 100_000.0)
    trade_at(ex, bidder, buyer, 40, 101_000.0, maker_side=BUY)
    accounts = np.array([buyer, seller, bidder, flat])
    positions = ex.positions_lots(accounts)
    assert positions.tolist() == [60, -100, 40, 0]
    assert np.array_equal(positions, ex.acct_i[accounts, I_POSITION])
    positions[:] = 7
    assert ex.position_lots(buyer) == 60


def test_account_reads_follow_the_arrays_when_they_grow():
    ex = make_exchange()  # room for 8 accounts: the 20 below grow the arrays twice
    accounts = [open_account(ex, 1_000_000.0, 10) for _ in range(20)]
    trade_at(ex, accounts[19], accounts[12], 30, 100_000.0)
    assert ex.acct_i.shape[0] >= 20
    assert ex.position_lots(accounts[19]) == 30
    assert ex.positions_lots(np.array(accounts[12:20:7])).tolist() == [-30, 30]
    assert ex.resting_lots(accounts[15], BUY) == 0


# ---------------------------------------------------------------- resting orders


def test_resting_lots_follow_fills_partial_fills_and_cancels_and_leave_stops_out():
    ex = make_exchange()
    maker = open_account(ex, 1_000_000.0, 10)
    taker = open_account(ex, 1_000_000.0, 10)
    rest(ex, maker, BUY, 100, 99_000.0)
    rest(ex, maker, BUY, 50, 98_000.0)
    ask = rest(ex, maker, SELL, 30, 101_000.0)

    def both_sides() -> tuple[int, int]:
        buy, sell = ex.resting_lots(maker, BUY), ex.resting_lots(maker, SELL)
        assert (buy, sell) == (ex.book.owner[maker, W_BUY_LOTS],
                               ex.book.owner[maker, W_SELL_LOTS])
        return buy, sell

    assert both_sides() == (150, 30)
    # A market sell of 120 takes the 100 at 99,000 and 20 of the 50 at 98,000.
    assert ex.submit(taker, SELL, MARKET, 120).filled == 120
    assert both_sides() == (30, 30)
    assert ex.cancel(maker, ask) == Status.OK
    assert both_sides() == (30, 0)
    stop = ex.submit(maker, BUY, STOP_MARKET, 25, ticks(101_500.0), TRIGGER_LAST)
    assert stop.status == Status.OK
    assert both_sides() == (30, 0)  # a waiting stop holds no resting lots


def test_order_resting_lots_is_what_is_left_then_zero():
    ex = make_exchange()
    maker = open_account(ex, 1_000_000.0, 10)
    taker = open_account(ex, 1_000_000.0, 10)
    first = rest(ex, maker, BUY, 100, 99_000.0)
    second = rest(ex, maker, BUY, 50, 98_000.0)
    assert (ex.order_resting_lots(first), ex.order_resting_lots(second)) == (100, 50)
    market = ex.submit(taker, SELL, MARKET, 120)  # all of the first, 20 of the second
    assert ex.order_resting_lots(first) == 0
    assert ex.order_resting_lots(second) == 30
    assert ex.order_resting_lots(second) == ex.book.orders[order_slot(ex.book.orders, second),
                                                           O_QTY]
    assert ex.order_resting_lots(market.order_id) == 0  # a market order never rests
    assert ex.cancel(maker, second) == Status.OK
    assert ex.order_resting_lots(second) == 0
    stop = ex.submit(maker, SELL, STOP_MARKET, 40, ticks(95_000.0), TRIGGER_MARK).order_id
    assert ex.order_resting_lots(stop) == 40
    # The freed slots are reused: the old ids stay dead while the new order lives.
    reused = rest(ex, maker, BUY, 70, 97_000.0)
    assert ex.order_resting_lots(reused) == 70
    assert ex.order_resting_lots(first) == ex.order_resting_lots(second) == 0
    for never_issued in (0, -1, 1 << 40):
        assert ex.order_resting_lots(never_issued) == 0


# ---------------------------------------------------------------- prices


def test_best_and_last_prices_in_ticks_are_none_until_there_is_one():
    ex = make_exchange()
    assert (ex.best_bid_ticks(), ex.best_ask_ticks(), ex.last_price_ticks()) == (None,) * 3
    maker = open_account(ex, 1_000_000.0, 10)
    taker = open_account(ex, 1_000_000.0, 10)
    rest(ex, maker, BUY, 10, 99_990.0)
    rest(ex, maker, BUY, 10, 99_980.0)
    rest(ex, maker, SELL, 10, 100_010.0)
    assert (ex.best_bid_ticks(), ex.best_ask_ticks()) == (999_900, 1_000_100)
    assert (ex.best_bid_ticks(), ex.best_ask_ticks()) == (ex.book.best_bid(),
                                                          ex.book.best_ask())
    assert ex.last_price_ticks() is None
    ex.submit(taker, SELL, MARKET, 15)  # 10 at 99,990, 5 at 99,980
    assert ex.last_price_ticks() == 999_800 == ex.book.last_price()
    assert ex.best_bid_ticks() == 999_800
    ex.submit(taker, BUY, MARKET, 10)
    assert ex.best_ask_ticks() is None
    assert ex.last_price_ticks() == 1_000_100


def test_market_order_cost_walks_the_opposite_side_and_sends_nothing():
    ex = make_exchange()
    maker = open_account(ex, 1_000_000.0, 10)
    rest(ex, maker, SELL, 100, 100_000.0)
    rest(ex, maker, SELL, 200, 100_010.0)
    before = snapshot(ex)
    # 100 x 1,000,000 + 50 x 1,000,100 = 150,005,000 ticks x lots
    assert ex.market_order_cost(BUY, 150) == (150, 150_005_000)
    # the side holds 300 lots: 100 x 1,000,000 + 200 x 1,000,100 = 300,020,000
    assert ex.market_order_cost(BUY, 500) == (300, 300_020_000)
    assert ex.market_order_cost(BUY, 150) == market_value(ex.book.levels, ex.book.meta, BUY, 150)
    assert ex.market_order_cost(SELL, 10) == (0, 0)  # no bids
    assert changed_arrays(ex, before) == []
    with pytest.raises(ValueError, match="taker_side"):
        ex.market_order_cost(0, 10)
    with pytest.raises(ValueError, match="qty_lots"):
        ex.market_order_cost(BUY, -1)


# ---------------------------------------------------------------- stops by price bin


def test_resting_stop_notional_counts_live_stops_of_both_sides_and_triggers():
    ex = make_exchange()
    a = open_account(ex, 1_000_000.0, 10)
    buyer, seller = open_account(ex, 1_000_000.0, 10), open_account(ex, 1_000_000.0, 10)

    def stop(side: int, lots: int, price_usd: float, trigger: int) -> int:
        res = ex.submit(a, side, STOP_MARKET, lots, ticks(price_usd), trigger)
        assert res.status == Status.OK
        return res.order_id

    stop(SELL, 100, 99_000.0, TRIGGER_LAST)
    stop(SELL, 300, 99_100.0, TRIGGER_MARK)
    cancelled = stop(SELL, 500, 99_200.0, TRIGGER_LAST)
    stop(SELL, 70, 90_000.0, TRIGGER_LAST)  # below the grid
    stop(BUY, 200, 101_000.0, TRIGGER_MARK)
    stop(BUY, 150, 100_600.0, TRIGGER_LAST)
    fired = stop(BUY, 40, 100_200.0, TRIGGER_LAST)
    assert ex.cancel(a, cancelled) == Status.OK
    # A trade at 100,200 fires the buy stop there (into an ask at 100,300); the mark stays
    # at 100,000, so the mark stops wait.
    trade_at(ex, buyer, seller, 10, 100_200.0)
    rest(ex, seller, SELL, 40, 100_300.0)
    ex.settle()
    assert ex.order_resting_lots(fired) == 0 and ex.position_lots(a) == 40
    edges = np.arange(98_000.0, 102_000.0 + 1, 500.0)
    sell_usd, buy_usd = ex.resting_stop_notional_usd(edges)
    # sell: 0.1 BTC x 99,000 + 0.3 BTC x 99,100 = 9,900 + 29,730, in [99,000, 99,500)
    assert sell_usd[2] == pytest.approx(39_630.0)
    assert sell_usd.sum() == pytest.approx(39_630.0)
    # buy: 0.15 x 100,600 = 15,090 in [100,500, 101,000); 0.2 x 101,000 = 20,200 in
    # [101,000, 101,500); the fired stop's [100,000, 100,500) is empty
    assert buy_usd[5] == pytest.approx(15_090.0)
    assert buy_usd[6] == pytest.approx(20_200.0)
    assert buy_usd[4] == 0.0
    assert buy_usd.sum() == pytest.approx(35_290.0)
