"""Output dataset names: the diffim counterpart of the LSST task's ``connections``."""
from __future__ import annotations

from .config import Config, Field


class ImageDifferenceConnections(Config):
    """File names of the datasets a run writes into its output directory.

    LSST's connections map a task's inputs and outputs to butler dataset
    types; diffim writes plain files, so a connection is a file name.
    """

    differenceExp = Field("Difference exposure (written when doWriteSubtractedExp).", str,
                          "difference.fits")
    diaSrc = Field("diaSource catalog, a FITS table (written when doWriteSources).", str,
                   "diaSources.fits")
    scoreExp = Field("Likelihood / score exposure (written when doWriteScoreExp).", str,
                     "score.fits")
    warpedExp = Field("Template warped onto the science grid (written when doWriteWarpedExp).",
                      str, "warpedTemplate.fits")
    matchedExp = Field("PSF-matched template (written when doWriteMatchedExp).", str,
                       "matchedTemplate.fits")
    kernelSrc = Field("Kernel and control stars with residual metrics and the kernel-candidate "
                      "QA columns KCDiffim* (written when doAddMetrics and doSelectSources).",
                      str, "kernelSources.fits")
    registerDebug = Field("Registration matches and residuals (written when doDebugRegister and "
                          "doUseRegister).", str, "registerDebug.fits")
    quicklook = Field("Quicklook PNG (written when doWriteQuicklook).", str, "quicklook.png")
    cutouts = Field("Science, template and difference stamps of every diaSource and their rows, "
                    "a FITS file (written when doWriteCutouts).", str, "cutouts.fits")
    gallery = Field("PNG gallery of the strongest diaSources' stamps (written when "
                    "doWriteCutouts).", str, "gallery.png")
    regions = Field("DS9 region file of the diaSources (written when doWriteRegions).", str,
                    "diaSources.reg")
    report = Field("Self-contained HTML page of the run (written when doWriteReport).", str,
                   "report.html")
    metadata = Field("Run metadata: config used, package versions, time per step "
                     "(written when saveMetadata).", str, "metadata.yaml")
    log = Field("Log of the run (written when saveLogOutput).", str, "diffim.log")
