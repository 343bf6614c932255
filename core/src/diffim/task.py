"""ImageDifferenceTask: the LSST image-differencing flow over diffim's plugin slots."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Column, Table

from . import plugins
from .catalog import addReferenceMatches, appendSkySources, matchToSources
from .config import Config
from .defects import interpolateDefects
from .errors import ConfigError, DiffimError, InputError, PluginError, RegistrationRequiredError
from .exposure import Exposure
from .ids import IdFactory
from .kernel_candidates import joinKernelCandidates
from .kernel_stars import KernelStars
from .metrics import runMetrics
from .quality import Quality, assessDifference
from .results import (DetectionResult, ImageDifferenceResult, PsfMeasurement,
                      SubtractionResult, SubtractionTraits, VarianceScale)
from .photocalib import addCalibratedFluxes
from .preconvolve import preConvolutionKernel, preConvolve
from .sanitize import sanitize
from .task_config import ImageDifferenceConfig
from .threads import limitThreads, startJobs
from .warp import (ALIGNED_ZERO_SHIFT_RATIO, checkCoverage, measureMisalignment,
                   warpToScience)

if TYPE_CHECKING:
    from .repo import DataRef

log = logging.getLogger("diffim.task")

class ImageDifferenceTask:
    """Subtract a template from a science exposure and detect what changed.

    The flow follows LSST's ``ImageDifferenceTask.run``: warp the template onto
    the science grid, PSF-match and subtract (``subtract`` slot), decorrelate,
    rescale the variance, detect positive and negative diaSources, and measure
    them; each step only when its ``do*`` flag is on.

    Parameters
    ----------
    config : ImageDifferenceConfig, optional
        Validated and frozen here; the defaults when omitted.
    """

    ConfigClass = ImageDifferenceConfig

    def __init__(self, config: ImageDifferenceConfig | None = None) -> None:
        if config is None:
            config = ImageDifferenceConfig()
        if not config.frozen:
            config.validate()
            config.freeze()
        self.config = config
        self.metadata: dict[str, Any] = {}
        #: Input characterisation done before run() (by a caller of characterize),
        #: carried into the next run's metadata.
        self._characterization: dict[str, Any] = {}
        self._running = False
        self._pm = plugins.new_manager()
        self._implementations: dict[str, tuple[str, str | None]] = {}
        for slot_name, slot in config.slots().items():
            if slot.available:
                self._pm.register(slot.implementation(), name=f"{slot_name}:{slot.name}")
                self._implementations[slot_name] = (slot.name,
                                                    plugins.distribution(slot_name, slot.name))
        for observer in plugins.observers():
            self._pm.register(observer)
        self._pm.check_pending()

    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def _step(self, name: str, record: dict[str, Any] | None = None) -> Iterator[None]:
        """Time a step, tell the observers, and record its seconds.

        Wall seconds go in ``record["timing"]``, the CPU seconds of every thread of
        the process in ``record["cpuTiming"]`` (their ratio says how busy the cores
        were). ``record`` is the run metadata unless given.
        """
        record = self.metadata if record is None else record
        hook = self._pm.hook
        hook.diffim_before_step(step=name)
        log.info("%s ...", name)
        start, cpuStart = time.perf_counter(), time.process_time()
        try:
            yield
        except BaseException as exc:
            hook.diffim_on_step_error(step=name, error=exc)
            raise
        seconds = time.perf_counter() - start
        record.setdefault("timing", {})[name] = round(seconds, 3)
        record.setdefault("cpuTiming", {})[name] = round(time.process_time() - cpuStart, 3)
        log.info("%s done in %.2f s", name, seconds)
        hook.diffim_after_step(step=name, seconds=seconds)

    def _call(self, slot: str, expected: type | tuple[type, ...],
              pluginConfig: Config | None = None, **kwargs) -> Any:
        """Call slot ``slot``'s hook and check the returned type.

        The hook receives the slot's config, or ``pluginConfig`` when given.
        """
        name, dist = self._implementations[slot]
        hook = getattr(self._pm.hook, f"diffim_{slot}")
        config = getattr(self.config, slot).config if pluginConfig is None else pluginConfig
        try:
            result = hook(config=config, **kwargs)
        except DiffimError as exc:
            # the plugin's own one-line error, prefixed with who raised it
            exc.args = (f"{slot} plugin {name!r}: {exc}",)
            raise
        except Exception as exc:
            raise PluginError(slot, name, f"raised {type(exc).__name__}: {exc}", dist) from exc
        if not isinstance(result, expected):
            want = expected.__name__ if isinstance(expected, type) else \
                " or ".join(t.__name__ for t in expected)
            raise PluginError(slot, name, f"returned {type(result).__name__}, expected {want}",
                              dist)
        if isinstance(result, Table):
            # Structured table metadata (diagnostics) belongs in the run metadata:
            # a FITS header holds scalars only.
            for key in [k for k, v in result.meta.items() if isinstance(v, (dict, list))]:
                self.metadata[f"{slot}.{key}"] = result.meta.pop(key)
        return result

    # ------------------------------------------------------------------
    def run(self, exposure: Exposure | None = None, selectSources: Table | None = None,
            templateExposure: Exposure | None = None, templateSources: Table | None = None,
            idFactory: Callable[[int], np.ndarray] | None = None,
            calexpBackgroundExposure: Exposure | np.ndarray | None = None,
            subtractedExposure: Exposure | None = None,
            templateSource: str | os.PathLike | None = None,
            threads: int | None = None,
            templateIdList: list[dict] | None = None) -> ImageDifferenceResult:
        """PSF-match and subtract the template, then detect and measure diaSources.

        Parameters
        ----------
        exposure : Exposure
            The science exposure (not modified).
        selectSources : astropy.table.Table, optional
            Science sources for kernel selection and matching (doSelectSources, doMatchSources).
        templateExposure : Exposure, optional
            The template (not modified); with doSubtract, this or ``templateSource``.
        templateSources : astropy.table.Table, optional
            Template sources (``ra``, ``dec`` or ``x``, ``y`` on the science grid): with
            doSelectSources, only kernel stars the template also has (within 1 arcsec)
            are used.
        idFactory : callable, optional
            ``idFactory(n)`` returns ``n`` new int64 diaSource ids.
        calexpBackgroundExposure : Exposure or numpy.ndarray, optional
            Background model added back to the science image (doAddCalexpBackground).
        subtractedExposure : Exposure, optional
            An existing difference to detect on when doSubtract is False.
        templateSource : str or os.PathLike, optional
            Where the ``getTemplate`` plugin builds the template from (e.g. a data
            repository of coadd patches), when no ``templateExposure`` is given.
        threads : int, optional
            FFT worker threads (all available cores when None); the results are the
            same for any number (see :func:`diffim.threads.limitThreads`).
        templateIdList : list of dict, optional
            Data IDs the ``getTemplate`` plugin builds the template from (e.g. the
            visits of the ``calexp`` plugin), each complete.

        Returns
        -------
        ImageDifferenceResult
        """
        with limitThreads(threads):
            self._running = True
            try:
                return self._run(exposure, selectSources, templateExposure, templateSources,
                                 idFactory, calexpBackgroundExposure, subtractedExposure,
                                 templateSource, templateIdList)
            finally:
                self._running = False

    def runDataRef(self, sensorRef: "DataRef", templateIdList: list[dict] | None = None,
                   threads: int | None = None) -> ImageDifferenceResult:
        """Run on a science exposure of a data repository and write the outputs there.

        Reads ``calexp`` (and ``src``, when registered) of ``sensorRef``, gets the
        template through the ``getTemplate`` plugin from the repository (coadd
        patches by sky position, or the exposures ``templateIdList`` names), runs
        :meth:`run` with diaSource ids made from the exposure id
        (:func:`diffim.repo.exposureId`), and writes what the ``doWrite*`` flags
        ask for as ``<coaddName>Diff_<kind>`` datasets, registered together.

        Parameters
        ----------
        sensorRef : diffim.repo.DataRef
            The science exposure (:meth:`diffim.repo.Repository.dataRef`).
        templateIdList : list of dict, optional
            Data IDs of template exposures; each entry's missing keys come from
            ``sensorRef``'s data ID (e.g. ``[{"visit": 3}]``).
        threads : int, optional
            As for :meth:`run` (a batch gives each of a machine's workers its share).

        Returns
        -------
        ImageDifferenceResult
            As :meth:`run`; ``metadata["outputs"]`` maps each written kind to its file.
        """
        from .dataref_run import runOnDataRef

        return runOnDataRef(self, sensorRef, templateIdList, threads)

    def _run(self, exposure, selectSources, templateExposure, templateSources, idFactory,
             calexpBackgroundExposure, subtractedExposure,
             templateSource, templateIdList) -> ImageDifferenceResult:
        """The body of :meth:`run` (same arguments)."""
        config = self.config
        self.metadata = {"psfMatchingAlgorithm": config.subtract.name}
        self._merge(self._characterization)
        self._characterization = {}
        if exposure is None:
            raise InputError("run() needs the science exposure")
        rng = np.random.default_rng(config.controlRandomSeed)
        result = ImageDifferenceResult(selectSources=selectSources)
        science = self._repaired(sanitize(self.characterize(exposure, "science"), "science",
                                           share=True),
                                 "science")
        if config.doAddCalexpBackground:
            science = self._addBackground(science, calexpBackgroundExposure)

        detectionExposure = None
        if config.doSubtract:
            if templateExposure is None:
                templateExposure = self._getTemplate(science, templateSource, templateIdList)
            subtraction, preConvKernel, stars = self._subtract(science, templateExposure,
                                                               selectSources, templateSources,
                                                               rng)
            result.subtractRes = subtraction
            result.warpedExposure = subtraction.warpedExposure
            result.matchedExposure = subtraction.matchedExposure
            result.scoreExposure = subtraction.scoreExposure
            difference = subtraction.subtractedExposure
            if self._decorrelates(subtraction):
                with self._step("decorrelate"):
                    difference = self._call("decorrelate", Exposure, science=science,
                                            template=subtraction.warpedExposure,
                                            subtraction=subtraction,
                                            spatiallyVarying=config.doSpatiallyVarying,
                                            preConvKernel=preConvKernel)
                # the correlated difference is not kept beside the decorrelated one (a
                # full-frame exposure); subtractRes then holds what the run went on with
                subtraction.subtractedExposure = difference
            if stars is not None:
                result.kernelSources = self._kernelStars().metrics(difference, science, stars)
                candidates = subtraction.candidateTable() if config.doAddMetrics else None
                if candidates is not None:
                    result.kernelSources = joinKernelCandidates(result.kernelSources,
                                                                candidates)
            if preConvKernel is not None:
                # AL score mode: what was subtracted is the likelihood image, not a difference.
                result.scoreExposure, difference = difference, None
            if config.useScoreImageDetection:
                detectionExposure = result.scoreExposure
        else:
            if subtractedExposure is None:
                raise InputError("doSubtract=False needs an existing subtractedExposure")
            difference = sanitize(subtractedExposure, "difference")
        result.subtractedExposure = difference

        if detectionExposure is None:
            detectionExposure = difference
        verdict = None
        if config.doDetection:
            result.diaSources, verdict = self._detectAndMeasure(detectionExposure, science,
                                                                result, idFactory, rng)
        if detectionExposure is not None:
            knownSources = [t for t in (selectSources, templateSources) if t is not None]
            result.quality = self._assess(detectionExposure, science, result, knownSources,
                                          verdict)
        result.metadata = self.metadata
        return result

    def _assess(self, exposure: Exposure, science: Exposure, result: ImageDifferenceResult,
                knownSources: list[Table], verdict: Callable[[], Quality] | None) -> Quality:
        """The quality verdict on the image detected on (metadata ``quality``, a WARNING).

        ``verdict`` waits for :meth:`_assessDifference` when it was started beside the
        measurement (the step's seconds are then the wait); None computes it here.
        With doAddMetrics the verdict's ``metrics`` hold the seed's own metrics
        (:func:`diffim.metrics.runMetrics`; ``knownSources`` are the science and
        template source catalogs that were given).
        """
        with self._step("quality"):
            quality = (verdict() if verdict is not None
                       else self._assessDifference(exposure, science, result))
            if self.config.doAddMetrics:
                quality.figures["metrics"] = runMetrics(result.subtractRes, result.diaSources,
                                                        science, knownSources, self.metadata)
        quality.figures["varianceScaleFactor"] = self.metadata.get("scaleDiffimVarianceFactor")
        quality.figures["varianceScalePixels"] = self.metadata.get("scaleDiffimVariancePixels")
        for step in ("scaleTemplateVariance", "scaleDiffimVariance"):
            if self.metadata.get(f"{step}Estimator") == "none":
                quality.reasons.append(f"{step} had only {self.metadata[f'{step}Pixels']} "
                                       "usable pixels: the variance plane was left unscaled")
        self.metadata["quality"] = quality.toDict()
        if quality.reasons:
            log.warning("the result is suspect: %s", "; ".join(quality.reasons))
        return quality

    def _assessDifference(self, exposure: Exposure, science: Exposure,
                          result: ImageDifferenceResult) -> Quality:
        """:func:`diffim.quality.assessDifference` of the image detected on."""
        return assessDifference(exposure, result.subtractRes, science, result.warpedExposure,
                                self.config.quality,
                                self.metadata.get("detectionNoiseCorrection", 1.0))

    # ------------------------------------------------------------------
    def characterize(self, exposure: Exposure, role: str) -> Exposure:
        """``exposure`` with a PSF: its own, or one the ``measurePsf`` plugin measures.

        An exposure read from a plain FITS image carries no PSF; it is measured
        here (step ``measurePsf.<role>``) and the way it was obtained recorded as
        ``PSFNOTE`` in its metadata and as ``<role>PsfNote`` in the run metadata
        (of the run in progress, or else of the next run). The input is not
        modified: the result shares its pixel arrays.

        Parameters
        ----------
        exposure : Exposure
            The science image or the template.
        role : str
            ``"science"`` or ``"template"``, for step names and messages.

        Raises
        ------
        InputError
            If the exposure has no PSF and none can be measured, saying why.
        """
        if exposure is None or exposure.psf is not None:
            return exposure
        if "measurePsf" not in self._implementations:
            raise InputError(f"{role} exposure has no PSF model and no measurePsf plugin named "
                             f"{self.config.measurePsf.name!r} is installed to measure one")
        record = self.metadata if self._running else self._characterization
        try:
            with self._step(f"measurePsf.{role}", record):
                measured = self._call("measurePsf", PsfMeasurement, exposure=exposure)
        except InputError as exc:
            raise InputError(f"{role} exposure has no PSF model ({exc})") from None
        log.info("%s PSF: %s", role, measured.note)
        record[f"{role}PsfNote"] = measured.note
        return dataclasses.replace(exposure, psf=measured.psf,
                                   metadata={**exposure.metadata, "PSFNOTE": measured.note})

    def _merge(self, record: dict[str, Any]) -> None:
        """Add ``record`` (notes and step timings) to the run metadata."""
        for key, value in record.items():
            if key in ("timing", "cpuTiming"):
                self.metadata.setdefault(key, {}).update(value)
            else:
                self.metadata[key] = value

    def _repaired(self, exposure: Exposure, role: str) -> Exposure:
        """A sanitised exposure with its small defects filled (doInterpolateDefects)."""
        if self.config.doInterpolateDefects:
            filled = interpolateDefects(exposure, self.config.maxDefectArea)
            if filled:
                self.metadata[f"{role}DefectPixelsFilled"] = filled
                log.info("%s: %d pixels in small defects filled from their neighbours (INTRP)",
                         role, filled)
        return exposure

    def _getTemplate(self, science: Exposure, templateSource: str | os.PathLike | None,
                     templateIdList: list[dict] | None) -> Exposure:
        """The template the ``getTemplate`` plugin builds from ``templateSource``."""
        if templateSource is None:
            raise InputError("doSubtract=True needs a template: a templateExposure, or a "
                             "templateSource (e.g. a coadd data repository) for getTemplate")
        if "getTemplate" not in self._implementations:
            raise ConfigError(f"a template source was given ({templateSource}) but no "
                              f"getTemplate plugin named {self.config.getTemplate.name!r} is "
                              f"installed; install diffim-get-template or give a template file")
        with self._step("getTemplate"):
            template = self._call("getTemplate", Exposure, science=science,
                                  source=os.fspath(templateSource),
                                  templateIdList=[dict(d) for d in templateIdList or []])
        for key, name in (("TEMPLATE_PATCHES", "templatePatches"),
                          ("TEMPLATE_TRACT", "templateTract"),
                          ("TEMPLATE_VISITS", "templateVisits")):
            if key in template.metadata:
                self.metadata[name] = template.metadata[key]
        return template

    def _addBackground(self, science: Exposure, background) -> Exposure:
        if background is None:
            raise InputError("doAddCalexpBackground=True needs calexpBackgroundExposure")
        image = background.image if isinstance(background, Exposure) else np.asarray(background)
        if image.shape != science.shape:
            raise InputError(f"calexp background shape {image.shape} differs from the science "
                             f"image shape {science.shape}")
        return dataclasses.replace(science, image=science.image + image.astype(np.float32))

    def _subtract(self, science: Exposure, templateExposure: Exposure,
                  selectSources: Table | None, templateSources: Table | None,
                  rng: np.random.Generator
                  ) -> tuple[SubtractionResult, np.ndarray | None, Table | None]:
        """Align, optionally rescale, select kernel stars and pre-convolve, then subtract.

        Returns the subtraction, the pre-convolution kernel (None unless AL score
        mode) and the selected stars with an ``isControl`` column (None unless
        doSelectSources).
        """
        config = self.config
        templateExposure = self.characterize(templateExposure, "template")
        with self._step("warpTemplate"):
            template = self._repaired(sanitize(templateExposure, "template", share=True),
                                      "template")
            if science.filter and template.filter and science.filter != template.filter:
                raise InputError(f"the science exposure is in band {science.filter!r} but the "
                                 f"template in band {template.filter!r}: give a template of the "
                                 "same band")
            if config.doUseRegister:
                warped = self._call("register", Exposure, science=science, template=template,
                                    sipOrder=config.templateSipOrder,
                                    debug=config.doDebugRegister)
                for key in ("registerRms", "registerMatches", "registerRejected",
                            "registerOffset", "registerOffsetMean", "registerDebug"):
                    if key in warped.metadata:
                        self.metadata[key] = warped.metadata[key]
            else:
                warped = warpToScience(template, science)
            coverage = checkCoverage(warped, config.requiredTemplateFraction)
            self.metadata["templateCoverage"] = round(coverage, 6)
            if "measuredOffset" in warped.metadata:
                self.metadata["measuredOffset"] = warped.metadata["measuredOffset"]
            elif not config.doUseRegister:
                self._checkMisalignment(science, warped)
        if config.doScaleTemplateVariance:
            self._scaleVariance(warped, "scaleTemplateVariance")
        kernelSources, stars = None, None
        if config.doSelectSources:
            with self._step("selectSources"):
                kernelSources, stars = self._kernelStars().select(science, selectSources,
                                                                  templateSources)
        convolveTemplate = self._convolveTemplate(science, warped)
        matchTo, preConvKernel = science, None
        traits = config.subtractTraits()
        if config.useScoreImageDetection and not traits.makesScoreImage:
            if not convolveTemplate:
                raise InputError(f"useScoreImageDetection with subtract={config.subtract.name} "
                                 "pre-convolves the science image and needs the template "
                                 "convolved, but the template PSF is the wider one: set "
                                 "convolveTemplate=True")
            with self._step("preConvolve"):
                preConvKernel = preConvolutionKernel(science, config.useGaussianForPreConvolution)
                matchTo = preConvolve(science, preConvKernel)
        with self._step("subtract"):
            subtraction = self._call("subtract", SubtractionResult, science=matchTo,
                                     template=warped, convolveTemplate=convolveTemplate,
                                     kernelSources=kernelSources, rng=rng)
        self._checkTraits(subtraction, traits)
        self.metadata.update(subtraction.metadata)
        self._checkMatchedExposure(subtraction, traits)
        if subtraction.subtractedExposure.psf is None:
            subtraction.subtractedExposure.psf = (warped.psf if subtraction.convolvedScience
                                                  else matchTo.psf)
        return subtraction, preConvKernel, stars

    def _checkTraits(self, subtraction: SubtractionResult, traits: SubtractionTraits) -> None:
        """The subtraction made what its plugin's traits promised."""
        name, dist = self._implementations["subtract"]
        if traits.makesScoreImage and subtraction.scoreExposure is None:
            raise PluginError("subtract", name, "declares makesScoreImage but returned no "
                              "scoreExposure", dist)
        if not traits.needsDecorrelation and subtraction.needsDecorrelation:
            raise PluginError("subtract", name, "declares needsDecorrelation=False but returned "
                              "a result with needsDecorrelation=True", dist)

    def _degrade(self, step: str, field: str, consequence: str) -> None:
        """Record that ``step`` was skipped or fell back: the subtraction has no ``field``.

        One WARNING naming the subtract plugin (not the step's own plugin), and the same
        line in the run metadata's ``degraded`` list.
        """
        name = self._implementations["subtract"][0]
        note = f"{step}: subtract plugin {name!r} returned no {field} ({consequence})"
        log.warning("%s", note)
        self.metadata.setdefault("degraded", []).append(note)

    def _decorrelates(self, subtraction: SubtractionResult) -> bool:
        """Whether the difference goes to the ``decorrelate`` step.

        It whitens the noise a kernel convolution correlated, from that kernel: without
        ``psfMatchingKernel`` the step is skipped (degraded, see :meth:`_degrade`) and
        detection measures the correlation left and raises its thresholds by it.
        """
        if not (self.config.doDecorrelation and subtraction.needsDecorrelation):
            return False
        if subtraction.psfMatchingKernel is None:
            self._degrade("decorrelation skipped", "psfMatchingKernel",
                          "the difference keeps the noise correlation of its matching")
            return False
        return True

    def _checkMatchedExposure(self, subtraction: SubtractionResult,
                              traits: SubtractionTraits) -> None:
        """What the later steps do without a ``matchedExposure``, said once each.

        doWriteMatchedExp cannot write it (the plugin's fault: a plugin that makes none
        declares ``makesMatchedExposure=False`` and the config refuses the flag). A
        dipole fit goes on without it (:meth:`_dipoleLobeImages`), and the pictures show
        the warped template; neither is news for a plugin that declares it makes none
        and convolves the template (ZOGY).
        """
        if subtraction.matchedExposure is not None:
            return
        config = self.config
        name, dist = self._implementations["subtract"]
        if config.doWriteMatchedExp:
            raise PluginError("subtract", name, "returned no matchedExposure, which "
                              "doWriteMatchedExp=True writes (a plugin that makes none "
                              "declares makesMatchedExposure=False)", dist)
        if config.doDetection and config.doMeasurement and config.doDipoleFitting:
            if subtraction.convolvedScience:
                self._degrade("dipole fit on the unconvolved science image",
                              "matchedExposure", "the convolved science image")
            elif traits.makesMatchedExposure:
                self._degrade("dipole fit without the template", "matchedExposure",
                              "the difference alone constrains the negative lobes")
        pictures = [flag for flag in ("doWriteQuicklook", "doWriteCutouts", "doWriteReport")
                    if getattr(config, flag)]
        if pictures and traits.makesMatchedExposure:
            self._degrade("pictures show the warped template", "matchedExposure",
                          f"{', '.join(pictures)}: the template is shown not PSF-matched")

    def _kernelStars(self) -> KernelStars:
        """Kernel- and control-star selection for this run (writes to its metadata)."""
        return KernelStars(self.config, self._call, self.metadata)

    def _psfScaleVariance(self, exposure: Exposure, correction: float) -> Exposure:
        """The exposure the diaSources are measured on: its variance times ``correction**2``.

        Detection found the noise of its (PSF-filtered) image ``correction`` times what
        the variance plane predicts (correlated noise): PSF-scale flux errors from the
        per-pixel variance would be as much too small. The difference itself keeps its
        per-pixel variance.
        """
        self.metadata["detectionNoiseCorrection"] = round(float(correction), 4)
        if not correction > 1.0:
            return exposure
        log.info("the detection image's noise is %.3f times what its variance predicts "
                 "(correlated noise): thresholds and flux errors scaled", correction)
        return dataclasses.replace(exposure,
                                   variance=exposure.variance * np.float32(correction ** 2))

    @staticmethod
    def _dipoleLobeImages(science: Exposure, result: ImageDifferenceResult
                          ) -> tuple[Exposure, Exposure | None]:
        """The images that constrain a dipole's lobes, both at the difference's resolution.

        Template convolved: the science image and the matched template (None when the
        subtraction made none: the difference alone constrains the negative lobes).
        Science convolved: the convolved science and the (unconvolved) warped template;
        the science image as given (with its own PSF) when the subtraction returned no
        convolved science (:meth:`_checkMatchedExposure` says so).
        """
        subtraction = result.subtractRes
        if subtraction is not None and subtraction.convolvedScience:
            convolved = subtraction.matchedExposure
            return (science if convolved is None else convolved), subtraction.warpedExposure
        return science, result.matchedExposure

    def _startBeside(self, detected: Table, science: Exposure, exposure: Exposure,
                     result: ImageDifferenceResult
                     ) -> tuple[Callable[[], Table] | None, Callable[[], Quality]]:
        """Start forced photometry and the quality assessment beside measurement and applyApCorr.

        Neither needs what measurement adds: the assessment needs the image detected
        on (nothing after detection writes to it), forced photometry the detected
        positions and the science exposure. They run one after the other on a thread
        of their own while the difference is measured (at once with one thread: the
        same results); their steps' seconds are then the waits for them. The
        assessment goes first, so that its full-frame filtering is over before the
        aperture correction's begins (their memory peaks would add up); forced
        photometry then finds the science sky the aperture correction estimated.
        Forced photometry gets its own copy of the catalog.
        """
        jobs = [lambda: self._assessDifference(exposure, science, result)]
        if self.config.doForcedMeasurement:
            mine = detected.copy(copy_data=True)
            jobs.append(lambda: self._call("forcedMeasurement", Table, diaSources=mine,
                                           science=science))
        waits = startJobs(*jobs)
        return (waits[1] if self.config.doForcedMeasurement else None), waits[0]

    def _joinForced(self, detected: Table, measured: Table, forced: Callable[[], Table],
                    science: Exposure) -> Table:
        """``measured`` with the columns forced photometry added to ``detected``.

        When measurement or applyApCorr changed the rows or their positions, the
        early result does not fit them and forced photometry runs again on
        ``measured``.
        """
        early = forced()
        same = (len(early) == len(measured)
                and all(np.array_equal(early[name], measured[name], equal_nan=True)
                        for name in ("id", "x", "y")))
        if not same:
            log.info("measurement changed the diaSources' rows or positions: forced "
                     "photometry is done again on the measured catalog")
            return self._call("forcedMeasurement", Table, diaSources=measured, science=science)
        joined = measured.copy(copy_data=False)
        for name in early.colnames:
            if name not in detected.colnames:
                joined[name] = early[name]
        return joined

    def _matchSources(self, sources: Table, science: Exposure,
                      selectSources: Table | None) -> Table:
        """Match diaSources to the science sources and, when configured, the reference catalog."""
        config = self.config
        with self._step("matchSources"):
            if selectSources is None:
                log.warning("doMatchSources=True but no science sources were given: no "
                            "source matching")
                self.metadata["matchSources"] = "no science sources given"
            else:
                sources = matchToSources(sources, selectSources, config.diaSourceMatchRadius,
                                         science.pixelScale())
            astrometer = config.astrometer
            if astrometer.available and getattr(astrometer.config, "refCatalog", None):
                matches = self._call("astrometer", Table, sources=sources, exposure=science)
                sources = addReferenceMatches(sources, matches, config.diaSourceMatchRadius)
        return sources

    def _checkMisalignment(self, science: Exposure, warped: Exposure) -> None:
        """Stop if the WCS-warped template is visibly offset from the science image."""
        offset = measureMisalignment(science, warped)
        if not offset.measurable:
            log.info("template misalignment not measurable (correlation peak %.1f sigma): "
                     "not checked", offset.significance)
            self.metadata["templateMisalignment"] = None
            return
        dx, dy = offset.dx, offset.dy
        self.metadata["templateMisalignment"] = [round(dx, 4), round(dy, 4)]
        limit = self.config.maxTemplateOffset
        if np.hypot(dx, dy) > limit and offset.zeroShiftRatio < ALIGNED_ZERO_SHIFT_RATIO:
            raise RegistrationRequiredError(
                f"the template, warped with its WCS, is offset from the science image by "
                f"dx={dx:+.2f}, dy={dy:+.2f} px (maxTemplateOffset={limit}): its WCS is wrong; "
                "set doUseRegister=True to register it from the pixels")

    def _convolveTemplate(self, science: Exposure, warped: Exposure) -> bool:
        """Resolve ``convolveTemplate`` ('auto': convolve the image with the narrower PSF)."""
        choice = self.config.convolveTemplate
        if choice == "auto":
            choice = bool(warped.psf.sigma() <= science.psf.sigma())
            log.info("convolveTemplate=auto: convolving the %s (PSF sigma science %.2f, "
                     "template %.2f px)", "template" if choice else "science",
                     science.psf.sigma(), warped.psf.sigma())
        self.metadata["convolveTemplate"] = choice
        return choice

    def _scaleVariance(self, exposure: Exposure, step: str) -> None:
        """Scale ``exposure``'s variance plane in place (step and metadata ``<step>Factor``).

        A plugin that returns a :class:`~diffim.results.VarianceScale` also records
        ``<step>Pixels`` and ``<step>Estimator``; ``"none"`` (too few usable pixels)
        makes the run's quality suspect.
        """
        with self._step(step):
            scale = self._call("scaleVariance", (float, np.floating, VarianceScale),
                               exposure=exposure)
        if isinstance(scale, VarianceScale):
            self.metadata[f"{step}Pixels"] = scale.nPixels
            self.metadata[f"{step}Estimator"] = scale.estimator
            scale = scale.factor
        exposure.variance *= np.float32(scale)
        self.metadata[f"{step}Factor"] = float(scale)

    def _detectAndMeasure(self, exposure: Exposure, science: Exposure,
                          result: ImageDifferenceResult, idFactory,
                          rng: np.random.Generator
                          ) -> tuple[Table, Callable[[], Quality]]:
        """Rescale the variance of the detection exposure, detect, then measure.

        Returns the diaSources and the wait for the quality verdict on ``exposure``
        (:meth:`_startBeside`)."""
        config = self.config
        if config.doScaleDiffimVariance:
            self._scaleVariance(exposure, "scaleDiffimVariance")
        exposure.clearMask("DETECTED", "DETECTED_NEGATIVE")
        with self._step("detection"):
            detection = self._call("detection", DetectionResult, exposure=exposure,
                                   doSmooth=not config.useScoreImageDetection,
                                   doMerge=config.doMerge, growFootprint=config.growFootprint)
        self.metadata.update({f"detection.{k}": v for k, v in detection.metadata.items()})
        sources, footprints = detection.diaSources, detection.footprints
        measured = self._psfScaleVariance(exposure, detection.noiseCorrection)
        makeIds = idFactory if idFactory is not None else IdFactory()
        sources["id"] = Column(np.asarray(makeIds(len(sources)), dtype=np.int64),
                               description="diaSource id (exposure id in the high bits, a "
                                           "running number in the low bits)")
        if config.doSkySources:
            with self._step("skySources"):
                sky = self._call("skySources", Table, exposure=exposure, rng=rng)
                sources, footprints = appendSkySources(sources, footprints, sky,
                                                       np.asarray(makeIds(len(sky)), np.int64))
                self.metadata["nSkySources"] = len(sky)
        detected = sources
        forced, verdict = self._startBeside(detected, science, exposure, result)
        if config.doMeasurement:
            positive, negative = self._dipoleLobeImages(science, result)
            with self._step("measurement"):
                sources = self._call("measurement", Table, diaSources=sources,
                                     footprints=footprints, difference=measured,
                                     science=positive, matchedTemplate=negative,
                                     doDipoleFitting=config.doDipoleFitting)
        if config.doApCorr:
            with self._step("applyApCorr"):
                sources = self._call("applyApCorr", Table, diaSources=sources, exposure=science)
        if forced is not None:
            with self._step("forcedMeasurement"):
                sources = self._joinForced(detected, sources, forced, science)
        if config.doMatchSources:
            sources = self._matchSources(sources, science, result.selectSources)
        sources = addCalibratedFluxes(sources, science.photoCalib)
        self.metadata["nDiaSources"] = len(sources)
        return sources, verdict
