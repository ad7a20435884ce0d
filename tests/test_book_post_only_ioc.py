"""POST_ONLY (rest or reject, never take) and IOC (take up to the limit, drop the rest)."""

from __future__ import annotations

import pytest

from sim.exchange.codes import BUY, IOC, POST_ONLY, SELL, Status
from sim.exchange.layouts import SLOT_MASK
from tests.builders import assert_unchanged, fill_rows, ladder, make_book, snapshot

TAKER = 0


def test_post_only_that_does_not_cross_rests():
    book, ids = make_book(bids=[(99, [1])], asks=[(101, [2])])
    buy = book.submit(TAKER, BUY, POST_ONLY, 3, 100)
    sell = book.submit(TAKER, SELL, POST_ONLY, 4, 102)
    assert (buy.status, buy.filled, len(buy.fills)) == (Status.OK, 0, 0)
    assert sell.status == Status.OK
    assert ladder(book, BUY) == [(100, [(buy.order_id, TAKER, 3)]), (99, [(ids[0], 1, 1)])]
    assert ladder(book, SELL) == [(101, [(ids[1], 2, 2)]), (102, [(sell.order_id, TAKER, 4)])]
    assert book.open_orders(TAKER) == [sell.order_id, buy.order_id]


def test_post_only_rests_at_any_price_when_the_other_side_is_empty():
    book, _ = make_book(bids=[(100, [1])])
    res = book.submit(TAKER, BUY, POST_ONLY, 2, 250)
    assert res.status == Status.OK
    assert book.best_bid() == 250
    assert book.queue(BUY, 250) == [(res.order_id, TAKER, 2)]


@pytest.mark.parametrize(
    "side, price",
    [(BUY, 101), (BUY, 105), (SELL, 100), (SELL, 90)],  # at or through the opposite best
)
def test_post_only_that_would_cross_is_rejected_and_changes_nothing(side, price):
    book, _ = make_book(bids=[(100, [2])], asks=[(101, [3])])
    before = snapshot(book)
    res = book.submit(TAKER, side, POST_ONLY, 1, price)
    assert (res.status, res.order_id, res.filled) == (Status.POST_ONLY_WOULD_CROSS, 0, 0)
    assert_unchanged(book, before)


def test_post_only_against_own_order_is_still_rejected():
    book, ids = make_book(asks=[(101, [3])])
    res = book.submit(1, BUY, POST_ONLY, 1, 101)  # account 1 owns the ask
    assert res.status == Status.POST_ONLY_WOULD_CROSS
    assert ladder(book, SELL) == [(101, [(ids[0], 1, 3)])]


def test_ioc_takes_up_to_its_limit_and_drops_the_rest():
    book, ids = make_book(asks=[(100, [2]), (101, [3]), (102, [5])])
    res = book.submit(TAKER, BUY, IOC, 10, 101)
    # 2 @ 100 + 3 @ 101 = 5 filled; the other 5 are dropped, not rested at 101
    assert fill_rows(res.fills, ("price", "qty", "maker_order", "taker_order")) == [
        (100, 2, ids[0], res.order_id),
        (101, 3, ids[1], res.order_id),
    ]
    assert (res.status, res.filled) == (Status.OK, 5)
    assert ladder(book, BUY) == []
    assert ladder(book, SELL) == [(102, [(ids[2], 3, 5)])]
    assert book.open_orders(TAKER) == []
    assert res.order_id & SLOT_MASK == SLOT_MASK


def test_ioc_partial_fill_within_one_level_leaves_the_maker_remainder():
    book, ids = make_book(bids=[(100, [6])])
    res = book.submit(TAKER, SELL, IOC, 4, 100)
    assert fill_rows(res.fills, ("price", "qty", "taker_side")) == [(100, 4, SELL)]
    assert ladder(book, BUY) == [(100, [(ids[0], 1, 2)])]  # 6 - 4


def test_ioc_that_cannot_trade_is_ok_with_no_fills_and_nothing_rests():
    book, ids = make_book(bids=[(99, [1])], asks=[(101, [1])])
    before = book.levels.copy()
    res = book.submit(TAKER, SELL, IOC, 3, 100)  # best bid 99 < 100
    assert (res.status, res.filled, len(res.fills)) == (Status.OK, 0, 0)
    assert res.order_id != 0
    assert (book.levels == before).all()
    assert book.cancel(res.order_id) == Status.UNKNOWN_ORDER
