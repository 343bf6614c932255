"""Errors of the ``coadd`` getTemplate plugin: all one line, naming repository, band and file."""
from __future__ import annotations

from diffim.errors import InputError, NoOverlapError


class TemplateRepositoryError(InputError):
    """The repository, its band folder or one of its patch files is unusable."""


class NothingOverlapsError(NoOverlapError):
    """None of the template's inputs overlaps the science exposure.

    ``fraction`` (the part of the science footprint the template covers) is 0;
    ``required`` is 0 too: any overlap at all would have given a template.
    """

    def __init__(self, message: str) -> None:
        self.fraction = 0.0
        self.required = 0.0
        InputError.__init__(self, message)


class NoTemplatePatchError(NothingOverlapsError):
    """No coadd patch of the repository overlaps the science exposure."""


class NoTemplateVisitOverlapError(NothingOverlapsError):
    """No template visit has a valid pixel on the science exposure's grid."""
