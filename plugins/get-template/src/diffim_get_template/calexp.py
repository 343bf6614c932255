"""The ``calexp`` implementation of the ``getTemplate`` slot (LSST ``GetCalexpAsTemplateTask``).

The template is made from calibrated exposures (calexps) of other visits,
named by data ID in a data repository (:class:`diffim.repo.Repository`),
instead of coadd patches: one visit is the template as it is; several are
combined (:func:`~diffim_get_template.calexp_combine.combineExposures`) on the
science exposure's pixel grid.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diffim.errors import ConfigError, InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.repo import Repository, formatDataId
from diffim.repo.datasets import datasetType

from .calexp_combine import combineExposures
from .calexp_config import GetCalexpAsTemplateConfig
from .errors import NoTemplateVisitOverlapError

#: The dataset type the template visits are read as.
DATASET_TYPE = "calexp"


def getCalexpAsTemplate(science: Exposure, config: GetCalexpAsTemplateConfig, source: str,
                        templateIdList: Sequence[Mapping[str, Any]] | None) -> Exposure:
    """The template for ``science``; see :meth:`CalexpTemplate.diffim_getTemplate`."""
    if not templateIdList:
        raise ConfigError(
            "the calexp template needs template visits, the data IDs of the calexps to build "
            "it from: give them as task.runDataRef(sensorRef, templateIdList=[{'visit': 3}]) or "
            "`diffim batch ... --template-visits 3,4` (got "
            f"{'none' if templateIdList is None else 'an empty list'})")
    repository = Repository(source)
    try:
        dataIds = [_normalized(repository, dataId) for dataId in templateIdList]
        names = [formatDataId(dataId) for dataId in dataIds]
        _checkDistinct(names)
        exposures = [repository.get(DATASET_TYPE, dataId) for dataId in dataIds]
    finally:
        repository.close()
    if len(exposures) == 1:
        template = exposures[0]
    else:
        template = combineExposures(exposures, names, grid=science, weighting=config.weighting,
                                    badMaskPlanes=config.badMaskPlanes)
        if not np.isfinite(template.image).any():
            raise NoTemplateVisitOverlapError(
                f"{repository.root}: none of the template visits {', '.join(names)} has a "
                "valid pixel on the science exposure (expected visits overlapping the science "
                "footprint)")
    template.metadata["TEMPLATE_REPO"] = str(repository.root)
    template.metadata["TEMPLATE_VISITS"] = json.dumps(dataIds)
    return template


def _normalized(repository: Repository, dataId: Mapping[str, Any]) -> dict[str, Any]:
    """The calexp data ID, checked to be in the repository.

    Raises
    ------
    InputError
        If it is incomplete or malformed, or no such calexp is registered; the
        message lists the visits registered for the same detector and band.
    """
    if not isinstance(dataId, Mapping):
        raise InputError(f"template visit {dataId!r}: expected a data ID mapping such as "
                         "{'visit': 3, 'detector': 0, 'band': 'r'}")
    dataId = datasetType(DATASET_TYPE).normalize(dataId)
    if repository.exists(DATASET_TYPE, dataId):
        return dataId
    same = [ref.dataId["visit"] for ref in repository.query(DATASET_TYPE)
            if (ref.dataId["detector"], ref.dataId["band"]) == (dataId["detector"],
                                                                dataId["band"])]
    listing = ", ".join(str(visit) for visit in sorted(same)) or "none"
    raise InputError(f"{repository.root}: no calexp {formatDataId(dataId)} for the template "
                     f"(expected a registered calexp; visits of detector {dataId['detector']}, "
                     f"band {dataId['band']!r} there: {listing})")


def _checkDistinct(names: list[str]) -> None:
    """Refuse a data ID given twice (it would count twice in the mean)."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"template visits {', '.join(repeated)} given more than once (expected "
                         "distinct data IDs)")


class CalexpTemplate:
    """Build the template from calexps of other visits (LSST ``GetCalexpAsTemplateTask``)."""

    ConfigClass = GetCalexpAsTemplateConfig

    @hookimpl
    def diffim_getTemplate(self, science: Exposure, config: GetCalexpAsTemplateConfig,
                           source: str, templateIdList: list[dict] | None) -> Exposure:
        """Read the template visits' calexps from the repository ``source``.

        * One data ID: that calexp, unchanged, on its own pixel grid (the task
          warps it onto the science grid).
        * Several: their weighted mean on the science exposure's pixel grid
          (:func:`~diffim_get_template.calexp_combine.combineExposures`): each
          visit is scaled to the first one's calibration and resampled once
          onto the science grid; each pixel is the inverse-variance weighted
          mean (``weighting``) of the visits with valid data there (not
          NO_DATA, not ``badMaskPlanes``, finite), with the variance of that
          mean and the OR of their mask planes; pixels no visit covers are
          NaN, infinite variance and NO_DATA. The PSF is the weighted mean of
          the visits' PSFs. The visits must share one band.

        Parameters
        ----------
        science : Exposure
            The science exposure: its pixel grid receives a combination of
            several visits; not modified.
        config : GetCalexpAsTemplateConfig
            How several visits are combined.
        source : str
            The data repository's root.
        templateIdList : list of dict
            Complete calexp data IDs (``visit``, ``detector``, ``band``) of the
            template visits; the task completes them with the science data ID's
            missing keys.

        Returns
        -------
        Exposure
            The template; ``metadata["TEMPLATE_VISITS"]`` is the JSON list of
            the data IDs used and ``TEMPLATE_REPO`` the repository; a
            combination also records ``TEMPLATE_WEIGHTS`` (each visit's share of
            the weight) and ``TEMPLATE_PSF``.

        Raises
        ------
        ConfigError
            If ``templateIdList`` is missing or empty.
        InputError
            If ``source`` is not a repository, a data ID is malformed, repeated
            or not in it, or the visits differ in band or calibration status,
            or cannot be resampled onto the science grid.
        NoTemplateVisitOverlapError
            If several visits are given and none has a valid pixel on the
            science grid (a single visit's coverage is checked by the task).
        """
        return getCalexpAsTemplate(science, config, source, templateIdList)
