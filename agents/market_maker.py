"""Market makers that learn a fair value from order flow and quote a ladder around it,
skewed by inventory.

**The fair value** ``F`` is the maker's own, moved by what it sees (price formation through
liquidity providers who learn from order flow):

- *Learning from flow* (Kyle 1985, 'Continuous auctions and insider trading': the price moves
  by lambda per unit of net order flow). Each step the signed taker flow ``f`` of its venue
  and ``cross_venue_weight`` times the other venues' flow summed (``model.taker_flow_usd``:
  for a spot maker the perpetual's and every other spot venue's, for a perp maker every spot
  venue's) moves ``log F`` by ``lambda_t * (G(Phi + f) - G(Phi))``, where ``Phi`` is the
  flow remembered with half-life ``flow_memory_s`` and ``G(Phi) = sign(Phi) 2 Phi0 (sqrt(1 +
  |Phi| / Phi0) - 1)`` with ``Phi0 = concavity_notional``. For flow small against ``Phi0``,
  ``G`` is linear (Kyle); a long run of one-sided flow, which a maker reads as one
  metaorder, moves the price as its square root, the concave impact of fairly priced
  metaorders (Farmer, Gerig, Lillo & Waelbroeck 2013, 'How efficiency shapes market impact';
  Toth et al. 2011, the square-root law). The moves are permanent: nothing in ``G`` decays
  back, only the memory fades.
- *No move past the prices paid* (Glosten & Milgrom 1985: after a buy the expected value is
  the ask the buyer paid): net buying moves ``F`` up at most to the highest price a taker
  bought at in the step on the maker's own venue (``model.taker_buy_high``), and never down;
  net selling down at most to the lowest price a taker sold at there. A crowd of informed
  traders who each buy up to their own valuation in the same step cannot push ``F`` past
  those valuations, so the learning cannot overshoot them and swing back; flow on another
  venue tilts ``F`` only as far as its own takers confirm (a cascade on the perpetual reaches
  spot through the traders who carry it there, not through the spot makers' arithmetic).
- ``lambda_t = impact_bps_per_musd * 1e-10 * v * d``: ``v = min(impact_max_vol_multiple,
  max(1, vol / reference_vol))`` grows with realized volatility (of ``F`` itself), ``d = clip(
  reference_depth_notional / visible depth, 1/k, k)``, ``k = impact_max_depth_multiple``,
  shrinks with the resting depth within ``depth_band_bps`` of the mid on both sides.
- *Anchoring*: then ``F`` is pulled toward ``A = index_weight * anchor + (1 - index_weight) *
  mid`` by a share ``1 - 2 ** (-step_s / anchor_half_life_s)`` (all of it at half-life 0). The
  anchor is the index on the perpetual (its makers hedge on spot) and the perpetual's mid on
  spot (``anchor: perp``: the perpetual leads price discovery). The mid falls back to the
  anchor when a side of the book is empty or the spread is wider than ``max_mid_spread_bps``:
  a hollow book's mid says nothing about value. ``anchor: fundamental`` is the pinned market's
  spot maker, which quotes the fundamental value itself (``impact_bps_per_musd: 0``, half-life
  0, weight 1): the index then adds nothing to its input. With ``anchor: none`` there is no
  pull: the fair value moves by flow only, and realized volatility is read off the fair value
  itself (off the mid, pulled quotes would hollow the book and keep themselves pulled).

**The quotes** follow Avellaneda & Stoikov (2008), 'High-frequency trading in a limit order
book': centred on a *reservation price*, the fair price shifted against inventory, with a
spread that widens with volatility. In relative terms,

- half spread ``h = half_spread_bps * (1 + vol_spread_mult * max(0, vol / reference_vol - 1))``
  with ``vol`` the per-second realized volatility of the log anchor over ``vol_window_s``.
  The anchor, not the maker's own book: were it the mid, pulled quotes would hollow the book,
  its mid would jump, and the jumps would keep the quotes pulled;
- reservation ``r = F * (1 - inventory_aversion * h * q)``, ``q = inventory / max_inventory``
  clipped to +-``inventory_hard_limit`` (``L``), the shift capped at ``max_skew_bps``;
- bids at ``r * (1 - h_bid)`` and asks at ``r * (1 + h_ask)``, then ``levels - 1`` more levels
  per side, ``level_spacing_bps`` apart. At ``|q| >= L`` only the side that reduces the
  inventory is quoted. With ``L > 1``, between the inventory limit and ``L`` the side that
  would add to the inventory widens, ``h * (1 + inventory_widen * (|q| - 1))``, while the skew
  keeps shifting both sides: the maker leans instead of leaving a side empty. (``L = 1``, the
  default, withdraws the adding side at the limit.) Quotes are pulled while realized vol
  exceeds ``pull_vol_bps`` or while paused.
- a resting order more than ``take_edge_bps`` through the fair price (a bid above it, an ask
  below it) is taken with an IOC at each requote, within the inventory limit
  (``take_stale_quotes``): the one case where a maker pays the taker fee.

Message economy. Levels sit on a fixed price grid whose step is the level spacing (anchored at
tick 0): the inner bid is the grid price nearest ``r * (1 - h)``, the inner ask the grid price
nearest ``r * (1 + h)`` (and at least one step above the bid), with a hysteresis of
``quote_hysteresis_steps`` steps. So the quoted half spread is ``h`` on average, within about half a
spacing either way; a small move of the fair price changes nothing, and a move of one grid
step costs four messages (one cancel and one new order per side), not ``4 * levels``.
A requote diffs the wanted ladder against the resting orders and cancels or places only what
differs; an order whose remaining size fell below ``1 - size_tolerance`` of its level size is
replaced. When the ladder is unchanged and no quote was touched the requote sends nothing;
while the fair price stays inside a band where no inner quote can move (computed at each full
requote), even the ladder arithmetic is skipped.

Quotes are POST_ONLY: a quote never takes liquidity. When someone else's quote is inside
the maker's ladder, a crossing LIMIT would trade at the taker fee and move the price by
itself; a post-only level is skipped instead (and retried next requote). Only a quote more
than ``take_edge_bps`` through the fair price is taken, on purpose, by ``take_stale_quotes``.
"""

