"""Build a market from a scenario, run it, and summarize the result.

``run("whale_hunt", seed=1)`` returns a ``RunResult``; with ``out=`` it also writes the run
directory (atomically). ``build_market`` is the composition root: the only place that knows
the schema, the agents and the simulator at once.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from agents.arbitrageur import Arbitrageur
from agents.carry import CarryTraders
from agents.flow import NoiseTraders, ValueTraders
from agents.informed import InformedTraders
from agents.latent_liquidity import LatentLiquidity
from agents.market_maker import MarketMaker
from agents.params import WhaleParams
from agents.retail import RetailCrowd
from agents.venue_arbitrage import VenueArbitrageur
from agents.warm_start import warm_start
from agents.whale import Whale, mark_grid_reader
from scenarios.schema import Overrides, Regime, Scenario, SpotSpec, load_scenario
from sim.exchange import ExchangeConfig
from sim.fundamental import FundamentalProcess
from sim.heatmap import price_edges
from sim.heatmap_estimate import PublicHeatmapObserver
from sim.model import MarketModel
from sim.recorder import Recorder
from sim.result import RunResult, account_pnl

VERSIONED = ("liqsim", "numpy", "numba", "mesa", "pandas", "pyarrow", "pydantic")


@dataclass
class Market:
    """A built market: the model, its recorder and its agents by type."""

    scenario: Scenario
    model: MarketModel
    recorder: Recorder
    agents: dict[str, list] = field(default_factory=dict)
    warm_start: dict | None = None  # what the warm start opened (agents.warm_start), if any
    warm_candles: pd.DataFrame | None = None  # the public candles of its past, if any

    @property
    def n_steps(self) -> int:
        """Steps the scenario's duration takes."""
        return n_steps(self.scenario)


def n_steps(scenario: Scenario) -> int:
    """Return the number of steps ``scenario`` runs: its duration over its step, rounded up."""
    return int(math.ceil(scenario.duration_s / scenario.step_s - 1e-9))


