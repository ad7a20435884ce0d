"""The recorder: what a run leaves behind, appended step by step into preallocated arrays.

It observes the model after each step (``model.observers``): the step's fills and
liquidations go into logs; the price, funding and open-interest series gets one row per
``series_every`` steps (volume and liquidated size summed over the row's steps); the true
heatmap and the exchange invariants are sampled every ``heatmap_every`` steps. With a basket of
spot venues the series also holds each venue's price as the index read it, ``spot_mid_0``
(the major venue), ``spot_mid_1``, ... (``model.venue_mids``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sim.exchange import layouts as lay
from sim.exchange.codes import FLAG_LIQUIDATION, SELL
from sim.exchange.layouts import LIQUIDATION_DTYPE
from sim.heatmap import true_heatmap
from sim.model import NO_OWNER, MarketModel
from sim.public_data import no_candles
from sim.result import HuntRecord, RunResult, hunt_table

SERIES_COLUMNS = ("t", "last", "mid", "best_bid", "best_ask", "mark", "index", "fundamental",
                  "funding_rate", "predicted_funding_rate", "premium", "oi", "oi_notional",
                  "volume", "liq_long_qty", "liq_short_qty", "insurance_fund")
TRADE_DTYPE = np.dtype([("t", np.float64), ("price", np.float64), ("qty", np.float64),
                        ("aggressor_side", np.int8), ("maker_account", np.int64),
                        ("taker_account", np.int64), ("is_liquidation", np.bool_)])


class Recorder:
    """Collects a run's series, logs and heatmap snapshots.

    Args:
        model: the model to observe; the recorder adds itself to ``model.observers``.
        series_every: steps per series row.
        heatmap_every: steps per heatmap snapshot (and invariant check).
        price_edges: the heatmap's price grid (USD).
        expected_steps: steps the run will take, to size the arrays once.

    Attributes:
        columns: the series' columns: ``SERIES_COLUMNS``, then ``spot_mid_k`` for each spot
            venue when the index is a basket of several.
    """

    def __init__(self, model: MarketModel, series_every: int, heatmap_every: int,
                 price_edges: np.ndarray, expected_steps: int) -> None:
        if series_every < 1 or heatmap_every < 1:
            raise ValueError("series_every and heatmap_every must be integers >= 1")
        self.series_every = int(series_every)
        self.heatmap_every = int(heatmap_every)
        self.edges = np.asarray(price_edges, dtype=np.float64)
        rows = expected_steps // self.series_every + 2
        n_venues = len(model.spots)
        self.columns = SERIES_COLUMNS + (
            tuple(f"spot_mid_{k}" for k in range(n_venues)) if n_venues > 1 else ())
        self.series = np.full((rows, len(self.columns)), np.nan)
        self.n_rows = 0
        snaps = expected_steps // self.heatmap_every + 2
        n_bins = len(self.edges) - 1
        self.heat_t = np.zeros(snaps)
        self.heat_long = np.zeros((snaps, n_bins))
        self.heat_short = np.zeros((snaps, n_bins))
        self.n_snaps = 0
        self.trades: list[np.ndarray] = []
        self.liquidations: list[np.ndarray] = []
        self.invariant_failures: dict[str, int] = {}
        self.invariant_checks = 0
        self.max_money_drift_usd = 0.0
        self._volume = 0.0
        self._liq_long = 0.0
        self._liq_short = 0.0
        self._steps = 0
        model.observers.append(self.observe)

    def observe(self, model: MarketModel) -> None:
        """Append the step that just ended."""
        ex = model.perp
        lot = ex.config.lot_size
        fills = model.fills
        if len(fills):
            self.trades.append(_trade_rows(fills, model.t, ex.config.tick_size, lot))
            self._volume += float(fills["qty"].sum()) * lot
        liqs = model.liquidations
        if len(liqs):
            self.liquidations.append(liqs)
            qty = liqs["qty"] * lot
            self._liq_long += float(qty[liqs["side"] > 0].sum())
            self._liq_short += float(qty[liqs["side"] < 0].sum())
        self._steps += 1
        if self._steps % self.series_every == 0:
            self._append_row(model)
        if self._steps % self.heatmap_every == 0:
            self._snapshot(model)

    def _append_row(self, model: MarketModel) -> None:
        if self.n_rows == self.series.shape[0]:
            self.series = np.vstack([self.series, np.full_like(self.series, np.nan)])
        ex = model.perp
        tick = ex.config.tick_size
        bid, ask = ex.book.best_bid(), ex.book.best_ask()
        both = bid is not None and ask is not None
        oi = ex.open_interest * ex.config.lot_size
        row = self.series[self.n_rows]
        row[: len(SERIES_COLUMNS)] = (
            model.t, _or_nan(ex.last_price), 0.5 * (bid + ask) * tick if both else np.nan,
            bid * tick if bid is not None else np.nan, ask * tick if ask is not None else np.nan,
            ex.mark_price, ex.index_price, model.fundamental.price, ex.funding_rate,
            ex.predicted_funding_rate, ex.premium, oi, oi * ex.mark_price,
            self._volume, self._liq_long, self._liq_short, ex.insurance_fund,
        )
        if len(self.columns) > len(SERIES_COLUMNS):
            row[len(SERIES_COLUMNS):] = model.venue_mids
        self.n_rows += 1
        self._volume = self._liq_long = self._liq_short = 0.0

    def _snapshot(self, model: MarketModel) -> None:
        if self.n_snaps == self.heat_t.shape[0]:
            self.heat_t = np.concatenate([self.heat_t, np.zeros_like(self.heat_t)])
            self.heat_long = np.vstack([self.heat_long, np.zeros_like(self.heat_long)])
            self.heat_short = np.vstack([self.heat_short, np.zeros_like(self.heat_short)])
        long, short = true_heatmap(model.perp, self.edges)
        self.heat_t[self.n_snaps] = model.t
        self.heat_long[self.n_snaps] = long
        self.heat_short[self.n_snaps] = short
        self.n_snaps += 1
        self.check_invariants(model)

    def check_invariants(self, model: MarketModel) -> None:
        """Check every exchange's invariants now; count the failures by name."""
        self.invariant_checks += 1
        for venue, ex in (("perp", model.perp), *zip(model.spot_names, model.spots, strict=True)):
            for name, value in ex.invariants().items():
                if name == "money_drift_usd":
                    self.max_money_drift_usd = max(self.max_money_drift_usd, abs(value))
                elif isinstance(value, bool | np.bool_) and not value:
                    key = f"{venue}.{name}"
                    self.invariant_failures[key] = self.invariant_failures.get(key, 0) + 1

    def result(self, model: MarketModel, manifest: dict, hunts: Iterable[HuntRecord] = (),
               warm_candles: pd.DataFrame | None = None) -> RunResult:
        """Return the run's tables (the model's final state included) with the whales'
        finished ``hunts`` and the public candles of a warm start's past (none: no rows)."""
        self.check_invariants(model)
        kinds = _owner_kinds(model)
        series = pd.DataFrame(self.series[: self.n_rows], columns=list(self.columns))
        trades = pd.DataFrame(np.concatenate(self.trades) if self.trades
                              else np.zeros(0, TRADE_DTYPE))
        liqs = (np.concatenate(self.liquidations) if self.liquidations
                else np.zeros(0, LIQUIDATION_DTYPE))
        liquidations = _liquidation_table(liqs, kinds, model.perp.config.lot_size)
        funding = pd.DataFrame(model.perp.funding_history())
        events = pd.DataFrame(model.events, columns=["t", "agent", "kind", "detail"])
        heatmap = {
            "t": self.heat_t[: self.n_snaps].copy(),
            "price_edges": self.edges.copy(),
            "long": self.heat_long[: self.n_snaps].copy(),
            "short": self.heat_short[: self.n_snaps].copy(),
        }
        manifest = dict(manifest)
        manifest["invariants"] = {
            "checks": self.invariant_checks,
            "failures": dict(sorted(self.invariant_failures.items())),
            "max_money_drift_usd": self.max_money_drift_usd,
            "final": {k: _jsonable(v) for k, v in model.perp.invariants().items()},
            "all_passed": not self.invariant_failures,
        }
        return RunResult(manifest=manifest, series=series, trades=trades,
                         liquidations=liquidations, funding=funding,
                         accounts=_account_table(model, kinds), events=events, heatmap=heatmap,
                         hunts=hunt_table(hunts),
                         warm_candles=no_candles() if warm_candles is None else warm_candles)


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value


