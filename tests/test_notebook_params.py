"""Notebook parameter validation: one clear error, raised before any work, for a bad preset or language."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas.languages import UnknownLanguageError
from atlas.params import ParameterError, validate_notebook_params
from atlas.presets import Preset, PresetError, available_presets

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "01_data_sampling.ipynb"


def test_defaults_and_code_resolution():
    cfg, langs = validate_notebook_params("smoke")
    assert cfg.name == "smoke" and langs == cfg.languages == ["eng", "fra", "rus", "cmn"]
    cfg, langs = validate_notebook_params("smoke", ["en", "zh_Hans", "deu"])
    assert langs == cfg.languages == ["eng", "cmn", "deu"]
    assert validate_notebook_params("smoke", '["fr", "ru"]')[1] == ["fra", "rus"]  # papermill passes strings
    assert validate_notebook_params("smoke", "fr, ru")[1] == ["fra", "rus"]
    assert validate_notebook_params(cfg)[1] == ["eng", "cmn", "deu"]  # a Preset is accepted


def test_bad_preset_names_it_and_lists_allowed():
    with pytest.raises(PresetError) as err:
        validate_notebook_params("nope")
    msg = str(err.value)
    assert "'nope'" in msg and all(p in msg for p in available_presets())


@pytest.mark.parametrize("languages", [["xx"], '["xx"]', ["en", "xx"]])
def test_bad_language_names_it_and_lists_allowed(languages):
    with pytest.raises(UnknownLanguageError) as err:
        validate_notebook_params("smoke", languages)
    msg = str(err.value)
    assert "'xx'" in msg and "allowed:" in msg and "eng" in msg and "cmn" in msg


def test_extra_parameters():
    cfg, _ = validate_notebook_params("smoke", experiment="bilingual", eval_set="flores", seed=3, anything=1)
    assert cfg.to_dict() == Preset.load("smoke").to_dict()  # extras are checked, the preset is unchanged
    with pytest.raises(ParameterError, match="'quadlingual'.*allowed: bilingual"):
        validate_notebook_params("smoke", experiment="quadlingual")
    with pytest.raises(ParameterError, match="'wmt'"):
        validate_notebook_params("smoke", eval_set="wmt")
    with pytest.raises(ParameterError, match="seed"):
        validate_notebook_params("smoke", seed=-1)


def _papermill(tmp_path: Path, *params: str) -> tuple[subprocess.CompletedProcess, float, Path]:
    out = tmp_path / "out.ipynb"
    env = {**os.environ, "ATLAS_VERDICT_DIR": str(tmp_path / "verdicts"), "MPLBACKEND": "Agg"}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", str(CHAPTER), str(out), *params],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    return proc, time.monotonic() - start, out


def _executed_cells(path: Path) -> int:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return sum(1 for c in nb["cells"] if c["cell_type"] == "code" and c.get("execution_count"))


@pytest.mark.parametrize(
    "params, needle",
    [
        (["-p", "preset", "nope"], "unknown preset 'nope'; allowed: cpu, gpu, paper, smoke"),
        (["-p", "preset", "smoke", "-p", "languages", '["xx"]'], "unknown language code(s) ['xx']; allowed: "),
    ],
)
def test_chapter_fails_fast_with_one_clear_message(tmp_path, params, needle):
    proc, seconds, out = _papermill(tmp_path, *params)
    assert proc.returncode != 0
    assert needle in proc.stderr + proc.stdout
    # it stopped in the validation cell: parameters (default + injected) and validation only
    assert _executed_cells(out) <= 3
    assert seconds < 60
    assert not (tmp_path / "verdicts").exists()


@pytest.mark.slow
def test_chapter_runs_with_the_smoke_preset(tmp_path):
    proc, seconds, out = _papermill(tmp_path, "-p", "preset", "smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = json.loads(out.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5
    verdicts = json.loads((tmp_path / "verdicts" / "01_data_sampling.json").read_text(encoding="utf-8"))
    assert {v["status"] for v in verdicts} <= {"reproduced", "partially", "not reproduced", "not testable"}
    assert seconds < 120
