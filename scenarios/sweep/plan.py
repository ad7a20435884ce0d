"""A sweep's plan: its points, its runs and their seeds, and which runs are already done.

Everything is checked here before anything is written: the scenario, every point
(``scenarios.schema.load_sweep_points``), the output directory (``store.check_sweep_dir``)
and every run directory in it (``runs.existing_run``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.schema import Scenario, SweepSpec, load_sweep_points
from scenarios.sweep.runs import RunDirError, existing_run
from scenarios.sweep.store import SweepDirError, check_sweep_dir, sweep_identity


class SweepError(RuntimeError):
    """The sweep cannot go on as asked; the message says why and names the path."""


def replicate_seed(sweep_seed: int, replicate: int) -> int:
    """Return the seed of every run of replicate ``replicate``, whatever its point.

    ``SeedSequence(sweep_seed, spawn_key=(replicate,))``'s first 64-bit word, less its lowest
    bit (63 bits: a scenario's seed is at most 2**63 - 1). The run's model then spawns one
    stream per component from it, so replicate r of every point sees the same news and the
    same crowd (common random numbers), and no seed depends on the workers or on order.
    """
    state = np.random.SeedSequence(sweep_seed, spawn_key=(replicate,)).generate_state(
        1, np.uint64)
    return int(state[0] >> np.uint64(1))


def parse_shard(text: str) -> tuple[int, int]:
    """Return ``(K, N)`` from ``"K/N"`` (1 <= K <= N); raise ``SweepError`` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise SweepError(f"--shard {text}: expected K/N with 1 <= K <= N, e.g. 2/8")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class PlannedRun:
    """One run of the sweep: point ``point`` with the seed of replicate ``replicate``."""

    run_id: str
    point: int
    replicate: int
    seed: int
    scenario: Scenario
    sha256: str
    run_dir: Path
    done: bool


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: its runs (all of them), the shard this call runs, and where."""

    source: str
    base: Scenario
    spec: SweepSpec
    identity: dict[str, Any]
    points: list[dict[str, Any]]
    runs: list[PlannedRun]
    out: Path
    shard: tuple[int, int] | None = None

    @property
    def keys(self) -> list[str]:
        """The swept key paths, in the file's order."""
        return list(self.spec.params)

    def in_shard(self, point: int) -> bool:
        """Return whether this call runs ``point`` (every N-th point, from the K-th)."""
        return self.shard is None or point % self.shard[1] == self.shard[0] - 1

    @property
    def shard_runs(self) -> list[PlannedRun]:
        """The runs of this call's shard (every run without ``--shard``)."""
        return [run for run in self.runs if self.in_shard(run.point)]

    @property
    def todo(self) -> list[PlannedRun]:
        """The runs of this shard still to simulate."""
        return [run for run in self.shard_runs if not run.done]


def plan_sweep(source: str | Path, overrides: Sequence[str] = (), out_dir: str | Path | None = None,
               shard: tuple[int, int] | None = None) -> SweepPlan:
    """Return the checked plan of the sweep in ``source`` (a bundled name or a path).

    Args:
        source: a scenario with a ``sweep:`` block (or one given by ``overrides``).
        overrides: ``key.path=value`` settings applied before the sweep's values.
        out_dir: the sweep directory (default ``sweeps/<scenario name>``); one that holds
            this sweep is resumed.
        shard: ``(K, N)``: run only the points p with ``p % N == K - 1``.

    Raises:
        scenarios.schema.ScenarioError: the scenario or a point is invalid.
        SweepError: no sweep block; the directory holds another sweep (the message says
            what changed) or something else; a run directory holds another run.
    """
    base, scenarios = load_sweep_points(source, overrides)
    if base.sweep is None:
        raise SweepError(f"{source}: has no sweep: block; add one (liqsim list shows a "
                         f"bundled example) or give one, e.g. --set sweep.replicates=10")
    spec = base.sweep
    identity = sweep_identity(base, spec)
    out = Path(out_dir) if out_dir is not None else Path("sweeps") / base.name
    try:
        check_sweep_dir(out, identity)
    except SweepDirError as exc:
        raise SweepError(str(exc)) from None
    seeds = [replicate_seed(spec.seed, r) for r in range(spec.replicates)]
    runs = []
    for point, point_scenario in enumerate(scenarios):
        for replicate, seed in enumerate(seeds):
            scenario = point_scenario.model_copy(update={"seed": seed})
            sha = scenario.sha256()
            run_id = f"p{point}-r{replicate}"
            run_dir = out / "runs" / run_id
            try:
                done = existing_run(run_dir, sha)
            except RunDirError as exc:
                raise SweepError(str(exc)) from None
            runs.append(PlannedRun(run_id, point, replicate, seed, scenario, sha, run_dir,
                                   done))
    return SweepPlan(str(source), base, spec, identity, spec.points(), runs, out, shard)


__all__ = ["PlannedRun", "SweepError", "SweepPlan", "parse_shard", "plan_sweep",
           "replicate_seed"]
