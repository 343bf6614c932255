"""The template is the patches' pixels placed on the tract grid: exact, owned, merged, lazy."""
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from get_template_testing import cutout, tileBoxes, writePatches

from diffim import plugins
from diffim.fits_io import writeExposure
from diffim.mask import MaskPlanes, remapMask
from diffim.task import ImageDifferenceTask
from diffim_get_template import CoaddTemplate, GetCoaddAsTemplateConfig


def _template(science, source, config=None):
    """The plugin called through pluggy, as the task calls it."""
    if config is None:
        config = GetCoaddAsTemplateConfig()
        config.freeze()
    manager = plugins.new_manager()
    manager.register(plugins.load("getTemplate", "coadd")())
    return manager.hook.diffim_getTemplate(science=science, config=config, source=str(source),
                                           templateIdList=[])


def _origin(assembled, original):
    """Assembled-template pixel of the original's pixel (0, 0), checked to be whole."""
    x, y = (float(v) for v in assembled.wcs.world_to_pixel_values(
        *original.wcs.pixel_to_world_values(0.0, 0.0)))
    assert abs(x - round(x)) < 1e-6 and abs(y - round(y)) < 1e-6
    return int(round(x)), int(round(y))


def _window(assembled, original):
    """The ``[y, x]`` slices of the assembled template that hold the original's pixels."""
    x0, y0 = _origin(assembled, original)
    return slice(y0, y0 + original.height), slice(x0, x0 + original.width)


def test_entry_point_and_lsst_defaults():
    assert plugins.load("getTemplate", "coadd") is CoaddTemplate
    assert plugins.distribution("getTemplate", "coadd") == "diffim-get-template"
    config = GetCoaddAsTemplateConfig()
    assert (config.coaddName, config.templateBorderSize) == ("deep", 20)


def test_patches_reassemble_the_template_bit_for_bit(pair, repository):
    science, template, _ = pair
    assembled = _template(science, repository)
    # The science image (offset 0.3, 0.2 px) grown by 20 px spans template pixels -21..531.
    assert assembled.shape == (553, 553)
    assert _origin(assembled, template) == (21, 21)
    window = _window(assembled, template)
    np.testing.assert_array_equal(assembled.image[window], template.image)
    np.testing.assert_array_equal(assembled.variance[window], template.variance)
    np.testing.assert_array_equal(assembled.mask[window], template.mask)
    assert dict(assembled.maskPlanes) == dict(template.maskPlanes)
    outside = np.ones(assembled.shape, bool)
    outside[window] = False
    assert np.isnan(assembled.image[outside]).all()
    assert np.isposinf(assembled.variance[outside]).all()
    assert (assembled.mask[outside] == assembled.bitmask("NO_DATA")).all()
    assert not assembled.maskedPixels("NO_DATA")[window].any()
    assert assembled.filter == "r" and assembled.photoCalib == template.photoCalib
    np.testing.assert_array_equal(assembled.psf.at(100.0, 400.0), template.psf.image)
    assert assembled.metadata["TEMPLATE_PATCHES"].split(",") == [
        f"deepCoadd/r/patch_{i}_{j}.fits" for i in range(3) for j in range(3)]
    assert assembled.metadata["TEMPLATE_PSF"] == "identical in every patch"


def test_border_size_sets_the_template_box(pair, repository):
    science, template, _ = pair
    tight = GetCoaddAsTemplateConfig(templateBorderSize=0)
    assembled = _template(science, repository, tight)
    assert assembled.shape == (513, 513) and _origin(assembled, template) == (1, 1)


def test_overlap_pixels_come_from_the_patch_they_lie_deepest_in(pair, tmp_path):
    """Each patch holds its own index: every pixel must come from the cell it lies in."""
    science, template, _ = pair
    folder = tmp_path / "deepCoadd" / "r"
    folder.mkdir(parents=True)
    boxes = tileBoxes(template.width, template.height, 3, 3, 10)
    for index, (x0, y0, w, h) in enumerate(boxes):
        patch = cutout(template, x0, y0, w, h)
        patch.image[:] = index
        writeExposure(patch, folder / f"patch{index}.fits")
    assembled = _template(science, tmp_path)
    window = _window(assembled, template)
    edges = np.linspace(0, template.width, 4).round()
    cell = np.searchsorted(edges, np.arange(template.width), side="right") - 1
    expected = cell[:, None] * 3 + cell[None, :]
    np.testing.assert_array_equal(assembled.image[window], expected)
    # Rows 0 and 511 lie on the outer edge of both patches of a strip: the split still
    # follows the strip's middle (columns 161..170 from the left patch, 171..180 right).
    assert (assembled.image[window][0, 161:171] == 0).all()
    assert (assembled.image[window][0, 171:181] == 1).all()


