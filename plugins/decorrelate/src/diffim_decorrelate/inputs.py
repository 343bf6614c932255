"""The difference to decorrelate and the roles of the two images it was made from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.results import MatchingKernel, SubtractionResult

from .config import DecorrelateALKernelConfig

#: Largest departure from 1 accepted for the sum of a pre-convolution kernel.
PRECONV_SUM_TOLERANCE = 1e-3

#: Where the mask planes left out of the statistics are named.
IGNORE_CONTEXT = "decorrelate.ignoreMaskPlanes"


@dataclass(frozen=True)
class DecorrelationInputs:
    """Everything the filter of any region of the difference is computed from.

    Attributes
    ----------
    difference : Exposure
        The Alard–Lupton difference ``D`` (the likelihood image ``L`` in the score
        variant), with its PSF.
    unconvolved : Exposure
        The input that was not convolved (the science image when the template was).
    convolved : Exposure
        The input that was convolved with the kernel, as it was before convolution.
    kernel : MatchingKernel
        The matching kernel, evaluated (not normalised) wherever a filter is needed.
    varianceScale : float
        Factor applied to the propagated variance: ``1 / kappa**2`` when the science
        image was convolved (the difference was divided by the kernel sum), else 1.
    unconvolvedIgnoreBits, convolvedIgnoreBits : int
        Mask bits of ``ignoreMaskPlanes`` in each input's own plane dictionary.
    completeVarPlanePropagation : bool
        Propagate the variance planes by convolution rather than by scaling.
    preConvKernel : numpy.ndarray or None
        The unit-sum kernel the science image was pre-convolved with before matching
        (score-image variant), or None.
    """

    difference: Exposure
    unconvolved: Exposure
    convolved: Exposure
    kernel: MatchingKernel
    varianceScale: float
    unconvolvedIgnoreBits: int
    convolvedIgnoreBits: int
    completeVarPlanePropagation: bool
    preConvKernel: np.ndarray | None = None

    @classmethod
    def fromSubtraction(cls, science: Exposure, template: Exposure,
                        subtraction: SubtractionResult, config: DecorrelateALKernelConfig,
                        preConvKernel: np.ndarray | None = None) -> "DecorrelationInputs":
        """Check the inputs and assign the roles from the direction of the convolution.

        Raises
        ------
        diffim.errors.InputError
            If the subtraction has no kernel, the difference no PSF, an exposure no
            variance plane, or the shapes differ; if ``preConvKernel`` is not an odd,
            finite, unit-sum image, or is given for a subtraction that convolved the
            science image. (Planes of ``ignoreMaskPlanes`` an input lacks count
            as empty.)
        """
        difference = subtraction.subtractedExposure
        kernel = subtraction.psfMatchingKernel
        if kernel is None:
            raise InputError("decorrelation needs the PSF-matching kernel of the subtraction, "
                             "but the subtract plugin returned none (decorrelate only an "
                             "Alard-Lupton style difference)")
        if difference.psf is None:
            raise InputError("the difference exposure has no PSF; decorrelation filters it")
        for role, exposure in (("science", science), ("template", template),
                               ("difference", difference)):
            if exposure.variance is None:
                raise InputError(f"the {role} exposure has no variance plane; decorrelation "
                                 f"needs it to set the filter and propagate the noise")
            if exposure.shape != difference.shape:
                raise InputError(f"the {role} exposure has shape {exposure.shape}, the "
                                 f"difference {difference.shape}; decorrelation needs all "
                                 f"three on the science pixel grid")
        if preConvKernel is not None:
            preConvKernel = _checkedPreConvKernel(preConvKernel)
            if subtraction.convolvedScience:
                raise InputError("the score-image decorrelation (preConvKernel given) needs the "
                                 "template convolved, but the subtraction convolved the science "
                                 "image: subtract with convolveTemplate=True")
        if subtraction.convolvedScience:
            unconvolved, convolved = template, science
            varianceScale = 1.0 / kernel.kernelSum ** 2
        else:
            unconvolved, convolved = science, template
            varianceScale = 1.0
        return cls(difference=difference, unconvolved=unconvolved, convolved=convolved,
                   kernel=kernel, varianceScale=varianceScale,
                   unconvolvedIgnoreBits=unconvolved.bitmask(*config.ignoreMaskPlanes,
                                                             context=IGNORE_CONTEXT),
                   convolvedIgnoreBits=convolved.bitmask(*config.ignoreMaskPlanes,
                                                         context=IGNORE_CONTEXT),
                   completeVarPlanePropagation=config.completeVarPlanePropagation,
                   preConvKernel=preConvKernel)


def _checkedPreConvKernel(preConvKernel: np.ndarray) -> np.ndarray:
    """``preConvKernel`` as float64, after checking it is an odd, finite, unit-sum image."""
    kernel = np.asarray(preConvKernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise InputError(f"preConvKernel must be a 2-d kernel image of odd size, got shape "
                         f"{kernel.shape}")
    total = float(kernel.sum())
    if not (np.isfinite(kernel).all() and abs(total - 1.0) <= PRECONV_SUM_TOLERANCE):
        raise InputError(f"preConvKernel must be finite with unit sum (the pre-convolution "
                         f"keeps the science flux scale), got sum {total:.6g}")
    return kernel
