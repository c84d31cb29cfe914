"""Judge a pip-audit JSON report for CI: ``pip_audit_report.py REPORT EXIT_CODE UNCHECKED_MODE``.

Exit 1 when a package has a known vulnerability (pip-audit already dropped the advisories
ignored on its command line), and when packages could not be checked unless UNCHECKED_MODE is
"warn"; exit 0 otherwise. A missing or unreadable report counts as "could not be checked".
See .ci/pip-audit.
"""

from __future__ import annotations

import json
import sys


def main(path: str, pip_audit_rc: int, unchecked_mode: str) -> int:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        print(f"pip-audit: no report (exit {pip_audit_rc}): the advisory data was out of reach.")
        return 0 if unchecked_mode == "warn" else 1

    deps = data.get("dependencies", [])
    editable = [d for d in deps if "editable" in (d.get("skip_reason") or "")]
    unchecked = [d for d in deps if d.get("skip_reason") and d not in editable]
    vulnerable = [d for d in deps if d.get("vulns")]
    checked = len(deps) - len(unchecked) - len(editable)
    print(f"pip-audit: {checked} installed packages checked, {len(unchecked)} could not be.")
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            aliases = ", ".join(vuln.get("aliases") or []) or "-"
            print(
                f"  VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} ({aliases}); "
                f"fixed in {fixes}"
            )
    if unchecked:
        names = ", ".join(d["name"] for d in unchecked[:10])
        more = f" and {len(unchecked) - 10} more" if len(unchecked) > 10 else ""
        print(f"  not checked: {names}{more}")
        print(f"  first reason: {unchecked[0]['skip_reason']}")
    if vulnerable:
        print(
            "pip-audit: FAILED. Upgrade the packages above, or list the advisory with a reason "
            "in .ci/pip-audit-ignore.txt when no fix can be taken yet."
        )
        return 1
    if unchecked and unchecked_mode != "warn":
        print(
            "pip-audit: FAILED, packages could not be checked (CIVICGRID_PIP_AUDIT_UNCHECKED=warn "
            "only where PyPI is known to be out of reach)."
        )
        return 1
    if unchecked:
        print("pip-audit: WARNING, unchecked packages let through (CIVICGRID_PIP_AUDIT_UNCHECKED).")
    else:
        print("pip-audit: no known vulnerabilities.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