from __future__ import annotations

import math

from agents import stages
from agents.base import Trader, limit_ticks
from agents.params import MarketMakerParams
from sim.exchange import BUY, IOC, POST_ONLY, SELL, Status
from sim.model import MarketModel

BPS = 1e-4
_EPS = 1e-9  # absorbs float error when a price falls exactly on a grid point


class RealizedVol:
    """Per-second realized volatility of a price's log returns over a sliding window.

    Realized variance is the sum of squared log returns (Andersen & Bollerslev 1998); divided
    by the window's length in seconds it gives a per-second variance. O(1) per update: a ring
    buffer of squared returns and their running sum, re-summed exactly once per lap.

    Args:
        window_s: the window's length in seconds.
        step_s: seconds between updates.
    """

    def __init__(self, window_s: float, step_s: float) -> None:
        self.step_s = float(step_s)
        self._squares = [0.0] * max(1, int(round(window_s / step_s)))
        self._i = 0
        self._count = 0
        self._total = 0.0
        self._last_log: float | None = None

    def update(self, price: float) -> None:
        """Add the return from the previous price to ``price`` (USD, > 0)."""
        log_price = math.log(price)
        if self._last_log is not None:
            square = (log_price - self._last_log) ** 2
            self._total += square - self._squares[self._i]
            self._squares[self._i] = square
            self._i = (self._i + 1) % len(self._squares)
            self._count = min(self._count + 1, len(self._squares))
            if self._i == 0:
                self._total = math.fsum(self._squares)
        self._last_log = log_price

    @property
    def per_s(self) -> float:
        """Return the realized volatility per second (a fraction; 0 before two updates)."""
        if self._count == 0:
            return 0.0
        return math.sqrt(max(self._total, 0.0) / (self._count * self.step_s))


