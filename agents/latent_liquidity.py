"""Latent liquidity: resting interest that grows with distance from the touch.

Real BTC books hold much more depth a percent away than at the touch (Binance spot: about
3.5 M USD within 10 bp against 16.5 M within 1 %). Market makers give the touch; this agent
gives the far book, so that a large order meets more and more resistance as it walks the book
(impact concavity) and the book comes back after it (resilience). One provider per venue:

- **Shape.** ``levels`` levels per side at offsets spaced *geometrically* from
  ``min_offset_bps`` to ``max_offset_bps`` (equal ratios: as many levels between 2 and 20 bp as
  between 20 and 200 bp). The cumulative depth within ``x`` bp of the centre is the power law
  ``D(x) = depth_notional * (x / max_offset_bps) ** beta`` at each level's offset, with
  ``beta = ln(near_far_ratio) / ln(10 / 100)``, so ``D(10 bp) / D(100 bp) = near_far_ratio``
  (``beta = 0.699`` for 0.2). Level ``k`` holds ``D(x_k) - D(x_(k-1))`` USD (the first holds
  ``D(x_0)``), in lots at its own price, floored.
- **Centre.** An exponential moving average of the venue's mid (the index when a side of the
  book is empty), half-life ``reference_half_life_s``: ``c += a * (mid - c)`` with
  ``a = 1 - 2 ** (-step_s / half_life)``, so the ladder does not chase every tick. Bids rest at
  ``c * (1 - x_k)`` rounded down to the tick, asks at ``c * (1 + x_k)`` rounded up.
- **Inventory.** With ``inventory_skew_bps_per_musd = k`` the ladder is centred on
  ``c * exp(-k * 1e-4 * q)``, ``q`` the provider's position in millions of USD (at the mid): a
  provider that has sold leans its whole ladder up and buys back, so it absorbs a drift of
  the price for a while but is no sink without limit (the inventory term of Avellaneda &
  Stoikov 2008, at the scale of the far book).
- **Refill.** A level whose orders were taken is restored toward its target lots by
  ``ceil(missing * step_s / refill_s)`` lots per step (an added post-only order at the level's
  price, so the rest of the level keeps its queue place), an exponential return with time
  constant ``refill_s``. A level holding ``max_orders_per_level`` orders is merged into one.
- **Stress.** While the realized volatility of the centre's input (the mid) over
  ``stress_window_s`` exceeds ``stress_vol_bps`` per sqrt(minute), the nearest levels whose
  cumulative depth is at most ``stress_pullback * depth_notional`` are cancelled; when calm
  again they start empty and come back at the refill rate.
- **Economy.** A level moves only when its target price is more than ``hysteresis_bps`` from
  where it rests (cancel and replace at the new price, same lots). A side that is full and
  unfilled since its last pass, whose centre moved less than the slack its levels left, is
  skipped in O(1): a step costs time in proportion to the levels it touches.

Quotes are POST_ONLY and a level that would cross the book is skipped until the next step.
The perpetual's provider acts in ``stages.MAKER``, created after the market makers so it acts
after them; the spot one in ``stages.SPOT``. It draws no randomness.
"""

from __future__ import annotations

import math

from agents import stages
from agents.base import Trader, limit_ticks
from agents.market_maker import RealizedVol
from agents.params import LatentLiquidityParams
from sim.exchange import BUY, POST_ONLY, SELL, Status
from sim.model import MarketModel

BPS = 1e-4


def depth_exponent(near_far_ratio: float) -> float:
    """Return ``beta`` with ``(10 / 100) ** beta = near_far_ratio``: ``ln(ratio) / ln(0.1)``."""
    return math.log(near_far_ratio) / math.log(10.0 / 100.0)


def level_offsets_bps(params: LatentLiquidityParams) -> list[float]:
    """Return the ``levels`` offsets (bp), geometric from ``min_offset_bps`` to ``max``."""
    lo, hi, n = params.min_offset_bps, params.max_offset_bps, params.levels
    return [lo * (hi / lo) ** (k / (n - 1)) for k in range(n)]


