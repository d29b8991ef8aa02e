"""Shared test fixtures: the TensorFlow-written sample files in ../shared/fixtures and a private cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("Y8M_SHARED", ROOT.parent / "shared"))
TF_WRITTEN = SHARED / "fixtures" / "tf_written"
TF_WRITTEN_2017 = SHARED / "fixtures" / "tf_written_2017"


def pytest_configure(config: pytest.Config) -> None:
    if not (TF_WRITTEN / "manifest.json").exists():
        raise pytest.UsageError(f"TensorFlow-written fixtures not found at {TF_WRITTEN}: "
                                "set Y8M_SHARED to the shared/ folder")


@pytest.fixture(autouse=True, scope="session")
def _private_index_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Keep the record-index cache out of the working tree.
    os.environ["Y8M_CACHE_DIR"] = str(tmp_path_factory.mktemp("index-cache"))


def load_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture(scope="session")
def manifest() -> dict:
    return load_manifest(TF_WRITTEN)


@pytest.fixture(scope="session")
def manifest_2017() -> dict:
    return load_manifest(TF_WRITTEN_2017)
