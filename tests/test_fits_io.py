"""FITS reading and writing of exposures and tables, and atomic output files."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, Sip
from diffim.atomic import atomic_write, write_text_atomic
from diffim.errors import InputError, OutputError
from diffim.exposure import Exposure
from diffim.fits_io import readExposure, readTable, writeExposure, writeTable
from diffim.mask import MaskPlanes
from diffim.photocalib import PhotoCalib
from diffim.psf import GaussianPsf, ImagePsf, SpatialPsf, gaussian_stamp
from diffim.task import ImageDifferenceTask
from paths import REAL_DATA as REAL
from paths import needs_real_data
from scipy import special


def characterized(path) -> Exposure:
    """The exposure of ``path`` with its PSF, as a run gets it (read, then measurePsf)."""
    return ImageDifferenceTask().characterize(readExposure(path), "science")


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name]


# ---------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------


def test_atomic_write_publishes_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.tmp-")
        assert str(os.getpid()) in tmp.name and not tmp.exists()
        tmp.write_text("new")
        assert target.read_text() == "old"               # not visible before the block ends
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_write_leaves_nothing_on_failure(tmp_path, error):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(error):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise error()
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_atomic_write_refuses_to_overwrite_when_asked(tmp_path):
    target = tmp_path / "keep.txt"
    write_text_atomic(target, "first")
    with pytest.raises(OutputError, match=r"keep\.txt: file exists"):
        write_text_atomic(target, "second", overwrite=False)
    assert target.read_text() == "first"
    with pytest.raises(OutputError, match="does not exist"):
        write_text_atomic(tmp_path / "missing" / "x.txt", "x")
    assert write_text_atomic(tmp_path / "new.txt", "é\n", overwrite=False).read_text(
        encoding="utf-8") == "é\n"


# ---------------------------------------------------------------------------
# exposures: round trip
# ---------------------------------------------------------------------------


def sip_wcs(shape) -> WCS:
    h, w = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [w / 2 + 0.5, h / 2 + 0.5]
    wcs.wcs.cd = [[-5.5e-5, 1e-7], [2e-7, 5.5e-5]]
    a = np.zeros((3, 3))
    b = np.zeros((3, 3))
    a[2, 0], b[0, 2] = 1e-6, -2e-6
    wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    wcs.wcs.set()
    return wcs


def full_exposure(psf, shape=(40, 60)) -> Exposure:
    rng = np.random.default_rng(4)
    planes = MaskPlanes()
    planes.add("STREAK")
    image = rng.normal(100, 10, shape).astype(np.float32)
    image[3, 4] = np.nan
    mask = rng.integers(0, 2 ** 10, shape).astype(np.int32)
    mask[0, 0] = 1 << planes["STREAK"]
    return Exposure(image=image, mask=mask, variance=rng.uniform(1, 9, shape), psf=psf,
                    wcs=sip_wcs(shape), photoCalib=PhotoCalib(27.345678901234),
                    filter="r", obsDate="2024-03-10T05:12:00.000",
                    metadata={"EXPTIME": 30.5, "OBSERVER": "Menzies", "registerRms": 0.0123,
                              "DOSKY": True, "NCOMBINE": 7,
                              "NOTE": "a long processing note" * 8,
                              "nested": {"not": "representable"}},
                    maskPlanes=planes)


def spatial_psf(shape) -> SpatialPsf:
    h, w = shape
    x, y = np.meshgrid([0.0, w / 2, w - 1.0], [0.0, h / 2, h - 1.0])
    stamps = [gaussian_stamp(1.5 + 0.001 * (px + py), 15) for px, py in zip(x.ravel(), y.ravel())]
    return SpatialPsf(np.array(stamps), x.ravel(), y.ravel(), order=1, bbox=(w, h))


@pytest.mark.parametrize("kind", ["gaussian", "image", "spatial"])
def test_exposure_round_trip_is_exact(tmp_path, kind):
    shape = (40, 60)
    psf = {"gaussian": GaussianPsf(1.7, averagePosition=(29.5, 19.5)),
           "image": ImagePsf(gaussian_stamp(2.1, 17) + 1e-4, averagePosition=(3.0, 4.0)),
           "spatial": spatial_psf(shape)}[kind]
    original = full_exposure(psf, shape)
    path = writeExposure(original, tmp_path / "exp.fits")
    back = readExposure(path)

    for plane in ("image", "mask", "variance"):
        a, b = getattr(original, plane), getattr(back, plane)
        assert a.dtype == b.dtype and a.dtype.isnative and b.dtype.isnative
        assert a.tobytes() == b.tobytes()                 # bit for bit, NaN included
    assert dict(back.maskPlanes) == dict(original.maskPlanes)
    assert back.filter == "r" and back.obsDate == original.obsDate
    assert back.photoCalib.zeroPoint == original.photoCalib.zeroPoint
    assert type(back.psf) is type(psf)
    assert back.psf.averagePosition == pytest.approx(psf.averagePosition)
    for x, y in [(0, 0), (59, 39), (12.5, 30.0)]:
        np.testing.assert_allclose(back.psf.at(x, y), psf.at(x, y), rtol=1e-12, atol=1e-15)
    if kind != "spatial":                                 # renormalised on reading
        np.testing.assert_allclose(back.psf.image, psf.image, rtol=1e-14, atol=0)
    xs, ys = np.array([0.0, 59.0, 17.3]), np.array([0.0, 39.0, 8.8])
    np.testing.assert_allclose(back.wcs.all_pix2world(xs, ys, 0),
                               original.wcs.all_pix2world(xs, ys, 0), rtol=0, atol=1e-10)
    for key in ("EXPTIME", "OBSERVER", "registerRms", "DOSKY", "NCOMBINE", "NOTE"):
        assert back.metadata[key] == original.metadata[key]
    assert "nested" not in back.metadata


def test_written_file_is_plain_fits(tmp_path):
    path = writeExposure(full_exposure(spatial_psf((40, 60))), tmp_path / "exp.fits")
    with fits.open(path) as hdus:
        assert [h.name for h in hdus] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE", "PSF",
                                          "PSF_POSITIONS"]
        assert hdus["IMAGE"].data.dtype == np.dtype(">f4")
        assert hdus["MASK"].data.dtype == np.dtype(">i4")
        assert hdus["VARIANCE"].data.dtype == np.dtype(">f4")
        assert hdus["MASK"].header["MP_SAT"] == 1 and hdus["MASK"].header["MP_STREAK"] == 9
        assert hdus["PRIMARY"].header["FILTER"] == "r"
        assert hdus["PRIMARY"].header["MAGZERO"] == pytest.approx(27.345678901234)
        assert hdus["PSF"].header["PSFTYPE"] == "SPATIAL" and hdus["PSF"].data.shape == (9, 15, 15)
        assert hdus["PSF"].header["PSFORDER"] == 1
        assert (hdus["PSF"].header["BBOX_W"], hdus["PSF"].header["BBOX_H"]) == (60, 40)
        assert len(hdus["PSF_POSITIONS"].data["x"]) == 9
        for name in ("IMAGE", "MASK", "VARIANCE"):
            assert WCS(hdus[name].header).has_celestial


def test_existing_file_needs_overwrite(tmp_path):
    exposure = full_exposure(GaussianPsf(2.0))
    path = writeExposure(exposure, tmp_path / "exp.fits")
    with pytest.raises(OutputError, match=r"exp\.fits: file exists"):
        writeExposure(exposure, path)
    exposure.image[:] = 1.0
    writeExposure(exposure, path, overwrite=True)
    assert np.all(readExposure(path).image == 1.0)
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------
# plain images
# ---------------------------------------------------------------------------


def star_image(shape=(300, 300), sigma=1.8, sky=1000.0, gain=2.0, read_noise=5.0, seed=0):
    """Noiseless star field plus sky (ADU), and its noisy realisation."""
    rng = np.random.default_rng(seed)
    model = np.full(shape, sky)
    edges = np.arange(-15, 17) - 0.5
    for x, y in rng.uniform(25, min(shape) - 26, (60, 2)):
        cx, cy = int(round(x)), int(round(y))
        gx = np.diff(special.erf((edges - (x - cx)) / (np.sqrt(2) * sigma))) / 2
        gy = np.diff(special.erf((edges - (y - cy)) / (np.sqrt(2) * sigma))) / 2
        model[cy - 15:cy + 16, cx - 15:cx + 16] += rng.uniform(2e4, 2e5) * np.outer(gy, gx)
    noisy = rng.poisson(model * gain) / gain + rng.normal(0, read_noise / gain, shape)
    return model, noisy


def write_plain(path, data, **cards):
    header = fits.Header()
    for key, value in cards.items():
        header[key.replace("_", "-")] = value
    fits.PrimaryHDU(data, header).writeto(path)
    return path


def test_plain_uint16_image_with_gain(tmp_path):
    model, noisy = star_image()
    data = np.clip(np.round(noisy), 0, 65535).astype(np.uint16)
    data[100:103, 50:53] = 65535                          # a saturated core
    path = write_plain(tmp_path / "raw.fits", data, GAIN=2.0, RDNOISE=5.0, FILTER="V",
                       DATE_OBS="2013-08-03", UT="19:03:37")
    with fits.open(path) as hdus:
        assert hdus[0].header["BZERO"] == 32768           # stored as int16 + BZERO
    exposure = characterized(path)
    assert exposure.image.dtype == np.float32 and exposure.image.dtype.isnative
    assert np.array_equal(exposure.image, data.astype(np.float32))
    expected = np.maximum(data, 0) / 2.0 + (5.0 / 2.0) ** 2
    np.testing.assert_allclose(exposure.variance, expected, rtol=1e-6)
    assert "GAIN=2" in exposure.metadata["VARNOTE"]
    sat = exposure.maskedPixels("SAT")
    assert sat[100:103, 50:53].all() and sat[98, 48] and sat[104, 54]   # grown by 2
    assert not sat[95, 45] and sat.sum() == 49
    assert exposure.metadata["SATLEVEL"] == 65535
    assert exposure.filter == "V" and exposure.obsDate == "2013-08-03T19:03:37"
    assert exposure.wcs is None
    assert exposure.psf.fwhm() == pytest.approx(2.3548 * 1.8, rel=0.05)
    assert "measured" in exposure.metadata["PSFNOTE"]
    assert exposure.metadata["EXPTIME" if "EXPTIME" in exposure.metadata else "GAIN"] == 2.0


def test_plain_float_image_without_gain(tmp_path):
    model, noisy = star_image(seed=1)
    data = noisy.astype(np.float32)
    data[10:20, 200:230] = np.nan
    data[40, 40] = np.inf
    data[250:252, :] = -3.4028235e38                     # a blank sentinel
    data[150:152, 150:153] = 45000.0                      # saturated
    wcs = sip_wcs(data.shape)
    header = wcs.to_header(relax=True)
    header["SATURATE"] = 40000.0
    header["MJD-OBS"] = 56507.5
    fits.PrimaryHDU(data, header).writeto(tmp_path / "float.fits")
    exposure = characterized(tmp_path / "float.fits")
    nodata = exposure.maskedPixels("NO_DATA")
    assert nodata[10:20, 200:230].all() and nodata[40, 40] and nodata[250:252].all()
    assert nodata.sum() == 300 + 1 + 600
    assert np.all(exposure.image[nodata] == 0) and np.isfinite(exposure.image).all()
    sat = exposure.maskedPixels("SAT")
    assert sat[148:154, 148:155].all() and sat.sum() == 42 and not (sat & nodata).any()
    # constant variance from the sky noise (sqrt(1000/2 + 6.25) = 22.5 ADU)
    assert np.ptp(exposure.variance) == 0
    assert np.sqrt(exposure.variance[0, 0]) == pytest.approx(22.5, rel=0.05)
    assert "no GAIN" in exposure.metadata["VARNOTE"]
    assert exposure.obsDate.startswith("2013-08-03T12:00:00")
    np.testing.assert_allclose(exposure.wcs.all_pix2world([[5.0, 7.0]], 0),
                               wcs.all_pix2world([[5.0, 7.0]], 0), atol=1e-10)
    assert exposure.psf.fwhm() == pytest.approx(2.3548 * 1.8, rel=0.05)


def test_sky_subtracted_image_with_gain_uses_the_measured_sky_noise(tmp_path):
    model, noisy = star_image(seed=2, sky=3000.0)
    path = write_plain(tmp_path / "skysub.fits", (noisy - 3000.0).astype(np.float32),
                       GAIN=2.0, RON=5.0)
    exposure = readExposure(path)
    sky = np.median(exposure.variance)
    assert np.sqrt(sky) == pytest.approx(np.sqrt(3000 / 2 + 6.25), rel=0.05)
    assert "measured" in exposure.metadata["VARNOTE"]


def test_tiny_cutout_falls_back_to_a_gaussian(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(200.0, 5.0, (63, 63)).astype(np.float32)
    edges = np.arange(-8, 10) - 0.5
    g = np.diff(special.erf(edges / (np.sqrt(2) * 1.2))) / 2
    data[23:40, 23:40] += 5e4 * np.outer(g, g)
    path = write_plain(tmp_path / "cutout.fits", data)
    assert readExposure(path).psf is None
    exposure = characterized(path)
    assert isinstance(exposure.psf, GaussianPsf)
    assert exposure.psf.fwhm() == pytest.approx(2.3548 * 1.2, rel=0.15)
    assert "most compact sources" in exposure.metadata["PSFNOTE"]
    path = write_plain(tmp_path / "seeing.fits", data, PFWHM=3.3)
    exposure = characterized(path)
    assert exposure.psf.gaussianSigma * 2.3548 == pytest.approx(3.3, rel=1e-4)
    assert "header PFWHM" in exposure.metadata["PSFNOTE"]


def test_mef_without_variance_or_psf_gets_them_derived(tmp_path):
    model, noisy = star_image(seed=4)
    hdus = fits.HDUList([fits.PrimaryHDU(header=fits.Header([("GAIN", 2.0), ("RDNOISE", 5.0)])),
                         fits.ImageHDU(noisy.astype(np.float32), name="IMAGE")])
    hdus.writeto(tmp_path / "mef.fits")
    exposure = readExposure(tmp_path / "mef.fits")
    np.testing.assert_allclose(exposure.variance, np.maximum(noisy, 0) / 2 + 6.25, rtol=1e-5)
    assert exposure.psf is None and "measurePsf" in exposure.metadata["PSFNOTE"]
    exposure = characterized(tmp_path / "mef.fits")
    assert exposure.psf is not None and "measured" in exposure.metadata["PSFNOTE"]


def _only_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_unreadable_inputs_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError) as exc:
        readExposure(tmp_path / "nope.fits")
    assert "nope.fits: file not found" in _only_line(exc)

    (tmp_path / "text.fits").write_text("hello, I am not FITS\n" * 200)
    with pytest.raises(InputError) as exc:
        readExposure(tmp_path / "text.fits")
    assert "text.fits: not a readable FITS file" in _only_line(exc)

    table = fits.BinTableHDU.from_columns([fits.Column("a", "D", array=[1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "table.fits")
    with pytest.raises(InputError) as exc:
        readExposure(tmp_path / "table.fits")
    assert "table.fits: no image data" in _only_line(exc)

    fits.PrimaryHDU(np.zeros((3, 4, 5), np.float32)).writeto(tmp_path / "cube.fits")
    with pytest.raises(InputError) as exc:
        readExposure(tmp_path / "cube.fits")
    assert "cube.fits: image data are 3-D" in _only_line(exc)

    cards = ["SIMPLE  =                    T", "BITPIX  =                  -32",
             "NAXIS   =                    2", "NAXIS1  =                    0",
             "NAXIS2  =                   10", "END"]
    (tmp_path / "empty.fits").write_bytes("".join(c.ljust(80) for c in cards).ljust(2880)
                                          .encode("ascii"))
    with pytest.raises(InputError) as exc:
        readExposure(tmp_path / "empty.fits")
    assert "empty.fits: image has zero size" in _only_line(exc)

    fits.PrimaryHDU(np.zeros((1, 20, 30), np.float32)).writeto(tmp_path / "flat.fits")
    assert readExposure(tmp_path / "flat.fits").shape == (20, 30)


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def test_table_round_trip_keeps_units_and_descriptions(tmp_path):
    table = Table()
    table["x"] = [1.5, 2.5]
    table["x"].unit = "pix"
    table["x"].description = "column of the centroid, 0-based"
    table["kind"] = ["star", "transient"]
    table["flag"] = [True, False]
    table["id"] = np.array([7, 8], dtype=np.int64)
    table.meta["ORIGIN"] = "diffim"
    path = writeTable(table, tmp_path / "cat.fits")
    with pytest.raises(OutputError):
        writeTable(table, path)
    header = fits.getheader(path, 1)
    assert header["TUNIT1"] == "pix" and header["TCOMM1"] == "column of the centroid, 0-based"
    plain = Table.read(path)
    assert plain["x"].unit == "pix" and plain["x"].description == table["x"].description
    back = readTable(path)
    assert back["kind"].dtype.kind == "U" and list(back["kind"]) == ["star", "transient"]
    assert list(back["flag"]) == [True, False] and back["id"].dtype == np.dtype("=i8")
    assert back.meta["ORIGIN"] == "diffim"
    with pytest.raises(InputError, match="no-such.fits: file not found"):
        readTable(tmp_path / "no-such.fits")


# ---------------------------------------------------------------------------
# the real data in shared/data/real
# ---------------------------------------------------------------------------



@needs_real_data
@pytest.mark.parametrize("folder,noise,fwhm", [
    ("saao_kb13475_goodseeing", 18.7, (4.0, 9.0)),
    ("saao_kb13475_badseeing", 35.2, (8.0, 14.0)),
])
def test_real_saao_frames(folder, noise, fwhm):
    science = characterized(REAL / folder / "science.fits")
    assert science.shape == (512, 512)
    # GAIN 1.9 / RDNOISE 5 with the sky still in: the sky noise is predicted, not measured
    assert np.sqrt(np.median(science.variance)) == pytest.approx(noise, rel=0.1)
    assert science.metadata["SATLEVEL"] == 65300        # flat-fielded saturation plateau
    assert science.maskedPixels("SAT").sum() > 60
    assert fwhm[0] < science.psf.fwhm() < fwhm[1]
    assert science.obsDate.startswith("2013-0")


@needs_real_data
def test_real_toros_frames():
    for name in ("science", "template"):
        exposure = characterized(REAL / "toros_eso085-030" / f"{name}.fits")
        assert exposure.shape == (682, 1024) and exposure.filter == "Clear"
        assert exposure.metadata["SATLEVEL"] == 65535
        assert exposure.maskedPixels("SAT").sum() > 300
        assert 80 < np.sqrt(exposure.variance[0, 0]) < 100       # no GAIN: sky noise
        assert 2.5 < exposure.psf.fwhm() < 5.0


@needs_real_data
@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
def test_every_real_ztf_cutout_reads():
    files = sorted((REAL / "ztf_alert_cutouts").glob("*.fits"))
    assert len(files) >= 30
    with_psf = 0
    for path in files:
        try:
            exposure = characterized(path)
        except InputError as exc:
            assert "has no PSF model" in str(exc)
            exposure = readExposure(path)
        assert exposure.shape == (63, 63)
        assert np.isfinite(exposure.image).all() and np.isfinite(exposure.variance).all()
        assert np.all(exposure.variance > 0)
        raw = fits.getdata(path)
        blank = ~np.isfinite(raw) | (np.abs(raw) > 1e30)
        assert np.array_equal(exposure.maskedPixels("NO_DATA"), blank)
        assert "PSFNOTE" in exposure.metadata
        if exposure.psf is not None:
            with_psf += "difference" not in path.name
            assert 1.5 < exposure.psf.fwhm() < 7.0
    # some cut-outs hold no star at all (ZTF18aaxjlwy: sky and NaN only)
    assert with_psf >= 20
