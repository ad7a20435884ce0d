"""Exchange kernels that join the book, the accounts and the liquidation engine.

- ``exchange_submit``: margin checks, then the book, then fill settlement: one order.
- ``exchange_cancel``: cancel an order that belongs to the caller.
- ``settle_triggers``: the trigger loop of a step. Stops and liquidations fire in the same loop,
  so they cascade together. A *pass* freezes the last and mark prices, fires everything they
  cross in the order the price would have crossed it (the deepest-crossed level first), then
  recomputes the prices; passes repeat until one fires nothing or the bound is reached.
- ``run_messages``: a whole order-message stream inside one kernel (replays and the benchmark).

Kernels that may run out of room return a ``NEED_*`` status with the state consistent, so the
caller grows the array and calls again; ``settle_triggers`` resumes where it stopped.

The kernels that Python calls borrow their arrays on entry (``sim.exchange.borrow``), so that the
helpers inlined into them do not reference-count the arrays they touch.
"""

from __future__ import annotations

from numba import njit

from sim.exchange.accounts import check_initial_margin
from sim.exchange.book import (
    book_cancel,
    book_submit,
    execute_market,
    order_slot,
    stop_peek,
    stop_release,
    validate_order,
)
from sim.exchange.borrow import borrow
from sim.exchange.codes import (
    BUY,
    FLAG_STOP,
    LIMIT,
    MARKET,
    NEED_FILL_CAPACITY,
    NEED_HEAP_CAPACITY,
    NEED_LIQUIDATION_CAPACITY,
    OK,
    POST_ONLY,
    REJECT_BAD_PRICE,
    REJECT_POSITION_LIMIT,
    REJECT_REDUCE_ONLY,
    REJECT_UNKNOWN_ACCOUNT,
    REJECT_UNKNOWN_ORDER,
    STOP_MARKET,
    TRIGGER_MARK,
)
from sim.exchange.layouts import (
    A_MAX_NOTIONAL,
    I_POSITION,
    LONGS,
    M_BEST_ASK,
    M_BEST_BID,
    M_LAST_PRICE,
    M_N_ASKS,
    M_N_BIDS,
    M_N_FILLS,
    MARKET_BUY_LIMIT,
    MSG_ACCOUNT,
    MSG_OP,
    MSG_PRICE,
    MSG_QTY,
    MSG_SIDE,
    NIL,
    NO_PRICE,
    O_ACCOUNT,
    OP_CANCEL,
    OP_SUBMIT_LIMIT,
    SHORTS,
    W_BUY_LOTS,
    W_SELL_LOTS,
    X_FUNDING_FRAC,
    X_FUNDING_RATE,
    X_INDEX,
    X_LOT_SIZE,
    X_MA_BASIS,
    X_MARK,
    X_PASS_LAST_TICKS,
    X_PASS_MARK,
    X_PASS_TRIGGER,
    X_PRICE_BAND,
    X_TICK_SIZE,
    XI_LIQ_HEAP_SIZES,
    XI_LIQ_TRIGGER,
    XI_MAX_PASSES,
    XI_N_ACCOUNTS,
    XI_N_DIRTY,
    XI_N_LIQ,
    XI_N_POSITIONS,
    XI_PASS_EVENTS,
    XI_PASS_OPEN,
    XI_PASSES,
    XI_PASSES_EXHAUSTED,
    XI_STOPS_DROPPED,
)
from sim.exchange.liquidation import (
    apply_book_fills,
    liquidate,
    liquidation_peek,
    refresh_liquidation_prices,
)
from sim.exchange.perp import mark_price_nb


@njit(cache=True, inline="always")
def price_in_band(ex_f, price_ticks):
    """Return True if ``price_ticks`` lies within mark x (1 - band) .. mark x (1 + band).

    Venues refuse orders priced far from the market with a percent-price filter: Binance
    USDⓈ-M Futures, 'Filters' (PERCENT_PRICE), requires markPrice x multiplierDown <= price
    <= markPrice x multiplierUp, about +-5% on BTCUSDT. Ours defaults to a looser +-50%
    (``ExchangeConfig.price_band``); its job is to keep an absurd price from growing the
    dense price ladder without bound. Bounds are inclusive (to float rounding).
    """
    mark_ticks = ex_f[X_MARK] / ex_f[X_TICK_SIZE]
    band = ex_f[X_PRICE_BAND]
    slack = 1e-9 * mark_ticks  # far below a tick: only rounding at an exact bound
    return (mark_ticks * (1.0 - band) - slack <= price_ticks
            <= mark_ticks * (1.0 + band) + slack)


