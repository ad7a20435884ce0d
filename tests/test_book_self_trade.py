"""Self-trade prevention: the taker's own resting order is cancelled, matching goes on."""

from __future__ import annotations

from sim.exchange.codes import BUY, IOC, LIMIT, MARKET, SELL, Status
from sim.exchange.layouts import M_VOLUME, W_SELL_LOTS, W_SELL_VALUE
from tests.builders import fill_rows, ladder, make_book


def test_own_resting_order_is_cancelled_and_matching_continues():
    book, ids = make_book(asks=[(100, [2, 3])])  # account 1 then account 2
    res = book.submit(1, BUY, LIMIT, 4, 100)
    # account 1's own 2 lots expire without a fill; 3 trade with account 2; 4 - 3 = 1 rests
    assert fill_rows(res.fills, ("price", "qty", "maker_order", "maker_account")) == [
        (100, 3, ids[1], 2),
    ]
    assert res.filled == 3
    assert ladder(book, SELL) == []
    assert ladder(book, BUY) == [(100, [(res.order_id, 1, 1)])]
    assert book.open_orders(1) == [res.order_id]
    assert (int(book.owner[1, W_SELL_LOTS]), int(book.owner[1, W_SELL_VALUE])) == (0, 0)
    assert book.cancel(ids[0]) == Status.UNKNOWN_ORDER


def test_self_trade_in_the_middle_of_a_queue_and_across_levels():
    book, ids = make_book(bids=[(100, [1, 1, 1]), (99, [2])])  # accounts 1, 2, 3 | 4
    book.submit(2, BUY, LIMIT, 5, 98)  # account 2 also bids lower
    res = book.submit(2, SELL, MARKET, 3)
    # 1 from account 1, account 2's own bid expires, 1 from account 3, then 1 of 2 @ 99;
    # account 2's 98 bid is never reached (3 lots filled first) and stays
    assert fill_rows(res.fills, ("price", "qty", "maker_account")) == [
        (100, 1, 1),
        (100, 1, 3),
        (99, 1, 4),
    ]
    assert ladder(book, BUY) == [(99, [(ids[3], 4, 1)]), (98, [(book.open_orders(2)[0], 2, 5)])]
    assert int(book.meta[M_VOLUME]) == 3


def test_self_trade_only_touches_orders_within_the_limit():
    book, ids = make_book(asks=[(100, [1]), (102, [4])])  # accounts 1, 2
    res = book.submit(2, BUY, IOC, 3, 101)
    assert fill_rows(res.fills, ("price", "qty", "maker_account")) == [(100, 1, 1)]
    assert ladder(book, SELL) == [(102, [(ids[1], 2, 4)])]  # own ask beyond the limit stays


def test_own_order_behind_a_filling_order_survives_when_the_taker_is_done():
    book, ids = make_book(asks=[(100, [2, 5])])  # accounts 1, 2
    res = book.submit(2, BUY, MARKET, 2)
    assert fill_rows(res.fills, ("qty", "maker_account")) == [(2, 1)]
    assert ladder(book, SELL) == [(100, [(ids[1], 2, 5)])]


def test_taker_meeting_only_its_own_orders_clears_them_without_fills():
    book, ids = make_book(bids=[(100, [3])])  # account 1
    book.submit(1, BUY, LIMIT, 2, 99)
    res = book.submit(1, SELL, MARKET, 10)
    # both own bids expire; no fill, no trade price, nothing left to rest
    assert (res.status, res.filled, len(res.fills)) == (Status.OK, 0, 0)
    assert ladder(book, BUY) == [] and book.best_bid() is None
    assert book.last_price() is None and int(book.meta[M_VOLUME]) == 0
    assert book.open_orders(1) == []
