"""The one error type of the cases app."""

from __future__ import annotations

import enum

from civicgrid.core.errors import CivicError


class CaseError(CivicError):
    """Errors of the case loop: each refusal names what is wrong and, for input, where."""

    class Code(enum.StrEnum):
        NOT_FOUND = "cases.not_found"
        WRONG_ROLE = "cases.wrong_role"
        WRONG_STATE = "cases.wrong_state"
        REASON_REQUIRED = "cases.reason_required"
        PHOTO_REQUIRED = "cases.photo_required"
        NOTE_REQUIRED = "cases.note_required"
        TRANSFER_LIMIT = "cases.transfer_limit"
        EXTENSION_LIMIT = "cases.extension_limit"
        REQUEST_PENDING = "cases.request_pending"
        NO_PENDING_REQUEST = "cases.no_pending_request"
        UNKNOWN_CATEGORY = "cases.unknown_category"
        UNKNOWN_UNIT = "cases.unknown_unit"
        BAD_INPUT = "cases.bad_input"
        BAD_LOCATION = "cases.bad_location"
        OUTSIDE_GRID = "cases.outside_grid"
        BAD_PHOTO = "cases.bad_photo"
        PHOTO_TOO_LARGE = "cases.photo_too_large"
        ALREADY_RATED = "cases.already_rated"
        ALREADY_FOLLOWING = "cases.already_following"
        BAD_CATEGORY_DATA = "cases.bad_category_data"
        DUPLICATE_SUBMISSION = "cases.duplicate_submission"
        BAD_ATTRIBUTE = "cases.bad_attribute"
