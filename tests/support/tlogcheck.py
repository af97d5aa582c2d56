"""Go's transparency-log verifier (``tests/tools/tlogcheck``), built once per test session.

It checks signed checkpoints, inclusion and consistency proofs with golang.org/x/mod/sumdb/tlog
and sumdb/note (the Go checksum database's implementation) and rebuilds stored hashes itself.
Without the Debian packages golang-go and golang-golang-x-mod-dev the tests that need it fail
rather than skip: without it nothing independent vouches for the format.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "tlogcheck"
GO_PACKAGES = "golang-go and golang-golang-x-mod-dev"
# Where golang-golang-x-mod-dev installs golang.org/x/mod; elsewhere, name another GOPATH.
GOPATH = os.environ.get("IDENTITY_TEST_GOPATH", "/usr/share/gocode")


@pytest.fixture(scope="session")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"the Go toolchain is missing: apt-get install {GO_PACKAGES}", pytrace=False)
    if not (Path(GOPATH) / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        pytest.fail(
            f"golang.org/x/mod is not under GOPATH={GOPATH}: apt-get install {GO_PACKAGES}",
            pytrace=False,
        )
    binary = tmp_path_factory.mktemp("tlogcheck") / "tlogcheck"
    # GOPATH mode keeps the build offline: no go.mod, no module proxy. A developer's GOFLAGS
    # (say -mod=vendor) would be refused in that mode, so it is cleared.
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOFLAGS": "", "CGO_ENABLED": "0"}
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=TOOL,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(
            f"building {TOOL} failed (are {GO_PACKAGES} installed?):\n{built.stderr}",
            pytrace=False,
        )
    return binary


def run_tlogcheck(tool: Path, doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [str(tool)], input=json.dumps(doc), capture_output=True, text=True, timeout=30, check=False
    )
    return done.returncode, json.loads(done.stdout)
