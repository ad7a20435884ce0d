"""LIMIT orders: resting, FIFO, price priority, partial fills, walking the book; rejects."""

from __future__ import annotations

import pytest

from sim.exchange.codes import (
    BUY,
    IOC,
    LIMIT,
    MARKET,
    POST_ONLY,
    SELL,
    STOP_MARKET,
    Status,
)
from sim.exchange.layouts import (
    M_LAST_PRICE,
    M_MESSAGES,
    M_N_ASKS,
    M_N_BIDS,
    M_VOLUME,
    SLOT_BITS,
    SLOT_MASK,
    W_BUY_LOTS,
    W_BUY_VALUE,
    W_SELL_LOTS,
    W_SELL_VALUE,
)
from tests.builders import assert_unchanged, fill_rows, ladder, make_book, snapshot

TAKER = 0


def owner_row(book, account):
    row = book.owner[account]
    return [int(row[W_BUY_LOTS]), int(row[W_BUY_VALUE]), int(row[W_SELL_LOTS]),
            int(row[W_SELL_VALUE])]


def test_limit_rests_on_empty_book():
    book, _ = make_book()
    res = book.submit(TAKER, BUY, LIMIT, 5, 100)
    assert (res.status, res.filled, len(res.fills)) == (Status.OK, 0, 0)
    assert book.best_bid() == 100 and book.best_ask() is None
    assert book.queue(BUY, 100) == [(res.order_id, TAKER, 5)]
    assert book.resting_qty(BUY, 100) == 5
    assert book.open_orders(TAKER) == [res.order_id]
    assert owner_row(book, TAKER) == [5, 500, 0, 0]  # 5 lots x 100 ticks
    assert book.last_price() is None


def test_builder_places_one_order_per_account_in_order():
    book, ids = make_book(bids=[(100, [1, 2])], asks=[(101, [3])])
    assert ladder(book, BUY) == [(100, [(ids[0], 1, 1), (ids[1], 2, 2)])]
    assert ladder(book, SELL) == [(101, [(ids[2], 3, 3)])]


def test_order_ids_encode_sequence_and_slot():
    book, ids = make_book(bids=[(100, [1, 1])])
    # fresh pool: sequence numbers start at 1, slots are handed out from 0 upwards
    assert ids == [(1 << SLOT_BITS) | 0, (2 << SLOT_BITS) | 1]
    res = book.submit(TAKER, SELL, MARKET, 1)
    # a taker that never rests gets the next sequence and all-ones slot bits
    assert res.order_id == (3 << SLOT_BITS) | SLOT_MASK


def test_new_order_joins_back_of_its_level():
    book, ids = make_book(bids=[(100, [1]), (99, [4])])
    res = book.submit(TAKER, BUY, LIMIT, 2, 100)
    assert book.queue(BUY, 100) == [(ids[0], 1, 1), (res.order_id, TAKER, 2)]
    assert book.resting_qty(BUY, 100) == 3
    assert book.queue(BUY, 99) == [(ids[1], 2, 4)]


def test_fifo_within_level():
    book, ids = make_book(asks=[(100, [2, 3, 4])])
    res = book.submit(TAKER, BUY, LIMIT, 6, 100)
    # 6 = 2 (first) + 3 (second) + 1 of the third, all at 100
    assert fill_rows(res.fills) == [
        (100, 2, ids[0], 1, res.order_id, TAKER, BUY, 0),
        (100, 3, ids[1], 2, res.order_id, TAKER, BUY, 0),
        (100, 1, ids[2], 3, res.order_id, TAKER, BUY, 0),
    ]
    assert res.filled == 6
    assert ladder(book, SELL) == [(100, [(ids[2], 3, 3)])]  # 4 - 1 left
    assert ladder(book, BUY) == []
    assert book.open_orders(TAKER) == []


def test_price_priority_beats_time_priority():
    # placed worst first: 103, then 101, then 102
    book, ids = make_book(asks=[(103, [1]), (101, [1]), (102, [1])])
    assert book.best_ask() == 101
    res = book.submit(TAKER, BUY, LIMIT, 5, 102)
    assert fill_rows(res.fills, ("price", "qty", "maker_order")) == [
        (101, 1, ids[1]),
        (102, 1, ids[2]),
    ]
    # 5 - 2 filled = 3 rest at the limit 102; the 103 ask is out of reach
    assert ladder(book, BUY) == [(102, [(res.order_id, TAKER, 3)])]
    assert ladder(book, SELL) == [(103, [(ids[0], 1, 1)])]
    assert (book.best_bid(), book.best_ask(), book.last_price()) == (102, 103, 102)


