"""Run records: one directory per run, written atomically, read back as tidy pandas tables.

Layout (``runs/<preset>/<experiment>/<run_id>/``):

* ``spec.json``     -- what the run is (shape, parameter counts, mixture, budgets, seed, vocabulary, ...)
* ``metrics.csv``   -- one row per (evaluation step, evaluation language, evaluation set): ``step``,
  ``tokens`` (total training tokens seen), ``eval_lang``, ``eval_set``, ``loss`` (cross-entropy,
  nats/token), ``loss_u`` (unigram-normalised, vocabulary-insensitive loss of Tao et al. 2024,
  nats/token), ``lr``, ``train_loss``. Tokens seen per training language follow from the spec's mixture.
* ``summary.json``  -- written last: final losses, wall time, tokens/s, status (``done`` or ``diverged``).
* ``env.json``      -- versions, platform, git sha.

A run is *finished* iff ``summary.json`` exists. Every file is written to a temporary name in the same
directory and moved into place with :func:`os.replace`, so a kill leaves either the old file or the new one,
never half a file. A half-done run directory (no summary) is wiped and restarted by the grid.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from atlas.paths import REPO_ROOT, runs_dir

SPEC, METRICS, SUMMARY, ENV = "spec.json", "metrics.csv", "summary.json", "env.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; records are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: Path) -> Any:
    with Path(path).open(encoding="utf-8") as fh:
        return json.load(fh)


def read_user_json(path: str | Path, what: str, error: type[ValueError] = ValueError) -> Any:
    """Read a JSON file a user passed on the command line: a missing file or bad JSON is one clear error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None


def run_dir(preset: str, experiment: str, run_id: str, root: Path | None = None) -> Path:
    return Path(root or runs_dir()) / preset / experiment / run_id


def is_finished(path: Path) -> bool:
    """A run is finished iff its summary was written (the last file a run writes)."""
    return (Path(path) / SUMMARY).exists()


def git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except Exception:  # not a git checkout, or git missing
        return "unknown"


def environment() -> dict[str, Any]:
    """Versions and platform facts recorded beside every run."""
    import numpy
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": numpy.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_sha": git_sha(),
    }


def iter_runs(preset: str, experiment: str | None = None, root: Path | None = None) -> Iterable[Path]:
    """Finished run directories of a preset (optionally one experiment), sorted."""
    base = Path(root or runs_dir()) / preset
    pattern = f"{experiment}/*" if experiment else "*/*"
    for path in sorted(base.glob(pattern)):
        if path.is_dir() and is_finished(path):
            yield path


