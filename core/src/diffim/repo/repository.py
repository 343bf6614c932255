"""A data repository: files addressed by data ID, and a registry saying which exist.

Layout of a repository directory::

    repository.yaml          what this is, and the registry's URL when not the default
    registry.sqlite3         the default registry (SQLite)
    skyMap.yaml              the sky map
    calexp/<band>/<visit>/calexp_<band>_<visit>_<detector>.fits
    deepCoadd/<band>/<tract>/<patch>/deepCoadd_<band>_<tract>_<patch>.fits
    deepDiff_diaSrc/<band>/<visit>/deepDiff_diaSrc_<band>_<visit>_<detector>.fits
    ...

A dataset is registered only once its file is complete: files are written
under a temporary name and renamed (:mod:`diffim.atomic`), then registered in
one transaction, so a killed writer leaves either a registered, complete file
or an unregistered one that the next writer replaces.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from astropy.table import MaskedColumn, Table

from ..atomic import atomic_write, staleTemporaries, write_text_atomic
from ..errors import InputError
from ..exposure import Exposure
from ..fits_io import readExposure, readTable, writeExposure, writeTable
from .datasets import DIMENSIONS, DatasetType, datasetType, formatDataId
from .headers import dataIdFromHeader
from .registry import DatasetExistsError, Registry, datasets
from .skymap import SkyMap
from .where import parseWhere

if TYPE_CHECKING:
    from .dataref import DataRef

#: The file that makes a directory a repository.
CONFIG_FILE = "repository.yaml"

#: The default registry's file.
REGISTRY_FILE = "registry.sqlite3"

#: Ways :meth:`Repository.ingest` brings a file in.
TRANSFERS = ("copy", "move", "symlink")


#: Columns of :meth:`Repository.batchResults`.
_RESULT_COLUMNS = ("run", *DIMENSIONS, "status", "quality", "n_dia_sources", "n_positive",
                   "n_negative", "n_dipoles", "n_sky_sources", "noise_ratio", "seconds",
                   "message", "finished")

#: Its numeric columns and their types.
_RESULT_NUMBERS = {"visit": int, "detector": int, "tract": int, "patch": int,
                   "n_dia_sources": int, "n_positive": int, "n_negative": int,
                   "n_dipoles": int, "n_sky_sources": int,
                   "noise_ratio": float, "seconds": float}


class RepositoryError(InputError):
    """The repository, or a dataset asked of it, does not exist or is unusable."""


@dataclass(frozen=True)
class DatasetRef:
    """One registered dataset.

    Parameters
    ----------
    datasetType : str
        Its dataset type.
    dataId : dict
        Its data ID.
    path : pathlib.Path
        Its file.
    """

    datasetType: str
    dataId: dict
    path: Path


class Repository:
    """A data repository (open an existing one; :meth:`create` makes one).

    Parameters
    ----------
    root : str or os.PathLike
        The repository directory.

    Raises
    ------
    RepositoryError
        If ``root`` is not a repository, or its registry cannot be opened.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser().absolute()
        config = self.root / CONFIG_FILE
        if not config.is_file():
            raise RepositoryError(f"{self.root}: not a diffim data repository (no {CONFIG_FILE};"
                                  f" create one with `diffim repo create {self.root}`)")
        try:
            settings = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RepositoryError(f"{config}: unreadable ({' '.join(str(exc).split())})") from None
        if not isinstance(settings, dict):
            raise RepositoryError(f"{config}: expected a mapping (diffimRepository, registry), "
                                  f"found {type(settings).__name__}")
        self.registryUrl = settings.get("registry") or f"sqlite:///{self.root / REGISTRY_FILE}"
        self.registry = Registry(self.registryUrl)
        self._skyMap: SkyMap | None = None

    @classmethod
    def create(cls, root: str | os.PathLike, skyMap: SkyMap | None = None,
               registry: str | None = None) -> "Repository":
        """Make a new, empty repository in ``root`` and open it.

        Parameters
        ----------
        root : str or os.PathLike
            A directory that does not exist or is empty.
        skyMap : SkyMap, optional
            The sky map to store in it.
        registry : str, optional
            SQLAlchemy URL of the registry database (its tables are created);
            by default an SQLite file in the repository.

        Raises
        ------
        RepositoryError
            If ``root`` holds anything already, or the registry cannot be created.
        """
        root = Path(root).expanduser().absolute()
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise RepositoryError(f"{root}: exists and is not an empty directory (expected a new "
                                  "location for the repository)")
        root.mkdir(parents=True, exist_ok=True)
        url = registry or f"sqlite:///{root / REGISTRY_FILE}"
        Registry(url, create=True).close()
        write_text_atomic(root / CONFIG_FILE, yaml.safe_dump(
            {"diffimRepository": 1, "registry": registry}, sort_keys=False))
        repository = cls(root)
        if skyMap is not None:
            repository.putSkyMap(skyMap)
        return repository

    def __repr__(self) -> str:
        return f"Repository({str(self.root)!r})"

    def close(self) -> None:
        """Release the registry's database connections."""
        self.registry.close()

    # Sky map -------------------------------------------------------------------------------

    @property
    def skyMap(self) -> SkyMap | None:
        """The repository's sky map, or None if it has none."""
        if self._skyMap is None and self.exists("skyMap", {}):
            self._skyMap = self.get("skyMap", {})
        return self._skyMap

    def putSkyMap(self, skyMap: SkyMap, overwrite: bool = False) -> Path:
        """Store the repository's sky map."""
        path = self.put(skyMap, "skyMap", {}, overwrite=overwrite)
        self._skyMap = skyMap
        return path

    # Datasets ------------------------------------------------------------------------------

    def put(self, obj: Exposure | Table | SkyMap | bytes, datasetType: str,
            dataId: Mapping[str, Any], overwrite: bool = False,
            header: Mapping[str, Any] | None = None) -> Path:
        """Write one dataset and register it; return its file.

        Raises
        ------
        DatasetExistsError
            If it is registered already and ``overwrite`` is False.
        """
        return self.putMany([(obj, datasetType, dataId)], overwrite=overwrite,
                            header=header)[0]

    def putMany(self, items: Iterable[tuple[Any, str, Mapping[str, Any]]],
                overwrite: bool = False,
                header: Mapping[str, Any] | None = None) -> list[Path]:
        """Write datasets, then register them all in one transaction.

        Parameters
        ----------
        items : iterable of (object, str, mapping)
            ``(obj, datasetType, dataId)``: an Exposure, a Table, the bytes of a
            ``file`` dataset (a picture, the report), or (for ``skyMap``) a SkyMap.
        overwrite : bool
            Replace datasets registered already; otherwise such a dataset is an
            error and nothing is written.
        header : mapping, optional
            Extra primary-header cards of every FITS file written (e.g. the
            provenance of :func:`diffim.provenance.provenanceCards`).

        Returns
        -------
        list of pathlib.Path
            The files, in the order of ``items``.

        Raises
        ------
        DatasetExistsError
            If one is registered already and ``overwrite`` is False.
        """
        planned = []
        for obj, name, dataId in items:
            kind = _datasetType(name)
            dataId = kind.normalize(dataId)
            _checkStorage(obj, kind)
            planned.append((obj, kind, dataId, kind.relativePath(dataId)))
        if not overwrite:
            for _, kind, dataId, _ in planned:
                if self.registry.find(kind.name, dataId) is not None:
                    raise DatasetExistsError(
                        f"{self.root}: {kind.name} {formatDataId(dataId)} exists already "
                        "(pass overwrite=True to replace it)")
        rows = []
        for obj, kind, dataId, relative in planned:
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(obj, kind, path, header)
            rows.append({"dataset_type": kind.name, "data_id": dataId, "path": relative,
                         "size": path.stat().st_size})
        self.registry.register(rows, replace=overwrite)
        return [self.root / relative for *_, relative in planned]

    def get(self, datasetType: str, dataId: Mapping[str, Any]
            ) -> Exposure | Table | SkyMap | bytes:
        """Read one dataset (the bytes of a ``file`` dataset, such as a PNG picture).

        Raises
        ------
        RepositoryError
            If it is not registered, or its file is missing.
        """
        kind, dataId, path = self._located(datasetType, dataId)
        if kind.storage == "exposure":
            return readExposure(path)
        if kind.storage == "table":
            return readTable(path)
        if kind.storage == "file":
            return path.read_bytes()
        return SkyMap.fromDict(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))

    def path(self, datasetType: str, dataId: Mapping[str, Any]) -> Path:
        """The file of a registered dataset.

        Raises
        ------
        RepositoryError
            If it is not registered, or its file is missing.
        """
        return self._located(datasetType, dataId)[2]

    def exists(self, datasetType: str, dataId: Mapping[str, Any]) -> bool:
        """True if the dataset is registered."""
        kind = _datasetType(datasetType)
        return self.registry.find(kind.name, kind.normalize(dataId)) is not None

    def query(self, datasetType: str | None = None, where: str | None = None
              ) -> list[DatasetRef]:
        """Registered datasets, of one type or all, matching a ``where`` expression.

        Parameters
        ----------
        datasetType : str, optional
            Only datasets of this type.
        where : str, optional
            An expression over data-ID keys (:mod:`diffim.repo.where`), e.g.
            ``"visit > 3 AND band = 'r'"``.

        Returns
        -------
        list of DatasetRef
            By dataset type, then data ID.
        """
        clauses = []
        if datasetType is not None:
            clauses.append(datasets.c.dataset_type == _datasetType(datasetType).name)
        if where is not None:
            clauses.append(parseWhere(where, {key: datasets.c[key] for key in DIMENSIONS}))
        clause = None
        for term in clauses:
            clause = term if clause is None else clause & term
        refs = []
        for row in self.registry.select(clause):
            kind = _datasetType(row["dataset_type"])
            refs.append(DatasetRef(kind.name, {key: row[key] for key in kind.keys},
                                   self.root / row["path"]))
        return refs

    def ingest(self, source: str | os.PathLike, datasetType: str,
               dataId: Mapping[str, Any] | None = None, transfer: str = "copy",
               overwrite: bool = False) -> Path:
        """Bring a FITS file into the repository as a dataset.

        Parameters
        ----------
        source : str or os.PathLike
            The file (a diffim exposure or table, or a plain FITS image).
        datasetType : str
            E.g. ``calexp`` or ``deepCoadd``.
        dataId : mapping, optional
            Data-ID values; those missing are read from the header (VISIT or
            EXPNUM, DETECTOR or CCDNUM, FILTER or BAND, TRACT, PATCH).
        transfer : {"copy", "move", "symlink"}
            How the file gets into the repository.
        overwrite : bool
            Replace a dataset registered already.

        Raises
        ------
        InputError
            If the file is unreadable, the data ID incomplete, or ``transfer`` unknown.
        DatasetExistsError
            If the dataset is registered already and ``overwrite`` is False.
        """
        if transfer not in TRANSFERS:
            raise InputError(f"transfer {transfer!r}: expected one of {', '.join(TRANSFERS)}")
        source = Path(source).expanduser()
        kind = _datasetType(datasetType)
        if kind.storage == "yaml":
            raise InputError(f"{source}: a {kind.name} is not ingested (use Repository.putSkyMap)")
        fromHeader = dataIdFromHeader(source)
        merged = {**{key: value for key, value in fromHeader.items() if key in kind.keys},
                  **{key: value for key, value in (dataId or {}).items() if value is not None}}
        try:
            dataId = kind.normalize(merged)
        except InputError as exc:
            raise InputError(f"{source}: {exc} (give it with --data-id KEY=VALUE or in the "
                             "header)") from None
        if not overwrite and self.registry.find(kind.name, dataId) is not None:
            raise DatasetExistsError(f"{self.root}: {kind.name} {formatDataId(dataId)} exists "
                                     f"already (ingesting {source}; pass --overwrite to "
                                     "replace it)")
        relative = kind.relativePath(dataId)
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        _transfer(source, path, transfer)
        self.registry.register([{"dataset_type": kind.name, "data_id": dataId,
                                 "path": relative, "size": path.stat().st_size}],
                               replace=overwrite)
        return path

    def dataRef(self, **dataId: Any) -> "DataRef":
        """A reference to the science exposure with ``dataId`` (LSST's ``sensorRef``).

        ``band`` may be left out when one calexp of that visit and detector is
        registered: it is looked up.

        Raises
        ------
        RepositoryError
            If the band is missing and cannot be looked up.
        """
        from .dataref import DataRef

        if dataId.get("band") is None and "visit" in dataId and "detector" in dataId:
            found = self.query("calexp", where=f"visit = {int(dataId['visit'])} AND detector = "
                                               f"{int(dataId['detector'])}")
            if len(found) != 1:
                raise RepositoryError(f"{self.root}: {len(found)} calexps of "
                                      f"{formatDataId(dataId)}; give the band")
            dataId = {**dataId, "band": found[0].dataId["band"]}
        return DataRef(self, _datasetType("calexp").normalize(dataId))

    # Batch results -------------------------------------------------------------------------

    def recordBatchResult(self, run: str, dataId: Mapping[str, Any], *, status: str,
                          quality: str | None = None, nDiaSources: int | None = None,
                          nPositive: int | None = None, nNegative: int | None = None,
                          nDipoles: int | None = None, nSkySources: int | None = None,
                          noiseRatio: float | None = None, seconds: float = 0.0,
                          message: str = "") -> None:
        """Store what batch ``run`` did with one data ID (replacing an earlier record)."""
        self.registry.recordBatchResult(run, dataId, {
            "status": status, "quality": quality, "n_dia_sources": nDiaSources,
            "n_positive": nPositive, "n_negative": nNegative, "n_dipoles": nDipoles,
            "n_sky_sources": nSkySources,
            "noise_ratio": None if noiseRatio is None else float(noiseRatio),
            "seconds": float(seconds), "message": message})

    def batchResults(self, run: str | None = None) -> Table:
        """The recorded batch results (of one run, or all) as a table, in recording order.

        Counts and the noise ratio are masked where a run recorded none (a failure).
        """
        rows = self.registry.batchResults(run)
        table = Table()
        for name in _RESULT_COLUMNS:
            values = [row[name] for row in rows]
            if name in _RESULT_NUMBERS:
                table[name] = MaskedColumn([0 if v is None else v for v in values],
                                           mask=[v is None for v in values],
                                           dtype=_RESULT_NUMBERS[name])
            else:
                table[name] = np.array(["" if v is None else str(v) for v in values], dtype=str)
        return table

    # Consistency ---------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems between the registry and the files; an empty list when consistent.

        Reported: a registered dataset whose file is missing or has another
        size than registered; a dataset file nobody registered; a temporary file
        left by a writer that no longer runs.
        """
        problems = []
        registered = set()
        for row in self.registry.select():
            path = self.root / row["path"]
            registered.add(path)
            if not path.is_file():
                problems.append(f"{path}: registered as {row['dataset_type']} {row['data_id']} "
                                "but missing")
            elif path.stat().st_size != row["size"]:
                problems.append(f"{path}: {path.stat().st_size} bytes, registered with "
                                f"{row['size']}")
        stale = set(staleTemporaries(self.root))
        for path in sorted(self.root.rglob("*")):
            if path.parent == self.root or not path.is_file() or ".tmp-" in path.name:
                continue
            if path not in registered:
                problems.append(f"{path}: not registered")
        problems += [f"{path}: temporary file of a writer that no longer runs"
                     for path in sorted(stale)]
        return problems

    def removeStaleTemporaries(self) -> list[Path]:
        """Delete the temporary files of writers on this host that no longer run."""
        removed = []
        for path in staleTemporaries(self.root):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def _located(self, name: str, dataId: Mapping[str, Any]) -> tuple[DatasetType, dict, Path]:
        kind = _datasetType(name)
        dataId = kind.normalize(dataId)
        row = self.registry.find(kind.name, dataId)
        if row is None:
            count = len(self.registry.select(datasets.c.dataset_type == kind.name))
            raise RepositoryError(f"{self.root}: no {kind.name} {formatDataId(dataId)} "
                                  f"({count} {kind.name} datasets registered; list them with "
                                  f"`diffim repo query {self.root} {kind.name}`)")
        path = self.root / row["path"]
        if not path.is_file():
            raise RepositoryError(f"{path}: {kind.name} {formatDataId(dataId)} is registered but "
                                  "its file is missing (see `diffim repo check`)")
        return kind, dataId, path


def _datasetType(name: str) -> DatasetType:
    try:
        return datasetType(name)
    except InputError as exc:
        raise RepositoryError(str(exc)) from None



def _checkStorage(obj: Any, kind: DatasetType) -> None:
    expected = {"exposure": Exposure, "table": Table, "yaml": SkyMap,
                "file": bytes}[kind.storage]
    if not isinstance(obj, expected):
        raise InputError(f"a {kind.name} must be a {expected.__name__} (got "
                         f"{type(obj).__name__})")


def _write(obj: Any, kind: DatasetType, path: Path,
           header: Mapping[str, Any] | None = None) -> None:
    if kind.storage == "exposure":
        writeExposure(obj, path, overwrite=True, header=header)
    elif kind.storage == "table":
        writeTable(obj, path, overwrite=True, header=header)
    elif kind.storage == "file":
        with atomic_write(path, overwrite=True) as tmp:
            tmp.write_bytes(obj)
    else:
        write_text_atomic(path, yaml.safe_dump(obj.toDict(), sort_keys=False))


def _transfer(source: Path, path: Path, transfer: str) -> None:
    """Put ``source`` at ``path`` (replacing it) by copy, move or symbolic link, atomically."""
    if not source.is_file():
        raise InputError(f"{source}: no such file to ingest")
    with atomic_write(path, overwrite=True) as tmp:
        if transfer == "copy":
            shutil.copyfile(source, tmp)
        elif transfer == "move":
            shutil.move(source, tmp)
        else:
            tmp.symlink_to(source.absolute())
