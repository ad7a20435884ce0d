"""Growth: the order pool, the fill log, the ladder and the stop heaps grow when full."""

from __future__ import annotations

import numpy as np

from sim.exchange.book import OrderBook, stop_heap_index, stop_release
from sim.exchange.codes import (
    BUY,
    LIMIT,
    MARKET,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Status,
)
from sim.exchange.layouts import M_BASE_TICK, M_N_ASKS, M_N_BIDS, M_N_STOPS
from tests.builders import fill_rows, ladder, level_qty_mismatches

TAKER = 0
N = 10_000


def test_ten_thousand_orders_into_tiny_pools_then_one_sweep():
    book = OrderBook(101, center_tick=150, n_levels=8, order_capacity=4, fill_capacity=4)
    placed = []  # (price, order_id, account, qty) in placement order
    for i in range(N):
        price, account, qty = 100 + (i * 37) % 100, 1 + i % 100, 1 + i % 7
        res = book.submit(account, SELL, LIMIT, qty, price)
        assert res.status == Status.OK and res.filled == 0
        placed.append((price, res.order_id, account, qty))
    assert book.orders.shape[0] == 16_384  # 4 doubled 12 times is the first size >= 10,000
    assert int(book.meta[M_N_ASKS]) == N
    assert len({oid for _, oid, _, _ in placed}) == N
    # every order is on its level, in placement order: 100 levels of 100 orders
    by_price: dict[int, list[tuple[int, int, int]]] = {}
    for price, oid, account, qty in placed:
        by_price.setdefault(price, []).append((oid, account, qty))
    assert ladder(book, SELL) == sorted(by_price.items())
    assert book.best_ask() == 100
    total = sum(qty for *_, qty in placed)  # 10,000 orders cycling qty 1..7
    assert total == (N // 7) * 28 + sum(range(1, N % 7 + 1))  # 1428 x 28 + (1 + 2 + 3 + 4)

    res = book.submit(TAKER, BUY, MARKET, total + 5)
    assert (res.status, res.filled, len(res.fills)) == (Status.OK, total, N)
    # one fill per order, in price then time order, each for the order's full qty
    expected = [(price, qty, oid, account) for price, queue in sorted(by_price.items())
                for oid, account, qty in queue]
    assert fill_rows(res.fills, ("price", "qty", "maker_order", "maker_account")) == expected
    assert (res.fills["taker_order"] == res.order_id).all()
    assert len(book.drain_fills()) == N
    assert ladder(book, SELL) == [] and book.best_ask() is None
    assert int(book.meta[M_N_ASKS]) == 0
    assert book.last_price() == 199
    assert level_qty_mismatches(book) == []


def test_pool_growth_keeps_earlier_ids_cancellable():
    book = OrderBook(8, center_tick=100, n_levels=16, order_capacity=1, fill_capacity=1)
    ids = [book.submit(1 + k % 3, BUY, LIMIT, k + 1, 95 + k % 4).order_id for k in range(9)]
    assert book.orders.shape[0] == 16  # 1 -> 2 -> 4 -> 8 -> 16
    for oid in ids[::2]:
        assert book.cancel(oid) == Status.OK
    # left: k = 1, 3, 5, 7 at prices 96, 98, 96, 98 with qty 2, 4, 6, 8
    assert ladder(book, BUY) == [(98, [(ids[3], 1, 4), (ids[7], 2, 8)]),
                                 (96, [(ids[1], 2, 2), (ids[5], 3, 6)])]


def test_limit_far_outside_the_ladder_rests_and_is_found_by_depth():
    book = OrderBook(4, center_tick=1000, n_levels=16)  # ladder 992..1007
    assert int(book.meta[M_BASE_TICK]) == 992
    mid_bid = book.submit(1, BUY, LIMIT, 2, 1000).order_id
    mid_ask = book.submit(2, SELL, LIMIT, 3, 1001).order_id
    high = book.submit(2, SELL, LIMIT, 4, 50_000)
    low = book.submit(1, BUY, LIMIT, 5, 10)
    lowest = book.submit(1, BUY, LIMIT, 6, 1)
    assert (high.status, low.status, lowest.status) == (Status.OK,) * 3
    base, n = int(book.meta[M_BASE_TICK]), book.levels.shape[1]
    assert base == 1 and base + n > 50_000
    assert ladder(book, SELL) == [(1001, [(mid_ask, 2, 3)]), (50_000, [(high.order_id, 2, 4)])]
    assert ladder(book, BUY) == [(1000, [(mid_bid, 1, 2)]), (10, [(low.order_id, 1, 5)]),
                                 (1, [(lowest.order_id, 1, 6)])]
    prices, qtys = book.depth(SELL, 10)
    assert prices.tolist() == [1001, 50_000] and qtys.tolist() == [3, 4]
    prices, qtys = book.depth(BUY, 10)
    assert prices.tolist() == [1000, 10, 1] and qtys.tolist() == [2, 5, 6]
    # a market order walks across the grown ladder: 3 @ 1001 then 1 @ 50,000
    res = book.submit(3, BUY, MARKET, 4)
    assert fill_rows(res.fills, ("price", "qty")) == [(1001, 3), (50_000, 1)]
    res = book.submit(3, SELL, MARKET, 13)  # 2 @ 1000 + 5 @ 10 + 6 @ 1
    assert fill_rows(res.fills, ("price", "qty")) == [(1000, 2), (10, 5), (1, 6)]
    assert book.best_bid() is None and book.best_ask() == 50_000


def test_ladder_growth_keeps_resting_levels_and_best_prices():
    book = OrderBook(4, center_tick=100, n_levels=4)  # ladder 98..101
    for k, price in enumerate([99, 100, 98, 101]):
        book.submit(1 + k % 2, BUY if price < 100 else SELL, LIMIT, k + 1, price)
    before = (ladder(book, BUY), ladder(book, SELL))
    for price in [150, 40, 1000, 3]:  # buys below the best ask, one sell far up
        book.submit(3, BUY if price < 100 else SELL, LIMIT, 1, price)
    bids, asks = ladder(book, BUY), ladder(book, SELL)
    assert bids[: len(before[0])] == before[0] and asks[: len(before[1])] == before[1]
    assert [p for p, _ in bids] == [99, 98, 40, 3]
    assert [p for p, _ in asks] == [100, 101, 150, 1000]
    assert (book.best_bid(), book.best_ask()) == (99, 100)
    assert (int(book.meta[M_N_BIDS]), int(book.meta[M_N_ASKS])) == (4, 4)
    assert level_qty_mismatches(book) == []


def test_more_stops_than_stop_capacity():
    book = OrderBook(4, center_tick=100, n_levels=16, order_capacity=2, stop_capacity=2)
    prices = [int(p) for p in np.random.default_rng(7).integers(50, 150, size=25)]
    sells = [book.submit(1, SELL, STOP_MARKET, 1, p).order_id for p in prices]
    buys = [book.submit(2, BUY, STOP_MARKET, 1, p, trigger=TRIGGER_MARK).order_id
            for p in prices]
    assert book.stops.shape[1] >= 25
    assert int(book.meta[M_N_STOPS]) == 50

    def drain(h):
        return [int(stop_release(book.orders, book.meta, book.owner, book.stops, h)[0])
                for _ in range(25)]

    # sells: highest price first, ties by placement; buys: lowest first, ties by placement
    assert drain(stop_heap_index(SELL, TRIGGER_LAST)) == [
        sells[k] for k in sorted(range(25), key=lambda k: (-prices[k], k))]
    assert drain(stop_heap_index(BUY, TRIGGER_MARK)) == [
        buys[k] for k in sorted(range(25), key=lambda k: (prices[k], k))]
    assert int(book.meta[M_N_STOPS]) == 0
