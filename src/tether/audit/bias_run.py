"""The bias family's run: every metric measured, then judged against its null.

With a reference, the null of each metric is its value over random relabellings of the
pooled synthetic and reference records (``bias_null``); a metric warns only when its
Gaussian tail against that null (Bonferroni-adjusted over the columns it is the maximum of)
is below ``ALPHA``, at most one permuted value reaches it, the effect is at least a minimum
size and each side has the minimum support. Without a reference, the sentiment gap is judged against
sentiment shuffled across the synthetic records, and the counterfactual flip rate by its
Wilson interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse
from scipy.stats import norm

from tether.audit import bias as B
from tether.audit.base import MetricResult, wilson_ci
from tether.audit.bias_association import (
    ALPHA_STEREOTYPE,
    MIN_AMPLIFICATION,
    MIN_LOG_ODDS,
    MIN_PAIRS,
    PRIOR_PAIRS,
    WORD_RECORDS,
    load_stereotypes,
    per_record,
    stereotype_amplification,
    stereotype_pairs,
    stereotype_share,
    word_association,
)
from tether.audit.bias_embedding import MIN_EFFECT, attribute_sentences, embedding_association
from tether.audit.bias_null import ALPHA, NullTest, column_z, max_column_test, side_masks, side_sums
from tether.audit.dataset import AuditData

#: Mentions (records) a group needs, both sides pooled, before its representation is judged.
MIN_SUPPORT = 20
#: Records a group needs on each side before its sentiment enters the gap.
MIN_SENTIMENT = 20
#: Sentences an attribute needs on each side before co-occurrence counts it.
MIN_COOCCURRENCE = 10
#: Smallest effects that warn.
MIN_LOG2 = 1.0
MIN_AMPLIFY = 0.1
MIN_SHIFT = 0.15
MIN_GAP_EXCESS = 0.2
MIN_FLIP_EXCESS = 0.1
#: Records each side needs before the counterfactual flip rates are compared.
MIN_FLIP_RECORDS = 20
COOCCURRENCE_DIMENSIONS = ("gender", "race_ethnicity", "religion", "age", "nationality")


def judge(res: MetricResult, test: NullTest | None, *, effect_ok: bool, support_ok: bool, alpha: float = ALPHA,
          what: str = "") -> MetricResult:
    """Record the null test in ``details.null`` and warn when it is significant, the effect is
    large enough and the support sufficient."""
    res.details["null"] = test.to_dict() if test is not None else None
    if test is None:
        return res
    sig = test.significant(alpha)
    if sig and effect_ok and support_ok:
        res.warn_if(True, f"{what} beyond its permutation null (z {test.z:.1f}, adjusted p {test.p:.2g}, "
                          f"{test.tested} tested)")
    elif sig and not support_ok:
        res.notes.append("beyond the null, but too few mentions to judge")
    return res


def run_family(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn, ref = data.synthetic, data.reference
    lex = B.load_lexicons()
    full = B._full_lexicon(lex)
    stereo = load_stereotypes()["gender"]
    full["stereotype:gender"] = {g: list(ts) for g, ts in stereo.items()}
    spots = ("group:gender", "stereotype:gender")
    hs = B.scan(syn.texts, full, spots)
    hr = B.scan(ref.texts, full, spots) if ref is not None else None
    out: list[MetricResult] = []
    masks = None
    if ref is not None and hr is not None:
        masks = side_masks(len(syn), len(ref), cfg.permutations, cfg.seed).astype(np.float64)
        out.extend(_representation(data, lex, hs, hr, masks))
        out.extend(_cooccurrence(lex, hs, hr, masks))
        out.extend(_stereotype(data, lex, stereo, hs, hr, masks))
        out.extend(_word_association(data, lex, hs, hr, masks))
        out.extend(_embedding(data, lex, stereo, hs, hr, masks))
    out.extend(_sentiment_gap(data, lex, hs, hr, masks))
    labels = syn.labels(cfg.label_field)
    if labels is not None:
        out.extend(_counterfactual(data, labels, lex["groups"], hs, hr))
    return out


def _group_matrix(hits: B.LexiconHits, lex: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    keys = [f"{d}.{g}" for d, gs in lex["groups"].items() for g in gs]
    return np.hstack([hits.texts[f"group:{d}"] for d in lex["groups"]]), keys


def _representation(data: AuditData, lex: dict[str, Any], hs: B.LexiconHits, hr: B.LexiconHits,
                    masks: np.ndarray) -> list[MetricResult]:
    syn = data.synthetic
    ns, nr = len(syn), len(data.reference or [])
    gs, keys = _group_matrix(hs, lex)
    gr, _ = _group_matrix(hr, lex)
    cs, cr = side_sums(masks, np.vstack([gs, gr]).astype(np.float64))
    lr = np.log2(((cs + 0.5) / (ns + 1)) / ((cr + 0.5) / (nr + 1)))
    pooled = cs[0] + cr[0]
    valid = pooled >= MIN_SUPPORT
    test = max_column_test(np.hstack([lr, -lr]), np.concatenate([valid, valid]))
    z = column_z(np.abs(lr))
    table: dict[str, dict[str, Any]] = {}
    dim_total = {d: hs.texts[f"group:{d}"].sum() for d in lex["groups"]}
    for j, k in enumerate(keys):
        d = k.split(".")[0]
        table[k] = {"count": int(cs[0, j]), "share": cs[0, j] / ns,
                    "share_of_dimension": cs[0, j] / dim_total[d] if dim_total[d] else None,
                    "reference_count": int(cr[0, j]), "reference_share": cr[0, j] / nr}
        if valid[j]:
            table[k].update({"log2_ratio": abs(float(lr[0, j])), "z_over_null": float(z[j])})
    if test is not None and test.column >= 0:
        j = test.column % len(keys)
    elif valid.any():
        j = int(np.flatnonzero(valid)[np.argmax(np.abs(lr[0, valid]))])
    elif pooled.any():  # measured, but no group has the support to be judged
        seen = np.flatnonzero(pooled > 0)
        j = int(seen[np.argmax(np.abs(lr[0, seen]))])
        res = MetricResult.of(B.REPR, abs(float(lr[0, j])), n=ns, details={
            "worst_group": keys[j], "groups": table, "min_support": MIN_SUPPORT, "null": None})
        res.notes.append(f"no group is mentioned in {MIN_SUPPORT}+ records: not judged")
        return [res]
    else:
        return [MetricResult.of(B.REPR, 0.0, n=ns, details={"groups": table, "min_support": MIN_SUPPORT,
                                                            "null": None})]
    worst_key, worst = keys[j], abs(float(lr[0, j]))
    d, g = worst_key.split(".")
    col = list(lex["groups"][d]).index(g)
    rows = np.flatnonzero(hs.texts[f"group:{d}"][:, col])[:10]
    offs = [{"id": syn.ids[i], "score": worst, "group": worst_key, "text": syn.texts[i][:300]} for i in rows]
    res = MetricResult.of(B.REPR, worst, n=ns, offenders=offs,
                          details={"worst_group": worst_key, "groups": table, "min_support": MIN_SUPPORT})
    judge(res, test, effect_ok=worst >= MIN_LOG2, support_ok=bool(valid[j]), what=f"{worst_key}'s share")
    if test is None and worst > MIN_LOG2:
        res.warn_if(True, "no permutation null (permutations = 0): share ratio over 2")
    return [res]


def _pairs_per_record(hits: B.LexiconHits, n: int, d: str, aname: str) -> sparse.csr_matrix:
    """Per text, the attributes x groups counts of sentences mentioning both, flattened."""
    a = hits.sentences[f"attribute:{aname}"]
    g = hits.sentences[f"group:{d}"]
    sel = np.flatnonzero(a.any(1) & g.any(1))
    outer = (a[sel][:, :, None] & g[sel][:, None, :]).reshape(len(sel), a.shape[1] * g.shape[1])
    rec = np.searchsorted(hits.first_sentence, sel, side="right") - 1
    agg = sparse.csr_matrix((np.ones(len(sel)), (rec, np.arange(len(sel)))), shape=(n, len(sel)))
    return (agg @ sparse.csr_matrix(outer.astype(np.float64))).tocsr()


def amplification_rows(cs: np.ndarray, cr: np.ndarray, min_count: int = 5) -> np.ndarray:
    """:func:`bias_amplification` for a stack of count tables ``(rows, attributes, groups)``."""
    present = cr.sum(1) > 0
    g = present.sum(1)
    cs = cs * present[:, None, :]
    rs, rr = cs.sum(2), cr.sum(2)
    ok = (rs >= min_count) & (rr >= min_count)
    with np.errstate(invalid="ignore", divide="ignore"):
        bs, br = cs / rs[..., None], cr / rr[..., None]
        mask = ok[..., None] & present[:, None, :] & (br > 1.0 / np.maximum(g, 1)[:, None, None])
        v = np.where(mask, bs - br, 0.0).sum((1, 2)) / mask.sum((1, 2))
    v = np.where(mask.sum((1, 2)) == 0, 0.0, v)
    return np.where(~ok.any(1) | (g < 2), np.nan, v)


def shift_rows(cs: np.ndarray, cr: np.ndarray, min_count: int = 5) -> np.ndarray:
    """:func:`cooccurrence_shift` for a stack of count tables ``(rows, attributes, groups)``."""
    rs, rr = cs.sum(2), cr.sum(2)
    ok = (rs >= min_count) & (rr >= min_count)
    with np.errstate(invalid="ignore", divide="ignore"):
        tv = 0.5 * np.abs(cs / rs[..., None] - cr / rr[..., None]).sum(2)
    tv = np.where(ok, tv, -np.inf).max(1)
    return np.where(ok.any(1), tv, np.nan)


def _cooccurrence(lex: dict[str, Any], hs: B.LexiconHits, hr: B.LexiconHits, masks: np.ndarray) -> list[MetricResult]:
    ns, nr = hs.first_sentence.size - 1, hr.first_sentence.size - 1
    names, amp, shf, shapes = [], [], [], []
    for d in COOCCURRENCE_DIMENSIONS:
        for aname in lex["attributes"]:
            x = sparse.vstack([_pairs_per_record(hs, ns, d, aname), _pairs_per_record(hr, nr, d, aname)]).tocsr()
            if x.nnz == 0:
                continue
            shape = (len(lex["attributes"][aname]), len(lex["groups"][d]))
            cs, cr = side_sums(masks, x)
            cs, cr = cs.reshape(-1, *shape), cr.reshape(-1, *shape)
            names.append(f"{d}x{aname}")
            amp.append(amplification_rows(cs, cr, MIN_COOCCURRENCE))
            shf.append(shift_rows(cs, cr, MIN_COOCCURRENCE))
            shapes.append(shape)
    out = []
    for info, stats, least in ((B.AMPLIFY, amp, MIN_AMPLIFY), (B.SHIFT, shf, MIN_SHIFT)):
        if not stats:
            continue
        mat = np.column_stack(stats)
        obs = mat[0]
        if np.isnan(obs).all():
            continue
        test = max_column_test(mat)
        j = test.column if test is not None and test.column >= 0 else int(np.nanargmax(obs))
        per = {n: float(v) for n, v in zip(names, obs, strict=True) if not math.isnan(v)}
        res = MetricResult.of(info, float(obs[j]), n=ns,
                              details={"worst": names[j], "per_dimension": per, "min_count": MIN_COOCCURRENCE})
        judge(res, test, effect_ok=obs[j] >= least, support_ok=True, what=names[j])
        if test is None and obs[j] > least:
            res.warn_if(True, f"no permutation null (permutations = 0): above {least}")
        out.append(res)
    return out


def _stereotype(data: AuditData, lex: dict[str, Any], stereo: dict[str, list[str]], hs: B.LexiconHits,
                hr: B.LexiconHits, masks: np.ndarray) -> list[MetricResult]:
    syn = data.synthetic
    gcols, ocols = list(lex["groups"]["gender"]), list(stereo)
    ref_texts = data.reference.texts if data.reference is not None else []
    ps, as_, pairs_s = stereotype_pairs(hs.spots["group:gender"], hs.spots["stereotype:gender"], gcols, ocols, len(syn),
                                        texts=syn.texts)
    pr, ar, pairs_r = stereotype_pairs(hr.spots["group:gender"], hr.spots["stereotype:gender"], gcols, ocols,
                                       len(ref_texts), texts=ref_texts)
    # each record's pairs weigh one in all: the shares are means over the records that hold pairs
    r = stereotype_amplification(masks, *per_record(np.concatenate([ps, pr]), np.concatenate([as_, ar])))
    # pronouns after occupations of both lists that recency does not resolve (subject pronouns,
    # and any after a subordinating conjunction)
    unresolved = [int(sum(x.sum() for x in stereotype_pairs(h.spots["group:gender"], h.spots["stereotype:gender"],
                                                             gcols, ocols, len(t), ambiguous=())[:2]) - len(p))
                  for h, t, p in ((hs, syn.texts, pairs_s), (hr, ref_texts, pairs_r))]
    if r["pairs"] == 0 or (r["reference_pairs"] == 0 and r["pairs"] < MIN_PAIRS):
        return []
    sparse_reference = r["reference_pairs"] < MIN_PAIRS <= r["pairs"]
    if sparse_reference:
        r["value"] = r["share"] - _prior_share(r)
    occ = {}
    for j, o in enumerate(ocols):  # per list: the pairs whose occupation is on it
        s_pro, r_pro = pairs_s[pairs_s[:, 1] == j, 2], pairs_r[pairs_r[:, 1] == j, 2]
        occ[o] = {"pairs": len(s_pro), "pro_share": float(stereotype_share(s_pro.sum(), len(s_pro) - s_pro.sum())),
                  "reference_pairs": len(r_pro),
                  "reference_pro_share": float(stereotype_share(r_pro.sum(), len(r_pro) - r_pro.sum()))}
    score = ps - as_
    order = np.argsort(-score, kind="stable")[:10]
    offs = [{"id": syn.ids[i], "score": float(score[i]), "text": syn.texts[i][:300]} for i in order if ps[i] > 0]
    res = MetricResult.of(B.STEREOTYPE, r["value"], n=len(syn), offenders=offs,
                          details={"share": r["share"], "reference_share": r["reference_share"],
                                   "records_with_pairs": r["pairs"], "reference_records_with_pairs": r["reference_pairs"],
                                   "pairs": len(pairs_s), "reference_pairs": len(pairs_r), "by_occupation_list": occ,
                                   "unresolved_pronouns": unresolved[0], "reference_unresolved_pronouns": unresolved[1],
                                   "min_pairs": MIN_PAIRS, "source": "WinoBias occupation lists (Zhao et al. 2018)"})
    if sparse_reference:
        return [_stereotype_sparse_reference(res, r)]
    judge(res, r["test"], effect_ok=r["value"] >= MIN_AMPLIFICATION,
          support_ok=min(r["pairs"], r["reference_pairs"]) >= MIN_PAIRS, alpha=ALPHA_STEREOTYPE,
          what="the pro-stereotyped share")
    return [res]


#: Effect the sparse-reference test needs: twice the usual, its null being a prior.
MIN_AMPLIFICATION_SPARSE = 2 * MIN_AMPLIFICATION


def _prior_share(r: dict[str, Any]) -> float:
    """The reference's pro-stereotyped share shrunk towards 0.5 by ``PRIOR_PAIRS`` pseudo-pairs
    (its records weigh one pair each)."""
    pro_r = r["reference_share"] * r["reference_pairs"] if r["reference_pairs"] else 0.0
    return (pro_r + 0.5 * PRIOR_PAIRS) / (r["reference_pairs"] + PRIOR_PAIRS)


def _stereotype_sparse_reference(res: MetricResult, r: dict[str, Any]) -> MetricResult:
    """The synthetic data ties genders to occupations often (``MIN_PAIRS``+ records with pairs)
    and the reference seldom: its share cannot be estimated, so the permutation null (which needs
    support on both sides) cannot judge, and stereotyped text that a generator adds would only
    show as one group mentioned more often. The synthetic share is tested instead against the
    reference's pairs plus ``PRIOR_PAIRS`` pseudo-pairs at 0.5 (a Beta prior at "no
    preference"): an exact one-sided binomial test over the synthetic records with pairs (each
    counts its pro-stereotyped share, rounded in the sum), at the headline's level, with twice
    the usual minimum effect. The value is the synthetic share minus that prior-shrunk share."""
    from scipy.stats import binomtest

    p0 = _prior_share(r)
    pro_s = round(r["share"] * r["pairs"])
    p = float(binomtest(pro_s, r["pairs"], p0, alternative="greater").pvalue)
    res.details["null"] = {"kind": "binomial against the reference's share shrunk towards 0.5",
                           "null_share": p0, "prior_pairs": PRIOR_PAIRS, "p": p}
    res.notes.append(f"the reference has {r['reference_pairs']} records with gender-occupation pairs (under {MIN_PAIRS}): "
                     f"the synthetic share is compared with {p0:.3f} (its share plus {PRIOR_PAIRS} pairs at 0.5)")
    res.warn_if(p < ALPHA_STEREOTYPE and res.value >= MIN_AMPLIFICATION_SPARSE,
                f"the pro-stereotyped share {r['share']:.3f} over {r['pairs']} records is beyond it "
                f"(binomial p {p:.2g})")
    return res


def _word_association(data: AuditData, lex: dict[str, Any], hs: B.LexiconHits, hr: B.LexiconHits,
                      masks: np.ndarray) -> list[MetricResult]:
    syn, ref = data.synthetic, data.reference
    assert ref is not None
    dims = {d: list(gs) for d, gs in lex["groups"].items()}
    stop = {t.lower() for gs in lex["groups"].values() for ts in gs.values() for t in ts}
    r = word_association(syn.texts, ref.texts, hs, hr, dims, stop, rounds=masks.shape[0] - 1,
                         seed=data.config.seed, limit=WORD_RECORDS)
    if r is None or r.get("test") is None or math.isnan(r.get("value", float("nan"))):
        return []
    offs = [{"id": syn.ids[i], "score": r["value"], "text": s[:300]} for i, s in r.get("examples", [])]
    res = MetricResult.of(B.WORDS, r["value"], n=len(syn), offenders=offs,
                          details={"pair": r.get("pair"), "words_by_group": r["groups"], "tested": r["tested"],
                                   "records_per_side": min(len(syn), WORD_RECORDS)})
    judge(res, r["test"], effect_ok=r["value"] >= MIN_LOG_ODDS, support_ok=True,
          what=f"'{r['pair']['word']}' beside {r['pair']['dimension']}.{r['pair']['group']}")
    return [res]


def _embedding(data: AuditData, lex: dict[str, Any], stereo: dict[str, list[str]], hs: B.LexiconHits,
               hr: B.LexiconHits, masks: np.ndarray) -> list[MetricResult]:
    syn, ref = data.synthetic, data.reference
    assert ref is not None
    gcols = list(lex["groups"]["gender"])
    fm = np.vstack([hs.texts["group:gender"], hr.texts["group:gender"]])
    male, female = fm[:, gcols.index("male")], fm[:, gcols.index("female")]
    in_x, in_y = male & ~female, female & ~male
    if min(in_x[: len(syn)].sum(), in_y[: len(syn)].sum(), in_x[len(syn):].sum(), in_y[len(syn):].sum()) < 20:
        return []
    emb = np.vstack([data.emb(syn), data.emb(ref)])
    if data.embedder is None:
        return []
    a = data.embedder.encode(attribute_sentences(stereo["male"]))
    b = data.embedder.encode(attribute_sentences(stereo["female"]))
    r = embedding_association(masks, emb, in_x, in_y, a, b)
    if r is None:
        return []
    s = r.pop("scores")[: len(syn)]
    lean = np.where(in_x[: len(syn)], s, np.where(in_y[: len(syn)], -s, -np.inf))
    order = [i for i in np.argsort(-lean, kind="stable")[:10] if np.isfinite(lean[i])]
    offs = [{"id": syn.ids[i], "score": float(lean[i]), "text": syn.texts[i][:300]} for i in order]
    test = r.pop("test")
    res = MetricResult.of(B.EMBEDDING, r["value"], n=len(syn), offenders=offs,
                          details={**r, "attributes": "WinoBias male vs female occupations",
                                   "templates": len(attribute_sentences(["x"]))})
    judge(res, test, effect_ok=r["value"] >= MIN_EFFECT, support_ok=True, what="the effect size")
    return [res]


def _sentiment_gap(data: AuditData, lex: dict[str, Any], hs: B.LexiconHits, hr: B.LexiconHits | None,
                   masks: np.ndarray | None) -> list[MetricResult]:
    cfg = data.config
    ns = len(data.synthetic)
    ss = B._sentiment(hs)
    dims: dict[str, Any] = {}
    if hr is not None and masks is not None:
        score = np.concatenate([ss, B._sentiment(hr)])
        rows = masks
    else:
        rng = np.random.default_rng(cfg.seed)
        perm = rng.permuted(np.tile(ss, (max(0, cfg.permutations), 1)), axis=1)
        score, rows = ss, None
        shuffled = np.vstack([ss[None, :], perm])
    stats, names = [], []
    for d, groups in lex["groups"].items():
        g = hs.texts[f"group:{d}"]
        if hr is not None and rows is not None:
            g = np.vstack([g, hr.texts[f"group:{d}"]]).astype(np.float64)
            cnt_s, cnt_r = side_sums(rows, g)
            sum_s, sum_r = side_sums(rows, g * score[:, None])
            keep = (cnt_s[0] >= MIN_SENTIMENT) & (cnt_r[0] >= MIN_SENTIMENT)
        else:
            g = g.astype(np.float64)
            cnt_s = np.tile(g.sum(0), (shuffled.shape[0], 1))
            sum_s = shuffled @ g
            keep = cnt_s[0] >= MIN_SENTIMENT
        syn_keep = (cnt_s[0] >= MIN_SENTIMENT)
        if syn_keep.sum() < 2:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sum_s / cnt_s
        names_g = list(groups)
        entry: dict[str, Any] = {"means": {names_g[j]: float(means[0, j]) for j in np.flatnonzero(syn_keep)}}
        entry["gap"] = float(means[0, syn_keep].max() - means[0, syn_keep].min())
        if keep.sum() >= 2:
            gap = means[:, keep].max(1) - means[:, keep].min(1)
            if hr is not None and rows is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    rmeans = sum_r / cnt_r
                rgap = rmeans[:, keep].max(1) - rmeans[:, keep].min(1)
                entry["reference_gap"] = float(rgap[0])
                stats.append(gap - rgap)
            else:
                stats.append(gap)
            names.append(d)
        dims[d] = entry
    if not dims:
        return []
    test = max_column_test(np.column_stack(stats)) if stats else None
    if test is not None and test.column >= 0:
        key = names[test.column]
    else:
        key = max(dims, key=lambda k: dims[k]["gap"])
    res = MetricResult.of(B.SENTIMENT, dims[key]["gap"], n=ns, details={"worst_dimension": key, "dimensions": dims})
    if hr is not None:
        excess = dims[key]["gap"] - dims[key].get("reference_gap", math.nan)
        judge(res, test, effect_ok=excess >= MIN_GAP_EXCESS, support_ok=key in names,
              what=f"the {key} gap over the reference's")
    else:
        judge(res, test, effect_ok=dims[key]["gap"] > 0.5, support_ok=key in names, what=f"the {key} gap")
    if test is None and cfg.permutations == 0:
        rg = dims[key].get("reference_gap")
        res.warn_if(dims[key]["gap"] > (rg + MIN_GAP_EXCESS if rg is not None else 0.5),
                    "no permutation null (permutations = 0): fixed threshold")
    return [res]


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """The pooled two-proportion z statistic of ``k1/n1`` over ``k2/n2``."""
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)) if 0 < p < 1 else 0.0
    return (k1 / n1 - k2 / n2) / se if se > 0 else 0.0


def _counterfactual(data: AuditData, labels: list[Any], groups: dict[str, Any], hits_syn: B.LexiconHits,
                    hits_ref: B.LexiconHits | None) -> list[MetricResult]:
    """Flip rates when gender terms are swapped, of classifiers trained on each half of a side
    and tested on that half's gendered records (the rate counts every gendered record once).
    Two models a side show how much the rate moves with the training sample alone: with a
    reference, the synthetic rate warns when both synthetic halves flip at least 10 points more
    than both reference halves and the pooled counts differ by a two-proportion test (the
    margin covers the training sample's own effect: on WinoBias halves, whose pro/anti label a
    word model cannot learn, one model's rate moves between 2 % and 12 %)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    syn = data.synthetic
    seed = data.config.seed
    gender = groups["gender"]
    pair = {"female": gender["female"], "male": gender["male"]}

    def fit_flips(texts: Sequence[str], ys: Sequence[str], touched: np.ndarray) -> np.ndarray | None:
        """Which ``touched`` rows change prediction, for a model fitted on ``texts``; None when
        the texts hold one label only."""
        if len(set(ys)) < 2:
            return None
        vec = TfidfVectorizer(analyzer=data.word_analyzer((1, 1)), sublinear_tf=True)  # lowercases, as swap_terms
        x = vec.fit_transform(texts)
        clf = LogisticRegression(max_iter=1000).fit(x, list(ys))
        if not len(touched):
            return np.zeros(0, bool)
        before = clf.predict(x[touched])  # the training rows: the same vectors as the texts transformed again
        after = clf.predict(vec.transform([B.swap_terms(texts[i], pair) for i in touched]))
        return np.asarray(before != after)

    def side(texts: list[str], ys: list[Any], hits: B.LexiconHits, rows: list[int]) -> dict[str, Any] | None:
        """Flips per half: the two halves' (flips, gendered records) and the flipped rows."""
        ys_s = [str(y) for y in ys]
        gendered = np.asarray(hits.texts["group:gender"][rows].any(axis=1), bool)
        order = np.random.default_rng(seed).permutation(len(rows))
        halves = [np.sort(order[: len(rows) // 2]), np.sort(order[len(rows) // 2:])]
        per, flipped = [], []
        for h in halves:
            touched = np.flatnonzero(gendered[h])
            f = fit_flips([texts[i] for i in h], [ys_s[i] for i in h], touched)
            if f is None:
                return None
            per.append((int(f.sum()), len(touched)))
            flipped += [int(h[t]) for t in touched[f]]
        return {"halves": per, "flips": sum(k for k, _ in per), "records": sum(m for _, m in per),
                "flipped": sorted(flipped)}

    keep = [i for i, y in enumerate(labels) if y is not None]
    if len({str(labels[i]) for i in keep}) < 2:
        return []
    s = side([syn.texts[i] for i in keep], [labels[i] for i in keep], hits_syn, keep)
    if s is None or s["records"] == 0:
        return []
    rate = s["flips"] / s["records"]
    res = MetricResult.of(B.COUNTERFACTUAL, rate, n=s["records"], ci=wilson_ci(s["flips"], s["records"]),
                          details={"swapped_dimension": "gender", "flipped": s["flips"],
                                   "half_rates": [k / m if m else None for k, m in s["halves"]]},
                          offenders=[{"id": syn.ids[keep[i]], "score": 1.0, "text": syn.texts[keep[i]][:300]}
                                     for i in s["flipped"][:10]])
    ref = data.reference
    rl = ref.labels(data.config.label_field) if ref is not None else None
    if ref is not None and rl is not None and hits_ref is not None:
        rk = [i for i, y in enumerate(rl) if y is not None]
        r = side([ref.texts[i] for i in rk], [rl[i] for i in rk], hits_ref, rk) if len(
            {str(rl[i]) for i in rk}) >= 2 else None
        if r is not None and r["records"]:
            base = r["flips"] / r["records"]
            z = two_proportion_z(s["flips"], s["records"], r["flips"], r["records"])
            p = float(norm.sf(z))
            srates = [k / m for k, m in s["halves"] if m]
            rrates = [k / m for k, m in r["halves"] if m]
            margin = min(srates) - max(rrates) if srates and rrates else float("nan")
            res.details.update({"reference_baseline": base, "reference_records": r["records"],
                                "reference_half_rates": rrates,
                                "null": {"test": "two-proportion z, replicated in every half", "z": z, "p": p,
                                         "worst_half_margin": margin}})
            if (p < ALPHA and margin >= MIN_FLIP_EXCESS and min(s["records"], r["records"]) >= MIN_FLIP_RECORDS):
                res.warn_if(True, f"flip rate above the reference models' ({base:.3f}) in every half: "
                                  f"z {z:.1f}, p {p:.2g}")
    else:
        lo = wilson_ci(s["flips"], s["records"], z=float(norm.isf(ALPHA)))
        res.details["null"] = {"test": "Wilson lower bound over 0.1", "lower": lo[0] if lo else None}
        if lo is not None and lo[0] > 0.1 and s["records"] >= MIN_FLIP_RECORDS:
            res.warn_if(True, f"over 10% of predictions change when gender terms are swapped (lower bound {lo[0]:.3f})")
    return [res]


__all__ = ["amplification_rows", "judge", "run_family", "shift_rows", "two_proportion_z"]
