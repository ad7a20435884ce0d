"""The liquidation engine: the trigger index of liquidation prices, liquidation and ADL.

Liquidation prices sit in two max-heaps (``sim.exchange.heap``): longs keyed by ``LP`` (they trigger
when the price falls to it, so the highest goes first) and shorts keyed by ``-LP``. Checking
whether anything triggered is a look at the two tops, O(1); each triggered account costs
O(log n). An account whose position changes is queued (``mark_dirty``) and gets a fresh entry
at the next refresh; its old entry carries an outdated version and is dropped when it surfaces.

A liquidation follows the major venues' procedure (Binance USDⓈ-M Futures, 'Liquidation'
and 'What Is Auto-Deleveraging (ADL)'):

1. cancel the account's open orders and stops;
2. send one IOC order for the whole position at the bankruptcy price: every fill is at or
   better than it, and the surplus is the insurance fund's, as the clearance fee (default 1.25%
   of notional) when it covers it, any excess going back to the trader;
3. what the IOC left, the fund takes over at the bankruptcy price and closes at market, paying
   the deficit, if it can pay it;
4. what the fund cannot take is auto-deleveraged: opposite positions ranked by PnL% x effective
   leverage (Bybit, 'Auto-Deleveraging (ADL)') are closed against it at the bankruptcy price.

The account itself is settled at the bankruptcy price, losing exactly its position margin.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.exchange.accounts import close_at_bankruptcy, position_margin, trade, unrealized_pnl
from sim.exchange.book import cancel_account_orders, execute_market, market_value
from sim.exchange.codes import FLAG_ADL, FLAG_LIQUIDATION, SELL
from sim.exchange.heap import heap_pop, heap_push, heap_rebuild
from sim.exchange.layouts import (
    A_ENTRY,
    A_LIQ_PRICE,
    A_WALLET,
    END_OF_LIST,
    I_DIRTY_NEXT,
    I_LIQ_VERSION,
    I_N_LIQUIDATIONS,
    I_POSITION,
    LONGS,
    M_N_FILLS,
    MARKET_BUY_LIMIT,
    NOT_DIRTY,
    SHORTS,
    T_CUM,
    T_FLOOR,
    T_MMR,
    VERSION_BITS,
    VERSION_MASK,
    X_CLEARANCE_FEE,
    X_INSURANCE_FUND,
    X_LOT_SIZE,
    X_MAKER_FEE,
    X_MARK,
    X_TAKER_FEE,
    X_TICK_SIZE,
    X_TIME,
    XI_DIRTY_HEAD,
    XI_LIQ_HEAP_SIZES,
    XI_N_ACCOUNTS,
    XI_N_ADL_TOTAL,
    XI_N_DIRTY,
    XI_N_LIQ,
    XI_N_LIQ_TOTAL,
)
from sim.exchange.perp import bankruptcy_price_nb, liquidation_price_nb


@njit(cache=True, inline="always")
def _heap_val(account, version):
    return (account << VERSION_BITS) | (version & VERSION_MASK)


@njit(cache=True)
def _fresh_liquidation_price(acct_f, acct_i, ex_f, tiers, account):
    pos = acct_i[account, I_POSITION]
    if pos == 0:
        return np.nan
    side = 1 if pos > 0 else -1
    # Not floored at 0: funding can drive an isolated margin (or a cross wallet) negative, and
    # the liquidation and bankruptcy prices must use the same margin that
    # ``close_at_bankruptcy`` takes, or the close creates money.
    margin = position_margin(acct_f, acct_i, account)
    return liquidation_price_nb(side, abs(pos) * ex_f[X_LOT_SIZE], acct_f[account, A_ENTRY],
                                margin, tiers[T_FLOOR], tiers[T_MMR], tiers[T_CUM])


@njit(cache=True)
def _index_account(acct_f, acct_i, ex_f, ex_i, lkeys, lvals, tiers, account):
    """Recompute an account's liquidation price and push it into the trigger index."""
    acct_i[account, I_LIQ_VERSION] += 1
    lp = _fresh_liquidation_price(acct_f, acct_i, ex_f, tiers, account)
    acct_f[account, A_LIQ_PRICE] = lp
    if lp > 0.0:
        val = _heap_val(account, acct_i[account, I_LIQ_VERSION])
        sizes = ex_i[XI_LIQ_HEAP_SIZES:XI_LIQ_HEAP_SIZES + 2]
        if acct_i[account, I_POSITION] > 0:
            heap_push(lkeys, lvals, sizes, LONGS, lp, val)
        else:
            heap_push(lkeys, lvals, sizes, SHORTS, -lp, val)


