"""A warm start: the run begins in an established market, with positions drawn from a past.

Every run used to start from an empty market (no open interest, a blank heatmap for hours).
A warm start opens, before the first step, the positions each crowd would hold in a steady
state, entered along a simulated past price path:

1. **A past path.** Geometric Brownian motion backwards from the initial price at the
   fundamental's volatility, one sample per step over ``history_s`` (its own random stream).
   It is the crowds' chart too: each crowd's price history is seeded with it.
2. **Positions from the steady state.** A crowd with arrival rate ``r`` and mean holding time
   ``h`` holds ``r h`` positions on average (Little's law), a Poisson number, capped at its
   size; with exponential holding times the ages of the open positions are exponential with
   mean ``h`` (truncated at ``history_s``) and the time each has left is exponential again
   (memoryless). Each position is sized, sided (the trader's entry rule on the path before
   its entry, else ``long_bias``) and given a stop and take-profit by the crowd's own rules at
   the path's price at its entry.
3. **Survivors only.** A position whose stop, take-profit or liquidation price the path has
   crossed since its entry was closed in that past: it is not opened.
4. **Who holds the other side.** Every trade has a buyer and a seller at one price, so a
   position entered at its own price needs a counterparty who accepts that price: the holders
   (``agents.holders``, large and low-leverage) take the other side of every retail and
   scalper position, at that position's entry price, and the rest of the holders' positions
   are matched among themselves, long against short, at the long's entry price. Where the
   holders cannot absorb one side, positions of that side are left out (random order); the
   holders' larger side is trimmed so longs equal shorts.
5. **The trades** go through the perpetual's book in the order of their past times (the
   seller rests a LIMIT, the buyer takes it with a MARKET order, fees charged as usual), so
   money and open interest balance by the exchange's own rules; then the stops and
   take-profits rest, and each crowd books its traders as holding since their entry time. The
   fills are drained: no output shows them as trades of the run.
6. **What the public saw of that past** (:func:`past_candles`): 1-minute candles whose prices
   are the past path and whose volume and open interest are the warm trades (each opens one
   unit of open interest on both sides), the aggressor being the crowd trader who entered (a
   holder on the other side rested), or the long of two holders. A public heatmap estimate
   fed these before the run's own candles sees the warm positions being opened, as a
   dashboard that has watched the venue for a week would; the run writes them as
   ``warm_candles``. (Only the survivors traded in this past, so its open interest only
   rises: the estimate's view of the past is cleaner than a real week's.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agents.retail import RetailCrowd, StopDraw, entry_side, samples_in
from sim.exchange import BUY, LIMIT, MARKET, SELL, Status, liquidation_price
from sim.model import MarketModel
from sim.public_data import candles, no_candles

SECONDS_PER_YEAR = 365.0 * 86_400.0


def past_path(rng: np.random.Generator, price: float, vol_per_year: float, history_s: float,
              interval_s: float) -> np.ndarray:
    """Return a geometric Brownian path (USD) of ``ceil(history_s / interval_s) + 1`` samples,
    ``interval_s`` apart, oldest first, ending at ``price``: each log step is normal with
    standard deviation ``vol_per_year * sqrt(interval_s / year)``, no drift."""
    n = samples_in(history_s, interval_s) - 1
    steps = rng.standard_normal(n) * vol_per_year * math.sqrt(interval_s / SECONDS_PER_YEAR)
    back = np.concatenate((np.cumsum(steps[::-1])[::-1], [0.0]))  # log(now / then)
    return price * np.exp(-back)


@dataclass
class WarmPositions:
    """The positions one crowd holds at the start, one entry per position (arrays)."""

    crowd: RetailCrowd
    trader: np.ndarray  # the crowd's trader index
    side: np.ndarray  # BUY (+1) or SELL (-1)
    lots: np.ndarray
    entry_ticks: np.ndarray
    entry_sample: np.ndarray  # index into the past path: when it was entered
    exit_in_s: np.ndarray  # time left to its planned exit
    stop_ticks: np.ndarray  # 0: no stop
    tp_ticks: np.ndarray  # 0: no take-profit

    def keep(self, mask: np.ndarray) -> WarmPositions:
        """Return the positions where ``mask`` holds."""
        return WarmPositions(self.crowd, *(getattr(self, name)[mask] for name in _ARRAYS))


_ARRAYS = ("trader", "side", "lots", "entry_ticks", "entry_sample", "exit_in_s", "stop_ticks",
           "tp_ticks")


def draw_positions(crowd: RetailCrowd, path_ticks: np.ndarray, step_s: float,
                   rng: np.random.Generator) -> WarmPositions:
    """Draw the steady-state positions of ``crowd`` entered along ``path_ticks`` (one sample
    per ``step_s``, the last one now) and keep those the path has not closed (module doc)."""
    p = crowd.params
    cfg = crowd.exchange.config
    lot_usd = cfg.tick_size * cfg.lot_size
    n_back = len(path_ticks) - 1
    n = min(int(rng.poisson(p.arrival_rate_per_s * p.hold_time_s)), crowd.count)
    traders = rng.choice(crowd.count, size=n, replace=False)
    reach = 1.0 - math.exp(-n_back * step_s / p.hold_time_s)
    age_s = -p.hold_time_s * np.log1p(-rng.random(n) * reach)  # truncated exponential
    samples = n_back - np.minimum(np.rint(age_s / step_s).astype(np.int64), n_back)
    exit_in = rng.exponential(p.hold_time_s, n)
    z_size, u_tie, u_stop = rng.standard_normal(n), rng.random(n), rng.random(n)
    z_distance, u_timeframe, e_offset = rng.standard_normal(n), rng.random(n), rng.random(n)
    e_offset = -np.log1p(-e_offset)  # exponential, mean 1
    every = max(1, round(crowd.history.interval_s / step_s))  # the crowd's chart interval
    lookback = crowd.lookback_samples
    # Lowest and highest price from each sample to now: the path since an entry.
    low_since = np.minimum.accumulate(path_ticks[::-1])[::-1]
    high_since = np.maximum.accumulate(path_ticks[::-1])[::-1]
    rows = []
    for j in range(n):
        i, at = int(traders[j]), int(samples[j])
        chart = path_ticks[at % every: at + 1: every]  # the crowd's samples up to the entry
        entry_ticks = int(path_ticks[at])
        side = entry_side(int(crowd.rule[i]), chart[-lookback:], crowd.round_ticks,
                          crowd.near_ticks, float(u_tie[j]), p.long_bias)
        if side == 0:
            side = BUY if u_tie[j] < p.long_bias else SELL
        lots = int(crowd.entry_notional(i, float(z_size[j]))[0] / (entry_ticks * lot_usd))
        if lots < 1:
            continue
        entry = entry_ticks * cfg.tick_size
        posted = lots * cfg.lot_size * entry / float(crowd.leverage[i])
        stop = 0
        if u_stop[j] < p.stop_loss_prob:
            draw = StopDraw(float(z_distance[j]), float(u_timeframe[j]), float(e_offset[j]))
            stop = crowd.stop_ticks_for(i, side, lots, entry, posted, draw,
                                        lambda k, c=chart: c[-k:])
        tp = crowd.take_profit_for(i, side, entry, stop)
        liq = liquidation_price(side, lots * cfg.lot_size, entry, posted, cfg.tiers)
        liq_ticks = liq / cfg.tick_size if liq > 0 else 0.0  # NaN compares False below
        low, high = int(low_since[at]), int(high_since[at])
        if side == BUY:
            closed = low <= max(stop, liq_ticks) or (tp > 0 and high >= tp)
        else:
            closed = (high >= (stop if stop > 0 else math.inf) or high >= liq_ticks > 0
                      or (tp > 0 and low <= tp))
        if not closed:
            rows.append((i, side, lots, entry_ticks, at, exit_in[j], stop, tp))
    cols = list(zip(*rows, strict=True)) if rows else [[]] * len(_ARRAYS)
    dtypes = (np.int64, np.int8, np.int64, np.int64, np.int64, np.float64, np.int64, np.int64)
    return WarmPositions(crowd, *(np.asarray(c, dtype=d) for c, d in zip(cols, dtypes,
                                                                          strict=True)))


@dataclass
class Trade:
    """One past trade of the warm start: ``lots`` at ``price_ticks`` at path sample ``at``."""

    at: int
    buyer: int  # account
    seller: int
    lots: int
    price_ticks: int
    taker_side: int  # the aggressor: the crowd trader who entered, or the long of two holders


def match_trades(crowds: list[WarmPositions], holders: WarmPositions,
                 rng: np.random.Generator) -> tuple[list[WarmPositions], WarmPositions,
                                                    list[Trade]]:
    """Pair every crowd position with holders of the other side at its own entry price, then
    the holders' remaining longs with their remaining shorts (module doc, step 4). Return the
    positions kept (crowds, holders, with their lots as traded) and the trades, oldest first."""
    need = {BUY: 0, SELL: 0}  # crowd lots on each side, which holders of the other side take
    room = {side: int(holders.lots[holders.side == -side].sum()) for side in (BUY, SELL)}
    kept = []
    for pos in crowds:
        mask = np.zeros(len(pos.lots), dtype=bool)
        for k in rng.permutation(len(pos.lots)):  # left out in random order once holders fill
            side = int(pos.side[k])
            if need[side] + int(pos.lots[k]) <= room[side]:
                need[side] += int(pos.lots[k])
                mask[k] = True
        kept.append(pos.keep(mask))
    holder_lots = holders.lots.copy()
    spare = {side: int(holder_lots[holders.side == side].sum()) - need[-side]
             for side in (BUY, SELL)}
    excess_side = BUY if spare[BUY] > spare[SELL] else SELL
    excess = abs(spare[BUY] - spare[SELL])
    for k in rng.permutation(len(holder_lots)):  # trim the holders' larger side
        if excess == 0:
            break
        if holders.side[k] == excess_side:
            cut = min(excess, int(holder_lots[k]))
            holder_lots[k] -= cut
            excess -= cut
    trades: list[Trade] = []
    left = holder_lots.copy()
    queue = {side: [k for k in rng.permutation(len(left))
                    if holders.side[k] == side and left[k] > 0] for side in (BUY, SELL)}
    h_accounts = holders.crowd.first_account + holders.trader
    for pos in kept:
        accounts = pos.crowd.first_account + pos.trader
        for k in range(len(pos.lots)):
            side, lots = int(pos.side[k]), int(pos.lots[k])
            while lots > 0:
                h = queue[-side][0]
                q = min(lots, int(left[h]))
                buyer, seller = ((accounts[k], h_accounts[h]) if side == BUY
                                 else (h_accounts[h], accounts[k]))
                trades.append(Trade(int(pos.entry_sample[k]), int(buyer), int(seller), q,
                                    int(pos.entry_ticks[k]), side))
                lots -= q
                left[h] -= q
                if left[h] == 0:
                    queue[-side].pop(0)
    longs = [k for k in queue[BUY] if left[k] > 0]
    shorts = [k for k in queue[SELL] if left[k] > 0]
    while longs and shorts:
        b, s = longs[0], shorts[0]
        q = int(min(left[b], left[s]))
        trades.append(Trade(int(holders.entry_sample[b]), int(h_accounts[b]),
                            int(h_accounts[s]), q, int(holders.entry_ticks[b]), BUY))
        left[b] -= q
        left[s] -= q
        if left[b] == 0:
            longs.pop(0)
        if left[s] == 0:
            shorts.pop(0)
    held = holders.keep(holder_lots > 0)
    held.lots = holder_lots[holder_lots > 0]
    trades.sort(key=lambda trade: trade.at)
    return kept, held, trades


def past_candles(path_ticks: np.ndarray, trades: list[Trade], t_now: float, step_s: float,
                 tick_size: float, lot_size: float, interval_s: float = 60.0) -> pd.DataFrame:
    """Return the public candles of the past (module doc, step 6): the path sampled every
    ``step_s`` up to ``t_now`` prints the prices (a print of no size per sample), the trades
    the volume (``lots * lot_size``) with their aggressor's side, and the open interest after
    each trade is the sum of the lots traded up to it (every warm trade opens a position on
    both sides). Candles of :func:`sim.public_data.candles`, the last closing at ``t_now``."""
    n_back = len(path_ticks) - 1
    if n_back == 0:
        return no_candles()
    path_t = t_now - (n_back - np.arange(n_back + 1)) * step_s
    at = np.array([trade.at for trade in trades], dtype=np.int64)
    qty = np.array([trade.lots for trade in trades], dtype=np.float64) * lot_size
    prints = pd.DataFrame({
        "t": np.concatenate([path_t, path_t[at]]),
        "price": np.concatenate([path_ticks, [trade.price_ticks for trade in trades]])
        * tick_size,
        "qty": np.concatenate([np.zeros(n_back + 1), qty]),
        "aggressor_side": np.concatenate([np.zeros(n_back + 1, np.int64),
                                          [trade.taker_side for trade in trades]]),
    }).sort_values("t", kind="stable")
    oi = pd.DataFrame({"t": np.concatenate([[path_t[0]], path_t[at]]),
                       "oi": np.concatenate([[0.0], np.cumsum(qty)])})
    return candles(prints, oi, interval_s, t0=t_now)


def warm_start(model: MarketModel, crowds: list[RetailCrowd], holders: RetailCrowd,
               history_s: float, vol_per_year: float) -> tuple[dict, pd.DataFrame]:
    """Open the steady-state positions of ``crowds`` and ``holders`` on the perpetual before
    the first step (module doc); return a summary for the manifest and the past's public
    candles (:func:`past_candles`)."""
    rng = model.random_stream("warm_start")
    ex = model.perp
    cfg = ex.config
    path = past_path(rng, float(model.index), vol_per_year, history_s, model.step_s)
    path_ticks = np.maximum(np.rint(path / cfg.tick_size).astype(np.int64), 1)
    for crowd in (*crowds, holders):
        every = max(1, round(crowd.history.interval_s / model.step_s))
        crowd.history.seed(path_ticks[(len(path_ticks) - 1) % every::every])
    drawn = [draw_positions(crowd, path_ticks, model.step_s, rng) for crowd in crowds]
    held = draw_positions(holders, path_ticks, model.step_s, rng)
    kept, held, trades = match_trades(drawn, held, rng)
    done = []  # the trades that went through: the past's volume and open interest
    for trade in trades:
        res = ex.submit(trade.seller, SELL, LIMIT, trade.lots, trade.price_ticks)
        if res.status != Status.OK or res.filled:
            if res.status == Status.OK:
                ex.cancel(trade.seller, res.order_id)
            continue
        taken = ex.submit(trade.buyer, BUY, MARKET, trade.lots)
        if taken.status != Status.OK or taken.filled != trade.lots:
            ex.cancel(trade.seller, res.order_id)  # UNKNOWN_ORDER when it filled in full
            continue
        done.append(trade)
    opened = 0
    n_back = len(path_ticks) - 1
    for pos in (*kept, held):
        crowd = pos.crowd
        for k in range(len(pos.lots)):
            i, side = int(pos.trader[k]), int(pos.side[k])
            lots = ex.position_lots(crowd.first_account + i)
            if lots * side <= 0:
                continue
            opened += 1
            entry_t = model.t - (n_back - int(pos.entry_sample[k])) * model.step_s
            crowd.adopt_position(i, side, entry_t, model.t + float(pos.exit_in_s[k]))
            if pos.stop_ticks[k] > 0:
                crowd.rest_stop(i, side, abs(lots), int(pos.stop_ticks[k]))
            if pos.tp_ticks[k] > 0:
                crowd.rest_take_profit(i, side, abs(lots), int(pos.tp_ticks[k]))
        crowd.rebuild_idle_pool()
    ex.drain_fills()
    ex.drain_liquidations()
    lot_usd = cfg.lot_size * float(model.index)
    summary = {"history_s": history_s, "positions": opened, "trades": len(trades),
               "failed_trades": len(trades) - len(done),
               "open_interest_usd": round(ex.open_interest * lot_usd, 2)}
    return summary, past_candles(path_ticks, done, model.t, model.step_s, cfg.tick_size,
                                 cfg.lot_size)


__all__ = ["WarmPositions", "draw_positions", "match_trades", "past_candles", "past_path",
           "warm_start"]
