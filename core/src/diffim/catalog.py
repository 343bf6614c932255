"""Table operations of the task: sky sources, source matching, kernel and control stars."""
from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.table import Column, Table, vstack

from .errors import InputError
from .matching import matchPixels, matchSky


def _blank(column: Column, n: int) -> Column:
    """A column of ``n`` empty values with the dtype, unit and description of ``column``."""
    kind = column.dtype.kind
    fill = {"f": np.nan, "b": False, "i": 0, "u": 0}.get(kind, "")
    shape = (n, *column.shape[1:])
    data = np.full(shape, fill, dtype=column.dtype)
    return Column(data, name=column.name, unit=column.unit, description=column.description)


def appendSkySources(diaSources: Table, footprints: np.ndarray, sky: Table,
                     ids: np.ndarray) -> tuple[Table, np.ndarray]:
    """Append sky sources as rows flagged ``sky_source`` and paint their footprints.

    Parameters
    ----------
    diaSources : astropy.table.Table
        Detected sources; gains a ``sky_source`` column (False for them).
    footprints : numpy.ndarray
        Label image of ``diaSources`` (row ``i`` is label ``i + 1``).
    sky : astropy.table.Table
        ``x``, ``y``, ``radius`` of the sky sources.
    ids : numpy.ndarray
        Ids for the new rows.

    Returns
    -------
    diaSources, footprints
        New table and label image; inputs are not modified.
    """
    n, m = len(diaSources), len(sky)
    extra = Table([_blank(diaSources[name], m) for name in diaSources.colnames])
    extra["id"] = ids
    extra["x"] = np.asarray(sky["x"], dtype=float)
    extra["y"] = np.asarray(sky["y"], dtype=float)
    combined = Table(diaSources, copy=True)
    combined["sky_source"] = Column(np.zeros(n, dtype=bool),
                                    description="Row is a sky source (empty-sky noise probe)")
    extra["sky_source"] = np.ones(m, dtype=bool)
    combined = vstack([combined, extra], join_type="exact", metadata_conflicts="silent")
    labels = footprints.copy()
    yy, xx = np.ogrid[:labels.shape[0], :labels.shape[1]]
    for k, row in enumerate(sky):
        x, y, r = float(row["x"]), float(row["y"]), float(row["radius"])
        ys = slice(max(int(y - r), 0), int(y + r) + 2)
        xs = slice(max(int(x - r), 0), int(x + r) + 2)
        disk = (yy[ys] - y) ** 2 + (xx[:, xs] - x) ** 2 <= r * r
        labels[ys, xs][disk & (labels[ys, xs] == 0)] = n + k + 1
    return combined, labels


def matchToSources(diaSources: Table, sources: Table, radiusArcsec: float,
                   pixelScale: float | None) -> Table:
    """Add the nearest source within ``radiusArcsec`` to each diaSource.

    Matching is on the sky (``ra``, ``dec`` in degrees) when both tables have
    finite coordinates, otherwise in pixels (``x``, ``y``) with the radius
    converted by ``pixelScale`` (arcsec/pixel).

    Returns
    -------
    astropy.table.Table
        ``diaSources`` with ``srcMatchId`` (-1 when unmatched) and
        ``srcMatchDistance`` (arcsec, NaN when unmatched).
    """
    out = Table(diaSources, copy=True)
    onSky = all(c in t.colnames for t in (diaSources, sources) for c in ("ra", "dec")) and \
        np.isfinite(diaSources["ra"]).all() and np.isfinite(sources["ra"]).all()
    if onSky:
        match = matchSky(diaSources["ra"], diaSources["dec"], sources["ra"], sources["dec"],
                         radiusArcsec)
        arcsec = match.distance
    else:
        if pixelScale is None:
            raise ValueError("matching without sky coordinates needs a pixel scale")
        match = matchPixels(diaSources["x"], diaSources["y"], sources["x"], sources["y"],
                            radiusArcsec / pixelScale)
        arcsec = match.distance * pixelScale
    ids = np.asarray(sources["id"] if "id" in sources.colnames else np.arange(len(sources)))
    matchId = np.full(len(out), -1, dtype=np.int64)
    distance = np.full(len(out), np.nan)
    matchId[match.index1] = ids[match.index2]
    distance[match.index1] = arcsec
    out["srcMatchId"] = Column(matchId, description="id of the matched science source (-1: none)")
    out["srcMatchDistance"] = Column(distance, unit=u.arcsec,
                                     description="Distance to the matched science source")
    return out


