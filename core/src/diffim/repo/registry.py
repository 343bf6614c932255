"""The registry of a data repository: which datasets exist, where, and batch results.

An SQL database through SQLAlchemy: an SQLite file inside the repository by
default, or any SQLAlchemy URL (e.g. ``postgresql+psycopg://host/db``). Every
change is one transaction; a write transaction starts with its first write, so
that concurrent SQLite writers (batch workers) wait for each other instead of
failing.
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table,
                        Text, UniqueConstraint, create_engine, delete, event, insert, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..errors import InputError
from .datasets import DIMENSIONS, dataIdKey

#: Seconds an SQLite writer waits for another to finish before giving up.
SQLITE_TIMEOUT = 120.0

_metadata = MetaData()



def _dimensionColumns() -> list[Column]:
    """One nullable column per data-ID key."""
    return [Column(key, Integer if kind is int else String(64))
            for key, kind in DIMENSIONS.items()]


datasets = Table(
    "dataset", _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_type", String(128), nullable=False),
    Column("data_id", String(255), nullable=False),
    *_dimensionColumns(),
    Column("path", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("registered", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset_type", "data_id", name="one_dataset_per_data_id"),
    UniqueConstraint("path", name="one_dataset_per_file"),
)

batchResults = Table(
    "batch_result", _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run", String(128), nullable=False),
    Column("data_id", String(255), nullable=False),
    *_dimensionColumns(),
    Column("status", String(32), nullable=False),
    Column("quality", String(32)),
    Column("n_dia_sources", Integer),
    Column("n_positive", Integer),
    Column("n_negative", Integer),
    Column("n_dipoles", Integer),
    Column("n_sky_sources", Integer),
    Column("noise_ratio", Float),
    Column("seconds", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("finished", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run", "data_id", name="one_result_per_run_and_data_id"),
)


class RegistryError(InputError):
    """The registry database cannot be opened or refuses a change."""


class DatasetExistsError(RegistryError):
    """A dataset is already registered under this data ID."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _sqliteSetup(engine: Engine) -> None:
    """WAL journal (readers do not block the writer) and a long busy timeout."""

    @event.listens_for(engine, "connect")
    def _connect(connection, record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_TIMEOUT * 1000)}")
        cursor.close()


class Registry:
    """Datasets and batch results in an SQL database.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL.
    create : bool
        Create the tables (a new repository); otherwise they must exist.
    """

    def __init__(self, url: str, create: bool = False) -> None:
        self.url = url
        try:
            self.engine = create_engine(url, connect_args={"timeout": SQLITE_TIMEOUT}
                                        if url.startswith("sqlite") else {})
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise RegistryError(f"registry {url}: cannot open ({_reason(exc)}); expected an "
                                "SQLAlchemy URL such as sqlite:///path or "
                                "postgresql+psycopg://host/db") from None
        if url.startswith("sqlite"):
            _sqliteSetup(self.engine)
        try:
            if create:
                _metadata.create_all(self.engine)
            else:
                with self.engine.connect() as connection:
                    connection.execute(select(datasets.c.id).limit(1))
        except SQLAlchemyError as exc:
            raise RegistryError(f"registry {url}: not usable ({_reason(exc)}); expected a "
                                "repository made by `diffim repo create`") from None

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def register(self, rows: Iterable[Mapping[str, Any]], replace: bool) -> None:
        """Register datasets in one transaction.

        Parameters
        ----------
        rows : iterable of mapping
            Each with ``dataset_type``, ``data_id`` (a normalised data ID dict),
            ``path`` (relative to the root) and ``size``.
        replace : bool
            Replace registrations of the same dataset type and data ID; otherwise
            one that exists is an error and nothing is registered.

        Raises
        ------
        DatasetExistsError
            If a dataset is registered already and ``replace`` is False.
        """
        records = [_datasetRecord(row) for row in rows]
        try:
            with self.engine.begin() as connection:
                if replace:
                    for record in records:
                        connection.execute(delete(datasets).where(
                            (datasets.c.dataset_type == record["dataset_type"])
                            & (datasets.c.data_id == record["data_id"])))
                        connection.execute(delete(datasets).where(
                            datasets.c.path == record["path"]))
                if records:
                    connection.execute(insert(datasets), records)
        except IntegrityError:
            names = ", ".join(f"{r['dataset_type']} {r['data_id']}" for r in records)
            raise DatasetExistsError(f"registry {self.url}: already registered: {names} (pass "
                                     "overwrite=True to replace)") from None

    def find(self, datasetType: str, dataId: Mapping[str, Any]) -> dict[str, Any] | None:
        """The registration of one dataset, or None."""
        query = select(datasets).where((datasets.c.dataset_type == datasetType)
                                       & (datasets.c.data_id == dataIdKey(dataId)))
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else dict(row)

    def select(self, clause=None) -> list[dict[str, Any]]:
        """Registrations matching an SQLAlchemy ``clause`` over :data:`datasets`, in order."""
        query = select(datasets)
        if clause is not None:
            query = query.where(clause)
        query = query.order_by(datasets.c.dataset_type, *[datasets.c[key] for key in DIMENSIONS])
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def unregister(self, datasetType: str, dataId: Mapping[str, Any]) -> None:
        """Remove one registration (nothing if there is none)."""
        with self.engine.begin() as connection:
            connection.execute(delete(datasets).where(
                (datasets.c.dataset_type == datasetType)
                & (datasets.c.data_id == dataIdKey(dataId))))

    def recordBatchResult(self, run: str, dataId: Mapping[str, Any],
                          values: Mapping[str, Any]) -> None:
        """Store (or replace) the result of batch ``run`` for one data ID."""
        record = {"run": run, "data_id": dataIdKey(dataId), "finished": _now(),
                  **{key: dataId.get(key) for key in DIMENSIONS}, **values}
        with self.engine.begin() as connection:
            connection.execute(delete(batchResults).where(
                (batchResults.c.run == run) & (batchResults.c.data_id == record["data_id"])))
            connection.execute(insert(batchResults), [record])

    def batchResults(self, run: str | None = None) -> list[dict[str, Any]]:
        """Batch results, of one run or all, in the order they were recorded."""
        query = select(batchResults)
        if run is not None:
            query = query.where(batchResults.c.run == run)
        with self.engine.connect() as connection:
            return [dict(row) for row in
                    connection.execute(query.order_by(batchResults.c.id)).mappings()]


def _datasetRecord(row: Mapping[str, Any]) -> dict[str, Any]:
    dataId = row["data_id"]
    return {"dataset_type": row["dataset_type"], "data_id": dataIdKey(dataId),
            **{key: dataId.get(key) for key in DIMENSIONS},
            "path": row["path"], "size": int(row["size"]), "registered": _now()}


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.split())[:200]
