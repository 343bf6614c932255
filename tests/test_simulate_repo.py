"""The simulated data repository (``simulateRepo``, ``diffim simulate --repo``) and the
sky-catalog renderer it is built on."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS
from scipy.special import erf

from diffim.centroids import windowedCentroids
from diffim.cli import main
from diffim.repo import Repository, SkyMap
from diffim.task_config import ImageDifferenceConfig
from diffim.testing import simulate_repo as sr
from diffim.testing.simulate import renderSkyCatalog

COADD = "deepCoadd"


def _rotatedWcs(angle: float, crpix: tuple[float, float]) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = list(crpix)
    scale = 0.2 / 3600.0
    cos, sin = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    wcs.wcs.cd = [[-scale * cos, scale * sin], [scale * sin, scale * cos]]
    wcs.wcs.set()
    return wcs


# Rendering ----------------------------------------------------------------------------------

def test_rendered_star_lands_where_the_wcs_says_with_its_flux():
    wcs = _rotatedWcs(20.0, (60.3, 40.8))
    x, y = np.array([40.37, 70.81, 3.2]), np.array([55.12, 20.5, 50.0])
    ra, dec = wcs.pixel_to_world_values(x, y)
    flux = np.array([1e4, 5e3, 8e3])
    rendered = renderSkyCatalog(wcs, (101, 111), ra, dec, flux, 2.0, background=100.0)
    assert rendered.model.shape == (101, 111)
    np.testing.assert_allclose(rendered.x, x, atol=1e-8)
    np.testing.assert_allclose(rendered.y, y, atol=1e-8)
    centroids = windowedCentroids(rendered.model - 100.0, x[:2], y[:2], 2.0)
    assert np.all(np.abs(centroids.x - x[:2]) < 0.05)
    assert np.all(np.abs(centroids.y - y[:2]) < 0.05)
    # Whole stamps for the first two; the third (1.6 sigma from the edge) loses its left wing.
    for i in range(2):
        xi, yi = int(round(x[i])), int(round(y[i]))
        box = rendered.model[yi - 12:yi + 13, xi - 12:xi + 13] - 100.0
        assert box.sum() == pytest.approx(flux[i], rel=1e-4)
    lost = 0.5 * (1.0 + erf((-0.5 - x[2]) / (np.sqrt(2.0) * 2.0)))
    assert (rendered.model - 100.0).sum() == pytest.approx(flux.sum() - flux[2] * lost, rel=1e-4)
    assert list(rendered.inside()) == [True, True, True]
    assert list(rendered.inside(margin=5.0)) == [True, True, False]
    assert np.all(np.isfinite(rendered.fluxErr)) and not rendered.saturated.any()


def test_same_catalog_through_two_grids_agrees_where_they_overlap():
    # A grid shifted by whole pixels sees the same pixels; a source off the image adds wings.
    wcs = _rotatedWcs(0.0, (50.0, 50.0))
    shifted = _rotatedWcs(0.0, (50.0 - 30, 50.0 - 20))
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-10, 110, (2, 40))
    ra, dec = wcs.pixel_to_world_values(x, y)
    flux = rng.uniform(1e3, 1e5, 40)
    a = renderSkyCatalog(wcs, (100, 100), ra, dec, flux, 1.8, 50.0, level=1e-6)
    b = renderSkyCatalog(shifted, (100, 100), ra, dec, flux, 1.8, 50.0, level=1e-6)
    np.testing.assert_allclose(a.model[20:, 30:], b.model[:80, :70], rtol=0, atol=1e-6)
    assert a.model[20:, 30:].max() > 1000.0


# The repository -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return sr.simulateRepo(tmp_path_factory.mktemp("simrepo") / "repo", seed=1)


@pytest.fixture(scope="module")
def repo(made):
    return Repository(made.root)


def _patch(repo, patch):
    return repo.get(COADD, {"tract": 0, "patch": patch, "band": "r"})


def test_repository_holds_four_patches_eight_visits_and_their_truth(made, repo):
    refs = repo.query()
    counts = {name: sum(ref.datasetType == name for ref in refs)
              for name in ("deepCoadd", "calexp", "truth", "skyMap")}
    assert counts == {"deepCoadd": 4, "calexp": 8, "truth": 8, "skyMap": 1}
    assert made.patches == [0, 1, 2, 3] and made.tract == 0
    assert made.visits == [{"visit": v, "detector": 0, "band": "r"} for v in range(1, 9)]
    assert made.poorlyCovered == {"visit": sr.POOR_VISIT, "detector": 0, "band": "r"}
    assert {ref.dataId["visit"] for ref in repo.query("calexp", "visit > 6")} == {7, 8}
    for patch in made.patches:
        coadd = _patch(repo, patch)
        assert coadd.shape == (sr.PATCH_INNER + sr.PATCH_BORDER,) * 2
        assert (coadd.metadata["TRACT"], coadd.metadata["PATCH"]) == (0, patch)
        assert coadd.filter == "r" and coadd.psf.sigma() == pytest.approx(1.5, rel=0.02)
        assert coadd.photoCalib.zeroPoint == pytest.approx(28 + 2.5 * np.log10(3.6))
        assert np.median(coadd.variance) == pytest.approx(3000 / 2 + 6.25, rel=0.02)
    sigmas = []
    for dataId in made.visits:
        calexp = repo.get("calexp", dataId)
        assert calexp.shape == (sr.VISIT_SIZE, sr.VISIT_SIZE) and calexp.filter == "r"
        assert (calexp.metadata["VISIT"], calexp.metadata["DETECTOR"]) == (dataId["visit"], 0)
        assert 27.8 < calexp.photoCalib.zeroPoint <= 28.0
        assert 800 < np.median(calexp.image) < 1400
        sigmas.append(calexp.psf.sigma() / 1.5)
    # Seeing ratios spread over 1.2-1.5 (the measured sigma of a pixelated Gaussian is a bit
    # wider than its sigma).
    assert 1.2 <= min(sigmas) and max(sigmas) <= 1.52 and max(sigmas) - min(sigmas) > 0.1
    dates = {repo.get("calexp", dataId).obsDate for dataId in made.visits}
    assert len(dates) == 8


def test_sky_map_round_trips(made, repo):
    skyMap = repo.skyMap
    assert isinstance(skyMap, SkyMap) and skyMap == made.repository.skyMap
    tract = skyMap[0]
    assert (tract.ra, tract.dec, tract.pixelScale) == (150.0, 2.0, 0.2)
    assert tract.numPatches == (2, 2) and tract.patchBorder == sr.PATCH_BORDER
    for patch in made.patches:
        wcs = _patch(repo, patch).wcs
        x0, y0, w, h = tract.patchOuterBox(patch)
        ra, dec = wcs.pixel_to_world_values([0.0, w - 1.0], [0.0, h - 1.0])
        tx, ty = tract.wcs.world_to_pixel_values(ra, dec)
        np.testing.assert_allclose(tx, [x0, x0 + w - 1], atol=1e-6)
        np.testing.assert_allclose(ty, [y0, y0 + h - 1], atol=1e-6)


@pytest.mark.parametrize("first, second", [(0, 1), (0, 2), (1, 3), (0, 3)])
def test_adjacent_patches_agree_pixel_for_pixel_on_their_overlap(repo, first, second):
    tract = repo.skyMap[0]
    a, b = _patch(repo, first), _patch(repo, second)
    ax0, ay0, aw, ah = tract.patchOuterBox(first)
    bx0, by0, bw, bh = tract.patchOuterBox(second)
    x0, x1 = max(ax0, bx0), min(ax0 + aw, bx0 + bw)
    y0, y1 = max(ay0, by0), min(ay0 + ah, by0 + bh)
    assert x1 - x0 >= 2 * sr.PATCH_BORDER and y1 - y0 >= 2 * sr.PATCH_BORDER
    inA = (slice(y0 - ay0, y1 - ay0), slice(x0 - ax0, x1 - ax0))
    inB = (slice(y0 - by0, y1 - by0), slice(x0 - bx0, x1 - bx0))
    np.testing.assert_array_equal(a.image[inA], b.image[inB])
    np.testing.assert_array_equal(a.variance[inA], b.variance[inB])
    # The overlap holds stars, and both WCSs put its corner at the same place on the sky.
    assert a.image[inA].max() > 3000 + 20 * np.sqrt(1500)
    raA, decA = a.wcs.pixel_to_world_values(x0 - ax0, y0 - ay0)
    raB, decB = b.wcs.pixel_to_world_values(x0 - bx0, y0 - by0)
    assert abs(raA - raB) < 1e-10 and abs(decA - decB) < 1e-10


def _centroid(image: np.ndarray, x: float, y: float, sigma: float) -> tuple[float, float]:
    """Windowed centroid after removing the median of a 41 px box around the source."""
    xi, yi = int(round(float(x))), int(round(float(y)))
    local = image[yi - 20:yi + 21, xi - 20:xi + 21]
    found = windowedCentroids(image - np.median(local), [x], [y], sigma)
    assert not found.failed[0]
    return float(found.x[0]), float(found.y[0])


def test_star_lands_at_the_same_sky_position_in_a_visit_and_a_patch(made, repo):
    tract = repo.skyMap[0]
    offsets = []
    for dataId in made.visits:
        if dataId["visit"] == sr.POOR_VISIT:
            continue
        truth = repo.get("truth", dataId)
        calexp = repo.get("calexp", dataId)
        stars = truth[(truth["kind"] == "star") & ~truth["saturated"]
                      & (truth["differenceSnr"] > 250)]
        for star in stars:
            others = np.hypot(truth["x"] - star["x"], truth["y"] - star["y"])
            if np.sum(others < 15) > 1 or not (25 < star["x"] < 359 and 25 < star["y"] < 359):
                continue
            vx, vy = _centroid(calexp.image, star["x"], star["y"], calexp.psf.sigma())
            assert np.hypot(vx - star["x"], vy - star["y"]) < 0.05
            ra, dec = calexp.wcs.pixel_to_world_values(vx, vy)
            tx, ty = tract.wcs.world_to_pixel_values(ra, dec)
            patch = int(ty // sr.PATCH_INNER) * 2 + int(tx // sr.PATCH_INNER)
            coadd = _patch(repo, patch)
            px, py = coadd.wcs.world_to_pixel_values(ra, dec)
            cx, cy = _centroid(coadd.image, px, py, 1.5)
            offsets.append(np.hypot(cx - px, cy - py))
    # Isolated stars of S/N > 250 are few in 7 small visits: 3 with seed 1.
    assert len(offsets) >= 3
    assert max(offsets) < 0.05


def test_coverage_of_the_visits_by_the_patches(made, repo):
    required = ImageDifferenceConfig._fields["requiredTemplateFraction"].default
    assert sr.REQUIRED_TEMPLATE_FRACTION == required
    tract = repo.skyMap[0]
    boxes = [tract.patchOuterBox(patch) for patch in made.patches]
    grid = np.arange(1.0, sr.VISIT_SIZE, 2.0)
    gx, gy = (v.ravel() for v in np.meshgrid(grid, grid))
    for dataId in made.visits:
        wcs = repo.get("calexp", dataId).wcs
        tx, ty = tract.wcs.world_to_pixel_values(*wcs.pixel_to_world_values(gx, gy))
        inside = np.zeros(gx.size, dtype=bool)
        for x0, y0, w, h in boxes:
            inside |= ((tx >= x0 - 0.5) & (tx < x0 + w - 0.5)
                       & (ty >= y0 - 0.5) & (ty < y0 + h - 0.5))
        visit = dataId["visit"]
        assert made.coverage[visit] == pytest.approx(inside.mean(), abs=0.01)
        if visit == sr.POOR_VISIT:
            assert 0.02 < inside.mean() < required
            assert made.visitPatches[visit]    # a patch is found; only the coverage fails
        else:
            assert inside.mean() > 0.9
    # Several visits straddle patch boundaries: their templates need 2 or 4 patches.
    needs = sorted(len(made.visitPatches[dataId["visit"]]) for dataId in made.visits
                   if dataId["visit"] != sr.POOR_VISIT)
    assert needs.count(4) >= 2 and needs.count(2) >= 3 and needs.count(1) >= 1


def _apertureFlux(image: np.ndarray, x: float, y: float, radius: float) -> float:
    """Sum within ``radius`` of (x, y) minus the median of the annulus 2-3.5 radii out."""
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    r = np.hypot(xx - x, yy - y)
    sky = np.median(image[(r > 2 * radius) & (r < 3.5 * radius)])
    aperture = r < radius
    return float((image[aperture] - sky).sum())


def test_transients_are_in_their_visit_and_not_in_the_coadd(made, repo):
    tract = repo.skyMap[0]
    total = 0
    for dataId in made.visits:
        truth = repo.get("truth", dataId)
        transients = truth[truth["kind"] == "transient"]
        assert 10 <= len(transients) <= 20
        total += len(transients)
        assert np.all((transients["x"] > 20) & (transients["x"] < sr.VISIT_SIZE - 21))
        assert np.all((transients["y"] > 20) & (transients["y"] < sr.VISIT_SIZE - 21))
        assert np.all(transients["templateFlux"] == 0)
        np.testing.assert_array_equal(transients["differenceFlux"], transients["scienceFlux"])
        stars = truth[truth["kind"] == "star"]
        assert np.all(stars["differenceFlux"] == 0) and len(stars) > 50
        calexp = repo.get("calexp", dataId)
        ra, dec = calexp.wcs.pixel_to_world_values(transients["x"], transients["y"])
        np.testing.assert_allclose(ra, transients["ra"], atol=1e-9)
        np.testing.assert_allclose(dec, transients["dec"], atol=1e-9)
        # The brightest transient: there in the visit, absent from the coadd.
        bright = transients[np.argmax(transients["scienceFlux"])]
        radius = 3.0 * calexp.psf.sigma()
        measured = _apertureFlux(calexp.image, bright["x"], bright["y"], radius)
        noise = float(np.sqrt(np.pi * radius ** 2 * np.median(calexp.variance)))
        assert measured == pytest.approx(0.99 * bright["scienceFlux"], abs=5 * noise)
        tx, ty = tract.wcs.world_to_pixel_values(bright["ra"], bright["dec"])
        if 0 <= tx < tract.width and 0 <= ty < tract.height:
            patch = int(ty // sr.PATCH_INNER) * 2 + int(tx // sr.PATCH_INNER)
            coadd = _patch(repo, patch)
            px, py = coadd.wcs.world_to_pixel_values(bright["ra"], bright["dec"])
            inCoadd = _apertureFlux(coadd.image, px, py, 3.0 * 1.5)
            coaddNoise = float(np.sqrt(np.pi * 4.5 ** 2 * np.median(coadd.variance)))
            assert abs(inCoadd) < 5 * coaddNoise < 0.2 * 3.6 * bright["scienceFlux"]
    assert 80 <= total <= 160
    snr = np.concatenate([repo.get("truth", d)["differenceSnr"][
        repo.get("truth", d)["kind"] == "transient"] for d in made.visits])
    assert snr.min() > 5 and snr.max() > 60


# The command --------------------------------------------------------------------------------

def test_cli_builds_the_same_repository_for_the_same_seed(made, repo, tmp_path, capsys):
    root = tmp_path / "cli-repo"
    assert main(["simulate", "--repo", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"repository: {root}" in out
    assert "4 deepCoadd patches of tract 0 (0, 1, 2, 3)" in out
    assert "8 calexp visits with truth (1, 2, 3, 4, 5, 6, 7, 8)" in out
    assert f"visit {sr.POOR_VISIT}: the patches cover 5.1% of it" in out
    other = Repository(root)
    assert len(other.query()) == 21
    for datasetType, dataId in (("calexp", made.visits[2]),
                                ("deepCoadd", {"tract": 0, "patch": 3, "band": "r"})):
        np.testing.assert_array_equal(other.get(datasetType, dataId).image,
                                      repo.get(datasetType, dataId).image)
    np.testing.assert_array_equal(other.get("truth", made.visits[2])["x"],
                                  repo.get("truth", made.visits[2])["x"])


@pytest.mark.parametrize("args, message", [
    ([], "give -o/--output DIR for a science/template pair or --repo DIR"),
    (["-o", "out", "--repo", "repo"], "not both"),
    (["--repo", "repo", "--size", "64"], "--size applies to -o, not to --repo"),
    (["--repo", "repo", "--transients", "5", "--overwrite"],
     "--transients, --overwrite apply to -o, not to --repo"),
])
def test_cli_usage_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_refuses_a_directory_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "something").write_text("x")
    assert main(["simulate", "--repo", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "exists and is not an empty directory" in err and len(err.splitlines()) == 1
