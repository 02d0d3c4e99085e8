"""The diversity family's run: each metric of the synthetic data, and its rule against the
reference on matched units (equal tokens, equal records, fixed-size chunks) with a minimum
effect and significance against a permutation null of the pooled records
(``diversity_null``); without a reference, fixed thresholds where the metric has one.
"""

from __future__ import annotations

import numpy as np

from tether.audit import diversity_null as _null
from tether.audit.base import MetricResult, bootstrap_ci, offenders, permutation_p, wilson_ci
from tether.audit.dataset import AuditData, Corpus
from tether.audit.diversity import (
    CLUSTER_H,
    COMPRESSION,
    DISTINCT,
    NEAR_DUP,
    PREFIX,
    SELF_REP,
    VENDI,
    WordNgrams,
    compression_ratio,
    excess_null_of_openings,
    excess_of_openings,
    fit_kmeans,
    near_duplicates,
    normalised_entropy,
    openings_of_tokens,
    rate_of_openings,
    vendi_score,
)

# Rules against the reference: a minimum effect, and significance against a permutation null
# of the pooled records (diversity_null); without a reference, fixed thresholds.
#: distinct-n below this share of the reference's (at a matched token budget) ...
DISTINCT_RATIO = 0.9
#: self-repetition this much above the reference's (matched token budget)
SELF_REP_EXCESS = 0.05
#: chunks this much more compressible (ratio of mean chunk gzip ratios), with this many chunks a side
COMPRESSION_RATIO = 1.1
MIN_CHUNKS = 3
#: centred Vendi score below this share of the reference's (same records a side)
VENDI_RATIO = 0.8
#: cluster entropy this much below the reference's over the same pooled clusters
ENTROPY_GAP = 0.1
#: the common openings taking this many more records than chance gives
PREFIX_EXCESS = 0.05
#: near duplicates: Fisher p, excess over the reference's rate, and flagged records needed
NEAR_DUP_P = 0.005
NEAR_DUP_EXCESS = 0.02
NEAR_DUP_MIN_COUNT = 5
#: near duplicates without a reference
NEAR_DUP_LIMIT = 0.05
#: permutation rounds at most (the config's ``permutations``, capped)
MAX_ROUNDS = 100
#: pooled records the cluster centroids are fitted on at most
KMEANS_FIT_MAX = 4_000



def _ref_same_size(data: AuditData) -> Corpus | None:
    ref = data.reference
    if ref is None:
        return None
    n = len(data.synthetic)
    if len(ref) > n:
        rng = np.random.default_rng(data.config.seed + 7)
        return ref.subset(np.sort(rng.choice(len(ref), n, replace=False)))
    return ref


