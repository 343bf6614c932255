"""The contract of the ``subtract`` slot, as a test suite a plugin runs in its own tests.

A plugin's test module subclasses :class:`SubtractContract` and names the plugin;
pytest collects the inherited ``test_*`` methods (the subclass's name starts with
``Test``)::

    from diffim.testing.contract import SubtractContract


    class TestMyMatchContract(SubtractContract):
        plugin = "myMatch"

Every check works on one simulated pair (:func:`diffim.testing.simulate.simulatePair`,
512 pixels, 16 transients) and two runs made once and shared by the checks of every
class with the same settings: the plugin's hook called directly (on the science image
and the template warped onto its grid), and :class:`~diffim.task.ImageDifferenceTask`
with the pipeline :attr:`SubtractContract.pipeline` (``default``) and
``subtract=<plugin>``. A failed check raises :class:`ContractFailure`, whose message
names the plugin and the check. :meth:`SubtractContract.failures` runs them all
outside pytest.

The checks (:data:`CHECKS`):

``inputsUnmodified``
    The science and template image, mask and variance planes are byte-equal before and
    after, in both runs.
``resultFields``
    A :class:`~diffim.results.SubtractionResult` with its required fields, optional
    fields of the right type, and the promises of the plugin's traits kept.
``scienceGrid``
    The difference has the science image's shape and WCS, and finite pixels with a
    finite, positive variance wherever it has data.
``signs``
    Every transient of S/N >= :data:`SIGN_SNR` sums positive in an aperture of the
    difference (science minus template).
``fluxScale``
    The transients' summed aperture flux over their true flux (science units) is 1
    within :data:`FLUX_SYSTEMATIC` plus :data:`FLUX_SIGMAS` standard errors of that
    ratio (from the variance plane: 1-2 % on this pair). A difference on the
    template's scale (3.6 times) or doubled fails by far.
``noise``
    The robust width of difference / sqrt(variance) over empty pixels of the
    pipeline's difference, times the square root of the variance rescaling the
    pipeline applied (``scaleDiffimVarianceFactor``), is within :data:`NOISE_RANGE`:
    the variance plane the plugin (and decorrelation) made describes the noise.
``metadata``
    Metadata keys are strings that start with the plugin's name (any case), or with
    :attr:`SubtractContract.metadataPrefix`, so they cannot overwrite the run's own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn

import numpy as np
from astropy.table import Table

from .. import plugins
from ..exposure import Exposure
from ..pipeline import load_pipeline
from ..results import (ImageDifferenceResult, MatchingKernel, SubtractionResult,
                       SubtractionTraits)
from ..sanitize import sanitize
from ..statistics import madSigma
from ..task import ImageDifferenceTask
from ..warp import warpToScience
from .simulate import simulatePair

#: The checks, in the order :meth:`SubtractContract.failures` runs them.
CHECKS = ("inputsUnmodified", "resultFields", "scienceGrid", "signs", "fluxScale", "noise",
          "metadata")

#: The simulated pair: small enough for a contract run in a few seconds.
PAIR = {"size": 512, "nTransients": 16, "seed": 21}

#: Transients of at least this (PSF-optimal) S/N must come out positive: in an aperture
#: of radius 2 PSF sigma their S/N is above 8.
SIGN_SNR = 10.0

#: Transients of at least this S/N enter the flux ratio.
FLUX_SNR = 10.0

#: Allowance of the flux ratio beyond its noise: the flux scale a kernel fit finds from
#: tens of stars (1-2 %), star light and residuals in the apertures.
FLUX_SYSTEMATIC = 0.05

#: Standard errors of the flux ratio allowed on top of :data:`FLUX_SYSTEMATIC`.
FLUX_SIGMAS = 4.0

#: Accepted robust width of difference / sqrt(variance) on empty pixels.
NOISE_RANGE = (0.85, 1.2)

#: Planes whose pixels are not empty sky, for the noise check and the apertures.
NOT_EMPTY = ("NO_DATA", "EDGE", "SAT", "BAD", "INTRP", "DETECTED", "DETECTED_NEGATIVE")

#: Fewest transients the sign and flux checks rest on.
MIN_TRANSIENTS = 3

PLANES = ("image", "mask", "variance")


class ContractFailure(AssertionError):
    """A ``subtract`` plugin broke its contract: the message names it and the check."""


@dataclass
class ContractRun:
    """The pair and both runs of one plugin, shared by the checks.

    Attributes
    ----------
    plugin : str
        The ``subtract`` plugin's entry-point name.
    science, template, truth
        The simulated pair and its truth table.
    direct : SubtractionResult or None
        What the hook returned when called directly (None when it raised).
    warped : Exposure
        The template on the science grid that the direct call was given.
    pipeline : ImageDifferenceResult or None
        The pipeline run (None when it raised).
    errors : dict
        ``"direct"`` / ``"pipeline"`` -> what the run raised.
    changed : list of str
        Input planes that differ after the runs, e.g. ``"science image (direct call)"``.
    traits : SubtractionTraits
        What the plugin declares.
    """

    plugin: str
    science: Exposure
    template: Exposure
    truth: Table
    warped: Exposure
    traits: SubtractionTraits
    direct: SubtractionResult | None = None
    pipeline: ImageDifferenceResult | None = None
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)

    def fail(self, check: str, message: str) -> NoReturn:
        """Raise :class:`ContractFailure` for ``check``."""
        raise ContractFailure(f"subtract plugin {self.plugin!r} fails the contract check "
                              f"{check!r}: {message}")

    def differences(self, check: str) -> list[tuple[str, Exposure]]:
        """The plugin's own difference and the pipeline's, labelled; a failed run fails."""
        for run, error in self.errors.items():
            self.fail(check, f"the {run} run raised {error}")
        out = [("the plugin's difference", getattr(self.direct, "subtractedExposure", None))]
        if self.pipeline.subtractedExposure is not None:
            out.append(("the pipeline's difference", self.pipeline.subtractedExposure))
        for name, difference in out:
            if not isinstance(difference, Exposure) or difference.variance is None:
                self.fail(check, f"{name} is not an Exposure with a variance plane")
        return out


def _snapshot(exposures: dict[str, Exposure]) -> dict[str, bytes]:
    return {f"{role} {plane}": getattr(exposure, plane).tobytes()
            for role, exposure in exposures.items() for plane in PLANES}


def _changed(before: dict[str, bytes], exposures: dict[str, Exposure], run: str) -> list[str]:
    after = _snapshot(exposures)
    return [f"{name} ({run})" for name in before if after[name] != before[name]]


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@functools.lru_cache(maxsize=2)
def contractRun(plugin: str, pipeline: str = "default", overrides: tuple[str, ...] = (),
                pairOptions: tuple[tuple[str, Any], ...] = ()) -> ContractRun:
    """Simulate the pair and run ``plugin`` on it both ways (cached: the checks share it).

    Parameters
    ----------
    plugin : str
        Entry-point name of the ``subtract`` plugin.
    pipeline : str
        Pipeline file or shipped pipeline name (:func:`diffim.pipeline.load_pipeline`).
    overrides : tuple of str
        ``FIELD=VALUE`` overrides after ``subtract=<plugin>`` (``doDecorrelation=false``
        is added for a plugin whose traits say its difference is white).
    pairOptions : tuple of (str, value)
        :func:`~diffim.testing.simulate.simulatePair` arguments replacing :data:`PAIR`'s.
    """
    traits = plugins.subtractionTraits(plugin)
    white = () if traits.needsDecorrelation else ("doDecorrelation=false",)
    config = load_pipeline(pipeline, overrides=[f"subtract={plugin}", *white, *overrides])
    science, template, truth = simulatePair(**{**PAIR, **dict(pairOptions)})
    given = sanitize(science, "science")
    warped = warpToScience(sanitize(template, "template"), given)
    run = ContractRun(plugin, science, template, truth, warped, traits)
    inputs = {"science": given, "template": warped}
    before = _snapshot(inputs)
    choice = config.convolveTemplate
    convolveTemplate = (bool(warped.psf.sigma() <= given.psf.sigma()) if choice == "auto"
                        else bool(choice))
    try:
        run.direct = plugins.load("subtract", plugin)().diffim_subtract(
            science=given, template=warped, config=config.subtract.config,
            convolveTemplate=convolveTemplate, kernelSources=None,
            rng=np.random.default_rng(config.controlRandomSeed))
    except Exception as exc:  # reported by every check
        run.errors["direct"] = _failure(exc)
    run.changed += _changed(before, inputs, "direct call")
    inputs = {"science": science, "template": template}
    before = _snapshot(inputs)
    try:
        run.pipeline = ImageDifferenceTask(config=config).run(exposure=science,
                                                              templateExposure=template)
    except Exception as exc:
        run.errors["pipeline"] = _failure(exc)
    run.changed += _changed(before, inputs, f"pipeline {pipeline}")
    return run


def apertureSums(exposure: Exposure, x: np.ndarray, y: np.ndarray, radius: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of image and variance in circles of ``radius`` around ``(x, y)``.

    Returns the sums and whether each circle lies inside the image, on finite pixels
    that hold data (no NO_DATA, EDGE, SAT or BAD pixel).
    """
    bad = exposure.maskedPixels(*NOT_EMPTY[:4], context="contract")
    height, width = exposure.shape
    reach = int(np.ceil(radius))
    flux, variance = np.zeros(len(x)), np.zeros(len(x))
    usable = np.zeros(len(x), dtype=bool)
    for i, (cx, cy) in enumerate(zip(x, y)):
        ix, iy = int(round(cx)), int(round(cy))
        if not (reach <= ix < width - reach and reach <= iy < height - reach):
            continue
        box = np.s_[iy - reach:iy + reach + 1, ix - reach:ix + reach + 1]
        gy, gx = np.mgrid[box]
        inside = (gx - cx) ** 2 + (gy - cy) ** 2 <= radius ** 2
        image, var = exposure.image[box][inside], exposure.variance[box][inside]
        usable[i] = bool(np.isfinite(image).all() and np.isfinite(var).all()
                         and not bad[box][inside].any())
        flux[i], variance[i] = float(np.sum(image, dtype=np.float64)), float(np.sum(var))
    return flux, variance, usable


