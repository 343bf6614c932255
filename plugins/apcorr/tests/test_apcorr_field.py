"""The spatial fit of the aperture correction on synthetic star ratios."""
import numpy as np
import pytest

from diffim_apcorr import InsufficientApCorrStarsError, fitApCorrField

SHAPE = (1000, 1000)


def _ratios(truth, n, noise, rng):
    x, y = rng.uniform(0, 999, (2, n))
    error = np.full(n, noise) * rng.uniform(0.5, 2.0, n)
    return x, y, truth(x, y) + rng.normal(0.0, error), error


def _fit(x, y, ratio, error, order=2, select=True):
    return fitApCorrField(x, y, ratio, error, SHAPE, order, numIter=4, numSigmaClip=3.0,
                          minDegreesOfFreedom=1, selectOrder=select)


def test_constant_correction_with_outliers_keeps_order_zero():
    rng = np.random.default_rng(1)
    x, y, ratio, error = _ratios(lambda x, y: np.full_like(x, 1.05), 40, 0.004, rng)
    ratio[:4] += 0.1                       # neighbours in four apertures
    field = _fit(x, y, ratio, error)
    assert field.order == 0
    assert not field.used[:4].any() and field.used[4:].sum() >= 34
    value, sigma = field.evaluate(np.array([0.0, 500.0, 999.0]), np.array([0.0, 500.0, 999.0]))
    np.testing.assert_allclose(value, 1.05, atol=3 * sigma.max())
    assert 0.0003 < sigma.max() < 0.002


def test_linear_trend_is_followed_and_its_error_is_honest():
    rng = np.random.default_rng(2)

    def truth(x, y):
        return 1.03 + 0.04 * (x + y) / 1998.0

    gx, gy = (g.ravel() for g in np.meshgrid(np.linspace(0, 999, 5), np.linspace(0, 999, 5)))
    orders, pulls = [], []
    for _ in range(30):
        x, y, ratio, error = _ratios(truth, 30, 0.005, rng)
        field = _fit(x, y, ratio, error)
        value, sigma = field.evaluate(gx, gy)
        orders.append(field.order)
        pulls.append((value - truth(gx, gy)) / sigma)
    assert orders.count(1) >= 27                   # neither flat nor quadratic, nearly always
    assert np.abs(pulls).max() < 4.5
    assert 0.8 < np.std(pulls) < 1.3


def test_fixed_order_without_selection():
    rng = np.random.default_rng(3)
    x, y, ratio, error = _ratios(lambda x, y: np.full_like(x, 1.02), 30, 0.003, rng)
    assert _fit(x, y, ratio, error, order=2, select=False).order == 2
    assert _fit(x, y, ratio, error, order=2, select=True).order == 0


def test_too_few_stars_lower_the_order_then_are_a_clear_error():
    rng = np.random.default_rng(4)
    x, y, ratio, error = _ratios(lambda x, y: np.full_like(x, 1.02), 6, 0.003, rng)
    ratio[0] = np.nan
    lowered = _fit(x, y, ratio, error, order=2, select=False)
    assert lowered.order == 1
    assert np.allclose(lowered.evaluate(x[1:], y[1:])[0], 1.02, atol=0.01)
    assert _fit(x, y, ratio, error, order=1).order in (0, 1)
    ratio[1:5] = np.nan
    with pytest.raises(InsufficientApCorrStarsError,
                       match="only 1 stars usable for the aperture correction, at least 2"):
        _fit(x, y, ratio, error)
