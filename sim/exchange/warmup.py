"""Call every exchange kernel once on a tiny market: compiles the engine, or loads it from
numba's cache. ``liqsim bench`` times this in a fresh interpreter for its compile figures."""

from __future__ import annotations

import numpy as np

from sim.exchange.codes import BUY, CROSS_MARGIN, IOC, LIMIT, MARKET, POST_ONLY, SELL, STOP_MARKET
from sim.exchange.engine import run_messages
from sim.exchange.facade import Exchange, ExchangeConfig
from sim.exchange.layouts import (
    MSG_ACCOUNT,
    MSG_OP,
    MSG_PRICE,
    MSG_QTY,
    MSG_SIDE,
    N_MSG_FIELDS,
    OP_CANCEL,
    OP_SUBMIT_LIMIT,
    OP_SUBMIT_MARKET,
)


def exercise_all_kernels() -> None:
    """Trade, stop out, liquidate, settle funding and run a message stream once."""
    ex = Exchange(ExchangeConfig(insurance_fund=100.0, funding_interval_s=2.0))
    maker = int(ex.open_accounts(1, 1e7, 10, CROSS_MARGIN)[0])
    longs = ex.open_accounts(4, 1_000.0, 50)
    ex.begin_step(1.0, 100_000.0)
    ex.submit(maker, SELL, LIMIT, 5_000, 1_000_000)
    for account in longs:
        ex.submit(int(account), BUY, MARKET, 300)
        ex.submit(int(account), SELL, STOP_MARKET, 300, 990_000, reduce_only=True)
    ex.submit(maker, BUY, POST_ONLY, 10, 980_000)
    ex.submit(maker, BUY, IOC, 10, 1_000_000)
    ex.cancel(maker, ex.open_orders(maker)[0])
    ex.book.depth(BUY, 5)
    ex.book.depth_to_price(SELL, 980_000)
    ex.settle()
    ex.begin_step(2.0, 97_000.0)
    ex.settle()
    _run_tiny_stream()
    ex.invariants()


def _run_tiny_stream() -> None:
    """A bid, an ask, a crossing market order and a cancel through ``run_messages``."""
    ex = Exchange(ExchangeConfig())
    ex.open_accounts(2, 1e7, 10)
    ex.begin_step(1.0, 100_000.0)
    msgs = np.zeros((4, N_MSG_FIELDS), dtype=np.int64)
    msgs[:, MSG_OP] = (OP_SUBMIT_LIMIT, OP_SUBMIT_LIMIT, OP_SUBMIT_MARKET, OP_CANCEL)
    msgs[:, MSG_ACCOUNT] = (0, 1, 1, 0)
    msgs[:, MSG_SIDE] = (BUY, SELL, BUY, BUY)
    msgs[:, MSG_QTY] = (5, 5, 2, 0)
    msgs[:, MSG_PRICE] = (999_990, 1_000_010, 0, 0)  # the cancel names message 0's order
    order_ids = np.zeros(4, dtype=np.int64)
    statuses = np.zeros(4, dtype=np.int64)
    book = ex.book
    run_messages(book.orders, book.levels, book.meta, book.owner, book.fills, book.stops,
                 ex.acct_f, ex.acct_i, ex.ex_f, ex.ex_i, msgs, order_ids, statuses, 0)
