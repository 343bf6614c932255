"""Coadd patches found through a data repository's registry and sky map."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from diffim.repo import Repository
from diffim.repo.repository import CONFIG_FILE

from .errors import NoTemplatePatchError, TemplateRepositoryError


def isDataRepository(path: Path) -> bool:
    """True if ``path`` is a diffim data repository (not a plain folder of patches)."""
    return (path / CONFIG_FILE).is_file()


def registeredPatchFiles(root: Path, coaddName: str, band: str, outlineRa: np.ndarray,
                         outlineDec: np.ndarray, border: int) -> list[Path]:
    """Files of the ``<coaddName>Coadd`` patches of ``band`` the sky map puts on an outline.

    Parameters
    ----------
    root : pathlib.Path
        The repository.
    coaddName, band : str
        Which coadd, which band.
    outlineRa, outlineDec : numpy.ndarray
        The grown science footprint on the sky (degrees).
    border : int
        How much it was grown (pixels), for messages.

    Raises
    ------
    TemplateRepositoryError
        If the repository has no patch of that coadd and band.
    NoTemplatePatchError
        If the sky map puts none of them on the outline.
    """
    repository = Repository(root)
    try:
        datasetType = f"{coaddName}Coadd"
        every = repository.query(datasetType)
        refs = [ref for ref in every if ref.dataId["band"] == band]
        if not refs:
            bands = sorted({ref.dataId["band"] for ref in every})
            raise TemplateRepositoryError(
                f"{root}: no {datasetType} patch of band {band!r} is registered (bands "
                f"registered: {', '.join(bands) or 'none'}; ingest patches with `diffim repo "
                f"ingest {root} FILES --type {datasetType}`)")
        skyMap = repository.skyMap
    finally:
        repository.close()
    if skyMap is None:
        return [ref.path for ref in refs]
    wanted = set(skyMap.findPatches(outlineRa, outlineDec))
    paths = [ref.path for ref in refs if (ref.dataId["tract"], ref.dataId["patch"]) in wanted]
    if not paths:
        raise NoTemplatePatchError(
            f"{root}: none of the {len(refs)} {datasetType} patches of band {band!r} is one the "
            f"sky map places on the science exposure grown by {border} px (expected patches "
            "covering the science footprint)")
    return paths
