"""Compact builders and state readers for the order-book tests.

``make_book(bids=[(price, [qty, ...])], asks=[...])`` places every qty as its own LIMIT order
from a fresh account (1, 2, 3, ... in placement order; account 0 is left for the taker) and
returns ``(book, ids)``: ``ids[k]`` is the order id of the k-th placed order, which belongs to
account ``k + 1``.
"""

from __future__ import annotations

import numpy as np

from sim.exchange.book import OrderBook
from sim.exchange.codes import BUY, LIMIT, SELL, Status
from sim.exchange.layouts import L_HEAD, L_QTY, M_BASE_TICK, NIL, O_ACCOUNT, O_ID, O_NEXT, O_QTY

# Small defaults keep each book cheap; the ladder 1..256 holds every price the unit tests use.
BOOK_DEFAULTS = dict(center_tick=100, n_levels=256, order_capacity=64, fill_capacity=64,
                     stop_capacity=8)

FIELDS = ("price", "qty", "maker_order", "maker_account", "taker_order", "taker_account",
          "taker_side", "flags")


def make_book(bids=(), asks=(), n_accounts: int = 64, **kw) -> tuple[OrderBook, list[int]]:
    """Return a book holding the given levels and the ids of the orders placed, in order."""
    book = OrderBook(n_accounts, **{**BOOK_DEFAULTS, **kw})
    ids: list[int] = []
    for side, levels in ((BUY, bids), (SELL, asks)):
        for price, qtys in levels:
            for qty in qtys:
                res = book.submit(len(ids) + 1, side, LIMIT, qty, price)
                assert res.status == Status.OK and res.filled == 0, "builder levels must not cross"
                ids.append(res.order_id)
    return book, ids


def fill_rows(fills: np.ndarray, fields=FIELDS) -> list[tuple[int, ...]]:
    """Return fills as plain tuples of ``fields`` (all eight by default)."""
    return [tuple(int(f[name]) for name in fields) for f in fills]


def snapshot(book: OrderBook) -> dict[str, np.ndarray]:
    """Copy every state array of the book."""
    return {name: getattr(book, name).copy()
            for name in ("orders", "levels", "meta", "owner", "stops", "fills")}


def assert_unchanged(book: OrderBook, before: dict[str, np.ndarray]) -> None:
    """Assert that no state array changed (shape or content) since ``snapshot``."""
    for name, old in before.items():
        new = getattr(book, name)
        assert new.shape == old.shape, name
        assert np.array_equal(new, old), name


def ladder(book: OrderBook, side: int) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """Scan the raw ladder of ``side``: best first, [(price, [(order_id, account, qty), ...])].

    It walks every level of the array (not the best-price pointers) and follows the FIFO links,
    so it sees orders that a wrong best price would hide.
    """
    s = 0 if side == BUY else 1
    base = int(book.meta[M_BASE_TICK])
    out = []
    for idx in np.nonzero(book.levels[s, :, L_HEAD] != NIL)[0]:
        queue = []
        slot = int(book.levels[s, idx, L_HEAD])
        while slot != NIL:
            row = book.orders[slot]
            queue.append((int(row[O_ID]), int(row[O_ACCOUNT]), int(row[O_QTY])))
            slot = int(row[O_NEXT])
        out.append((base + int(idx), queue))
    if side == BUY:
        out.reverse()
    return out


def level_qty_mismatches(book: OrderBook) -> list[tuple[int, int]]:
    """Return (side index, price) of levels whose L_QTY differs from the sum of their queue."""
    base = int(book.meta[M_BASE_TICK])
    bad = []
    for side in (BUY, SELL):
        s = 0 if side == BUY else 1
        totals = {price: sum(q for _, _, q in queue) for price, queue in ladder(book, side)}
        for idx in range(book.levels.shape[1]):
            if int(book.levels[s, idx, L_QTY]) != totals.get(base + idx, 0):
                bad.append((s, base + idx))
    return bad