def _round_half_up(x: float) -> int:
    """Return the nearest integer to ``x``, halves up (not Python's round-half-even)."""
    return math.floor(x + 0.5 + _EPS)


def half_spread(vol_per_s: float, params: MarketMakerParams) -> float:
    """Return the half spread (a fraction) widened by realized volatility above the reference."""
    excess = max(0.0, vol_per_s / (params.reference_vol_bps * BPS) - 1.0)
    return params.half_spread_bps * BPS * (1.0 + params.vol_spread_mult * excess)


def inventory_ratio(inventory_notional: float, params: MarketMakerParams) -> float:
    """Return ``q = inventory / max_inventory_notional`` clipped to +-``inventory_hard_limit``."""
    bound = params.inventory_hard_limit
    return max(-bound, min(bound, inventory_notional / params.max_inventory_notional))


def reservation_price(fair: float, inventory_notional: float, half: float,
                      params: MarketMakerParams) -> float:
    """Return the fair price shifted against inventory (Avellaneda-Stoikov reservation price)."""
    q = inventory_ratio(inventory_notional, params)
    cap = params.max_skew_bps * BPS
    return fair * (1.0 - max(-cap, min(cap, params.inventory_aversion * half * q)))


def concave_flow(flow_memory: float, concavity_notional: float) -> float:
    """Return ``G(Phi) = sign(Phi) * 2 Phi0 (sqrt(1 + |Phi| / Phi0) - 1)`` (USD): linear for
    small ``Phi``, the square root of it for large (the square-root law of impact)."""
    phi0 = concavity_notional
    return math.copysign(2.0 * phi0 * (math.sqrt(1.0 + abs(flow_memory) / phi0) - 1.0),
                         flow_memory)


def grid_ticks(price: float, tick_size: float, params: MarketMakerParams) -> int:
    """Return the level spacing in ticks at ``price`` (at least one tick)."""
    return max(1, int(round(params.level_spacing_bps * BPS * price / tick_size)))


def quote_bounds(fair: float, inventory_notional: float, vol_per_s: float,
                 params: MarketMakerParams) -> tuple[float, float]:
    """Return the unrounded inner bid and ask, ``r * (1 - h_bid)`` and ``r * (1 + h_ask)``
    (USD): past the inventory limit the side that adds to the inventory is widened by
    ``1 + inventory_widen * (|q| - 1)``."""
    half = half_spread(vol_per_s, params)
    r = reservation_price(fair, inventory_notional, half, params)
    q = inventory_ratio(inventory_notional, params)
    widen = half * (1.0 + params.inventory_widen * max(0.0, abs(q) - 1.0))
    bid_half, ask_half = (widen, half) if q > 0 else (half, widen)
    return r * (1.0 - bid_half), r * (1.0 + ask_half)


def quoted_sides(inventory_notional: float, params: MarketMakerParams) -> tuple[int, int]:
    """Return the levels quoted on (bid, ask): at the hard limit (``inventory_hard_limit``
    times the inventory limit), only the side that reduces the inventory."""
    n = params.levels
    hard_limit = params.inventory_hard_limit * params.max_inventory_notional
    if inventory_notional >= hard_limit:
        return 0, n
    if inventory_notional <= -hard_limit:
        return n, 0
    return n, n


def ladder(inner_ticks: int, side: int, n: int, grid: int) -> list[int]:
    """Return ``n`` prices (ticks) from ``inner_ticks`` away from the spread, best first."""
    step = -grid if side == BUY else grid
    return [price for price in range(inner_ticks, inner_ticks + n * step, step) if price > 0]