def psfFraction(exposure: Exposure, x: float, y: float, radius: float) -> float:
    """Fraction of the exposure's PSF (the science one when it has none) within ``radius``."""
    stamp = exposure.psf.at(x, y)
    cy, cx = stamp.shape[0] // 2, stamp.shape[1] // 2
    gy, gx = np.mgrid[:stamp.shape[0], :stamp.shape[1]]
    return float(stamp[(gx - cx) ** 2 + (gy - cy) ** 2 <= radius ** 2].sum() / stamp.sum())


def _transients(run: ContractRun, check: str, minSnr: float) -> Table:
    truth = run.truth
    rows = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] >= minSnr)]
    if len(rows) < MIN_TRANSIENTS:
        run.fail(check, f"the pair has {len(rows)} transients of S/N >= {minSnr}, fewer than "
                        f"{MIN_TRANSIENTS} (pairOptions: give more nTransients)")
    return rows


def _sigma(exposure: Exposure, science: Exposure) -> float:
    return max(science.psf.sigma(), exposure.psf.sigma() if exposure.psf else 0.0)


def checkInputsUnmodified(run: ContractRun) -> None:
    """The plugin wrote into none of its inputs' planes."""
    if run.changed:
        run.fail("inputsUnmodified", f"modified {', '.join(run.changed)}")


