"""`make audit`: pip-audit over requirements.lock, summarized, with Wirestream's policy.

- A known vulnerability with a fixed release: listed, exit 1 (CI fails: upgrade the pin).
- A known vulnerability without a fix yet: listed as a warning, exit 0.
- Packages the vulnerability service could not be asked about (no network, a mirror without
  the service): counted as a warning, exit 0, unless AUDIT_STRICT=1.

Usage: python tools/audit.py REPORT.json (pip-audit's `--format json` output).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def summarize(report: dict[str, Any], *, strict: bool = False) -> tuple[list[str], int]:
    """Lines to print and the exit status."""
    dependencies = report.get("dependencies", [])
    fixable, unfixed, skipped = [], [], []
    for dependency in dependencies:
        if "skip_reason" in dependency:
            skipped.append(dependency)
            continue
        for vulnerability in dependency.get("vulns", []):
            entry = (dependency["name"], dependency["version"], vulnerability)
            (fixable if vulnerability.get("fix_versions") else unfixed).append(entry)
    audited = len(dependencies) - len(skipped)
    lines = [f"pip-audit: {audited} of {len(dependencies)} pinned packages audited"]
    for name, version, vulnerability in fixable:
        fixes = ", ".join(vulnerability["fix_versions"])
        lines.append(f"  VULNERABLE {name} {version}: {vulnerability['id']} (fixed in {fixes})")
    for name, version, vulnerability in unfixed:
        lines.append(f"  warning: {name} {version}: {vulnerability['id']} (no fix released yet)")
    if skipped:
        lines.append(
            f"  warning: {len(skipped)} packages could not be audited "
            f"(e.g. {skipped[0]['skip_reason']}); is the vulnerability service reachable?"
        )
    status = 1 if fixable or (strict and skipped) else 0
    if status:
        lines.append("audit: FAILED")
    elif unfixed or skipped:
        lines.append("audit: passed, with the warnings above")
    else:
        lines.append("audit: passed, no known vulnerabilities")
    return lines, status


def main(argv: list[str]) -> int:
    report = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    lines, status = summarize(report, strict=os.environ.get("AUDIT_STRICT") == "1")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
