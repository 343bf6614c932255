"""Result structures passed between the task and its plugins."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol, runtime_checkable

import numpy as np
from astropy.table import Table

from .exposure import Exposure
from .psf import Psf


@runtime_checkable
class MatchingKernel(Protocol):
    """A PSF-matching kernel that can be evaluated anywhere on the image."""

    def at(self, x: float, y: float) -> np.ndarray:
        """Kernel image at ``(x, y)`` (not normalised; its sum is the photometric scale)."""

    @property
    def kernelSum(self) -> float:
        """Sum of the kernel (ratio of the flux scales of the two images)."""


@dataclass(frozen=True)
class PsfMeasurement:
    """What a ``measurePsf`` implementation returns.

    Attributes
    ----------
    psf : Psf
        The PSF model of the exposure.
    note : str
        How it was obtained (recorded as the exposure's ``PSFNOTE``), e.g.
        ``measured from 212 stars (constant, FWHM 3.41 px)``.
    """

    psf: Psf
    note: str


@dataclass(frozen=True)
class VarianceScale:
    """What a ``scaleVariance`` implementation may return instead of a bare factor.

    Attributes
    ----------
    factor : float
        Factor by which to multiply the variance plane.
    nPixels : int
        Pixels the factor was measured on.
    estimator : str
        How: ``"sourceFree"`` (pixels outside the source masks), ``"sourceRejected"``
        (all usable pixels, sources rejected statistically: a crowded frame) or
        ``"none"`` (too few usable pixels: the factor is 1 and the run is suspect).
    """

    factor: float
    nPixels: int
    estimator: str


@dataclass(frozen=True)
class SubtractionTraits:
    """What a ``subtract`` implementation produces, declared before it runs.

    A subtraction plugin class states its traits as the class attribute
    ``traits``; config validation and the task read them (never the plugin's
    name), and the task checks each :class:`SubtractionResult` against them.
    A class without ``traits`` gets these defaults, which describe a classic
    kernel-matching (Alard-Lupton-like) algorithm.

    Attributes
    ----------
    needsDecorrelation : bool
        The difference's noise is correlated by the kernel convolution and the
        ``decorrelate`` step should whiten it (``doDecorrelation``). False for an
        algorithm whose difference is white already (ZOGY).
    makesScoreImage : bool
        The algorithm makes its own detection (score) image, which
        ``useScoreImageDetection`` detects on. False: the task makes a score
        image by pre-convolving the science image with its PSF before the
        subtraction (the AL likelihood image).
    makesMatchedExposure : bool
        The algorithm returns the PSF-matched image (``doWriteMatchedExp``).
    usesKernelSources : bool
        The algorithm fits a kernel on stars and accepts ``kernelSources``
        (``doSelectSources``, the control-star metrics of ``doAddMetrics``).
    """

    needsDecorrelation: bool = True
    makesScoreImage: bool = False
    makesMatchedExposure: bool = True
    usesKernelSources: bool = True


@dataclass
class SubtractionResult:
    """What a ``subtract`` implementation returns.

    Attributes
    ----------
    subtractedExposure : Exposure
        The difference, positive where the science image is brighter, on the
        science flux scale, with its PSF set.
    warpedExposure : Exposure
        The template on the science pixel grid, not convolved.
    matchedExposure : Exposure, optional
        The convolved (PSF-matched) image, if the algorithm makes one. It constrains
        the dipole fits and is shown in the pictures; without it the dipole fits rest
        on the difference and the science image (as given, when it was the science
        that was convolved), the pictures show ``warpedExposure``, and
        ``doWriteMatchedExp`` fails.
    psfMatchingKernel : MatchingKernel, optional
        The matching kernel, if the algorithm fits one. Decorrelation is made from it:
        without it the ``decorrelate`` step is skipped. Each such fallback is one WARNING
        naming the plugin and the field, and a line of the run metadata's ``degraded``.
    scoreExposure : Exposure, optional
        A detection (likelihood / score) image, if the algorithm makes one
        (required when its traits say ``makesScoreImage``).
    convolvedScience : bool
        True when the science image (not the template) was convolved.
    needsDecorrelation : bool
        The difference's noise is still correlated by a kernel convolution, for
        the ``decorrelate`` step to whiten.
    nKernelStars : int, optional
        Stars the PSF matching rests on (kernel stars, or flux-ratio stars); None
        when it rests on none (calibrations alone).
    kernelCandidates : astropy.table.Table or callable, optional
        Per-candidate quality of the kernel fit, for an algorithm that fits a
        kernel on each star stamp: one row per candidate with its star's pixel
        ``x``, ``y`` and figures, e.g. LSST's kernel-candidate QA
        ``KCDiffim{Mean,Median,StDev}_{LOCAL,SPATIAL}`` (residuals under the
        candidate's own kernel and under the spatial model); or a function of no
        arguments that makes that table, so that it costs nothing unless asked for
        (:meth:`candidateTable`). With ``doAddMetrics`` the task copies the other
        columns into ``kernelSources`` (the candidate within 1 pixel of each star)
        and the median over candidates of each float column into the metadata
        ``quality.metrics``.
    fluxScaleError : float, optional
        Relative standard error of the flux scale between the images (the kernel
        sum, or flux ratio) as measured from those stars, their scatter included;
        None when it was not measured from stars.
    metadata : dict
        Diagnostics to record in the run metadata.
    """

    subtractedExposure: Exposure
    warpedExposure: Exposure
    matchedExposure: Exposure | None = None
    psfMatchingKernel: MatchingKernel | None = None
    scoreExposure: Exposure | None = None
    convolvedScience: bool = False
    needsDecorrelation: bool = True
    nKernelStars: int | None = None
    kernelCandidates: Table | Callable[[], Table] | None = None
    fluxScaleError: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def candidateTable(self) -> Table | None:
        """``kernelCandidates`` as a table, made now (once) if the plugin deferred it."""
        if callable(self.kernelCandidates):
            self.kernelCandidates = self.kernelCandidates()
        return self.kernelCandidates


@dataclass
class DetectionResult:
    """What a ``detection`` implementation returns.

    Attributes
    ----------
    diaSources : astropy.table.Table
        One row per source (see the catalog schema in the docs).
    footprints : numpy.ndarray
        int32 label image: pixel value ``i + 1`` belongs to row ``i``; 0 is no source.
    noiseCorrection : float
        How much the noise of the detection image exceeds what its variance plane
        predicts (at least 1; above it when the noise is correlated between pixels),
        applied to the thresholds; the task scales the variance the measurements use
        by its square, so that their flux errors hold.
    metadata : dict
        Diagnostics to record in the run metadata.
    """

    diaSources: Table
    footprints: np.ndarray
    noiseCorrection: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImageDifferenceResult:
    """What :meth:`diffim.ImageDifferenceTask.run` returns (LSST's result struct).

    ``quality`` is the run's :class:`diffim.quality.Quality` verdict (status ``ok``
    or ``suspect``, its reasons and figures). ``subtractRes`` is what the ``subtract``
    step returned, except that once the difference is decorrelated its
    ``subtractedExposure`` is the decorrelated one (the correlated difference is let
    go: it is a full-frame exposure nothing after needs).
    """

    subtractedExposure: Exposure | None = None
    scoreExposure: Exposure | None = None
    warpedExposure: Exposure | None = None
    matchedExposure: Exposure | None = None
    subtractRes: SubtractionResult | None = None
    diaSources: Table | None = None
    selectSources: Table | None = None
    kernelSources: Table | None = None
    quality: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    #: Output kind (the name of its file or dataset) -> the attribute holding it.
    OUTPUTS: ClassVar[dict[str, str]] = {
        "differenceExp": "subtractedExposure", "diaSrc": "diaSources",
        "scoreExp": "scoreExposure", "warpedExp": "warpedExposure",
        "matchedExp": "matchedExposure", "kernelSrc": "kernelSources"}

    def output(self, kind: str) -> Exposure | Table | None:
        """The result written as output ``kind`` (a key of :attr:`OUTPUTS`)."""
        return getattr(self, self.OUTPUTS[kind])
