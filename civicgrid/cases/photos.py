"""Photo intake: images only (checked by content, not by name), size-capped, EXIF stripped
in the public copy."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from civicgrid.core.errors import ErrorKind

from .errors import CaseError

if TYPE_CHECKING:
    from civicgrid.accounts.models import User

    from .models import CasePhoto

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class CheckedPhoto:
    name: str
    original: bytes
    public: bytes
    content_type: str
    width: int
    height: int


def photo_file_for(photo: CasePhoto, *, viewer: User | None, full: bool) -> tuple[FieldFile, str]:
    """Which stored file of a photo a viewer gets, and its content type: the original upload
    for staff who see the full record, the re-encoded public copy (no EXIF) for everyone else."""
    if full and viewer is not None and viewer.is_authenticated and viewer.is_staff_role:
        return photo.original, photo.content_type
    return photo.public, "image/jpeg"


def check_photo(upload: IO[bytes], *, name: str = "photo", field: str = "photos") -> CheckedPhoto:
    """Validate one upload and make its public copy.

    Refuses anything that Pillow does not decode as JPEG, PNG or WebP, files over
    CIVICGRID_PHOTO_MAX_BYTES and images over CIVICGRID_PHOTO_MAX_PIXELS. The public copy is
    re-encoded as JPEG from the pixels alone (orientation applied first), so EXIF, GPS and
    any trailing payload are gone.
    """
    max_bytes = settings.CIVICGRID_PHOTO_MAX_BYTES
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CaseError(
            CaseError.Code.PHOTO_TOO_LARGE,
            _("The photo %(name)s is larger than %(mb)s MB.")
            % {"name": name, "mb": max_bytes // (1024 * 1024)},
            field=field,
            kind=ErrorKind.TOO_LARGE,
        )
    if not data:
        raise CaseError(
            CaseError.Code.BAD_PHOTO,
            _("The photo %(name)s is empty.") % {"name": name},
            field=field,
        )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            width, height = probe.size
            probe.verify()
        if fmt not in ALLOWED_FORMATS:
            raise UnidentifiedImageError(fmt)
        if width * height > settings.CIVICGRID_PHOTO_MAX_PIXELS:
            raise CaseError(
                CaseError.Code.PHOTO_TOO_LARGE,
                _("The photo %(name)s has too many pixels (%(w)s × %(h)s).")
                % {"name": name, "w": width, "h": height},
                field=field,
                kind=ErrorKind.TOO_LARGE,
            )
        with Image.open(io.BytesIO(data)) as source:
            pixels = ImageOps.exif_transpose(source).convert("RGB")
            pixels.thumbnail((2048, 2048))
            out = io.BytesIO()
            pixels.save(out, format="JPEG", quality=85, optimize=True)
    except CaseError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise CaseError(
            CaseError.Code.BAD_PHOTO,
            _("The file %(name)s is not a JPEG, PNG or WebP image.") % {"name": name},
            field=field,
            kind=ErrorKind.UNSUPPORTED_MEDIA,
        ) from None
    return CheckedPhoto(
        name=name,
        original=data,
        public=out.getvalue(),
        content_type=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
    )
