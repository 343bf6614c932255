"""The ``sip`` implementation of the ``register`` slot."""
from __future__ import annotations

import logging

import numpy as np
from astropy.wcs import WCS

from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl

from .config import SipRegisterConfig
from .errors import InsufficientMatchesError
from .fit import Registration, fitWithRejection
from .patterns import findSimilarity
from diffim.warp import warpWithMapping
from .stars import Stars, detectStars
from .transforms import fitPolynomial, sipFitter

log = logging.getLogger(__name__)

#: Sky matches are trusted when their fit rms is below this fraction of the match
#: radius; chance pairings of a wrong WCS spread over the whole radius.
WCS_RMS_FRACTION = 1.0 / 3.0


def _celestial(wcs: WCS | None) -> WCS | None:
    return wcs.celestial if wcs is not None and wcs.has_celestial else None


def _registerByWcs(science: Exposure, template: Exposure, detected: tuple[Stars, Stars],
                   config: SipRegisterConfig, order: int) -> Registration | None:
    """Match through the two WCSs and fit a TAN-SIP template WCS; None if the WCS is wrong.

    ``detected`` holds every star detected in the template and the science image.
    """
    templateStars, scienceStars = (stars.forFit(config.maxStars) for stars in detected)
    scienceWcs, templateWcs = _celestial(science.wcs), _celestial(template.wcs)
    radius = config.matchRadius / science.pixelScale()

    def start(x, y):
        return scienceWcs.world_to_pixel_values(*templateWcs.pixel_to_world_values(x, y))

    registration = fitWithRejection(templateStars, scienceStars, start,
                                    sipFitter(scienceWcs, template.shape), order, radius,
                                    config.sipIter, config.sipRej)
    if registration is None or registration.nMatches < config.minMatches \
            or registration.rms > WCS_RMS_FRACTION * radius:
        found = "no" if registration is None else \
            f"{registration.nMatches} matches, rms {registration.rms:.2f} px"
        log.info("template WCS does not match the science stars within %.2f arcsec (%s): "
                 "matching star patterns", config.matchRadius, found)
        return None
    return registration


def _registerByPattern(science: Exposure, template: Exposure, detected: tuple[Stars, Stars],
                       config: SipRegisterConfig, order: int) -> Registration | None:
    """Match by triangle patterns, then fit a TAN-SIP WCS (science WCS) or a polynomial.

    ``detected`` holds every star detected in the template and the science image.
    """
    templateStars, scienceStars = (stars.forFit(config.maxStars) for stars in detected)
    bright = [stars.brightest(config.patternStars) for stars in detected]
    similarity = findSimilarity(bright[0].x, bright[0].y, bright[1].x, bright[1].y,
                                config.pixelMatchRadius)
    if similarity is None:
        return None
    log.info("star patterns: scale %.4f, rotation %.3f deg, %d of %d bright template stars "
             "agree", abs(similarity.a), np.degrees(np.angle(similarity.a)), similarity.nAgree,
             len(bright[0]))
    scienceWcs = _celestial(science.wcs) if config.useWcs else None
    fitter = fitPolynomial if scienceWcs is None else sipFitter(scienceWcs, template.shape)
    return fitWithRejection(templateStars, scienceStars, similarity, fitter, order,
                            config.pixelMatchRadius, config.sipIter, config.sipRej)


def findRegistration(science: Exposure, template: Exposure, config: SipRegisterConfig,
                     sipOrder: int) -> tuple[str, Registration]:
    """Detect and match the stars of both exposures and fit the transformation between them.

    Steps 1-3 of :meth:`SipRegister.diffim_register`.

    Returns
    -------
    method : str
        ``"wcs"`` (matched by sky position) or ``"pattern"`` (by star patterns).
    registration : Registration
        The fitted transformation and its matches.

    Raises
    ------
    InsufficientMatchesError
        If fewer than ``config.minMatches`` stars match.
    """
    detected = (detectStars(template, config), detectStars(science, config))
    order = max(int(sipOrder), 1)
    if config.useWcs and _celestial(science.wcs) and _celestial(template.wcs):
        registration = _registerByWcs(science, template, detected, config, order)
        if registration is not None:
            return "wcs", registration
    registration = _registerByPattern(science, template, detected, config, order)
    nMatches = 0 if registration is None else registration.nMatches
    if nMatches < config.minMatches:
        nTemplate, nScience = (np.count_nonzero(stars.usable) for stars in detected)
        raise InsufficientMatchesError(nMatches, config.minMatches, nScience, nTemplate)
    return "pattern", registration


