"""Committed tokenizer models: copied and installed only when their SHA-256 is the one the runs recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from atlas import records


def _runs_with(tmp: Path, model: bytes, recorded: bytes) -> tuple[Path, Path]:
    """A runs root whose preset ``p`` recorded the hash of ``recorded``, and a cache holding ``model``."""
    root, cache = tmp / "runs", tmp / "cache"
    (cache / "tokenizers").mkdir(parents=True)
    (cache / "tokenizers" / "spm-x.model").write_bytes(model)
    (cache / "tokenizers" / "spm-x.json").write_text(json.dumps({"name": "spm-x"}))
    records.write_tokenizer_record("p", {"spm-x": hashlib.sha256(recorded).hexdigest()}, "test", root=root)
    return root, cache


def test_commit_then_install_round_trip(tmp_path):
    root, cache = _runs_with(tmp_path, b"model-a", b"model-a")
    assert records.commit_tokenizers("p", root=root, cache=cache) == ["spm-x"]
    assert (root / "p" / "tokenizers" / "spm-x.model").read_bytes() == b"model-a"
    fresh = tmp_path / "fresh"
    assert records.install_committed_tokenizers("p", root=root, cache=fresh) == {"spm-x": "installed"}
    assert (fresh / "tokenizers" / "spm-x.model").read_bytes() == b"model-a"
    assert (fresh / "tokenizers" / "spm-x.json").exists()
    assert records.install_committed_tokenizers("p", root=root, cache=fresh) == {"spm-x": "cached"}


def test_a_model_the_runs_did_not_record_is_neither_committed_nor_installed(tmp_path):
    root, cache = _runs_with(tmp_path, b"retrained", b"model-a")
    assert records.commit_tokenizers("p", root=root, cache=cache) == []
    (root / "p" / "tokenizers").mkdir(parents=True)
    (root / "p" / "tokenizers" / "spm-x.model").write_bytes(b"tampered")
    (root / "p" / "tokenizers" / "spm-x.json").write_text("{}")
    out = records.install_committed_tokenizers("p", root=root, cache=tmp_path / "fresh")
    assert out["spm-x"].startswith("hash mismatch")
    assert not (tmp_path / "fresh" / "tokenizers" / "spm-x.model").exists()
    assert records.install_committed_tokenizers("none", root=root) == {}
