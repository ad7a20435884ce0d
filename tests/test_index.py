"""The fundamental value process: GBM, jumps, scheduled shocks, stochastic volatility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.stylized_facts import autocorrelation
from sim.fundamental import SECONDS_PER_YEAR, FundamentalProcess


def _path(process: FundamentalProcess, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([process.advance(rng, 1.0) for _ in range(n)])


def test_zero_volatility_without_jumps_keeps_the_value_and_a_shock_moves_it():
    process = FundamentalProcess(50_000.0, volatility_per_year=0.0)
    assert np.all(_path(process, 100) == 50_000.0)
    # A log-return of ln(0.9) is a -10 % move: 50,000 x 0.9 = 45,000.
    assert process.shock(math.log(0.9)) == pytest.approx(45_000.0)


def test_gbm_one_second_log_returns_have_the_annual_volatility_scaled_by_sqrt_time():
    # sigma = 0.5 a year; one second is 1 / 31,536,000 of a year, so the standard deviation
    # of a one-second log-return is 0.5 / sqrt(31,536,000) = 8.90e-5.
    prices = _path(FundamentalProcess(100_000.0, volatility_per_year=0.5), 100_000)
    r = np.diff(np.log(prices))
    assert r.std() == pytest.approx(0.5 / math.sqrt(SECONDS_PER_YEAR), rel=0.02)


def test_jumps_arrive_at_their_poisson_rate():
    # 86,400 jumps a day is one a second in expectation: with zero diffusion and a jump size
    # of exactly +1e-4 (std 0), n seconds give about n jumps of 1e-4 each.
    process = FundamentalProcess(100.0, volatility_per_year=0.0, jump_rate_per_day=86_400.0,
                                 jump_mean=1e-4, jump_std=0.0)
    prices = _path(process, 20_000)
    n_jumps = math.log(prices[-1] / 100.0) / 1e-4
    assert n_jumps == pytest.approx(20_000, rel=0.03)  # Poisson sd is sqrt(20,000) = 141


def test_stochastic_volatility_keeps_mean_variance_and_clusters_volatility():
    base = dict(initial_price=100_000.0, volatility_per_year=0.5, vol_half_life_s=3_600.0)
    plain = np.diff(np.log(_path(FundamentalProcess(**base), 200_000, seed=3)))
    sv = np.diff(np.log(_path(FundamentalProcess(**base, vol_of_vol=0.6), 200_000, seed=3)))
    # sigma_t = sigma exp(h - xi^2) with h ~ N(0, xi^2): E[sigma_t^2] = sigma^2 exp(-2 xi^2)
    # E[exp(2h)] = sigma^2 exp(-2 xi^2 + 2 xi^2) = sigma^2. A 200,000 s path spans about 55
    # half-lives, so the sample variance is noisy: allow 25 %.
    assert sv.var() == pytest.approx(plain.var(), rel=0.25)
    # One-minute absolute returns: clustered with stochastic volatility, not without.
    abs_sv = np.abs(np.diff(np.log(np.exp(np.cumsum(sv))[::60])))
    abs_plain = np.abs(np.diff(np.log(np.exp(np.cumsum(plain))[::60])))
    assert autocorrelation(abs_sv, 30)[[0, 9, 29]].min() > 0.05
    assert abs(autocorrelation(abs_plain, 30)[[0, 9, 29]]).max() < 0.06


def test_same_generator_seed_gives_the_same_path():
    make = lambda: FundamentalProcess(100_000.0, jump_rate_per_day=100.0, vol_of_vol=0.5)  # noqa: E731
    np.testing.assert_array_equal(_path(make(), 1_000, seed=9), _path(make(), 1_000, seed=9))


@pytest.mark.parametrize("bad", [dict(initial_price=0.0), dict(initial_price=1.0, vol_of_vol=-1),
                                 dict(initial_price=1.0, vol_half_life_s=0.0)])
def test_bad_arguments_raise_value_error_naming_them(bad):
    with pytest.raises(ValueError, match=next(iter(bad)) if len(bad) == 1 else list(bad)[1]):
        FundamentalProcess(**bad)