def quote_ladder(fair: float, inventory_notional: float, vol_per_s: float,
                 params: MarketMakerParams, tick_size: float,
                 grid: int) -> tuple[list[int], list[int]]:
    """Return (bid prices, ask prices) in ticks, best first, on the grid of step ``grid``.

    The inner quotes are the grid prices nearest ``quote_bounds``; a side is empty when the
    inventory limit allows only the other side. (A running maker adds hysteresis to this.)
    """
    bid, ask = quote_bounds(fair, inventory_notional, vol_per_s, params)
    bid0 = _round_half_up(bid / tick_size / grid) * grid
    ask0 = max(_round_half_up(ask / tick_size / grid) * grid, bid0 + grid)
    n_bids, n_asks = quoted_sides(inventory_notional, params)
    return ladder(bid0, BUY, n_bids, grid), ladder(ask0, SELL, n_asks, grid)


class _Side:
    """The resting quotes of one side and what the last sync left there."""

    __slots__ = ("side", "quotes", "inner", "key", "lots", "slack")

    def __init__(self, side: int) -> None:
        self.side = side
        self.quotes: dict[int, int] = {}  # price (ticks) -> order id
        self.inner = 0  # the inner price last chosen (ticks), 0 before any
        self.key: tuple | None = None  # (inner, levels, grid) of the last complete sync
        self.lots = 0  # lots resting after the last sync
        self.slack = 0  # lots any one quote may lose before it must be replaced

    def intact(self, lots_now: int) -> bool:
        """Return True if every quote of the last complete sync still rests at keep size.

        Fills only take lots away, and no quote can have lost more than all the lots lost,
        so a loss within the slack leaves every quote live and at or above its keep size.
        """
        return self.key is not None and 0 <= self.lots - lots_now <= self.slack