def _matched(syn_n: int, ref_n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices giving both sides the same number of records (the larger side subsampled)."""
    rng = np.random.default_rng(seed)
    m = min(syn_n, ref_n)
    pick = lambda n: np.arange(n) if n == m else np.sort(rng.choice(n, m, replace=False))  # noqa: E731
    return pick(syn_n), pick(ref_n)


def _ngram_rules(out: list[MetricResult], cmp: _null.NgramComparison | None, rounds: int) -> None:
    """Distinct-n and self-repetition against the reference at a matched token budget."""
    if cmp is None:
        return
    for res in out:
        name = res.info.name
        if name.startswith("distinct_"):
            n = int(name.rsplit("_", 1)[1])
            a, r = cmp.distinct[n]
            ratio = a / r if r else float("nan")
            p = _null.permutation_p_below(ratio, cmp.distinct_null[n])
            res.details["reference"] = r
            res.details["matched"] = {"tokens": cmp.tokens, "records": list(cmp.records), "synthetic": a,
                                      "reference": r, "ratio": ratio, "p_value": p,
                                      "null_ratio_p01": _q(cmp.distinct_null[n], 0.01)}
            res.warn_if(ratio < DISTINCT_RATIO and _null.significant(p, rounds),
                        f"{ratio:.0%} of the reference's at {cmp.tokens} tokens a side (permutation p = {p:.2g})")
        elif name == "self_repetition":
            a, r = cmp.self_repetition
            diff = a - r
            p = _null.permutation_p_above(diff, cmp.self_repetition_null)
            res.details["reference"] = r
            res.details["matched"] = {"tokens": cmp.tokens, "records": list(cmp.records), "synthetic": a,
                                      "reference": r, "difference": diff, "p_value": p,
                                      "null_difference_p99": _q(cmp.self_repetition_null, 0.99)}
            res.warn_if(diff > SELF_REP_EXCESS and _null.significant(p, rounds),
                        f"{diff:.2f} above the reference's {r:.3f} at {cmp.tokens} tokens a side "
                        f"(permutation p = {p:.2g})")


def _q(null: np.ndarray, q: float) -> float:
    null = np.asarray(null, dtype=float)
    null = null[~np.isnan(null)]
    return float(np.quantile(null, q)) if null.size else float("nan")


def run_family(data: AuditData) -> list[MetricResult]:
    """Every diversity metric of ``data.synthetic``, each compared with the reference when given."""
    cfg = data.config
    syn = data.synthetic
    full_ref = data.reference
    ref = _ref_same_size(data)
    n = len(syn)
    rounds = int(min(cfg.permutations, MAX_ROUNDS))
    out: list[MetricResult] = []

    grams = WordNgrams(syn.tokens, max(DISTINCT))
    for k, info in DISTINCT.items():
        v = grams.distinct(k)
        top_grams, share = grams.most_repeated(k, syn.ids)
        # offenders: the records made most of the corpus's most repeated n-grams
        out.append(MetricResult.of(info, v, n=n, details={"top_ngrams": top_grams},
                                   offenders=[o for o in offenders(syn.ids, share, syn.texts) if o["score"] > 0]))

    sr = grams.self_repetition(4)
    out.append(MetricResult.of(SELF_REP, float(sr.mean()) if n else float("nan"), n=n,
                               ci=bootstrap_ci(sr, n_boot=cfg.bootstrap, seed=cfg.seed),
                               details={"top_ngrams": grams.most_repeated(4, syn.ids)[0]},
                               offenders=offenders(syn.ids, sr, syn.texts)))
    if full_ref is not None:
        _ngram_rules(out, _null.compare_ngrams(syn.tokens, full_ref.tokens, max_n=max(DISTINCT), rep_n=4,
                                               rounds=rounds, seed=cfg.seed + 11), rounds)

    cr = compression_ratio(syn.texts)
    res = MetricResult.of(COMPRESSION, cr, n=n)
    if full_ref is not None:
        rng = np.random.default_rng(cfg.seed + 13)
        cs, cref = _null.chunk_sizes(syn.texts, rng), _null.chunk_sizes(full_ref.texts, rng)
        a, b = _null.pooled_ratio(*cs), _null.pooled_ratio(*cref)
        ratio = a / b if b == b and b > 0 else float("nan")
        p = _null.permutation_p_above(ratio, _null.pooled_ratio_null(cs, cref, rounds, cfg.seed + 14))
        res.details["reference"] = compression_ratio(full_ref.texts)
        res.details["chunks"] = {"bytes": _null.CHUNK_BYTES, "synthetic": len(cs[0]), "reference": len(cref[0]),
                                 "synthetic_ratio": a, "reference_ratio": b, "ratio": ratio, "p_value": p}
        res.warn_if(ratio > COMPRESSION_RATIO and min(len(cs[0]), len(cref[0])) >= MIN_CHUNKS
                    and _null.significant(p, rounds),
                    f"chunks {ratio - 1:.0%} more compressible than the reference's (permutation p = {p:.2g})")
    out.append(res)

    emb = data.emb(syn)
    v = vendi_score(emb)
    res = MetricResult.of(VENDI, v, n=n)
    if ref is not None:
        remb = data.emb(full_ref)  # type: ignore[arg-type]
        si, ri = _matched(len(emb), len(remb), cfg.seed + 7)
        rv = vendi_score(remb[ri])
        cv, crv = vendi_score(_null.centred(emb[si])), vendi_score(_null.centred(remb[ri]))
        ratio = cv / crv if crv else float("nan")
        sub_ratio, null, m = _null.vendi_null(emb, remb, rounds=min(rounds, _null.VENDI_NULL_ROUNDS),
                                              seed=cfg.seed + 15, records=_null.VENDI_NULL_RECORDS)
        p = _null.permutation_p_below(sub_ratio, null)
        res.details["reference"] = rv
        res.details["ratio"] = v / rv if rv else float("nan")
        res.details["centred"] = {"records": len(si), "synthetic": cv, "reference": crv, "ratio": ratio,
                                  "null_records": m, "null_ratio": sub_ratio, "p_value": p}
        vendi_rounds = min(rounds, _null.VENDI_NULL_ROUNDS)
        res.warn_if(ratio < VENDI_RATIO and sub_ratio < 1 and _null.significant(p, vendi_rounds),
                    f"centred Vendi score {ratio:.0%} of the reference's at {len(si)} records a side "
                    f"(permutation p = {p:.2g} on {m} a side)")
    out.append(res)

    ce = _cluster_entropy(data, emb, rounds)
    if ce is not None:
        out.append(ce)

    out.append(_prefix(data, ref, rounds))
    out.append(_near_dup(data, ref))
    return out


def _cluster_entropy(data: AuditData, emb: np.ndarray, rounds: int) -> MetricResult | None:
    """Entropy of the synthetic records over k-means clusters of the pooled embeddings (each
    side centred, the same number of records a side), against the reference's over the same
    clusters and a permutation null of the pooled records' side labels.

    The centroids are fitted on the distinct pooled embeddings: copies cannot pull centroids
    towards themselves, and the fit does not depend on which side a record is on, so the
    permutation null is exact."""
    cfg = data.config
    syn, ref = data.synthetic, data.reference
    n = len(syn)
    if ref is not None:
        remb = data.emb(ref)
        si, ri = _matched(len(emb), len(remb), cfg.seed + 7)
        pool = np.concatenate([_null.centred(emb[si]), _null.centred(remb[ri])])
    else:
        si = np.arange(n)
        pool = _null.centred(emb)
    n_side = len(si)
    # distinct rows, found by a random projection (copies share it exactly)
    key = np.round(pool @ np.random.default_rng(0).standard_normal(pool.shape[1]), 9)
    distinct = pool[np.unique(key, return_index=True)[1]]
    k = int(max(2, min(50, len(pool) // (40 if ref is not None else 20))))
    if n < 2 or len(distinct) < 2 * k:
        return None
    rng = np.random.default_rng(cfg.seed + 16)
    fit_rows = np.sort(rng.choice(len(distinct), min(len(distinct), KMEANS_FIT_MAX), replace=False))
    km = fit_kmeans(distinct[fit_rows], k, cfg.seed)
    labels = km.predict(pool)
    sl = labels[:n_side]
    h = normalised_entropy(sl, k)
    share = np.bincount(sl, minlength=k) / n_side
    rl = labels[n_side:] if ref is not None else None
    expected = np.bincount(rl, minlength=k) / len(rl) if rl is not None else np.full(k, 1 / k)
    excess = share - expected
    crowded = [int(c) for c in np.argsort(-excess, kind="stable")[:5] if excess[c] > 0]
    members: list[int] = []
    if crowded:
        idx = np.where(sl == crowded[0])[0]
        members = idx[np.argsort(km.transform(pool[idx])[:, crowded[0]], kind="stable")][:10].tolist()
    res = MetricResult.of(
        CLUSTER_H, h, n=n,
        details={"k": k, "fitted_on": "pooled distinct" if ref is not None else "synthetic distinct",
                 "records": n_side,
                 "largest_clusters": [{"cluster": c, "share": float(share[c]), "expected_share": float(expected[c]),
                                       "size": int(share[c] * n_side + 0.5)} for c in crowded]},
        offenders=[{"id": syn.ids[si[i]], "score": float(excess[crowded[0]]), "cluster": crowded[0],
                    "text": syn.texts[si[i]][:300]} for i in members])
    if rl is not None:
        rh = normalised_entropy(rl, k)
        gap = rh - h
        p = _null.permutation_p_above(gap, _null.entropy_gap_null(labels, n_side, k, rounds, cfg.seed + 17))
        res.details["reference"] = rh
        res.details["p_value"] = p
        res.warn_if(gap > ENTROPY_GAP and _null.significant(p, rounds),
                    f"{gap:.2f} below the reference's {rh:.3f} over the same clusters (permutation p = {p:.2g})")
    return res


def _prefix(data: AuditData, ref: Corpus | None, rounds: int) -> MetricResult:
    cfg = data.config
    syn = data.synthetic
    n = len(syn)
    opens = openings_of_tokens(syn.tokens, cfg.prefix_words)
    pr, common = rate_of_openings(opens, cfg.prefix_top)
    top = {o for o, _ in common[:3]}
    bad = [i for i, o in enumerate(opens) if o in top]
    res = MetricResult.of(
        PREFIX, pr, n=n, ci=wilson_ci(round(pr * n), n) if n else None,
        details={"top_openings": [{"opening": o, "count": c} for o, c in common]},
        offenders=[{"id": syn.ids[i], "score": 1.0, "text": syn.texts[i][:300]} for i in bad[:10]],
    )
    if ref is not None:
        ref_opens = openings_of_tokens(ref.tokens, cfg.prefix_words)
        rpr, rcommon = rate_of_openings(ref_opens, cfg.prefix_top)
        res.details["reference"] = rpr
        res.details["reference_top_openings"] = [{"opening": o, "count": c} for o, c in rcommon]
        ex = excess_of_openings(opens, ref_opens, cfg.prefix_top)
        null = excess_null_of_openings(opens, ref_opens, cfg.prefix_top, rounds=rounds, seed=cfg.seed)
        q50, q99 = _q(null, 0.5), _q(null, 0.99)
        p = permutation_p(ex, null)
        res.details["excess_over_reference"] = ex
        res.details["excess_by_chance"] = {"median": q50, "p99": q99, "rounds": int(null.size)}
        res.details["p_value"] = p
        res.warn_if(_null.significant(p, rounds) and ex - q50 > PREFIX_EXCESS,
                    f"common openings take {ex:.1%} more records than in the reference "
                    f"(chance alone gives {q50:.1%}; permutation p = {p:.2g})")
    else:
        res.warn_if(pr > 0.3, "over 30% of records share a few openings")
    return res


def _near_dup(data: AuditData, ref: Corpus | None) -> MetricResult:
    cfg = data.config
    syn = data.synthetic
    n = len(syn)
    dups = near_duplicates(syn.texts, cfg.near_dup_threshold)
    flagged = [i for i, j in enumerate(dups) if j >= 0]
    k = len(flagged)
    res = MetricResult.of(
        NEAR_DUP, k / n if n else float("nan"), n=n, ci=wilson_ci(k, n),
        details={"count": k, "threshold": cfg.near_dup_threshold},
        offenders=[{"id": syn.ids[i], "score": 1.0, "duplicate_of": syn.ids[dups[i]], "text": syn.texts[i][:300]}
                   for i in flagged[:10]],
    )
    if ref is not None and len(ref):
        # the rate grows with the number of records (more pairs): compare at the same size
        m = len(ref)
        kr = sum(j >= 0 for j in near_duplicates(ref.texts, cfg.near_dup_threshold))
        ks = k
        if m < n:
            sub = np.sort(np.random.default_rng(cfg.seed + 18).choice(n, m, replace=False))
            ks = sum(j >= 0 for j in near_duplicates([syn.texts[i] for i in sub], cfg.near_dup_threshold))
        rr, rs = kr / m, ks / min(n, m)
        p = _null.two_proportion_p(ks, min(n, m), kr, m)
        res.details["reference"] = rr
        res.details["reference_count"] = kr
        res.details["at_reference_size"] = {"records": min(n, m), "count": ks, "rate": rs}
        res.details["p_value"] = p
        res.warn_if(p < NEAR_DUP_P and rs >= rr + NEAR_DUP_EXCESS and ks >= NEAR_DUP_MIN_COUNT,
                    f"{rs:.1%} near duplicates against the reference's {rr:.1%} at {m} records a side "
                    f"(Fisher p = {p:.2g})")
    else:
        res.warn_if(res.value > NEAR_DUP_LIMIT, f"over {NEAR_DUP_LIMIT:.0%} of records near-duplicate another")
    return res


__all__ = ["run_family"]