def test_partial_fill_keeps_queue_place():
    book, ids = make_book(asks=[(100, [5, 2])])
    book.submit(TAKER, BUY, LIMIT, 3, 100)
    # the head order has 5 - 3 = 2 left and is still first
    assert book.queue(SELL, 100) == [(ids[0], 1, 2), (ids[1], 2, 2)]
    assert owner_row(book, 1) == [0, 0, 2, 200]
    res = book.submit(TAKER, BUY, LIMIT, 1, 100)
    assert fill_rows(res.fills, ("qty", "maker_order", "maker_account")) == [(1, ids[0], 1)]
    assert book.queue(SELL, 100) == [(ids[0], 1, 1), (ids[1], 2, 2)]


def test_marketable_buy_limit_walks_levels_then_rests_remainder():
    book, ids = make_book(asks=[(100, [2]), (101, [3]), (103, [4])])
    res = book.submit(TAKER, BUY, LIMIT, 10, 102)
    assert fill_rows(res.fills, ("price", "qty", "maker_order")) == [
        (100, 2, ids[0]),
        (101, 3, ids[1]),
    ]
    assert res.filled == 5
    # 10 - 5 = 5 rest at 102, under the 103 ask
    assert ladder(book, BUY) == [(102, [(res.order_id, TAKER, 5)])]
    assert ladder(book, SELL) == [(103, [(ids[2], 3, 4)])]
    assert (book.best_bid(), book.best_ask()) == (102, 103)
    assert owner_row(book, TAKER) == [5, 510, 0, 0]  # 5 x 102
    assert int(book.meta[M_VOLUME]) == 5
    assert int(book.meta[M_LAST_PRICE]) == 101


def test_marketable_sell_limit_fills_at_maker_prices_and_stops_at_limit():
    book, ids = make_book(bids=[(100, [2]), (99, [3]), (97, [1])])
    res = book.submit(TAKER, SELL, LIMIT, 4, 99)
    # 2 @ 100 then 2 of 3 @ 99; the remainder is 0 so nothing rests
    assert fill_rows(res.fills, ("price", "qty", "maker_order", "taker_side")) == [
        (100, 2, ids[0], SELL),
        (99, 2, ids[1], SELL),
    ]
    assert ladder(book, BUY) == [(99, [(ids[1], 2, 1)]), (97, [(ids[2], 3, 1)])]
    assert ladder(book, SELL) == []
    assert book.open_orders(TAKER) == []
    assert book.best_bid() == 99
    assert int(book.meta[M_N_BIDS]) == 2 and int(book.meta[M_N_ASKS]) == 0


def test_emptied_best_level_moves_best_price_to_next_level():
    book, ids = make_book(bids=[(100, [1]), (98, [2])], asks=[(101, [1]), (104, [1])])
    book.submit(TAKER, SELL, LIMIT, 1, 100)
    book.submit(TAKER, BUY, LIMIT, 1, 101)
    assert (book.best_bid(), book.best_ask()) == (98, 104)


def test_owner_totals_follow_resting_lots_and_value():
    book, _ = make_book(bids=[(100, [1])])
    book.submit(TAKER, BUY, LIMIT, 2, 99)
    book.submit(TAKER, BUY, LIMIT, 3, 98)
    book.submit(TAKER, SELL, LIMIT, 4, 105)
    # buys: 2 x 99 + 3 x 98 = 198 + 294 = 492; sells: 4 x 105 = 420
    assert owner_row(book, TAKER) == [5, 492, 4, 420]
    book.submit(1, BUY, LIMIT, 1, 105)  # takes 1 of the 105 ask
    assert owner_row(book, TAKER) == [5, 492, 3, 315]  # 3 x 105
    assert owner_row(book, 1) == [1, 100, 0, 0]


# ---------------------------------------------------------------- rejects change nothing

