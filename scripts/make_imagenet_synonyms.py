#!/usr/bin/env python
"""Regenerate ``ganalyze_mem/data/imagenet_synonyms.json``: ImageNet-1k WordNet synonyms, offline.

Route (nothing is downloaded):

1. WordNet 3.0 from Debian's ``wordnet-base`` package (``/usr/share/wordnet``; ``apt-get install wordnet-base``).
   nltk reads it once the files are copied into a ``corpora/wordnet`` folder on ``nltk.data.path`` (nltk refuses
   symlinks that leave that folder) and a ``lexnames`` file is added; Debian ships the lexnames table only in the
   ``lexnames(5WN)`` man page, so it is parsed from there. Debian lacks ``index.sense``, which nltk only needs to map
   other WordNet versions onto 3.0, so that step is skipped.
2. The 1000 ImageNet-1k wnids in class order (the sorted wnids of the ILSVRC-2012 training folders), read from the
   list timm ships (``timm/data/_info/imagenet_synsets.txt``) or from ``--wnids FILE`` (one wnid a line). The script
   checks the list: 1000 sorted, distinct noun synsets of WordNet 3.0, and torchvision's category name of class i is
   a lemma of synset i except where torchvision renamed a duplicate (it reports those).
3. For each class, the lemmas of its synset; `ganalyze_mem.generators.classes.synonym_tables` turns them into
   unique synonyms and ambiguous ones (the same function builds the table from nltk's WordNet at run time).

Choices: torchvision's category names always win over synonyms (so "crane" is the machine, 517, and the bird is
"crane bird"); a lemma shared by several classes and naming none exactly is stored as ambiguous ("panda": lesser
panda 387 or giant panda 388) and resolving it is an error that lists the candidates; only the synset's own lemmas
are used, not hyponyms or hypernyms ("dog" names no single class).

Usage: python scripts/make_imagenet_synonyms.py [--wordnet /usr/share/wordnet] [--wnids FILE] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganalyze_mem.generators.classes import imagenet_categories, normalize, synonym_tables  # noqa: E402
from ganalyze_mem.generators.wordnet import open_debian_wordnet  # noqa: E402


def open_wordnet(source: Path, workdir: Path):
    """An nltk WordNet reader over a copy of the Debian WordNet files (`ganalyze_mem.generators.wordnet`)."""
    try:
        return open_debian_wordnet(source, workdir)
    except ValueError as e:
        raise SystemExit(str(e)) from None


def load_wnids(path: Path | None) -> list[str]:
    if path is None:
        try:
            import timm
        except ImportError:
            raise SystemExit("timm is not installed: pass --wnids FILE with the 1000 ImageNet-1k wnids") from None
        path = Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt"
    wnids = path.read_text(encoding="utf-8").split()
    if len(wnids) != 1000 or wnids != sorted(set(wnids)) or not all(re.fullmatch(r"n\d{8}", w) for w in wnids):
        raise SystemExit(f"{path}: expected 1000 distinct, sorted noun wnids (n########)")
    return wnids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"), help="WordNet 3.0 dict folder")
    ap.add_argument("--wnids", type=Path, default=None, help="file with the 1000 ImageNet-1k wnids (default: timm's)")
    ap.add_argument("--out", type=Path, default=ROOT / "ganalyze_mem" / "data" / "imagenet_synonyms.json")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="The multilingual functions")

    wnids = load_wnids(args.wnids)
    categories = imagenet_categories()
    with tempfile.TemporaryDirectory() as tmp:
        wn = open_wordnet(args.wordnet, Path(tmp))
        lemmas = [[lemma.name() for lemma in wn.synset_from_pos_and_offset("n", int(w[1:])).lemmas()] for w in wnids]
    renamed = [(i, categories[i], names) for i, names in enumerate(lemmas)
               if normalize(categories[i]) not in {normalize(n) for n in names}]
    for i, cat, names in renamed:
        print(f"note: class {i} is '{cat}' in torchvision; its synset {wnids[i]} has lemmas {names}")
    if len(renamed) > 10:
        raise SystemExit(f"{len(renamed)} classes do not match their synsets: the wnid list is not in class order")
    unique, ambiguous = synonym_tables(categories, lemmas)
    data = {
        "source": "WordNet 3.0 (Debian wordnet-base) lemmas of the ImageNet-1k synsets; "
                  "made by scripts/make_imagenet_synonyms.py",
        "wnids": wnids,
        "synonyms": unique,
        "ambiguous": ambiguous,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(data, indent=0, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    tmp_out.replace(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): {len(unique)} synonyms, "
          f"{len(ambiguous)} ambiguous: {', '.join(f'{k} {v}' for k, v in ambiguous.items())}")


if __name__ == "__main__":
    main()
