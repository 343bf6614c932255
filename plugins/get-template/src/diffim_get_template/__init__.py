"""diffim's ``coadd`` getTemplate plugin: the template from coadd patches in a data repository.

Repository layout (what a user puts where)::

    <repository>/
        <coaddName>Coadd/          e.g. deepCoadd/ for coaddName "deep"
            <band>/                the science exposure's filter, e.g. r/
                **/*.fits          one coadd patch per file, at any depth

Each patch file is either a diffim exposure written by
:func:`diffim.fits_io.writeExposure` (IMAGE, MASK, VARIANCE, PSF extensions,
WCS, FILTER and MAGZERO cards) or a plain single-HDU FITS image with a
celestial WCS (:func:`diffim.fits_io.readExposure` derives its mask and
variance; without patch PSFs the task measures the assembled template's). The patches of one tract share a tangent projection: the same
projection type, CRVAL and CD matrix, differing only by whole-pixel CRPIX
shifts. Patches of different tracts have different tangent points. Patches
of one band must share their photometric zero point.

The template for a science exposure is cut from the one tract whose patches
cover most of the science footprint (grown by ``templateBorderSize``), on that
tract's pixel grid, without resampling; the task then warps it onto the
science grid.
"""
from .config import GetCoaddAsTemplateConfig
from .errors import NoTemplatePatchError, TemplateRepositoryError
from .plugin import CoaddTemplate, getCoaddAsTemplate

__all__ = ["CoaddTemplate", "GetCoaddAsTemplateConfig", "NoTemplatePatchError",
           "TemplateRepositoryError", "getCoaddAsTemplate"]
