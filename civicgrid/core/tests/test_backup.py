"""`backup` and `restore` on the test database (SQLite file, or PostgreSQL with DATABASE_URL).

Both commands work on the connection's own settings (the per-run test database) and on
MEDIA_ROOT, which each test points at a directory of its own.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder

from civicgrid.cases.models import Case, CasePhoto
from civicgrid.cases.tests.factories import World, build_world, photo, submit
from civicgrid.core.models import AuditChainHead, AuditRecord
from civicgrid.core.services import audit_record, audit_seal, audit_verify

pytestmark = pytest.mark.django_db(transaction=True)

ENGINE = connection.vendor
OTHER_ENGINE = "postgresql" if ENGINE == "sqlite" else "sqlite"
DATABASE_FILE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


# --------------------------------------------------------------------------- helpers


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def table_counts() -> dict[str, int]:
    """Rows per table of civicgrid's apps, counted through the ORM."""
    counts = {}
    for config in apps.get_app_configs():
        if config.name.startswith("civicgrid."):
            for model in config.get_models(include_auto_created=True):
                counts[model._meta.db_table] = model._base_manager.count()
    return counts


def chain_head() -> tuple[int, int, str]:
    head = AuditChainHead.objects.get(pk=1)
    return head.last_record_id, head.last_seq, head.last_hash


def media_state(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def read_manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return dict(json.load(member))


def rewrite(
    archive: Path,
    target: Path,
    *,
    manifest: dict[str, Any] | None = None,
    manifest_bytes: bytes | None = None,
    replace: dict[str, bytes] | None = None,
    rename: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    add: dict[str, bytes] | None = None,
) -> Path:
    """A copy of ``archive`` with members changed, as a damaged or forged backup would be."""
    replace = replace or {}
    rename = rename or {}
    with tarfile.open(archive) as source, tarfile.open(target, "w") as out:
        for member in source.getmembers():
            if member.name in drop:
                continue
            data = source.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]  # a file member
            if member.name == "manifest.json" and manifest is not None:
                data = json.dumps(manifest).encode()
            if member.name == "manifest.json" and manifest_bytes is not None:
                data = manifest_bytes
            data = replace.get(member.name, data)
            member.name = rename.get(member.name, member.name)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data) if member.isfile() else None)
        for name, data in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return target


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def world(media_root: Path) -> World:
    """The test world with three cases (two with a photo), the audit log sealed."""
    world = build_world()
    submit(world, photos=[photo()])
    submit(world, category=world.categories["light"], description="路灯不亮", photos=[photo()])
    submit(world, category=world.categories["manhole"], description="井盖缺失")
    audit_seal()
    return world