def splitControlSample(selected: Table, step: int, seed: int) -> tuple[Table, Table]:
    """Hold out every ``step``-th star (after a seeded shuffle) as the control sample.

    Returns
    -------
    kernelSources, controlSources : astropy.table.Table
    """
    order = np.random.default_rng(seed).permutation(len(selected))
    control = np.zeros(len(selected), dtype=bool)
    control[order[::step]] = True
    return selected[~control], selected[control]


def referenceControlReasons(stars: Table, matches: Table,
                            dcrColors: tuple[str, float | None, float | None] | None,
                            variableField: str | None) -> np.ndarray:
    """Why each star is a control star by its reference catalog: 'dcr', 'variable' or 'none'.

    A star is linked to its reference match by ``id`` (the closest when it has
    several). It is 'variable' when the match's ``variableField`` is True, else
    'dcr' when the match's colour is below the blue limit or above the red one;
    unmatched stars, missing colours and missing flags give 'none'.

    Parameters
    ----------
    stars : astropy.table.Table
        Kernel-star candidates with an ``id`` column.
    matches : astropy.table.Table
        Astrometer output: ``id`` (of the star), ``distance`` (arcsec) and the
        reference columns.
    dcrColors : tuple or None
        ``(colorColumn, blueLimit, redLimit)``, a limit None when unused; None
        skips the colour test.
    variableField : str or None
        Boolean reference column flagging variable stars; None skips the test.

    Returns
    -------
    numpy.ndarray
        One string per star.

    Raises
    ------
    InputError
        If ``matches`` lacks ``id`` or a column the tests read.
    """
    needed = ["id"] + ([dcrColors[0]] if dcrColors else []) + (
        [variableField] if variableField else [])
    missing = [name for name in needed if name not in matches.colnames]
    if missing:
        raise InputError(f"the reference matches lack column(s) {', '.join(missing)} needed for "
                         f"the control sample (check the catalog, dcrColorField, variableField "
                         f"and astrometer.copyColumns); they have: {', '.join(matches.colnames)}")
    order = (np.argsort(_filled(matches["distance"], np.nan), kind="stable")
             if "distance" in matches.colnames else np.arange(len(matches)))
    closest: dict = {}
    for k, source in zip(order.tolist(), np.asarray(matches["id"])[order].tolist()):
        closest.setdefault(source, k)
    rows = np.array([closest.get(source, -1) for source in np.asarray(stars["id"]).tolist()],
                    dtype=np.intp)
    matched = rows >= 0
    variable = np.zeros(len(stars), dtype=bool)
    if variableField:
        flags = _filled(matches[variableField], False).astype(bool)
        variable[matched] = flags[rows[matched]]
    extreme = np.zeros(len(stars), dtype=bool)
    if dcrColors:
        name, blue, red = dcrColors
        color = np.full(len(stars), np.nan)
        color[matched] = _filled(matches[name], np.nan).astype(float)[rows[matched]]
        with np.errstate(invalid="ignore"):
            if blue is not None:
                extreme |= color < blue
            if red is not None:
                extreme |= color > red
    return np.where(variable, "variable", np.where(extreme, "dcr", "none")).astype("<U8")


def _filled(column: Column, fill) -> np.ndarray:
    """``column`` as an array with masked entries replaced by ``fill``."""
    return np.asarray(column.filled(fill) if hasattr(column, "filled") else column)