def _jsonable(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _trade_rows(fills: np.ndarray, t: float, tick: float, lot: float) -> np.ndarray:
    out = np.empty(len(fills), TRADE_DTYPE)
    out["t"] = t
    out["price"] = fills["price"] * tick
    out["qty"] = fills["qty"] * lot
    out["aggressor_side"] = np.where(fills["taker_side"] == SELL, -1, 1)
    out["maker_account"] = fills["maker_account"]
    out["taker_account"] = fills["taker_account"]
    out["is_liquidation"] = (fills["flags"] & FLAG_LIQUIDATION) != 0
    return out


def _owner_kinds(model: MarketModel) -> np.ndarray:
    """Return the agent type of every perp account ("" for accounts no agent owns)."""
    n = model.perp.n_accounts
    owners = model.account_owner[:n]
    kinds = np.full(n, "", dtype=object)
    for owner, kind in model.owner_kind.items():
        kinds[owners == owner] = kind
    kinds[owners == NO_OWNER] = ""
    return kinds


def _liquidation_table(liqs: np.ndarray, kinds: np.ndarray, lot: float) -> pd.DataFrame:
    accounts = liqs["account"]
    return pd.DataFrame({
        "t": liqs["t"], "account": accounts,
        "agent_type": kinds[accounts] if len(accounts) else np.zeros(0, dtype=object),
        "side": liqs["side"], "qty": liqs["qty"] * lot, "entry_price": liqs["entry_price"],
        "liq_price": liqs["liq_price"], "bankruptcy_price": liqs["bankruptcy_price"],
        "mark": liqs["mark"], "fill_price": liqs["fill_price"],
        "insurance_delta": liqs["insurance_delta"], "adl": liqs["adl"],
    })


def _account_table(model: MarketModel, kinds: np.ndarray) -> pd.DataFrame:
    ex = model.perp
    n = ex.n_accounts
    f, i = ex.acct_f[:n], ex.acct_i[:n]
    return pd.DataFrame({
        "account": np.arange(n), "agent_type": kinds, "wallet": f[:, lay.A_WALLET],
        "position": i[:, lay.I_POSITION] * ex.config.lot_size, "entry_price": f[:, lay.A_ENTRY],
        "realized_pnl": f[:, lay.A_REALIZED], "fees": f[:, lay.A_FEES],
        "funding": f[:, lay.A_FUNDING], "n_liquidations": i[:, lay.I_N_LIQUIDATIONS],
    })
