"""2-D polynomial and Chebyshev terms over a domain."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.polynomial import PolynomialBasis, nTerms, termPowers
from numpy.polynomial import chebyshev


def test_terms_are_ordered_by_degree_and_nest():
    assert termPowers(2) == [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    assert nTerms(3) == 10 and termPowers(3)[:6] == termPowers(2)


@pytest.mark.parametrize("kind", ["polynomial", "chebyshev"])
def test_design_matrix_fits_a_model_exactly_and_draws_it(kind):
    basis = PolynomialBasis.forImage(2, 200, 100, kind)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 199, 50), rng.uniform(0, 99, 50)
    u, v = 2 * x / 199 - 1, 2 * y / 99 - 1
    truth = 1.0 + 0.5 * u - 0.2 * v + 0.3 * u * v + 0.1 * v ** 2
    design = basis.evaluate(x, y)
    assert design.shape == (50, 6)
    coefficients = np.linalg.lstsq(design, truth, rcond=None)[0]
    assert np.allclose(design @ coefficients, truth)
    image = basis.image(coefficients, (100, 200))
    assert image[37, 150] == pytest.approx(1.0 + 0.5 * (300 / 199 - 1) - 0.2 * (74 / 99 - 1)
                                           + 0.3 * (300 / 199 - 1) * (74 / 99 - 1)
                                           + 0.1 * (74 / 99 - 1) ** 2, rel=1e-5)
    if kind == "chebyshev":
        assert design[:, 3] == pytest.approx(chebyshev.chebval(u, [0, 0, 1]))


def test_domain_maps_to_minus_one_plus_one():
    basis = PolynomialBasis(1, (10.0, 30.0), (-5.0, 5.0))
    assert basis.evaluate([10.0, 30.0, 20.0], [-5.0, 5.0, 0.0]) == pytest.approx(
        np.array([[1, -1, -1], [1, 1, 1], [1, 0, 0]]))
    with pytest.raises(ValueError, match="unknown polynomial kind"):
        PolynomialBasis(1, (0, 1), (0, 1), "legendre")