@pytest.fixture
def archive(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "backups" / "site.tar"
    run("backup", "--output", str(path))
    return path


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


# --------------------------------------------------------------------------- round trip


def test_restore_brings_back_the_rows_the_audit_chain_and_the_photos(world, media_root, tmp_path):
    # given a backup of the world
    counts, head, media = table_counts(), chain_head(), media_state(media_root)
    archive = tmp_path / "backups" / "site.tar"
    run("backup", "--output", str(archive))
    # … and changes after it: a new case with a photo, a deleted case, a lost and a stray file
    submit(world, photos=[photo(name="later.png")])
    Case.objects.filter(pk=Case.objects.order_by("pk").first().pk).delete()  # type: ignore[union-attr]  # three cases exist
    audit_record(actor=None, action="test.after_backup")
    audit_seal()
    first_photo = media_root / str(CasePhoto.objects.order_by("pk").first().original)  # type: ignore[union-attr]  # photos exist
    first_photo.unlink()
    (media_root / "stray.txt").write_bytes(b"not in the backup")
    assert table_counts() != counts
    assert chain_head() != head

    # when
    output = run("restore", str(archive), "--yes")

    # then
    assert table_counts() == counts
    assert chain_head() == head
    assert audit_verify().ok
    assert media_state(media_root) == media
    lines = output.splitlines()
    assert lines[0].startswith(f"Restored {archive} (made ")
    assert lines[1:] == [
        f"Checked: row counts of {len(counts)} tables, the audit chain head (seq {head[1]}) "
        f"and the whole chain, {len(media)} media files.",
        "OK",
    ]


def test_a_backup_taken_while_the_site_writes_restores_consistently(world, tmp_path):
    # given a writer appending audit rows without pause
    stop, started = threading.Event(), threading.Event()

    def write() -> None:
        try:
            while not stop.is_set():
                audit_record(actor=None, action="test.concurrent")
                started.set()
        finally:
            connections.close_all()

    writer = threading.Thread(target=write)
    writer.start()
    started.wait(30)
    archive = tmp_path / "busy.tar"

    # when: backed up in the middle of it, then restored
    try:
        run("backup", "--output", str(archive))
    finally:
        stop.set()
        writer.join()
    output = run("restore", str(archive), "--yes")

    # then: the rows restored are exactly those the manifest counted from the same snapshot
    assert output.endswith("OK\n")
    assert AuditRecord.objects.count() == read_manifest(archive)["row_counts"]["core_auditrecord"]
    assert AuditRecord.objects.filter(action="test.concurrent").exists()


def test_backup_prints_the_archive_and_a_summary(world, media_root, tmp_path):
    # given
    counts, head = table_counts(), chain_head()
    archive = tmp_path / "out" / "b.tar"
    photo_bytes = sum(len(data) for data in media_state(media_root).values())

    # when
    output = run("backup", "--output", str(archive))

    # then
    lines = output.splitlines()
    assert re.fullmatch(rf"Backup written: {re.escape(str(archive))} \(\d+\.\d KiB\)\.", lines[0])
    assert lines[1:] == [
        f"Database ({ENGINE}): {sum(counts.values())} rows in {len(counts)} tables.",
        f"Media: 4 files ({photo_bytes} B).",
        f"Audit chain head: seq {head[1]}, row {head[0]}, hash {head[2]}; 0 unsealed.",
    ]
    assert archive.stat().st_mode & 0o777 == 0o600


def test_the_manifest_describes_the_backup(world, media_root, archive):
    # given
    counts, head = table_counts(), chain_head()
    applied = MigrationRecorder(connection).applied_migrations()

    # when
    manifest = read_manifest(archive)

    # then
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[0] == DATABASE_FILE[ENGINE]
    assert names[-1] == "manifest.json"
    assert sorted(n for n in names if n.startswith("media/")) == sorted(
        f"media/{name}" for name in media_state(media_root)
    )
    assert manifest["format"] == "civicgrid-backup"
    assert manifest["engine"] == ENGINE
    assert manifest["civicgrid_version"] == "0.1.0"
    assert manifest["row_counts"] == counts
    assert manifest["audit"] == {
        "last_record_id": head[0],
        "last_seq": head[1],
        "last_hash": head[2],
        "unsealed_count": 0,
    }
    assert manifest["migrations"]["cases"] == max(name for app, name in applied if app == "cases")
    assert set(manifest["migrations"]) == {app for app, _name in applied}
    assert manifest["media"] == {
        "files": 4,
        "bytes": sum(len(data) for data in media_state(media_root).values()),
    }
    assert manifest["database"]["file"] == DATABASE_FILE[ENGINE]


def test_backup_counts_unsealed_audit_rows(world, tmp_path):
    # given two rows the sealer has not chained yet
    audit_record(actor=None, action="test.a")
    audit_record(actor=None, action="test.b")
    archive = tmp_path / "b.tar"

    # when
    run("backup", "--output", str(archive))

    # then
    assert read_manifest(archive)["audit"]["unsealed_count"] == 2
    assert AuditRecord.objects.filter(seal_seq__isnull=True).count() == 2  # backup seals nothing


def test_backup_into_the_default_directory_uses_a_timestamped_name(world, settings, tmp_path):
    # given
    settings.VAR_DIR = tmp_path / "var"

    # when
    first = run("backup").splitlines()[0]
    second = run("backup").splitlines()[0]

    # then
    made = sorted(p.name for p in (tmp_path / "var" / "backups").iterdir())
    assert len(made) == 2
    assert re.fullmatch(r"civicgrid-backup-\d{8}-\d{6}(-2)?\.tar", made[0])
    assert made[0] in first + second
    assert made[1] in first + second


def test_backup_into_a_new_directory_named_with_a_final_slash(world, tmp_path):
    # when
    run("backup", "--output", f"{tmp_path}/nightly/")

    # then
    made = [p.name for p in (tmp_path / "nightly").iterdir()]
    assert len(made) == 1
    assert re.fullmatch(r"civicgrid-backup-\d{8}-\d{6}\.tar", made[0])


def test_backup_refuses_to_overwrite_a_file(world, tmp_path):
    # given
    existing = tmp_path / "b.tar"
    existing.write_bytes(b"keep me")

    # when
    error = refused("backup", "--output", str(existing))

    # then
    assert (str(error), error.returncode) == (f"{existing} exists already.", 2)
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "media"]


def test_restore_into_an_empty_database_needs_no_yes(archive, media_root):
    # given a database emptied of civicgrid's rows
    counts, head = table_counts(), chain_head()
    call_command("flush", "--noinput", stdout=StringIO())
    assert sum(table_counts().values()) == 0

    # when
    output = run("restore", str(archive))

    # then
    assert output.endswith("OK\n")
    assert table_counts() == counts
    assert chain_head() == head


def test_restore_names_what_differs_from_the_manifest(archive, tmp_path):
    # given a manifest that claims one case more than the archived database holds
    manifest = read_manifest(archive)
    manifest["row_counts"]["cases_case"] += 1
    forged = rewrite(archive, tmp_path / "forged.tar", manifest=manifest)

    # when
    error = refused("restore", str(forged), "--yes")

    # then
    assert error.returncode == 1
    assert str(error) == (
        "The restored data differs from the backup's manifest:\n"
        "- table cases_case: 3 rows, the backup has 4"
    )


