"""The documentation site, checked as a reader sees it.

* Every ``docs/*.md`` page is in the ``mkdocs.yml`` nav (no build needed).
* The built site (``make docs`` writes ``build/site``), served over HTTP on 127.0.0.1 and
  rendered in headless Chromium (Debian's ``chromium``, driven by playwright): every page
  loads without a console error, a page error or a failed request; every internal link and
  anchor resolves; every image has loaded (natural width > 0), and each benchmark results
  page shows the plots and tables of its committed markdown; the API page of `Reranker`
  shows its signature and a parameter table with every parameter of the real signature;
  every public name has an anchor on the API pages. Screenshots of the landing page and the
  `Reranker` API page go to ``build/docs-screenshots/``.

Without a built site, playwright or a Chromium these checks skip, except under ``CI=true``
(``.ci/run`` builds the site and installs Chromium first), where they fail.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import inspect
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "docs-screenshots"
RESULTS = ROOT / "benchmarks" / "results"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def nav_paths(node: Any) -> Iterator[str]:
    """Every page path named in an mkdocs ``nav`` (nested lists of str or {title: ...})."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from nav_paths(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from nav_paths(value)


def test_every_docs_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = set(nav_paths(config["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.glob("*.md")}
    assert len(pages) > 10, "docs pages were not found"
    missing = sorted(pages - in_nav)
    assert not missing, f"docs pages missing from the nav of mkdocs.yml: {missing}"


PACKAGES = [  # (import path, folder griffe searches): what the API reference documents
    ("ragrerank", "."),
    ("langchain_ragrerank", "integrations/langchain"),
    ("llama_index.postprocessor.ragrerank", "integrations/llama-index"),
]


def test_every_public_name_has_a_docstring_that_renders(caplog: pytest.LogCaptureFixture) -> None:
    """Each exported class or function has a docstring whose Google-style sections parse
    without a warning (what ``mkdocs build --strict`` would fail on) and that documents
    every named parameter (Args, or Attributes for a dataclass)."""
    try:
        import griffe
    except ImportError:
        unavailable("griffe is not installed (the `docs` extra)")
    problems: list[str] = []
    for path, folder in PACKAGES:
        module = griffe.load(path, search_paths=[str(ROOT / folder)], try_relative_path=False)
        assert isinstance(module, griffe.Module) and module.exports, path
        for name in module.exports:
            member = module[name]
            obj = member.final_target if isinstance(member, griffe.Alias) else member
            if not isinstance(obj, (griffe.Class, griffe.Function)):
                continue  # __version__, type aliases
            where = f"{path}.{name} ({obj.relative_filepath}:{obj.lineno})"
            if obj.docstring is None:
                problems.append(f"{where}: no docstring")
                continue
            caplog.clear()
            with caplog.at_level("WARNING"):
                sections = obj.docstring.parse("google", warn_unknown_params=True)
            problems += [f"{where}: {r.getMessage()}" for r in caplog.records]
            documented = {
                item.name
                for section in sections
                if section.kind.value in ("parameters", "attributes", "other parameters")
                for item in section.value
            }
            inherited = isinstance(obj, griffe.Class) and not (
                "dataclass" in obj.labels or "__init__" in obj.members
            )  # an inherited __init__ is documented where it is defined
            undocumented = [
                p.name for p in ([] if inherited else obj.parameters)
                if p.name not in ("self", "cls", *documented)
                and p.kind.value not in ("variadic positional", "variadic keyword")
            ]  # fmt: skip
            if undocumented:
                problems.append(f"{where}: parameters without a description: {undocumented}")
    assert not problems, "\n".join(problems)


# -- the rendered site -----------------------------------------------------------------------


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; under CI the site check must run (.ci/run: make docs first)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    if path := os.environ.get("CHROMIUM"):
        return path
    return next((p for name in CHROMIUM_NAMES if (p := shutil.which(name))), None)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The built site, served on 127.0.0.1 (the search index and directory URLs need HTTP)."""
    index = SITE / "index.html"
    if not index.is_file():
        unavailable(f"no built site at {SITE}: run `make docs`")
    sources = [*DOCS.glob("*.md"), ROOT / "mkdocs.yml", *RESULTS.iterdir()]
    sources += [*(ROOT / "ragrerank").rglob("*.py"), *(ROOT / "integrations").rglob("*.py")]
    stale = [p.name for p in sources if p.stat().st_mtime > index.stat().st_mtime]
    if stale:
        unavailable(f"the built site is older than {stale[:3]}: run `make docs`")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (the `docs` extra: make docs)")
    executable = chromium_path()
    if executable is None:
        unavailable("no Chromium found (apt-get install chromium, or set CHROMIUM=path)")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start;
        # --disable-dev-shm-usage: containers often have a tiny /dev/shm
        args = ["--no-sandbox", "--disable-dev-shm-usage"]
        browser = p.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Rendered:
    """What one page showed: problems while loading, its element ids, links and images."""

    url: str
    problems: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    tables: int = 0


COLLECT = """() => ({
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  links: [...document.querySelectorAll('article a[href], nav a[href]')].map(a => a.href),
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth})),
  tables: document.querySelectorAll('article table').length,
})"""


def page_urls(base: str) -> list[str]:
    """The site's pages: every index.html (directory URLs), the landing page first."""
    rel = sorted(p.parent.relative_to(SITE).as_posix() for p in SITE.rglob("index.html"))
    return [urllib.parse.urljoin(base, "" if r == "." else r + "/") for r in rel]


