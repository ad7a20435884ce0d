"""MARKET orders: walk the levels, drop the remainder, never rest."""

from __future__ import annotations

from sim.exchange.codes import BUY, MARKET, SELL, Status
from sim.exchange.layouts import M_N_ASKS, M_N_BIDS, M_VOLUME, SLOT_MASK
from tests.builders import fill_rows, ladder, make_book

TAKER = 0


def test_market_buy_walks_levels_in_price_time_order():
    book, ids = make_book(asks=[(100, [2]), (101, [3, 1]), (105, [4])])
    res = book.submit(TAKER, BUY, MARKET, 7)
    # 7 = 2 @ 100 + 3 @ 101 + 1 @ 101 + 1 @ 105
    assert fill_rows(res.fills) == [
        (100, 2, ids[0], 1, res.order_id, TAKER, BUY, 0),
        (101, 3, ids[1], 2, res.order_id, TAKER, BUY, 0),
        (101, 1, ids[2], 3, res.order_id, TAKER, BUY, 0),
        (105, 1, ids[3], 4, res.order_id, TAKER, BUY, 0),
    ]
    assert (res.status, res.filled) == (Status.OK, 7)
    assert ladder(book, SELL) == [(105, [(ids[3], 4, 3)])]
    assert (book.best_ask(), book.last_price()) == (105, 105)
    assert int(book.meta[M_VOLUME]) == 7
    assert book.open_orders(TAKER) == []


def test_market_sell_walks_bids_downwards():
    book, ids = make_book(bids=[(99, [1]), (100, [2]), (97, [5])])
    res = book.submit(TAKER, SELL, MARKET, 4)
    # best first: 2 @ 100, 1 @ 99, then 1 of 5 @ 97
    assert fill_rows(res.fills, ("price", "qty", "maker_order", "taker_side")) == [
        (100, 2, ids[1], SELL),
        (99, 1, ids[0], SELL),
        (97, 1, ids[2], SELL),
    ]
    assert ladder(book, BUY) == [(97, [(ids[2], 3, 4)])]


def test_market_remainder_is_dropped_not_rested():
    book, ids = make_book(asks=[(100, [2])])
    res = book.submit(TAKER, BUY, MARKET, 5)
    assert (res.status, res.filled) == (Status.OK, 2)
    assert fill_rows(res.fills, ("price", "qty", "maker_order")) == [(100, 2, ids[0])]
    assert ladder(book, BUY) == [] and ladder(book, SELL) == []
    assert (book.best_bid(), book.best_ask()) == (None, None)
    assert int(book.meta[M_N_BIDS]) == 0 and int(book.meta[M_N_ASKS]) == 0
    assert book.open_orders(TAKER) == []
    assert book.cancel(res.order_id) == Status.UNKNOWN_ORDER


def test_market_into_empty_side_is_ok_with_no_fills_and_an_id():
    book, ids = make_book(asks=[(101, [1])])  # bids are empty
    res = book.submit(TAKER, SELL, MARKET, 3)
    assert (res.status, res.filled, len(res.fills)) == (Status.OK, 0, 0)
    assert res.order_id > ids[0]
    assert res.order_id & SLOT_MASK == SLOT_MASK  # never rests, so no pool slot
    assert ladder(book, BUY) == [] and ladder(book, SELL) == [(101, [(ids[0], 1, 1)])]
    assert book.last_price() is None


def test_market_ignores_its_price_argument():
    book, ids = make_book(asks=[(100, [1]), (120, [1])])
    res = book.submit(TAKER, BUY, MARKET, 2, price=1)
    assert fill_rows(res.fills, ("price", "qty")) == [(100, 1), (120, 1)]


def test_drain_fills_returns_the_log_once_in_order():
    book, ids = make_book(bids=[(100, [1])], asks=[(101, [1])])
    sell = book.submit(TAKER, SELL, MARKET, 1)
    buy = book.submit(TAKER, BUY, MARKET, 1)
    drained = book.drain_fills()
    assert fill_rows(drained, ("price", "maker_order", "taker_order")) == [
        (100, ids[0], sell.order_id),
        (101, ids[1], buy.order_id),
    ]
    assert len(book.drain_fills()) == 0
    # the per-order fills are copies: draining does not touch them
    assert fill_rows(sell.fills, ("price", "qty")) == [(100, 1)]


def test_fills_after_a_drain_start_from_an_empty_log():
    book, ids = make_book(asks=[(100, [1]), (101, [1])])
    book.submit(TAKER, BUY, MARKET, 1)
    book.drain_fills()
    res = book.submit(TAKER, BUY, MARKET, 1)
    assert fill_rows(res.fills, ("price", "maker_order")) == [(101, ids[1])]
    assert fill_rows(book.drain_fills(), ("price", "maker_order")) == [(101, ids[1])]
    assert int(book.meta[M_N_ASKS]) == 0
