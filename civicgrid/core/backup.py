"""Backup and restore of a deployment: the database and the photos in one archive.

A backup is one uncompressed tar file (mode 0600: it holds personal data)::

    database.sqlite3 | database.pgdump   the database at one instant
    media/...                             the photos (MEDIA_ROOT)
    manifest.json                         written last: an archive without it is incomplete

The manifest records when and by which version the backup was made, the engine, the latest
applied migration per app, the row count of every table of civicgrid's apps and the audit
chain head, all read from the same snapshot as the database copy, plus a checksum of the
database file and the number and size of the media files.

- **SQLite**: an online copy through SQLite's backup API (``sqlite3.Connection.backup``) in one
  step, which reads a consistent snapshot while the server keeps writing (WAL). The copy is
  switched to the rollback journal so that the archived file stands alone.
- **PostgreSQL**: ``pg_dump --format=custom`` on a snapshot exported by a REPEATABLE READ
  transaction, in which the manifest's counts and audit head are read too. Connection
  settings come from ``DATABASES`` and go to the client tools through ``PG*`` environment
  variables, the password in ``PGPASSWORD``, never on the command line.

The database is copied before the photos: photo files are only ever added, so every photo the
database names is in the archive. Restoring replaces the database and the media directory and
then checks the result against the manifest (:func:`backup_restore`). Neither writes an audit
row: a backup writes nothing, and a restore returns the log to exactly its archived state,
which its check proves; both are logged instead.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import CoreError, ErrorKind
from .health import pending_migrations
from .models import AuditChainHead, AuditRecord
from .services import audit_verify

logger = logging.getLogger(__name__)

FORMAT = "civicgrid-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MEDIA_DIR = "media"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# Our own temporary files (readiness probes, staged restores) are never archived.
OWN_TEMP_PREFIX = ".civicgrid-"
# DATABASES OPTIONS that libpq also reads from the environment.
PG_OPTION_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class BackupCode(enum.StrEnum):
    """Codes of the :class:`~civicgrid.core.errors.CoreError` raised here."""

    BAD_ARCHIVE = "core.backup_bad_archive"  # missing, not a backup, damaged
    BAD_OUTPUT = "core.backup_bad_output"  # the output file exists already
    ENGINE_MISMATCH = "core.backup_engine_mismatch"
    NEWER_SCHEMA = "core.backup_newer_schema"  # made by a version with unknown migrations
    TARGET_NOT_EMPTY = "core.restore_target_not_empty"
    UNSUPPORTED = "core.backup_unsupported"  # another engine, an in-memory database
    TOOL_MISSING = "core.backup_tool_missing"  # pg_dump / pg_restore not on PATH
    TOOL_FAILED = "core.backup_tool_failed"


# Refusals that change nothing and name a problem of the input (command exit status 2).
INPUT_ERRORS = frozenset(
    {
        BackupCode.BAD_ARCHIVE,
        BackupCode.BAD_OUTPUT,
        BackupCode.ENGINE_MISMATCH,
        BackupCode.NEWER_SCHEMA,
        BackupCode.TARGET_NOT_EMPTY,
        BackupCode.UNSUPPORTED,
    }
)


def _error(code: BackupCode, message: str, *, field: str | None = None) -> CoreError:
    kind = ErrorKind.CONFLICT if code == BackupCode.TARGET_NOT_EMPTY else ErrorKind.INVALID
    return CoreError(code, message, field=field, kind=kind)


# --------------------------------------------------------------------------- shared reading


def our_tables() -> list[str]:
    """The tables of civicgrid's own apps (with their many-to-many tables), sorted."""
    tables = set()
    for config in apps.get_app_configs():
        if not config.name.startswith("civicgrid."):
            continue
        for model in config.get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy:
                tables.add(model._meta.db_table)
    return sorted(tables)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _describe(cursor: Any, existing: set[str]) -> dict[str, Any]:
    """Row counts, migration state and audit head, read through ``cursor`` (one snapshot)."""
    counts = {}
    for table in our_tables():
        if table in existing:
            cursor.execute(f"SELECT COUNT(*) FROM {_quote(table)}")  # noqa: S608  # model table names
            counts[table] = int(cursor.fetchone()[0])
    migrations: dict[str, str] = {}
    if "django_migrations" in existing:
        cursor.execute("SELECT app, name FROM django_migrations")
        for app, name in cursor.fetchall():
            migrations[app] = max(name, migrations.get(app, ""))
    head_table = AuditChainHead._meta.db_table
    record_table = AuditRecord._meta.db_table
    audit: dict[str, Any] = {"last_record_id": 0, "last_seq": 0, "last_hash": ""}
    if head_table in existing:
        cursor.execute(
            f"SELECT last_record_id, last_seq, last_hash FROM {_quote(head_table)} WHERE id = 1"  # noqa: S608  # model table name
        )
        row = cursor.fetchone()
        if row is not None:
            audit = {"last_record_id": int(row[0]), "last_seq": int(row[1]), "last_hash": row[2]}
    audit["unsealed_count"] = 0
    if record_table in existing:
        cursor.execute(f"SELECT COUNT(*) FROM {_quote(record_table)} WHERE seal_seq IS NULL")  # noqa: S608  # model table name
        audit["unsealed_count"] = int(cursor.fetchone()[0])
    return {"row_counts": counts, "migrations": dict(sorted(migrations.items())), "audit": audit}


