#!/usr/bin/env python3
"""The two commands of the README, with nothing but Python 3.11+ installed.

    python3 tasks.py demo   # install what is needed, run the simulated community
    python3 tasks.py test   # install what is needed, run lint, type check and all tests

Both create (or refresh) the virtual environment ``.venv`` from the pinned
``requirements.lock`` — only when the lock or ``pyproject.toml`` changed, so a second run
starts at once. Extra arguments go to the command: ``python3 tasks.py test -k notify``.

``python3 tasks.py install`` only installs; ``python3 tasks.py lock`` re-pins every
dependency after pyproject.toml changed.
Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".townsquare-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file may run on an older Python
        print(f"Townsquare needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
        return 2
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[argv[0]](argv[1:])


def ensure_environment() -> None:
    """Create .venv and install the locked dependencies plus Townsquare itself (editable)."""
    wanted = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating the virtual environment in .venv …", flush=True)
        try:
            venv.create(VENV, with_pip=True, clear=VENV.exists())
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(
                f"Could not create .venv ({exc}). On Debian/Ubuntu install python3-venv first."
            )
    print("Installing the pinned dependencies …", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "install", "-r", str(LOCK)])
    run([*pip, "install", "--no-deps", "-e", str(ROOT)])
    STAMP.write_text(wanted)


def run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def demo(args: list[str]) -> int:
    ensure_environment()
    townsquare = str(BIN / "townsquare")
    os.execv(townsquare, [townsquare, "demo", *args])  # noqa: S606 - our own entry point
    return 0  # not reached


def test(args: list[str]) -> int:
    ensure_environment()
    python = str(BIN / "python")
    steps = [
        ("ruff check", [python, "-m", "ruff", "check", "src", "tests", "tasks.py"]),
        ("ruff format", [python, "-m", "ruff", "format", "--check", "src", "tests", "tasks.py"]),
        ("mypy", [python, "-m", "mypy"]),
        ("pytest", [python, "-m", "pytest", *args]),
    ]
    for name, command in steps:
        print(f"==> {name}", flush=True)
        result = subprocess.run(command, cwd=ROOT, check=False)
        if result.returncode != 0:
            print(f"==> {name} failed (exit {result.returncode})", flush=True)
            return result.returncode
    return 0


def lock(_args: list[str]) -> int:
    ensure_environment()
    uv = [str(BIN / "python"), "-m", "uv"]
    run(
        [
            *uv,
            "pip",
            "compile",
            "pyproject.toml",
            "--extra",
            "dev",
            "--universal",
            "--python-version",
            "3.11",
            "--no-header",
            "-o",
            str(LOCK),
        ]
    )
    return 0


def install(_args: list[str]) -> int:
    ensure_environment()
    print(f"Ready: {BIN / 'townsquare'}")
    return 0


COMMANDS = {"demo": demo, "test": test, "install": install, "lock": lock}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
