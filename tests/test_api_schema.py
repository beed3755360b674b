"""Schemathesis against the served /openapi.json: no 5xx, every status and body as documented.

Bounded (few examples per operation, fixed seed) so it takes about a minute. Its JUnit report goes to
artifacts/schemathesis-junit.xml.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FAULTS_FULL
from .fixtures.api_data import KEY, ROOT

pytest_plugins = ["tests.fixtures.api_server"]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("fixtures") / "schemathesis.toml"


@pytest.mark.faults
def test_the_api_keeps_to_its_schema(serve, tmp_path, fault_row):
    server = serve()  # its own copy of the index: the fuzzer adds and deletes documents
    command = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json",
        "--checks", "all", "--max-examples", "150" if FAULTS_FULL else "10", "--seed", "1", "--workers", "1",
        "--header", f"Authorization: Bearer {KEY}",
        "--report", "junit", "--report-junit-path", str(ROOT / "artifacts" / "schemathesis-junit.xml"),
    ]
    # Run elsewhere, so its cache folder (.schemathesis/) is not left in the checkout.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    output = result.stdout[result.stdout.find("===") :]
    print(output)  # the summary, for `pytest -rP`
    cases = re.search(r"(\d+) generated", output)
    server_errors = len(re.findall(r"Server error", output))
    fault_row(f"schemathesis over the OpenAPI schema, stateful links included ({cases.group(1) if cases else '?'} cases)",
              f"{server_errors} 5xx, exit {result.returncode}", "0 5xx", result.returncode == 0)
    # Failing cases can carry megabytes of generated body: report their lines cut short.
    assert result.returncode == 0, "\n".join(line[:300] for line in output.splitlines())
