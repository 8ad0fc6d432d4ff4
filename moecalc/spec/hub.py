"""Hugging Face Hub ids as specs: ``org/name`` or ``org/name@revision``.

Resolution, through ``huggingface_hub`` and its cache layout:
1. the local cache first (``HF_HUB_CACHE``, else ``HF_HOME``/hub, else ~/.cache/huggingface/hub):
   a cached ``config.json`` of that revision is used without the network;
2. otherwise, unless offline (``--offline`` or ``HF_HUB_OFFLINE``), ``config.json`` is downloaded
   into that cache from ``HF_ENDPOINT`` (default huggingface.co) with ``HF_TOKEN``.

The checkpoint's safetensors headers (``checkpoint.py``) come from the cached files when the
snapshot holds them all, else from moecalc's copy of the headers in the Hub's assets cache
(``HF_HOME``/assets/moecalc, written on the first online read), else, online, from the Hub's
metadata API (HTTP range requests over each file's header; never the weights). A checkpoint that
cannot be read leaves the config-derived numbers and a warning; a config that cannot be had is
an error: one line for no network, 401 (private or gated), 404 and 429 (rate limited).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from moecalc.errors import MoecalcError

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})"
                    r"(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9_./-]{0,127}))?$")
SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".gguf", ".safetensors")
HEADERS_FILE = "safetensors-headers.json"


def is_hub_id(arg: str) -> bool:
    """``org/name[@revision]`` that is no file or folder here and has no spec file suffix."""
    match = HUB_ID.match(arg)
    return bool(match) and not match.group("repo").lower().endswith(SPEC_SUFFIXES) and not Path(arg).exists()


def offline_requested(flag: bool = False) -> bool:
    return flag or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "huggingface")


def cache_dir() -> Path:
    """huggingface_hub's own rule, read when called (tests and users set the variables late)."""
    return Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or _hf_home() / "hub")


def assets_dir() -> Path:
    return Path(os.environ.get("HF_ASSETS_CACHE") or _hf_home() / "assets")


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


@dataclass(frozen=True)
class HubSpec:
    repo: str
    revision: str | None
    commit: str | None            # the snapshot the config came from
    config_path: Path
    checkpoint: object | None     # checkpoint.Checkpoint
    notes: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.repo}@{self.commit[:12]}" if self.commit else self.repo


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


def _error(exc: Exception, repo: str, revision: str | None, what: str) -> MoecalcError:
    """One line for what went wrong talking to the Hub."""
    from huggingface_hub import errors

    if isinstance(exc, errors.LocalEntryNotFoundError):    # hf_hub_download's wrapper: the HTTP answer below it
        cause = exc.__cause__ or exc.__context__
        while cause is not None and not isinstance(cause, errors.HfHubHTTPError):
            cause = cause.__cause__ or cause.__context__
        exc = cause or exc
    status = getattr(getattr(exc, "response", None), "status_code", None)
    where = f"{endpoint()}"
    if isinstance(exc, errors.GatedRepoError):
        msg = f"gated repository ({status}): accept its terms on the Hub and set HF_TOKEN"
    elif isinstance(exc, errors.RevisionNotFoundError):
        msg = f"no revision {revision!r} on {where} (404)"
    elif isinstance(exc, errors.RepositoryNotFoundError):
        msg = (f"no such repository on {where}, or it is private: set HF_TOKEN (401)" if status == 401
               else f"no such repository on {where} ({status or 404})")
    elif isinstance(exc, (errors.RemoteEntryNotFoundError, errors.EntryNotFoundError)) and \
            not isinstance(exc, errors.LocalEntryNotFoundError):
        msg = f"the repository has no {what} (404)"
    elif isinstance(exc, errors.OfflineModeIsEnabled):
        msg = f"not in the Hugging Face cache ({cache_dir()}) and offline"
    elif isinstance(exc, errors.LocalEntryNotFoundError):
        msg = f"cannot reach {where} and {what} is not in the Hugging Face cache ({cache_dir()})"
    elif isinstance(exc, errors.HfHubHTTPError) and status == 429:
        msg = f"rate limited by {where} (429): wait, or set HF_TOKEN for a higher limit"
    elif isinstance(exc, errors.HfHubHTTPError):
        msg = f"{where} answered HTTP {status} for {what}"
    else:                           # the HTTP client's connection errors and timeouts, OSError
        msg = f"cannot reach {where} ({type(exc).__name__}) and {what} is not in the Hugging Face cache"
    return MoecalcError(msg, file=repo + (f"@{revision}" if revision else ""))


