"""The fundamental value: geometric Brownian motion with Poisson jumps (Merton 1976), with
an optional stochastic volatility.

Over a step of ``dt`` years the log-price moves by
``(mu - sigma_t^2 / 2) dt + sigma_t sqrt(dt) Z + sum of N ~ Poisson(lambda dt) jumps``, each
jump a normal ``J ~ N(jump_mean, jump_std)`` in log terms. Scheduled jumps (``shock``) add a
given log-return at a given time.

Volatility clusters in real markets (Cont 2001). With ``vol_of_vol`` > 0 the volatility is
``sigma_t = sigma * exp(h_t - vol_of_vol^2)``, where the log-volatility factor ``h`` is an
Ornstein-Uhlenbeck process with stationary standard deviation ``vol_of_vol`` and half-life
``vol_half_life_s`` (a discrete-time stochastic-volatility model, Taylor 1986), advanced
exactly: ``h <- h e^{-k dt} + vol_of_vol sqrt(1 - e^{-2 k dt}) Z'``, ``k = ln 2 / half-life``.
The ``- vol_of_vol^2`` keeps the mean variance at ``sigma^2``. With ``vol_of_vol`` = 0 it is
plain GBM with jumps and draws nothing extra.
"""

from __future__ import annotations

import math

import numpy as np

SECONDS_PER_YEAR = 365.0 * 24 * 3600


class FundamentalProcess:
    """A GBM-with-jumps price path, advanced step by step from the model's generator.

    Args:
        initial_price: the value at t = 0 (USD).
        drift_per_year: mu, the annual log drift before the Ito correction.
        volatility_per_year: sigma, annualized.
        jump_rate_per_day: lambda, expected jumps per day.
        jump_mean: mean log size of a jump.
        jump_std: standard deviation of a jump's log size.
        vol_of_vol: stationary standard deviation of the log-volatility factor.
        vol_half_life_s: half-life of the log-volatility factor's deviations (seconds).
    """

    def __init__(self, initial_price: float, drift_per_year: float = 0.0,
                 volatility_per_year: float = 0.5, jump_rate_per_day: float = 0.0,
                 jump_mean: float = 0.0, jump_std: float = 0.01, vol_of_vol: float = 0.0,
                 vol_half_life_s: float = 3600.0) -> None:
        if not (math.isfinite(initial_price) and initial_price > 0):
            raise ValueError(f"initial_price must be a finite number > 0, got {initial_price!r}")
        if not (math.isfinite(volatility_per_year) and volatility_per_year >= 0):
            raise ValueError("volatility_per_year must be a finite number >= 0, got "
                             f"{volatility_per_year!r}")
        if not (math.isfinite(jump_rate_per_day) and jump_rate_per_day >= 0):
            raise ValueError("jump_rate_per_day must be a finite number >= 0, got "
                             f"{jump_rate_per_day!r}")
        if not (math.isfinite(jump_std) and jump_std >= 0):
            raise ValueError(f"jump_std must be a finite number >= 0, got {jump_std!r}")
        if not (math.isfinite(vol_of_vol) and vol_of_vol >= 0):
            raise ValueError(f"vol_of_vol must be a finite number >= 0, got {vol_of_vol!r}")
        if not (math.isfinite(vol_half_life_s) and vol_half_life_s > 0):
            raise ValueError("vol_half_life_s must be a finite number > 0, got "
                             f"{vol_half_life_s!r}")
        self.price = float(initial_price)
        self.vol_of_vol = float(vol_of_vol)
        self.vol_decay_per_s = math.log(2.0) / float(vol_half_life_s)
        self.log_vol_factor = 0.0
        self.mu = float(drift_per_year)
        self.sigma = float(volatility_per_year)
        self.jump_rate_per_s = float(jump_rate_per_day) / 86_400.0
        self.jump_mean = float(jump_mean)
        self.jump_std = float(jump_std)

    def advance(self, rng: np.random.Generator, dt_seconds: float) -> float:
        """Move the value over ``dt_seconds``; return the new value."""
        dt = dt_seconds / SECONDS_PER_YEAR
        sigma = self.volatility(rng, dt_seconds)
        log_return = (self.mu - 0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * float(
            rng.standard_normal())
        if self.jump_rate_per_s > 0:
            n_jumps = int(rng.poisson(self.jump_rate_per_s * dt_seconds))
            if n_jumps:
                log_return += float(rng.normal(self.jump_mean * n_jumps,
                                               self.jump_std * math.sqrt(n_jumps)))
        self.price *= math.exp(log_return)
        return self.price

    def volatility(self, rng: np.random.Generator, dt_seconds: float) -> float:
        """Advance the log-volatility factor over ``dt_seconds``; return this step's sigma."""
        if self.vol_of_vol == 0.0:
            return self.sigma
        keep = math.exp(-self.vol_decay_per_s * dt_seconds)
        self.log_vol_factor = (self.log_vol_factor * keep + self.vol_of_vol
                               * math.sqrt(1.0 - keep * keep) * float(rng.standard_normal()))
        return self.sigma * math.exp(self.log_vol_factor - self.vol_of_vol**2)

    def shock(self, log_return: float) -> float:
        """Apply a scheduled jump of ``log_return``; return the new value."""
        self.price *= math.exp(log_return)
        return self.price
