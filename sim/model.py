"""The market model: a perpetual exchange, an index, and the agents that trade them.

One step (``step_s`` simulated seconds) is the story of DESIGN.md's data flow:

1. the clock advances, scheduled events fire, the fundamental value moves;
2. spot agents trade on the spot books and the index is read from them: the mid of the one
   book, or with a basket of venues the weighted mean of their mids, each clipped to a band
   around their median (``basket_index``); or the fundamental itself is the index
   (``exogenous``);
3. the perpetual's clock and index move (premium sample, mark price);
4. perpetual agents act in stage order (the roster and its order: ``agents.stages``);
5. the exchange settles: stops and liquidations cascade (with ``cascade_pass_ms`` in micro-time:
   pass by pass, the perp's makers requoting between passes once their reaction time has
   passed), funding at funding times;
6. the step's fills and liquidations are published, with each venue's signed taker flow and
   traded volume (``taker_flow_usd``, ``volume_usd``: what learning makers and participation
   caps read), the highest price a taker bought at and the lowest it sold at
   (``taker_buy_high``, ``taker_sell_low``: the bounds of a learning maker's move), and the
   perp's move and liquidated notional (``move_bps``, ``liquidated_usd``: what
   self-exciting crowds read); the recorder appends the step.

Agents are ``mesa.Agent`` objects with an integer ``stage`` and an ``act()`` method; they reach
the markets only through ``model.exchanges`` (``sim.exchange.Exchange`` by venue name): the
perpetual ``model.perp`` ("perp") and the spot venues ``model.spots``, the major one
``model.spot`` ("spot") first, then the basket's extra venues "spot1", "spot2", ... The model
knows one stage by name, ``SPOT_STAGE``: its agents act on the spot venues before the index is
read; every other stage is an agent's business, and the model only sorts by it.

Random streams (common random numbers): every component draws from its own Generator,
``model.random_stream(name)``, seeded by ``SeedSequence(seed, spawn_key=(crc32(name),))``. The
key depends on the name alone, so adding, removing or resizing one population never changes
another's draws. The fundamental draws from the stream ``"fundamental"``.
"""

from __future__ import annotations

import heapq
import math
import statistics
import zlib
from collections.abc import Callable, Sequence

import mesa
import numpy as np

from sim.exchange import Exchange, ExchangeConfig
from sim.fundamental import FundamentalProcess

SPOT_STAGE = 0  # agents of this stage act on the spot venues before the index is read

NO_OWNER = -1


def spot_venue_names(n_venues: int) -> list[str]:
    """Return the names of ``n_venues`` spot venues: "spot" (the major one), "spot1", ..."""
    return [f"spot{k}" if k else "spot" for k in range(n_venues)]


def basket_index(mids: Sequence[float], weights: Sequence[float], clip_bps: float) -> float:
    """Return the weighted mean of the venues' prices, each first clipped to the band
    ``median x (1 +/- clip_bps / 1e4)`` around the median of all of them.

    The median-capped index of the derivatives venues (Pionex, 'Index price'; Coinlocally,
    'Index Price': a source beyond median x (1 +/- 3 %) counts at that bound; Thalex, 'How is
    the index price calculated': +/- 0.5 %). One venue far from the others moves the index by
    at most its weight share of the band, however far it goes.
    """
    median = statistics.median(mids)
    low, high = median * (1.0 - clip_bps * 1e-4), median * (1.0 + clip_bps * 1e-4)
    total = sum(weight * min(max(mid, low), high)
                for mid, weight in zip(mids, weights, strict=True))
    return total / sum(weights)


