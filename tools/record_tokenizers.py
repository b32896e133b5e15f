"""Record which tokenizer model files a preset's runs were trained with (runs/<preset>/tokenizers.json).

Runs finished since this record existed carry the hash in their own ``summary.json`` (``vocab_sha256``); this
script is for runs that predate that field. It trains (or loads from the cache) the preset's vocabularies on
this machine and writes their SHA-256s, with a note that must say why they are the runs' models.

    python tools/record_tokenizers.py --preset cpu --note "..."
"""

from __future__ import annotations

import argparse

from atlas import data_report, records
from atlas.presets import load_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--note", required=True, help="how these hashes are known to be the runs' models")
    args = parser.parse_args()
    cfg = load_preset(args.preset)
    toks = data_report.tokenizers(cfg, cfg["languages"])
    used = set(records.load_specs(args.preset)["vocab.name"])
    models = {t.name: t.sha256 for t in toks.values() if t.name in used}
    missing = sorted(used - set(models))
    if missing:
        raise SystemExit(f"runs name vocabularies this preset did not build: {missing}")
    print(records.write_tokenizer_record(args.preset, models, args.note))


if __name__ == "__main__":
    main()