@pytest.fixture(scope="module")
def site(base_url: str, browser: Any) -> dict[str, Rendered]:
    """Every page of the site, rendered once."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    current: list[Rendered] = []

    def problem(text: str) -> None:
        current[-1].problems.append(text)

    page.on("console", lambda m: m.type == "error" and problem(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problem(f"page error: {e}"))
    page.on("requestfailed", lambda r: problem(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problem(f"HTTP {r.status}: {r.url}"))
    rendered: dict[str, Rendered] = {}
    for url in page_urls(base_url):
        current.append(Rendered(url))
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")  # the search worker fetches its index
        data = page.evaluate(COLLECT)
        current[-1].ids = set(data["ids"])
        current[-1].links = data["links"]
        current[-1].images = data["images"]
        current[-1].tables = data["tables"]
        rendered[url] = current[-1]
    context.close()
    assert len(rendered) > 20, f"only {len(rendered)} pages were found under {SITE}"
    return rendered


def test_every_page_loads_without_errors(site: dict[str, Rendered]) -> None:
    problems = [f"{url}: {p}" for url, r in site.items() for p in r.problems]
    assert not problems, "\n".join(problems)


def test_every_internal_link_and_anchor_resolves(site: dict[str, Rendered], base_url: str) -> None:
    broken: list[str] = []
    other: dict[str, int] = {}  # assets and files linked from pages: fetched once
    for url, rendered in site.items():
        for link in rendered.links:
            if not link.startswith(base_url):
                continue  # external (the theme's footer): not fetched, the check is offline
            target, _, anchor = link.partition("#")
            if target in site:
                if anchor and urllib.parse.unquote(anchor) not in site[target].ids:
                    broken.append(f"{url}: {link}: no element with id {anchor!r}")
                continue
            if target not in other:
                try:
                    with urllib.request.urlopen(target, timeout=10) as response:
                        other[target] = response.status
                except urllib.error.HTTPError as error:
                    other[target] = error.code
            if other[target] != 200:
                broken.append(f"{url}: {link}: HTTP {other[target]}")
    assert not broken, "\n".join(broken)


def test_every_image_is_shown(site: dict[str, Rendered]) -> None:
    missing = [
        f"{url}: {image['src']}" for url, r in site.items() for image in r.images
        if image["width"] <= 0
    ]  # fmt: skip
    assert not missing, f"images not shown: {missing}"


@pytest.mark.parametrize("result", sorted(p.stem for p in RESULTS.glob("*.md")))
def test_benchmark_results_pages_show_their_plots_and_tables(
    result: str, site: dict[str, Rendered], base_url: str
) -> None:
    source = (RESULTS / f"{result}.md").read_text(encoding="utf-8")
    plots = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", source)
    rendered = site[f"{base_url}benchmarks/results/{result}/"]
    shown = {Path(urllib.parse.urlparse(i["src"]).path).name for i in rendered.images}
    assert {Path(p).name for p in plots} <= shown
    assert all(i["width"] > 0 for i in rendered.images)
    assert rendered.tables >= len(re.findall(r"^\|\s*-+", source, flags=re.MULTILINE))


def test_every_public_name_has_an_api_anchor(site: dict[str, Rendered], base_url: str) -> None:
    import llama_index.postprocessor.ragrerank as llama_ragrerank

    import langchain_ragrerank
    import ragrerank

    names = [f"ragrerank.{n}" for n in ragrerank.__all__ if n != "__version__"]
    names += [f"langchain_ragrerank.{n}" for n in langchain_ragrerank.__all__]
    names += [f"llama_index.postprocessor.ragrerank.{n}" for n in llama_ragrerank.__all__]
    api_ids = set().union(*(r.ids for url, r in site.items() if url.startswith(base_url + "api/")))
    missing = [n for n in names if n not in api_ids]
    assert not missing, f"public names without an API entry: {missing}"


def test_reranker_api_shows_signature_and_parameters(base_url: str, browser: Any) -> None:
    import ragrerank

    expected = [p for p in inspect.signature(ragrerank.Reranker).parameters]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base_url}api/reranker/#ragrerank.Reranker", wait_until="load")
    entry = page.locator(".doc-object", has=page.locator("[id='ragrerank.Reranker']")).last
    signature = entry.locator(".doc-signature").first
    assert signature.is_visible()
    text = signature.inner_text()
    assert re.match(r"\s*Reranker\(", text), text
    assert all(re.search(rf"\b{name}\b", text) for name in expected), (expected, text)
    # the class's own parameter table (its methods' tables are further down, nested)
    table = entry.locator(
        "xpath=./div[contains(@class, 'doc-contents')]/p[span[normalize-space()='Parameters:']]"
        "/following-sibling::*[1]/descendant-or-self::table"
    ).first
    assert table.is_visible()
    shown = [c.strip() for c in table.locator("tbody tr td:first-child").all_inner_texts()]
    assert shown == expected, f"parameters shown {shown}, signature has {expected}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-reranker.png"))
    page.goto(base_url, wait_until="load")
    page.screenshot(path=str(SHOTS / "landing.png"))
    with contextlib.suppress(Exception):
        context.close()
