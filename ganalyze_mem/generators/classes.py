"""ImageNet-1k class names resolved offline: torchvision's category list plus WordNet synonyms.

ImageNet's classes are WordNet 3.0 noun synsets (Deng et al., 2009); class i is the i-th wnid in sorted order. A class
is named by its index (``"388"``), by torchvision's category name (``"giant panda"``), or by any lemma of its synset
(``"panda bear"``, ``"Ailuropoda melanoleuca"``), with ``_``/``-`` read as spaces.

Where the synonyms come from, in order of preference:

1. WordNet (`generators.wordnet`: nltk's data, else Debian's wordnet-base), when available (then plurals also
   resolve, through ``morphy``, and names resolve through WordNet's neighbours, see 5 below);
2. the bundled ``ganalyze_mem/data/imagenet_synonyms.json``, generated once from WordNet 3.0 by
   ``scripts/make_imagenet_synonyms.py`` (it also holds the 1000 wnids in class order).

Both routes build the table with the same function (`synonym_tables`), so they agree.

Order and ambiguity rules (no silent collisions):

1. a category name written with its own case wins: ``"Cardigan"`` is the corgi, 264, ``"cardigan"`` the sweater, 474;
2. case-folded, a category name that only one class has (``"GIANT PANDA"``); two (``"CARDIGAN"``) is an error naming
   both;
3. torchvision's category name always wins over synonyms (``"crane"`` is the machine, 517; the bird is ``"crane
   bird"`` or 134; ``"maillot"`` is 638 and ``"tank suit"`` 639);
4. a lemma shared by several classes and naming none of them exactly is ambiguous: a `GanalyzeError` lists the
   candidates;
5. any other name WordNet knows resolves as ``pytorch_pretrained_biggan.one_hot_from_names`` resolves it: its noun
   synsets' first ImageNet class, else the one ImageNet class among their hypernyms and hyponyms (``"soap bubble"``
   -> 971 bubble, ``"coffee"`` -> 967 espresso), announced with a warning; several there (``"dog"``) are an
   ambiguity error listing them, where the package's pick changes with Python's hash seed.

Unknown names raise a `GanalyzeError` with did-you-mean suggestions.
"""

from __future__ import annotations

import difflib
import functools
import json
import warnings
from collections.abc import Iterable, Sequence
from importlib import resources

from ..errors import GanalyzeError
from .wordnet import neighbour_classes

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torchvision` and modules
# of ours that load them.

SYNONYMS_FILE = "imagenet_synonyms.json"


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order (from torchvision's weight metadata; nothing downloaded)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def normalize(name: str) -> str:
    """Lower case, ``_`` and ``-`` as spaces, single spaces: the form every table is keyed by."""
    return " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def spaced(name: str) -> str:
    """`normalize` without lower-casing: the form exact-case category names are matched in."""
    return " ".join(name.strip().replace("_", " ").replace("-", " ").split())


@functools.lru_cache(maxsize=1)
def exact_table() -> dict[str, int]:
    """torchvision category name, case kept (``_``/``-`` as spaces) -> class index (these are unique)."""
    return {spaced(cat): i for i, cat in enumerate(imagenet_categories())}


@functools.lru_cache(maxsize=1)
def folded_table() -> dict[str, list[int]]:
    """Case-folded category name -> every class index with that name (two for "cardigan": 264 and 474)."""
    table: dict[str, list[int]] = {}
    for i, cat in enumerate(imagenet_categories()):
        table.setdefault(normalize(cat), []).append(i)
    return table


def name_table() -> dict[str, int]:
    """Normalised torchvision category name -> class index, for names only one class has."""
    return {k: v[0] for k, v in folded_table().items() if len(v) == 1}


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


def nltk_wordnet():
    """A WordNet 3.0 reader (`generators.wordnet.wordnet`: nltk's data, else Debian's wordnet-base), or None."""
    from .wordnet import wordnet

    return wordnet()


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


def _ambiguous(name: str, indices: Sequence[int], what: str) -> GanalyzeError:
    cats = imagenet_categories()
    options = "; ".join(f"{i} '{cats[i]}'" for i in indices)
    return GanalyzeError(f"ImageNet class name '{name}' is ambiguous: {what} {options}. Give the category name as "
                         "written there or the index instead.")


def _lookup(key: str, use_nltk: bool) -> int | None:
    folded = folded_table().get(key)
    if folded is not None:
        if len(folded) > 1:
            raise _ambiguous(key, folded, "ignoring case it names")
        return folded[0]
    unique, ambiguous, _ = synonyms(use_nltk)
    if key in unique:
        return unique[key]
    if key in ambiguous:
        raise _ambiguous(key, ambiguous[key], "it names")
    return None


@functools.lru_cache(maxsize=1)
def _offsets() -> dict[int, int]:
    """WordNet noun offset -> ImageNet class index."""
    return {int(w[1:]): i for i, w in enumerate(imagenet_wnids())}


def _neighbour(text: str, use_nltk: bool) -> int | None:
    """Step 5: the class pytorch_pretrained_biggan's resolver gives, through WordNet (None without WordNet); several
    neighbouring classes are an ambiguity error."""
    wn = nltk_wordnet() if use_nltk else None
    if wn is None:
        return None

    found, how = neighbour_classes(wn, " ".join(text.split()), _offsets())
    if len(found) > 1:
        cats = imagenet_categories()
        shown = "; ".join(f"{i} '{cats[i]}'" for i in found[:8]) + (f"; ... ({len(found)} in all)"
                                                                    if len(found) > 8 else "")
        raise GanalyzeError(f"ImageNet class name '{text}' is ambiguous: it is no ImageNet class, and its WordNet "
                            f"neighbours include {shown} (pytorch_pretrained_biggan picks one by Python's hash "
                            "seed). Give one of those names or indices instead.")
    if not found:
        return None
    if how != "synset":
        warnings.warn(f"'{text}' is no ImageNet class; the one ImageNet class among its WordNet hypernyms and "
                      f"hyponyms is {found[0]} '{imagenet_categories()[found[0]]}' (as pytorch_pretrained_biggan "
                      "resolves it).", stacklevel=3)
    return found[0]


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
    exact = exact_table().get(spaced(text))
    if exact is not None:
        return exact
    for candidate in [key, *_base_forms(key, use_nltk)]:
        idx = _lookup(candidate, use_nltk)
        if idx is not None:
            return idx
    idx = _neighbour(text, use_nltk)
    if idx is not None:
        return idx
    unique, ambiguous, _ = synonyms(use_nltk)
    close = difflib.get_close_matches(key, [*name_table(), *unique, *ambiguous], n=4, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise GanalyzeError(f"Unknown ImageNet class '{name}'.{hint} Give a class name, a WordNet synonym or an index "
                        "0..999; `ganalyze-mem sample --list-classes` lists them.")
