"""Companion files and header cards supplied beside an input image (as HOTPANTS users give)."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from astropy.io import fits
from click.testing import CliRunner
from diffim.cli import cli
from diffim.errors import InputError
from diffim.inputs import ImageFiles, parseHeaderCards
from diffim.psf import gaussian_stamp
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair

from paths import PIPELINES


@pytest.fixture(scope="module")
def plainPair(tmp_path_factory):
    """A simulated pair written as plain FITS images, with variance, noise and PSF files."""
    folder = tmp_path_factory.mktemp("plain")
    science, template, _ = simulatePair(size=256, nTransients=4, seed=31)
    files = {}
    for role, exposure in (("science", science), ("template", template)):
        header = exposure.wcs.to_header()
        header["FILTER"] = exposure.filter
        fits.PrimaryHDU(exposure.image, header).writeto(folder / f"{role}.fits")
        fits.PrimaryHDU(exposure.variance).writeto(folder / f"{role}_var.fits")
        fits.PrimaryHDU(np.sqrt(exposure.variance)).writeto(folder / f"{role}_noise.fits")
        fits.PrimaryHDU(exposure.psf.at(*exposure.psf.averagePosition)).writeto(
            folder / f"{role}_psf.fits")
        files[role] = exposure
    return folder, files


def test_variance_and_noise_maps_replace_the_derived_variance(plainPair):
    folder, truth = plainPair
    derived = ImageFiles(folder / "science.fits").read()
    assert "no GAIN" in derived.metadata["VARNOTE"] and np.ptp(derived.variance) == 0
    given = ImageFiles(folder / "science.fits", variance=folder / "science_var.fits").read()
    np.testing.assert_allclose(given.variance, truth["science"].variance, rtol=1e-6)
    assert given.metadata["VARNOTE"] == f"from the variance map {folder / 'science_var.fits'}"
    noise = ImageFiles(folder / "science.fits", noise=folder / "science_noise.fits").read()
    np.testing.assert_allclose(noise.variance, truth["science"].variance, rtol=1e-5)
    assert noise.metadata["VARNOTE"].startswith("the square of the noise map")


def test_a_psf_file_is_used_instead_of_measuring_one(plainPair):
    folder, truth = plainPair
    exposure = ImageFiles(folder / "science.fits", psf=folder / "science_psf.fits").read()
    assert exposure.psf.fwhm() == pytest.approx(truth["science"].psf.fwhm(), rel=1e-6)
    assert exposure.psf.averagePosition == exposure.center
    assert ImageDifferenceTask().characterize(exposure, "science") is exposure
    assert exposure.metadata["PSFNOTE"].startswith("from the PSF file")


def test_header_cards_override_the_file(tmp_path):
    rng = np.random.default_rng(4)
    data = rng.normal(1000.0, 20.0, (64, 64))
    data[30:33, 30:33] = 50000.0
    fits.PrimaryHDU(data).writeto(tmp_path / "plain.fits")
    cards = parseHeaderCards(["gain=2", "RDNOISE=5.5", "SATURATE=40000", "FWHM=3.3"], "science")
    assert cards == {"GAIN": 2, "RDNOISE": 5.5, "SATURATE": 40000, "FWHM": 3.3}
    exposure = ImageFiles(tmp_path / "plain.fits", header=cards).read()
    assert "GAIN=2" in exposure.metadata["VARNOTE"]
    assert exposure.metadata["SATLEVEL"] == 40000 and exposure.maskedPixels("SAT")[31, 31]
    measured = ImageDifferenceTask().characterize(exposure, "science")
    assert measured.psf.gaussianSigma * 2.3548 == pytest.approx(3.3, rel=1e-3)
    assert "header FWHM" in measured.metadata["PSFNOTE"]
    assert exposure.metadata["HDROVERR"] == "GAIN=2, RDNOISE=5.5, SATURATE=40000, FWHM=3.3"


def test_wrong_companions_are_one_line_errors_naming_the_file(plainPair, tmp_path):
    folder, _ = plainPair
    fits.PrimaryHDU(np.ones((10, 12))).writeto(tmp_path / "small.fits")
    with pytest.raises(InputError, match=rf"^{tmp_path / 'small.fits'}: variance shape \(10, 12\)"):
        ImageFiles(folder / "science.fits", variance=tmp_path / "small.fits").read()
    fits.PrimaryHDU(gaussian_stamp(1.5, 11)[:, :10]).writeto(tmp_path / "even.fits")
    with pytest.raises(InputError, match=rf"^{tmp_path / 'even.fits'}: the PSF image is 11x10"):
        ImageFiles(folder / "science.fits", psf=tmp_path / "even.fits").read()
    with pytest.raises(InputError, match="give a variance map or a noise map, not both"):
        ImageFiles(folder / "science.fits", variance=folder / "science_var.fits",
                   noise=folder / "science_noise.fits").read()
    with pytest.raises(InputError, match="--template-header 'GAIN': expected KEY=VALUE"):
        parseHeaderCards(["GAIN"], "template")


def test_the_command_takes_companion_files(plainPair, tmp_path):
    folder, _ = plainPair
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "run", str(PIPELINES / "default.yaml"), "--science", str(folder / "science.fits"),
        "--template", str(folder / "template.fits"),
        "--science-variance", str(folder / "science_var.fits"),
        "--science-psf", str(folder / "science_psf.fits"),
        "--template-noise", str(folder / "template_noise.fits"),
        "--template-header", "SATURATE=60000", "-o", str(out)])
    assert result.exit_code == 0, result.output
    inputs = yaml.safe_load((out / "metadata.yaml").read_text())["inputs"]
    assert inputs["scienceVariance"] == str(folder / "science_var.fits")
    assert inputs["templateNoise"] == str(folder / "template_noise.fits")
    assert inputs["templateHeader"] == {"SATURATE": 60000}
    refused = CliRunner().invoke(cli, [
        "run", str(PIPELINES / "default.yaml"), "--science", str(folder / "science.fits"),
        "--template", str(folder / "template.fits"),
        "--science-variance", str(folder / "science_var.fits"),
        "--science-noise", str(folder / "science_noise.fits"), "-o", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--science-variance or --science-noise" in refused.output
