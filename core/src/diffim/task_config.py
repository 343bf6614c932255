"""ImageDifferenceConfig: every field and subtask of LSST's ImageDifferenceTask.

Field names, defaults and meanings follow the LSST task's documentation
(``shared/seed/ImageDifferenceTask.txt``) and its ``setDefaults``; the
docs below are diffim's own words.
"""
from __future__ import annotations

import logging

from . import plugins
from .config import AutoField, Config, ConfigField, Field, RangeField, SlotField
from .connections import ImageDifferenceConnections
from .errors import ConfigError
from .quality import QualityConfig
from .results import SubtractionTraits

log = logging.getLogger("diffim.config")

#: Why a flag is refused when the subtract plugin's traits lack what it needs.
_TRAIT_REASONS: dict[str, str] = {
    "doDecorrelation": "its difference is not correlated by a kernel convolution",
    "doWriteMatchedExp": "it makes no PSF-matched image",
    "doSelectSources": "it fits no kernel on stars",
    "doSelectDcrCatalog": "it fits no kernel on stars",
    "doSelectVariableCatalog": "it fits no kernel on stars",
    "doAddMetrics": "it fits no kernel on stars",
    "useGaussianForPreConvolution": "it makes its own score image without pre-convolution",
}

#: Flags that need an installed implementation of a slot when they are True.
FLAG_SLOTS: dict[str, str] = {
    "doSubtract": "subtract",
    "doDecorrelation": "decorrelate",
    "doScaleDiffimVariance": "scaleVariance",
    "doScaleTemplateVariance": "scaleVariance",
    "doDetection": "detection",
    "doMeasurement": "measurement",
    "doForcedMeasurement": "forcedMeasurement",
    "doApCorr": "applyApCorr",
    "doSkySources": "skySources",
    "doUseRegister": "register",
    "doSelectSources": "sourceSelector",
}