@njit(cache=True)
def refresh_liquidation_prices(acct_f, acct_i, ex_f, ex_i, lkeys, lvals, tiers):
    """Index the new liquidation price of every queued account; the caller made room."""
    account = ex_i[XI_DIRTY_HEAD]
    while account != END_OF_LIST:
        nxt = acct_i[account, I_DIRTY_NEXT]
        acct_i[account, I_DIRTY_NEXT] = NOT_DIRTY
        _index_account(acct_f, acct_i, ex_f, ex_i, lkeys, lvals, tiers, account)
        account = nxt
    ex_i[XI_DIRTY_HEAD] = END_OF_LIST
    ex_i[XI_N_DIRTY] = 0


@njit(cache=True)
def rebuild_liquidation_index(acct_f, acct_i, ex_f, ex_i, lkeys, lvals, tiers):
    """Recompute every liquidation price and rebuild both heaps from scratch, O(n)."""
    sizes = ex_i[XI_LIQ_HEAP_SIZES:XI_LIQ_HEAP_SIZES + 2]
    sizes[LONGS] = 0
    sizes[SHORTS] = 0
    for account in range(ex_i[XI_N_ACCOUNTS]):
        acct_i[account, I_DIRTY_NEXT] = NOT_DIRTY
        acct_i[account, I_LIQ_VERSION] += 1
        lp = _fresh_liquidation_price(acct_f, acct_i, ex_f, tiers, account)
        acct_f[account, A_LIQ_PRICE] = lp
        if lp > 0.0:
            h = LONGS if acct_i[account, I_POSITION] > 0 else SHORTS
            i = sizes[h]
            lkeys[h, i] = lp if h == LONGS else -lp
            lvals[h, i] = _heap_val(account, acct_i[account, I_LIQ_VERSION])
            sizes[h] = i + 1
    heap_rebuild(lkeys, lvals, sizes, LONGS)
    heap_rebuild(lkeys, lvals, sizes, SHORTS)
    ex_i[XI_DIRTY_HEAD] = END_OF_LIST
    ex_i[XI_N_DIRTY] = 0


@njit(cache=True)
def liquidation_peek(acct_i, ex_i, lkeys, lvals, h):
    """Return (liquidation price, account) at the top of heap h, or (nan, -1) when empty.

    Entries whose version is outdated are dropped on the way.
    """
    sizes = ex_i[XI_LIQ_HEAP_SIZES:XI_LIQ_HEAP_SIZES + 2]
    while sizes[h] > 0:
        val = lvals[h, 0]
        account = val >> VERSION_BITS
        if (acct_i[account, I_LIQ_VERSION] & VERSION_MASK) == (val & VERSION_MASK):
            key = lkeys[h, 0]
            return (key if h == LONGS else -key), account
        heap_pop(lkeys, lvals, sizes, h)
    return np.nan, -1


