"""Names stored in both languages, shown in the reader's.

A model with ``name`` (Chinese, required) and ``name_en`` (English, may be blank) mixes in
:class:`BilingualName` and templates show ``{{ obj.display_name }}`` (or ``{{ obj }}``): the
English name on an English page when there is one, else the Chinese name. The choice is made
when the page is drawn, from the language active then, so one stored row serves both.
"""

from __future__ import annotations

from django.utils.translation import get_language


def reader_wants_english() -> bool:
    return (get_language() or "").startswith("en")


def pick_name(name: str, name_en: str) -> str:
    """``name_en`` for an English reader when it is set, else ``name``."""
    return name_en if name_en and reader_wants_english() else name


class BilingualName:
    """``display_name``: the name in the reader's language (needs ``name`` and ``name_en``)."""

    name: str
    name_en: str

    @property
    def display_name(self) -> str:
        return pick_name(self.name, self.name_en)
