"""Asset staging: every Lambda asset and layer is built here, without Docker, into ``.build/``.

- ``deps`` layer: ``requirements.txt`` installed for arm64 / CPython 3.12 with
  ``pip --platform ... --only-binary=:all:``, cached by a hash of ``requirements.txt`` (and of the
  pip target), so repeated synths do not download anything.
- ``shared`` layer: the project's ``shared/`` package under ``python/shared``.
- one asset per function: only ``functions/<name>/`` (plus ``functions/__init__.py``), so the
  handler keeps its import path ``functions.<name>.handler``. The migrate function's asset also
  carries ``migrations/``; the openapi function's also carries the OpenAPI document, generated
  here from every route function's resolver (``GENERATED``).

Staged folders are named by a hash of their content and created by an atomic rename, so two
synths running at once (pytest-xdist workers) never see a half-written folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.12"
PIP_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}


# Files a function's asset carries besides its folder, generated from the code at synth time by a
# module run as ``python -m <module> <file>`` (a subprocess: infra imports no function code). The
# openapi function serves the document merged from every route function's resolver, and its asset
# holds none of those functions: it ships the document they produce instead (the same at every
# synth of the same code; functions/openapi/document.py serves it when it is there).
GENERATED: dict[str, tuple[str, str]] = {"openapi": ("openapi.json", "functions.openapi.document")}


class AssetError(Exception):
    pass


def _files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not _SKIPPED_PARTS.intersection(p.relative_to(root).parts) and p.suffix != ".pyc"
    )


def content_hash(sources: Iterable[tuple[str, Path]], extra: str = "") -> str:
    """A stable hash of files (by relative path and bytes) under each (prefix, folder-or-file)."""
    digest = hashlib.sha256(extra.encode())
    for prefix, source in sources:
        paths = [source] if source.is_file() else _files(source)
        for path in paths:
            rel = prefix if source.is_file() else f"{prefix}/{path.relative_to(source).as_posix()}"
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _publish(tmp: Path, final: Path) -> None:
    """Move a fully built folder into place; if another process won the race, keep theirs."""
    try:
        tmp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True, kw_only=True)
class AssetBuilder:
    """Stages assets under ``build_dir``. ``repo_root`` is injectable for tests."""

    repo_root: Path = REPO_ROOT
    build_dir: Path = REPO_ROOT / ".build"

    # ---- function code -------------------------------------------------------------------------

    def function_dir(self, name: str) -> Path:
        return self.repo_root / "functions" / name

    def _stage(self, kind: str, name: str, sources: list[tuple[str, Path]]) -> Path:
        digest = content_hash(sources)
        final = self.build_dir / kind / f"{name}-{digest}"
        if final.is_dir():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
        for rel, source in sources:
            target = tmp / rel
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
            else:
                shutil.copytree(source, target, ignore=_IGNORED)
        _publish(tmp, final)
        return final

    def function_code(self, name: str, *, with_migrations: bool = False) -> lambda_.Code:
        """Code for ``functions/<name>/``: the handler is ``functions.<name>.handler.handler``."""
        folder = self.function_dir(name)
        if not (folder / "handler.py").is_file():
            raise AssetError(
                f"functions/{name}/handler.py is missing: every entry of shared/routes.py needs a "
                "folder under functions/ whose handler.py exposes handler(event, context)"
            )
        sources: list[tuple[str, Path]] = [
            ("functions/__init__.py", self.repo_root / "functions" / "__init__.py"),
            (f"functions/{name}", folder),
        ]
        if with_migrations:
            sources.append(("migrations", self.repo_root / "migrations"))
        if name not in GENERATED:
            return lambda_.Code.from_asset(str(self._stage("assets", name, sources)))
        file, module = GENERATED[name]
        self.build_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".generated-{name}-", dir=self.build_dir) as tmp:
            out = Path(tmp) / file
            self._generate(module, out, what=f"{file} for functions/{name}")
            sources.append((f"functions/{name}/{file}", out))
            return lambda_.Code.from_asset(str(self._stage("assets", name, sources)))

    def _generate(self, module: str, out: Path, *, what: str) -> None:
        """Run ``python -m module OUT`` in the repository, with this interpreter."""
        command = [sys.executable, "-m", module, str(out)]
        result = subprocess.run(  # noqa: S603 - our own module, with this interpreter
            command, cwd=self.repo_root, capture_output=True, text=True, check=False, env=dict(os.environ)
        )
        if result.returncode != 0 or not out.is_file():
            raise AssetError(f"generating {what} failed:\n{result.stderr[-4000:]}")

    def migrations_hash(self) -> str:
        """Changes whenever a migration file changes: the migration custom resource re-runs then."""
        return content_hash([("migrations", self.repo_root / "migrations")])

    # ---- layers --------------------------------------------------------------------------------

    def shared_layer_code(self) -> lambda_.Code:
        return lambda_.Code.from_asset(
            str(self._stage("layers", "shared", [("python/shared", self.repo_root / "shared")]))
        )

    def deps_layer_dir(self) -> Path:
        """``requirements.txt`` installed for Lambda (arm64, CPython 3.12); built once per content."""
        requirements = self.repo_root / "requirements.txt"
        digest = content_hash(
            [("requirements.txt", requirements)], extra=f"{PYTHON_VERSION}|{','.join(PIP_PLATFORMS)}"
        )
        final = self.build_dir / "layers" / f"deps-{digest}"
        if final.is_dir():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".deps-", dir=final.parent))
        platforms = [arg for platform in PIP_PLATFORMS for arg in ("--platform", platform)]
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", *platforms, "--only-binary=:all:", "--python-version", PYTHON_VERSION,
            "--implementation", "cp", "-r", str(requirements), "-t", str(tmp / "python"),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=dict(os.environ))  # noqa: S603
        if result.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise AssetError(f"building the dependencies layer failed:\n{result.stderr[-4000:]}")
        # Console scripts carry this machine's interpreter path; the layer never runs them.
        shutil.rmtree(tmp / "python" / "bin", ignore_errors=True)
        _publish(tmp, final)
        return final

    def deps_layer_code(self) -> lambda_.Code:
        folder = self.deps_layer_dir()
        # The folder name is already a hash of what it was built from: hashing 90 MB again is waste.
        return lambda_.Code.from_asset(
            str(folder),
            asset_hash=folder.name,
            asset_hash_type=cdk.AssetHashType.CUSTOM,
        )
