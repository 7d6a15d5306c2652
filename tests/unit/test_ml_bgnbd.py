"""BG/NBD: the fit recovers the parameters customers were simulated from, and the
conditional expectations behave as the model says."""

from __future__ import annotations

import numpy as np
import pytest

from ml.bgnbd import BgNbd, FitError, fit, log_likelihood, simulate

# The paper's CDNOW estimates, with time in weeks: r 0.243, alpha 4.414, a 0.793, b 2.426.
TRUE = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_the_fit_recovers_simulated_parameters():
    T = np.random.default_rng(1).uniform(27, 39, 20_000)  # weeks, as CDNOW's cohort
    x, t_x = simulate(TRUE, T, seed=2)
    got = fit(x, t_x, T)
    assert got.r == pytest.approx(TRUE.r, rel=0.12)
    assert got.alpha == pytest.approx(TRUE.alpha, rel=0.15)
    assert got.a == pytest.approx(TRUE.a, rel=0.3)
    assert got.b == pytest.approx(TRUE.b, rel=0.35)
    # the fit is a maximum: the true parameters explain the data no better
    assert np.sum(log_likelihood([got.r, got.alpha, got.a, got.b], x, t_x, T)) >= np.sum(
        log_likelihood([TRUE.r, TRUE.alpha, TRUE.a, TRUE.b], x, t_x, T))


def test_expected_purchases_match_the_simulated_future():
    """Averaged over a cohort, the expected purchases in weeks 39-78 given each customer's
    first 39 weeks equal the purchases a cohort makes in weeks 39-78 (law of total
    expectation): cohorts simulated for 39 and for 78 weeks."""
    n, T = 20_000, 39.0
    x_long, _ = simulate(TRUE, np.full(n, 2 * T), seed=6)
    x_half, t_half = simulate(TRUE, np.full(n, T), seed=7)
    expected_more = TRUE.expected_purchases(T, x_half, t_half, np.full(n, T)).mean()
    assert expected_more == pytest.approx(x_long.mean() - x_half.mean(), rel=0.1)


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence():
    model = TRUE
    assert model.p_alive([0], [0], [30])[0] == 1.0
    recent, silent = model.p_alive([4, 4], [29, 5], [30, 30])
    assert 0 < silent < recent <= 1


def test_too_few_customers_or_bad_statistics_are_refused():
    with pytest.raises(FitError, match="repeat purchases"):
        fit(np.zeros(50), np.zeros(50), np.full(50, 10.0))
    with pytest.raises(FitError, match="t_x <= T"):
        fit(np.ones(20), np.full(20, 12.0), np.full(20, 10.0))
