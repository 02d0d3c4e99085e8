"""Curation filters and scorers, one module per family.

Importing this package registers every curation step (``@register``). Pure functions for
other areas: :func:`minhash_clusters`, :func:`exact_clusters`, :func:`semantic_duplicates`.
"""

from __future__ import annotations

from tether.curate.decontaminate import Decontaminate, NgramIndex, ngram_overlap_hits
from tether.curate.dedup import Dedup, exact_clusters, exact_key
from tether.curate.heuristics import (
    LengthFilter,
    RatioFilter,
    RepetitionFilter,
    repetition_stats,
    text_ratios,
)
from tether.curate.ifd import IFDSelect, ifd_scores
from tether.curate.injection import InjectionScan, scan_injection
from tether.curate.judge import LLMJudge
from tether.curate.language import LanguageFilter, detect_language
from tether.curate.minhash import minhash_clusters, optimal_bands, signatures
from tether.curate.pii import Pii, analyze_pii
from tether.curate.responses import RefusalFilter, TruncationFilter, find_phrases, truncation_reason
from tether.curate.reward import RewardModel
from tether.curate.safety import SafetyJudge
from tether.curate.semantic import semantic_duplicates, similar_pairs

__all__ = [
    "Decontaminate",
    "Dedup",
    "IFDSelect",
    "InjectionScan",
    "RewardModel",
    "ifd_scores",
    "LLMJudge",
    "SafetyJudge",
    "scan_injection",
    "NgramIndex",
    "Pii",
    "analyze_pii",
    "ngram_overlap_hits",
    "LanguageFilter",
    "LengthFilter",
    "RatioFilter",
    "RefusalFilter",
    "RepetitionFilter",
    "TruncationFilter",
    "detect_language",
    "find_phrases",
    "repetition_stats",
    "text_ratios",
    "truncation_reason",
    "exact_clusters",
    "exact_key",
    "minhash_clusters",
    "optimal_bands",
    "semantic_duplicates",
    "signatures",
    "similar_pairs",
]