def _checkOnGrid(run: ContractRun, check: str, name: str, value: Any, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Exposure):
        run.fail(check, f"{name} is {type(value).__name__}, expected Exposure")
    if value.shape != run.science.shape:
        run.fail(check, f"{name} has shape {value.shape}, the science image "
                        f"{run.science.shape}")


def checkResultFields(run: ContractRun) -> None:
    """A SubtractionResult with its required fields, and the traits' promises kept."""
    check, result = "resultFields", run.direct
    if "direct" in run.errors:
        run.fail(check, f"the hook raised {run.errors['direct']}")
    if not isinstance(result, SubtractionResult):
        run.fail(check, f"the hook returned {type(result).__name__}, expected SubtractionResult")
    _checkOnGrid(run, check, "subtractedExposure", result.subtractedExposure, False)
    for plane in ("variance", "mask"):
        if getattr(result.subtractedExposure, plane) is None:
            run.fail(check, f"subtractedExposure has no {plane} plane")
    _checkOnGrid(run, check, "warpedExposure", result.warpedExposure, False)
    for name in ("matchedExposure", "scoreExposure"):
        _checkOnGrid(run, check, name, getattr(result, name), True)
    kernel = result.psfMatchingKernel
    if kernel is not None and not (isinstance(kernel, MatchingKernel)
                                   and np.isfinite(kernel.kernelSum) and kernel.kernelSum > 0):
        run.fail(check, "psfMatchingKernel is not a MatchingKernel (at(x, y) and a finite, "
                        "positive kernelSum)")
    if result.nKernelStars is not None and not (isinstance(result.nKernelStars, (int, np.integer))
                                                and result.nKernelStars >= 0):
        run.fail(check, f"nKernelStars is {result.nKernelStars!r}, expected None or an int >= 0")
    if result.fluxScaleError is not None and not result.fluxScaleError >= 0:
        run.fail(check, f"fluxScaleError is {result.fluxScaleError!r}, expected None or >= 0")
    if run.traits.makesScoreImage and result.scoreExposure is None:
        run.fail(check, "its traits declare makesScoreImage but it returned no scoreExposure")
    if not run.traits.needsDecorrelation and result.needsDecorrelation:
        run.fail(check, "its traits declare needsDecorrelation=False but the result says True")
    if not isinstance(result.metadata, dict):
        run.fail(check, f"metadata is {type(result.metadata).__name__}, expected dict")


