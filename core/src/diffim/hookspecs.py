"""Hook specifications: the contract of every retargetable slot.

There is one hook per slot of LSST's ``ImageDifferenceTask`` (and one for
``measurePsf``, which characterises inputs that carry no PSF); an
implementation is a class registered under the entry-point group
``diffim.<slot>`` whose instances implement that slot's hook (and only that
one). The class carries its config as ``ConfigClass`` (a
:class:`diffim.config.Config` subclass), is built with no arguments, and
receives its (frozen) config as the ``config`` argument of every call. The
chosen instance is registered on a pluggy ``PluginManager`` and called through
``pm.hook``.

Conventions every implementation follows:

* arrays are ``[y, x]``; catalog ``x``, ``y`` are 0-based pixel positions;
* inputs are never modified unless the hook says so;
* randomness comes only from the ``rng`` argument (a ``numpy.random.Generator``);
* errors a user can fix are raised as :class:`diffim.errors.DiffimError`
  subclasses with a one-line message.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    import numpy as np
    from astropy.table import Table

    from .config import Config
    from .exposure import Exposure
    from .results import DetectionResult, PsfMeasurement, SubtractionResult, VarianceScale

hookspec = pluggy.HookspecMarker("diffim")
hookimpl = pluggy.HookimplMarker("diffim")

# --------------------------------------------------------------------------
# Stage 0: characterising the inputs
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def diffim_measurePsf(exposure: "Exposure", config: "Config") -> "PsfMeasurement":
    """Measure the PSF of an exposure that carries none (a plain FITS image).

    Called by the task for the science image, the template, or both, before
    anything else uses them. The exposure's metadata holds the header cards of
    the file it was read from (a seeing keyword, for instance:
    :func:`diffim.characterize.headerSeeing` reads them).

    Parameters
    ----------
    exposure : Exposure
        The exposure, with image, mask and variance (not modified).
    config : Config
        The implementation's config.

    Returns
    -------
    PsfMeasurement
        The PSF model (normalised stamps, ``psf.at(x, y)``) and a one-line note
        of how it was obtained.

    Raises
    ------
    diffim.errors.InputError
        If no PSF can be obtained from the image (no usable stars and no seeing
        to fall back on), saying why.
    """


# --------------------------------------------------------------------------
# Stage 1: template and alignment
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def diffim_getTemplate(science: "Exposure", config: "Config", source: str,
                       templateIdList: "list[dict]") -> "Exposure":
    """Build the template for ``science`` from a data source (e.g. coadd patches).

    Parameters
    ----------
    science : Exposure
        The science exposure the template must cover (its WCS defines the sky area).
    config : Config
        The implementation's config.
    source : str
        Where templates live (a path or repository URI the implementation understands;
        a :class:`diffim.repo.Repository` root when the run comes from
        ``runDataRef``).
    templateIdList : list of dict
        Data IDs of the exposures to build the template from, each complete (the
        science data ID's keys fill what an entry leaves out); empty when none
        were named. An implementation that finds its inputs itself (coadd patches
        by sky position) leaves this argument out of its signature.

    Returns
    -------
    Exposure
        The template in its own pixel grid, NO_DATA where no patch has pixels.
    """


@hookspec(firstresult=True)
def diffim_register(science: "Exposure", template: "Exposure", config: "Config",
                    sipOrder: int, debug: bool) -> "Exposure":
    """Register ``template`` to ``science`` from their sources and warp it onto the science grid.

    Works whether or not the exposures carry a WCS: without one (or with one far
    off) the registration comes from the pixels alone (matched star patterns).

    Parameters
    ----------
    science, template : Exposure
        The pair to align (sanitised: NO_DATA pixels are 0); neither is modified.
    config : Config
        The implementation's config.
    sipOrder : int
        SIP order of the fitted template WCS (``templateSipOrder``).
    debug : bool
        Record matches and residuals (``doDebugRegister``) in the returned metadata.

    Returns
    -------
    Exposure
        The template on the science pixel grid (NaN and NO_DATA where it has no
        pixels), with its PSF transformed to the science grid and the science WCS;
        ``metadata["registerRms"]`` holds the fit rms (science pixels),
        ``metadata["registerMatches"]`` the number of matched stars and, with
        ``debug``, ``metadata["registerDebug"]`` the matches and residuals;
        optionally ``metadata["registerOffset"]`` and ``["registerOffsetMean"]``,
        ``[dx, dy]`` science minus template position (pixels) at the science
        centre and averaged over the matched stars (doAddMetrics records them).
    """


@hookspec(firstresult=True)
def diffim_astrometer(sources: "Table", exposure: "Exposure", config: "Config") -> "Table":
    """Match ``sources`` to a reference catalog without refitting the WCS.

    Parameters
    ----------
    sources : astropy.table.Table
        Sources with ``id`` and ``ra``, ``dec`` (degrees) or ``x``, ``y``.
    exposure : Exposure
        The exposure the sources come from (its WCS and date place the catalog).
    config : Config
        The implementation's config (names the reference catalog).

    Returns
    -------
    astropy.table.Table
        One row per match: ``id`` (of the source), ``refId``, ``distance``
        (arcsec) and the reference columns the implementation documents.
    """


@hookspec(firstresult=True)
def diffim_sourceSelector(sources: "Table | None", exposure: "Exposure", config: "Config",
                          references: "Table | None") -> "Table":
    """Select stars usable as PSF-matching kernel sources.

    Parameters
    ----------
    sources : astropy.table.Table or None
        A science source catalog (``id``, ``x``, ``y``, ...); None asks the
        implementation to detect and measure the sources of ``exposure`` itself.
    exposure : Exposure
        The science exposure.
    config : Config
        The implementation's config.
    references : astropy.table.Table or None
        Reference-catalog matches of the sources (``id``, ``refId``, ...) when
        available (``kernelSourcesFromRef``).

    Returns
    -------
    astropy.table.Table
        The selected stars: at least ``id``, ``x``, ``y`` (0-based science pixels).
    """


# --------------------------------------------------------------------------
# Stage 2: subtraction
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def diffim_subtract(science: "Exposure", template: "Exposure", config: "Config",
                    convolveTemplate: bool, kernelSources: "Table | None",
                    rng: "np.random.Generator") -> "SubtractionResult":
    """PSF-match ``template`` and ``science`` and subtract them.

    The implementing class declares what it produces as the class attribute
    ``traits`` (a :class:`~diffim.results.SubtractionTraits`: whether its
    difference needs decorrelation, whether it makes its own score image or a
    matched template, whether it fits a kernel on ``kernelSources``); config
    validation and the task decide from these, never from the plugin's name, and
    the result must keep the promise (``scoreExposure`` set when
    ``makesScoreImage``; ``needsDecorrelation`` False when the traits say so).

    Parameters
    ----------
    science : Exposure
        The science exposure (with PSF and variance).
    template : Exposure
        The template, already on the science pixel grid (same shape, NO_DATA
        where it has no pixels), with its PSF and variance.
    config : Config
        The implementation's config.
    convolveTemplate : bool
        Convolve the template (True) or the science image (False).
    kernelSources : astropy.table.Table or None
        Stars to fit the kernel on (``x``, ``y`` columns); None lets the
        implementation find its own.
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    SubtractionResult
        Difference on the science flux scale, positive where the science image is
        brighter, with PSF, variance and mask set, and the warped template; the other
        fields are optional (CONTRIBUTING.md says which later step uses each, and what
        it does without). :mod:`diffim.testing.contract` checks an implementation.
    """


@hookspec(firstresult=True)
def diffim_decorrelate(science: "Exposure", template: "Exposure",
                       subtraction: "SubtractionResult", config: "Config",
                       spatiallyVarying: bool, preConvKernel: "np.ndarray | None") -> "Exposure":
    """Whiten the noise of a difference made by convolving one image with a kernel.

    Parameters
    ----------
    science : Exposure
        The original science exposure.
    template : Exposure
        The template on the science grid, not convolved.
    subtraction : SubtractionResult
        What the ``subtract`` slot returned (kernel, difference, direction).
    config : Config
        The implementation's config.
    spatiallyVarying : bool
        Compute the correction on a grid of sub-images (``doSpatiallyVarying``).
    preConvKernel : numpy.ndarray or None
        When the science image was pre-convolved with this (unit-sum) kernel
        before matching (``useScoreImageDetection``), ``subtraction`` holds a
        likelihood image and the correction is the score-image variant.

    Returns
    -------
    Exposure
        The decorrelated difference (or score image), with PSF and variance updated.
    """


@hookspec(firstresult=True)
def diffim_scaleVariance(exposure: "Exposure", config: "Config") -> "float | VarianceScale":
    """Measure how much the variance plane under-states the noise of the image.

    Parameters
    ----------
    exposure : Exposure
        The image to measure; not modified.
    config : Config
        The implementation's config.

    Returns
    -------
    float or VarianceScale
        Factor by which to multiply the variance plane; as a
        :class:`~diffim.results.VarianceScale` also the pixels it rests on and how
        it was measured (estimator ``"none"``: too few pixels, the run is suspect).
    """


# --------------------------------------------------------------------------
# Stage 3: detection and measurement
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def diffim_detection(exposure: "Exposure", config: "Config", doSmooth: bool, doMerge: bool,
                     growFootprint: int) -> "DetectionResult":
    """Detect positive and negative sources on a difference (or score) image.

    The implementation sets the DETECTED and DETECTED_NEGATIVE mask planes of
    ``exposure`` (the task's own difference exposure) in place.

    Parameters
    ----------
    exposure : Exposure
        The difference or score exposure, with PSF and variance.
    config : Config
        The implementation's config.
    doSmooth : bool
        Filter with the PSF before thresholding (False for a score image).
    doMerge : bool
        Merge positive and negative footprints, grown by ``growFootprint``, into one source each.
    growFootprint : int
        Pixels to grow footprints by before merging.

    Returns
    -------
    DetectionResult
        The diaSources table and the footprint label image.
    """


@hookspec(firstresult=True)
def diffim_skySources(exposure: "Exposure", config: "Config",
                      rng: "np.random.Generator") -> "Table":
    """Choose positions in empty sky (avoiding detected and masked pixels).

    Parameters
    ----------
    exposure : Exposure
        The detection exposure, with DETECTED / DETECTED_NEGATIVE set.
    config : Config
        The implementation's config.
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    astropy.table.Table
        ``x``, ``y`` (0-based pixels) and ``radius`` (pixels) of each sky
        source's circular footprint. The task appends them to the diaSources
        with ``sky_source=True`` before measurement, so they are measured like
        any diaSource.
    """


@hookspec(firstresult=True)
def diffim_measurement(diaSources: "Table", footprints: "np.ndarray", difference: "Exposure",
                       science: "Exposure", matchedTemplate: "Exposure | None",
                       config: "Config", doDipoleFitting: bool) -> "Table":
    """Measure diaSources on the difference image (centroids, fluxes, dipole model).

    Parameters
    ----------
    diaSources : astropy.table.Table
        The detected sources (and sky sources, ``sky_source=True``).
    footprints : numpy.ndarray
        int32 label image; row ``i`` owns the pixels labelled ``i + 1``.
    difference : Exposure
        The (decorrelated) difference image with its PSF.
    science : Exposure
        The science exposure (constrains the positive dipole lobe).
    matchedTemplate : Exposure or None
        The PSF-matched template (constrains the negative lobe); None for ZOGY.
    config : Config
        The implementation's config.
    doDipoleFitting : bool
        Fit the dipole model (``doDipoleFitting``).

    Returns
    -------
    astropy.table.Table
        ``diaSources`` with measurement columns added (same rows, same order).
    """


@hookspec(firstresult=True)
def diffim_forcedMeasurement(diaSources: "Table", science: "Exposure",
                             config: "Config") -> "Table":
    """Measure PSF fluxes on the science exposure at the diaSource positions.

    Returns
    -------
    astropy.table.Table
        ``diaSources`` with the forced-photometry columns added.
    """


@hookspec(firstresult=True)
def diffim_applyApCorr(diaSources: "Table", exposure: "Exposure", config: "Config") -> "Table":
    """Apply aperture corrections (measured on ``exposure``'s stars) to PSF fluxes.

    Returns
    -------
    astropy.table.Table
        ``diaSources`` with corrected fluxes and the correction columns.
    """


# --------------------------------------------------------------------------
# Observers: any installed plugin in ``diffim.observers`` hears every run.
# --------------------------------------------------------------------------


@hookspec
def diffim_before_step(step: str) -> None:
    """Called before each step of :class:`diffim.ImageDifferenceTask` runs."""


@hookspec
def diffim_after_step(step: str, seconds: float) -> None:
    """Called after each step completes, with its wall time."""


@hookspec
def diffim_on_step_error(step: str, error: BaseException) -> None:
    """Called when a step raises, before the error propagates."""


#: Slot name -> hook name, in the order the task runs them.
SLOT_HOOKS: dict[str, str] = {
    "measurePsf": "diffim_measurePsf",
    "getTemplate": "diffim_getTemplate",
    "register": "diffim_register",
    "astrometer": "diffim_astrometer",
    "sourceSelector": "diffim_sourceSelector",
    "subtract": "diffim_subtract",
    "decorrelate": "diffim_decorrelate",
    "scaleVariance": "diffim_scaleVariance",
    "detection": "diffim_detection",
    "skySources": "diffim_skySources",
    "measurement": "diffim_measurement",
    "forcedMeasurement": "diffim_forcedMeasurement",
    "applyApCorr": "diffim_applyApCorr",
}

OBSERVER_HOOKS = ("diffim_before_step", "diffim_after_step", "diffim_on_step_error")