def _commit_of(path: Path) -> str | None:
    """The snapshot folder a cached file lies in: .../snapshots/<commit>/config.json."""
    parts = path.parts          # the last "snapshots": the cache's own path may hold the word too
    at = [i for i, p in enumerate(parts[:-1]) if p == "snapshots"]
    return parts[at[-1] + 1] if at else None


def _quiet_hub() -> None:
    """huggingface_hub without its side channels: no progress bars, no retry chatter on stderr
    (moecalc's errors are one line); telemetry is off unless asked (``checkpoint.py`` sets it
    before huggingface_hub is first imported)."""
    from moecalc.spec import checkpoint  # noqa: F401
    from huggingface_hub.utils import disable_progress_bars, logging as hf_logging

    disable_progress_bars()
    hf_logging.set_verbosity_error()


def resolve(arg: str, offline: bool = False) -> HubSpec:
    """The config of hub id ``arg`` (cache first, then the Hub) and its checkpoint headers."""
    _quiet_hub()
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    match = HUB_ID.match(arg)
    repo, revision = match.group("repo"), match.group("revision")
    offline = offline_requested(offline)
    try:
        cached = try_to_load_from_cache(repo, "config.json", cache_dir=str(cache_dir()), revision=revision)
    except Exception as exc:        # HFValidationError: a name the Hub does not allow (a..b, a--b, name.git)
        raise MoecalcError(f"not a valid Hub id ({exc})".splitlines()[0][:200], file=arg) from None
    if isinstance(cached, str):
        config = Path(cached)
    elif offline:
        raise MoecalcError(f"not in the Hugging Face cache ({cache_dir()}) and offline (--offline or HF_HUB_OFFLINE); "
                           f"run once online to cache its config.json", file=arg)
    else:
        try:
            config = Path(hf_hub_download(repo, "config.json", revision=revision, cache_dir=str(cache_dir()),
                                          endpoint=endpoint(), token=_token(), etag_timeout=10))
        except Exception as exc:        # huggingface_hub's errors and the HTTP client's, mapped to one line
            raise _error(exc, repo, revision, "config.json") from None
    commit = _commit_of(config)
    return HubSpec(repo, revision, commit, config, None, ())


def read_checkpoint(hub: HubSpec, config: dict, offline: bool = False):
    """(Checkpoint or None, notes): the repository's safetensors headers, from the cached files,
    moecalc's cached headers, or the Hub's metadata API; never the weights."""
    from moecalc.spec import checkpoint as ck

    layers = config.get("num_hidden_layers") if isinstance(config.get("num_hidden_layers"), int) else None
    bits = ck.quant_bits(config)
    snapshot = hub.config_path.parent
    try:
        local = ck.from_folder(snapshot, hub.label, layers, bits)
    except MoecalcError:
        local = None                    # a partly downloaded snapshot: the headers below
    if local is not None:
        return local, ()
    saved = assets_dir() / "moecalc" / hub.repo.replace("/", "--") / (hub.commit or "unknown") / HEADERS_FILE
    if saved.is_file():
        try:
            return ck.from_json(saved.read_text(encoding="utf-8"), hub.label, layers, bits), ()
        except (ValueError, KeyError, TypeError, AttributeError, OSError, MoecalcError):
            pass                        # a damaged copy: read again below
    if offline_requested(offline):
        return None, ("checkpoint headers not cached (offline): the config's count only",)
    from huggingface_hub import HfApi, errors

    try:
        meta = HfApi(endpoint=endpoint(), token=_token()).get_safetensors_metadata(
            hub.repo, revision=hub.commit or hub.revision, timeout=10)
    except errors.NotASafetensorsRepoError:
        return None, ("the repository holds no safetensors checkpoint: the config's count only",)
    except Exception as exc:            # the config came through; a header that does not is a warning
        return None, (f"checkpoint headers not read ({_error(exc, hub.repo, hub.revision, 'the headers').message}): "
                      f"the config's count only",)
    try:
        got = ck.from_hub_metadata(meta, hub.label, layers, bits)
    except MoecalcError as exc:         # a header the Hub served that is not one
        return None, (f"checkpoint headers not read ({exc.message}): the config's count only",)
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        tmp = saved.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(ck.to_json(got), encoding="utf-8")
        tmp.replace(saved)
    except OSError:
        pass                            # a read-only cache costs the next run a fetch, nothing more
    return got, ()
