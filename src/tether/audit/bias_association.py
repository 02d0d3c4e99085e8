"""Group associations of the bias family: stereotype amplification (the headline number) and
a data-driven group-word association test (Monroe et al. 2008, "Fightin' Words").

Stereotype amplification pairs every gender mention with the stereotyped occupation of its
sentence it most plausibly refers to (the nearest before it, else the one after: a pronoun's
likely antecedent), using the WinoBias occupation lists (``data/stereotypes.json``), and
leaves unpaired the pronouns whose antecedent recency does not give: a subject pronoun, or any
pronoun after a subordinating conjunction, that follows occupations of both lists ("The
physician hired the secretary because she was overwhelmed": which one she is, is the clause's
meaning, and a nearest-occupation guess reads that sentence and its anti-stereotyped twin
alike half the time). A pair is pro-stereotyped when the gender matches the occupation's
list. The metric is the synthetic share of pro-stereotyped pairs minus the reference's, each
record weighing one (its pairs' share): how much more the synthetic data ties each gender to
its stereotyped occupations. Group mention rates do not move it, only the association.

The word association test compares, for every group, the words of sentences that mention
it with those of sentences that mention another group of its dimension, in the synthetic
data and in the reference: Monroe et al.'s weighted log-odds with an informative Dirichlet
prior (the pooled word frequencies), taken as an interaction (synthetic log-odds ratio minus
the reference's), so words the synthetic data uses more everywhere do not count. No fixed
attribute list is needed: the words found are reported with their sentences.

Example:
    >>> d, z = fightin_words(np.array([10.0, 0.0]), np.array([2.0, 8.0]), np.array([1.0, 1.0]))
    >>> bool(z[0] > 0 > z[1])
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from tether.audit.bias_null import ALPHA, column_z, max_column_test, side_masks, side_sums

#: Records holding gender-occupation pairs each side needs before stereotype amplification
#: is judged: the fewest whose all being pro-stereotyped is significant against a share of 0.5
#: at the headline's level (0.5 ** 8 = 0.0039).
MIN_PAIRS = 8
#: Pseudo-pairs at a share of 0.5 that shrink a sparse reference's share (the prior of the
#: sparse-reference test).
PRIOR_PAIRS = 20
#: Smallest stereotype amplification (share of pairs) that warns.
MIN_AMPLIFICATION = 0.05
#: Level of the headline test (one metric, one column: no adjustment).
ALPHA_STEREOTYPE = 0.005
#: Dirichlet prior strength (pseudo-count of the whole vocabulary) of the word test.
PRIOR = 500.0
#: Sentences a group needs on each side, and occurrences a word needs beside the group in
#: the synthetic data, before the word test looks at them.
MIN_GROUP_SENTENCES = 20
MIN_WORD = 8
#: Smallest log-odds interaction that warns (about 1.65 times the odds).
MIN_LOG_ODDS = 0.5
#: Candidate words per group whose permutation null is computed.
CANDIDATES = 12
#: Records a side the word test reads at most (a random sample beyond: it tokenises every
#: sentence that mentions a group).
WORD_RECORDS = 3000


@lru_cache(maxsize=1)
def load_stereotypes() -> dict[str, dict[str, list[str]]]:
    """Dimension -> group -> stereotyped occupations (``data/stereotypes.json``)."""
    d = json.loads((resources.files("tether.audit") / "data" / "stereotypes.json").read_text(encoding="utf-8"))
    d.pop("_about", None)
    return d


# -- stereotype amplification ----------------------------------------------------------------


#: Gender terms whose antecedent recency does not give: a subject pronoun of a clause after
#: two occupations ("The physician hired the secretary because she was overwhelmed") takes
#: the one its clause's meaning picks, often the main clause's subject, not the nearest.
SUBJECT_PRONOUNS = ("he", "she")
#: Possessive pronouns: they name the possessor, so they do not pair with an occupation after
#: them ("Mick pays his teacher": the teacher is not male).
POSSESSIVES = ("his", "her", "hers")
#: Words that open a subordinate clause: a pronoun after one, following occupations of both
#: lists, is resolved by the clause's meaning ("... because her idea cannot be implemented").
SUBORDINATORS = ("because", "since", "when", "whenever", "while", "after", "before", "although", "though", "if",
                 "unless", "until", "once", "whereas")
_SUBORDINATOR = re.compile(r"\b(?:" + "|".join(SUBORDINATORS) + r")\b")


def stereotype_pairs(spots_group: Any, spots_occ: Any, group_cols: Sequence[str], occ_cols: Sequence[str],
                     n_texts: int, ambiguous: Collection[str] = SUBJECT_PRONOUNS,
                     texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text, the (pro, anti) counts of gender mentions paired with the occupation they
    most plausibly refer to, and per pair its (text, occupation col, pro).

    A mention pairs with the nearest stereotyped occupation of its sentence before it, else
    (unless it is a possessive pronoun) the one after. Where the occupations before it in
    its sentence come from more than one list, recency does not resolve every mention, and a
    wrong choice counts a stereotyped sentence and its anti-stereotyped twin alike: a term of
    ``ambiguous`` (the subject pronouns) is then left unpaired, and with ``texts`` (the
    scanned texts) so is any mention after a subordinating conjunction that follows the
    nearest occupation. Object pronouns of the same clause keep the nearest ("... and slapped
    her": a non-reflexive object is not its own clause's subject), as do nouns and names.

    ``spots_*`` are ``Spots`` of the group and occupation namespaces; ``*_cols`` their column
    names (a group pairs with the occupation list of the same name; other groups are left
    out)."""
    keep = np.isin(np.asarray(group_cols, object)[spots_group.cols], list(occ_cols)) if len(spots_group.cols) else \
        np.zeros(0, bool)
    g_sent, g_start = spots_group.sentences[keep], spots_group.starts[keep]
    g_row, g_col = spots_group.rows[keep], spots_group.cols[keep]
    g_term = np.asarray(spots_group.terms, object)[keep] if len(spots_group.terms) else np.zeros(len(g_sent), object)
    pro = np.zeros(n_texts)
    anti = np.zeros(n_texts)
    if not len(g_sent) or not len(spots_occ.cols):
        return pro, anti, np.zeros((0, 3), np.int64)
    ok = (spots_occ.sentences << 32) + spots_occ.starts
    order = np.argsort(ok, kind="stable")
    ok, o_sent, o_col = ok[order], spots_occ.sentences[order], spots_occ.cols[order]
    gk = (g_sent << 32) + g_start
    before = np.searchsorted(ok, gk, side="left") - 1
    after = before + 1
    b_ok = (before >= 0) & (o_sent[np.clip(before, 0, None)] == g_sent)
    a_ok = (after < len(ok)) & (o_sent[np.clip(after, None, len(ok) - 1)] == g_sent)
    # per occupation match, how many lists its sentence has named up to it (itself included)
    first = np.searchsorted(o_sent, o_sent, side="left")
    lists_seen = np.zeros(len(ok), np.int64)
    for j in range(len(occ_cols)):
        c = np.cumsum(o_col == j)
        lists_seen += (c - np.where(first > 0, c[np.clip(first - 1, 0, None)], 0)) > 0
    mixed = b_ok & (lists_seen[np.clip(before, 0, None)] > 1)
    unresolved = mixed & np.isin(g_term, list(ambiguous))
    if texts is not None:
        o_start = spots_occ.starts[order]
        low: dict[int, str] = {}  # offsets are the lowercased text's
        for k in np.flatnonzero(mixed & ~unresolved):
            row = int(g_row[k])
            text = low.setdefault(row, texts[row].lower())
            unresolved[k] = _SUBORDINATOR.search(text, int(o_start[before[k]]), int(g_start[k])) is not None
    forward = ~b_ok & a_ok & ~np.isin(g_term, list(POSSESSIVES))
    pick = np.where(b_ok, before, after)
    has = (b_ok | forward) & ~unresolved
    gname = np.asarray(group_cols, object)[g_col[has]]
    oname = np.asarray(occ_cols, object)[o_col[pick[has]]]
    is_pro = gname == oname
    rows = g_row[has]
    pro = np.bincount(rows[is_pro], minlength=n_texts).astype(float)
    anti = np.bincount(rows[~is_pro], minlength=n_texts).astype(float)
    return pro, anti, np.column_stack([rows, o_col[pick[has]], is_pro]).astype(np.int64)