@njit(cache=True, inline="always")
def check_position_limit(acct_f, acct_i, ex_f, owner, account, side, qty, price_ticks):
    """Return OK unless the order would grow the position past its leverage's notional cap.

    Binance USDⓈ-M Futures, 'Leverage and Margin': each notional tier has a maximum leverage,
    so an account at leverage L may hold at most ``A_MAX_NOTIONAL`` (see
    ``sim.exchange.perp.max_position_notional``). The account's resting orders on the same side
    count as filled (position + open orders), so splitting an order cannot get past the cap.
    """
    position = acct_i[account, I_POSITION]
    resting = owner[account, W_BUY_LOTS] if side == BUY else owner[account, W_SELL_LOTS]
    worst = abs(position + side * (qty + resting))
    if worst <= abs(position):
        return OK  # cannot grow the position
    notional = worst * ex_f[X_LOT_SIZE] * price_ticks * ex_f[X_TICK_SIZE]
    if notional > acct_f[account, A_MAX_NOTIONAL]:
        return REJECT_POSITION_LIMIT
    return OK


@njit(cache=True, inline="always")
def _reference_price(meta, side, kind, price):
    """Return the price (ticks) an order is margined at, or 0 when nothing can fill it."""
    if kind != MARKET:
        return price
    best = meta[M_BEST_ASK] if side == BUY else meta[M_BEST_BID]
    return 0 if best == NO_PRICE else best


@njit(cache=True, inline="always")
def exchange_submit(orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i,
                    account, side, kind, qty, price, trigger, reduce_only):
    """Enter an order for a margin account; return (status, order_id, filled_lots, first, end).

    ``fills[first:end]`` are the order's fills.

    Every priced order (LIMIT, IOC, POST_ONLY, and a STOP_MARKET's stop price) must lie in the
    percent-price band around the mark (``price_in_band``), else REJECT_BAD_PRICE.
    Reduce-only applies to MARKET, IOC and STOP_MARKET orders: the quantity is cut to the
    position (a stop's at the time it fires). Other orders pass the initial-margin check and
    the leverage-tier position limit; stops are checked when they fire.
    """
    orders, levels, meta, owner = borrow(orders), borrow(levels), borrow(meta), borrow(owner)
    fills, stops = borrow(fills), borrow(stops)
    acct_f, acct_i, ex_f, ex_i = borrow(acct_f), borrow(acct_i), borrow(ex_f), borrow(ex_i)
    if account < 0 or account >= ex_i[XI_N_ACCOUNTS]:
        return REJECT_UNKNOWN_ACCOUNT, 0, 0, 0, 0
    status = validate_order(owner, account, side, kind, qty, price, trigger)
    if status != OK:
        return status, 0, 0, 0, 0
    if kind != MARKET and not price_in_band(ex_f, price):
        return REJECT_BAD_PRICE, 0, 0, 0, 0
    if reduce_only:
        if kind == LIMIT or kind == POST_ONLY:
            return REJECT_REDUCE_ONLY, 0, 0, 0, 0
        if kind != STOP_MARKET:
            position = acct_i[account, I_POSITION]
            if position * side >= 0:
                return REJECT_REDUCE_ONLY, 0, 0, 0, 0
            qty = min(qty, abs(position))
    elif kind != STOP_MARKET:
        ref = _reference_price(meta, side, kind, price)
        if ref > 0:
            status = check_initial_margin(acct_f, acct_i, ex_f, owner, account, side, qty, ref)
            if status == OK:
                status = check_position_limit(acct_f, acct_i, ex_f, owner, account, side, qty,
                                              ref)
            if status != OK:
                return status, 0, 0, 0, 0
    start = meta[M_N_FILLS]
    status, oid, filled = book_submit(orders, levels, meta, owner, fills, stops, account, side,
                                      kind, qty, price, trigger, reduce_only, 0)
    if status == OK and meta[M_N_FILLS] > start:
        apply_book_fills(fills, start, meta[M_N_FILLS], acct_f, acct_i, ex_f, ex_i)
    return status, oid, filled, start, meta[M_N_FILLS]


@njit(cache=True, inline="always")
def exchange_cancel(orders, levels, meta, owner, account, order_id):
    """Cancel ``order_id`` if it is live and belongs to ``account``; return a status."""
    orders, levels, meta, owner = borrow(orders), borrow(levels), borrow(meta), borrow(owner)
    slot = order_slot(orders, order_id)
    if slot == NIL or orders[slot, O_ACCOUNT] != account:
        return REJECT_UNKNOWN_ORDER
    return book_cancel(orders, levels, meta, owner, order_id)