def registerTemplate(science: Exposure, template: Exposure, config: SipRegisterConfig,
                     sipOrder: int, debug: bool) -> Exposure:
    """Register ``template`` to ``science`` and warp it onto the science grid.

    See :meth:`SipRegister.diffim_register`.
    """
    method, registration = findRegistration(science, template, config, sipOrder)
    transform = registration.transform
    warped = warpWithMapping(template, science, transform.toTemplate, _celestial(science.wcs))
    cx, cy = science.center
    tx, ty = transform.toTemplate(cx, cy)
    warped.metadata.update({
        "registerMethod": method,
        "registerOrder": transform.order,
        "registerRms": registration.rms,
        "registerMatches": registration.nMatches,
        "registerRejected": registration.nRejected,
        "registerOffset": [float(cx - tx), float(cy - ty)],
        "registerOffsetMean": list(registration.meanOffset),
    })
    if debug:
        warped.metadata["registerDebug"] = registration.records()
    log.info("registered the template (%s, order %d): %d matches, %d rejected, rms %.3f px, "
             "offset at the science centre (%+.2f, %+.2f) px", method, transform.order,
             registration.nMatches, registration.nRejected, registration.rms, cx - tx, cy - ty)
    return warped


class SipRegister:
    """Register the template to the science image from their stars (LSST ``RegisterTask``)."""

    ConfigClass = SipRegisterConfig

    @hookimpl
    def diffim_register(self, science: Exposure, template: Exposure, config: SipRegisterConfig,
                        sipOrder: int, debug: bool) -> Exposure:
        """Register ``template`` to ``science`` from their stars and warp it onto the science grid.

        1. Detect stars in both exposures; the fit uses the ``maxStars`` brightest
           point-like, unsaturated ones above ``minSnr``.
        2. Match: through the two WCSs within ``matchRadius`` when both have one
           (and ``useWcs``); if that gives fewer than ``minMatches`` consistent
           matches, or there is no WCS, by triangle patterns of the
           ``patternStars`` brightest stars (any shift, rotation, and scale
           change up to a factor 2).
        3. Fit template to science pixels with ``sipRej``-sigma rejection over
           ``sipIter`` iterations: a TAN-SIP WCS of order ``sipOrder`` for the
           template when the science image has a WCS, else an affine plus
           polynomial pixel transformation of that order.
        4. Warp the template onto the science grid.

        Parameters
        ----------
        science, template : Exposure
            The sanitised pair; neither is modified.
        config : SipRegisterConfig
            Detection, matching and rejection settings.
        sipOrder : int
            Polynomial (SIP) order of the fit (lowered when the matches are too few).
        debug : bool
            Record every match in ``metadata["registerDebug"]``.

        Returns
        -------
        Exposure
            The warped template with the science WCS (or None) and metadata
            ``registerRms`` (px), ``registerMatches``, ``registerRejected``,
            ``registerMethod`` (``"wcs"`` or ``"pattern"``), ``registerOrder``,
            ``registerOffset`` (science minus template position of the science
            centre, px), ``registerOffsetMean`` (mean science minus template
            position of the matched stars, px) and, with ``debug``, ``registerDebug``: one dict per
            match with ``templateX``, ``templateY``, ``scienceX``, ``scienceY``,
            residual ``dx``, ``dy`` and ``rejected``.

        Raises
        ------
        InsufficientMatchesError
            If fewer than ``minMatches`` stars match.
        """
        return registerTemplate(science, template, config, sipOrder, debug)