def checkScienceGrid(run: ContractRun) -> None:
    """The differences are on the science grid, finite with a positive variance on data."""
    check, science = "scienceGrid", run.science
    for name, difference in run.differences(check):
        _checkOnGrid(run, check, name, difference, False)
        data = ~difference.maskedPixels("NO_DATA", context="contract")
        bad = data & ~(np.isfinite(difference.image) & np.isfinite(difference.variance)
                       & (difference.variance > 0))
        if bad.any():
            run.fail(check, f"{name} has {int(bad.sum())} pixels with data but a non-finite "
                            "value or a non-finite or non-positive variance")
        if data.mean() < 0.5:
            run.fail(check, f"{name} has data in only {data.mean():.0%} of its pixels")
        if science.wcs is None:
            continue
        if difference.wcs is None:
            run.fail(check, f"{name} has no WCS (the science image has one)")
        height, width = science.shape
        x = np.array([0.0, width - 1.0, 0.0, width - 1.0, width / 2.0])
        y = np.array([0.0, 0.0, height - 1.0, height - 1.0, height / 2.0])
        dx, dy = difference.wcs.world_to_pixel_values(*science.wcs.pixel_to_world_values(x, y))
        offset = float(np.max(np.hypot(dx - x, dy - y)))
        if offset > 1e-3:
            run.fail(check, f"{name}'s WCS puts the science pixels up to {offset:.3g} px away")


def checkSigns(run: ContractRun) -> None:
    """Transients (brighter in the science image) come out positive."""
    check = "signs"
    rows = _transients(run, check, SIGN_SNR)
    for name, difference in run.differences(check):
        radius = 2.0 * _sigma(difference, run.science)
        flux, _, usable = apertureSums(difference, rows["x"], rows["y"], radius)
        negative = usable & ~(flux > 0)
        if negative.any():
            where = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in
                              zip(rows["x"][negative], rows["y"][negative]))
            run.fail(check, f"{name} is not positive at {negative.sum()} of {usable.sum()} "
                            f"transients of S/N >= {SIGN_SNR:g} (at x, y = {where}): it must "
                            "be science minus template")


def checkFluxScale(run: ContractRun) -> None:
    """The transients' aperture fluxes on the differences agree with the truth (science ADU)."""
    check = "fluxScale"
    rows = _transients(run, check, FLUX_SNR)
    for name, difference in run.differences(check):
        radius = 4.0 * _sigma(difference, run.science)
        flux, variance, usable = apertureSums(difference, rows["x"], rows["y"], radius)
        measured = difference if difference.psf is not None else run.science
        expected = np.array([row["differenceFlux"] * psfFraction(measured, row["x"], row["y"],
                                                                 radius) for row in rows])
        if usable.sum() < MIN_TRANSIENTS:
            run.fail(check, f"{name} has usable apertures at only {usable.sum()} transients")
        total = expected[usable].sum()
        ratio = flux[usable].sum() / total
        error = np.sqrt(variance[usable].sum()) / total
        allowed = FLUX_SYSTEMATIC + FLUX_SIGMAS * error
        if not abs(ratio - 1.0) <= allowed:
            run.fail(check, f"{name} holds {ratio:.3f} times the true flux of "
                            f"{usable.sum()} transients (allowed 1 +- {allowed:.3f}): it must "
                            "be on the science image's flux scale")