class ImageDifferenceConfig(Config):
    """Config of :class:`diffim.task.ImageDifferenceTask`.

    Every field and retargetable subtask of LSST's ``ImageDifferenceConfig``
    exists here with the same name, default and meaning. Subtasks are slots:
    ``config.detection.thresholdValue`` reads the selected detection plugin's
    field, ``config.subtract.select("zogy")`` retargets.
    """

    # --- retargetable subtasks (slots) -----------------------------------
    applyApCorr = SlotField("Apply aperture corrections to diaSource fluxes.", "applyApCorr",
                            "apCorr")
    astrometer = SlotField("Match sources to a reference catalog (matching only, no WCS fit).",
                           "astrometer", "matcher")
    decorrelate = SlotField("Whiten the noise of an Alard-Lupton difference (AL only, when "
                            "doSubtract); also updates the difference PSF.", "decorrelate", "al")
    detection = SlotField("Detect positive and negative sources on the difference image.",
                          "detection", "threshold")
    forcedMeasurement = SlotField("Forced PSF photometry on the science exposure at diaSource "
                                  "positions.", "forcedMeasurement", "psf")
    getTemplate = SlotField("Build the template from coadd patches in a data repository.",
                            "getTemplate", "coadd")
    measurement = SlotField("Measure diaSources on the difference image (dipole fitting).",
                            "measurement", "dipole")
    measurePsf = SlotField("Measure the PSF of an input that carries none (a plain FITS image) "
                           "from its stars, before anything uses it (beyond LSST, whose inputs "
                           "are calibrated exposures).", "measurePsf", "stars")
    register = SlotField("Image-to-image registration of the template to the science image.",
                         "register", "sip")
    scaleVariance = SlotField("Rescale a variance plane to the noise measured in the image.",
                              "scaleVariance", "iqr")
    skySources = SlotField("Choose sky-source positions in empty sky.", "skySources",
                           "skyObjects")
    sourceSelector = SlotField("Select kernel stars from a source catalog.", "sourceSelector",
                               "objectSize")
    subtract = SlotField("PSF-matching and subtraction algorithm: 'al' (Alard-Lupton) or "
                         "'zogy'.", "subtract", "al")

    connections = ConfigField("Names of the files a run writes (the task's output datasets).",
                              ImageDifferenceConnections)
    quality = ConfigField("When a run's result is suspect rather than ok (beyond LSST): the "
                          "limits of the figures of merit recorded in the metadata's quality "
                          "block.", QualityConfig)

    # --- plain fields -------------------------------------------------------
    coaddName = Field("Name of the coadd used as template, typically one of deep, goodSeeing "
                      "or dcr.", str, "deep")
    controlRandomSeed = Field("Random seed for shuffling the kernel-source list before taking "
                              "the control sample.", int, 10)
    controlStepSize = RangeField("Every controlStepSize-th kernel source (after shuffling) is "
                                 "held out as a control sample.", int, 5, min=1)
    convolveTemplate = AutoField("Which image gets convolved: the template (True) or the science "
                                 "image (False); 'auto' (beyond LSST) convolves whichever image "
                                 "has the narrower PSF.", bool, True)
    dcrColorField = Field("Reference-catalog column holding the colour (such as g - r: smaller "
                          "is bluer) that doSelectDcrCatalog compares with dcrColorMin and "
                          "dcrColorMax; the astrometer must copy it into its matches. None: the "
                          "sourceSelector's colorField (the catalog selector's).", str, None,
                          optional=True)
    dcrColorMax = Field("Stars redder than this (colour above it) are DCR control stars. None: "
                        "the sourceSelector's colorMax, so that the catalog selector's kernel "
                        "colour range and the DCR controls are complementary (as in LSST); "
                        "None in both: no red limit.", float, None, optional=True)
    dcrColorMin = Field("Stars bluer than this (colour below it) are DCR control stars. None: "
                        "the sourceSelector's colorMin; None in both: no blue limit.", float,
                        None, optional=True)
    diaSourceMatchRadius = RangeField("Match radius (arcsec) for associating diaSources with "
                                      "science sources.", float, 0.5, min=0.0)
    doAddCalexpBackground = Field("Add the calexp background model to the science image before "
                                  "processing (the AL fit models a differential background).",
                                  bool, False)
    doAddMetrics = Field("Add the run metrics (LSST's) to the metadata's quality.metrics and "
                         "write the kernel and control stars (connections.kernelSrc). "
                         "Kernel-candidate QA: each candidate's mean, median and stdev of "
                         "difference/sqrt(variance) in its stamp under its own kernel "
                         "(KCDiffim*_LOCAL) and the spatial model (KCDiffim*_SPATIAL), as "
                         "kernelSources columns and their medians over the candidates; "
                         "NFalsePositives{Total,RefAssociated,SrcAssociated,Unassociated}: "
                         "diaSources matched to a reference object (doMatchSources), else "
                         "within one science PSF FWHM of a given science or template source, "
                         "else neither; with doUseRegister, registerOffset and "
                         "registerOffsetMean (science minus template position, px) and "
                         "registerRms. Needs doSelectSources and a kernel-fitting subtraction "
                         "(AL).", bool, False)
    doApCorr = Field("Apply aperture corrections to diaSource fluxes (applyApCorr subtask).",
                     bool, True)
    doDebugRegister = Field("Write debugging data (matches, residuals) for doUseRegister.", bool,
                            False)
    doDecorrelation = Field("Decorrelate the noise of the AL difference (undoing the pixel "
                            "correlation of the kernel convolution) and update its PSF; AL only.",
                            bool, True)
    doDetection = Field("Detect sources on the difference image.", bool, True)
    doDipoleFitting = Field("Fit a dipole model to diaSources in measurement.", bool, True)
    doForcedMeasurement = Field("Forced PSF photometry on the science exposure at diaSource "
                                "positions.", bool, True)
    doInterpolateDefects = Field("Fill groups of at most maxDefectArea unusable pixels (NaN, "
                                 "non-finite or non-positive variance: NO_DATA) in the science "
                                 "image and the template from their neighbours, flagged INTRP, "
                                 "before anything uses them (beyond LSST, whose calibrated inputs "
                                 "are interpolated already): scattered bad pixels would otherwise "
                                 "disqualify every kernel stamp and grow through every "
                                 "convolution.", bool, True)
    maxDefectArea = RangeField("Largest group of connected unusable pixels that "
                               "doInterpolateDefects fills; larger ones stay NO_DATA.", int, 25,
                               min=0)
    doMatchSources = Field("Match diaSources to the input science sources and to the reference "
                           "catalog (the astrometer's, when it names one), within "
                           "diaSourceMatchRadius.", bool, False)
    doMeasurement = Field("Measure diaSources (measurement subtask).", bool, True)
    doMerge = Field("Merge positive and negative footprints, grown by growFootprint, into one "
                    "diaSource each.", bool, True)
    doPreConvolve = Field("Not in use; superseded by useScoreImageDetection.", bool, False,
                          deprecated="superseded by useScoreImageDetection; ignored")
    doScaleDiffimVariance = Field("Rescale the variance plane of the difference to its measured "
                                  "noise before detection. Do this or doScaleTemplateVariance, "
                                  "not both.", bool, True)
    doScaleTemplateVariance = Field("Rescale the variance plane of the template to its measured "
                                    "noise before PSF matching.", bool, False)
    doSelectDcrCatalog = Field("Hold out stars of extreme colour as control stars (AL only, with "
                               "doSelectSources): differential chromatic refraction shifts and "
                               "widens the image of a very blue or very red star differently "
                               "from the average star the kernel is fitted on, so their "
                               "residuals test the kernel where it is weakest. Kernel-star "
                               "candidates are matched to the astrometer's reference catalog; "
                               "those whose reference colour (dcrColorField) lies below "
                               "dcrColorMin or above dcrColorMax become control stars "
                               "(controlReason 'dcr') and are never kernel stars; the metadata "
                               "gets their count (nControlDcr) and residuals "
                               "(dcrSampleResidualMean, dcrSampleResidualRms).", bool, False)
    doSelectSources = Field("Select kernel stars with the sourceSelector subtask (AL only); "
                            "otherwise AL finds its own candidates.", bool, False)
    doSelectVariableCatalog = Field("Hold out known variable stars as control stars (AL only, "
                                    "with doSelectSources): kernel-star candidates matched to a "
                                    "reference star that the catalog flags as variable "
                                    "(variableField) become control stars (controlReason "
                                    "'variable') and are never kernel stars; a star both "
                                    "variable and of extreme colour counts as variable. The "
                                    "metadata gets their count (nControlVariable) and residuals "
                                    "(variableSampleResidualMean, variableSampleResidualRms).",
                                    bool, False)
    doSkySources = Field("Add sky sources (skySources subtask) to the diaSource table.", bool,
                         False)
    doSpatiallyVarying = Field("Decorrelate on a grid of sub-images to follow spatial variation "
                               "(AL only; ZOGY ignores it).", bool, False)
    doSubtract = Field("Compute the difference exposure (False: detect on an existing one).",
                       bool, True)
    doUseRegister = Field("Re-derive the template astrometry by image-to-image registration and "
                          "warp it onto the science grid (AL only).", bool, False)
    doWriteMatchedExp = Field("Write the warped, PSF-matched template.", bool, False)
    doWriteScoreExp = Field("Write the AL likelihood or ZOGY score exposure.", bool, False)
    doWriteSources = Field("Write the diaSource catalog.", bool, True)
    doWriteSubtractedExp = Field("Write the difference exposure (AL and ZOGY).", bool, True)
    doWriteWarpedExp = Field("Write the template warped onto the science grid.", bool, False)
    doWriteQuicklook = Field("Write a quicklook PNG: science, PSF-matched template, difference "
                             "and significance side by side, zscale stretch, diaSources circled "
                             "by kind (positive, negative, dipole, flagged, sky) (beyond LSST).",
                             bool, False)
    doWriteCutouts = Field("Write alert-like cutouts: for each diaSource the science, template "
                           "and difference stamps (cutoutSize) in one FITS file with a table of "
                           "the source rows, and a PNG gallery of the galleryCount of highest "
                           "|S/N| (beyond LSST).", bool, False)
    cutoutSize = RangeField("Side (pixels, odd) of the cutout stamps of doWriteCutouts.", int, 31,
                            min=5, check=lambda value: value % 2 == 1)
    galleryCount = RangeField("diaSources shown in the cutout gallery (doWriteCutouts), by "
                              "decreasing |S/N|.", int, 20, min=1)
    doWriteRegions = Field("Write a DS9 region file of the diaSources and sky sources, in sky "
                           "coordinates (pixel coordinates without a WCS) (beyond LSST).", bool,
                           False)
    doWriteReport = Field("Write report.html, one self-contained offline page of the run: "
                          "status and quality figures, noise ratio, counts by kind, kernel-fit "
                          "quality, control-sample metrics, time per step, the quicklook and the "
                          "cutout gallery, provenance and the configuration (beyond LSST).",
                          bool, False)
    growFootprint = RangeField("Pixels by which positive and negative footprints are grown "
                               "before merging.", int, 2, min=0)
    kernelSourcesFromRef = Field("Select kernel sources from the reference catalog (True) or the "
                                 "template sources (False).", bool, False)
    requiredTemplateFraction = RangeField("Do not attempt the subtraction if the template covers "
                                          "less than this fraction of the science pixels; 0 "
                                          "always attempts it.", float, 0.1, min=0.0, max=1.0)
    saveLogOutput = Field("Save the log of the run with the outputs.", bool, True)
    saveMetadata = Field("Save the run metadata with the outputs.", bool, True)
    maxTemplateOffset = RangeField("Largest residual offset (pixels) between the science image and "
                                   "the WCS-warped template that is accepted without "
                                   "doUseRegister; a larger one (a wrong template WCS) stops the "
                                   "run instead of filling the difference with dipoles (beyond "
                                   "LSST).", float, 1.0, min=0.0)
    templateSipOrder = RangeField("SIP order of the template WCS fitted by registration (higher "
                                  "orders overfit).", int, 2, min=0, max=9)
    useGaussianForPreConvolution = Field("Pre-convolve with a Gaussian PSF model instead of the "
                                         "exposure PSF (AL with useScoreImageDetection only).",
                                         bool, False)
    useScoreImageDetection = Field("Compute the pre-convolved AL likelihood or the ZOGY score "
                                   "image and detect on it.", bool, False)
    variableField = Field("Boolean reference-catalog column, True for known variable stars, "
                          "that doSelectVariableCatalog reads; the astrometer must copy it into "
                          "its matches. None: the sourceSelector's variableField (the catalog "
                          "selector's).", str, None, optional=True)

    def setDefaults(self) -> None:
        """No task-level overrides: plugin configs carry LSST's effective defaults."""

    def validate(self) -> None:
        """Check the combinations that LSST's ImageDifferenceConfig.validate forbids.

        Also refuses flags whose slot has no installed implementation and
        reference-catalog control samples without a catalog or a column to read.
        """
        self._checkAvailability()
        self._checkLsstRules()
        self._checkReferenceControls()

    def dcrColorLimits(self) -> tuple[str, float | None, float | None]:
        """The colour column and the blue and red limits of ``doSelectDcrCatalog``.

        Each of ``dcrColorField``, ``dcrColorMin``, ``dcrColorMax`` that is None
        takes the sourceSelector's ``colorField``, ``colorMin``, ``colorMax``
        when its config has them.

        Raises
        ------
        ConfigError
            If no colour column is named, neither limit is set, or the red
            limit is below the blue one.
        """
        field = self._ownOrSelector("dcrColorField", "colorField")
        low = self._ownOrSelector("dcrColorMin", "colorMin")
        high = self._ownOrSelector("dcrColorMax", "colorMax")
        if field is None:
            raise ConfigError("doSelectDcrCatalog=True needs the reference colour column: set "
                              "dcrColorField (or the catalog selector's colorField)")
        if low is None and high is None:
            raise ConfigError("doSelectDcrCatalog=True needs a colour limit: set dcrColorMin "
                              "(bluer is extreme) and/or dcrColorMax (redder is extreme)")
        if low is not None and high is not None and high < low:
            raise ConfigError(f"doSelectDcrCatalog: the red limit {high} is below the blue limit "
                              f"{low}; dcrColorMax must be at least dcrColorMin")
        return field, low, high

    def variableColumn(self) -> str:
        """The reference column that flags variable stars for ``doSelectVariableCatalog``.

        ``variableField``, or when None the sourceSelector's ``variableField``.

        Raises
        ------
        ConfigError
            If neither names a column.
        """
        field = self._ownOrSelector("variableField", "variableField")
        if field is None:
            raise ConfigError("doSelectVariableCatalog=True needs the reference column that "
                              "flags variable stars: set variableField (or the catalog "
                              "selector's variableField)")
        return field

    def _ownOrSelector(self, name: str, selectorName: str):
        """Field ``name``, or when None the sourceSelector config's ``selectorName`` (or None)."""
        value = getattr(self, name)
        if value is None:
            value = getattr(self.sourceSelector.config, selectorName, None)
        return value

    def subtractTraits(self) -> SubtractionTraits:
        """What the selected ``subtract`` plugin declares it produces.

        The defaults of :class:`~diffim.results.SubtractionTraits` when the plugin is
        not installed (validation then reports that first).
        """
        if not self.subtract.available:
            return SubtractionTraits()
        return plugins.subtractionTraits(self.subtract.name)

    def _checkAvailability(self) -> None:
        whiteDifference = not self.subtractTraits().needsDecorrelation
        slots = self.slots()
        if self.kernelSourcesFromRef and self.doSelectSources:
            slots["astrometer"].require("kernelSourcesFromRef=True")
        for flag, slot in FLAG_SLOTS.items():
            if not getattr(self, flag) or (flag == "doDecorrelation" and whiteDifference):
                continue
            if flag in ("doDecorrelation", "doScaleTemplateVariance", "doSelectSources",
                        "doUseRegister") and not self.doSubtract:
                continue
            slots[slot].require(f"{flag}=True")

    def _checkLsstRules(self) -> None:
        def fail(message: str) -> None:
            raise ConfigError(message)

        if not (self.doSubtract or self.doDetection):
            fail("doSubtract and doDetection are both False: nothing to do")
        for flag in ("doMeasurement", "doMerge", "doSkySources"):
            if getattr(self, flag) and not self.doDetection:
                fail(f"{flag}=True requires doDetection=True")
        if self.doAddMetrics and not self.doSelectSources:
            fail("doAddMetrics=True requires doSelectSources=True (the metrics describe the "
                 "kernel and control stars)")
        if self.doScaleDiffimVariance and self.doScaleTemplateVariance:
            log.warning("doScaleDiffimVariance and doScaleTemplateVariance are both True: "
                        "scaling the difference variance alone is enough (the other is wasted "
                        "work)")
        template = self.getTemplate
        if template.available and "coaddName" in template.config.fieldNames() \
                and template.coaddName != self.coaddName:
            fail(f"getTemplate.coaddName ({template.coaddName!r}) must equal coaddName "
                 f"({self.coaddName!r})")
        self._checkSubtractTraits(fail)

    def _checkSubtractTraits(self, fail) -> None:
        """Flags that the selected subtract plugin's traits cannot honour."""
        traits = self.subtractTraits()
        refused = []
        if not traits.needsDecorrelation:
            refused.append("doDecorrelation")
        if not traits.makesMatchedExposure:
            refused.append("doWriteMatchedExp")
        if not traits.usesKernelSources:
            refused += ["doSelectSources", "doSelectDcrCatalog", "doSelectVariableCatalog",
                        "doAddMetrics"]
        if traits.makesScoreImage:
            refused.append("useGaussianForPreConvolution")
        for flag in refused:
            if getattr(self, flag):
                fail(f"subtract={self.subtract.name} does not allow {flag}=True "
                     f"({_TRAIT_REASONS[flag]}); set it to False")
        if traits.makesScoreImage:
            return
        if self.useScoreImageDetection and self.convolveTemplate is not True:
            fail(f"useScoreImageDetection=True requires convolveTemplate=True with "
                 f"subtract={self.subtract.name}")
        if self.doWriteSubtractedExp and self.useScoreImageDetection:
            fail(f"with subtract={self.subtract.name}, useScoreImageDetection=True produces a "
                 "score image, not a difference: set doWriteSubtractedExp=False")
        if self.doWriteScoreExp and not self.useScoreImageDetection:
            fail("doWriteScoreExp=True requires useScoreImageDetection=True")
        if self.doAddMetrics and not self.doSubtract:
            fail("doAddMetrics=True requires doSubtract=True")
        if self.useGaussianForPreConvolution and not self.useScoreImageDetection:
            fail("useGaussianForPreConvolution=True requires useScoreImageDetection=True")

    def _checkReferenceControls(self) -> None:
        """doSelectDcrCatalog / doSelectVariableCatalog: kernel-star selection and a catalog."""
        for flag in ("doSelectDcrCatalog", "doSelectVariableCatalog"):
            if not getattr(self, flag):
                continue
            if not self.doSelectSources:
                raise ConfigError(f"{flag}=True requires doSelectSources=True (its control stars "
                                  f"are drawn from the kernel-star candidates)")
            astrometer = self.slots()["astrometer"].require(f"{flag}=True")
            if "refCatalog" in astrometer.fieldNames() and not astrometer.refCatalog:
                raise ConfigError(f"{flag}=True matches the kernel-star candidates to a reference "
                                  f"catalog, but astrometer.refCatalog is not set; give the path "
                                  f"of the catalog (ra, dec in degrees, with the "
                                  f"{'colour' if flag == 'doSelectDcrCatalog' else 'variability'}"
                                  f" column)")
        if self.doSelectDcrCatalog:
            self.dcrColorLimits()
        if self.doSelectVariableCatalog:
            self.variableColumn()
