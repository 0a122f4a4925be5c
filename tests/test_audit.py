"""The dependency audit's policy: fixable vulnerabilities fail, the rest warn."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("audit", REPO / "tools" / "audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def report(*dependencies: dict) -> dict:
    return {"dependencies": list(dependencies), "fixes": []}


CLEAN = {"name": "orjson", "version": "3.10.0", "vulns": []}
FIXABLE = {"name": "aiohttp", "version": "3.9.0", "vulns": [
    {"id": "GHSA-test-0001", "fix_versions": ["3.9.4"], "description": "x"}]}  # fmt: skip
UNFIXED = {"name": "lxml", "version": "6.0.0", "vulns": [
    {"id": "PYSEC-test-2", "fix_versions": [], "description": "y"}]}  # fmt: skip
SKIPPED = {"name": "spacy", "skip_reason": "Dependency not found on PyPI"}


def test_a_fixable_vulnerability_fails_the_audit():
    lines, status = audit.summarize(report(CLEAN, FIXABLE))
    assert status == 1
    assert "  VULNERABLE aiohttp 3.9.0: GHSA-test-0001 (fixed in 3.9.4)" in lines


def test_unfixed_and_unauditable_packages_warn():
    lines, status = audit.summarize(report(CLEAN, UNFIXED, SKIPPED))
    assert status == 0
    assert any("no fix released yet" in line for line in lines)
    assert any("1 packages could not be audited" in line for line in lines)
    assert lines[0] == "pip-audit: 2 of 3 pinned packages audited"


def test_strict_mode_fails_when_packages_could_not_be_audited():
    assert audit.summarize(report(CLEAN, SKIPPED), strict=True)[1] == 1
    assert audit.summarize(report(CLEAN), strict=True) == (
        ["pip-audit: 1 of 1 pinned packages audited", "audit: passed, no known vulnerabilities"],
        0,
    )


def test_skipped_packages_pinned_at_their_latest_release_are_audited_from_project_pages():
    pages = {
        "spacy": {"info": {"version": "3.8.0"}, "vulnerabilities": []},
        "lxml": {
            "info": {"version": "6.0.0"},
            "vulnerabilities": [{"id": "GHSA-test-3", "fixed_in": ["6.0.1"]}],
        },
        "numpy": {"info": {"version": "2.5.0"}, "vulnerabilities": []},  # pinned lower
    }
    skipped = [
        {"name": name, "skip_reason": "Dependency not found on PyPI"}
        for name in ("spacy", "lxml", "numpy", "gone")
    ]
    pins = {"spacy": "3.8.0", "lxml": "6.0.0", "numpy": "2.4.6", "gone": "1.0"}
    full = report(CLEAN, *skipped)
    assert audit.fill_from_project_pages(full, pins, fetch=pages.get) == 2
    lines, status = audit.summarize(full)
    assert status == 1
    assert lines[0] == "pip-audit: 3 of 5 pinned packages audited"
    assert "  VULNERABLE lxml 6.0.0: GHSA-test-3 (fixed in 6.0.1)" in lines


def test_pins_are_read_from_the_lock_file(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# pinned\nOrjson==3.10.0\nboolean.py==5.0\nuvloop==0.21.0 ; sys_platform != 'win32'\n"
    )
    assert audit.read_pins(lock) == {"orjson": "3.10.0", "boolean-py": "5.0", "uvloop": "0.21.0"}
