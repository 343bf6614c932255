"""Large images in tiles: regions read alone, files written in blocks, tiled runs like whole."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from astropy.table import Table
from scipy.spatial import cKDTree

from diffim.errors import InputError
from diffim.fits_io import ExposureBlockWriter, readExposure, writeExposure
from diffim.pipeline import load_pipeline
from diffim.psf import GaussianPsf, ImagePsf, gaussian_stamp
from diffim.runner import runFiles
from diffim.testing.simulate import simulatePair
from diffim.tiling import shouldTile, tileLayout
from paths import PIPELINES
from test_fits_io import full_exposure, spatial_psf

#: Template columns below this are missing: the left-hand tiles (the first processed)
#: cannot be processed.
MISSING_BELOW = 584

#: Columns compared between the whole and the tiled run (away from the missing template).
COMPARED = slice(MISSING_BELOW + 40, None)


@pytest.mark.parametrize("shape, size", [((8192, 8192), 2048), ((1000, 1537), 512),
                                         ((300, 200), 1000)])
def test_tile_cores_cover_the_image_once_and_margins_stay_inside(shape, size):
    tiles = tileLayout(shape, size, margin=64)
    count = np.zeros(shape, int)
    for tile in tiles:
        count[tile.core] += 1
        (rows, columns), (prows, pcolumns) = tile.core, tile.padded
        assert rows.stop - rows.start <= size and columns.stop - columns.start <= size
        assert prows.start == max(0, rows.start - 64) and prows.stop == min(shape[0],
                                                                            rows.stop + 64)
        assert pcolumns.start == max(0, columns.start - 64)
        local = tile.local()
        assert local[0].stop - local[0].start == rows.stop - rows.start
    assert np.all(count == 1)
    assert shouldTile((8192, 8192), None) and not shouldTile((4096, 4096), None)
    assert not shouldTile((8192, 8192), 0) and shouldTile((1024, 1024), 512)


@pytest.mark.parametrize("kind", ["image", "spatial"])
def test_a_region_reads_as_the_same_cut_of_the_whole(tmp_path, kind):
    shape = (40, 60)
    psf = {"image": ImagePsf(gaussian_stamp(2.1, 17), averagePosition=(3.0, 4.0)),
           "spatial": spatial_psf(shape)}[kind]
    path = writeExposure(full_exposure(psf, shape), tmp_path / "exp.fits")
    whole = readExposure(path)
    region = (slice(7, 31), slice(12, 50))
    part = readExposure(path, region=region)
    for plane in ("image", "mask", "variance"):
        assert getattr(part, plane).tobytes() == getattr(whole, plane)[region].tobytes()
    xs, ys = np.array([0.0, 37.0, 5.5]), np.array([0.0, 23.0, 9.25])
    np.testing.assert_allclose(part.wcs.all_pix2world(xs, ys, 0),
                               whole.wcs.all_pix2world(xs + 12, ys + 7, 0), rtol=0, atol=1e-10)
    for x, y in [(0.0, 0.0), (30.0, 20.0)]:              # the same PSF at the same sky spot
        np.testing.assert_allclose(part.psf.at(x, y), whole.psf.at(x + 12, y + 7), atol=1e-12)
    if kind == "image":
        assert part.psf.averagePosition == pytest.approx(part.center)


def test_a_file_written_in_blocks_reads_like_one_written_whole(tmp_path):
    shape = (40, 60)
    original = full_exposure(GaussianPsf(1.7, averagePosition=(29.5, 19.5)), shape)
    whole = readExposure(writeExposure(original, tmp_path / "whole.fits"))
    path = tmp_path / "blocks.fits"
    with ExposureBlockWriter(path, shape, original) as writer:
        for tile in tileLayout(shape, 16, margin=0):
            rows, columns = tile.core
            block = type(original)(image=original.image[rows, columns],
                                   mask=original.mask[rows, columns],
                                   variance=original.variance[rows, columns])
            writer.write(rows, columns, block)
        writer.finish(original.psf)
    back = readExposure(path)
    for plane in ("image", "mask", "variance"):
        assert getattr(back, plane).tobytes() == getattr(whole, plane).tobytes()
    assert dict(back.maskPlanes) == dict(whole.maskPlanes)
    assert back.metadata == whole.metadata and back.filter == whole.filter
    assert back.photoCalib.zeroPoint == whole.photoCalib.zeroPoint
    np.testing.assert_allclose(back.psf.at(10, 10), whole.psf.at(10, 10), rtol=1e-14)
    assert back.wcs.to_header_string() == whole.wcs.to_header_string()
    assert path.stat().st_size == (tmp_path / "whole.fits").stat().st_size


@pytest.fixture(scope="module")
def tiledRuns(tmp_path_factory):
    """A 1024² pair with 60 transients run whole and in 4 tiles of 512 px."""
    folder = tmp_path_factory.mktemp("tiles")
    science, template, truth = simulatePair(size=1024, seed=8, nTransients=60)
    template.image[:, :MISSING_BELOW] = np.nan
    files = {"science": writeExposure(science, folder / "science.fits"),
             "template": writeExposure(template, folder / "template.fits")}
    config = load_pipeline(PIPELINES / "default.yaml")
    runs = {}
    for name, tileSize in (("whole", 0), ("tiled", 512)):
        summary = runFiles(config, files["science"], files["template"], folder / name,
                           tileSize=tileSize)
        runs[name] = (summary, readExposure(summary.outputs["differenceExp"]),
                      Table.read(summary.outputs["diaSrc"]),
                      yaml.safe_load(summary.outputs["metadata"].read_text()))
    return runs, truth


def test_tiles_give_the_whole_image_result_within_noise(tiledRuns):
    runs, truth = tiledRuns
    _, whole, wholeSources, _ = runs["whole"]
    _, tiled, tiledSources, _ = runs["tiled"]
    right = slice(None), COMPARED
    good = ((whole.mask == 0) & (tiled.mask == 0))[right]
    assert good.mean() > 0.5
    z = (tiled.image - whole.image)[right][good] / np.sqrt(whole.variance[right][good])
    assert np.std(z) < 0.05                               # differences far below the noise
    # sources near the threshold come and go with each tile's own noise estimate: compare
    # the significant ones; the residuals of saturated stars (flagged) are left out, their
    # shape follows every detail of the kernel
    kept = tiledSources[(tiledSources["x"] >= COMPARED.start)
                        & (np.abs(tiledSources["snr"]) >= 10)
                        & ~tiledSources["pixelFlags_saturated"]]
    reference = wholeSources[(wholeSources["x"] >= COMPARED.start)
                             & (np.abs(wholeSources["snr"]) >= 10)
                             & ~wholeSources["pixelFlags_saturated"]]
    distance, index = cKDTree(np.c_[reference["x"], reference["y"]]).query(
        np.c_[kept["x"], kept["y"]])
    assert abs(len(kept) - len(reference)) <= 1
    assert np.mean(distance < 0.3) >= 0.95                # positions in full-image pixels
    ratio = kept["psfFlux"][distance < 0.3] / reference["psfFlux"][index[distance < 0.3]]
    assert np.median(np.abs(ratio - 1)) < 0.01
    assert len(set(tiledSources["id"])) == len(tiledSources)
    transients = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] >= 10)
                       & (truth["x"] >= COMPARED.start)]
    found, _ = cKDTree(np.c_[tiledSources["x"], tiledSources["y"]]).query(
        np.c_[transients["x"], transients["y"]])
    assert np.mean(found < 1.5) >= 0.95


def test_a_tile_without_template_makes_the_run_suspect_naming_it(tiledRuns):
    runs, _ = tiledRuns
    summary, tiled, _, metadata = runs["tiled"]
    assert summary.status == "suspect"
    assert any("tile [0:512, 0:512]" in reason for reason in summary.reasons)
    states = {tile["core"]: tile["status"] for tile in metadata["metadata"]["tiles"]}
    assert states["[0:512, 512:1024]"] == "ok" and states["[512:1024, 512:1024]"] == "ok"
    assert states["[0:512, 0:512]"] == "not processed"
    noData = 1 << tiled.maskPlanes["NO_DATA"]
    assert np.all(tiled.mask[:, :512] & noData)       # written after the tiles that worked
    assert 0.9 < summary.noiseRatio < 1.1


def test_a_science_source_catalog_is_refused_by_a_tiled_run(pair, tmp_path):
    catalog = tmp_path / "sources.fits"
    Table({"x": [10.0], "y": [20.0]}).write(catalog)
    with pytest.raises(InputError, match="not used by a run in tiles.*--tile-size 0"):
        runFiles(load_pipeline(PIPELINES / "default.yaml"), pair["science"], pair["template"],
                 tmp_path / "out", tileSize=128, scienceSources=catalog)
    assert not (tmp_path / "out").exists()
