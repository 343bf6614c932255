"""Reference matching: proper motions, radius, one-to-one pairs, catalog columns and errors."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from diffim import plugins
from diffim.errors import ConfigError, DiffimError, InputError
from diffim_astrometry import ReferenceMatcher, ReferenceMatcherConfig, propagate


def match(sources, exposure, **overrides):
    config = ReferenceMatcherConfig(**overrides)
    config.freeze()
    return ReferenceMatcher().diffim_astrometer(sources=sources, exposure=exposure,
                                                config=config)


def pixelSources(truth, rng, noise=0.02):
    """Every truth object as a source with id = truth row, positions with centroid noise."""
    return Table({"id": np.arange(len(truth)),
                  "x": np.asarray(truth["x"]) + rng.normal(0.0, noise, len(truth)),
                  "y": np.asarray(truth["y"]) + rng.normal(0.0, noise, len(truth))})


def expectedRefId(truth, sourceIds):
    """Catalog id of the star each truth row is (-1 for transients)."""
    starRows = np.flatnonzero(truth["kind"] == "star")
    refIds = np.full(len(truth), -1)
    refIds[starRows] = 1000 + np.arange(len(starRows))
    return refIds[np.asarray(sourceIds)]


def test_entry_point_and_defaults():
    assert plugins.load("astrometer", "matcher") is ReferenceMatcher
    config = ReferenceMatcherConfig()
    assert config.matchRadius == 1.0 and config.epoch == 2016.0
    assert (config.raColumn, config.decColumn, config.pmRaColumn) == ("ra", "dec", "pmra")


def test_proper_motion_brings_every_star_home(field, catalogFile):
    science, truth, _ = field
    sources = pixelSources(truth, np.random.default_rng(1))
    before = Table(sources, copy=True)
    matches = match(sources, science, refCatalog=catalogFile)
    stars = truth["kind"] == "star"
    right = np.asarray(matches["refId"]) == expectedRefId(truth, matches["id"])
    assert right.sum() >= 0.99 * stars.sum()
    assert right.all()
    assert np.all(np.asarray(matches["distance"]) <= 1.0)
    assert np.median(matches["distance"]) < 0.02      # 0.02 px noise at 0.2"/px, PM exact
    assert not np.isin(np.flatnonzero(~stars), matches["id"]).any()   # transients unmatched
    assert matches["distance"].unit == u.arcsec
    assert set(matches.colnames) >= {"id", "refId", "distance", "refRa", "refDec", "g", "g_r",
                                     "variable"}
    assert all(np.array_equal(sources[c], before[c]) for c in sources.colnames)
    without = match(sources, science, refCatalog=catalogFile, pmRaColumn=None, pmDecColumn=None)
    rightWithout = np.asarray(without["refId"]) == expectedRefId(truth, without["id"])
    assert rightWithout.sum() < 0.5 * stars.sum()


def test_no_match_beyond_the_radius(field, catalogFile):
    science, truth, _ = field
    stars = truth[truth["kind"] == "star"]
    radius = 0.5
    offsets = np.linspace(0.1, 2.0, 20)                       # arcsec, due north
    centre = SkyCoord(stars["ra"][:20], stars["dec"][:20], unit="deg")
    moved = centre.directional_offset_by(0.0 * u.deg, offsets * u.arcsec)
    sources = Table({"id": np.arange(20), "ra": moved.ra.deg, "dec": moved.dec.deg})
    matches = match(sources, science, refCatalog=catalogFile, matchRadius=radius)
    inside = np.flatnonzero(offsets < radius - 0.01)
    np.testing.assert_array_equal(matches["id"], inside)
    np.testing.assert_array_equal(matches["refId"], 1000 + inside)
    np.testing.assert_allclose(matches["distance"], offsets[inside], atol=0.005)


def test_each_reference_star_is_used_once(field, tmp_path):
    science = field[0]
    path = tmp_path / "two.fits"
    Table({"id": [7, 8], "ra": [10.0, 10.0 + 3 / 3600], "dec": [0.0, 0.0]}).write(path)
    sources = Table({"id": [0, 1, 2],
                     "ra": [10.0 + 0.2 / 3600, 10.0 + 0.1 / 3600, 10.0 + 2.9 / 3600],
                     "dec": [0.0, 0.0, 0.0]})
    matches = match(sources, science, refCatalog=str(path))
    np.testing.assert_array_equal(matches["id"], [1, 2])    # source 0 loses star 7 to source 1
    np.testing.assert_array_equal(matches["refId"], [7, 8])
    np.testing.assert_allclose(matches["distance"], [0.1, 0.1], atol=1e-6)


def test_propagation_agrees_with_astropy_space_motion_near_the_pole():
    ra, dec = np.array([30.0, 200.0, 123.0]), np.array([89.999, -45.0, 10.0])
    pmRa, pmDec = np.array([500.0, -300.0, 40.0]), np.array([-200.0, 800.0, -10.0])
    movedRa, movedDec = propagate(ra, dec, pmRa, pmDec, 8.0)
    start = SkyCoord(ra * u.deg, dec * u.deg, pm_ra_cosdec=pmRa * u.mas / u.yr,
                     pm_dec=pmDec * u.mas / u.yr, distance=10 * u.pc,
                     radial_velocity=0 * u.km / u.s,
                     obstime=Time(2016.0, format="jyear"))
    expected = start.apply_space_motion(new_obstime=Time(2024.0, format="jyear"))
    ours = SkyCoord(movedRa * u.deg, movedDec * u.deg)
    assert np.all(ours.separation(expected).arcsec < 1e-4)
    assert np.all(start.separation(ours).arcsec > 0.3)


def test_magnitude_limits_copied_columns_ecsv_and_row_ids(field, tmp_path):
    science, truth, catalog = field
    path = tmp_path / "refcat.ecsv"
    catalog.write(path)
    sources = pixelSources(truth, np.random.default_rng(2))
    matches = match(sources, science, refCatalog=str(path), magColumn="g", magMin=16.0,
                    magMax=19.0, copyColumns=["g", "variable"], idColumn=None)
    assert set(matches.colnames) == {"id", "refId", "distance", "refRa", "refDec", "g",
                                     "variable"}
    assert np.all((matches["g"] >= 16.0) & (matches["g"] <= 19.0))
    inRange = np.sum((catalog["g"] >= 16.0) & (catalog["g"] <= 19.0))
    assert len(matches) >= 0.99 * inRange
    np.testing.assert_array_equal(np.asarray(matches["refId"]) + 1000,
                                  expectedRefId(truth, matches["id"]))


def test_sky_positions_are_used_when_given(field, catalogFile):
    science, truth, _ = field
    stars = truth[truth["kind"] == "star"]
    sources = Table({"id": np.arange(len(stars)), "ra": stars["ra"], "dec": stars["dec"]})
    noWcs = science.clone()
    noWcs.wcs = None
    matches = match(sources, noWcs, refCatalog=catalogFile)
    np.testing.assert_array_equal(matches["refId"], 1000 + np.asarray(matches["id"]))
    assert len(matches) == len(stars)


@pytest.mark.parametrize("content", [None, b"this is not a table\x00\x01"])
def test_missing_or_unreadable_catalog_is_one_line_naming_the_file(field, tmp_path, content):
    science, truth, _ = field
    path = tmp_path / "refcat.fits"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        match(pixelSources(truth, np.random.default_rng(3)), science, refCatalog=str(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert ("does not exist" in message) == (content is None)


def test_user_errors(field, catalogFile, tmp_path):
    science, truth, catalog = field
    sources = pixelSources(truth, np.random.default_rng(4))
    with pytest.raises(ConfigError, match="refCatalog is not set"):
        match(sources, science)
    with pytest.raises(ConfigError, match="magColumn"):
        match(sources, science, refCatalog=catalogFile, magMax=20.0)
    with pytest.raises(InputError, match="no column 'RA_ICRS'"):
        match(sources, science, refCatalog=catalogFile, raColumn="RA_ICRS")
    undated = science.clone()
    undated.obsDate = None
    with pytest.raises(InputError, match="obsDate"):
        match(sources, undated, refCatalog=catalogFile)
    with pytest.raises(InputError, match="'id'"):
        match(Table({"x": [1.0], "y": [2.0]}), science, refCatalog=catalogFile)
    noWcs = science.clone()
    noWcs.wcs = None
    with pytest.raises(InputError, match="celestial WCS"):
        match(sources, noWcs, refCatalog=catalogFile)
    for error in (ConfigError, InputError):
        assert issubclass(error, DiffimError)


def test_positions_only_catalog_and_clashing_names(field, tmp_path):
    science, truth, catalog = field
    stars = truth[truth["kind"] == "star"]
    bare = Table({"id": catalog["id"], "ra": stars["ra"], "dec": stars["dec"]})
    bare.write(tmp_path / "bare.fits")
    sources = Table({"id": np.arange(len(stars)), "ra": stars["ra"], "dec": stars["dec"]})
    matches = match(sources, science, refCatalog=str(tmp_path / "bare.fits"))
    assert matches.colnames == ["id", "refId", "distance", "refRa", "refDec"]
    assert len(matches) == len(stars)
    bare["distance"] = np.full(len(bare), 42.0)         # e.g. a distance in parsecs
    bare.write(tmp_path / "clash.fits")
    matches = match(sources, science, refCatalog=str(tmp_path / "clash.fits"))
    assert np.all(matches["ref_distance"] == 42.0) and np.all(matches["distance"] < 1e-6)
