"""Model specs: pydantic validation, YAML/JSON loading with located errors, HF config import."""

from pathlib import Path


def package_path(*parts: str) -> Path:
    """A file or folder shipped inside the package (``data/``, ``model_specs/``). pip installs
    moecalc as plain files, so this is a path beside the package's modules; importlib.resources
    would cost ~18 ms of every start (it imports tempfile, random and zipfile)."""
    return Path(__file__).resolve().parent.parent.joinpath(*parts)
