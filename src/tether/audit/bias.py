"""Bias: group representation and its ratio to the reference, group-attribute co-occurrence
and its amplification (Zhao et al. 2017), the sentiment gap between groups, and a
counterfactual swap test of a classifier trained on the data.

Lexicons ship as data files in ``tether/audit/data/`` (groups, names, attributes, sentiment).

Example:
    >>> m = group_mentions(["She is a nurse.", "He is a doctor."], load_lexicons()["groups"]["gender"])
    >>> m["female"], m["male"]
    ([0], [1])
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from tether.audit.base import MetricResult, metric
from tether.audit.dataset import AuditData

log = logging.getLogger(__name__)

F = "bias"
REPR = metric(F, "representation_log2_ratio", higher_is_better=False, bounds=(0.0, math.inf),
              description="|log2| of the share of records mentioning a group in synthetic over the reference, "
                          "for the group furthest beyond its permutation null (1 = twice or half as often).")
AMPLIFY = metric(F, "cooccurrence_amplification", higher_is_better=False, bounds=(-1.0, 1.0),
                 description="Bias amplification of group-attribute co-occurrence over the reference "
                             "(Zhao et al. 2017); 0 means no amplification.")
SHIFT = metric(F, "cooccurrence_shift", higher_is_better=False, bounds=(0.0, 1.0),
               description="Largest total-variation distance, over attributes seen often enough in both, "
                           "between P(group | attribute) in synthetic and reference data.")
SENTIMENT = metric(F, "sentiment_gap", higher_is_better=False, bounds=(0.0, 2.0),
                   description="Largest gap in mean lexicon sentiment between groups of one dimension.")
COUNTERFACTUAL = metric(F, "counterfactual_flip_rate", higher_is_better=False, bounds=(0.0, 1.0),
                        description="Share of records whose predicted label changes when group terms are "
                                    "swapped, for a classifier trained on the data.")
STEREOTYPE = metric(F, "stereotype_amplification", higher_is_better=False, bounds=(-1.0, 1.0),
                    description="Share of gender-occupation pairs (a pronoun with the occupation it refers to, each "
                                "record weighing one) that follow the WinoBias stereotype in synthetic minus the "
                                "reference's: how much more the synthetic data ties each gender to its stereotyped "
                                "occupations; 0 means as much as the reference.")
WORDS = metric(F, "group_word_association", higher_is_better=False, bounds=(-math.inf, math.inf),
               description="Log-odds shift (Monroe et al. 2008 weighted log-odds, synthetic minus reference) of "
                           "the word most over-associated with a group's sentences beyond its permutation null.")
EMBEDDING = metric(F, "embedding_association", higher_is_better=False, bounds=(-4.0, 4.0),
                   description="WEAT effect size (Caliskan et al. 2017) of records mentioning men vs women towards "
                               "male vs female stereotyped occupations, synthetic minus reference.")

MIN_MENTIONS = 10


@lru_cache(maxsize=1)
def load_lexicons() -> dict[str, Any]:
    """The shipped lexicons: groups (with names merged into gender), attributes, sentiment."""
    base = resources.files("tether.audit") / "data"

    def read(name: str) -> dict[str, Any]:
        d = json.loads((base / name).read_text(encoding="utf-8"))
        d.pop("_about", None)
        return d

    groups = read("groups.json")
    names = read("names.json")
    for g, ns in names.items():
        groups["gender"].setdefault(g, [])
        groups["gender"][g] = list(groups["gender"][g]) + list(ns)
    return {"groups": groups, "attributes": read("attributes.json"), "sentiment": read("sentiment.json")}


_EDGE = r"[\w-]"  # a term matches only where the characters around it are not word characters or '-'


def _trie(terms: Sequence[str]) -> str:
    """A regex alternation of ``terms`` factored into a character trie.

    It matches exactly what the longest-first alternation ``longest|...|shortest`` matches
    (at one position, every term that fits the text is a prefix of the longest that does, and
    the trie tries the longer continuation before stopping), but the regex engine follows one
    branch per character instead of trying every term: about 6x faster on the shipped
    lexicons (tested equal on texts built to overlap the terms)."""
    root: dict[str, dict] = {}
    for t in terms:
        node = root
        for ch in t:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        kids = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not kids:
            return ""
        body = kids[0] if len(kids) == 1 else "(?:" + "|".join(kids) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


@lru_cache(maxsize=512)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    """Finds the terms (lowercase) as whole words, the longest where several start together."""
    return re.compile(rf"(?<!{_EDGE})(" + _trie(sorted({t.lower() for t in terms})) + rf")(?!{_EDGE})")


def _contained(term: str, others: Mapping[str, object]) -> list[str]:
    """The keys of ``others`` (other than ``term``) that occur in ``term`` as whole words, as
    ``_pattern`` would find them: starting at 0 or after a character that is not a word
    character or '-', and ending at the end or before one."""
    edge = [m.start() for m in re.finditer(r"[^\w-]", term)]
    starts, ends = [0] + [i + 1 for i in edge], [*edge, len(term)]
    found = (term[a:b] for a in starts for b in ends if b > a and (a, b) != (0, len(term)))
    return list(dict.fromkeys(u for u in found if u in others))


def _owners(lexicon: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, list[tuple[str, int]]]:
    """For each lowercased term, the (dimension, group column) pairs a match of it counts for:
    its own groups, plus, in other dimensions, the groups of terms it holds as whole words
    ('african american' also counts for a nationality's 'american'). Within one dimension the
    longer term wins ('middle aged' is not also 'aged')."""
    own: dict[str, list[tuple[str, int]]] = {}
    for d, groups in lexicon.items():
        for j, g in enumerate(groups):
            for term in groups[g]:
                own.setdefault(term.lower(), []).append((d, j))
    out = {t: list(v) for t, v in own.items()}
    for t in own:
        dims = {dd for dd, _ in own[t]}
        for u in _contained(t, own):
            out[t] += [(d, j) for d, j in own[u] if d not in dims]
    return out


_SENT = re.compile(r"(?<=[.!?])\s+|\n+")  # sentence breaks: co-occurrence counts within a sentence


@dataclass
class LexiconHits:
    """Every lexicon term found in a corpus, from one regex pass over each text.

    ``texts[ns]`` and ``sentences[ns]`` are booleans ``(rows, columns)`` per namespace (a bias
    dimension, an attribute list, a sentiment polarity): the row mentions a term of the
    column. ``counts[ns]`` counts the mentions per text (for sentiment). Sentence rows are the
    pieces between ``_SENT`` breaks, empty ones included (they hold nothing); text ``i`` holds
    sentence rows ``first_sentence[i]`` to ``first_sentence[i + 1]`` (``_SENT.split`` of its
    lowercased text, in order). ``spots`` says where the terms of chosen namespaces are.
    """

    texts: dict[str, np.ndarray]
    sentences: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    spots: dict[str, Spots] = field(default_factory=dict)
    first_sentence: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))


@dataclass
class Spots:
    """Where the terms of one namespace were found, one entry per match (in text order):
    the text row, the sentence row, the character offset in the text, the column and the
    matched term (lowercased)."""

    rows: np.ndarray
    sentences: np.ndarray
    starts: np.ndarray
    cols: np.ndarray
    terms: np.ndarray = field(default_factory=lambda: np.zeros(0, object))


def scan(texts: Sequence[str], lexicon: Mapping[str, Mapping[str, Sequence[str]]],
         spots: Collection[str] = ()) -> LexiconHits:
    """Find the terms of ``lexicon`` (namespace -> column -> terms) in ``texts``; for the
    namespaces in ``spots``, also where each match is (``LexiconHits.spots``).

    One pass over each lowercased text with one pattern for every namespace: where terms
    start together the longest wins, and a match also counts for the terms it holds as whole
    words in other namespaces (``_owners``), so 'african american' is a race and a
    nationality mention, and the positive 'good' inside a negative 'not good' still counts.
    (Separate passes per namespace would also find two terms that overlap without one
    holding the other; the shipped lexicons have none.)
    """
    owners = _owners(lexicon)
    shapes = {ns: len(cols) for ns, cols in lexicon.items()}
    t_rows: dict[str, list[int]] = {ns: [] for ns in lexicon}
    s_rows: dict[str, list[int]] = {ns: [] for ns in lexicon}
    cols: dict[str, list[int]] = {ns: [] for ns in lexicon}
    starts: dict[str, list[int]] = {ns: [] for ns in spots if ns in lexicon}
    terms: dict[str, list[str]] = {ns: [] for ns in starts}
    n_sent = 0
    first = np.zeros(len(texts) + 1, np.int64)
    pat = _pattern(tuple(owners)) if owners else None
    for i, text in enumerate(texts):
        first[i] = n_sent
        low = text.lower()
        breaks = [m.end() for m in _SENT.finditer(low)]
        if pat is not None:
            for m in pat.finditer(low):
                sid = n_sent + bisect.bisect_right(breaks, m.start())
                for ns, j in owners[m.group(1)]:
                    t_rows[ns].append(i)
                    s_rows[ns].append(sid)
                    cols[ns].append(j)
                    if ns in starts:
                        starts[ns].append(m.start())
                        terms[ns].append(m.group(1))
        n_sent += len(breaks) + 1
    first[len(texts)] = n_sent
    out = LexiconHits({}, {}, {}, first_sentence=first)
    for ns, k in shapes.items():
        r, c, sr = np.asarray(t_rows[ns], np.int64), np.asarray(cols[ns], np.int64), np.asarray(s_rows[ns], np.int64)
        out.texts[ns] = np.zeros((len(texts), k), dtype=bool)
        out.texts[ns][r, c] = True
        out.sentences[ns] = np.zeros((n_sent, k), dtype=bool)
        out.sentences[ns][sr, c] = True
        out.counts[ns] = np.bincount(r, minlength=len(texts)) if k else np.zeros(len(texts), np.int64)
        if ns in starts:
            out.spots[ns] = Spots(r, sr, np.asarray(starts[ns], np.int64), c, np.asarray(terms[ns], object))
    return out


def _membership(texts: Sequence[str], groups: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Booleans ``(len(texts), len(groups))`` for one dimension: text i mentions a term of
    group j (see ``scan``)."""
    return scan(texts, {"_": groups}).texts["_"]


def group_mentions(texts: Sequence[str], groups: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    """For each group, the indices of the texts that mention one of its terms."""
    hit = _membership(texts, groups)
    return {g: np.flatnonzero(hit[:, j]).tolist() for j, g in enumerate(groups)}


def _full_lexicon(lex: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """The shipped lexicons as ``scan`` namespaces: ``group:<dimension>``,
    ``attribute:<list>`` (one column per attribute) and ``sentiment:<polarity>``."""
    out: dict[str, dict[str, list[str]]] = {f"group:{d}": dict(gs) for d, gs in lex["groups"].items()}
    for name, attrs in lex["attributes"].items():
        out[f"attribute:{name}"] = {str(i): [a] for i, a in enumerate(attrs)}
    for pol in ("positive", "negative"):
        out[f"sentiment:{pol}"] = {pol: list(lex["sentiment"][pol])}
    return out


def _sentiment(hits: LexiconHits) -> np.ndarray:
    """Per text: (positive - negative) / (positive + negative) mentions, 0 with neither."""
    p = hits.counts["sentiment:positive"].astype(float)
    n = hits.counts["sentiment:negative"].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p + n > 0, (p - n) / np.where(p + n > 0, p + n, 1.0), 0.0)


def sentiment_scores(texts: Sequence[str]) -> np.ndarray:
    """Per text: (positive - negative) / (positive + negative) sentiment-lexicon mentions."""
    lex = load_lexicons()["sentiment"]
    return _sentiment(scan(texts, {f"sentiment:{p}": {p: lex[p]} for p in ("positive", "negative")}))


def representation_log2_ratio(share_syn: float, share_ref: float, n_syn: int, n_ref: int) -> float:
    """|log2| of the smoothed share ratio (add-half smoothing keeps zero counts finite)."""
    a = (share_syn * n_syn + 0.5) / (n_syn + 1)
    b = (share_ref * n_ref + 0.5) / (n_ref + 1)
    return abs(math.log2(a / b))


def bias_amplification(c_syn: np.ndarray, c_ref: np.ndarray, min_count: int = 5) -> float:
    """Zhao et al. (2017): mean over (attribute, group) pairs biased in the reference
    (b_ref > 1/|G|) of b_syn - b_ref, where b(a, g) = c(a, g) / sum_g' c(a, g').

    ``c_*`` are attributes x groups co-occurrence counts; |G| counts the groups the
    reference mentions with any attribute."""
    present = c_ref.sum(0) > 0
    c_syn, c_ref = c_syn[:, present], c_ref[:, present]
    g = c_ref.shape[1]
    rs, rr = c_syn.sum(1, keepdims=True), c_ref.sum(1, keepdims=True)
    ok = (rs[:, 0] >= min_count) & (rr[:, 0] >= min_count)
    if not ok.any() or g < 2:
        return float("nan")
    bs = c_syn[ok] / rs[ok]
    br = c_ref[ok] / rr[ok]
    mask = br > 1.0 / g
    if not mask.any():
        return 0.0
    return float((bs[mask] - br[mask]).mean())


def cooccurrence_shift(c_syn: np.ndarray, c_ref: np.ndarray, min_count: int = 5) -> float:
    """Largest, over attributes, total-variation distance between P(group | attribute)."""
    rs, rr = c_syn.sum(1), c_ref.sum(1)
    ok = (rs >= min_count) & (rr >= min_count)
    if not ok.any():
        return float("nan")
    ps, pr = c_syn[ok] / rs[ok, None], c_ref[ok] / rr[ok, None]
    return float((0.5 * np.abs(ps - pr).sum(1)).max())


@lru_cache(maxsize=64)
def _swap_map(groups: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[dict[str, str], re.Pattern[str]]:
    names = [g for g, _ in groups]
    terms = dict(groups)
    mapping: dict[str, str] = {}
    for gi, g in enumerate(names):
        other = terms[names[(gi + 1) % len(names)]]
        for ti, term in enumerate(terms[g]):
            if other:
                mapping[term.lower()] = other[ti % len(other)].lower()
    return mapping, _pattern(tuple(mapping))


def swap_terms(text: str, groups: Mapping[str, Sequence[str]]) -> str:
    """Replace each group term by the term at the same position of the next group (cyclic)."""
    mapping, pat = _swap_map(tuple((g, tuple(t)) for g, t in groups.items()))
    return pat.sub(lambda m: mapping[m.group(0)], text.lower())


def cooccurrence_counts(texts: Sequence[str], groups: Mapping[str, Sequence[str]], attrs: Sequence[str]) -> np.ndarray:
    """Attributes x groups counts of sentences that mention both (sentence level, so a group
    and an attribute in different sentences of one record do not count)."""
    hits = scan(texts, {"group": groups, "attribute": {str(i): [a] for i, a in enumerate(attrs)}})
    return hits.sentences["attribute"].T.astype(float) @ hits.sentences["group"].astype(float)


def run(data: AuditData) -> list[MetricResult]:
    """Every bias metric, judged against its permutation null (see ``bias_run``)."""
    from tether.audit.bias_run import run_family

    return run_family(data)


__all__ = [
    "bias_amplification",
    "cooccurrence_counts",
    "cooccurrence_shift",
    "group_mentions",
    "load_lexicons",
    "representation_log2_ratio",
    "run",
    "sentiment_scores",
    "swap_terms",
]