def checkNoise(run: ContractRun) -> None:
    """The pipeline's difference / sqrt(variance) has unit width on empty pixels."""
    check = "noise"
    if "pipeline" in run.errors:
        run.fail(check, f"the pipeline run raised {run.errors['pipeline']}")
    difference = run.pipeline.subtractedExposure
    if difference is None:
        run.fail(check, "the pipeline made no difference image (score-image detection?)")
    empty = ~difference.maskedPixels(*NOT_EMPTY, context="contract")
    z = difference.image[empty] / np.sqrt(difference.variance[empty])
    rescale = float(run.pipeline.metadata.get("scaleDiffimVarianceFactor", 1.0))
    width = madSigma(z[np.isfinite(z)]) * np.sqrt(rescale)
    low, high = NOISE_RANGE
    if not low <= width <= high:
        run.fail(check, f"the robust width of difference / sqrt(variance) on "
                        f"{int(empty.sum())} empty pixels is {width:.3f} (with the pipeline's "
                        f"variance rescaling {rescale:.3f} undone), outside {low}-{high}: the "
                        "variance plane does not describe the difference's noise")


def checkMetadata(run: ContractRun, prefix: str | None = None) -> None:
    """Metadata keys are strings in the plugin's namespace (``prefix``, else its name)."""
    check = "metadata"
    if "direct" in run.errors:
        run.fail(check, f"the hook raised {run.errors['direct']}")
    prefix = (prefix or run.plugin).lower()
    metadata = getattr(run.direct, "metadata", None)
    if not isinstance(metadata, dict):
        run.fail(check, f"metadata is {type(metadata).__name__}, expected dict")
    wrong = [repr(key) for key in metadata
             if not (isinstance(key, str) and key.lower().startswith(prefix))]
    if wrong:
        run.fail(check, f"metadata keys {', '.join(wrong[:5])} do not start with {prefix!r} "
                        "(keys are merged into the run metadata: name them after the plugin)")


class SubtractContract:
    """The ``subtract`` contract as pytest tests: subclass it as ``Test...`` in a test module.

    Attributes
    ----------
    plugin : str
        Entry-point name of the plugin under test (required).
    pipeline : str
        Pipeline run through :class:`~diffim.task.ImageDifferenceTask` (a file, or a
        pipeline shipped with diffim).
    overrides : tuple of str
        ``FIELD=VALUE`` overrides of that pipeline, including the plugin's own fields
        (``subtract.FIELD=VALUE``).
    pairOptions : dict
        :func:`~diffim.testing.simulate.simulatePair` arguments replacing those of
        :data:`PAIR` (the default pair has a sky gradient and saturated stars).
    metadataPrefix : str or None
        What the plugin's metadata keys start with (any case), when not its name.
    """

    plugin: ClassVar[str] = ""
    pipeline: ClassVar[str] = "default"
    overrides: ClassVar[tuple[str, ...]] = ()
    pairOptions: ClassVar[dict[str, Any]] = {}
    metadataPrefix: ClassVar[str | None] = None

    @classmethod
    def contractRun(cls) -> ContractRun:
        """The pair and runs the checks share (made at the first check)."""
        if not cls.plugin:
            raise TypeError(f"{cls.__name__} must set plugin = '<subtract plugin name>'")
        return contractRun(cls.plugin, str(cls.pipeline), tuple(cls.overrides),
                           tuple(sorted(cls.pairOptions.items())))

    @classmethod
    def failures(cls) -> dict[str, str]:
        """Run every check; check name -> failure message for those that fail."""
        out = {}
        for check in CHECKS:
            try:
                getattr(cls(), f"test_{check}")()
            except ContractFailure as exc:
                out[check] = str(exc)
        return out

    def test_inputsUnmodified(self) -> None:
        checkInputsUnmodified(self.contractRun())

    def test_resultFields(self) -> None:
        checkResultFields(self.contractRun())

    def test_scienceGrid(self) -> None:
        checkScienceGrid(self.contractRun())

    def test_signs(self) -> None:
        checkSigns(self.contractRun())

    def test_fluxScale(self) -> None:
        checkFluxScale(self.contractRun())

    def test_noise(self) -> None:
        checkNoise(self.contractRun())

    def test_metadata(self) -> None:
        checkMetadata(self.contractRun(), self.metadataPrefix)