@njit(cache=True)
def update_mark_price(meta, ex_f):
    """Recompute the mark price from the step's index, funding and basis and the last price."""
    last = meta[M_LAST_PRICE] * ex_f[X_TICK_SIZE]
    index = ex_f[X_INDEX]
    if last <= 0.0:
        last = index
    mark = mark_price_nb(index, ex_f[X_FUNDING_RATE], ex_f[X_FUNDING_FRAC], ex_f[X_MA_BASIS],
                         last)
    ex_f[X_MARK] = mark
    return mark


@njit(cache=True)
def _next_event(orders, meta, stops, acct_i, ex_f, ex_i, lkeys, lvals):
    """Return (kind, heap, id) of the deepest-crossed trigger: kind 0 stop, 1 liquidation, -1 none.

    Depth is the relative distance the frozen pass price went through the level. Ties go to
    stops, then to longs.
    """
    last = ex_f[X_PASS_LAST_TICKS]
    mark_ticks = ex_f[X_PASS_MARK] / ex_f[X_TICK_SIZE]
    trigger = ex_f[X_PASS_TRIGGER]
    best_depth = -1.0
    best_kind = -1
    best_heap = -1
    best_id = -1
    for h in range(4):
        key, oid = stop_peek(orders, meta, stops, h)
        if oid == NIL:
            continue
        price = last if h < 2 else mark_ticks
        if price <= 0.0:
            continue
        if h % 2 == 0:
            depth = (key - price) / price  # sell stop at `key`
        else:
            depth = (price + key) / price  # buy stop at `-key`
        if depth >= 0.0 and depth > best_depth:
            best_depth = depth
            best_kind = 0
            best_heap = h
            best_id = oid
    for h in (LONGS, SHORTS):
        lp, account = liquidation_peek(acct_i, ex_i, lkeys, lvals, h)
        if account < 0:
            continue
        depth = (lp - trigger) / trigger if h == LONGS else (trigger - lp) / trigger
        if depth >= 0.0 and depth > best_depth:
            best_depth = depth
            best_kind = 1
            best_heap = h
            best_id = account
    return best_kind, best_heap, best_id


@njit(cache=True)
def _fire_stop(orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i, h):
    """Release the stop at the top of heap h and execute it as a market order."""
    oid, account, side, qty, reduce_only = stop_release(orders, meta, owner, stops, h)
    position = acct_i[account, I_POSITION]
    if reduce_only:
        if position * side >= 0:
            ex_i[XI_STOPS_DROPPED] += 1
            return
        qty = min(qty, abs(position))
    else:
        ref = _reference_price(meta, side, MARKET, 0)
        if ref > 0:
            status = check_initial_margin(acct_f, acct_i, ex_f, owner, account, side, qty, ref)
            if status == OK:
                status = check_position_limit(acct_f, acct_i, ex_f, owner, account, side, qty,
                                              ref)
            if status != OK:
                ex_i[XI_STOPS_DROPPED] += 1
                return
    start = meta[M_N_FILLS]
    limit = MARKET_BUY_LIMIT if side == BUY else 0
    execute_market(orders, levels, meta, owner, fills, oid, account, side, qty, limit, FLAG_STOP)
    apply_book_fills(fills, start, meta[M_N_FILLS], acct_f, acct_i, ex_f, ex_i)


@njit(cache=True)
def _room_status(meta, fills, ex_i, lkeys, liqs):
    sizes = ex_i[XI_LIQ_HEAP_SIZES:XI_LIQ_HEAP_SIZES + 2]
    if max(sizes[0], sizes[1]) + ex_i[XI_N_DIRTY] > lkeys.shape[1]:
        return NEED_HEAP_CAPACITY
    worst_fills = meta[M_N_BIDS] + meta[M_N_ASKS] + ex_i[XI_N_POSITIONS] + 2
    if meta[M_N_FILLS] + worst_fills > fills.shape[0]:
        return NEED_FILL_CAPACITY
    if ex_i[XI_N_LIQ] >= liqs.shape[0]:
        return NEED_LIQUIDATION_CAPACITY
    return OK


