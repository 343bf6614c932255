"""What astronomers look at: the quick-look PNG, the cutouts and gallery, the DS9 regions."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from matplotlib.image import imread

from diffim.cutouts import (GALLERY_DPI, GALLERY_ROW_SIZE, STAMP_NAMES, gallerySelection,
                            writeCutouts, writeGallery)
from diffim.errors import ConfigError
from diffim.pipeline import load_pipeline
from diffim.quicklook import (QUICKLOOK_DPI, QUICKLOOK_SIZE, blockAverage, blockFactor,
                              sourceKinds, writeQuicklook)
from diffim.regionfile import REGION_RADIUS_PIXELS, writeRegions
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair

from paths import PIPELINES

SIZE = 31


@pytest.fixture(scope="module")
def run():
    science, template, _ = simulatePair(size=256, seed=1, nTransients=10)
    config = load_pipeline(PIPELINES / "default.yaml", ["doSkySources=true"])
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)
    assert len(result.diaSources) > 10
    return science, result


def _quicklookPixels():
    return (round(QUICKLOOK_SIZE[1] * QUICKLOOK_DPI), round(QUICKLOOK_SIZE[0] * QUICKLOOK_DPI))


def test_kinds_cover_the_run(run):
    _, result = run
    kinds = sourceKinds(result.diaSources)
    assert len(kinds) == len(result.diaSources)
    assert {"positive", "sky"} <= set(kinds)
    assert np.all(kinds[np.asarray(result.diaSources["sky_source"])] == "sky")


def test_quicklook_png(run, tmp_path):
    science, result = run
    path = writeQuicklook(tmp_path / "quick.png", science, result.matchedExposure,
                          result.subtractedExposure, result.diaSources)
    image = imread(path)
    assert image.shape[:2] == _quicklookPixels() == (450, 1600)
    assert np.ptp(image[..., :3]) > 0.5              # not blank
    assert [p.name for p in tmp_path.iterdir()] == ["quick.png"]   # no temporary left


def test_quicklook_large_image_is_binned(tmp_path):
    big, template, _ = simulatePair(size=2100, seed=2, nTransients=0, nStars=50)
    assert blockFactor(big.shape) == 3
    table = Table({"x": [10.0, 2000.0], "y": [20.0, 1500.0], "isPositive": [True, False],
                   "isNegative": [False, True]})
    path = writeQuicklook(tmp_path / "big.png", big, template, big, table)
    assert imread(path).shape[:2] == _quicklookPixels()


def test_block_average_positions():
    a = np.zeros((10, 10), dtype=np.float32)
    a[7, 4] = 9.0                                    # pixel x=4, y=7
    b = blockAverage(a, 3)                           # 4x4, last block padded with NaN
    assert b.shape == (4, 4)
    assert np.unravel_index(np.nanargmax(b), b.shape) == (2, 1)   # (7.5/3-0.5, 4.5/3-0.5) -> (2, 1)
    assert b[2, 1] == pytest.approx(1.0)


def test_regions_sky_round_trip(run, tmp_path):
    from regions import Regions

    _, result = run
    diff, table = result.subtractedExposure, result.diaSources
    path = writeRegions(tmp_path / "src.reg", table, diff.wcs)
    regions = Regions.read(str(path), format="ds9")
    assert len(regions) == len(table)
    ids = [int(r.meta["text"]) for r in regions]
    assert ids == list(table["id"])
    kinds = sourceKinds(table)
    worst = 0.0
    for region, row, kind in zip(regions, table, kinds):
        expected = "RectangleSkyRegion" if kind == "sky" else "CircleSkyRegion"
        assert type(region).__name__ == expected
        x, y = diff.wcs.world_to_pixel(region.center)
        worst = max(worst, abs(float(x) - row["x"]), abs(float(y) - row["y"]))
        if kind != "sky":
            px = region.to_pixel(diff.wcs)
            assert px.radius == pytest.approx(REGION_RADIUS_PIXELS, rel=0.02)
    assert worst < 0.5, worst
    assert worst < 1e-3, worst                       # in fact exact to the DS9 precision


def test_regions_pixel_round_trip(run, tmp_path):
    from regions import Regions

    _, result = run
    table = result.diaSources
    path = writeRegions(tmp_path / "pix.reg", table)
    text = path.read_text()
    assert "\nimage\n" in text
    regions = Regions.read(str(path), format="ds9")
    assert len(regions) == len(table)
    dx = [abs(r.center.x - row["x"]) for r, row in zip(regions, table)]
    dy = [abs(r.center.y - row["y"]) for r, row in zip(regions, table)]
    assert max(dx + dy) < 1e-3
    # DS9 image coordinates are 1-based: the file says x + 1.
    first = table[0]
    line = next(ln for ln in text.splitlines() if ln.startswith(("circle", "box")))
    assert float(line.split("(")[1].split(",")[0]) == pytest.approx(first["x"] + 1, abs=1e-3)


def test_regions_empty(tmp_path):
    from regions import Regions

    path = writeRegions(tmp_path / "none.reg", Table({"x": [], "y": [], "id": []}))
    assert len(Regions.read(str(path), format="ds9")) == 0


def test_cutouts(run, tmp_path):
    science, result = run
    diff, matched, table = result.subtractedExposure, result.matchedExposure, result.diaSources
    path = writeCutouts(tmp_path / "cut.fits", science, matched, diff, table, size=SIZE)
    half = SIZE // 2
    with fits.open(path) as hdus:
        assert hdus[0].header["NSOURCES"] == len(table)
        assert len(hdus) == 1 + 3 * len(table) + 1
        sources = Table.read(hdus["SOURCES"])
        assert len(sources) == len(table)
        assert sources.colnames == table.colnames
        assert sources["x"].unit == table["x"].unit
        assert list(sources["id"]) == list(table["id"])
        worst = 0.0
        for i, row in enumerate(table):
            for name, exposure in zip(STAMP_NAMES, (science, matched, diff)):
                hdu = hdus[name, i + 1]
                assert hdu.data.shape == (SIZE, SIZE)
                assert hdu.header["SRCID"] == sources["id"][i] == row["id"]
                x0, y0 = hdu.header["STAMP_X0"], hdu.header["STAMP_Y0"]
                # the stamp's centre pixel is the source's nearest pixel
                assert abs(x0 + half - row["x"]) <= 0.5 and abs(y0 + half - row["y"]) <= 0.5
                # the stamp pixels are the exposure's (NaN off the image)
                ya, yb = max(y0, 0), min(y0 + SIZE, exposure.height)
                xa, xb = max(x0, 0), min(x0 + SIZE, exposure.width)
                np.testing.assert_array_equal(
                    hdu.data[ya - y0:yb - y0, xa - x0:xb - x0], exposure.image[ya:yb, xa:xb])
                outside = np.ones((SIZE, SIZE), dtype=bool)
                outside[ya - y0:yb - y0, xa - x0:xb - x0] = False
                assert np.isnan(hdu.data[outside]).all()
                # its WCS maps the source's sky position to its (x - x0, y - y0)
                sky = exposure.wcs.pixel_to_world(row["x"], row["y"])
                sx, sy = WCS(hdu.header).world_to_pixel(sky)
                worst = max(worst, abs(sx - (row["x"] - x0)), abs(sy - (row["y"] - y0)))
                assert abs(sx - half) <= 0.5 + 1e-6 and abs(sy - half) <= 0.5 + 1e-6
        assert worst < 1e-6, worst


def test_cutout_of_bright_positive_is_centred(run, tmp_path):
    science, result = run
    table = result.diaSources
    kinds = sourceKinds(table)
    snr = np.where(kinds == "positive", np.asarray(table["snr"], dtype=float), -np.inf)
    i = int(np.nanargmax(snr))
    assert snr[i] > 20
    path = writeCutouts(tmp_path / "one.fits", science, result.matchedExposure,
                        result.subtractedExposure, table[i:i + 1], size=SIZE)
    stamp = fits.getdata(path, extname="DIFFERENCE", extver=1).astype(float)
    yy, xx = np.mgrid[:SIZE, :SIZE] - SIZE // 2
    w = np.clip(stamp, 0, None) * (xx**2 + yy**2 <= 25)
    cx, cy = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
    assert abs(cx) < 0.5 and abs(cy) < 0.5, (cx, cy)


def test_cutouts_off_the_edge_pad_with_nan(run, tmp_path):
    science, _ = run
    table = Table({"id": [7], "x": [1.2], "y": [254.6]})
    path = writeCutouts(tmp_path / "edge.fits", science, science, science, table, size=5)
    data = fits.getdata(path, extname="SCIENCE", extver=1)
    assert np.isnan(data[:, :1]).all() and np.isnan(data[-2:, :]).all()   # x0=-1, y0=253
    np.testing.assert_array_equal(data[:3, 1:], science.image[253:256, 0:4])


@pytest.mark.parametrize("size", [30, 3, 0, 31.0])
def test_bad_cutout_size_is_refused(run, tmp_path, size):
    science, result = run
    for write in (writeCutouts, writeGallery):
        with pytest.raises(ConfigError) as err:
            write(tmp_path / "x", science, science, science, result.diaSources, size=size,
                  option="cutoutSize")
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"cutoutSize={size!r}")
    assert list(tmp_path.iterdir()) == []


def test_gallery_png(run, tmp_path):
    science, result = run
    table = result.diaSources
    rows = gallerySelection(table, n=6)
    assert len(rows) == 6
    snr = np.abs(np.asarray(table["snr"])[rows])
    assert np.all(np.diff(snr) <= 0) and not np.asarray(table["sky_source"])[rows].any()
    path = writeGallery(tmp_path / "gallery.png", science, result.matchedExposure,
                        result.subtractedExposure, table, n=6, size=SIZE)
    assert imread(path).shape[:2] == (round(6 * GALLERY_ROW_SIZE[1] * GALLERY_DPI),
                                      round(GALLERY_ROW_SIZE[0] * GALLERY_DPI)) == (1200, 600)
    empty = writeGallery(tmp_path / "empty.png", science, science, science, table[:0])
    assert imread(empty).shape[:2] == (200, 600)


def test_importing_does_not_change_the_backend():
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import diffim.quicklook, diffim.cutouts, "
            "diffim.regionfile; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"


def test_run_writes_the_pictures_when_asked(tmp_path, capsys):
    from diffim.cli import main
    from diffim.testing.simulate import writePair
    from regions import Regions

    pair = writePair(tmp_path / "in", size=256, seed=2, nTransients=8)
    out = tmp_path / "out"
    assert main(["run", str(PIPELINES / "default.yaml"), "--science", str(pair["science"]),
                 "--template", str(pair["template"]), "-o", str(out), "--quicklook",
                 "--cutouts", "--regions", "-c", "cutoutSize=21"]) == 0
    printed = capsys.readouterr().out
    for name in ("quicklook.png", "cutouts.fits", "gallery.png", "diaSources.reg"):
        assert str(out / name) in printed
    sources = Table.read(out / "diaSources.fits")
    assert imread(out / "quicklook.png").shape[:2] == (450, 1600)
    with fits.open(out / "cutouts.fits") as hdus:
        assert len(hdus) == 2 + 3 * len(sources) and hdus["SCIENCE", 1].data.shape == (21, 21)
    assert len(Regions.read(out / "diaSources.reg", format="ds9")) == len(sources)
    # pictures of a run in tiles are refused before anything runs
    assert main(["run", str(PIPELINES / "default.yaml"), "--science", str(pair["science"]),
                 "--template", str(pair["template"]), "-o", str(tmp_path / "tiled"),
                 "--quicklook", "--tile-size", "128"]) == 1
    assert "quicklook are not made by a run in tiles" in capsys.readouterr().err
