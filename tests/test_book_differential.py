"""Differential test: the numba book against the pure-Python ``RefBook`` on random streams.

Few accounts (so self-trades happen), prices in a narrow band (so books cross), a tiny initial
ladder and pools (so every growth path runs), cancels of earlier ids including dead ones.
After every message both books must agree on the status, the fills, and the resting state,
and the numba book must be internally consistent (not crossed, no negative or stale totals,
owner aggregates equal to its resting orders).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.exchange.book import OrderBook
from sim.exchange.codes import BUY, IOC, LIMIT, MARKET, POST_ONLY, SELL, Status
from sim.exchange.layouts import (
    L_QTY,
    M_LAST_PRICE,
    M_N_ASKS,
    M_N_BIDS,
    W_BUY_LOTS,
    W_BUY_VALUE,
    W_SELL_LOTS,
    W_SELL_VALUE,
)
from tests.builders import fill_rows, ladder, level_qty_mismatches
from tests.reference_book import RefBook

N_ACCOUNTS = 4
CANCEL = -1

orders = st.tuples(
    st.sampled_from([LIMIT, LIMIT, LIMIT, MARKET, IOC, POST_ONLY]),
    st.integers(0, N_ACCOUNTS - 1),
    st.sampled_from([BUY, SELL]),
    st.sampled_from([1, 1, 2, 3, 4, 5, 7, 0, -1]),  # 0 and -1 are rejected
    st.sampled_from([95, 97, 98, 99, 100, 100, 101, 102, 103, 105, 0]),  # 0 is rejected
)
cancels = st.tuples(st.just(CANCEL), st.integers(0, 1000))  # index into earlier submissions
messages = st.one_of(orders, orders, orders, cancels)
# Draw the length first: plain st.lists() mostly yields very short streams.
streams = st.integers(0, 60).flatmap(lambda n: st.lists(messages, min_size=n, max_size=n))


def _owner_from_orders(book: OrderBook) -> dict[int, list[int]]:
    """Recompute [buy lots, buy value, sell lots, sell value] per account from the ladder."""
    out = {a: [0, 0, 0, 0] for a in range(N_ACCOUNTS)}
    for side, col in ((BUY, 0), (SELL, 2)):
        for price, queue in ladder(book, side):
            for _, account, qty in queue:
                out[account][col] += qty
                out[account][col + 1] += qty * price
    return out


def _check_consistent(book: OrderBook) -> None:
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is None or ask is None or bid < ask, f"crossed book {bid} >= {ask}"
    assert (book.levels[:, :, L_QTY] >= 0).all()
    assert level_qty_mismatches(book) == []
    bids, asks = ladder(book, BUY), ladder(book, SELL)
    for _, queue in bids + asks:
        assert all(qty > 0 for _, _, qty in queue)
    assert bid == (bids[0][0] if bids else None)
    assert ask == (asks[0][0] if asks else None)
    assert int(book.meta[M_N_BIDS]) == sum(len(q) for _, q in bids)
    assert int(book.meta[M_N_ASKS]) == sum(len(q) for _, q in asks)
    expected = _owner_from_orders(book)
    for account in range(N_ACCOUNTS):
        row = book.owner[account]
        got = [int(row[W_BUY_LOTS]), int(row[W_BUY_VALUE]), int(row[W_SELL_LOTS]),
               int(row[W_SELL_VALUE])]
        assert got == expected[account], f"owner row of account {account}"
    # depth() reads the best-price pointers; it must agree with the raw scan.
    for side, levels in ((BUY, bids), (SELL, asks)):
        prices, qtys = book.depth(side, 100)
        assert list(zip(prices.tolist(), qtys.tolist(), strict=True)) == [
            (p, sum(q for _, _, q in queue)) for p, queue in levels
        ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams)
def test_numba_book_matches_reference_book(stream) -> None:
    book = OrderBook(N_ACCOUNTS, center_tick=100, n_levels=4, order_capacity=2,
                     fill_capacity=2, stop_capacity=1)
    ref = RefBook()
    to_ref: dict[int, int] = {}  # numba id -> reference id, paired by order of acceptance
    submitted: list[tuple[int, int]] = []  # (numba id, reference id), 0 for a rejected order
    for step, msg in enumerate(stream):
        if msg[0] == CANCEL:
            if not submitted:
                continue
            nb_id, ref_id = submitted[msg[1] % len(submitted)]
            status = book.cancel(nb_id)
            ok = ref.cancel(ref_id)
            assert (status == Status.OK) == ok, (step, msg)
            if not ok:
                assert status == Status.UNKNOWN_ORDER
        else:
            kind, account, side, qty, price = msg
            res = book.submit(account, side, kind, qty, price)
            ref_id, ref_fills = ref.submit(account, side, kind, qty, price)
            assert (res.status == Status.OK) == (ref_id is not None), (step, msg, res.status)
            if ref_id is None:
                assert res.order_id == 0 and len(res.fills) == 0
                submitted.append((0, 0))
            else:
                to_ref[res.order_id] = ref_id
                submitted.append((res.order_id, ref_id))
                got = [(p, q, to_ref[mo], ma, to_ref[to], ta, ts)
                       for p, q, mo, ma, to, ta, ts in fill_rows(res.fills, FIELDS7)]
                want = [(*f, side) for f in ref_fills]
                assert got == want, (step, msg)
                assert res.filled == sum(f[1] for f in ref_fills)
        book.drain_fills()
        for side in (BUY, SELL):
            got = [(p, [(to_ref[o], a, q) for o, a, q in queue]) for p, queue in ladder(book, side)]
            assert got == ref.resting(side), (step, msg, side)
        assert book.last_price() == ref.last_price()
        _check_consistent(book)
    assert int(book.meta[M_LAST_PRICE]) == (ref.last_price() or 0)


FIELDS7 = ("price", "qty", "maker_order", "maker_account", "taker_order", "taker_account",
           "taker_side")