@njit(cache=True)
def settle_triggers(orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i, lkeys,
                    lvals, tiers, liqs):
    """Fire stops and liquidations, pass after pass, until nothing triggers; return a status.

    The caller sets ``ex_i[XI_PASSES] = 0`` and ``ex_i[XI_PASS_OPEN] = 0`` once per step; after a
    ``NEED_*`` return it grows the array and calls again to resume.
    """
    orders, levels, meta, owner = borrow(orders), borrow(levels), borrow(meta), borrow(owner)
    fills, stops = borrow(fills), borrow(stops)
    acct_f, acct_i, ex_f, ex_i = borrow(acct_f), borrow(acct_i), borrow(ex_f), borrow(ex_i)
    lkeys, lvals, tiers, liqs = borrow(lkeys), borrow(lvals), borrow(tiers), borrow(liqs)
    tick = ex_f[X_TICK_SIZE]
    while True:
        status = _room_status(meta, fills, ex_i, lkeys, liqs)
        if status != OK:
            return status
        refresh_liquidation_prices(acct_f, acct_i, ex_f, ex_i, lkeys, lvals, tiers)
        mark = update_mark_price(meta, ex_f)
        if ex_i[XI_PASS_OPEN] == 0:
            last_ticks = float(meta[M_LAST_PRICE])
            ex_f[X_PASS_LAST_TICKS] = last_ticks
            ex_f[X_PASS_MARK] = mark
            if ex_i[XI_LIQ_TRIGGER] == TRIGGER_MARK or last_ticks <= 0.0:
                ex_f[X_PASS_TRIGGER] = mark
            else:
                ex_f[X_PASS_TRIGGER] = last_ticks * tick
            if ex_i[XI_PASSES] >= ex_i[XI_MAX_PASSES]:
                # Checked against the prices frozen just now, not the last pass's.
                kind, h, ident = _next_event(orders, meta, stops, acct_i, ex_f, ex_i, lkeys,
                                             lvals)
                if kind >= 0:
                    ex_i[XI_PASSES_EXHAUSTED] += 1
                return OK
            ex_i[XI_PASS_OPEN] = 1
            ex_i[XI_PASS_EVENTS] = 0
        kind, h, ident = _next_event(orders, meta, stops, acct_i, ex_f, ex_i, lkeys, lvals)
        if kind < 0:
            ex_i[XI_PASS_OPEN] = 0
            if ex_i[XI_PASS_EVENTS] == 0:
                return OK
            ex_i[XI_PASSES] += 1
            continue
        if kind == 0:
            _fire_stop(orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i, h)
        else:
            liquidate(orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i, liqs,
                      ident, ex_f[X_PASS_TRIGGER], ex_i[XI_PASSES] + 1)
        ex_i[XI_PASS_EVENTS] += 1




@njit(cache=True)
def run_messages(orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i,
                 messages, order_ids, statuses, start):
    """Process ``messages[start:]`` with margin checks and fill settlement; return (next, status).

    ``order_ids[i]`` and ``statuses[i]`` receive each message's result. It stops early with a
    ``NEED_*`` status at the first message that needs more room. The fill log is cleared after
    every message: only the accounts keep its effect.
    """
    orders, levels, meta, owner = borrow(orders), borrow(levels), borrow(meta), borrow(owner)
    fills, stops = borrow(fills), borrow(stops)
    acct_f, acct_i, ex_f, ex_i = borrow(acct_f), borrow(acct_i), borrow(ex_f), borrow(ex_i)
    messages, order_ids, statuses = borrow(messages), borrow(order_ids), borrow(statuses)
    n = messages.shape[0]
    for i in range(start, n):
        op = messages[i, MSG_OP]
        account = messages[i, MSG_ACCOUNT]
        if op == OP_CANCEL:
            target = order_ids[messages[i, MSG_PRICE]]
            statuses[i] = exchange_cancel(orders, levels, meta, owner, account, target)
            continue
        kind = LIMIT if op == OP_SUBMIT_LIMIT else MARKET
        status, oid, filled, first, end = exchange_submit(
            orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i, account,
            messages[i, MSG_SIDE], kind, messages[i, MSG_QTY], messages[i, MSG_PRICE], 0, False)
        if status < 0:
            return i, status
        order_ids[i] = oid
        statuses[i] = status
        meta[M_N_FILLS] = 0
    return n, OK


@njit(cache=True)
def open_interest_lots(acct_i, n_accounts):
    """Return (long lots, short lots) recomputed from every account."""
    longs = 0
    shorts = 0
    for a in range(n_accounts):
        p = acct_i[a, I_POSITION]
        if p > 0:
            longs += p
        else:
            shorts -= p
    return longs, shorts



