"""Cancel by id: resting orders and stops; unknown, filled and cancelled ids are rejected."""

from __future__ import annotations

import pytest

from sim.exchange.book import stop_heap_index, stop_peek
from sim.exchange.codes import BUY, LIMIT, MARKET, SELL, STOP_MARKET, TRIGGER_LAST, Status
from sim.exchange.layouts import (
    M_MESSAGES,
    M_N_BIDS,
    M_N_STOPS,
    SLOT_BITS,
    SLOT_MASK,
    W_BUY_LOTS,
    W_BUY_VALUE,
)
from tests.builders import assert_unchanged, fill_rows, ladder, make_book, snapshot

TAKER = 0


def test_cancel_middle_order_keeps_fifo_of_the_rest():
    book, ids = make_book(bids=[(100, [1, 2, 3])])
    assert book.cancel(ids[1]) == Status.OK
    assert ladder(book, BUY) == [(100, [(ids[0], 1, 1), (ids[2], 3, 3)])]
    assert book.resting_qty(BUY, 100) == 4  # 1 + 3
    assert book.open_orders(2) == []
    assert (int(book.owner[2, W_BUY_LOTS]), int(book.owner[2, W_BUY_VALUE])) == (0, 0)
    res = book.submit(TAKER, SELL, MARKET, 4)
    assert fill_rows(res.fills, ("maker_order", "qty")) == [(ids[0], 1), (ids[2], 3)]


@pytest.mark.parametrize("which", [0, 2])
def test_cancel_head_or_tail_keeps_the_links(which):
    book, ids = make_book(asks=[(101, [1, 2, 3])])
    assert book.cancel(ids[which]) == Status.OK
    left = [i for i in (0, 1, 2) if i != which]
    assert book.queue(SELL, 101) == [(ids[i], i + 1, i + 1) for i in left]
    back = book.submit(TAKER, SELL, LIMIT, 5, 101).order_id  # joins the back of the level
    res = book.submit(9, BUY, MARKET, 20)
    assert fill_rows(res.fills, ("maker_order",)) == [(ids[i],) for i in left] + [(back,)]


def test_cancel_last_order_of_best_level_moves_best_price():
    book, ids = make_book(bids=[(100, [1]), (99, [2])], asks=[(101, [1]), (103, [1])])
    assert book.cancel(ids[0]) == Status.OK
    assert book.cancel(ids[2]) == Status.OK
    assert (book.best_bid(), book.best_ask()) == (99, 103)
    assert book.cancel(ids[1]) == Status.OK
    assert book.best_bid() is None
    assert int(book.meta[M_N_BIDS]) == 0


def test_cancel_counts_as_a_message():
    book, ids = make_book(bids=[(100, [1])])
    book.cancel(ids[0])
    book.cancel(ids[0])  # rejected, not counted
    assert int(book.meta[M_MESSAGES]) == 2  # the placement and the first cancel


def _dead_ids(book, ids):
    """Ids that name nothing live: see each comment."""
    filled = ids[0]
    book.submit(TAKER, SELL, MARKET, 1)  # fills ids[0] (1 lot @ 100)
    cancelled = ids[1]
    assert book.cancel(cancelled) == Status.OK
    market = book.submit(TAKER, BUY, MARKET, 1).order_id  # empty asks: an id, never rested
    # a slot that holds a live order, under an older sequence number
    live_slot = ids[2] & SLOT_MASK
    stale_seq = (1 << SLOT_BITS) | live_slot
    return [filled, cancelled, market, stale_seq, 0, -1, 12345, (1 << SLOT_BITS) | 10_000]


def test_cancel_of_unknown_filled_or_cancelled_id_is_rejected_and_changes_nothing():
    book, ids = make_book(bids=[(100, [1]), (99, [2, 3])])
    dead = _dead_ids(book, ids)
    before = snapshot(book)
    for oid in dead:
        assert book.cancel(oid) == Status.UNKNOWN_ORDER, oid
    assert_unchanged(book, before)
    assert ladder(book, BUY) == [(99, [(ids[2], 3, 3)])]


def test_reused_slot_does_not_revive_the_old_id():
    book, ids = make_book(bids=[(100, [1])])
    assert book.cancel(ids[0]) == Status.OK
    new = book.submit(TAKER, BUY, LIMIT, 4, 98).order_id
    assert new & SLOT_MASK == ids[0] & SLOT_MASK  # the freed slot is handed out again
    assert book.cancel(ids[0]) == Status.UNKNOWN_ORDER
    assert book.queue(BUY, 98) == [(new, TAKER, 4)]
    assert book.cancel(new) == Status.OK
    assert ladder(book, BUY) == []


def test_cancel_of_a_stop_removes_it_without_touching_the_ladder():
    book, ids = make_book(bids=[(100, [1])], asks=[(101, [1])])
    stop = book.submit(TAKER, SELL, STOP_MARKET, 2, 95)
    assert stop.status == Status.OK
    levels_before = book.levels.copy()
    assert book.cancel(stop.order_id) == Status.OK
    assert (book.levels == levels_before).all()
    assert book.open_orders(TAKER) == []
    assert int(book.meta[M_N_STOPS]) == 0
    h = stop_heap_index(SELL, TRIGGER_LAST)
    assert stop_peek(book.orders, book.meta, book.stops, h) == (0, -1)
    assert book.cancel(stop.order_id) == Status.UNKNOWN_ORDER