class MarketModel(mesa.Model):
    """A perpetual-futures market driven by agents.

    Args:
        perp_config: the perpetual's contract and venue rules.
        fundamental: the fundamental value process.
        seed: the root seed; each component draws from its own ``random_stream``.
        spot_config: rules of the spot book whose mid is the index; None (and no
            ``spot_configs``) makes the fundamental value itself the index (``exogenous``).
        spot_configs: rules of each spot venue of a basket, the major venue first (instead of
            ``spot_config``).
        spot_weights: each venue's weight in the index (default 1 each).
        clip_bps: each venue's price counts at most this far from the venues' median.
        step_s: simulated seconds per step.
        cascade_pass_ms: simulated milliseconds one pass of the perp's stops and
            liquidations takes; above 0 the passes run one at a time and, between two, every
            perp agent with a ``respond_to_cascade(elapsed_ms)`` method may requote (cascades
            in micro-time); 0 runs every pass at once.

    Attributes:
        spots: the spot venues' exchanges, the major venue first; ``spot`` is the major one
            (None without a spot book); ``spot_names`` their names ("spot", "spot1", ...).
        exchanges: every venue's exchange by name, "perp" first.
        venue_mids: each spot venue's price as the last step's index read it: its mid, else
            its last price, else the fundamental value.
    """

    def __init__(self, perp_config: ExchangeConfig, fundamental: FundamentalProcess, *,
                 seed: int, spot_config: ExchangeConfig | None = None,
                 spot_configs: Sequence[ExchangeConfig] = (),
                 spot_weights: Sequence[float] | None = None, clip_bps: float = 100.0,
                 step_s: float = 1.0, cascade_pass_ms: float = 0.0) -> None:
        if not (isinstance(seed, int | np.integer) and seed >= 0):
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if not (math.isfinite(step_s) and step_s > 0):
            raise ValueError(f"step_s must be a finite number > 0, got {step_s!r}")
        if spot_config is not None and spot_configs:
            raise ValueError("give spot_config (one venue) or spot_configs (a basket), not both")
        configs = [spot_config] if spot_config is not None else list(spot_configs)
        weights = [1.0] * len(configs) if spot_weights is None else list(spot_weights)
        if len(weights) != len(configs) or not all(
                math.isfinite(w) and w > 0 for w in weights):
            raise ValueError(f"spot_weights must hold one finite weight > 0 per spot venue "
                             f"({len(configs)}), got {spot_weights!r}")
        if not (math.isfinite(cascade_pass_ms) and cascade_pass_ms >= 0):
            raise ValueError(f"cascade_pass_ms must be a finite number >= 0, "
                             f"got {cascade_pass_ms!r}")
        if not (math.isfinite(clip_bps) and clip_bps >= 0):
            raise ValueError(f"clip_bps must be a finite number >= 0, got {clip_bps!r}")
        super().__init__(rng=np.random.default_rng(np.random.SeedSequence(int(seed))))
        self.seed = int(seed)
        self.step_s = float(step_s)
        self.cascade_pass_ms = float(cascade_pass_ms)
        self.t = 0.0
        self.fundamental = fundamental
        self._fundamental_rng = self.random_stream("fundamental")
        self.perp = Exchange(perp_config)
        self.spots = [Exchange(config) for config in configs]
        self.spot = self.spots[0] if self.spots else None
        self.spot_names = spot_venue_names(len(self.spots))
        self.spot_weights = weights
        self.clip_bps = float(clip_bps)
        self.exchanges = {"perp": self.perp, **dict(zip(self.spot_names, self.spots, strict=True))}
        self.index = fundamental.price
        self.venue_mids: list[float] = []
        self.account_owner = np.full(1024, NO_OWNER, dtype=np.int64)
        self.owner_kind: dict[int, str] = {}
        self.fills = self.perp.drain_fills()
        self.liquidations = self.perp.drain_liquidations()
        venues = ["perp", "spot", *self.spot_names[1:]]
        self.taker_flow_usd = dict.fromkeys(venues, 0.0)
        self.volume_usd = dict.fromkeys(venues, 0.0)
        self.taker_buy_high = dict.fromkeys(venues, math.nan)
        self.taker_sell_low = dict.fromkeys(venues, math.nan)
        self.move_bps = 0.0
        self.liquidated_usd = 0.0
        self._last_perp_price = fundamental.price
        self.events: list[tuple[float, str, str, str]] = []
        self.observers: list[Callable[[MarketModel], None]] = []
        self._scheduled: list[tuple[float, int, str, Callable[[], None]]] = []
        self._n_scheduled = 0
        self._order: list[mesa.Agent] | None = None

    # ------------------------------------------------------------------ setup

    def open_accounts(self, agent: mesa.Agent, n: int, wallet: float, leverage: float,
                      venue: str = "perp") -> np.ndarray:
        """Open ``n`` accounts owned by ``agent`` on ``venue`` ("perp" or a spot venue's name)."""
        exchange = self.exchange(venue)
        ids = exchange.open_accounts(n, wallet, leverage)
        if venue == "perp":  # outputs name the owner of every perp account
            if ids[-1] >= self.account_owner.shape[0]:
                grown = np.full(max(2 * self.account_owner.shape[0], int(ids[-1]) + 1),
                                NO_OWNER, np.int64)
                grown[: self.account_owner.shape[0]] = self.account_owner
                self.account_owner = grown
            self.account_owner[ids] = agent.unique_id
        self.owner_kind[agent.unique_id] = getattr(agent, "kind", type(agent).__name__)
        return ids

    def exchange(self, venue: str) -> Exchange:
        """Return the exchange of ``venue``: "perp", or a spot venue ("spot", "spot1", ...)."""
        exchange = self.exchanges.get(venue)
        if exchange is None:
            raise ValueError(f"venue must be one of the model's venues "
                             f"({', '.join(self.exchanges)}), got {venue!r}")
        return exchange

    def random_stream(self, name: str) -> np.random.Generator:
        """Return a new Generator for the component ``name``, spawned from the root seed.

        The spawn key is ``(crc32(name),)``: it depends on the name only, so two runs of one
        seed give every component the same draws whatever else they contain (numpy's
        ``SeedSequence`` keeps streams with distinct keys independent). Names are unique
        within a run: ``"fundamental"``, ``"perp/retail"``, ``"spot/value"``, ``"perp/whale/0"``.
        """
        key = zlib.crc32(name.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))

    def schedule(self, t_seconds: float, label: str, action: Callable[[], None]) -> None:
        """Run ``action`` at the first step whose time reaches ``t_seconds``; log ``label``."""
        heapq.heappush(self._scheduled, (float(t_seconds), self._n_scheduled, label, action))
        self._n_scheduled += 1

    def log_event(self, agent: str, kind: str, detail: str = "") -> None:
        """Record an event (a whale's phase change, a scheduled shock) at the current time."""
        self.events.append((self.t, agent, kind, detail))

    def register_agent(self, agent: mesa.Agent) -> None:
        """Mesa hook: a new agent joins; the activation order is rebuilt lazily."""
        super().register_agent(agent)
        self._order = None

    def deregister_agent(self, agent: mesa.Agent) -> None:
        super().deregister_agent(agent)
        self._order = None

    # ------------------------------------------------------------------ the step

    def step(self) -> None:
        """Advance the market by one step (see the module docstring)."""
        self.t += self.step_s
        self._fire_scheduled()
        value = self.fundamental.advance(self._fundamental_rng, self.step_s)
        order = self._activation_order()
        n_spot = self._n_spot
        if self.spots:
            for spot in self.spots:
                spot.begin_step(self.t, value, self.step_s)
            for agent in order[:n_spot]:
                agent.act()
            mids = []
            for name, spot in zip(self.spot_names, self.spots, strict=True):
                spot.settle()
                # No output holds spot fills: drained so the log stays small, summed first.
                self._publish_flow(name, spot, spot.drain_fills())
                mid = spot.mid_price
                mids.append(mid if mid is not None else (spot.last_price or value))
            self.venue_mids = mids
            # One venue is the index itself: no arithmetic on its mid.
            self.index = (mids[0] if len(mids) == 1
                          else basket_index(mids, self.spot_weights, self.clip_bps))
        else:
            self.index = value
        self.perp.begin_step(self.t, self.index, self.step_s)
        for agent in order[n_spot:]:
            agent.act()
        if self.cascade_pass_ms > 0.0:
            self._cascade_in_micro_time()
        self.perp.settle()
        self.fills = self.perp.drain_fills()
        self.liquidations = self.perp.drain_liquidations()
        self._publish_flow("perp", self.perp, self.fills)
        self._publish_pulse()
        for observe in self.observers:
            observe(self)

    def run_until(self, t_seconds: float) -> None:
        """Step until the clock reaches ``t_seconds``."""
        while self.t + 1e-9 < t_seconds:
            self.step()

    def _publish_flow(self, venue: str, exchange: Exchange, fills: np.ndarray) -> None:
        """Set the step's signed taker flow (buyer-initiated minus seller-initiated USD), traded
        volume (USD) and the highest price a taker bought at and the lowest it sold at (USD,
        NaN when none) of ``venue`` from its fills."""
        if len(fills) == 0:
            self.taker_flow_usd[venue] = self.volume_usd[venue] = 0.0
            self.taker_buy_high[venue] = self.taker_sell_low[venue] = math.nan
            return
        cfg = exchange.config
        value = fills["price"] * fills["qty"] * (cfg.tick_size * cfg.lot_size)
        self.taker_flow_usd[venue] = float(np.dot(value, fills["taker_side"]))
        self.volume_usd[venue] = float(value.sum())
        bought = fills["taker_side"] > 0
        self.taker_buy_high[venue] = (float(fills["price"][bought].max()) * cfg.tick_size
                                      if bought.any() else math.nan)
        self.taker_sell_low[venue] = (float(fills["price"][~bought].min()) * cfg.tick_size
                                      if not bought.all() else math.nan)

    def _publish_pulse(self) -> None:
        """Set the perp's absolute log move over the step (bp, of its mid, else its last price)
        and the notional liquidated in the step (USD, at the mark when each triggered)."""
        price = self.perp.mid_price or self.perp.last_price or self.index
        self.move_bps = abs(math.log(price / self._last_perp_price)) * 1e4
        self._last_perp_price = price
        liqs = self.liquidations
        self.liquidated_usd = (float(np.dot(liqs["qty"], liqs["mark"])) * self.perp.config.lot_size
                               if len(liqs) else 0.0)

    def _cascade_in_micro_time(self) -> None:
        """Run the perp's trigger passes one at a time, ``cascade_pass_ms`` apart; after each
        pass that leaves more to fire, every responder gets ``respond_to_cascade(elapsed_ms)``
        (a maker whose reaction time has passed requotes). At most ``max_trigger_passes``
        passes; ``settle`` then runs whatever is left at once, and funding."""
        elapsed_ms = 0.0
        for _ in range(self.perp.config.max_trigger_passes):
            pending = self.perp.run_trigger_pass()[1]
            if not pending:
                return
            elapsed_ms += self.cascade_pass_ms
            for agent in self._responders:
                agent.respond_to_cascade(elapsed_ms)

    def _fire_scheduled(self) -> None:
        while self._scheduled and self._scheduled[0][0] <= self.t + 1e-9:
            _, _, label, action = heapq.heappop(self._scheduled)
            action()
            self.log_event("schedule", label)

    def _activation_order(self) -> list[mesa.Agent]:
        if self._order is None:
            for agent in self.agents:
                if not isinstance(getattr(agent, "stage", None), int):
                    raise TypeError(f"{type(agent).__name__} has no integer 'stage': every "
                                    "agent says when it acts in a step (agents.stages)")
            agents = sorted(self.agents, key=lambda a: (a.stage, a.unique_id))
            self._n_spot = sum(1 for a in agents if a.stage == SPOT_STAGE)
            self._responders = [a for a in agents if hasattr(a, "respond_to_cascade")
                                and getattr(a, "exchange", None) is self.perp]
            self._order = agents
        return self._order
