"""diffim's getTemplate plugins: ``coadd`` (coadd patches) and ``calexp`` (other visits).

``coadd`` finds its patches in one of two places:

* a diffim data repository (:class:`diffim.repo.Repository`): the registered
  ``<coaddName>Coadd`` datasets of the science band that the repository's sky map
  places on the science footprint;
* a plain directory::

    <repository>/
        <coaddName>Coadd/          e.g. deepCoadd/ for coaddName "deep"
            <band>/                the science exposure's filter, e.g. r/
                **/*.fits          one coadd patch per file, at any depth

Each patch file is either a diffim exposure written by
:func:`diffim.fits_io.writeExposure` (IMAGE, MASK, VARIANCE, PSF extensions,
WCS, FILTER and MAGZERO cards) or a plain single-HDU FITS image with a
celestial WCS (:func:`diffim.fits_io.readExposure` derives its mask and
variance; without patch PSFs the task measures the assembled template's). The
patches of one tract share a tangent projection: the same
projection type, CRVAL and CD matrix, differing only by whole-pixel CRPIX
shifts. Patches of different tracts have different tangent points. Patches
of one band must share their photometric zero point.

The template for a science exposure is cut from the one tract whose patches
cover most of the science footprint (grown by ``templateBorderSize``), on that
tract's pixel grid, without resampling; the task then warps it onto the
science grid.

``calexp`` builds the template from the calexps of a repository that the run's
``templateIdList`` names (:mod:`diffim_get_template.calexp`).
"""
from .calexp import CalexpTemplate, getCalexpAsTemplate
from .calexp_config import GetCalexpAsTemplateConfig
from .config import GetCoaddAsTemplateConfig
from .errors import NoTemplatePatchError, TemplateRepositoryError
from .plugin import CoaddTemplate, getCoaddAsTemplate

__all__ = ["CalexpTemplate", "CoaddTemplate", "GetCalexpAsTemplateConfig",
           "GetCoaddAsTemplateConfig", "NoTemplatePatchError", "TemplateRepositoryError",
           "getCalexpAsTemplate", "getCoaddAsTemplate"]