REJECTS = [
    # (side, kind, qty, price, extra kwargs, status)
    (BUY, LIMIT, 0, 100, {}, Status.BAD_QTY),
    (BUY, LIMIT, -1, 100, {}, Status.BAD_QTY),
    (SELL, MARKET, 0, 0, {}, Status.BAD_QTY),
    (SELL, MARKET, -1, 0, {}, Status.BAD_QTY),
    (BUY, LIMIT, 0.5, 100, {}, Status.BAD_QTY),  # would rest as a 0-lot order
    (BUY, MARKET, 1.5, 0, {}, Status.BAD_QTY),  # would fill 1 lot and report 1.5
    (BUY, LIMIT, 1, 0, {}, Status.BAD_PRICE),
    (BUY, LIMIT, 1, -5, {}, Status.BAD_PRICE),
    (SELL, IOC, 1, 0, {}, Status.BAD_PRICE),
    (SELL, POST_ONLY, 1, -5, {}, Status.BAD_PRICE),
    (SELL, STOP_MARKET, 1, 0, {}, Status.BAD_PRICE),
    (BUY, LIMIT, 1, 1.5, {}, Status.OFF_GRID),
    (SELL, STOP_MARKET, 1, 99.5, {}, Status.OFF_GRID),
    (0, LIMIT, 1, 100, {}, Status.BAD_SIDE),
    (2, LIMIT, 1, 100, {}, Status.BAD_SIDE),
    (BUY, 99, 1, 100, {}, Status.BAD_KIND),
    (BUY, -1, 1, 100, {}, Status.BAD_KIND),
    (SELL, STOP_MARKET, 1, 95, {"trigger": 2}, Status.BAD_TRIGGER),
    (BUY, STOP_MARKET, 1, 105, {"trigger": -1}, Status.BAD_TRIGGER),
    (BUY, POST_ONLY, 1, 101, {}, Status.POST_ONLY_WOULD_CROSS),
    (SELL, POST_ONLY, 1, 100, {}, Status.POST_ONLY_WOULD_CROSS),
]


@pytest.mark.parametrize("side, kind, qty, price, kw, status", REJECTS)
def test_rejected_order_changes_nothing(side, kind, qty, price, kw, status):
    book, _ = make_book(bids=[(100, [2]), (99, [1])], asks=[(101, [3])], n_accounts=8)
    book.submit(TAKER, SELL, STOP_MARKET, 1, 90)
    before = snapshot(book)
    res = book.submit(TAKER, side, kind, qty, price, **kw)
    assert res.status == status
    assert (res.order_id, res.filled, len(res.fills)) == (0, 0, 0)
    assert_unchanged(book, before)


@pytest.mark.parametrize("account", [-1, 8, 9])
def test_unknown_account_is_rejected_and_changes_nothing(account):
    book, _ = make_book(bids=[(100, [2])], asks=[(101, [3])], n_accounts=8)
    before = snapshot(book)
    for kind, price in ((LIMIT, 101), (MARKET, 0), (IOC, 100), (POST_ONLY, 99),
                        (STOP_MARKET, 90)):
        res = book.submit(account, SELL, kind, 1, price)
        assert (res.status, res.order_id, res.filled) == (Status.UNKNOWN_ACCOUNT, 0, 0)
    assert_unchanged(book, before)


def test_integral_float_qty_and_price_are_accepted_as_ints():
    book, ids = make_book(asks=[(101, [3])])
    res = book.submit(TAKER, BUY, LIMIT, 2.0, 101.0)
    assert (res.status, res.filled) == (Status.OK, 2)
    assert fill_rows(res.fills, ("price", "qty", "maker_order")) == [(101, 2, ids[0])]


def test_accepted_requests_are_counted_and_rejects_are_not():
    book, _ = make_book(bids=[(100, [2])])  # 1 accepted message
    book.submit(TAKER, BUY, LIMIT, 0, 100)  # rejected: qty 0
    book.submit(TAKER, SELL, MARKET, 1)  # accepted: takes 1 of the 2 bid at 100
    book.submit(TAKER, SELL, POST_ONLY, 1, 100)  # rejected: 1 lot still bid at 100
    assert int(book.meta[M_MESSAGES]) == 2
    assert int(book.meta[M_N_BIDS]) == 1 and int(book.meta[M_N_ASKS]) == 0
