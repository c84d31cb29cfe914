"""Both languages ship complete: every message of the Chinese catalogue is translated."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[1] / "civicgrid" / "locale"


@pytest.mark.skipif(shutil.which("msgattrib") is None, reason="GNU gettext is not installed")
@pytest.mark.parametrize("flag", ["--untranslated", "--only-fuzzy"])
def test_the_chinese_catalogue_has_no_untranslated_or_fuzzy_messages(flag):
    po = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
    out = subprocess.run(["msgattrib", flag, str(po)], capture_output=True, text=True, check=True)
    ids = [line for line in out.stdout.splitlines() if line.startswith("msgid ")]
    assert ids == [], out.stdout[:2000]


def test_the_compiled_catalogue_is_used():
    with translation.override("zh-hans"):
        assert translation.gettext("Report a problem") == "上报问题"
        assert translation.gettext("Overdue") != "Overdue"
