"""Nothing downloads at run time: enrichment works with no network at all."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import codec
from tests.conftest import REPO


def _can_unshare_network() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not _can_unshare_network(), reason="needs `unshare -n` (root or user namespaces)"
)
def test_enrich_runs_without_any_network():
    sample = REPO / "samples" / "02-doha-ceasefire-north-kivu.txt"
    wirestream = Path(sys.executable).with_name("wirestream")
    done = subprocess.run(
        ["unshare", "-n", str(wirestream), "enrich", str(sample)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    (event,) = [codec.loads(line) for line in done.stdout.splitlines()]
    assert event["entities"] and event["topic"] and event["language"] == "en"
