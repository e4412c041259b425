"""ImageNet-1k class names resolved offline: torchvision's category list plus WordNet synonyms.

ImageNet's classes are WordNet 3.0 noun synsets (Deng et al., 2009); class i is the i-th wnid in sorted order. A class
is named by its index (``"388"``), by torchvision's category name (``"giant panda"``), or by any lemma of its synset
(``"panda bear"``, ``"Ailuropoda melanoleuca"``), case-insensitively, with ``_``/``-`` read as spaces.

Where the synonyms come from, in order of preference:

1. nltk's WordNet, when nltk and its ``wordnet`` data are installed (then plurals also resolve, through ``morphy``);
2. the bundled ``ganalyze_mem/data/imagenet_synonyms.json``, generated once from WordNet 3.0 by
   ``scripts/make_imagenet_synonyms.py`` (it also holds the 1000 wnids in class order).

Both routes build the table with the same function (`synonym_tables`), so they agree.

Ambiguity rules (documented in the script too): torchvision's category name always wins (``"crane"`` is the machine,
517; the bird is ``"crane bird"`` or 134; ``"maillot"`` is 638 and ``"tank suit"`` 639). A lemma shared by several
classes and naming none of them exactly is ambiguous: it raises a `GanalyzeError` listing the candidates. Unknown
names raise a `GanalyzeError` with did-you-mean suggestions.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Sequence
from importlib import resources

from ..errors import GanalyzeError

SYNONYMS_FILE = "imagenet_synonyms.json"


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order (from torchvision's weight metadata; nothing downloaded)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def normalize(name: str) -> str:
    """Lower case, ``_`` and ``-`` as spaces, single spaces: the form every table is keyed by."""
    return " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


@functools.lru_cache(maxsize=1)
def name_table() -> dict[str, int]:
    """Normalised torchvision category name -> class index (the names are unique)."""
    return {normalize(cat): i for i, cat in enumerate(imagenet_categories())}


def synonym_tables(categories: Sequence[str],
                   lemmas: Sequence[Iterable[str]]) -> tuple[dict[str, int], dict[str, list]]:
    """(unique synonyms -> index, ambiguous synonyms -> sorted indices) from each class's WordNet lemmas.

    Keys that are a category name are left out: the category name always wins.
    """
    cats = {normalize(c) for c in categories}
    owners: dict[str, set[int]] = {}
    for i, names in enumerate(lemmas):
        for lemma in names:
            key = normalize(lemma)
            if key and key not in cats:
                owners.setdefault(key, set()).add(i)
    unique = {k: next(iter(v)) for k, v in sorted(owners.items()) if len(v) == 1}
    ambiguous = {k: sorted(v) for k, v in sorted(owners.items()) if len(v) > 1}
    return unique, ambiguous


@functools.lru_cache(maxsize=1)
def bundled() -> dict:
    """The bundled mapping: {"wnids": [...], "synonyms": {...}, "ambiguous": {...}, "source": ...}."""
    text = resources.files("ganalyze_mem").joinpath("data", SYNONYMS_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids (``n01440764`` ...) in class order."""
    return list(bundled()["wnids"])


@functools.lru_cache(maxsize=1)
def nltk_wordnet():
    """nltk's WordNet reader when nltk and its data are installed, else None (never downloads)."""
    try:
        import nltk
        from nltk.corpus import wordnet as wn

        nltk.data.find("corpora/wordnet")
        wn.ensure_loaded()
        return wn
    except Exception:  # noqa: BLE001 - missing, partial or odd WordNet data: the bundled table is the fallback
        return None


@functools.lru_cache(maxsize=2)
def synonyms(use_nltk: bool = True) -> tuple[dict[str, int], dict[str, list], str]:
    """(unique, ambiguous, source): from nltk's WordNet when available, else from the bundled file."""
    wn = nltk_wordnet() if use_nltk else None
    if wn is not None:
        lemmas = [[lemma.name() for lemma in wn.synset_from_pos_and_offset(w[0], int(w[1:])).lemmas()]
                  for w in imagenet_wnids()]
        unique, ambiguous = synonym_tables(imagenet_categories(), lemmas)
        return unique, ambiguous, "nltk WordNet"
    data = bundled()
    return dict(data["synonyms"]), {k: list(v) for k, v in data["ambiguous"].items()}, "bundled WordNet 3.0 table"


def _base_forms(key: str, use_nltk: bool) -> list[str]:
    """Singular forms of the last word ("pizzas" -> "pizza"), through nltk's morphy when available."""
    head, _, last = key.rpartition(" ")
    forms: list[str] = []
    wn = nltk_wordnet() if use_nltk else None
    if wn is not None:
        forms += [f for f in {wn.morphy(last, "n")} if f and f != last]
    for suffix in ("es", "s"):
        if last.endswith(suffix) and len(last) > len(suffix) + 2:
            forms.append(last[: -len(suffix)])
    return [f"{head} {f}".strip() for f in dict.fromkeys(forms)]


def _lookup(key: str, use_nltk: bool) -> int | None:
    table = name_table()
    if key in table:
        return table[key]
    unique, ambiguous, _ = synonyms(use_nltk)
    if key in unique:
        return unique[key]
    if key in ambiguous:
        cats = imagenet_categories()
        options = "; ".join(f"{i} '{cats[i]}'" for i in ambiguous[key])
        raise GanalyzeError(f"ImageNet class name '{key}' is ambiguous: it names {options}. "
                            "Give the category name or the index instead.")
    return None


def resolve_imagenet_class(name: str, use_nltk: bool = True) -> int:
    """ImageNet index for a class index, name or WordNet synonym, or a `GanalyzeError` with close matches."""
    text = str(name).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
        if not 0 <= idx < 1000:
            raise GanalyzeError(f"ImageNet class index {idx} is out of range; use 0..999.")
        return idx
    key = normalize(text)
    if not key:
        raise GanalyzeError("Empty ImageNet class name; give a class name such as 'giant panda' or an index 0..999.")
    for candidate in [key, *_base_forms(key, use_nltk)]:
        idx = _lookup(candidate, use_nltk)
        if idx is not None:
            return idx
    unique, ambiguous, _ = synonyms(use_nltk)
    close = difflib.get_close_matches(key, [*name_table(), *unique, *ambiguous], n=4, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise GanalyzeError(f"Unknown ImageNet class '{name}'.{hint} Give a class name, a WordNet synonym or an index "
                        "0..999; `ganalyze-mem sample --list-classes` lists them.")