def _flatten(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    """Flatten nested dicts into dotted keys (``{"shape": {"d_model": 64}}`` -> ``shape.d_model``)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}{k}.", v, out)
    else:
        out[prefix.rstrip(".")] = obj


def load_specs(preset: str, experiment: str | None = None, root: Path | None = None) -> pd.DataFrame:
    """One row per finished run: the flattened spec plus the summary (columns prefixed ``summary.``)."""
    rows = []
    for path in iter_runs(preset, experiment, root):
        row: dict[str, Any] = {}
        _flatten("", read_json(path / SPEC), row)
        _flatten("summary.", read_json(path / SUMMARY), row)
        row["path"] = str(path)
        rows.append(row)
    return pd.DataFrame(rows)


def load_metrics(preset: str, experiment: str | None = None, root: Path | None = None) -> pd.DataFrame:
    """All evaluation rows of a preset in one tidy table, joined with ``run_id`` and ``experiment``.

    This is the one call a pandas user needs: ``atlas.records.load_metrics("cpu")``. The boolean column
    ``decayed`` marks evaluations of a model whose learning rate was decayed to the floor (cooldown branches
    and each run's last evaluation); records written before the column existed get it from the rule that held
    then: only a run's final evaluation, after its WSD decay, is decayed.
    """
    frames = []
    for path in iter_runs(preset, experiment, root):
        spec = read_json(path / SPEC)
        m = pd.read_csv(path / METRICS)
        if "decayed" not in m:
            m["decayed"] = m["step"] == m["step"].max()
        m["decayed"] = m["decayed"].astype(bool)
        m.insert(0, "run_id", spec["run_id"])
        m.insert(1, "experiment", spec["experiment"])
        frames.append(m)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def main_trajectory(metrics: pd.DataFrame) -> pd.DataFrame:
    """The evaluations along each run's own trajectory: cooldown-branch rows (decayed before the run's last
    step) removed, so a loss curve has one point per step. Works on one run's ``metrics.csv`` or on
    :func:`load_metrics`' table (grouped by ``experiment`` and ``run_id``)."""
    if metrics.empty or "decayed" not in metrics:
        return metrics
    keys = [c for c in ("experiment", "run_id") if c in metrics]
    last = metrics.groupby(keys)["step"].transform("max") if keys else metrics["step"].max()
    branch = metrics["decayed"].astype(bool) & (metrics["step"] < last)
    return metrics[~branch].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------
# Which tokenizer model the runs were trained with

#: ``runs/<preset>/tokenizers.json``: ``{"note": provenance, "models": {tokenizer name: sha256 of the model}}``.
TOKENIZERS = "tokenizers.json"
#: ``runs/<preset>/tokenizers/<name>.model`` (+ ``.json``, its metadata): the models the runs were trained with.
TOKENIZER_MODELS = "tokenizers"


def recorded_tokenizers(preset: str, root: Path | None = None,
                        specs: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """Tokenizer name -> the distinct SHA-256s of the model file recorded for ``preset``'s runs.

    Two sources: ``runs/<preset>/tokenizers.json`` (written once for runs that predate the summary field) and
    each finished run's ``summary.json`` (``vocab_sha256``, recorded at training time). More than one hash
    for a name means runs of one preset were trained with different models under the same name. ``specs``:
    :func:`load_specs` of the same preset, if the caller has it (the runs are then not read again).
    """
    found: dict[str, set[str]] = {}
    registry = Path(root or runs_dir()) / preset / TOKENIZERS
    if registry.exists():
        for name, sha in (read_json(registry).get("models") or {}).items():
            found.setdefault(name, set()).add(str(sha))
    specs = load_specs(preset, root=root) if specs is None else specs
    if {"vocab.name", "summary.vocab_sha256"} <= set(specs.columns):
        for name, sha in specs[["vocab.name", "summary.vocab_sha256"]].dropna().itertuples(index=False):
            found.setdefault(str(name), set()).add(str(sha))
    return {name: sorted(shas) for name, shas in sorted(found.items())}


def write_tokenizer_record(preset: str, models: dict[str, str], note: str, root: Path | None = None) -> Path:
    """Write ``runs/<preset>/tokenizers.json`` atomically (``models``: tokenizer name -> model SHA-256)."""
    if not note.strip():
        raise ValueError("a tokenizer record needs a note saying how the hashes were obtained")
    bad = {k: v for k, v in models.items() if not (isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v))}
    if bad:
        raise ValueError(f"model hashes must be 64 hex characters (SHA-256), got {bad}")
    path = Path(root or runs_dir()) / preset / TOKENIZERS
    atomic_write_json(path, {"note": note.strip(), "models": dict(sorted(models.items()))})
    return path


def commit_tokenizers(preset: str, root: Path | None = None, cache: Path | None = None) -> list[str]:
    """Copy the cached models the runs of ``preset`` recorded (by name and SHA-256) to ``runs/<preset>/tokenizers``.

    Only a cached model whose hash equals the one the runs recorded, with its metadata, is copied (never a
    retrained look-alike); the metadata is written first, so a crash leaves at most a ``.json`` without its
    model (ignored). Returns the names copied. ``tools/stage_finished_runs.sh`` runs it before staging.
    """
    from atlas.paths import cache_dir

    src = Path(cache or cache_dir()) / "tokenizers"
    dest = Path(root or runs_dir()) / preset / TOKENIZER_MODELS
    done = []
    for name, shas in recorded_tokenizers(preset, root=root).items():
        model, meta = src / f"{name}.model", src / f"{name}.json"
        if len(shas) != 1 or not (model.exists() and meta.exists()) or _sha256(model) != shas[0]:
            continue
        if (dest / f"{name}.model").exists() and _sha256(dest / f"{name}.model") == shas[0]:
            continue  # already committed
        atomic_write_bytes(dest / f"{name}.json", meta.read_bytes())
        atomic_write_bytes(dest / f"{name}.model", model.read_bytes())
        done.append(name)
    return done


def install_committed_tokenizers(preset: str, root: Path | None = None, cache: Path | None = None) -> dict[str, str]:
    """Put the committed models of ``preset`` into the tokenizer cache, so nothing is retrained.

    A committed model is installed only if its SHA-256 is the one its runs recorded (and its metadata is
    there); otherwise it is skipped and the tokenizer trained as usual. A cached model of the same name with
    other bytes (a local retraining) is replaced, under the tokenizer's lock. Returns ``{name: "installed" |
    "cached" | "replaced a different local model" | "hash mismatch: ..." | "no metadata"}``.
    """
    from atlas.paths import cache_dir
    from atlas.tokenizer import file_lock

    folder = Path(root or runs_dir()) / preset / TOKENIZER_MODELS
    if not folder.is_dir():
        return {}
    recorded = recorded_tokenizers(preset, root=root)
    dest = Path(cache or cache_dir()) / "tokenizers"
    out = {}
    for model in sorted(folder.glob("*.model")):
        name, meta = model.stem, folder / f"{model.stem}.json"
        sha, want = _sha256(model), recorded.get(model.stem, [])
        if want != [sha]:
            out[name] = f"hash mismatch: committed {sha[:12]}, runs recorded {', '.join(w[:12] for w in want) or 'none'}"
            continue
        if not meta.exists():
            out[name] = "no metadata"
            continue
        dest.mkdir(parents=True, exist_ok=True)
        with file_lock(dest / f".{name}.lock"):
            cached = dest / f"{name}.model"
            if cached.exists() and _sha256(cached) == sha:
                out[name] = "cached"
                continue
            out[name] = "replaced a different local model" if cached.exists() else "installed"
            # the metadata first: the model's presence marks a complete cache entry (atlas.tokenizer.get_tokenizer)
            atomic_write_bytes(dest / f"{name}.json", meta.read_bytes())
            atomic_write_bytes(cached, model.read_bytes())
    return out


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