def build_market(scenario: Scenario) -> Market:
    """Return the model, recorder and agents a scenario describes, seeded by its seed."""
    sc = scenario
    ix = sc.index
    fundamental = FundamentalProcess(ix.initial_price, ix.drift_per_year, ix.volatility_per_year,
                                     ix.jump_rate_per_day, ix.jump_mean, ix.jump_std,
                                     ix.vol_of_vol, ix.vol_half_life_s)
    basket = ix.spot.basket
    spot_configs: list[ExchangeConfig] = []
    spot_weights: list[float] = []
    if ix.model == "spot":  # the major venue, then the basket's extra venues on its rules
        spot_configs = [ix.spot.to_config(ix.initial_price)] * (1 + len(basket.venues))
        spot_weights = [1.0, *(venue.weight for venue in basket.venues)]
    model = MarketModel(sc.exchange.to_config(ix.initial_price), fundamental, seed=sc.seed,
                        spot_configs=spot_configs, spot_weights=spot_weights,
                        clip_bps=basket.clip_bps, step_s=sc.step_s,
                        cascade_pass_ms=sc.exchange.cascade_pass_ms)
    agents: dict[str, list] = {}

    def add(kind: str, agent: object) -> None:
        agents.setdefault(kind, []).append(agent)

    if ix.model == "spot":
        for _ in range(ix.spot.makers.count):
            add("spot_market_maker", MarketMaker(model, ix.spot.makers, venue="spot"))
        if ix.spot.value.count:
            add("spot_value", ValueTraders(model, ix.spot.value, venue="spot"))
    a = sc.agents
    for _ in range(a.market_maker.count):
        add("market_maker", MarketMaker(model, a.market_maker))
    for _ in range(a.arbitrageur.count):
        add("arbitrageur", Arbitrageur(model, a.arbitrageur))
    reader = _public_heatmap_reader(model, a.whale) if a.whale.heatmap == "estimated" else None
    for _ in range(a.whale.count):
        add("whale", Whale(model, a.whale, heatmap_reader=reader))
    if a.value.count:
        add("value", ValueTraders(model, a.value))
    if a.noise.count:
        add("noise", NoiseTraders(model, a.noise))
    if a.retail.count:
        add("retail", RetailCrowd(model, a.retail))
    # Created last, so that with count 0 no other agent's unique id moves; the stages, not
    # the creation order, put them right after the makers of their venue.
    if ix.model == "spot":
        for _ in range(ix.spot.latent_liquidity.count):
            add("spot_latent_liquidity",
                LatentLiquidity(model, ix.spot.latent_liquidity, venue="spot"))
    for _ in range(a.latent_liquidity.count):
        add("latent_liquidity", LatentLiquidity(model, a.latent_liquidity))
    if ix.model == "spot" and ix.spot.informed.count:
        add("spot_informed", InformedTraders(model, ix.spot.informed, venue="spot"))
    if a.informed.count:
        add("informed", InformedTraders(model, a.informed))
    if ix.model == "spot" and basket.venues:
        # The extra venues come after every agent above, so that their unique ids stay.
        for name, venue in zip(model.spot_names[1:], basket.venues, strict=True):
            _add_spot_venue(model, ix.spot.scaled(venue.depth_scale), name, add)
        for _ in range(basket.arbitrage.count):
            add("venue_arbitrageur", VenueArbitrageur(model, basket.arbitrage))
    if a.carry.count:  # after every other agent: with count 0 no unique id moves
        add("carry", CarryTraders(model, a.carry))
    if a.holders.count:  # the cohorts, last for the same reason
        add("holder", RetailCrowd(model, a.holders, kind="holder"))
    if a.scalpers.count:
        add("scalper", RetailCrowd(model, a.scalpers, kind="scalper"))
    warm, warm_candles = None, None
    if sc.warm_start.history_s > 0:
        crowds = [*agents.get("retail", []), *agents.get("scalper", [])]
        warm, warm_candles = warm_start(model, crowds, agents["holder"][0],
                                        sc.warm_start.history_s, ix.volatility_per_year)
        for observer in model.observers:  # a public map has watched that past too
            if isinstance(observer, PublicHeatmapObserver):
                observer.add_past(warm_candles)
    _schedule_events(model, sc, agents)
    out = sc.outputs
    series_every = max(1, round(out.series_interval_s / sc.step_s))
    heatmap_every = max(1, round(out.heatmap_interval_s / sc.step_s))
    edges = price_edges(ix.initial_price, out.heatmap_range_pct, out.heatmap_bin_usd)
    recorder = Recorder(model, series_every, heatmap_every, edges, n_steps(sc))
    return Market(sc, model, recorder, agents, warm, warm_candles)


def _add_spot_venue(model: MarketModel, spot: SpotSpec, venue: str,
                    add: Callable[[str, object], None]) -> None:
    """Build an extra spot venue's population (the major venue's, as ``spot`` scales it),
    named by kind as the major venue's are, with ``venue`` for "spot" ("spot1_value")."""
    for _ in range(spot.makers.count):
        add(f"{venue}_market_maker", MarketMaker(model, spot.makers, venue=venue))
    if spot.value.count:
        add(f"{venue}_value", ValueTraders(model, spot.value, venue=venue))
    for _ in range(spot.latent_liquidity.count):
        add(f"{venue}_latent_liquidity", LatentLiquidity(model, spot.latent_liquidity, venue=venue))
    if spot.informed.count:
        add(f"{venue}_informed", InformedTraders(model, spot.informed, venue=venue))


def _public_heatmap_reader(model: MarketModel, params: WhaleParams) -> Callable | None:
    """Return a whale's reader of the public estimate, kept current by a model observer."""
    if params.count == 0:
        return None
    observer = PublicHeatmapObserver(60.0)
    model.observers.append(observer)
    return mark_grid_reader(params.max_distance_pct, lambda _, edges: observer.map(edges),
                            bin_fraction=params.bin_fraction)