def cumulative_depth(offset_bps: float, params: LatentLiquidityParams) -> float:
    """Return ``D(x) = depth_notional * (x / max_offset_bps) ** beta`` (USD, one side)."""
    x = min(offset_bps, params.max_offset_bps) / params.max_offset_bps
    return params.depth_notional * x ** depth_exponent(params.near_far_ratio)


def level_notionals(params: LatentLiquidityParams) -> list[float]:
    """Return the USD of each level, nearest first: ``D(x_k) - D(x_(k-1))``, ``D(x_0)`` first."""
    cum = [cumulative_depth(x, params) for x in level_offsets_bps(params)]
    return [cum[0]] + [b - a for a, b in zip(cum, cum[1:], strict=False)]


def withdrawn_levels(params: LatentLiquidityParams) -> int:
    """Return how many of the nearest levels stress pulls: those whose cumulative depth is at
    most ``stress_pullback * depth_notional``."""
    limit = params.stress_pullback * params.depth_notional * (1.0 + 1e-9)
    return sum(1 for x in level_offsets_bps(params) if cumulative_depth(x, params) <= limit)


class _Level:
    """One level of one side: where it rests and the orders that make it."""

    __slots__ = ("offset", "notional", "price", "orders")

    def __init__(self, offset: float, notional: float) -> None:
        self.offset = offset  # a fraction of the centre
        self.notional = notional  # USD at full size
        self.price = 0  # ticks where the orders rest, 0 when none
        self.orders: list[int] = []


class _Side:
    __slots__ = ("side", "levels", "lots", "centre", "slack")

    def __init__(self, side: int, levels: list[_Level]) -> None:
        self.side = side
        self.levels = levels
        self.lots = -1  # resting lots after the last full pass; -1 forces a pass
        self.centre = 0.0  # the centre at the last full pass
        self.slack = 0.0  # USD the centre may move before a level leaves its hysteresis


