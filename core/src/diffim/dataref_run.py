"""``ImageDifferenceTask.runDataRef``: a run whose inputs and outputs are repository datasets."""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .ids import IdFactory
from .provenance import pixelChecksum, provenanceCards
from .report import renderReport
from .repo import DIFF_KINDS, DataRef, exposureId, formatDataId
from .repo.datasets import EXPOSURE_ID_BITS
from .results import ImageDifferenceResult
from .runner import (LOOK_AT_OUTPUTS, plannedOutputs, renderLookAt, reportPictures, runRecord,
                     summarize)
from .sanitize import checkUsable

if TYPE_CHECKING:
    from .task import ImageDifferenceTask
    from .task_config import ImageDifferenceConfig


def outputDatasetTypes(config: "ImageDifferenceConfig") -> dict[str, str]:
    """Output kind -> dataset type (``<coaddName>Diff_<kind>``) of what ``config`` writes."""
    return {kind: f"{config.coaddName}Diff_{kind}" for kind in plannedOutputs(config)
            if kind in DIFF_KINDS}


def completeTemplateIds(scienceId: Mapping[str, Any],
                        templateIdList: list[Mapping[str, Any]] | None) -> list[dict] | None:
    """Each template data ID with the keys it leaves out taken from the science data ID."""
    if templateIdList is None:
        return None
    return [{**scienceId, **dict(templateId)} for templateId in templateIdList]


def _templateInput(config: "ImageDifferenceConfig", templateIdList,
                   result: ImageDifferenceResult):
    """The template for the provenance: what it was built from, and its warped pixels."""
    warped = result.warpedExposure
    if warped is None:
        return None
    label = ("calexp " + "; ".join(formatDataId(t) for t in templateIdList)
             if templateIdList else f"{config.coaddName}Coadd patches")
    return (label, warped)


def runOnDataRef(task: "ImageDifferenceTask", sensorRef: DataRef,
                 templateIdList: list[Mapping[str, Any]] | None = None,
                 threads: int | None = None) -> ImageDifferenceResult:
    """The body of :meth:`diffim.ImageDifferenceTask.runDataRef` (same arguments)."""
    start = time.perf_counter()
    config = task.config
    where = f"calexp {formatDataId(sensorRef.dataId)} of {sensorRef.repository.root}"
    science = sensorRef.get("calexp")
    scienceInput = (f"calexp {formatDataId(sensorRef.dataId)}", pixelChecksum(science.image))
    try:
        science = task.characterize(science, "science")
        checkUsable(science, "science")
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    sources = sensorRef.get("src") if sensorRef.datasetExists("src") else None
    background = None
    if config.doAddCalexpBackground:
        if not sensorRef.datasetExists("calexpBackground"):
            raise InputError(f"{where}: doAddCalexpBackground=True needs its calexpBackground "
                             "dataset (diffim repo ingest --type calexpBackground)")
        background = sensorRef.get("calexpBackground")
    idFactory = IdFactory(exposureId(sensorRef.dataId), EXPOSURE_ID_BITS)
    result = task.run(exposure=science, selectSources=sources, idFactory=idFactory,
                      calexpBackgroundExposure=background,
                      templateSource=sensorRef.repository.root,
                      templateIdList=completeTemplateIds(sensorRef.dataId, templateIdList),
                      threads=threads)
    outputs = outputDatasetTypes(config)
    template = _templateInput(config, templateIdList, result)
    cards = provenanceCards(config, result, science=scienceInput, template=template)
    made = {kind: renderLookAt(kind, config, science, None, result)
            for kind in outputs if kind in LOOK_AT_OUTPUTS}
    if "report" in outputs:
        inputs = {"science": scienceInput[0], "template": None if template is None else template[0],
                  "repository": str(sensorRef.repository.root)}
        record = runRecord(config, result, summarize(result, time.perf_counter() - start),
                           inputs, cards, outputs)
        made["report"] = renderReport(record, reportPictures(config, science, None, result,
                                                             made)).encode("utf-8")
    paths = sensorRef.putMany([(made[kind] if kind in made else result.output(kind), name)
                               for kind, name in outputs.items()], header=cards)
    result.metadata["outputs"] = {kind: str(path) for kind, path in zip(outputs, paths)}
    return result