def _schedule_events(model: MarketModel, sc: Scenario, agents: dict[str, list]) -> None:
    for event in sc.events:
        if event.kind == "index_jump":
            model.schedule(event.at_s, f"index_jump {event.log_return:+g}",
                           partial(model.fundamental.shock, event.log_return))
        elif event.kind == "whale_active":
            for whale in agents.get("whale", []):
                model.schedule(event.from_s, "whale_active on", partial(whale.set_active, True))
                model.schedule(event.to_s, "whale_active off", partial(whale.set_active, False))
        elif event.kind == "maker_withdrawal":
            makers = agents.get("market_maker", [])
            chosen = makers[: math.ceil(event.fraction * len(makers))]
            for maker in chosen:
                model.schedule(event.from_s, "maker_withdrawal start", maker.pause)
                model.schedule(event.to_s, "maker_withdrawal end", maker.resume)
        elif event.kind == "regime":
            crowds = [crowd for kind in ("retail", "holder", "scalper")
                      for crowd in agents.get(kind, [])]
            model.schedule(event.at_s, _regime_label(event),
                           partial(_enter_regime, model, crowds, event))


def _regime_label(event: Regime) -> str:
    """Return ``regime drift_per_year=1 long_bias=0.7``: the keys the regime changes."""
    changed = [f"{key}={value:g}" for key in ("drift_per_year", "volatility_per_year", "long_bias")
               if (value := getattr(event, key)) is not None]
    return " ".join(["regime", *changed])


def _enter_regime(model: MarketModel, crowds: list[RetailCrowd], event: Regime) -> None:
    """Set the fundamental's drift and volatility and the crowds' lean (retail, holders,
    scalpers) the regime names."""
    if event.drift_per_year is not None:
        model.fundamental.mu = event.drift_per_year
    if event.volatility_per_year is not None:
        model.fundamental.sigma = event.volatility_per_year
    if event.long_bias is not None:
        for crowd in crowds:
            crowd.params = crowd.params.model_copy(update={"long_bias": event.long_bias})