def kernelQuality(difference, stars: Table, radius: float) -> Table:
    """Residual statistics of the difference around each star (kernel-quality metrics).

    For every star, ``z = difference / sqrt(variance)`` over the unmasked pixels
    of a disc of ``radius`` pixels: its mean and standard deviation. A good
    kernel leaves mean ≈ 0 and std ≈ 1 at stars it was not fitted on.

    Returns
    -------
    astropy.table.Table
        ``stars`` with ``residualMean``, ``residualStd`` and ``residualNpix`` columns.
    """
    out = Table(stars, copy=True)
    mean = np.full(len(out), np.nan)
    std = np.full(len(out), np.nan)
    npix = np.zeros(len(out), dtype=np.int64)
    bad = difference.bitmask("NO_DATA", "SAT", "BAD", "EDGE")
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    for k, (x, y) in enumerate(zip(out["x"], out["y"])):
        ix, iy = int(round(float(x))), int(round(float(y)))
        if not (r <= ix < difference.width - r and r <= iy < difference.height - r):
            continue
        cut = (slice(iy - r, iy + r + 1), slice(ix - r, ix + r + 1))
        use = ((yy + iy - y) ** 2 + (xx + ix - x) ** 2 <= radius ** 2) & \
            ((difference.mask[cut] & bad) == 0) & np.isfinite(difference.image[cut])
        if use.sum() < 2:
            continue
        z = difference.image[cut][use] / np.sqrt(difference.variance[cut][use])
        mean[k], std[k], npix[k] = z.mean(), z.std(ddof=1), use.sum()
    out["residualMean"] = Column(mean, description="Mean of difference/sqrt(variance) around "
                                                   "the star")
    out["residualStd"] = Column(std, description="Std of difference/sqrt(variance) around the star")
    out["residualNpix"] = Column(npix, description="Pixels used for the residual statistics")
    return out


def addReferenceMatches(diaSources: Table, matches: Table, radiusArcsec: float) -> Table:
    """Add ``refMatchId`` / ``refMatchDistance`` from astrometer matches within ``radiusArcsec``.

    Parameters
    ----------
    diaSources : astropy.table.Table
        Table with an ``id`` column.
    matches : astropy.table.Table
        Astrometer output: ``id``, ``refId``, ``distance`` (arcsec).
    radiusArcsec : float
        Largest accepted distance (``diaSourceMatchRadius``).
    """
    out = Table(diaSources, copy=True)
    refId = np.full(len(out), -1, dtype=np.int64)
    distance = np.full(len(out), np.nan)
    row = {int(i): k for k, i in enumerate(out["id"])}
    for match in matches:
        k = row.get(int(match["id"]))
        d = float(match["distance"])
        if k is not None and d <= radiusArcsec and not (distance[k] <= d):
            refId[k], distance[k] = int(match["refId"]), d
    out["refMatchId"] = Column(refId, description="id of the matched reference star (-1: none)")
    out["refMatchDistance"] = Column(distance, unit=u.arcsec,
                                     description="Distance to the matched reference star")
    return out


#: diaSource columns that mark a source as a dipole (beside having peaks of both signs).
DIPOLE_COLUMNS = ("isDipole", "isDipoleCandidate", "ip_diffim_DipoleFit_flag_classification")


def flagColumn(sources: Table, name: str) -> np.ndarray:
    """Column ``name`` of ``sources`` as booleans, masked entries False (all False when absent)."""
    if name not in sources.colnames:
        return np.zeros(len(sources), dtype=bool)
    return _filled(sources[name], False).astype(bool)


def diaSourceKinds(sources: Table) -> np.ndarray:
    """The kind of each diaSource, each row one kind: ``sky``, ``dipole``, ``positive`` or
    ``negative``.

    A sky source (``sky_source``) is a sky source only; a dipole (classified so, or its
    footprint holding peaks of both signs) a dipole only; of the rest, a source with a
    positive peak is positive, any other negative.
    """
    sky = flagColumn(sources, "sky_source")
    dipole = flagColumn(sources, "isPositive") & flagColumn(sources, "isNegative")
    for name in DIPOLE_COLUMNS:
        dipole |= flagColumn(sources, name)
    kinds = np.full(len(sources), "negative", dtype="<U8")
    kinds[flagColumn(sources, "isPositive")] = "positive"
    kinds[dipole] = "dipole"
    kinds[sky] = "sky"
    return kinds

