"""Stop orders: they wait in the pool and four trigger heaps, never on the ladder."""

from __future__ import annotations

import pytest

from sim.exchange.book import (
    execute_market,
    fill_room_needed,
    order_slot,
    stop_heap_index,
    stop_peek,
    stop_release,
)
from sim.exchange.codes import (
    BUY,
    FLAG_STOP,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Status,
)
from sim.exchange.layouts import (
    M_N_ASKS,
    M_N_BIDS,
    M_N_FILLS,
    M_N_STOPS,
    M_STOP_SIZES,
    MARKET_BUY_LIMIT,
    NIL,
    O_IS_STOP,
    O_TRIGGER,
    SLOT_MASK,
    W_BUY_LOTS,
    W_SELL_LOTS,
)
from tests.builders import assert_unchanged, fill_rows, ladder, make_book, snapshot

TAKER = 0
HEAPS = [(SELL, TRIGGER_LAST), (BUY, TRIGGER_LAST), (SELL, TRIGGER_MARK), (BUY, TRIGGER_MARK)]


def peek(book, h):
    key, oid = stop_peek(book.orders, book.meta, book.stops, h)
    return int(key), int(oid)


def release(book, h):
    return tuple(int(x) for x in stop_release(book.orders, book.meta, book.owner, book.stops, h))


def test_heap_index_of_each_side_and_trigger():
    assert [stop_heap_index(s, t) for s, t in HEAPS] == [0, 1, 2, 3]


def test_placing_stops_does_not_touch_the_ladder():
    book, ids = make_book(bids=[(100, [2])], asks=[(101, [3])])
    levels = book.levels.copy()
    sell = book.submit(TAKER, SELL, STOP_MARKET, 4, 95)
    buy = book.submit(TAKER, BUY, STOP_MARKET, 5, 106, trigger=TRIGGER_MARK)
    assert (sell.status, sell.filled, len(sell.fills)) == (Status.OK, 0, 0)
    assert buy.status == Status.OK
    assert (book.levels == levels).all()
    assert (book.best_bid(), book.best_ask()) == (100, 101)
    assert (int(book.meta[M_N_BIDS]), int(book.meta[M_N_ASKS]), int(book.meta[M_N_STOPS])) == (
        1, 1, 2)
    # stops are listed as the account's orders but carry no resting lots
    assert book.open_orders(TAKER) == [buy.order_id, sell.order_id]
    assert (int(book.owner[TAKER, W_BUY_LOTS]), int(book.owner[TAKER, W_SELL_LOTS])) == (0, 0)
    slot = order_slot(book.orders, buy.order_id)
    assert book.orders[slot, O_IS_STOP] == 1 and book.orders[slot, O_TRIGGER] == TRIGGER_MARK
    # one entry in heap 0 (sell/last) and one in heap 3 (buy/mark)
    assert book.meta[M_STOP_SIZES:M_STOP_SIZES + 4].tolist() == [1, 0, 0, 1]


def test_stop_price_outside_the_ladder_needs_no_ladder_growth():
    book, _ = make_book(n_levels=8)  # ladder 96..103
    shape = book.levels.shape
    res = book.submit(TAKER, BUY, STOP_MARKET, 1, 10_000)
    assert res.status == Status.OK
    assert book.levels.shape == shape
    assert peek(book, stop_heap_index(BUY, TRIGGER_LAST)) == (-10_000, res.order_id)


# Stop prices placed in this order; two ties at 98 to check time priority.
PRICES = [100, 98, 102, 98, 101]
# sell stops fire from the highest price down: 102, 101, 100, 98 (1st), 98 (2nd)
SELL_ORDER = [2, 4, 0, 1, 3]
# buy stops fire from the lowest price up: 98 (1st), 98 (2nd), 100, 101, 102
BUY_ORDER = [1, 3, 0, 4, 2]


@pytest.mark.parametrize("side, trigger", HEAPS)
def test_stops_come_out_by_price_then_time(side, trigger):
    book, _ = make_book()
    h = stop_heap_index(side, trigger)
    oids = [book.submit(k, side, STOP_MARKET, k + 1, p, trigger=trigger).order_id
            for k, p in enumerate(PRICES)]
    # a stop of the other trigger source on the same side goes to another heap
    other = book.submit(9, side, STOP_MARKET, 1, 99, trigger=1 - trigger).order_id
    expected = SELL_ORDER if side == SELL else BUY_ORDER
    out = []
    for k in expected:
        key = PRICES[k] if side == SELL else -PRICES[k]
        assert peek(book, h) == (key, oids[k])
        out.append(release(book, h))
    # (order_id, account, side, qty, reduce_only); account k placed qty k + 1
    assert out == [(oids[k], k, side, k + 1, 0) for k in expected]
    assert peek(book, h) == (0, NIL)
    assert int(book.meta[M_N_STOPS]) == 1
    assert peek(book, stop_heap_index(side, 1 - trigger))[1] == other


def test_cancelled_stops_are_skipped():
    book, _ = make_book()
    h = stop_heap_index(SELL, TRIGGER_LAST)
    oids = [book.submit(k, SELL, STOP_MARKET, 1, p).order_id for k, p in enumerate(PRICES)]
    assert book.cancel(oids[2]) == Status.OK  # 102, the top
    assert book.cancel(oids[1]) == Status.OK  # first of the 98 ties
    # left, highest first: 101 (oids[4]), 100 (oids[0]), 98 (oids[3])
    assert [release(book, h)[0] for _ in range(3)] == [oids[4], oids[0], oids[3]]
    assert peek(book, h) == (0, NIL)
    assert int(book.meta[M_N_STOPS]) == 0


