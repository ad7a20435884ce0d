"""Read-only queries: best prices, depth, queues, depth_to_price, impact_price, market_value."""

from __future__ import annotations

import math

import pytest

from sim.exchange.book import market_value
from sim.exchange.codes import BUY, LIMIT, SELL, STOP_MARKET
from tests.builders import assert_unchanged, make_book, snapshot

TAKER = 0


def _pairs(depth):
    prices, qtys = depth
    return list(zip(prices.tolist(), qtys.tolist(), strict=True))


def test_best_prices_and_last_price_of_an_empty_book_are_none():
    book, _ = make_book()
    assert (book.best_bid(), book.best_ask(), book.last_price()) == (None, None, None)
    assert _pairs(book.depth(BUY, 5)) == [] and _pairs(book.depth(SELL, 5)) == []


def test_depth_lists_levels_best_first_with_totals():
    book, _ = make_book(bids=[(98, [4]), (100, [1, 2]), (97, [1])],
                        asks=[(104, [2]), (101, [3])])
    assert _pairs(book.depth(BUY, 2)) == [(100, 3), (98, 4)]  # 100: 1 + 2
    assert _pairs(book.depth(BUY, 10)) == [(100, 3), (98, 4), (97, 1)]
    assert _pairs(book.depth(SELL, 10)) == [(101, 3), (104, 2)]
    assert _pairs(book.depth(SELL, 0)) == []


def test_queries_do_not_change_the_book():
    book, _ = make_book(bids=[(100, [1, 2])], asks=[(101, [3])])
    before = snapshot(book)
    book.depth(BUY, 5)
    book.queue(BUY, 100)
    book.depth_to_price(BUY, 110)
    book.impact_price(SELL, 150.0)
    market_value(book.levels, book.meta, BUY, 2)
    book.open_orders(1)
    assert_unchanged(book, before)


def test_resting_qty_and_queue_of_empty_or_off_ladder_prices():
    book, ids = make_book(bids=[(100, [1, 2])])
    assert book.resting_qty(BUY, 100) == 3
    assert book.queue(BUY, 100) == [(ids[0], 1, 1), (ids[1], 2, 2)]
    assert book.resting_qty(SELL, 100) == 0 and book.queue(SELL, 100) == []
    assert book.resting_qty(BUY, 99) == 0 and book.queue(BUY, 99) == []
    assert book.resting_qty(BUY, 10**9) == 0 and book.queue(BUY, 10**9) == []
    assert book.resting_qty(BUY, -10**9) == 0 and book.queue(BUY, -10**9) == []


def test_open_orders_lists_limits_and_stops_newest_first():
    book, _ = make_book()
    a = book.submit(TAKER, BUY, LIMIT, 1, 99).order_id
    b = book.submit(TAKER, SELL, STOP_MARKET, 1, 90).order_id
    c = book.submit(TAKER, SELL, LIMIT, 1, 110).order_id
    assert book.open_orders(TAKER) == [c, b, a]
    book.cancel(b)
    assert book.open_orders(TAKER) == [c, a]


@pytest.mark.parametrize("side", [0, 2])
def test_queries_reject_a_bad_side(side):
    book, _ = make_book()
    for call in (lambda: book.depth(side), lambda: book.resting_qty(side, 100),
                 lambda: book.queue(side, 100), lambda: book.depth_to_price(side, 100),
                 lambda: book.impact_price(side, 100.0)):
        with pytest.raises(ValueError):
            call()


# ---------------------------------------------------------------- depth_to_price

ASKS = [(101, [3]), (102, [2]), (104, [5])]
BIDS = [(100, [2]), (99, [1]), (97, [4])]


@pytest.mark.parametrize(
    "target, expected",
    [
        (101, (0, 0)),  # nothing is strictly below the best ask
        (102, (3, 303)),  # 3 x 101
        (103, (5, 507)),  # 303 + 2 x 102 = 303 + 204
        (104, (5, 507)),  # 103 is empty
        (105, (10, 1027)),  # 507 + 5 x 104 = 507 + 520
        (10**6, (10, 1027)),  # far beyond the ladder
        (50, (0, 0)),  # below the best ask
    ],
)
def test_depth_to_price_for_a_buyer(target, expected):
    book, _ = make_book(bids=BIDS, asks=ASKS)
    assert book.depth_to_price(BUY, target) == expected


