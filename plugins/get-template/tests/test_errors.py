"""Every failure a user can cause is a one-line DiffimError naming what and where."""
import re

import numpy as np
import pytest
from get_template_testing import cutout, writePatches

from diffim.errors import ConfigError, InputError, NoOverlapError
from diffim.fits_io import writeExposure
from diffim.photocalib import PhotoCalib
from diffim_get_template import (CoaddTemplate, GetCoaddAsTemplateConfig, NoTemplatePatchError,
                                 TemplateRepositoryError)


def _fails(science, source, error, pattern, **overrides):
    with pytest.raises(error) as info:
        CoaddTemplate().diffim_getTemplate(science=science,
                                           config=GetCoaddAsTemplateConfig(**overrides),
                                           source=str(source))
    message = str(info.value)
    assert "\n" not in message
    assert re.search(pattern, message), message
    return message


def _twoPatches(template, root):
    return writePatches(template, root / "deepCoadd" / "r", nx=2, ny=1)


def test_missing_repository(pair, tmp_path):
    _fails(pair[0], tmp_path / "nowhere", TemplateRepositoryError,
           rf"^{tmp_path}/nowhere: template repository not found \(expected a directory holding "
           r"deepCoadd/r/\*\.fits patches\)$")


def test_missing_band_or_coadd_lists_what_exists(pair, repository):
    science = pair[0].clone()
    (repository / "goodSeeingCoadd" / "i").mkdir(parents=True, exist_ok=True)
    science.filter = "g"
    _fails(science, repository, TemplateRepositoryError,
           rf"^{repository}: no deepCoadd/g folder for band 'g' .*found: deepCoadd/r, "
           r"goodSeeingCoadd/i\)$")
    _fails(pair[0], repository, TemplateRepositoryError,
           r"no dcrCoadd/r folder for band 'r'", coaddName="dcr")


def test_empty_band_folder(pair, tmp_path):
    (tmp_path / "deepCoadd" / "r").mkdir(parents=True)
    _fails(pair[0], tmp_path, TemplateRepositoryError,
           rf"^{tmp_path}: deepCoadd/r holds no \*\.fits patch for band 'r'")


def test_no_patch_overlaps_the_science_exposure(pair, repository, readsCounted):
    science = pair[0].clone()
    # 2 deg north: the top patches' bounding circles (centres at Dec 2.0095) end 1.96 deg away.
    science.wcs.wcs.crval = [150.0, 4.0]
    science.wcs.wcs.set()
    message = _fails(science, repository, NoTemplatePatchError,
                     rf"^{repository}: none of the 9 deepCoadd patches of band 'r' overlaps "
                     r"the science exposure grown by 20 px \(the nearest is 1\.96\d deg away")
    assert readsCounted == []
    assert issubclass(NoTemplatePatchError, NoOverlapError) and "expected" in message


def test_a_science_exposure_just_beside_the_patches(pair, repository):
    beside = cutout(pair[0], 300, 200, 100, 100)
    beside.wcs.wcs.crpix = beside.wcs.wcs.crpix - [250.0, 0.0]
    beside.wcs.wcs.set()
    # Now at template columns 550..649: grown by 20 px it starts 8 px right of column 511.
    _fails(beside, repository, NoTemplatePatchError,
           r"none of the 9 deepCoadd patches .* \(the nearest patches' bounding circles reach it, "
           r"but none of their pixels is inside it; expected")
    # Grown by 40 px instead it reaches column 509 and rows 160..339: two patches.
    assembled = CoaddTemplate().diffim_getTemplate(
        science=beside, config=GetCoaddAsTemplateConfig(templateBorderSize=40),
        source=str(repository))
    assert assembled.metadata["TEMPLATE_PATCHES"].split(",") == [
        "deepCoadd/r/patch_2_0.fits", "deepCoadd/r/patch_2_1.fits"]
    assert np.isfinite(assembled.image[:, :3]).all() and np.isnan(assembled.image[:, 3:]).all()


def test_science_without_wcs_or_filter(pair, repository):
    science = pair[0].clone()
    science.wcs = None
    _fails(science, repository, InputError, r"^the science exposure has no celestial WCS")
    science = pair[0].clone()
    science.filter = None
    _fails(science, repository, InputError, r"^the science exposure has no filter, so the band")


def test_patches_with_different_calibrations_are_refused(pair, tmp_path):
    science, template, _ = pair
    patches = _twoPatches(template, tmp_path)
    brighter = cutout(template, patches[1].x0, 0, patches[1].width, patches[1].height)
    brighter.photoCalib = PhotoCalib(template.photoCalib.zeroPoint + 0.1)
    writeExposure(brighter, patches[1].path, overwrite=True)
    zero = template.photoCalib.zeroPoint
    _fails(science, tmp_path, TemplateRepositoryError,
           rf"the band 'r' patches covering the science exposure have different photometric "
           rf"calibrations \(deepCoadd/r/patch_0_0.fits: zero point {zero:g}, "
           rf"deepCoadd/r/patch_1_0.fits: zero point {zero + 0.1:g}\)")


def test_unusable_patch_files_are_named(pair, tmp_path):
    science, template, _ = pair
    patches = _twoPatches(template, tmp_path)
    other = cutout(template, patches[1].x0, 0, patches[1].width, patches[1].height)
    other.filter = "g"
    writeExposure(other, patches[1].path, overwrite=True)
    _fails(science, tmp_path, TemplateRepositoryError,
           rf"^{patches[1].path}: FILTER is 'g' but the patch is in the 'r' folder")
    other.wcs = None
    writeExposure(other, patches[1].path, overwrite=True)
    _fails(science, tmp_path, TemplateRepositoryError,
           rf"^{patches[1].path}: patch has no celestial WCS")
    patches[1].path.write_bytes(b"not a FITS file at all" * 200)
    _fails(science, tmp_path, TemplateRepositoryError,
           rf"^{patches[1].path}: not a readable FITS patch")


def test_config_values_are_checked():
    with pytest.raises(ConfigError, match="templateBorderSize"):
        GetCoaddAsTemplateConfig(templateBorderSize=-1)
    with pytest.raises(ConfigError, match="coaddName"):
        GetCoaddAsTemplateConfig(coaddName="deep/../x")