# --------------------------------------------------------------------------- refusals


def assert_unchanged(counts: dict[str, int], media: dict[str, bytes], media_root: Path) -> None:
    assert table_counts() == counts
    assert media_state(media_root) == media


def test_restore_refuses_a_database_that_is_not_empty_without_yes(archive, world, media_root):
    # given a case submitted after the backup
    submit(world)
    counts, media = table_counts(), media_state(media_root)

    # when
    error = refused("restore", str(archive))

    # then
    assert error.returncode == 2
    assert str(error).startswith(f"The database is not empty ({sum(counts.values())} rows in ")
    assert str(error).endswith("Restoring replaces all of it: repeat with --yes to do so.")
    assert_unchanged(counts, media, media_root)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda archive, tmp: tmp / "missing.tar",
            "There is no file at {path}.",
            id="missing-file",
        ),
        pytest.param(
            lambda archive, tmp: (tmp / "notes.tar").write_text("hello") and tmp / "notes.tar",
            "{path} is not a civicgrid backup (not a tar archive).",
            id="not-a-tar",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(archive, tmp / "x.tar", drop=("manifest.json",)),
            "{path} is not a civicgrid backup, or an incomplete one: it has no manifest.json.",
            id="no-manifest",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(archive, tmp / "x.tar", manifest_bytes=b'{"format": '),
            "The manifest of {path} is not valid JSON: "
            "Expecting value: line 1 column 12 (char 11).",
            id="manifest-not-json",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(archive, tmp / "x.tar", manifest_bytes=b'["a list"]'),
            "{path} is not a civicgrid backup.",
            id="manifest-not-ours",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(
                archive,
                tmp / "x.tar",
                manifest={**read_manifest(archive), "row_counts": {"cases_case": "three"}},
            ),
            "The manifest of {path} is damaged: “row_counts” must map table names to numbers.",
            id="manifest-bad-counts",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(
                archive,
                tmp / "x.tar",
                manifest={k: v for k, v in read_manifest(archive).items() if k != "audit"},
            ),
            "The manifest of {path} is damaged: “audit” is missing.",
            id="manifest-without-audit",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(
                archive, tmp / "x.tar", replace={DATABASE_FILE[ENGINE]: b"garbage"}
            ),
            "The database file in {path} is damaged: its checksum does not match.",
            id="damaged-database",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(archive, tmp / "x.tar", add={"../escape.txt": b"x"}),
            "{path} holds an unexpected entry: ../escape.txt.",
            id="unexpected-entry",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(
                archive,
                tmp / "x.tar",
                manifest={
                    **read_manifest(archive),
                    "engine": OTHER_ENGINE,
                    "database": {
                        **read_manifest(archive)["database"],
                        "file": DATABASE_FILE[OTHER_ENGINE],
                    },
                },
                rename={DATABASE_FILE[ENGINE]: DATABASE_FILE[OTHER_ENGINE]},
            ),
            f"The backup is of a {OTHER_ENGINE} database; this site uses {ENGINE}.",
            id="other-engine",
        ),
        pytest.param(
            lambda archive, tmp: rewrite(
                archive,
                tmp / "x.tar",
                manifest={
                    **read_manifest(archive),
                    "migrations": {
                        **read_manifest(archive)["migrations"],
                        "cases": "9999_from_the_future",
                    },
                },
            ),
            "The backup's database has migration cases.9999_from_the_future, which this version"
            " of civicgrid does not know: restore it with the version that made it (0.1.0) or a"
            " later one.",
            id="newer-schema",
        ),
    ],
)
def test_restore_refuses_bad_input_and_changes_nothing(
    archive, world, media_root, tmp_path, make, message
):
    # given a database changed since the backup, so a restore would show
    submit(world, photos=[photo(name="after.png")])
    counts, media = table_counts(), media_state(media_root)
    bad = make(archive, tmp_path)

    # when
    error = refused("restore", str(bad), "--yes")

    # then
    assert str(error) == message.format(path=bad)
    assert error.returncode == 2
    assert_unchanged(counts, media, media_root)
    assert [p.name for p in media_root.parent.iterdir() if p.name.startswith(".civicgrid")] == []


@pytest.mark.skipif(ENGINE != "postgresql", reason="pg_dump is only used on PostgreSQL")
def test_backup_without_pg_dump_says_so(world, tmp_path, monkeypatch):
    # given
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    # when
    error = refused("backup", "--output", str(tmp_path / "b.tar"))

    # then
    assert error.returncode == 1
    assert str(error) == (
        "pg_dump was not found on PATH. Install the PostgreSQL client tools of the server's"
        " major version (e.g. the Debian package postgresql-client-15)."
    )
    assert not (tmp_path / "b.tar").exists()
