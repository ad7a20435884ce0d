"""A run's results: tables in memory, and their run directory on disk.

``RunResult.write`` writes a run directory atomically: every file goes into a temporary
sibling directory that is renamed into place at the end, so a reader never sees half a run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TABLES = ("series", "trades", "liquidations", "funding", "accounts", "events")


@dataclass
class RunResult:
    """Everything a run recorded.

    Attributes:
        manifest: scenario, seed, versions, timings, invariants (JSON-ready).
        series: one row per recording interval (prices, funding, OI, volume, liquidations).
        trades: every fill (USD price, base-currency quantity).
        liquidations: every liquidation, with the owner's agent type.
        funding: every funding settlement.
        accounts: the final state of every perp account.
        events: whale phases, scheduled events.
        heatmap: the true heatmap: ``t`` (T), ``price_edges`` (P+1), ``long`` and ``short`` (T x P)
            notional (USD) of open positions whose liquidation price lies in each bin.
    """

    manifest: dict
    series: pd.DataFrame
    trades: pd.DataFrame
    liquidations: pd.DataFrame
    funding: pd.DataFrame
    accounts: pd.DataFrame
    events: pd.DataFrame
    heatmap: dict[str, np.ndarray]

    def write(self, directory: str | Path) -> Path:
        """Write the run directory ``directory`` atomically; return its path.

        Raises:
            FileExistsError: the directory exists and is not empty.
        """
        target = Path(directory)
        if target.exists() and any(target.iterdir()):
            raise FileExistsError(f"{target} exists and is not empty")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name in TABLES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            np.savez_compressed(tmp / "heatmap_true.npz", **self.heatmap)
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2,
                                                          sort_keys=True, default=str) + "\n")
            if target.exists():
                target.rmdir()
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a run directory written by ``write``."""
        path = Path(directory)
        if not (path / "manifest.json").is_file():
            raise FileNotFoundError(f"{path} is not a run directory (no manifest.json)")
        tables = {name: pd.read_parquet(path / f"{name}.parquet") for name in TABLES}
        with np.load(path / "heatmap_true.npz") as npz:
            heatmap = {key: npz[key] for key in npz.files}
        manifest = json.loads((path / "manifest.json").read_text())
        return cls(manifest=manifest, heatmap=heatmap, **tables)
