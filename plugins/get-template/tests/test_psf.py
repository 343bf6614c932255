"""The template PSF: shared, fitted across patches, or the main patch's, in template pixels."""
import numpy as np
import pytest
from get_template_testing import cutout, tileBoxes, writePatches

from diffim.fits_io import writeExposure
from diffim.psf import GaussianPsf, SpatialPsf
from diffim.testing.simulate import simulatePair
from diffim_get_template import CoaddTemplate, GetCoaddAsTemplateConfig


def _template(science, source):
    return CoaddTemplate().diffim_getTemplate(science=science, config=GetCoaddAsTemplateConfig(),
                                              source=str(source))


@pytest.fixture(scope="module")
def blurredRepository(pair, tmp_path_factory):
    """3×3 patches whose Gaussian PSF sigma is 1.5 + 0.1 * column (i along x)."""
    template = pair[1]
    root = tmp_path_factory.mktemp("blurred")
    folder = root / "deepCoadd" / "r"
    folder.mkdir(parents=True)
    for index, (x0, y0, w, h) in enumerate(tileBoxes(template.width, template.height, 3, 3, 10)):
        patch = cutout(template, x0, y0, w, h)
        patch.psf = GaussianPsf(1.5 + 0.1 * (index % 3), size=21)
        writeExposure(patch, folder / f"patch_{index % 3}_{index // 3}.fits")
    return root


def test_different_patch_psfs_give_a_first_order_spatial_psf(pair, blurredRepository):
    assembled = _template(pair[0], blurredRepository)
    psf = assembled.psf
    assert isinstance(psf, SpatialPsf) and psf.order == 1 and len(psf.x) == 9
    assert assembled.metadata["TEMPLATE_PSF"] == "order-1 fit to the PSFs of 9 patches"
    # Column centres of the supplied pixels, in template pixels (origin 21 px left).
    for column, x in enumerate((21 + 85, 21 + 256, 21 + 426)):
        expected = GaussianPsf(1.5 + 0.1 * column, size=21).sigma()
        assert psf.sigma(x, 276.0) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("x0, owner", [(148, "patch_0_0"), (160, "patch_1_0")])
def test_two_patch_template_takes_the_psf_of_the_patch_supplying_most(pair, blurredRepository,
                                                                      x0, owner):
    # Grown by 20 px the 40 px cut spans columns x0-21 .. x0+59; the strip splits at 171.
    assembled = _template(cutout(pair[0], x0, 30, 40, 40), blurredRepository)
    assert assembled.metadata["TEMPLATE_PATCHES"].count(",") == 1
    sigma = 1.5 + 0.1 * int(owner[6])
    np.testing.assert_array_equal(assembled.psf.at(0.0, 0.0), GaussianPsf(sigma, 21).image)
    assert assembled.metadata["TEMPLATE_PSF"] == f"from {owner}.fits"


def test_a_spatially_varying_patch_psf_moves_to_template_pixels(tmp_path):
    science, template, _ = simulatePair(size=256, psfVariation=0.4, seed=4, nTransients=5)
    assert isinstance(template.psf, SpatialPsf)
    writePatches(template, tmp_path / "deepCoadd" / "r", nx=2, ny=2, overlap=8)
    assembled = _template(cutout(science, 150, 150, 60, 60), tmp_path)
    assert assembled.metadata["TEMPLATE_PATCHES"] == "deepCoadd/r/patch_1_1.fits"
    x, y = (float(v) for v in assembled.wcs.world_to_pixel_values(
        *template.wcs.pixel_to_world_values(0.0, 0.0)))
    for px, py in ((170.0, 160.0), (200.0, 215.0)):
        np.testing.assert_allclose(assembled.psf.at(px + x, py + y), template.psf.at(px, py),
                                   atol=1e-12)
    assert template.psf.sigma(170.0, 160.0) < template.psf.sigma(200.0, 215.0) - 0.02


def test_patches_in_one_row_leave_no_first_order_fit(pair, blurredRepository):
    # Grown by 20 px the cut spans columns 39..479 of the bottom row: 132, 171 and 138
    # columns of the three patches. A linear fit would be undetermined along y.
    assembled = _template(cutout(pair[0], 60, 30, 400, 40), blurredRepository)
    assert assembled.metadata["TEMPLATE_PATCHES"].count(",") == 2
    assert assembled.metadata["TEMPLATE_PSF"] == "from patch_1_0.fits"
    np.testing.assert_array_equal(assembled.psf.at(0.0, 0.0), GaussianPsf(1.6, 21).image)