def per_record(pro: np.ndarray, anti: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each record's (pro, anti) pair counts scaled to sum to one: its pro-stereotyped share
    and the rest. Shares of sums of these are means over records of their shares, so a long
    record that names one person's job ten times weighs as much as a sentence that does once
    (its pairs are not independent: they are one text's; records are what the null permutes)."""
    pro, anti = np.asarray(pro, float), np.asarray(anti, float)
    tot = pro + anti
    share = np.divide(pro, tot, out=np.zeros_like(tot), where=tot > 0)
    return share, (tot > 0) - share


def stereotype_share(pro: np.ndarray, anti: np.ndarray) -> np.ndarray:
    """Share of pro-stereotyped pairs (nan with none)."""
    pro, anti = np.asarray(pro, float), np.asarray(anti, float)
    tot = pro + anti
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, pro / np.where(tot > 0, tot, 1.0), np.nan)


def stereotype_amplification(masks: np.ndarray, pro: np.ndarray, anti: np.ndarray) -> dict[str, Any]:
    """Synthetic minus reference share of pro-stereotyped pairs for every row of ``masks``
    (row 0 observed), with the pair counts and the permutation test of row 0. ``pro`` and
    ``anti`` are per record (pair counts, or :func:`per_record` weights: then the "pairs" are
    the records that hold any)."""
    ps, pr = side_sums(masks, pro)
    as_, ar = side_sums(masks, anti)
    stat = stereotype_share(ps, as_) - stereotype_share(pr, ar)
    test = max_column_test(stat[:, None])
    return {"value": float(stat[0]), "share": float(stereotype_share(ps[0], as_[0])),
            "reference_share": float(stereotype_share(pr[0], ar[0])), "pairs": int(ps[0] + as_[0]),
            "reference_pairs": int(pr[0] + ar[0]), "test": test}


# -- Fightin' Words ----------------------------------------------------------------------------


def fightin_words(y_i: np.ndarray, y_j: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monroe, Colaresi and Quinn (2008), eqs. 16, 18-20: the weighted log-odds ratio of each
    word in corpus i over corpus j with a Dirichlet prior ``alpha`` (pseudo-counts per word),
    and its z-score.

    ``delta_w = log((y_iw + a_w) / (n_i + a_0 - y_iw - a_w)) - log((y_jw + a_w) / (n_j + a_0 - y_jw - a_w))``,
    ``var(delta_w) ~ 1 / (y_iw + a_w) + 1 / (y_jw + a_w)``, ``z = delta / sqrt(var)``."""
    lo_i, var_i = _log_odds(y_i, alpha)
    lo_j, var_j = _log_odds(y_j, alpha)
    d = lo_i - lo_j
    return d, d / np.sqrt(var_i + var_j)


def _log_odds(y: np.ndarray, alpha: np.ndarray, n: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Per word: the prior-smoothed log-odds in one corpus and its approximate variance;
    ``n`` is the corpus size (default ``y.sum(-1)``)."""
    y = np.asarray(y, float)
    a = np.asarray(alpha, float)
    n = y.sum(axis=-1, keepdims=True) if n is None else np.asarray(n, float)
    a0 = a.sum()
    return np.log((y + a) / (n + a0 - y - a)), 1.0 / (y + a)


def association_interaction(ctx_s: np.ndarray, base_s: np.ndarray, ctx_r: np.ndarray, base_r: np.ndarray,
                            alpha: np.ndarray, n: tuple[Any, Any, Any, Any] | None = None) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """How much more a word is tied to a group's sentences in synthetic than in reference
    data: the Fightin' Words log-odds ratio (group sentences over the dimension's other
    sentences) in synthetic minus the one in the reference, and its z-score (the variances
    of the four log-odds add). ``n`` gives the four corpus sizes when the counts are only
    some of the vocabulary's columns."""
    n = n or (None, None, None, None)
    parts = [_log_odds(y, alpha, m) for y, m in zip((ctx_s, base_s, ctx_r, base_r), n, strict=True)]
    d = (parts[0][0] - parts[1][0]) - (parts[2][0] - parts[3][0])
    v = parts[0][1] + parts[1][1] + parts[2][1] + parts[3][1]
    return d, d / np.sqrt(v)


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def word_association(texts_s: Sequence[str], texts_r: Sequence[str], hits_s: Any, hits_r: Any,
                     dimensions: Mapping[str, Sequence[str]], stop: set[str], *, rounds: int, seed: int = 0,
                     limit: int | None = None) -> dict[str, Any] | None:
    """The group-word association test over the pooled records (at most ``limit`` a side,
    drawn at random), with ``rounds`` permutations of their side labels; None when no group
    has enough sentences on both sides. ``dimensions``: dimension -> group names (the
    ``group:<dimension>`` namespaces of ``hits_*``); ``stop``: words left out (the group
    terms themselves). Examples are (synthetic record index, sentence)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    rng = np.random.default_rng(seed)
    chosen = [np.arange(n) if limit is None or n <= limit else np.sort(rng.choice(n, size=limit, replace=False))
              for n in (len(texts_s), len(texts_r))]
    ns = len(chosen[0])
    masks = side_masks(ns, len(chosen[1]), rounds, seed + 1)
    dims = {d: gs for d, gs in dimensions.items()
            if np.any((hits_s.sentences[f"group:{d}"].sum(0) >= MIN_GROUP_SENTENCES)
                      & (hits_r.sentences[f"group:{d}"].sum(0) >= MIN_GROUP_SENTENCES)) and len(gs) >= 2}
    if not dims:
        return None
    # the sentences that mention a group of a kept dimension, both sides pooled (synthetic first)
    sent_ids, sent_rec, sent_text, orig = [], [], [], []
    hit_rows: dict[str, list[np.ndarray]] = {d: [] for d in dims}
    for texts, hits, off, pick in ((texts_s, hits_s, 0, chosen[0]), (texts_r, hits_r, ns, chosen[1])):
        any_hit = np.zeros(hits.sentences[f"group:{next(iter(dims))}"].shape[0], bool)
        for d in dims:
            any_hit |= hits.sentences[f"group:{d}"].any(1)
        sids = np.flatnonzero(any_hit)
        recs = np.searchsorted(hits.first_sentence, sids, side="right") - 1
        pos = np.full(len(texts), -1)
        pos[pick] = np.arange(len(pick))
        sids, recs = sids[pos[recs] >= 0], recs[pos[recs] >= 0]
        cache: dict[int, list[str]] = {}
        for sid, rec in zip(sids.tolist(), recs.tolist(), strict=True):
            if rec not in cache:
                cache[rec] = _split(texts[rec])
            sent_text.append(cache[rec][sid - hits.first_sentence[rec]])
        sent_ids.append(sids)
        sent_rec.append(pos[recs] + off)
        orig.append(recs)
        for d in dims:
            hit_rows[d].append(hits.sentences[f"group:{d}"][sids])
    rec = np.concatenate(sent_rec)
    orig_rec = np.concatenate(orig)
    n_pool = masks.shape[1]
    vec = CountVectorizer(analyzer=_TOKEN.findall)  # the sentences are lowercased already
    w = vec.fit_transform(sent_text).tocsc().astype(float)
    vocab = np.asarray(vec.get_feature_names_out(), object)
    keep = np.array([v not in stop for v in vocab], bool)
    w, vocab = w[:, keep], vocab[keep]
    length = np.asarray(w.sum(1)).ravel()
    prior = np.asarray(w.sum(0)).ravel()
    alpha = PRIOR * prior / max(prior.sum(), 1.0)
    is_syn = rec < ns
    agg = sparse.csr_matrix((np.ones(len(rec)), (rec, np.arange(len(rec)))), shape=(n_pool, len(rec)))
    wc, w = w, w.tocsr()
    cand: list[tuple[str, str, int, np.ndarray, np.ndarray]] = []  # dim, group, word col, ctx, base masks
    tested = 0
    observed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for d, groups in dims.items():
        h = np.vstack(hit_rows[d])
        for j, g in enumerate(groups):
            ctx = h[:, j]
            base = h.any(1) & ~ctx
            if min((ctx & is_syn).sum(), (ctx & ~is_syn).sum(), (base & is_syn).sum(),
                   (base & ~is_syn).sum()) < MIN_GROUP_SENTENCES:
                continue
            counts = [np.asarray(w[sel].sum(0)).ravel() for sel in (ctx & is_syn, base & is_syn, ctx & ~is_syn,
                                                                    base & ~is_syn)]
            delta, z = association_interaction(counts[0], counts[1], counts[2], counts[3], alpha)
            ok = (counts[0] >= MIN_WORD) & (delta > 0)
            tested += int(ok.sum())
            if not ok.any():
                continue
            top = np.flatnonzero(ok)[np.argsort(-z[ok])][:CANDIDATES]
            observed[(d, g)] = [{"word": str(vocab[k]), "log_odds_shift": float(delta[k]), "z": float(z[k]),
                                 "synthetic_count": int(counts[0][k]), "reference_count": int(counts[2][k])}
                                for k in top]
            for k in top:
                cand.append((d, g, int(k), ctx, base))
    if not cand:
        return {"tested": tested, "test": None, "groups": {}}
    # per pooled record: each candidate's count in group and in other-group sentences, and the sizes
    cols_ctx = sparse.hstack([wc[:, [k]].multiply(c[:, None]) for _, _, k, c, _ in cand]).tocsr()
    cols_base = sparse.hstack([wc[:, [k]].multiply(b[:, None]) for _, _, k, _, b in cand]).tocsr()
    len_ctx = np.column_stack([length * c for *_, c, _ in cand])
    len_base = np.column_stack([length * b for *_, b in cand])
    yc_s, yc_r = side_sums(masks, agg @ cols_ctx)
    yb_s, yb_r = side_sums(masks, agg @ cols_base)
    nc_s, nc_r = side_sums(masks, agg @ len_ctx)
    nb_s, nb_r = side_sums(masks, agg @ len_base)
    a = alpha[[k for _, _, k, _, _ in cand]]
    a0 = alpha.sum()

    def lo(y: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.log((y + a) / (n + a0 - y - a)), 1.0 / (y + a)

    parts = [lo(y, n) for y, n in ((yc_s, nc_s), (yb_s, nb_s), (yc_r, nc_r), (yb_r, nb_r))]
    delta = (parts[0][0] - parts[1][0]) - (parts[2][0] - parts[3][0])
    z = delta / np.sqrt(parts[0][1] + parts[1][1] + parts[2][1] + parts[3][1])
    test = max_column_test(z, tested=max(tested, 1))
    per_col = column_z(z)
    groups_out: dict[str, Any] = {}
    for i, (d, g, k, _, _) in enumerate(cand):
        row = next(r for r in observed[(d, g)] if r["word"] == vocab[k])
        row["z_over_null"] = float(per_col[i])
        groups_out.setdefault(f"{d}.{g}", []).append(row)
    for rows in groups_out.values():
        rows.sort(key=lambda r: -r["z_over_null"])
    out: dict[str, Any] = {"tested": tested, "test": test, "groups": groups_out, "value": float("nan")}
    if test is not None and test.column >= 0:
        d, g, k, ctx, _ = cand[test.column]
        out["value"] = float(delta[0, test.column])
        out["pair"] = {"dimension": d, "group": g, "word": str(vocab[k])}
        rows = np.flatnonzero(ctx & is_syn & (np.asarray(wc[:, k].todense()).ravel() > 0))
        out["examples"] = [(int(orig_rec[s]), sent_text[s]) for s in rows[:10]]
    return out


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


def _split(text: str) -> list[str]:
    """A text's sentences as ``scan`` numbers them (lowercased)."""
    return _SENT_SPLIT.split(text.lower())


__all__ = [
    "ALPHA",
    "ALPHA_STEREOTYPE",
    "WORD_RECORDS",
    "association_interaction",
    "fightin_words",
    "load_stereotypes",
    "per_record",
    "stereotype_amplification",
    "stereotype_pairs",
    "stereotype_share",
    "word_association",
]

