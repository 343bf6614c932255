"""Kernel stars and control stars (doSelectSources), and the kernel's quality on them.

The sourceSelector slot picks candidate stars; those the template lacks are
dropped; stars of extreme colour and known variables from the reference catalog
(doSelectDcrCatalog, doSelectVariableCatalog) and every controlStepSize-th of the
rest become control stars, on which the kernel's residuals are measured but
which it is not fitted to.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from astropy.table import Column, Table, vstack

from .catalog import kernelQuality, matchToSources, referenceControlReasons, splitControlSample
from .config import Config
from .errors import InputError
from .exposure import Exposure
from .task_config import ImageDifferenceConfig

log = logging.getLogger("diffim.kernelStars")

#: Radius (arcsec) within which a kernel star must have a template source (LSST's value).
TEMPLATE_MATCH_RADIUS = 1.0

#: sourceSelector config fields that would keep reference-catalog control stars out of the
#: candidates (the catalog selector's kernel colour range and variable exclusion), by the flag
#: whose control stars they exclude: the control search runs the selector without them.
CONTROL_EXCLUDING_FIELDS = {"doSelectDcrCatalog": ("colorMin", "colorMax"),
                            "doSelectVariableCatalog": ("variableField",)}

#: Metadata prefix of the residual metrics of each group of stars, by ``controlReason``.
RESIDUAL_METRIC_GROUPS = {"none": "kernelSample", "sample": "controlSample", "dcr": "dcrSample",
                          "variable": "variableSample"}


class KernelStars:
    """Selects kernel and control stars for one run and measures the kernel on them.

    Parameters
    ----------
    config : ImageDifferenceConfig
        The run's config.
    call : callable
        ``call(slot, expectedType, pluginConfig=None, **kwargs)``: the task's way of
        calling a slot's plugin (the sourceSelector and the astrometer here).
    metadata : dict
        The run's metadata, to which the counts and metrics are added.
    """

    def __init__(self, config: ImageDifferenceConfig, call: Callable[..., Any],
                 metadata: dict[str, Any]) -> None:
        self.config = config
        self._call = call
        self.metadata = metadata

    def select(self, science: Exposure, selectSources: Table | None,
               templateSources: Table | None) -> tuple[Table, Table]:
        """Select kernel stars and the control stars (LSST's controlStepSize and catalogs).

        1. With ``kernelSourcesFromRef``, match the science sources to the
           reference catalog (astrometer); the sourceSelector picks candidates.
        2. With doSelectDcrCatalog / doSelectVariableCatalog, candidates of
           extreme reference colour / flagged as variable become control
           stars (:meth:`_referenceControls`).
        3. Given template sources (without ``kernelSourcesFromRef``), keep only
           stars the template also has, within ``TEMPLATE_MATCH_RADIUS`` (LSST's 1 arcsec).
        4. Every ``controlStepSize``-th remaining candidate, after a shuffle
           seeded with ``controlRandomSeed``, is held out as a control star.

        Returns
        -------
        kernelSources : astropy.table.Table
            The stars the kernel is fitted on.
        stars : astropy.table.Table
            Kernel and control stars, with ``isControl`` and ``controlReason``
            ('none' for kernel stars, 'sample', 'dcr' or 'variable').
        """
        config = self.config
        references = None
        if config.kernelSourcesFromRef:
            if selectSources is None:
                raise InputError("kernelSourcesFromRef=True needs a science source catalog to "
                                 "match to the reference catalog (--science-sources)")
            references = self._call("astrometer", Table, sources=selectSources, exposure=science)
        selected = self._call("sourceSelector", Table, sources=selectSources, exposure=science,
                              references=references)
        extra, reasons = selected[:0], np.empty(0, dtype="<U8")
        if config.doSelectDcrCatalog or config.doSelectVariableCatalog:
            selected, extra, reasons = self._referenceControls(science, selectSources,
                                                               references, selected)
        if templateSources is not None and not config.kernelSourcesFromRef:
            selected = selected[self._inTemplate(selected, templateSources, science)]
            inTemplate = self._inTemplate(extra, templateSources, science)
            extra, reasons = extra[inTemplate], reasons[inTemplate]
            self.metadata["nKernelSourcesInTemplate"] = len(selected)
        kernel, control = splitControlSample(selected, config.controlStepSize,
                                             config.controlRandomSeed)
        self.metadata["nKernelSources"] = len(kernel)
        self.metadata["nControlSources"] = len(control) + len(extra)
        if config.doSelectDcrCatalog:
            self.metadata["nControlDcr"] = int(np.sum(reasons == "dcr"))
        if config.doSelectVariableCatalog:
            self.metadata["nControlVariable"] = int(np.sum(reasons == "variable"))
        stars = vstack([kernel, control, extra], metadata_conflicts="silent")
        stars["isControl"] = np.arange(len(stars)) >= len(kernel)
        stars["controlReason"] = Column(
            np.concatenate([np.full(len(kernel), "none"), np.full(len(control), "sample"),
                            reasons]).astype("<U8"),
            description="why the star is a control star: sample (every controlStepSize-th "
                        "candidate), dcr (extreme reference colour), variable (known "
                        "variable); none for kernel stars")
        return kernel, stars

    def _referenceControls(self, science: Exposure, selectSources: Table | None,
                           references: Table | None, selected: Table
                           ) -> tuple[Table, Table, np.ndarray]:
        """Take the candidates of extreme colour and the known variables out as control stars.

        The candidates are the stars the sourceSelector accepts, so control
        stars pass every cut a kernel star does (flags such as saturation and
        the edge, isolation); a selector that would reject them for their
        colour or variability (``CONTROL_EXCLUDING_FIELDS``) is run again
        without those cuts. The candidates are matched to the reference
        catalog (the astrometer) unless ``kernelSourcesFromRef`` already did.

        Returns
        -------
        selected : astropy.table.Table
            The kernel-star candidates that are not control stars.
        controls : astropy.table.Table
            The control stars.
        reasons : numpy.ndarray
            'dcr' or 'variable' for each control star.
        """
        config = self.config
        candidates = selected
        relaxed = self._relaxedSelectorConfig()
        if relaxed is not None:
            candidates = self._call("sourceSelector", Table, pluginConfig=relaxed,
                                    sources=selectSources, exposure=science,
                                    references=references)
        if references is None:
            references = self._call("astrometer", Table, sources=candidates, exposure=science)
        reasons = referenceControlReasons(
            candidates, references,
            config.dcrColorLimits() if config.doSelectDcrCatalog else None,
            config.variableColumn() if config.doSelectVariableCatalog else None)
        isControl = reasons != "none"
        controls = candidates[isControl]
        selected = selected[~np.isin(np.asarray(selected["id"]), np.asarray(controls["id"]))]
        log.info("%d control stars from the reference catalog (%d of extreme colour, %d "
                 "variable) among %d candidates", int(isControl.sum()),
                 int(np.sum(reasons == "dcr")), int(np.sum(reasons == "variable")),
                 len(candidates))
        return selected, controls, reasons[isControl]

    def _relaxedSelectorConfig(self) -> Config | None:
        """The sourceSelector config without the cuts that exclude this run's control stars.

        None when the selector has none of ``CONTROL_EXCLUDING_FIELDS`` set.
        """
        selector = self.config.sourceSelector.config
        names = [name for flag, fields in CONTROL_EXCLUDING_FIELDS.items()
                 if getattr(self.config, flag) for name in fields
                 if name in selector.fieldNames() and getattr(selector, name) is not None]
        if not names:
            return None
        relaxed = selector.copy()
        for name in names:
            relaxed.set(name, None, source="control-star search")
        relaxed.freeze()
        return relaxed

    @staticmethod
    def _inTemplate(stars: Table, templateSources: Table, science: Exposure) -> np.ndarray:
        """True for the stars with a template source within ``TEMPLATE_MATCH_RADIUS``."""
        matched = matchToSources(stars, templateSources, TEMPLATE_MATCH_RADIUS,
                                 science.pixelScale())
        return np.asarray(matched["srcMatchId"]) >= 0

    def metrics(self, difference: Exposure, science: Exposure, stars: Table) -> Table:
        """Residuals of the difference at kernel and control stars (kernel-quality metrics).

        For each group of ``RESIDUAL_METRIC_GROUPS`` (kernel stars, the random
        control sample, DCR and variable control stars) the metadata gets the
        mean and the rms over its stars of their mean normalised residual.
        """
        measured = kernelQuality(difference, stars, radius=2.0 * science.psf.fwhm())
        reasons = np.asarray(measured["controlReason"])
        for reason, prefix in RESIDUAL_METRIC_GROUPS.items():
            means = np.asarray(measured["residualMean"][reasons == reason], dtype=float)
            means = means[np.isfinite(means)]
            if means.size:
                self.metadata[f"{prefix}ResidualMean"] = float(means.mean())
                self.metadata[f"{prefix}ResidualRms"] = float(np.sqrt(np.mean(means**2)))
        return measured
