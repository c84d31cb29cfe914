"""The `civicgrid` console script: manage.py by a shorter name (`civicgrid verify-audit`)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.config.settings.base")
    from django.core.management import execute_from_command_line

    argv = [
        sys.argv[0],
        *(a.replace("-", "_") if i == 0 else a for i, a in enumerate(sys.argv[1:])),
    ]
    execute_from_command_line(argv)