class MarketMaker(Trader):
    """One market maker with one account, quoting ``levels`` post-only levels per side.

    Args:
        model: the market.
        params: quoting parameters (``MarketMakerParams``; ``count`` is the builder's business:
            one agent per maker).
        venue: "perp" (acts in stages.MAKER) or a spot venue ("spot", "spot1", ...: quotes
            that book in stages.SPOT).

    Attributes:
        fair: the fair value (USD) the quotes are centred on before the inventory skew.
        flow_memory: the signed taker flow remembered (USD), ``Phi`` of the module docstring
            (kept by a learning maker only).
        messages_sent: order entries and cancels the exchange accepted from this maker.
        paused: True between ``pause()`` and ``resume()``.
        pulled: True while realized volatility keeps the quotes pulled.
    """

    kind = "market_maker"
    stage = stages.MAKER

    def __init__(self, model: MarketModel, params: MarketMakerParams,
                 venue: str = "perp") -> None:
        super().__init__(model)
        self.params = params
        self.trade_on(venue)
        self.account = int(self.open_accounts(1, params.wallet, params.leverage, venue)[0])
        self.vol = RealizedVol(params.vol_window_s, model.step_s)
        self.paused = False
        self.pulled = False
        self.messages_sent = 0
        self._tick = self.exchange.config.tick_size
        self._lot = self.exchange.config.lot_size
        self._next_requote_t = model.t
        self._cascade_t = -1.0  # the step of the cascade last responded to
        self._reacted_ms = 0.0
        self._grid = 0
        self._grid_price = 0.0
        self._levels: dict[int, tuple[int, int]] = {}  # price -> (lots, keep lots)
        self._bids = _Side(BUY)
        self._asks = _Side(SELL)
        self._band: tuple[float, float, int] | None = None  # (fair, half width USD, position)
        self._other_venues = tuple(name for name in model.taker_flow_usd if name != venue)
        self._memory_keep = 0.5 ** (model.step_s / params.flow_memory_s)
        if params.anchor == "none":
            self._pull = 0.0
        elif params.anchor_half_life_s == 0:
            self._pull = 1.0
        else:
            self._pull = 1.0 - 0.5 ** (model.step_s / params.anchor_half_life_s)
        self.fair = model.index if params.anchor == "none" else self.anchor_price()
        self.flow_memory = 0.0

    # ------------------------------------------------------------------ the step

    def anchor_price(self) -> float:
        """Return the price the fair value is pulled to: the index, the perpetual's mid (its
        last price, else the index, when the perpetual's book has an empty side), or the
        fundamental value. With no anchor, the maker's own fair value (read for volatility
        only)."""
        m = self.model
        anchor = self.params.anchor
        if anchor == "index":
            return m.index
        if anchor == "none":
            return self.fair
        if anchor == "perp":
            return m.perp.mid_price or m.perp.last_price or m.index
        return m.fundamental.price

    def anchor_target(self, mid: float | None = None) -> float:
        """Return ``A = index_weight * anchor + (1 - index_weight) * mid`` (mid defaults to the
        anchor)."""
        anchor = self.anchor_price()
        w = self.params.index_weight
        return w * anchor + (1.0 - w) * (anchor if mid is None else mid)

    def learn(self, mid: float | None) -> None:
        """Move the fair value by the last step's taker flow, then pull it toward the anchor
        target (the module docstring's two rules)."""
        p = self.params
        if p.impact_bps_per_musd > 0.0:
            m = self.model
            # With one spot venue the sum has one term: the same float as the term itself.
            other = sum(m.taker_flow_usd[name] for name in self._other_venues)
            flow = m.taker_flow_usd[self.venue] + p.cross_venue_weight * other
            remembered = self.flow_memory * self._memory_keep
            if flow != 0.0:
                moved = (concave_flow(remembered + flow, p.concavity_notional)
                         - concave_flow(remembered, p.concavity_notional))
                self.fair = self._within_prices_paid(
                    self.fair, self.fair * math.exp(self.impact_per_usd(mid) * moved), flow)
            self.flow_memory = remembered + flow
        if self._pull == 1.0:
            self.fair = self.anchor_target(mid)
        else:
            self.fair += self._pull * (self.anchor_target(mid) - self.fair)

    def _within_prices_paid(self, old: float, new: float, flow: float) -> float:
        """Return ``new`` bounded by the step's taker prices on the maker's venue (the
        Glosten-Milgrom rule of the module docstring): for net buying within ``[old, max(old,
        highest bought)]``, for net selling within ``[min(old, lowest sold), old]``."""
        if flow > 0.0:
            paid = self.model.taker_buy_high[self.venue]
            return old if math.isnan(paid) else min(max(new, old), max(old, paid))
        paid = self.model.taker_sell_low[self.venue]
        return old if math.isnan(paid) else max(min(new, old), min(old, paid))

    def impact_per_usd(self, mid: float | None) -> float:
        """Return ``lambda_t``, the log move per USD of flow: the base impact times the
        realized-volatility multiple ``v`` and the depth multiple ``d``."""
        p = self.params
        vol_multiple = min(p.impact_max_vol_multiple,
                           max(1.0, self.vol.per_s / (p.reference_vol_bps * BPS)))
        depth = self.visible_depth_usd(mid if mid is not None else self.fair)
        cap = p.impact_max_depth_multiple
        depth_multiple = min(cap, max(1.0 / cap, p.reference_depth_notional / max(depth, 1.0)))
        return p.impact_bps_per_musd * BPS * 1e-6 * vol_multiple * depth_multiple

    def visible_depth_usd(self, mid: float) -> float:
        """Return the resting notional within ``depth_band_bps`` of ``mid``, both sides (USD)."""
        band = self.params.depth_band_bps * BPS
        ex = self.exchange
        _, ask_value = ex.depth_to_price(BUY, math.ceil(mid * (1.0 + band) / self._tick))
        _, bid_value = ex.depth_to_price(SELL, math.floor(mid * (1.0 - band) / self._tick))
        return (ask_value + bid_value) * self._tick * self._lot

    def inventory_notional(self, price: float) -> float:
        """Return the signed position notional at ``price`` (USD)."""
        return self.exchange.position_lots(self.account) * self._lot * price

    def act(self) -> None:
        """Update realized volatility and the fair value; requote when the cadence says so.

        A learning maker reads realized volatility off its own fair value, any other maker off
        its anchor: never off the book, whose mid jumps when quotes are pulled."""
        learning = self.params.impact_bps_per_musd > 0.0
        self.vol.update(self.fair if learning else self.anchor_price())
        mid = self.usable_mid()
        self.learn(mid)
        if self.paused or self.model.t + _EPS < self._next_requote_t:
            return
        self._next_requote_t = self.model.t + self.params.requote_s
        self.requote()

    def respond_to_cascade(self, elapsed_ms: float) -> None:
        """Between two trigger passes of a cascade ``elapsed_ms`` old (``sim.model``, micro-time):
        requote once ``reaction_ms`` has passed since the maker's last requote in this step,
        around the fair value it holds (it learns from the step's flow at its next ``act``),
        with the inventory the cascade left it."""
        if self.paused:
            return
        if self._cascade_t != self.model.t:
            self._cascade_t, self._reacted_ms = self.model.t, 0.0
        if elapsed_ms - self._reacted_ms + _EPS < self.params.reaction_ms:
            return
        self._reacted_ms = elapsed_ms
        self.requote()

    def usable_mid(self) -> float | None:
        """Return the book's mid (USD), or None when a side is empty or the spread is wider
        than ``max_mid_spread_bps``."""
        ex = self.exchange
        bid, ask = ex.best_bid_ticks(), ex.best_ask_ticks()
        if (bid is None or ask is None
                or (ask - bid) > self.params.max_mid_spread_bps * BPS * 0.5 * (ask + bid)):
            return None
        return 0.5 * (bid + ask) * self._tick

    def requote(self) -> None:
        """Bring the resting quotes to the wanted ladder around ``fair``, sending only the
        differences."""
        p = self.params
        vol = self.vol.per_s
        if vol > p.pull_vol_bps * BPS:
            self.pulled = True
            self.cancel_all()
            return
        self.pulled = False
        fair = self.fair
        self.take_stale_quotes(fair)
        if self._within_band(fair, vol):
            return  # the ladder cannot have changed and no quote was touched beyond tolerance
        grid = self._grid_step(fair)
        inventory = self.inventory_notional(fair)
        bid, ask = quote_bounds(fair, inventory, vol, p)
        bids, asks = self._bids, self._asks
        bid_x, ask_x = bid / self._tick / grid, ask / self._tick / grid  # in grid steps
        bid0 = self._inner_price(bids, bid_x, grid)
        ask0 = self._inner_price(asks, ask_x, grid)
        forced = ask0 <= bid0
        if forced:
            ask0 = asks.inner = bid0 + grid
        n_bids, n_asks = quoted_sides(inventory, p)
        bid_key, ask_key = (bid0, n_bids, grid), (ask0, n_asks, grid)
        ex = self.exchange
        bid_lots = ex.resting_lots(self.account, BUY)
        ask_lots = ex.resting_lots(self.account, SELL)
        bids_intact, asks_intact = bids.intact(bid_lots), asks.intact(ask_lots)
        stale = []
        if not (bids_intact and bid_key == bids.key):
            stale.append((bids, bid_key, bid_lots if bids_intact else -1))
        if not (asks_intact and ask_key == asks.key):
            stale.append((asks, ask_key, ask_lots if asks_intact else -1))
        if stale:
            self._sync(stale)
        self._band = None
        # A maker that leans past its limit widens its adding side there, which the slope
        # below leaves out: no shortcut while it does.
        leaning = (p.inventory_hard_limit > 1.0
                   and abs(inventory) >= p.max_inventory_notional)
        if not forced and bids.key == bid_key and asks.key == ask_key and \
                vol <= p.reference_vol_bps * BPS and not leaning:
            # How far the fair price may move before either inner quote leaves its
            # hysteresis band: the distance left, in grid steps, over the steepest slope of
            # the target in steps per USD, (1 + h)(1 + 2 * aversion * h) / (tick * grid).
            h = p.half_spread_bps * BPS
            room = (0.5 + p.quote_hysteresis_steps
                    - max(abs(bid_x - bid0 / grid), abs(ask_x - ask0 / grid)))
            slope = (1.0 + h) * (1.0 + 2.0 * p.inventory_aversion * h) / (self._tick * grid)
            if room > 0:
                self._band = (fair, room / slope * (1.0 - 1e-9), ex.position_lots(self.account))

    def take_stale_quotes(self, fair: float) -> None:
        """Hit a best bid above ``fair * (1 + take_edge)``, or lift a best ask below
        ``fair * (1 - take_edge)``, with an IOC limited to that price.

        A resting order that far through the fair price is free edge (a whale's closing bids
        left behind by a falling index, say); left alone, it pins the last price away from
        the index, because post-only quotes may not trade with it. The IOC is as large as one
        side of the ladder (``levels * level_notional``) and stays within the inventory limit.
        """
        p = self.params
        if p.take_edge_bps <= 0:
            return
        ex = self.exchange
        edge = p.take_edge_bps * BPS
        for side, touch in ((SELL, ex.best_bid_ticks()), (BUY, ex.best_ask_ticks())):
            if touch is None:
                continue
            limit = fair * (1.0 - side * edge)  # sell no lower / buy no higher than this
            if (touch * self._tick - limit) * -side <= 0:
                continue
            room = p.max_inventory_notional - side * self.inventory_notional(fair)
            lots = int(min(room, p.levels * p.level_notional) / (fair * self._lot))
            if lots <= 0:
                continue
            price = limit_ticks(limit, side, self._tick)
            if ex.submit(self.account, side, IOC, lots, price).status is Status.OK:
                self.messages_sent += 1
            self._band = None

    def _within_band(self, fair: float, vol: float) -> bool:
        """Return True if the last ladder still holds: a shortcut of the full requote.

        It holds while the half spread is at its base (vol at or under the reference), the
        position is unchanged, the fair price stays inside the band computed at the last full
        requote, and both sides are intact.
        """
        band = self._band
        if (band is None or abs(fair - band[0]) >= band[1]
                or vol > self.params.reference_vol_bps * BPS):
            return False
        ex = self.exchange
        if ex.position_lots(self.account) != band[2]:
            return False
        return (self._bids.intact(ex.resting_lots(self.account, BUY))
                and self._asks.intact(ex.resting_lots(self.account, SELL)))

    def pause(self) -> None:
        """Cancel every quote and stop quoting (a scheduled maker withdrawal)."""
        self.paused = True
        self.cancel_all()

    def resume(self) -> None:
        """Quote again from the next step."""
        self.paused = False
        self._next_requote_t = self.model.t

    def cancel_all(self) -> None:
        """Cancel every resting quote."""
        ex = self.exchange
        for book_side in (self._bids, self._asks):
            for oid in book_side.quotes.values():
                if ex.cancel(self.account, oid) is Status.OK:
                    self.messages_sent += 1
            book_side.quotes.clear()
            book_side.key = None
        self._band = None

    def quotes(self, side: int) -> dict[int, int]:
        """Return this maker's resting quotes on ``side`` as {price in ticks: order id}."""
        return dict((self._bids if side == BUY else self._asks).quotes)

    def level_lots(self, price_ticks: int) -> int:
        """Return the lots of a level at ``price_ticks``: ``level_notional / price``, floored."""
        return self._level(price_ticks)[0]

    # ------------------------------------------------------------------ internals

    def _grid_step(self, price: float) -> int:
        rebase = self.params.grid_rebase_fraction
        if self._grid == 0 or abs(price / self._grid_price - 1.0) > rebase:
            grid = grid_ticks(price, self._tick, self.params)
            if grid != self._grid:
                self._bids.inner = self._asks.inner = 0
            self._grid = grid
            self._grid_price = price
        return self._grid

    def _inner_price(self, book_side: _Side, target: float, grid: int) -> int:
        """Return the inner quote (ticks) nearest ``target`` (grid units), with hysteresis."""
        previous = book_side.inner
        if previous and abs(target - previous / grid) <= 0.5 + self.params.quote_hysteresis_steps:
            return previous
        book_side.inner = inner = _round_half_up(target) * grid
        return inner

    def _level(self, price_ticks: int) -> tuple[int, int]:
        """Return (lots, fewest lots a partly filled quote keeps) for a level's price."""
        level = self._levels.get(price_ticks)
        if level is None:
            if len(self._levels) > 4096:
                self._levels.clear()
            lots = int(self.params.level_notional / (price_ticks * self._tick) / self._lot + _EPS)
            keep = math.ceil((1.0 - self.params.size_tolerance) * lots)
            level = self._levels[price_ticks] = (lots, keep)
        return level

    def _sync(self, stale: list[tuple[_Side, tuple, int]]) -> None:
        """Cancel the stale quotes of the sides in ``stale``, then place the missing ones.

        ``stale`` holds (side, its wanted ladder key, its resting lots if the side is intact
        else -1). All cancels go first, so that a new bid never meets this maker's own old
        ask. On an intact side only prices that left the ladder are cancelled; otherwise each
        quote is checked and one that was filled under its keep size is replaced. A level that
        would cross the book is left out until the ladder next moves; a side where margin ran
        short is retried at the next requote. Each side records the lots left resting and its
        slack: the fewest lots any one quote can still lose before it falls under keep size.
        """
        ex = self.exchange
        account = self.account
        wanted = [ladder(key[0], book_side.side, key[1], key[2]) for book_side, key, _ in stale]
        slacks = []
        for (book_side, _, lots_now), prices in zip(stale, wanted, strict=True):
            quotes = book_side.quotes
            if lots_now >= 0:  # intact: every quote is live and big enough
                slack = book_side.slack - (book_side.lots - lots_now)
                for price in [price for price in quotes if price not in prices]:
                    if ex.cancel(account, quotes.pop(price)) is Status.OK:
                        self.messages_sent += 1
                slacks.append(slack)
                continue
            slack = 1 << 62
            for price, oid in list(quotes.items()):
                lots_left = ex.order_resting_lots(oid)
                live = lots_left > 0
                if live and price in prices:
                    left = lots_left - self._level(price)[1]
                    if left >= 0:
                        slack = min(slack, left)
                        continue
                if live and ex.cancel(account, oid) is Status.OK:
                    self.messages_sent += 1
                del quotes[price]
            slacks.append(slack)
        for (book_side, key, _), prices, slack in zip(stale, wanted, slacks, strict=True):
            side = book_side.side
            quotes = book_side.quotes
            complete = True
            for price in prices:
                if price in quotes:
                    continue
                # Skip a level that would cross: post-only would reject it anyway.
                opposite = ex.best_ask_ticks() if side == BUY else ex.best_bid_ticks()
                if opposite is not None and (price - opposite) * side >= 0:
                    continue
                lots, keep_lots = self._level(price)
                if lots <= 0:
                    continue
                result = ex.submit(account, side, POST_ONLY, lots, price)
                if result.status is Status.OK:
                    quotes[price] = result.order_id
                    self.messages_sent += 1
                    slack = min(slack, lots - keep_lots)
                else:  # margin or position limit
                    complete = False
            book_side.key = key if complete else None
            book_side.lots = ex.resting_lots(account, side)
            book_side.slack = slack if quotes else 0


__all__ = ["MarketMaker", "RealizedVol", "concave_flow", "grid_ticks", "half_spread",
           "inventory_ratio", "ladder", "quote_bounds", "quote_ladder", "quoted_sides",
           "reservation_price"]