def _describe_live(connection: BaseDatabaseWrapper) -> dict[str, Any]:
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        return _describe(cursor, existing)


def _engine(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor not in DATABASE_MEMBERS:
        raise _error(
            BackupCode.UNSUPPORTED,
            _("Backups support SQLite and PostgreSQL, not %(vendor)s.")
            % {"vendor": connection.vendor},
        )
    if connection.vendor == "sqlite":
        _sqlite_path(connection)  # refuses an in-memory database
    return connection.vendor


def _sqlite_path(connection: BaseDatabaseWrapper) -> Path:
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or "mode=memory" in name:
        raise _error(BackupCode.UNSUPPORTED, _("An in-memory SQLite database cannot be backed up."))
    return Path(name)


def _media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def _media_files(root: Path) -> list[Path]:
    """Regular files under ``root`` in a stable order, without our own temporary files."""
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(OWN_TEMP_PREFIX))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(OWN_TEMP_PREFIX) or path.is_symlink() or not path.is_file():
                continue
            found.append(path)
    return found


def _media_summary(root: Path) -> dict[str, int]:
    files = _media_files(root)
    return {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version() -> str:
    try:
        return metadata.version("civicgrid")
    except metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- PostgreSQL tools


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise _error(
            BackupCode.TOOL_MISSING,
            _(
                "%(tool)s was not found on PATH. Install the PostgreSQL client tools of the"
                " server's major version (e.g. the Debian package postgresql-client-15)."
            )
            % {"tool": name},
        )
    return path


def _pg_env(settings_dict: dict[str, Any]) -> dict[str, str]:
    """The environment for pg_dump / pg_restore: connection settings as libpq variables."""
    env = dict(os.environ)
    for key, var in (
        ("NAME", "PGDATABASE"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
    ):
        value = settings_dict.get(key)
        if value:
            env[var] = str(value)
    for option, var in PG_OPTION_ENV.items():
        value = (settings_dict.get("OPTIONS") or {}).get(option)
        if value:
            env[var] = str(value)
    return env


def _run_tool(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603  # fixed tool, our arguments
    if result.returncode != 0:
        detail = result.stderr.strip() or result.stdout.strip()
        raise _error(
            BackupCode.TOOL_FAILED,
            _("%(tool)s failed (exit status %(status)d): %(detail)s")
            % {"tool": Path(argv[0]).name, "status": result.returncode, "detail": detail},
        )


# --------------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]


def backup_create(*, output: str | Path | None = None) -> BackupResult:
    """Write a backup archive of the default database and MEDIA_ROOT; return its path.

    ``output`` is the archive's path, or a directory (existing, or ending with ``/``) for a
    timestamped name (``civicgrid-backup-YYYYMMDD-HHMMSS.tar``); the default directory is
    ``VAR_DIR/backups``.
    Writes nothing to the database. The archive is written to a temporary file in the same
    directory and renamed when complete, so a failed or interrupted backup never leaves a
    file that looks finished. Raises :class:`CoreError` (:class:`BackupCode`) when the output
    exists, the engine is not supported, or pg_dump is missing or fails.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    engine = _engine(connection)
    target = _output_path(output)
    fd, partial_name = tempfile.mkstemp(
        prefix=OWN_TEMP_PREFIX + "backup-", suffix=".partial", dir=target.parent
    )
    partial = Path(partial_name)
    try:
        with (
            os.fdopen(fd, "wb") as handle,
            tempfile.TemporaryDirectory(prefix=OWN_TEMP_PREFIX, dir=target.parent) as work,
        ):
            database_file = Path(work) / DATABASE_MEMBERS[engine]
            if engine == "sqlite":
                description = _sqlite_snapshot(connection, database_file)
            else:
                description = _pg_snapshot(connection, database_file)
            manifest = _write_archive(handle, engine, database_file, description)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            raise _error(
                BackupCode.BAD_OUTPUT,
                _("%(path)s exists already.") % {"path": target},
                field="output",
            )
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    logger.info("Backup written to %s", target)
    return BackupResult(path=target, manifest=manifest)


def default_backup_dir() -> Path:
    var_dir = getattr(settings, "VAR_DIR", None) or Path(settings.BASE_DIR) / "var"
    return Path(var_dir) / "backups"


def _output_path(output: str | Path | None) -> Path:
    text = "" if output is None else str(output)
    directory = default_backup_dir() if output is None else Path(text)
    if output is not None and not directory.is_dir() and not text.endswith(("/", os.sep)):
        name = directory.name
        directory = directory.parent
    else:
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        name = f"civicgrid-backup-{stamp}.tar"
        serial = 1
        while (directory / name).exists():
            serial += 1
            name = f"civicgrid-backup-{stamp}-{serial}.tar"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / name
    if target.exists():
        raise _error(
            BackupCode.BAD_OUTPUT, _("%(path)s exists already.") % {"path": target}, field="output"
        )
    return target


def _sqlite_snapshot(connection: BaseDatabaseWrapper, copy: Path) -> dict[str, Any]:
    source_path = _sqlite_path(connection)
    if not source_path.is_file():
        raise _error(
            BackupCode.UNSUPPORTED,
            _("There is no database at %(path)s.") % {"path": source_path},
        )
    source = sqlite3.connect(source_path, timeout=20)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)  # all pages in one step: one consistent snapshot
        target.execute("PRAGMA journal_mode=DELETE")
        cursor = target.cursor()
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        existing = {row[0] for row in cursor.fetchall()}
        return _describe(cursor, existing)
    finally:
        target.close()
        source.close()


def _pg_snapshot(connection: BaseDatabaseWrapper, dump: Path) -> dict[str, Any]:
    pg_dump = _tool("pg_dump")
    snapshot_connection = connection.copy()
    try:
        with snapshot_connection.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            existing = set(snapshot_connection.introspection.table_names(cursor))
            description = _describe(cursor, existing)
            _run_tool(
                [
                    pg_dump,
                    "--format=custom",
                    "--no-password",
                    f"--snapshot={snapshot}",
                    f"--file={dump}",
                ],
                _pg_env(connection.settings_dict),
            )
            cursor.execute("ROLLBACK")
    finally:
        snapshot_connection.close()
    return description


def _write_archive(
    handle: IO[bytes], engine: str, database_file: Path, description: dict[str, Any]
) -> dict[str, Any]:
    media_files = 0
    media_bytes = 0
    root = _media_root()
    with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(database_file, arcname=DATABASE_MEMBERS[engine], filter=_anonymous)
        for path in _media_files(root):
            arcname = f"{MEDIA_DIR}/{path.relative_to(root).as_posix()}"
            try:
                with path.open("rb") as media:
                    info = _anonymous(tar.gettarinfo(arcname=arcname, fileobj=media))
                    tar.addfile(info, media)
            except FileNotFoundError:
                continue  # removed since the walk (a deleted case's photo)
            media_files += 1
            media_bytes += info.size
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": timezone.now().isoformat(timespec="seconds"),
            "civicgrid_version": _version(),
            "engine": engine,
            "database": {
                "file": DATABASE_MEMBERS[engine],
                "bytes": database_file.stat().st_size,
                "sha256": _sha256(database_file),
            },
            **description,
            "media": {"files": media_files, "bytes": media_bytes},
        }
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(body)
        info.mtime = int(timezone.now().timestamp())
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(body))
    return manifest


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# --------------------------------------------------------------------------- reading a backup


def _bad(message: str) -> CoreError:
    return _error(BackupCode.BAD_ARCHIVE, message, field="path")


@contextmanager
def _open_backup(path: Path) -> Iterator[tuple[tarfile.TarFile, dict[str, Any]]]:
    """The open archive and its checked manifest; refuses anything that is not a backup."""
    if not path.is_file():
        raise _bad(_("There is no file at %(path)s.") % {"path": path})
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115  # closed by the with below
    except (tarfile.TarError, OSError):
        raise _bad(
            _("%(path)s is not a civicgrid backup (not a tar archive).") % {"path": path}
        ) from None
    with tar:
        try:
            member = tar.getmember(MANIFEST_NAME)
            raw = tar.extractfile(member)
            body = raw.read() if raw is not None else b""
        except KeyError:
            raise _bad(
                _("%(path)s is not a civicgrid backup, or an incomplete one: it has no %(name)s.")
                % {"path": path, "name": MANIFEST_NAME}
            ) from None
        except (tarfile.TarError, OSError):
            raise _bad(_("%(path)s is damaged.") % {"path": path}) from None
        try:
            manifest = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _bad(
                _("The manifest of %(path)s is not valid JSON: %(error)s.")
                % {"path": path, "error": exc}
            ) from None
        _check_manifest(manifest, path)
        _check_members(tar, manifest, path)
        yield tar, manifest


def _check_manifest(manifest: Any, path: Path) -> None:
    def fail(what: str) -> CoreError:
        return _bad(
            _("The manifest of %(path)s is damaged: %(what)s.") % {"path": path, "what": what}
        )

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(_("%(path)s is not a civicgrid backup.") % {"path": path})
    if manifest.get("format_version") != FORMAT_VERSION:
        raise fail(_("unknown format version %(v)r") % {"v": manifest.get("format_version")})
    if manifest.get("engine") not in DATABASE_MEMBERS:
        raise fail(_("unknown engine %(engine)r") % {"engine": manifest.get("engine")})
    database = manifest.get("database")
    if not (
        isinstance(database, dict)
        and database.get("file") == DATABASE_MEMBERS[manifest["engine"]]
        and isinstance(database.get("sha256"), str)
    ):
        raise fail(_("“database” is missing or wrong"))
    for key in ("row_counts", "migrations", "audit", "media"):
        if not isinstance(manifest.get(key), dict):
            raise fail(_("“%(key)s” is missing") % {"key": key})
    if not all(
        isinstance(k, str) and isinstance(v, int) for k, v in manifest["row_counts"].items()
    ):
        raise fail(_("“row_counts” must map table names to numbers"))
    audit = manifest["audit"]
    if not (
        isinstance(audit.get("last_seq"), int)
        and isinstance(audit.get("last_record_id"), int)
        and isinstance(audit.get("last_hash"), str)
    ):
        raise fail(_("“audit” must hold last_seq, last_record_id and last_hash"))
    media = manifest["media"]
    if not (isinstance(media.get("files"), int) and isinstance(media.get("bytes"), int)):
        raise fail(_("“media” must hold files and bytes"))


def _check_members(tar: tarfile.TarFile, manifest: dict[str, Any], path: Path) -> None:
    database_name = manifest["database"]["file"]
    names = set()
    for member in tar.getmembers():
        names.add(member.name)
        if member.name in (MANIFEST_NAME, database_name) and member.isfile():
            continue
        if member.name.startswith(MEDIA_DIR + "/") and (member.isfile() or member.isdir()):
            continue
        raise _bad(
            _("%(path)s holds an unexpected entry: %(name)s.") % {"path": path, "name": member.name}
        )
    if database_name not in names:
        raise _bad(_("%(path)s has no %(name)s.") % {"path": path, "name": database_name})


def _check_migrations_known(manifest: dict[str, Any]) -> None:
    known = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    for app, name in sorted(manifest["migrations"].items()):
        if (app, name) not in known:
            raise _error(
                BackupCode.NEWER_SCHEMA,
                _(
                    "The backup's database has migration %(app)s.%(name)s, which this version of"
                    " civicgrid does not know: restore it with the version that made it"
                    " (%(version)s) or a later one."
                )
                % {"app": app, "name": name, "version": manifest.get("civicgrid_version", "?")},
            )


# --------------------------------------------------------------------------- restore


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    differences: list[str]  # what the restored state does not match; empty when all match
    pending_migrations: list[str]  # migrations of this code the backup predates

    @property
    def ok(self) -> bool:
        return not self.differences


def backup_restore(*, path: Path, replace: bool = False) -> RestoreResult:
    """Replace the default database and MEDIA_ROOT with the backup at ``path``, then check.

    Before anything is changed the archive is checked: it must be a complete civicgrid backup
    of the same engine, its database file must match the manifest's checksum, it must not
    come from a version whose migrations this code does not know, and, unless ``replace``,
    the database must hold no rows in civicgrid's tables. Any of these raises
    :class:`CoreError` (:class:`BackupCode`) with nothing changed.

    The database is replaced first (SQLite: through the backup API into the database file, in
    one transaction; PostgreSQL: ``pg_restore --clean --if-exists --no-owner
    --single-transaction``), so a failure there also leaves everything as it was. The media
    directory is then swapped for the archived one, staged beside it. Stop the web and worker
    processes first: a restore under a running server is not detected.

    The result lists the differences between the restored state and the manifest (row counts,
    audit chain head, ``audit_verify``, media files); ``ok`` when there are none.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    engine = _engine(connection)
    with _open_backup(path) as (tar, manifest):
        if manifest["engine"] != engine:
            raise _error(
                BackupCode.ENGINE_MISMATCH,
                _("The backup is of a %(backup)s database; this site uses %(site)s.")
                % {"backup": manifest["engine"], "site": engine},
            )
        _check_migrations_known(manifest)
        if not replace:
            _refuse_if_not_empty(connection)
        with tempfile.TemporaryDirectory(prefix=OWN_TEMP_PREFIX + "restore-") as work:
            database_file = _extract_database(tar, manifest, Path(work), path)
            staged = _stage_media(tar, path)
            try:
                if engine == "sqlite":
                    _sqlite_restore(connection, database_file)
                else:
                    _pg_restore(connection, database_file)
            except BaseException:
                shutil.rmtree(staged, ignore_errors=True)
                raise
            _swap_media(staged)
    connection.close()
    logger.info("Restored the backup %s", path)
    return _verify(connection, manifest)


def _refuse_if_not_empty(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "sqlite" and not _sqlite_path(connection).exists():
        return
    counts = _describe_live(connection)["row_counts"]
    filled = {table: n for table, n in counts.items() if n}
    if filled:
        sample = ", ".join(f"{table}: {n}" for table, n in sorted(filled.items())[:3])
        raise _error(
            BackupCode.TARGET_NOT_EMPTY,
            _(
                "The database is not empty (%(rows)d rows in %(tables)d tables, e.g. %(sample)s)."
                " Restoring replaces all of it: repeat with --yes to do so."
            )
            % {"rows": sum(filled.values()), "tables": len(filled), "sample": sample},
        )


def _extract_database(
    tar: tarfile.TarFile, manifest: dict[str, Any], work: Path, path: Path
) -> Path:
    name = manifest["database"]["file"]
    try:
        tar.extract(name, path=work, filter="data")
    except (tarfile.TarError, OSError):
        raise _bad(_("%(path)s is damaged.") % {"path": path}) from None
    extracted = work / name
    if _sha256(extracted) != manifest["database"]["sha256"]:
        raise _bad(
            _("The database file in %(path)s is damaged: its checksum does not match.")
            % {"path": path}
        )
    return extracted


def _stage_media(tar: tarfile.TarFile, path: Path) -> Path:
    """Extract the archived media beside MEDIA_ROOT (same file system, so a rename swaps)."""
    root = _media_root()
    root.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=OWN_TEMP_PREFIX + "media-restore-", dir=root.parent))
    members = [m for m in tar.getmembers() if m.name.startswith(MEDIA_DIR + "/")]
    try:
        tar.extractall(path=staged, members=members, filter="data")
    except (tarfile.TarError, OSError):
        shutil.rmtree(staged, ignore_errors=True)
        raise _bad(_("The media files in %(path)s are damaged.") % {"path": path}) from None
    (staged / MEDIA_DIR).mkdir(exist_ok=True)
    return staged


def _swap_media(staged: Path) -> None:
    root = _media_root()
    new = staged / MEDIA_DIR
    old = staged / "previous"
    try:
        if root.exists():
            root.replace(old)
        new.replace(root)
    except OSError:
        # MEDIA_ROOT is a mount point (or on another device): move its contents instead.
        old.mkdir(exist_ok=True)
        root.mkdir(parents=True, exist_ok=True)
        for child in list(root.iterdir()):
            shutil.move(child, old / child.name)
        for child in list(new.iterdir()):
            shutil.move(child, root / child.name)
    shutil.rmtree(staged, ignore_errors=True)


def _sqlite_restore(connection: BaseDatabaseWrapper, database_file: Path) -> None:
    target_path = _sqlite_path(connection)
    connection.close()
    target_path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(database_file)
    target = sqlite3.connect(target_path, timeout=20)
    try:
        source.backup(target)  # one transaction on the target: all pages or none
    finally:
        target.close()
        source.close()


def _pg_restore(connection: BaseDatabaseWrapper, dump: Path) -> None:
    pg_restore = _tool("pg_restore")
    settings_dict = connection.settings_dict
    connection.close()
    _run_tool(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--no-password",
            f"--dbname={settings_dict['NAME']}",
            str(dump),
        ],
        _pg_env(settings_dict),
    )


def _verify(connection: BaseDatabaseWrapper, manifest: dict[str, Any]) -> RestoreResult:
    live = _describe_live(connection)
    differences = []
    expected_counts: dict[str, int] = manifest["row_counts"]
    found_counts: dict[str, int] = live["row_counts"]
    for table in sorted(set(expected_counts) | set(found_counts)):
        expected, found = expected_counts.get(table), found_counts.get(table)
        if expected != found:
            differences.append(
                _("table %(table)s: %(found)s rows, the backup has %(expected)s")
                % {
                    "table": table,
                    "found": _("none") if found is None else found,
                    "expected": _("none") if expected is None else expected,
                }
            )
    for key in ("last_seq", "last_record_id", "last_hash"):
        expected_value, found_value = manifest["audit"].get(key), live["audit"][key]
        if expected_value != found_value:
            differences.append(
                _("audit chain head %(key)s: %(found)s, the backup has %(expected)s")
                % {"key": key, "found": found_value, "expected": expected_value}
            )
    verification = audit_verify()
    if not verification.ok:
        differences.append(
            _("the audit chain is broken at row %(id)s: %(reason)s")
            % {"id": verification.broken_record_id, "reason": verification.reason}
        )
    media = _media_summary(_media_root())
    if media != {k: manifest["media"][k] for k in ("files", "bytes")}:
        differences.append(
            _("media: %(files)d files (%(bytes)d bytes), the backup has %(efiles)d (%(ebytes)d)")
            % {
                "files": media["files"],
                "bytes": media["bytes"],
                "efiles": manifest["media"]["files"],
                "ebytes": manifest["media"]["bytes"],
            }
        )
    return RestoreResult(
        manifest=manifest, differences=differences, pending_migrations=pending_migrations()
    )
