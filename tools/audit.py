"""`make audit`: pip-audit over requirements.lock, summarized, with Wirestream's policy.

- A known vulnerability with a fixed release: listed, exit 1 (CI fails: upgrade the pin).
- A known vulnerability without a fix yet: listed as a warning, exit 0.
- Packages the vulnerability service could not be asked about (no network, a mirror without
  the service): counted as a warning, exit 0, unless AUDIT_STRICT=1.

pip-audit asks PyPI per release (`/pypi/NAME/VERSION/json`). Where only the project pages
(`/pypi/NAME/json`) answer, as behind some mirrors and proxies, a package pinned at its latest
release is audited from its project page, which lists that release's known vulnerabilities.

Usage: python tools/audit.py REPORT.json [requirements.lock] (pip-audit's `--format json`
output; with the lock file, the fallback above for the packages pip-audit skipped).
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROJECT_PAGE = "https://pypi.org/pypi/{name}/json"


def fetch_project(name: str) -> dict[str, Any] | None:
    """PyPI's JSON page of a project, or None if it cannot be had."""
    try:
        # A fixed https URL: no user-controlled scheme.
        url = PROJECT_PAGE.format(name=name)
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
            return json.load(response)
    except (OSError, ValueError):
        return None


def fill_from_project_pages(
    report: dict[str, Any],
    pins: dict[str, str],
    fetch: Callable[[str], dict[str, Any] | None] = fetch_project,
) -> int:
    """Audit the skipped packages pinned at their latest release from their project pages, in
    place; returns how many were."""
    skipped = [
        d for d in report.get("dependencies", []) if "skip_reason" in d and d["name"] in pins
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(fetch, [d["name"] for d in skipped]))
    filled = 0
    for dependency, page in zip(skipped, pages, strict=True):
        version = pins[canonical(dependency["name"])]
        if page is None or page.get("info", {}).get("version") != version:
            continue
        dependency.pop("skip_reason")
        dependency["version"] = version
        dependency["vulns"] = [
            {"id": v.get("id"), "fix_versions": v.get("fixed_in") or []}
            for v in page.get("vulnerabilities") or []
        ]
        filled += 1
    return filled


def canonical(name: str) -> str:
    """A project name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        name, separator, version = line.partition("==")
        if separator and not line.startswith("#"):
            pins[canonical(name.strip())] = version.split(";")[0].strip()
    return pins


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
        names = ", ".join(d["name"] for d in skipped[:10]) + (", …" if len(skipped) > 10 else "")
        lines.append(
            f"  warning: {len(skipped)} packages could not be audited ({names}; e.g. "
            f"{skipped[0]['skip_reason']}); is the vulnerability service reachable?"
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
    filled = fill_from_project_pages(report, read_pins(Path(argv[1]))) if len(argv) > 1 else 0
    lines, status = summarize(report, strict=os.environ.get("AUDIT_STRICT") == "1")
    if filled:
        lines.insert(1, f"  ({filled} of them from their PyPI project pages: pinned at the latest)")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
