"""The HTML report: self-contained, scorecard first, and (in headless Chromium) free of
console errors, with a working hover on the embedding map."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
from audit_data import make_real  # noqa: E402

from tether.audit import AuditConfig, audit  # noqa: E402
from tether.embed import EmbedderConfig  # noqa: E402
from tether.report import render_html  # noqa: E402


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    data = make_real(600, seed=4)
    syn = [dict(r, response="<script>alert(1)</script> " + r["response"]) if i == 0 else r
           for i, r in enumerate(data[:300])]
    cfg = AuditConfig(embedder=EmbedderConfig(backend="hashing"), bootstrap=20,
                      families=["quality", "diversity", "fidelity", "privacy"], gates={"diversity.distinct_2": ">= 0.9"})
    rep = audit(syn, reference=data[300:], config=cfg)
    out = tmp_path_factory.mktemp("report")
    rep.write(out)
    return out


@pytest.mark.slow
def test_html_is_self_contained_and_opens_with_the_scorecard(report_dir):
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script src" not in text and "<link" not in text
    assert text.index('class="cards"') < text.index("<h2")
    assert 'id="card-diversity"' in text and "FAILED" in text  # the failed gate is shown
    assert "<script>alert(1)</script>" not in text  # record text is escaped
    assert "<svg class=\"map\"" in text and "<svg class=\"lines\"" in text


def test_render_handles_an_empty_report():
    assert "tether audit" in render_html({"scorecard": {}, "metrics": []})


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
def test_report_in_headless_chromium(report_dir):
    if _chromium() is None:
        if os.environ.get("CI"):  # .ci/run installs it: in CI a missing browser is a failure
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("needs Debian's chromium (installed by .ci/run)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto((report_dir / "report.html").as_uri())
        page.wait_for_load_state("load")
        assert page.locator(".card").count() == 8
        tip = page.locator("#tip")
        assert not tip.is_visible()
        point = page.locator("svg.map circle").last  # drawn last, so on top
        point.scroll_into_view_if_needed()
        point.hover()
        assert tip.is_visible()
        assert point.get_attribute("data-text")[:20] in tip.inner_text()
        page.screenshot(path=str(report_dir / "report.png"), full_page=False)
        browser.close()
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests
    assert (report_dir / "report.png").stat().st_size > 10_000
