"""Where the top-level folders (templates, policies, migrations) are found.

In a checkout (editable install, Docker image) they sit at the repository root; a wheel carries
them inside the package under ``identity/_resources`` (see ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    bundled = _PACKAGE / "_resources" / name
    if bundled.is_dir():
        return bundled
    checkout = _PACKAGE.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"cannot find the {name!r} folder next to the identity package")


def static_dir() -> Path:
    return _PACKAGE / "web" / "static"
