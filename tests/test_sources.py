"""The source planner: ordering, ties, codes, errors, the paper's Portuguese query, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest

from atlas import cli, paper_tables
from atlas.planning import sources


def small():
    """rows = target, columns = source (paper codes)."""
    m = pd.DataFrame([[np.nan, 0.2, 0.5, 0.2],
                      [0.1, np.nan, -0.3, np.nan],
                      [0.4, 0.4, np.nan, 0.4],
                      [0.0, 0.0, 0.0, np.nan]],
                     index=["en", "fr", "de", "es"], columns=["en", "fr", "de", "es"])
    mask = pd.DataFrame(True, index=m.index, columns=m.columns)
    mask.loc["de", "en"] = False
    return m, mask


def test_descending_with_ties_measured_first_then_iso3():
    m, mask = small()
    # target en: de 0.5, then fr 0.2 and es 0.2 (both measured) -> ISO 639-3 order: fra < spa
    got = sources.best_sources(m, "en", k=3, measured=mask)
    assert [g["source"] for g in got] == ["deu", "fra", "spa"]
    assert [g["code"] for g in got] == ["de", "fr", "es"]
    assert [g["score"] for g in got] == [0.5, 0.2, 0.2]
    # target de: en, fr, es all 0.4; en is estimated -> last; fr/es measured -> fra < spa
    got = sources.best_sources(m, "deu", k=3, measured=mask)
    assert [(g["source"], g["measured"]) for g in got] == [("fra", True), ("spa", True), ("eng", False)]


def test_nan_and_self_are_skipped_and_k_caps():
    m, _ = small()
    got = sources.best_sources(m, "fr", k=10)
    assert [g["source"] for g in got] == ["eng", "deu"]  # es is NaN, fr itself skipped
    assert all(g["measured"] for g in got)  # no mask: every scored cell counts as measured


def test_codes_resolve_both_ways():
    m, mask = small()
    assert sources.best_sources(m, "eng", 2, mask) == sources.best_sources(m, "en", 2, mask)
    m3 = m.rename(index={"en": "eng"}, columns={"en": "eng"})
    assert sources.best_sources(m3, "de", 3, None) == sources.best_sources(m, "de", 3, None)


@pytest.mark.parametrize("target, match", [("xx", r"^unknown target 'xx'; allowed: en/eng, fr/fra"),
                                           ("pt", r"^target 'pt' \(por\) has no row in this matrix; allowed")])
def test_unknown_target_is_one_line(target, match):
    m, _ = small()
    with pytest.raises(sources.UnknownTargetError, match=match) as info:
        sources.best_sources(m, target)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def test_bad_arguments():
    m, mask = small()
    for k in (0, -1, 1.5, True):
        with pytest.raises(sources.SourcePlanError, match="k must be"):
            sources.best_sources(m, "en", k)
    with pytest.raises(sources.SourcePlanError, match="unknown language code"):
        sources.best_sources(m.rename(columns={"fr": "qqq"}), "en")
    with pytest.raises(sources.SourcePlanError, match="mask"):
        sources.best_sources(m, "en", measured=mask.iloc[:2])


def test_paper_matrix_portuguese():
    """Fig. C.2, row pt: es 0.5 (measured), then fr 0.3 (measured) and it 0.3 (estimated) -> fr before it."""
    m, mask = sources.paper_matrix()
    assert int(mask.to_numpy().sum()) == 72  # the 9x9 block minus its diagonal
    assert mask.loc["por", "spa"] and not mask.loc["por", "ita"]
    got = sources.best_sources(m, "pt", k=3, measured=mask)
    assert [(g["code"], g["score"], g["measured"]) for g in got] == [("es", 0.5, True), ("fr", 0.3, True),
                                                                   ("it", 0.3, False)]
    # the three are the row's three highest scores
    row = paper_tables.transfer_matrix("38x38").loc["por"].dropna()
    assert sorted(row, reverse=True)[:3] == [g["score"] for g in got]


def test_cli_paper(capsys):
    assert cli.main(["plan", "sources", "--target", "pt", "--k", "3", "--matrix", "paper", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["source"] for o in out] == ["spa", "fra", "ita"] and [o["measured"] for o in out] == [True, True, False]
    assert cli.main(["plan", "sources", "--target", "pt"]) == 0
    assert "es" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--target", "xx"], "unknown target 'xx'"),
    (["--target", "pt", "--matrix", "nope"], "unknown matrix 'nope'; allowed: paper"),
    (["--target", "pt", "--matrix", "missing.csv"], "does not exist"),
    (["--target", "pt", "--measured", "m.csv"], "--measured applies to a FILE.csv matrix only"),
])
def test_cli_errors_are_one_line(argv, match, capsys):
    assert cli.main(["plan", "sources", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and "\n" not in err


def test_cli_csv_with_mask(tmp_path, capsys):
    m, mask = small()
    m.to_csv(tmp_path / "m.csv")
    mask.to_csv(tmp_path / "mask.csv")
    argv = ["plan", "sources", "--target", "de", "--matrix", str(tmp_path / "m.csv"), "--json"]
    assert cli.main(argv + ["--measured", str(tmp_path / "mask.csv")]) == 0
    assert [o["source"] for o in json.loads(capsys.readouterr().out)] == ["fra", "spa", "eng"]
    assert cli.main(argv) == 0  # without a mask every cell is measured: eng < fra < spa
    assert [o["source"] for o in json.loads(capsys.readouterr().out)] == ["eng", "fra", "spa"]
    (tmp_path / "bad.csv").write_text(",en,fr,de,es\nen,,maybe,1,1\nfr,1,,1,1\nde,1,1,,1\nes,1,1,1,\n")
    assert cli.main(argv + ["--measured", str(tmp_path / "bad.csv")]) == 2
    assert "true/false" in capsys.readouterr().err


def test_cli_cpu_runs(capsys):
    from atlas import records

    if not any(records.iter_runs("cpu", "bilingual")):
        pytest.skip("no committed cpu runs")
    from atlas import bts
    m = bts.matrix_from_runs("cpu")
    rc = cli.main(["plan", "sources", "--target", "pt", "--matrix", "cpu", "--json"])
    out, err = capsys.readouterr()
    if "por" not in m.index:  # the committed grid has not scored Portuguese yet: one clear line, no ranking
        assert rc == 2 and err.startswith("error: target 'pt' (por) has no row in this matrix") and not out
        return
    assert rc == 0
    ranked = json.loads(out)
    assert len(ranked) == 3 and ranked[0]["score"] >= ranked[1]["score"] >= ranked[2]["score"]