def run(scenario: str | Path | Scenario, seed: int | None = None, overrides: Overrides = (),
        out: str | Path | None = None,
        progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Run a scenario (a bundled name, a path or a ``Scenario``); return its ``RunResult``.

    Args:
        scenario: what to run.
        seed: replaces the scenario's seed.
        overrides: applied before validation: ``key.path=value`` strings or a mapping of
            key paths to values (``{"duration_s": 3600, "agents.retail.count": 5000}``).
        out: when given, the run directory to write (it must not exist or be empty).
        progress: called as ``progress(step, n_steps)`` every few hundred steps.
    """
    if isinstance(scenario, Scenario) and overrides:
        raise ValueError("overrides apply to a scenario name or file, not to a Scenario object "
                         "(use Scenario.model_copy(update=...))")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
    if seed is not None:
        sc = sc.model_copy(update={"seed": int(seed)})
    if out is not None and Path(out).exists() and any(Path(out).iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    market = build_market(sc)
    model, n_steps = market.model, market.n_steps
    started = time.perf_counter()
    for step in range(n_steps):
        model.step()
        if progress is not None and step % 500 == 0:
            progress(step, n_steps)
    wall = time.perf_counter() - started
    if progress is not None:
        progress(n_steps, n_steps)
    result = finish(market, wall)
    if out is not None:
        result.write(out)
    return result


def finish(market: Market, wall_s: float) -> RunResult:
    """Return the ``RunResult`` of a market that has run (``wall_s``: its wall seconds)."""
    hunts = [hunt for whale in market.agents.get("whale", []) for hunt in whale.hunts]
    return market.recorder.result(market.model, _manifest(market, wall_s), hunts,
                                  market.warm_candles)


def _manifest(market: Market, wall_s: float) -> dict:
    sc, model = market.scenario, market.model
    resolved = sc.resolved()
    messages = model.perp.messages + sum(spot.messages for spot in model.spots)
    return {
        "scenario": sc.name,
        "scenario_sha256": sc.sha256(),
        "resolved_scenario": resolved,
        "seed": sc.seed,
        "steps": market.n_steps,
        "simulated_seconds": model.t,
        "wall_seconds": round(wall_s, 3),
        "order_messages": messages,
        "versions": _versions(),
        "agents": {kind: len(group) for kind, group in market.agents.items()},
        "warm_start": market.warm_start,
        "crowds": {kind: market.agents[kind][0].summary()
                   for kind in ("retail", "holder", "scalper") if kind in market.agents},
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def summarize(result: RunResult) -> str:
    """Return a one-screen text summary of a run."""
    s, liq, m = result.series, result.liquidations, result.manifest
    lines = [f"scenario {m['scenario']}  seed {m['seed']}  "
             f"{m['simulated_seconds'] / 3600:.2f} simulated hours in {m['wall_seconds']:.1f} s "
             f"({m['simulated_seconds'] / max(m['wall_seconds'], 1e-9):,.0f} sim s per wall s)"]
    last = s["last"].dropna()
    if len(last):
        lines.append(f"price        {last.min():,.1f} .. {last.max():,.1f}  "
                     f"(first {last.iloc[0]:,.1f}, last {last.iloc[-1]:,.1f})")
    notional = liq["qty"] * liq["fill_price"]
    for side, name in ((1, "long"), (-1, "short")):
        mask = liq["side"] == side
        lines.append(f"liquidations {name:5s} {int(mask.sum()):6d}  "
                     f"{float(notional[mask].sum()):,.0f} USD")
    cascade = largest_cascade(liq)
    if cascade is not None:
        lines.append(f"largest cascade  {cascade['count']} liquidations, "
                     f"{cascade['notional']:,.0f} USD, "
                     f"t {cascade['start']:.0f}..{cascade['end']:.0f} s")
    if len(result.funding):
        rates = result.funding["rate"]
        lines.append(f"funding      {rates.min() * 100:+.4f}% .. {rates.max() * 100:+.4f}% "
                     f"over {len(rates)} settlements")
    else:
        lines.append("funding      no settlement in this run")
    if len(s):
        lines.append(f"open interest {s['oi'].iloc[0]:,.3f} -> {s['oi'].iloc[-1]:,.3f} "
                     f"({s['oi_notional'].iloc[-1]:,.0f} USD)")
    acc = result.accounts
    whales = acc[acc["agent_type"] == "whale"]
    if len(whales) and len(s):
        pnl = account_pnl(whales, float(s["mark"].iloc[-1])).sum()
        lines.append(f"whale PnL    {pnl:,.0f} USD (fees and funding included, open at mark)")
    inv = m.get("invariants", {})
    lines.append(f"invariants   {'all passed' if inv.get('all_passed') else inv.get('failures')} "
                 f"in {inv.get('checks', 0)} checks; max money drift "
                 f"{inv.get('max_money_drift_usd', 0.0):.2e} USD")
    return "\n".join(lines)


def largest_cascade(liquidations, gap_s: float = 60.0) -> dict | None:
    """Return the largest run of liquidations with gaps under ``gap_s`` (by notional)."""
    if len(liquidations) == 0:
        return None
    t = liquidations["t"].to_numpy()
    notional = (liquidations["qty"] * liquidations["fill_price"]).to_numpy()
    group = np.concatenate([[0], np.cumsum(np.diff(t) > gap_s)])
    sums = np.bincount(group, weights=notional)
    best = int(np.argmax(sums))
    members = group == best
    return {"count": int(members.sum()), "notional": float(sums[best]),
            "start": float(t[members][0]), "end": float(t[members][-1])}


__all__ = ["run", "build_market", "summarize", "largest_cascade", "Market"]
