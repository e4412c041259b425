"""WordNet 3.0 for ImageNet class names, offline: nltk's WordNet data when installed, else Debian's ``wordnet-base``
(``/usr/share/wordnet``), which nltk reads once the files are copied into a ``corpora/wordnet`` folder of the cache
(nltk refuses paths outside its data folders) with a ``lexnames`` file added (Debian ships that table only in the
lexnames(5WN) man page). Debian lacks ``index.sense``, which nltk needs only to map other WordNet versions onto 3.0,
so that step is skipped. Nothing is downloaded.

`neighbour_classes` resolves a name as ``pytorch_pretrained_biggan.one_hot_from_names`` does (its documented
behaviour, written here from that description): the name's noun synsets in WordNet's sense order, the first that is
an ImageNet class; else the ImageNet classes among those synsets' hypernyms and hyponyms (the package takes the first
in nltk's set order, which changes with the hash seed; we return them all).
"""

from __future__ import annotations

import functools
import gzip
import os
import re
import shutil
from pathlib import Path

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries; optional dependencies, needed only there: `nltk`.

DEBIAN_WORDNET = Path("/usr/share/wordnet")
LEXNAMES_MAN = Path("/usr/share/man/man5/lexnames.5WN.gz")
POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_from_man(path: Path = LEXNAMES_MAN) -> str:
    """The ``lexnames`` file (number, name, syntactic category) from the table in the lexnames(5WN) man page."""
    text = gzip.open(path, "rt", encoding="utf-8").read() if path.suffix == ".gz" else path.read_text()
    rows = re.findall(r"^(\d\d)\t(\w+\.\w+)\s*\t", text, flags=re.M)
    if len(rows) != 45:
        raise ValueError(f"{path}: expected 45 lexicographer files in the table, found {len(rows)}")
    return "".join(f"{num}\t{name}\t{POS_NUMBER[name.split('.')[0]]}\n" for num, name in rows)


def open_debian_wordnet(source: Path, workdir: Path):
    """An nltk WordNet reader over a copy of the Debian WordNet files in ``workdir/corpora/wordnet`` (made once)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _WordNet30(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):  # the data is 3.0 itself; no cross-version map (needs index.sense)
            return None

    target = workdir / "corpora" / "wordnet"
    if not (target / "lexnames").is_file():
        tmp = workdir / "corpora" / f".wordnet.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in source.iterdir():
            if f.is_file():
                shutil.copyfile(f, tmp / f.name)
        (tmp / "lexnames").write_text(lexnames_from_man(LEXNAMES_MAN), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)  # whole or not at all
    if str(workdir) not in nltk.data.path:
        nltk.data.path.insert(0, str(workdir))
    wn = _WordNet30(str(target), None)
    if wn.get_version() != "3.0":
        raise ValueError(f"{source}: WordNet {wn.get_version()} found, ImageNet needs 3.0")
    return wn


@functools.lru_cache(maxsize=1)
def wordnet():
    """A WordNet 3.0 reader (nltk's data, else Debian's wordnet-base through the cache), or None."""
    import warnings

    warnings.filterwarnings("ignore", message="The multilingual functions")
    try:
        import nltk
        from nltk.corpus import wordnet as wn

        nltk.data.find("corpora/wordnet")
        wn.ensure_loaded()
        return wn
    except Exception:  # noqa: BLE001 - missing or partial nltk data: try Debian's files
        pass
    if not (DEBIAN_WORDNET / "data.noun").is_file() or not LEXNAMES_MAN.is_file():
        return None
    try:
        from ..weights import cache_dir

        return open_debian_wordnet(DEBIAN_WORDNET, cache_dir() / "nltk_data")
    except Exception:  # noqa: BLE001 - no nltk, odd files: the bundled table is the fallback
        return None


def neighbour_classes(wn, name: str, offsets: dict[int, int]) -> tuple[list[int], str]:
    """(class indices, how) for `name` the way pytorch_pretrained_biggan resolves names; `offsets` maps a noun
    synset offset to its ImageNet class. `how` is "synset" (one class: the first of the name's noun synsets, in
    WordNet's sense order, that is an ImageNet class), "neighbour" (every ImageNet class among those synsets'
    hypernyms and hyponyms, sorted) or "" (none).

    Several neighbours are all returned: nltk lists a synset's hypernyms and hyponyms in set order, which changes with
    Python's hash seed, so the package's "first" of several (``"dog"``: 251, 254 or 255 under PYTHONHASHSEED 3, 2, 1)
    is no answer to copy."""
    try:
        synsets = [s for s in wn.synsets(name.replace(" ", "_")) if s.pos() == "n"]
    except Exception:  # noqa: BLE001 - nltk's morphy rejects some odd strings
        return [], ""
    for s in synsets:
        if s.offset() in offsets:
            return [offsets[s.offset()]], "synset"
    near = {offsets[n.offset()] for s in synsets for n in s.hypernyms() + s.hyponyms() if n.offset() in offsets}
    return sorted(near), "neighbour" if near else ""
