"""The simulated science/template pair (diffim.testing.simulate)."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.fits_io import readExposure, readTable
from diffim.psf import SpatialPsf
from diffim.testing.simulate import simulatePair, writePair
from scipy import ndimage

SIZE = 512
GAIN, READ_NOISE = 2.0, 5.0
OFFSET = (0.3, -0.45)


@pytest.fixture(scope="module")
def pair():
    return simulatePair(size=SIZE, offset=OFFSET, nTransients=12, nVariables=4, seed=3,
                        skyGradient=0.0, gain=GAIN, readNoise=READ_NOISE)


def noiseless(exposure):
    """The noiseless model, recovered from the variance plane (variance = model/gain + rn²)."""
    return GAIN * (exposure.variance.astype(np.float64) - (READ_NOISE / GAIN) ** 2)


def far_from_everything(truth, shape, radius, dx=0.0, dy=0.0):
    free = np.ones(shape, dtype=bool)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    for x, y in zip(truth["x"] - dx, truth["y"] - dy):
        x0, y0 = int(round(x)), int(round(y))
        box = (slice(max(y0 - radius, 0), y0 + radius + 1),
               slice(max(x0 - radius, 0), x0 + radius + 1))
        free[box] &= (yy[box] - y) ** 2 + (xx[box] - x) ** 2 > radius ** 2
    return free


@pytest.mark.parametrize("which", [0, 1])
def test_noise_matches_the_variance_plane(pair, which):
    exposure, truth = pair[which], pair[2]
    z = (exposure.image - noiseless(exposure)) / np.sqrt(exposure.variance)
    dx, dy = (0.0, 0.0) if which == 0 else OFFSET
    free = far_from_everything(truth, exposure.shape, 12, dx, dy)
    assert free.mean() > 0.2
    assert np.std(z[free]) == pytest.approx(1.0, abs=0.05)
    assert abs(np.mean(z[free])) < 0.02
    unsaturated = ~exposure.maskedPixels("SAT")              # stars too: Poisson noise included
    assert np.std(z[unsaturated]) == pytest.approx(1.0, abs=0.05)


def test_template_is_deeper_and_on_another_photometric_scale(pair):
    science, template, truth = pair
    stars = truth[truth["kind"] == "star"]
    np.testing.assert_allclose(stars["templateFlux"], 3.6 * stars["scienceFlux"])
    assert template.photoCalib.zeroPoint - science.photoCalib.zeroPoint == pytest.approx(
        2.5 * np.log10(3.6))
    sky_science = np.median(noiseless(science))
    sky_template = np.median(noiseless(template))
    assert sky_science == pytest.approx(1000, rel=0.02)
    assert sky_template == pytest.approx(3000, rel=0.02)
    # S/N of the same star: signal x3.6, noise only sqrt(3) larger
    assert np.sqrt(np.median(template.variance)) / 3.6 < 0.6 * np.sqrt(np.median(science.variance))
    assert template.psf.sigma() * 1.3 == pytest.approx(science.psf.sigma(), rel=0.02)


def test_transients_are_in_the_science_image_only(pair):
    science, template, truth = pair
    transients = truth[truth["kind"] == "transient"]
    assert len(transients) == 12
    scienceModel, templateModel = noiseless(science), noiseless(template)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for t in transients:
        # light within 8 px (4 sigma) beyond what the template has there: stars cancel
        inScience = (np.hypot(xx - t["x"], yy - t["y"]) < 8)
        inTemplate = np.hypot(xx - (t["x"] - OFFSET[0]), yy - (t["y"] - OFFSET[1])) < 8
        extra = ((scienceModel[inScience] - 1000.0).sum()
                 - (templateModel[inTemplate] - 3000.0).sum() / 3.6)
        assert extra == pytest.approx(t["scienceFlux"], rel=0.02)
        assert t["templateFlux"] == 0 and t["differenceFlux"] == t["scienceFlux"]
        assert t["differenceFluxSnr"] == t["differenceSnr"]
    snr = np.sort(transients["differenceSnr"])
    assert 2.5 < snr[0] < 8 and 40 < snr[-1] < 100
    # away from the edges
    assert transients["x"].min() > 20 and transients["x"].max() < SIZE - 21


def test_variables_change_between_the_images(pair):
    _, _, truth = pair
    variables = truth[truth["kind"] == "variable"]
    assert len(variables) == 4
    ratio = variables["scienceFlux"] * 3.6 / variables["templateFlux"]
    assert np.all((ratio <= 0.8) | (ratio >= 1.25))
    assert np.all(np.abs(variables["differenceFluxSnr"]) > 5)
    stars = truth[truth["kind"] == "star"]
    assert np.all(stars["differenceFlux"] == 0) and np.all(stars["differenceFluxSnr"] == 0)
    assert np.all(stars["differenceSnr"] > 2)           # their brightness against that noise


@pytest.mark.parametrize("which", [0, 1])
def test_saturated_stars_are_clipped_and_flagged(pair, which):
    exposure, truth = pair[which], pair[2]
    sat = exposure.maskedPixels("SAT")
    clipped = exposure.image >= 60000
    assert np.all(exposure.image[clipped] == 60000)
    assert np.array_equal(sat & clipped, clipped)
    assert np.array_equal(sat, ndimage.binary_dilation(clipped))     # grown by one pixel
    if which == 1:                                       # the deeper template saturates
        assert clipped.sum() > 5
        dx, dy = OFFSET
        peaks = [clipped[int(round(y - dy)), int(round(x - dx))]
                 for x, y in zip(truth["x"], truth["y"])]
        assert np.array_equal(peaks, truth["saturated"])


def centroid(model, x, y, sky, half=7):
    x0, y0 = int(round(x)), int(round(y))
    stamp = model[y0 - half:y0 + half + 1, x0 - half:x0 + half + 1] - sky
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    return x0 + (stamp * xx).sum() / stamp.sum(), y0 + (stamp * yy).sum() / stamp.sum()


def test_wcs_maps_truth_positions_in_both_images(pair):
    science, template, truth = pair
    sx, sy = science.wcs.world_to_pixel_values(truth["ra"], truth["dec"])
    tx, ty = template.wcs.world_to_pixel_values(truth["ra"], truth["dec"])
    assert np.max(np.hypot(sx - truth["x"], sy - truth["y"])) < 0.01
    assert np.max(np.hypot(tx - (truth["x"] - OFFSET[0]), ty - (truth["y"] - OFFSET[1]))) < 0.01
    assert science.pixelScale() == pytest.approx(0.2, rel=1e-4)
    # and the stars really are there: centroids of isolated stars in the noiseless images
    stars = truth[(truth["kind"] == "star") & ~truth["saturated"]
                  & (truth["scienceFlux"] > 5000)]
    others = np.column_stack([truth["x"], truth["y"]])
    checked = 0
    for s in stars:
        d = np.hypot(others[:, 0] - s["x"], others[:, 1] - s["y"])
        if np.sort(d)[1] < 20 or not (15 < s["x"] < SIZE - 16 and 15 < s["y"] < SIZE - 16):
            continue
        cx, cy = centroid(noiseless(science), s["x"], s["y"], 1000.0)
        assert np.hypot(cx - sx[s["id"]], cy - sy[s["id"]]) < 0.01
        cx, cy = centroid(noiseless(template), tx[s["id"]], ty[s["id"]], 3000.0)
        assert np.hypot(cx - tx[s["id"]], cy - ty[s["id"]]) < 0.01
        checked += 1
    assert checked >= 5


def test_same_seed_same_pair_and_other_seed_differs():
    a = simulatePair(size=128, nTransients=3, seed=9)
    b = simulatePair(size=128, nTransients=3, seed=9)
    c = simulatePair(size=128, nTransients=3, seed=10)
    for i in (0, 1):
        assert np.array_equal(a[i].image, b[i].image)
        assert np.array_equal(a[i].variance, b[i].variance)
        assert np.array_equal(a[i].mask, b[i].mask)
    assert all(np.array_equal(a[2][n], b[2][n]) for n in a[2].colnames)
    assert not np.array_equal(a[0].image, c[0].image)


def test_psf_variation_and_moffat_profile():
    science, template, _ = simulatePair(size=256, nTransients=2, seed=4, psfVariation=0.3,
                                        profile="moffat")
    assert isinstance(science.psf, SpatialPsf) and isinstance(template.psf, SpatialPsf)
    ratio = science.psf.sigma(255, 255) / science.psf.sigma(0, 0)
    assert ratio == pytest.approx(1.15 / 0.85, rel=0.05)


def test_write_pair_round_trips(tmp_path):
    paths = writePair(tmp_path / "sim", size=128, nTransients=3, seed=2)
    assert sorted(p.name for p in paths.values()) == ["science.fits", "template.fits",
                                                      "truth.fits"]
    science, _, truth = simulatePair(size=128, nTransients=3, seed=2)
    back = readExposure(paths["science"])
    assert np.array_equal(back.image, science.image)
    assert back.psf.sigma() == pytest.approx(science.psf.sigma())
    table = readTable(paths["truth"])
    assert list(table["kind"]) == list(truth["kind"])
    assert table["x"].unit == "pix" and table["differenceSnr"].description


def test_movers_change_position_not_flux_and_leave_the_rest_unchanged(pair):
    science, template, truth = simulatePair(size=SIZE, offset=OFFSET, nTransients=12,
                                            nVariables=4, seed=3, skyGradient=0.0, gain=GAIN,
                                            readNoise=READ_NOISE, nMovers=10)
    # the other objects do not depend on nMovers; static objects keep their position
    before = pair[2]
    assert np.array_equal(truth["kind"][:len(before)], before["kind"])
    for name in before.colnames:
        assert np.array_equal(truth[name][:len(before)], before[name])
    assert np.array_equal(before["templateX"], before["x"])
    assert np.array_equal(before["templateY"], before["y"])
    movers = truth[truth["kind"] == "mover"]
    assert len(movers) == 10 and len(truth) == len(before) + 10
    shift = np.hypot(movers["x"] - movers["templateX"], movers["y"] - movers["templateY"])
    assert np.all((shift >= 0.5) & (shift <= 3.0))
    angle = np.arctan2(movers["y"] - movers["templateY"], movers["x"] - movers["templateX"])
    assert np.ptp(angle) > 2.0                                   # not one direction
    np.testing.assert_allclose(movers["templateFlux"], 3.6 * movers["scienceFlux"])
    assert np.all(movers["differenceFlux"] == 0) and not movers["saturated"].any()
    assert 90 < movers["differenceSnr"].min() and movers["differenceSnr"].max() < 420
    # rendered at the science position in the science image, the template position in the
    # template image
    dx, dy = OFFSET
    for m in movers:
        cx, cy = centroid(noiseless(science), m["x"], m["y"], 1000.0)
        assert np.hypot(cx - m["x"], cy - m["y"]) < 0.01
        cx, cy = centroid(noiseless(template), m["templateX"] - dx, m["templateY"] - dy, 3000.0)
        assert np.hypot(cx - (m["templateX"] - dx), cy - (m["templateY"] - dy)) < 0.01
    # isolated: no other object within 20 px
    others = truth[truth["kind"] != "mover"]
    for m in movers:
        assert np.min(np.hypot(others["x"] - m["x"], others["y"] - m["y"])) > 20
    again = simulatePair(size=SIZE, offset=OFFSET, nTransients=12, nVariables=4, seed=3,
                         skyGradient=0.0, gain=GAIN, readNoise=READ_NOISE, nMovers=10)
    assert np.array_equal(again[0].image, science.image)
    assert np.array_equal(again[2]["templateX"], truth["templateX"])


def test_neighbour_transients_sit_next_to_a_star_or_a_transient(pair):
    science, _, truth = simulatePair(size=SIZE, offset=OFFSET, nTransients=12, nVariables=4,
                                     seed=3, skyGradient=0.0, gain=GAIN,
                                     readNoise=READ_NOISE, nNeighbourTransients=20)
    before = pair[2]
    for name in before.colnames:                 # the other objects do not depend on it
        assert np.array_equal(truth[name][:len(before)], before[name])
    added = truth[len(before):]
    assert len(added) == 20 and (added["kind"] == "transient").all()
    assert np.all(added["templateFlux"] == 0) and np.all(added["scienceFlux"] > 0)
    hosts = truth[:len(before)]
    hosts = hosts[(hosts["kind"] == "star") & ~hosts["saturated"] | (hosts["kind"] == "transient")]
    hostX = np.concatenate([hosts["x"], added["x"]])
    hostY = np.concatenate([hosts["y"], added["y"]])
    distance = np.hypot(hostX[None, :] - added["x"][:, None], hostY[None, :] - added["y"][:, None])
    distance[distance == 0] = np.inf
    assert np.all(distance.min(axis=1) <= 15.0)
    nearStar = np.hypot(hosts["x"][None, :] - added["x"][:, None],
                        hosts["y"][None, :] - added["y"][:, None])[:, hosts["kind"] == "star"]
    assert 3 <= (nearStar.min(axis=1) <= 15.0).sum() <= 17     # about half next to a star
    assert 4 < added["differenceSnr"].min() and added["differenceSnr"].max() < 110
    assert not np.array_equal(science.image, pair[0].image)
