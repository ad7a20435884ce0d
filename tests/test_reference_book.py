"""Hand-worked tests of the reference order book, plus a random-stream property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference_book import BUY, IOC, LIMIT, MARKET, POST_ONLY, SELL, RefBook

# accounts
A, B, C, D = 1, 2, 3, 4


def test_fifo_within_level() -> None:
    book = RefBook()
    assert book.submit(A, SELL, LIMIT, 2, 100) == (1, [])
    assert book.submit(B, SELL, LIMIT, 3, 100) == (2, [])
    assert book.submit(C, SELL, LIMIT, 4, 100) == (3, [])

    oid, fills = book.submit(D, BUY, LIMIT, 6, 100)
    assert oid == 4
    assert fills == [
        (100, 2, 1, A, 4, D),
        (100, 3, 2, B, 4, D),
        (100, 1, 3, C, 4, D),
    ]
    assert book.resting(SELL) == [(100, [(3, C, 3)])]
    assert book.resting(BUY) == []
    assert book.last_price() == 100


def test_price_priority_across_levels() -> None:
    book = RefBook()
    book.submit(A, SELL, LIMIT, 1, 103)  # id 1
    book.submit(B, SELL, LIMIT, 1, 101)  # id 2
    book.submit(C, SELL, LIMIT, 1, 102)  # id 3
    assert book.best_ask() == 101

    # buy limit 102 for 5: takes 101 then 102, stops before 103, rests 3 @ 102
    oid, fills = book.submit(D, BUY, LIMIT, 5, 102)
    assert oid == 4
    assert fills == [
        (101, 1, 2, B, 4, D),
        (102, 1, 3, C, 4, D),
    ]
    assert book.resting(SELL) == [(103, [(1, A, 1)])]
    assert book.resting(BUY) == [(102, [(4, D, 3)])]
    assert book.best_bid() == 102
    assert book.best_ask() == 103
    assert book.last_price() == 102

    # sell side mirrors: bids matched highest first
    book.submit(A, BUY, LIMIT, 2, 99)  # id 5
    oid, fills = book.submit(B, SELL, MARKET, 4)
    assert oid == 6
    assert fills == [
        (102, 3, 4, D, 6, B),
        (99, 1, 5, A, 6, B),
    ]
    assert book.resting(BUY) == [(99, [(5, A, 1)])]
    assert book.last_price() == 99


def test_partial_fill_keeps_queue_place() -> None:
    book = RefBook()
    book.submit(A, BUY, LIMIT, 5, 50)  # id 1
    book.submit(B, BUY, LIMIT, 5, 50)  # id 2

    oid, fills = book.submit(C, SELL, LIMIT, 2, 50)
    assert (oid, fills) == (3, [(50, 2, 1, A, 3, C)])
    assert book.resting(BUY) == [(50, [(1, A, 3), (2, B, 5)])]

    # a later order at the same price joins the back
    book.submit(D, BUY, LIMIT, 1, 50)  # id 4
    assert book.resting(BUY) == [(50, [(1, A, 3), (2, B, 5), (4, D, 1)])]

    oid, fills = book.submit(C, SELL, LIMIT, 4, 50)
    assert (oid, fills) == (5, [(50, 3, 1, A, 5, C), (50, 1, 2, B, 5, C)])
    assert book.resting(BUY) == [(50, [(2, B, 4), (4, D, 1)])]
    assert book.resting(SELL) == []


def test_self_trade_prevention_cancels_resting_and_continues() -> None:
    book = RefBook()
    book.submit(B, SELL, LIMIT, 2, 100)  # id 1
    book.submit(A, SELL, LIMIT, 3, 100)  # id 2 (own order, behind B)
    book.submit(C, SELL, LIMIT, 4, 100)  # id 3
    book.submit(A, SELL, LIMIT, 5, 101)  # id 4 (own order, next level)
    book.submit(D, SELL, LIMIT, 6, 101)  # id 5

    oid, fills = book.submit(A, BUY, LIMIT, 8, 101)
    assert oid == 6
    assert fills == [
        (100, 2, 1, B, 6, A),
        (100, 4, 3, C, 6, A),
        (101, 2, 5, D, 6, A),
    ]
    # ids 2 and 4 were cancelled by STP, without fills
    assert book.resting(SELL) == [(101, [(5, D, 4)])]
    assert book.resting(BUY) == []
    assert book.cancel(2) is False
    assert book.cancel(4) is False


def test_self_trade_only_own_orders_left() -> None:
    book = RefBook()
    book.submit(A, BUY, LIMIT, 3, 10)  # id 1
    oid, fills = book.submit(A, SELL, LIMIT, 2, 10)
    assert (oid, fills) == (2, [])
    # own bid cancelled, the sell rests
    assert book.resting(BUY) == []
    assert book.resting(SELL) == [(10, [(2, A, 2)])]
    assert book.last_price() is None


def test_post_only_rejection_leaves_book_unchanged() -> None:
    book = RefBook()
    book.submit(A, SELL, LIMIT, 2, 100)  # id 1
    book.submit(B, BUY, LIMIT, 2, 98)  # id 2
    before = (book.resting(BUY), book.resting(SELL))

    assert book.submit(C, BUY, POST_ONLY, 1, 100) == (None, [])  # touches ask
    assert book.submit(C, BUY, POST_ONLY, 1, 105) == (None, [])  # through ask
    assert book.submit(C, SELL, POST_ONLY, 1, 98) == (None, [])  # touches bid
    assert (book.resting(BUY), book.resting(SELL)) == before
    assert book.last_price() is None

    # ids are not consumed by rejections; a non-crossing post-only rests
    assert book.submit(C, BUY, POST_ONLY, 1, 99) == (3, [])
    assert book.submit(C, SELL, POST_ONLY, 1, 101) == (4, [])
    assert book.resting(BUY) == [(99, [(3, C, 1)]), (98, [(2, B, 2)])]
    assert book.resting(SELL) == [(100, [(1, A, 2)]), (101, [(4, C, 1)])]


def test_other_rejections() -> None:
    book = RefBook()
    assert book.submit(A, BUY, LIMIT, 0, 10) == (None, [])
    assert book.submit(A, BUY, LIMIT, -1, 10) == (None, [])
    assert book.submit(A, BUY, LIMIT, 1) == (None, [])
    assert book.submit(A, SELL, IOC, 1, 0) == (None, [])
    assert book.submit(A, SELL, POST_ONLY, 1, -5) == (None, [])
    assert book.submit(A, SELL, MARKET, 0) == (None, [])
    assert book.resting(BUY) == [] and book.resting(SELL) == []
    assert book.submit(A, BUY, LIMIT, 1, 10) == (1, [])


def test_ioc_remainder_dropped() -> None:
    book = RefBook()
    book.submit(A, SELL, LIMIT, 2, 100)  # id 1
    book.submit(B, SELL, LIMIT, 2, 102)  # id 2

    oid, fills = book.submit(C, BUY, IOC, 5, 101)
    assert (oid, fills) == (3, [(100, 2, 1, A, 3, C)])
    assert book.resting(BUY) == []
    assert book.resting(SELL) == [(102, [(2, B, 2)])]
    assert book.cancel(3) is False

    # IOC that cannot trade at all is still accepted and gets an id
    assert book.submit(C, BUY, IOC, 1, 50) == (4, [])
    assert book.resting(BUY) == []


def test_market_order() -> None:
    book = RefBook()
    # empty side: accepted, id assigned, nothing happens
    assert book.submit(A, BUY, MARKET, 5) == (1, [])
    assert book.resting(BUY) == [] and book.resting(SELL) == []
    assert book.last_price() is None

    book.submit(B, SELL, LIMIT, 1, 100)  # id 2
    book.submit(B, SELL, LIMIT, 1, 500)  # id 3
    # no price limit: sweeps all levels, remainder dropped
    oid, fills = book.submit(A, BUY, MARKET, 5)
    assert oid == 4
    assert fills == [(100, 1, 2, B, 4, A), (500, 1, 3, B, 4, A)]
    assert book.resting(BUY) == [] and book.resting(SELL) == []
    assert book.last_price() == 500


def test_cancel() -> None:
    book = RefBook()
    assert book.cancel(1) is False  # unknown
    book.submit(A, BUY, LIMIT, 1, 10)  # id 1
    book.submit(B, BUY, LIMIT, 1, 10)  # id 2
    book.submit(C, BUY, LIMIT, 1, 9)  # id 3
    assert book.cancel(99) is False  # unknown

    assert book.cancel(1) is True
    assert book.cancel(1) is False  # already cancelled
    assert book.resting(BUY) == [(10, [(2, B, 1)]), (9, [(3, C, 1)])]

    book.submit(D, SELL, LIMIT, 1, 10)  # id 4 fills id 2 completely
    assert book.cancel(2) is False  # filled
    assert book.cancel(4) is False  # taker fully filled, never rested
    assert book.cancel(3) is True
    assert book.resting(BUY) == []
    assert book.best_bid() is None and book.best_ask() is None


# --------------------------------------------------------------------- property

_order = st.tuples(
    st.integers(1, 3),  # account
    st.sampled_from([BUY, SELL]),
    st.sampled_from([LIMIT, LIMIT, MARKET, IOC, POST_ONLY]),
    st.integers(-1, 6),  # qty (includes invalid)
    st.one_of(st.none(), st.integers(-1, 12)),  # price (includes invalid)
)
_action = st.one_of(
    st.tuples(st.just("submit"), _order),
    st.tuples(st.just("cancel"), st.integers(0, 40)),
)


def _check_invariants(book: RefBook) -> None:
    bid, ask = book.best_bid(), book.best_ask()
    if bid is not None and ask is not None:
        assert bid < ask
    for side in (BUY, SELL):
        levels = book.resting(side)
        prices = [p for p, _ in levels]
        assert prices == sorted(prices, reverse=(side == BUY))
        for price, queue in levels:
            assert price > 0
            assert queue
            for _, _, qty in queue:
                assert qty > 0


@settings(max_examples=200, deadline=None)
@given(st.lists(_action, max_size=40))
def test_random_streams_never_cross(actions: list) -> None:
    book = RefBook()
    next_id = 1
    for action, arg in actions:
        if action == "cancel":
            book.cancel(arg)
        else:
            account, side, kind, qty, price = arg
            oid, fills = book.submit(account, side, kind, qty, price)
            if oid is None:
                assert fills == []
            else:
                assert oid == next_id
                next_id += 1
                assert sum(f[1] for f in fills) <= qty
                for f_price, f_qty, _, maker_acct, taker_id, taker_acct in fills:
                    assert f_qty > 0 and f_price > 0
                    assert maker_acct != taker_acct
                    assert taker_id == oid
        _check_invariants(book)