def test_stop_release_frees_the_slot_and_returns_reduce_only():
    book, _ = make_book()
    h = stop_heap_index(BUY, TRIGGER_MARK)
    res = book.submit(5, BUY, STOP_MARKET, 7, 110, trigger=TRIGGER_MARK, reduce_only=True)
    assert release(book, h) == (res.order_id, 5, BUY, 7, 1)
    assert order_slot(book.orders, res.order_id) == NIL
    assert book.open_orders(5) == []
    assert int(book.meta[M_N_STOPS]) == 0
    assert book.cancel(res.order_id) == Status.UNKNOWN_ORDER
    # the freed slot is the next one handed out
    nxt = book.submit(5, BUY, STOP_MARKET, 1, 111).order_id
    assert order_slot(book.orders, nxt) == res.order_id & SLOT_MASK


NOTHING_RELEASED = (NIL, NIL, 0, 0, 0)


@pytest.mark.parametrize("h", [0, 1, 2, 3])
def test_stop_release_of_an_empty_heap_returns_no_id_and_changes_nothing(h):
    # Before the guard it popped anyway: the heap size went to -1 and slot -1 (the pool's
    # last row) was pushed onto the free list a second time.
    book, _ = make_book(bids=[(100, [2])], asks=[(101, [3])])
    side, trigger = HEAPS[(h + 1) % 4]  # a stop waits in the next heap, not in h
    waiting = book.submit(TAKER, side, STOP_MARKET, 1, 95, trigger=trigger).order_id
    before = snapshot(book)
    assert release(book, h) == NOTHING_RELEASED
    assert_unchanged(book, before)
    assert order_slot(book.orders, waiting) != NIL


def test_stop_release_of_a_heap_of_cancelled_stops_drops_them_and_returns_no_id():
    book, _ = make_book()
    h = stop_heap_index(SELL, TRIGGER_MARK)
    oids = [book.submit(TAKER, SELL, STOP_MARKET, 1, p, trigger=TRIGGER_MARK).order_id
            for p in (90, 95)]
    for oid in oids:
        assert book.cancel(oid) == Status.OK
    orders, owner = book.orders.copy(), book.owner.copy()
    assert int(book.meta[M_STOP_SIZES + h]) == 2  # two stale entries
    assert release(book, h) == NOTHING_RELEASED
    assert int(book.meta[M_STOP_SIZES + h]) == 0  # dropped, not driven negative
    assert int(book.meta[M_N_STOPS]) == 0
    assert (book.orders == orders).all() and (book.owner == owner).all()
    # the pool still works: two fresh stops take the two freed slots, then release normally
    fresh = [book.submit(TAKER, SELL, STOP_MARKET, 1, p, trigger=TRIGGER_MARK).order_id
             for p in (91, 96)]
    assert sorted(order_slot(book.orders, o) for o in fresh) == sorted(
        oid & SLOT_MASK for oid in oids)
    assert release(book, h)[0] == fresh[1]  # the higher sell stop first
    assert release(book, h)[0] == fresh[0]
    assert release(book, h) == NOTHING_RELEASED


@pytest.mark.parametrize("h", [-1, 4, 99])
def test_stop_peek_and_release_of_a_bad_heap_index_find_nothing(h):
    book, _ = make_book()
    book.submit(TAKER, SELL, STOP_MARKET, 1, 95)
    before = snapshot(book)
    assert peek(book, h) == (0, NIL)
    assert release(book, h) == NOTHING_RELEASED
    assert_unchanged(book, before)


def test_released_stop_executes_as_market_order_under_its_own_id():
    book, ids = make_book(asks=[(101, [2]), (103, [4])])
    stop = book.submit(TAKER, BUY, STOP_MARKET, 5, 100)
    oid, account, side, qty, _ = stop_release(book.orders, book.meta, book.owner, book.stops,
                                               stop_heap_index(BUY, TRIGGER_LAST))
    assert fill_room_needed(book.meta, side) <= book.fills.shape[0] - book.meta[M_N_FILLS]
    filled = execute_market(book.orders, book.levels, book.meta, book.owner, book.fills, oid,
                            account, side, qty, MARKET_BUY_LIMIT, FLAG_STOP)
    assert filled == 5  # 2 @ 101 + 3 of 4 @ 103
    assert fill_rows(book.drain_fills()) == [
        (101, 2, ids[0], 1, stop.order_id, TAKER, BUY, FLAG_STOP),
        (103, 3, ids[1], 2, stop.order_id, TAKER, BUY, FLAG_STOP),
    ]
    assert ladder(book, SELL) == [(103, [(ids[1], 2, 1)])]
    assert book.last_price() == 103


def test_execute_market_without_an_id_makes_a_fresh_one():
    book, ids = make_book(bids=[(100, [2])])
    filled = execute_market(book.orders, book.levels, book.meta, book.owner, book.fills, NIL,
                            TAKER, SELL, 1, 0, 0)
    fills = book.drain_fills()
    assert filled == 1 and len(fills) == 1
    assert fills[0]["taker_order"] > ids[0]
    assert ladder(book, BUY) == [(100, [(ids[0], 1, 1)])]
