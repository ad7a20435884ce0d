"""Experiments: scenario files, running them, and the ``liqsim`` command line.

``from scenarios import run; result = run("whale_hunt", seed=1)`` runs a bundled scenario
and returns its ``RunResult`` (DataFrames of the series, trades, liquidations, funding,
accounts and events, and the true heatmap).
"""

from scenarios.runner import run

__all__ = ["run"]