@pytest.mark.parametrize(
    "target, expected",
    [
        (100, (0, 0)),
        (99, (2, 200)),  # 2 x 100
        (98, (3, 299)),  # 200 + 1 x 99
        (97, (3, 299)),  # 98 is empty, 97 itself is not taken
        (96, (7, 687)),  # 299 + 4 x 97 = 299 + 388
        (0, (7, 687)),  # below the ladder
        (-5, (7, 687)),
        (200, (0, 0)),  # above the best bid
    ],
)
def test_depth_to_price_for_a_seller(target, expected):
    book, _ = make_book(bids=BIDS, asks=ASKS)
    assert book.depth_to_price(SELL, target) == expected


def test_depth_to_price_against_an_empty_side_is_zero():
    book, _ = make_book(bids=BIDS)
    assert book.depth_to_price(BUY, 150) == (0, 0)
    book, _ = make_book(asks=ASKS)
    assert book.depth_to_price(SELL, 50) == (0, 0)


# ---------------------------------------------------------------- impact_price


@pytest.mark.parametrize(
    "value, expected",
    [
        (100.0, 100.0),  # 1 lot at the best ask
        (200.0, 100.0),  # exactly the 2 lots @ 100
        (300.0, 30600 / 304),  # 2 lots (200) + 100/102 lot: 300 / (2 + 100/102) = 30600 / 304
        (506.0, 101.2),  # everything: 200 + 306 = 506 over 5 lots
    ],
)
def test_impact_price_for_a_buyer(value, expected):
    book, _ = make_book(bids=[(99, [9])], asks=[(100, [2]), (102, [3])])
    assert book.impact_price(BUY, value) == pytest.approx(expected, rel=1e-12)


def test_impact_price_for_a_seller():
    book, _ = make_book(bids=[(100, [2]), (98, [1])], asks=[(101, [9])])
    assert book.impact_price(SELL, 150.0) == pytest.approx(100.0)
    # 2 lots (200) + 1 lot (98) = 298 over 3 lots
    assert book.impact_price(SELL, 298.0) == pytest.approx(298 / 3)
    # 200 + 49 ticks of the 98 level = 49/98 = 0.5 lot: 249 / 2.5 = 99.6
    assert book.impact_price(SELL, 249.0) == pytest.approx(99.6)


def test_impact_price_is_nan_when_the_book_is_too_thin():
    book, _ = make_book(bids=[(100, [2]), (98, [1])], asks=[(101, [2]), (102, [3])])
    # asks hold 2 x 101 + 3 x 102 = 202 + 306 = 508 ticks x lots over 5 lots
    assert book.impact_price(BUY, 508.0) == pytest.approx(508 / 5)
    assert math.isnan(book.impact_price(BUY, 509.0))
    assert math.isnan(book.impact_price(SELL, 299.0))  # bids hold only 200 + 98 = 298
    empty, _ = make_book()
    assert math.isnan(empty.impact_price(BUY, 1.0)) and math.isnan(empty.impact_price(SELL, 1.0))


def test_impact_price_rejects_a_non_positive_value():
    book, _ = make_book(asks=[(100, [2])])
    with pytest.raises(ValueError):
        book.impact_price(BUY, 0.0)
    with pytest.raises(ValueError):
        book.impact_price(BUY, -1.0)


# ---------------------------------------------------------------- market_value


@pytest.mark.parametrize(
    "side, wanted, expected",
    [
        (BUY, 4, (4, 404)),  # 2 x 100 + 2 x 102
        (BUY, 5, (5, 506)),  # 200 + 3 x 102
        (BUY, 10, (5, 506)),  # only 5 lots offered
        (BUY, 0, (0, 0)),
        (SELL, 1, (1, 99)),
        (SELL, 3, (3, 295)),  # 2 x 99 + 1 x 97
        (SELL, 9, (4, 392)),  # 198 + 2 x 97
    ],
)
def test_market_value_walks_the_side_a_taker_would_hit(side, wanted, expected):
    book, _ = make_book(bids=[(99, [2]), (97, [2])], asks=[(100, [2]), (102, [3])])
    assert market_value(book.levels, book.meta, side, wanted) == expected


def test_market_value_of_an_empty_side_is_zero():
    book, _ = make_book(bids=[(99, [2])])
    assert market_value(book.levels, book.meta, BUY, 5) == (0, 0)
