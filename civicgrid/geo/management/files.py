"""What the geo import commands share: reading the file, finding the actor, and writing a
refused import's problems one per line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from civicgrid.geo.errors import GeoError


def read_file(path: Path) -> bytes:
    """The file's bytes, or a CommandError naming why it cannot be had."""
    if not path.is_file():
        raise CommandError(f"The file {path} does not exist or is not a file.")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"The file {path} cannot be read: {exc.strerror}.") from None


def actor_named(username: str | None) -> Any:
    """The user recorded in the audit log (None: the system), or a CommandError."""
    if not username:
        return None
    actor = get_user_model().objects.filter(username=username).first()
    if actor is None:
        raise CommandError(f"There is no user named {username}.")
    return actor


def refused(path: Path, exc: GeoError, stderr: Any) -> CommandError:
    """Write each problem of a refused import to ``stderr``; the error to raise for the file."""
    for problem in exc.details.get("problems", []):
        where = f"feature {problem['index']}" if problem["index"] is not None else "file"
        if problem.get("code"):
            where += f" (code {problem['code']})"
        stderr.write(f"{where}: [{problem['problem']}] {problem['message']}")
    return CommandError(f"{path}: {exc.message}")