class LatentLiquidity(Trader):
    """One latent-liquidity provider with one account on ``venue``.

    Args:
        model: the market.
        params: its parameters (``count`` is the builder's business: one agent each).
        venue: "perp" (acts in stages.MAKER) or "spot" (in stages.SPOT).

    Attributes:
        centre: the slow reference price (USD), None before the first step.
        stressed: True while realized volatility keeps the nearest levels pulled.
        messages_sent: order entries and cancels the exchange accepted.
    """

    kind = "latent_liquidity"
    stage = stages.MAKER

    def __init__(self, model: MarketModel, params: LatentLiquidityParams,
                 venue: str = "perp") -> None:
        super().__init__(model)
        self.params = params
        self.trade_on(venue)
        self.account = int(self.open_accounts(1, params.wallet, params.leverage, venue)[0])
        self.vol = RealizedVol(params.stress_window_s, model.step_s)
        self.alpha = 1.0 - 2.0 ** (-model.step_s / params.reference_half_life_s)
        self.refill_share = min(1.0, model.step_s / params.refill_s)
        self._share = self.refill_share
        self.n_withdrawn = withdrawn_levels(params)
        self.centre: float | None = None
        self.stressed = False
        self.messages_sent = 0
        self._tick = self.exchange.config.tick_size
        self._lot = self.exchange.config.lot_size
        offsets = [x * BPS for x in level_offsets_bps(params)]
        notionals = level_notionals(params)
        self._sides = [_Side(side, [_Level(x, n) for x, n in zip(offsets, notionals, strict=True)])
                       for side in (BUY, SELL)]

    # ------------------------------------------------------------------ the step

    def act(self) -> None:
        """Move the centre, check stress, then bring each side's levels toward their targets."""
        p = self.params
        mid = self.exchange.mid_price
        reference = mid if mid is not None else self.model.index
        self.vol.update(reference)
        if self.centre is None:  # the first ladder is built whole, not refilled
            self.centre = reference
            self._share = 1.0
        else:
            self._share = self.refill_share
            self.centre += self.alpha * (reference - self.centre)
        centre = self.centre
        if p.inventory_skew_bps_per_musd:
            held_musd = self.exchange.position_lots(self.account) * self._lot * reference / 1e6
            centre *= math.exp(-p.inventory_skew_bps_per_musd * BPS * held_musd)
        stressed = self.vol.per_s * math.sqrt(60.0) > p.stress_vol_bps * BPS
        if stressed != self.stressed:
            self.stressed = stressed
            for book_side in self._sides:
                book_side.lots = -1
        for book_side in self._sides:
            self._sync(book_side, centre)

    def level_lots(self, side: int) -> list[tuple[int, int]]:
        """Return (price in ticks, resting lots) of each level of ``side``, nearest first
        (price 0 for a level with nothing resting)."""
        ex = self.exchange
        book_side = self._sides[0 if side == BUY else 1]
        return [(lv.price, sum(ex.order_resting_lots(o) for o in lv.orders))
                for lv in book_side.levels]

    def target_lots(self, notional: float, price_ticks: int) -> int:
        """Return the lots ``notional`` USD buys at ``price_ticks``, floored."""
        return int(notional / (price_ticks * self._tick) / self._lot + 1e-9)

    # ------------------------------------------------------------------ internals

    def _sync(self, book_side: _Side, centre: float) -> None:
        ex = self.exchange
        account = self.account
        side = book_side.side
        if (book_side.lots >= 0 and ex.resting_lots(account, side) == book_side.lots
                and abs(centre - book_side.centre) < book_side.slack):
            return  # full, untouched, and no level can have left its hysteresis band
        band = self.params.hysteresis_bps * BPS * centre
        slack = math.inf
        full = True
        for k, level in enumerate(book_side.levels):
            if self.stressed and k < self.n_withdrawn:
                self._cancel(level)
                continue
            target = limit_ticks(centre * (1.0 - side * level.offset), side, self._tick)
            if target <= 0:
                continue
            live = [o for o in level.orders if ex.order_resting_lots(o) > 0]
            resting = sum(ex.order_resting_lots(o) for o in live)
            level.orders = live
            if not live:
                level.price = 0
            moved = live and abs(target - level.price) * self._tick > band
            price = target if (moved or not live) else level.price
            missing = self.target_lots(level.notional, price) - resting
            refill = math.ceil(missing * self._share - 1e-9) if missing > 0 else 0
            lots = refill
            if moved or (refill and len(live) >= self.params.max_orders_per_level):
                self._cancel(level)  # one order of resting + refill at the (new) price
                lots += resting
            placed = lots <= 0 or self._place(level, side, price, lots)
            full = full and placed and refill >= missing
            if level.price:
                # (1 + x) bounds how much the target moves per USD of the centre.
                slack = min(slack, (band - abs(target - level.price) * self._tick)
                            / (1.0 + level.offset))
        book_side.centre = centre
        book_side.slack = max(slack, 0.0)
        book_side.lots = ex.resting_lots(account, side) if full else -1

    def _place(self, level: _Level, side: int, price: int, lots: int) -> bool:
        """Rest ``lots`` post-only at ``price`` for ``level``; return False if not placed."""
        ex = self.exchange
        opposite = ex.best_ask_ticks() if side == BUY else ex.best_bid_ticks()
        if opposite is not None and (price - opposite) * side >= 0:
            return False  # post-only would be rejected
        result = ex.submit(self.account, side, POST_ONLY, lots, price)
        if result.status is not Status.OK:
            return False
        self.messages_sent += 1
        level.orders.append(result.order_id)
        level.price = price
        return True

    def _cancel(self, level: _Level) -> None:
        ex = self.exchange
        for oid in level.orders:
            if ex.cancel(self.account, oid) is Status.OK:
                self.messages_sent += 1
        level.orders = []
        level.price = 0


__all__ = ["LatentLiquidity", "cumulative_depth", "depth_exponent", "level_notionals",
           "level_offsets_bps", "withdrawn_levels"]