def test_mask_planes_are_merged_by_name(pair, tmp_path):
    science, template, _ = pair
    folder = tmp_path / "deepCoadd" / "r"
    patches = writePatches(template, folder, nx=2, ny=1, overlap=10)
    right = patches[1]
    exposure = cutout(template, right.x0, right.y0, right.width, right.height)
    shuffled = MaskPlanes({"NO_DATA": 0, "STREAK": 3, "SAT": 12, "BAD": 13, "EDGE": 14,
                           "CR": 15, "INTRP": 16, "SUSPECT": 17, "DETECTED": 18,
                           "DETECTED_NEGATIVE": 19})
    exposure.mask = remapMask(exposure.mask, exposure.maskPlanes, shuffled)
    exposure.maskPlanes = shuffled
    exposure.mask[100:110, 200:220] |= 1 << shuffled["STREAK"]
    writeExposure(exposure, right.path, overwrite=True)
    assembled = _template(science, tmp_path)
    window = _window(assembled, template)
    np.testing.assert_array_equal(assembled.maskedPixels("SAT")[window],
                                  template.maskedPixels("SAT"))
    np.testing.assert_array_equal(assembled.maskedPixels("DETECTED")[window],
                                  template.maskedPixels("DETECTED"))
    streak = np.zeros(template.shape, bool)
    streak[100:110, right.x0 + 200:right.x0 + 220] = True
    np.testing.assert_array_equal(assembled.maskedPixels("STREAK")[window], streak)


def test_only_patches_overlapping_the_grown_science_image_are_read(pair, repository,
                                                                   readsCounted):
    science, template, _ = pair
    corner = cutout(science, 30, 30, 100, 100)
    assembled = _template(corner, repository)
    assert readsCounted == [repository / "deepCoadd" / "r" / "patch_0_0.fits"]
    window = _window(assembled, template)
    inner = assembled.image[max(window[0].start, 0):, max(window[1].start, 0):]
    assert assembled.shape == (141, 141) and not np.isnan(inner).any()
    # Straddling the strip between the two lower-left patches (x 161..180) reads both.
    readsCounted.clear()
    _template(cutout(science, 150, 30, 40, 40), repository)
    assert [p.name for p in readsCounted] == ["patch_0_0.fits", "patch_1_0.fits"]


def test_plain_fits_patches_with_a_wcs_are_read_too(pair, tmp_path):
    science, template, _ = pair
    folder = tmp_path / "deepCoadd" / "r" / "tract0"
    folder.mkdir(parents=True)
    for x0, y0, w, h in tileBoxes(template.width, template.height, 2, 2, 10):
        patch = cutout(template, x0, y0, w, h)
        header = patch.wcs.to_header()
        header["GAIN"], header["RDNOISE"], header["FILTER"] = 2.0, 5.0, "r"
        fits.PrimaryHDU(patch.image, header).writeto(folder / f"plain_{x0}_{y0}.fits")
    assembled = _template(cutout(science, 100, 100, 300, 300), tmp_path)
    x0, y0 = _origin(assembled, template)
    np.testing.assert_array_equal(assembled.image[y0 + 80:y0 + 420, x0 + 80:x0 + 420],
                                  template.image[80:420, 80:420])
    assert assembled.metadata["TEMPLATE_PATCHES"].count(",") == 3
    # plain patches carry no PSF: the task measures the assembled template's
    assert assembled.psf is None and assembled.metadata["TEMPLATE_PSF"] == "no patch has a PSF"
    measured = ImageDifferenceTask().characterize(assembled, "template")
    assert measured.psf.fwhm() == pytest.approx(template.psf.fwhm(), rel=0.1)


def test_hook_does_not_modify_the_science_exposure(pair, repository):
    science = pair[0].clone()
    before = science.image.copy(), science.wcs.wcs.crpix.copy()
    _template(science, repository)
    np.testing.assert_array_equal(science.image, before[0])
    np.testing.assert_array_equal(science.wcs.wcs.crpix, before[1])
    assert isinstance(repository, Path)