@njit(cache=True, inline="always")
def apply_book_fills(fills, start, end, acct_f, acct_i, ex_f, ex_i):
    """Settle fills[start:end] on the accounts: makers pay the maker fee, takers the taker fee.

    A liquidation's taker side is settled by ``liquidate`` at the bankruptcy price instead.
    """
    to_usd = ex_f[X_TICK_SIZE]
    for k in range(start, end):
        price = fills[k].price * to_usd
        qty = fills[k].qty
        side = fills[k].taker_side
        trade(acct_f, acct_i, ex_f, ex_i, fills[k].maker_account, -side * qty, price,
              ex_f[X_MAKER_FEE])
        if fills[k].flags & FLAG_LIQUIDATION == 0:
            trade(acct_f, acct_i, ex_f, ex_i, fills[k].taker_account, side * qty, price,
                  ex_f[X_TAKER_FEE])


@njit(cache=True)
def _fills_value(fills, start, end):
    """Return (lots, value in ticks x lots) of fills[start:end]."""
    lots = 0
    value = 0
    for k in range(start, end):
        lots += fills[k].qty
        value += fills[k].qty * fills[k].price
    return lots, value


@njit(cache=True)
def adl_ranking(acct_f, acct_i, ex_f, ex_i, side, mark):
    """Return the accounts holding positions opposite to ``side``, first to be deleveraged first.

    Bybit, 'Auto-Deleveraging (ADL)': rank = PnL% x effective leverage when PnL% > 0, else
    PnL% / effective leverage; PnL% = unrealized PnL / entry notional, effective leverage =
    mark notional / (position margin + unrealized PnL). Ties go to the lower account id.
    """
    n = ex_i[XI_N_ACCOUNTS]
    lot = ex_f[X_LOT_SIZE]
    candidates = np.empty(n, dtype=np.int64)
    scores = np.empty(n, dtype=np.float64)
    k = 0
    for a in range(n):
        pos = acct_i[a, I_POSITION]
        if pos * side >= 0:
            continue
        upnl = unrealized_pnl(acct_f, acct_i, ex_f, a, mark)
        entry_notional = abs(pos) * lot * acct_f[a, A_ENTRY]
        pnl_pct = upnl / entry_notional
        equity = position_margin(acct_f, acct_i, a) + upnl
        effective_leverage = abs(pos) * lot * mark / equity if equity > 0 else 1e12
        scores[k] = pnl_pct * effective_leverage if pnl_pct > 0 else pnl_pct / effective_leverage
        candidates[k] = a
        k += 1
    order = np.argsort(-scores[:k], kind="mergesort")
    return candidates[:k][order]


@njit(cache=True)
def auto_deleverage(fills, meta, acct_f, acct_i, ex_f, ex_i, account, side, lots, price):
    """Close ``lots`` of the liquidated position (``side``) against ranked opposite positions.

    Each counterparty trades at the bankruptcy ``price`` with no fee. The trade log gets one
    fill per counterparty flagged ``FLAG_ADL`` (its price rounded to the tick; settlement uses
    the exact price). Return the lots deleveraged.
    """
    ranked = adl_ranking(acct_f, acct_i, ex_f, ex_i, side, ex_f[X_MARK])
    left = lots
    for c in ranked:
        if left == 0:
            break
        take = min(left, abs(acct_i[c, I_POSITION]))
        trade(acct_f, acct_i, ex_f, ex_i, c, side * take, price, 0.0)
        k = meta[M_N_FILLS]
        meta[M_N_FILLS] = k + 1
        fills[k].price = int(round(price / ex_f[X_TICK_SIZE]))
        fills[k].qty = take
        fills[k].maker_order = -1
        fills[k].maker_account = c
        fills[k].taker_order = -1
        fills[k].taker_account = account
        fills[k].taker_side = -side
        fills[k].flags = FLAG_LIQUIDATION | FLAG_ADL
        left -= take
    return lots - left


