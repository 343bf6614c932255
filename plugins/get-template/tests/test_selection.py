"""Patches are found by their headers on the sky: the right tract, across RA 0, on its grid."""
import numpy as np
import pytest
from get_template_testing import cutout, reprojected, writePatches

from diffim.fits_io import writeExposure
from diffim.testing.simulate import simulatePair
from diffim_get_template import CoaddTemplate, GetCoaddAsTemplateConfig, TemplateRepositoryError


def _template(science, source, **overrides):
    return CoaddTemplate().diffim_getTemplate(science=science,
                                              config=GetCoaddAsTemplateConfig(**overrides),
                                              source=str(source))


def _otherTract(template, x0, width, folder, shift=(0.02, 0.01)):
    """Template columns ``x0 .. x0 + width`` as one patch of a tract with another tangent point."""
    patch = cutout(template, x0, 0, width, template.height)
    ra, dec = patch.wcs.wcs.crval
    patch.wcs = reprojected(patch.wcs, ra + shift[0], dec + shift[1], (width - 1) / 2.0,
                            (template.height - 1) / 2.0)
    folder.mkdir(parents=True)
    writeExposure(patch, folder / "patch.fits")
    return folder / "patch.fits", ra + shift[0]


@pytest.mark.parametrize("bColumns, winner", [((150, 362), "B"), ((420, 92), "A")])
def test_the_tract_covering_most_of_the_science_image_is_chosen(pair, tmp_path, readsCounted,
                                                                bColumns, winner):
    science, template, _ = pair
    band = tmp_path / "deepCoadd" / "r"
    tractA = writePatches(cutout(template, 0, 0, 200, template.height), band / "tractA",
                          nx=1, ny=3)
    pathB, raB = _otherTract(template, *bColumns, band / "tractB")
    assembled = _template(science, tmp_path)
    if winner == "B":
        assert readsCounted == [pathB]
        assert assembled.metadata["TEMPLATE_TRACT"] == f"tract at RA={raB:.5f} Dec=+2.01000"
    else:
        assert readsCounted == [patch.path for patch in tractA]
        assert assembled.metadata["TEMPLATE_TRACT"] == "tract at RA=150.00000 Dec=+2.00000"
    patches = assembled.metadata["TEMPLATE_PATCHES"].split(",")
    assert patches == [str(path.relative_to(tmp_path)) for path in readsCounted]


def test_a_field_across_ra_zero(tmp_path, readsCounted):
    science, template, _ = simulatePair(size=256, center=(0.0, 5.0), seed=5, nTransients=5)
    ra, dec = template.wcs.pixel_to_world_values([0.0, 255.0], [128.0, 128.0])
    assert ra[0] < 1.0 and ra[1] > 359.0
    template.wcs = reprojected(template.wcs, 359.995, 5.0, 127.5, 127.5)
    band = tmp_path / "deepCoadd" / "r"
    writePatches(template, band / "tract0", nx=2, ny=2, overlap=8)
    for name, (ra, dec) in {"near": (0.3, 5.0), "opposite": (180.0, -5.0)}.items():
        elsewhere = template.clone()
        elsewhere.wcs.wcs.crval = [ra, dec]
        elsewhere.wcs.wcs.set()
        (band / name).mkdir()
        writeExposure(elsewhere, band / name / "patch.fits")
    assembled = _template(science, tmp_path)
    assert sorted(p.parent.name for p in readsCounted) == ["tract0"] * 4
    x, y = (float(v) for v in assembled.wcs.world_to_pixel_values(
        *template.wcs.pixel_to_world_values(0.0, 0.0)))
    x0, y0 = round(x), round(y)
    assert abs(x - x0) < 1e-6 and abs(y - y0) < 1e-6 and (x0, y0) == (21, 21)
    np.testing.assert_array_equal(assembled.image[y0:y0 + 256, x0:x0 + 256], template.image)
    np.testing.assert_array_equal(assembled.variance[y0:y0 + 256, x0:x0 + 256],
                                  template.variance)


@pytest.mark.parametrize("damage, error", [
    (lambda wcs: wcs.wcs.crpix.__iadd__([0.3, 0.0]), "off by up to 0.300 px"),
    # 0.1% scale error: the far corner is 362 px from CRPIX (pixel 9.2, 255.3 of the patch).
    (lambda wcs: wcs.wcs.cd.__imul__(1.001), "off by up to 0.362 px"),
])
def test_a_patch_off_its_tract_grid_is_refused(pair, tmp_path, damage, error):
    science, template, _ = pair
    band = tmp_path / "deepCoadd" / "r"
    patches = writePatches(template, band, nx=2, ny=1)
    moved = cutout(template, patches[1].x0, 0, patches[1].width, patches[1].height)
    damage(moved.wcs)
    moved.wcs.wcs.set()
    writeExposure(moved, patches[1].path, overwrite=True)
    with pytest.raises(TemplateRepositoryError) as info:
        _template(science, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{patches[1].path}: WCS is not on the pixel grid of its tract")
    assert error in message and str(patches[0].path) in message and "\n" not in message
