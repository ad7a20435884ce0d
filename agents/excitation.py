"""Self-exciting activity: an arrival rate that rises after the crowd's own events, large
moves and liquidation prints, and decays back over minutes.

A Hawkes process with an exponential kernel (Hawkes 1971; for order flow, Bacry,
Mastromatteo & Muzy 2015, 'Hawkes processes in finance'). The rate is ``mu + x``, and over a
step of ``dt`` seconds the excitation ``x`` (events per second) decays exactly and then jumps:

    x <- x * exp(-dt / decay_s)
         + branching * n / decay_s                          (n: the crowd's events this step)
         + base_rate * move_boost * max(0, move - move_threshold_bps)   (the perp's move, bp)
         + base_rate * liquidation_boost * liquidated_usd / 1e6

Each own event sets off ``branching`` further events on average (the branching ratio, below 1
so the process is stationary); the mean rate of a self-excited process is ``mu / (1 -
branching)``, so the baseline is ``mu = base_rate * (1 - branching)`` and a quiet market keeps
the crowd's configured mean rate. A move of ``e`` bp past the threshold adds ``move_boost * e``
times the base rate, a liquidated million USD ``liquidation_boost`` times, each fading with
the same ``decay_s``. The rate is capped at ``max_multiple * base_rate``.
"""

from __future__ import annotations

import math

from agents.params import ExcitationParams


class Excitation:
    """The self-exciting arrival rate of one crowd.

    Args:
        base_rate_per_s: the crowd's mean rate in a quiet market (events per second).
        params: ``ExcitationParams``.
        step_s: seconds per step.
    """

    def __init__(self, base_rate_per_s: float, params: ExcitationParams, step_s: float) -> None:
        self.base_rate = float(base_rate_per_s)
        self.params = params
        self.baseline = self.base_rate * (1.0 - params.branching)
        self.excess = 0.0
        self._keep = math.exp(-step_s / params.decay_s)
        self._cap = params.max_multiple * self.base_rate
        # False when nothing can move the rate off the base rate.
        self.active = params.branching > 0 or params.move_boost > 0 or params.liquidation_boost > 0

    @property
    def rate(self) -> float:
        """Return the current rate (events per second): ``mu + x``, capped."""
        return self.rate_with_baseline(1.0)

    def rate_with_baseline(self, multiple: float) -> float:
        """Return the rate with the baseline ``mu`` scaled by ``multiple`` (a crowd whose
        background interest follows the market): ``multiple * mu + x``, capped. The
        excitation is not scaled, so the branching ratio stays below 1."""
        return min(multiple * self.baseline + self.excess, self._cap)

    def update(self, own_events: int, move_bps: float, liquidated_usd: float) -> None:
        """Decay the excitation over one step, then add this step's kicks."""
        p = self.params
        kick = p.branching * own_events / p.decay_s
        if move_bps > p.move_threshold_bps:
            kick += self.base_rate * p.move_boost * (move_bps - p.move_threshold_bps)
        if liquidated_usd > 0.0:
            kick += self.base_rate * p.liquidation_boost * liquidated_usd * 1e-6
        self.excess = min(self.excess * self._keep + kick, self._cap)


__all__ = ["Excitation"]