@njit(cache=True)
def liquidate(orders, levels, meta, owner, fills, stops, acct_f, acct_i, ex_f, ex_i, liqs,
              account, trigger_price, trigger_pass):
    """Liquidate ``account``'s whole position and append its record to ``liqs``.

    The caller has made room in ``fills`` (one per resting order and per open position, plus 2)
    and in ``liqs``.
    """
    pos = acct_i[account, I_POSITION]
    side = 1 if pos > 0 else -1
    lots = abs(pos)
    lot = ex_f[X_LOT_SIZE]
    tick = ex_f[X_TICK_SIZE]
    to_usd = tick * lot
    entry = acct_f[account, A_ENTRY]
    margin = position_margin(acct_f, acct_i, account)
    bankruptcy = bankruptcy_price_nb(side, lots * lot, entry, margin)
    mark = ex_f[X_MARK]
    liq_price = acct_f[account, A_LIQ_PRICE]
    cancel_account_orders(orders, levels, meta, owner, account)
    close_side = -side

    # 2. One IOC at the bankruptcy price, rounded to the tick on the trader's side.
    if close_side == SELL:
        limit = max(1, int(math.ceil(bankruptcy / tick - 1e-9)))
    else:
        limit = int(math.floor(bankruptcy / tick + 1e-9))
    start = meta[M_N_FILLS]
    execute_market(orders, levels, meta, owner, fills, -1, account, close_side, lots, limit,
                   FLAG_LIQUIDATION)
    apply_book_fills(fills, start, meta[M_N_FILLS], acct_f, acct_i, ex_f, ex_i)
    filled, value = _fills_value(fills, start, meta[M_N_FILLS])
    surplus = side * (value * to_usd - bankruptcy * filled * lot)

    # 3. The fund takes the rest over and closes it at market if it can pay the deficit.
    rest = lots - filled
    if rest > 0:
        avail, avail_value = market_value(levels, meta, close_side, rest)
        if avail > 0:
            deficit = side * (bankruptcy * avail * lot - avail_value * to_usd)
            if deficit <= ex_f[X_INSURANCE_FUND] + surplus:
                start = meta[M_N_FILLS]
                market_limit = 0 if close_side == SELL else MARKET_BUY_LIMIT
                execute_market(orders, levels, meta, owner, fills, -1, account, close_side,
                               avail, market_limit, FLAG_LIQUIDATION)
                apply_book_fills(fills, start, meta[M_N_FILLS], acct_f, acct_i, ex_f, ex_i)
                more, more_value = _fills_value(fills, start, meta[M_N_FILLS])
                filled += more
                value += more_value
                surplus = side * (value * to_usd - bankruptcy * filled * lot)
        rest = lots - filled

    # 4. Auto-deleverage what is left, at the bankruptcy price.
    adl_lots = 0
    if rest > 0:
        adl_lots = auto_deleverage(fills, meta, acct_f, acct_i, ex_f, ex_i, account, side, rest,
                                   bankruptcy)
        ex_i[XI_N_ADL_TOTAL] += 1

    close_at_bankruptcy(acct_f, acct_i, ex_i, account)
    if surplus > 0.0:
        clearance_fee = ex_f[X_CLEARANCE_FEE] * lots * lot * mark
        to_fund = min(surplus, clearance_fee)
        acct_f[account, A_WALLET] += surplus - to_fund
    else:
        to_fund = surplus
    ex_f[X_INSURANCE_FUND] += to_fund
    acct_i[account, I_N_LIQUIDATIONS] += 1
    ex_i[XI_N_LIQ_TOTAL] += 1

    k = ex_i[XI_N_LIQ]
    ex_i[XI_N_LIQ] = k + 1
    rec = liqs[k]
    rec.t = ex_f[X_TIME]
    rec.account = account
    rec.side = side
    rec.qty = lots
    rec.entry_price = entry
    rec.liq_price = liq_price
    rec.bankruptcy_price = bankruptcy
    rec.mark = mark
    rec.trigger_price = trigger_price
    rec.fill_price = (value * to_usd + adl_lots * lot * bankruptcy) / (lots * lot)
    rec.insurance_delta = to_fund
    rec.adl_qty = adl_lots
    rec.adl = adl_lots > 0
    rec.trigger_pass = trigger_pass
