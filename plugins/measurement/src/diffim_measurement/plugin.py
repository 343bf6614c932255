"""The ``dipole`` and ``psf`` implementations of the ``measurement`` slot."""
from __future__ import annotations

import numpy as np
from astropy.table import Table

from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl

from .base import Lobes, checkInputs, measureBase, usablePixels
from .config import DipoleMeasurementConfig, PsfMeasurementConfig
from .dipole import DIFFERENCE
from .dipoles import dipoleRows, fittedImages, measureDipoles
from .noise import measureNoiseCorrelation
from .schema import DIPOLE_SCHEMA, SHARP_FLAG, addColumns, baseSchema
from .sourcenoise import SourceNoisePath, sourceNoiseInputs
from .sharpness import sharpFlags


def measure(diaSources: Table, footprints: np.ndarray, difference: Exposure,
            science: Exposure, matchedTemplate: Exposure | None,
            config: PsfMeasurementConfig, doDipoleFitting: bool) -> Table:
    """Base measurements of every row, and the dipole model when asked and configured.

    The dipole model runs when ``doDipoleFitting`` is True and ``config`` is a
    :class:`DipoleMeasurementConfig`. The noise correlation of the images used
    (the difference; with dipole fits also the science and matched template)
    is measured once, on pixels outside every footprint. See
    :meth:`DipoleMeasurement.diffim_measurement`.
    """
    checkInputs(diaSources, footprints, difference, config)
    lobes = Lobes.of(diaSources)
    fitting = doDipoleFitting and isinstance(config, DipoleMeasurementConfig)
    images = [(DIFFERENCE, difference)]
    if fitting and dipoleRows(lobes, config).any():
        images = fittedImages(difference, science, matchedTemplate, config)
    inputs = sourceNoiseInputs(difference, science, matchedTemplate)
    # The correlations are measured on the fitted images (in their order) and then on the
    # inputs the sources' own photon noise comes from; the fitted science and matched
    # template are those inputs, so each image is measured once.
    extra = [(sign, image) for sign, image in inputs
             if not any(image is fitted for _, fitted in images)]
    measured = [exposure for _, exposure in images] + [image for _, image in extra]
    usable = [usablePixels(exposure, config.badMaskPlanes) for exposure in measured]
    sigma = difference.psf.sigma()
    noise = measureNoiseCorrelation([e.image for e in measured], [e.variance for e in measured],
                                    (footprints > 0) | ~np.logical_and.reduce(usable),
                                    int(np.ceil(3.0 * sigma)), sigma)
    position = {id(image): index for index, image in enumerate(measured)}
    paths = [(sign, SourceNoisePath.of(image, usable[position[id(image)]], difference, noise,
                                       position[id(image)])) for sign, image in inputs]
    out = diaSources.copy(copy_data=True)
    columns = measureBase(diaSources, footprints, difference, usable[0], noise, lobes, config,
                          paths)
    columns[SHARP_FLAG] = sharpFlags(lobes, difference, usable[0], science, matchedTemplate,
                                     config.badMaskPlanes, config.sharpNoiseMargin,
                                     config.sharpNeighbourFraction,
                                     {id(e): u for e, u in zip(measured, usable)})
    addColumns(out, columns, baseSchema(config.apertureRadii))
    if fitting:
        addColumns(out, measureDipoles(diaSources, footprints, images, usable, noise, lobes,
                                       config), DIPOLE_SCHEMA)
    return out


class PsfMeasurement:
    """Base measurements only: centroid, shape, PSF and aperture fluxes, pixel flags."""

    ConfigClass = PsfMeasurementConfig

    @hookimpl
    def diffim_measurement(self, diaSources: Table, footprints: np.ndarray,
                           difference: Exposure, science: Exposure,
                           matchedTemplate: Exposure | None, config: PsfMeasurementConfig,
                           doDipoleFitting: bool) -> Table:
        """Measure every diaSource on the difference image, without a dipole model.

        The base measurements of :meth:`DipoleMeasurement.diffim_measurement`;
        ``science``, ``matchedTemplate`` and ``doDipoleFitting`` are accepted for
        the slot's contract and not used (this plugin never fits dipoles).

        Returns
        -------
        astropy.table.Table
            A copy of ``diaSources`` (same rows, same order) with the base columns added.

        Raises
        ------
        diffim.errors.InputError
            If ``x`` / ``y`` are missing, the difference lacks PSF or variance, or the
            footprint image does not fit the catalog.
        """
        return measure(diaSources, footprints, difference, science, matchedTemplate, config,
                       doDipoleFitting=False)


class DipoleMeasurement:
    """Base measurements plus the dipole model (LSST ``DipoleFitTask``)."""

    ConfigClass = DipoleMeasurementConfig

    @hookimpl
    def diffim_measurement(self, diaSources: Table, footprints: np.ndarray,
                           difference: Exposure, science: Exposure,
                           matchedTemplate: Exposure | None, config: DipoleMeasurementConfig,
                           doDipoleFitting: bool) -> Table:
        """Measure every diaSource on the difference image and fit dipoles.

        1. Base measurements of every row (sky sources too): a Gaussian-windowed
           centroid of each lobe (a dipole candidate's centroid is the lobes'
           midpoint; a sky source keeps its position), adaptive second moments,
           the PSF flux at the centroid (:func:`diffim.photometry.measurePsfFlux`),
           circular-aperture fluxes and mask-plane flags.
        2. With ``doDipoleFitting``: for each dipole candidate (every non-sky
           source with ``fitAllDiaSources``), fit a positive and a negative
           difference-PSF lobe to the footprint's bounding box by least squares,
           constrained (``relWeight``) by the science and matched-template
           cut-outs; errors from the fit covariance, which accounts for the noise
           the three images share and its spatial correlation; then classify.

        Parameters
        ----------
        diaSources : astropy.table.Table
            Sources from the detection plugin (``x``, ``y``, peaks), sky sources flagged
            ``sky_source``; not modified.
        footprints : numpy.ndarray
            int32 label image; row ``i`` owns the pixels labelled ``i + 1``.
        difference : Exposure
            The difference image with PSF and variance; not modified.
        science : Exposure
            The science exposure (constrains the positive lobe).
        matchedTemplate : Exposure or None
            The PSF-matched template (constrains the negative lobe); None for ZOGY.
        config : DipoleMeasurementConfig
            Measurement and dipole-fit parameters.
        doDipoleFitting : bool
            Fit the dipole model.

        Returns
        -------
        astropy.table.Table
            A copy of ``diaSources`` (same rows, same order) with the base columns and,
            with ``doDipoleFitting``, the ``ip_diffim_DipoleFit_*`` columns added.

        Raises
        ------
        diffim.errors.InputError
            If an input lacks what the measurement needs (see :class:`PsfMeasurement`),
            or the science / matched template lacks PSF or variance while relWeight > 0.
        """
        return measure(diaSources, footprints, difference, science, matchedTemplate, config,
                       doDipoleFitting)
