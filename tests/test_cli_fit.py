"""``python -m atlas fit``: JSON output and one clear error per malformed CSV."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from atlas.cli import main
from atlas.laws import get_law
from atlas.paths import REPO_ROOT

TRUE = dict(E=1.7, A=406.4, alpha=0.34, B=410.7, beta=0.28)


@pytest.fixture()
def runs_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame({
        "run_id": [f"r{i // 4}" for i in range(n)],
        "N": 10 ** rng.choice(np.linspace(7, 10, 6), n),
        "D": 10 ** rng.uniform(8, 11.5, n),
        "U": 10 ** rng.uniform(8, 11, n),
        "K": rng.choice([1, 2, 4, 8], n),
    })
    frame["loss"] = get_law("csl").predict(frame, TRUE) * np.exp(rng.normal(0, 0.002, n))
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    return path


def test_fit_json_output(runs_csv, capsys):
    assert main(["fit", "csl", str(runs_csv), "--json", "--n-starts", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["law"] == "csl" and out["status"] == "ok" and out["n_points"] == 80
    assert set(out["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert abs(out["params"]["alpha"] - 0.34) < 0.02 and out["r2"] > 0.999
    assert out["r2_on"].startswith("loss") and out["huber_delta"] == 1e-3
    assert out["n_starts"] == 3 and out["n_grid"] == 4500 and set(out["best_start"]) == set(out["params"])


def test_fit_atlas_names_lam_and_heldout_bootstrap(runs_csv, capsys):
    assert main(["fit", "atlas-dt", str(runs_csv), "--json", "--n-starts", "2", "--heldout", "--splits", "random,N,M",
                 "--bootstrap", "3", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "lam" in out["params"]
    assert [h["split"] for h in out["heldout"]] == ["random", "N", "M"]
    assert out["bootstrap"]["unit"] == "run_id" and out["bootstrap"]["n_boot"] == 3 and "lam" in out["bootstrap"]["ci"]


def test_klaw_params_and_human_output(runs_csv, capsys):
    assert main(["fit", "klaw", str(runs_csv), "--json", "--n-starts", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"phi", "psi", "E", "alpha", "beta"} <= set(out["params"])
    assert main(["fit", "csl", str(runs_csv), "--n-starts", "2"]) == 0
    text = capsys.readouterr().out
    assert "alpha =" in text and "R2 (in-sample, on loss)" in text


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.drop(columns="D"), "missing column 'D' needed by law 'csl'"),
        (lambda f: f.assign(N=f["N"].where(f.index != 6, -3.0)), r"column 'N' must be > 0; row 7 \(line 8\) has -3.0"),
        (lambda f: f.assign(loss=f["loss"].where(f.index != 2, np.nan)), r"column 'loss' is missing/NaN/inf at row 3 \(line 4\)"),
        (lambda f: f.assign(D=f["D"].astype(object).where(f.index != 0, "lots")), r"column 'D' must be numeric; row 1 \(line 2\) has 'lots'"),
    ],
)
def test_malformed_csv_gives_one_clear_error(runs_csv, capsys, mutate, message):
    bad = mutate(pd.read_csv(runs_csv))
    bad.to_csv(runs_csv, index=False)
    assert main(["fit", "csl", str(runs_csv), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(runs_csv) in err and len(err.splitlines()) == 1
    assert __import__("re").search(message, err), err


def test_bad_arguments(runs_csv, tmp_path, capsys):
    assert main(["fit", "chinchila", str(runs_csv)]) == 2
    assert "unknown law 'chinchila'" in capsys.readouterr().err
    assert main(["fit", "csl", str(tmp_path / "nope.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["fit", "csl", str(runs_csv), "--col", "Q=N"]) == 2
    assert "has no column 'Q'" in capsys.readouterr().err
    assert main(["fit", "csl", str(runs_csv), "--splits", "random,Z", "--heldout"]) == 2
    assert "unknown split(s) ['Z']" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["fit", "csl", str(empty)]) == 2
    assert "the file is empty" in capsys.readouterr().err


def test_failed_fit_exits_1_with_json(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"N": [1e8, 1e9, 1e9], "D": [1e9, 1e10, 1e11], "loss": [3.0, 2.5, 2.4]}).to_csv(path, index=False)
    assert main(["fit", "csl", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "failed" and "underdetermined" in out["message"] and out["params"]["alpha"] is None


def test_module_entry_point(runs_csv):
    proc = subprocess.run([sys.executable, "-m", "atlas", "fit", "csl", str(runs_csv), "--json", "--n-starts", "1"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["law"] == "csl"


def test_fix_every_parameter_scores_the_given_law(runs_csv, capsys):
    fixes = [a for k, v in TRUE.items() for a in ("--fix", f"{k}={v}")]
    assert main(["fit", "csl", str(runs_csv), *fixes, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["params"] == pytest.approx(TRUE)
    frame = pd.read_csv(runs_csv)
    resid = frame["loss"] - get_law("csl").predict(frame, TRUE)
    assert out["r2"] == pytest.approx(1 - (resid**2).sum() / ((frame["loss"] - frame["loss"].mean()) ** 2).sum())
    assert out["objective"] > 0 and out["identified"] is True and out["flags"] == [] and len(out["optima"]) == 1


def test_json_carries_the_diagnosis(runs_csv, capsys):
    frame = pd.read_csv(runs_csv).assign(D=1e9)  # one D: E, B and beta trade off
    frame["loss"] = get_law("csl").predict(frame, TRUE) * np.exp(np.random.default_rng(1).normal(0, 0.003, len(frame)))
    path = runs_csv.parent / "flat.csv"
    frame.to_csv(path, index=False)
    assert main(["fit", "csl", str(path), "--json", "--n-starts", "6"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("warnings", "flags", "identified", "at_bound", "not_identified", "optima", "ident_rtol"):
        assert key in out
    assert out["identified"] is False and "beta" in out["not_identified"] and "not_identified:beta" in out["flags"]
    assert len(out["optima"]) >= 2 and set(out["optima"][0]) >= {"objective", "rel_gap", "n_starts", "params"}
    assert main(["fit", "csl", str(path), "--n-starts", "6"]) == 0
    text = capsys.readouterr().out
    assert "warning: not identified" in text and "distinct near-best optima" in text
