"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks:``).

* The committed benchmark results (``benchmarks/results/*.md`` and their plots) become pages
  at ``benchmarks/results/``, read from the repository at build time, so they never go stale.
* The API reference (``api/*.md``) is generated from ``ragrerank.__all__`` and the integration
  packages' ``__all__``: one ``::: name`` directive per public name on the page of its layer,
  so a newly exported name is documented without editing a page.
* Links in ``docs/*.md`` are written for the repository (``../benchmarks/results/speed.md``
  reads on a forge); links to files that the site publishes are rewritten to the site path.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
RESULTS = "benchmarks/results"


@dataclass(frozen=True)
class ApiPage:
    """One page of the API reference: the public names whose module starts with a prefix."""

    slug: str
    title: str
    intro: str
    prefixes: tuple[str, ...]


API_PAGES = [
    ApiPage(
        "reranker",
        "Reranker and results",
        "`Reranker` turns any scorer's scores into the best few candidates, in order, with a "
        "trace; the data model it takes and returns. Guide: [Concepts](../core.md).",
        ("ragrerank.reranker", "ragrerank.types", "ragrerank.normalize", "ragrerank.calibrator"),
    ),
    ApiPage(
        "scorer",
        "Scorer contract",
        "What every backend implements and what `Reranker` accepts. Guide: "
        "[the scorer contract](../core.md#the-scorer-contract).",
        ("ragrerank.scorer",),
    ),
    ApiPage(
        "backends",
        "Backends",
        "The scorers that call a model or an API: [cross-encoder](../cross-encoder.md), "
        "[ColBERT](../colbert.md), [Cohere](../cohere.md), [rerank servers](../remote.md) and "
        "[LLM rerankers](../llm.md).",
        ("ragrerank.scorers",),
    ),
    ApiPage(
        "composers",
        "Composers",
        "Scorers built from scorers. Guide: [combining scorers](../core.md#combining-scorers).",
        ("ragrerank.composers",),
    ),
    ApiPage(
        "retrieval",
        "Retrieval",
        "The first stage on Qdrant. Guide: [Qdrant first stage](../qdrant.md).",
        ("ragrerank.retrieval",),
    ),
    ApiPage(
        "rag",
        "RAG",
        "After reranking: context under a token budget and the one-call pipeline. Guide: "
        "[context and pipeline](../context.md).",
        ("ragrerank.rag",),
    ),
    ApiPage(
        "evaluation",
        "Evaluation",
        "Offline evaluation in Python. Guide: [Evaluation](../evaluation.md).",
        ("ragrerank.evaluation",),
    ),
    ApiPage(
        "feedback",
        "Feedback loop",
        "Logging what users saw and did, and learning from it. Guide: "
        "[the feedback loop](../feedback.md).",
        ("ragrerank.feedback",),
    ),
    ApiPage(
        "errors",
        "Errors",
        "The error types every layer raises (backend-specific ones are on their backend's page).",
        ("ragrerank.errors",),
    ),
]
# (import path, folder to search, guide page, its title) of each integration package
INTEGRATIONS = [
    ("langchain_ragrerank", "integrations/langchain", "langchain.md", "LangChain adapter"),
    (
        "llama_index.postprocessor.ragrerank",
        "integrations/llama-index",
        "llama-index.md",
        "LlamaIndex adapter",
    ),
]
SKIPPED = {"__version__"}
# Documented beside the top-level names, under "Also in <module>": what a backend author
# subclasses or a caller catches. (path, extra mkdocstrings options)
EXTRA: dict[str, list[tuple[str, str]]] = {
    "backends": [
        (  # with the hooks a subclass implements
            "ragrerank.scorers.remote.RemoteScorer",
            "filters: ['!^_(?!(request|send|asend|parse|make_client|classify|notes)$)']",
        ),
        ("ragrerank.scorers.remote.RetryPolicy", ""),
        ("ragrerank.scorers.remote.RemoteError", ""),
    ],
    "errors": [
        ("ragrerank.errors.ModelNotFoundError", ""),
        ("ragrerank.errors.UntrainedHeadError", ""),
    ],
}


def _directive(path: str, heading_level: int, options: str = "") -> str:
    lines = [f"::: {path}", "    options:", f"      heading_level: {heading_level}"]
    return "\n".join(lines + ([f"      {options}"] if options else []))


def _load(path: str, search_path: str) -> griffe.Module:
    module = griffe.load(path, search_paths=[str(ROOT / search_path)], try_relative_path=False)
    assert isinstance(module, griffe.Module)
    return module


def _summary(obj: griffe.Object | griffe.Alias) -> str:
    """The docstring's first paragraph, on one line."""
    docstring = obj.docstring
    return " ".join(docstring.value.strip().split("\n\n")[0].split()) if docstring else ""


def _page_of(target: str) -> ApiPage:
    for page in API_PAGES:
        if any(target == p or target.startswith(p + ".") for p in page.prefixes):
            return page
    raise ValueError(
        f"ragrerank.__all__ exports {target}, whose module has no API page: "
        "add its prefix to API_PAGES in docs/_site/hooks.py"
    )


def api_pages() -> dict[str, str]:
    """The generated API reference: src_uri -> markdown."""
    package = _load("ragrerank", ".")
    by_page: dict[str, list[str]] = {p.slug: [] for p in API_PAGES}
    rows: list[str] = []
    for name in package.exports or ():
        if name in SKIPPED:
            continue
        member = package.members[name]
        target = member.target_path if isinstance(member, griffe.Alias) else member.path
        page = _page_of(target)
        by_page[page.slug].append(f"ragrerank.{name}")
        rows.append(f"| [`{name}`][ragrerank.{name}] | {page.title} | {_summary(member)} |")
    out: dict[str, str] = {}
    for page in API_PAGES:
        directives = "\n\n".join(f"::: {path}" for path in sorted(by_page[page.slug]))
        if extra := EXTRA.get(page.slug, []):
            directives += f"\n\n## Also in `{extra[0][0].rsplit('.', 1)[0]}`\n\n"
            directives += "\n\n".join(_directive(path, 3, options) for path, options in extra)
        out[f"api/{page.slug}.md"] = f"# {page.title}\n\n{page.intro}\n\n{directives}\n"
    integration_blocks = []
    for path, folder, guide, title in INTEGRATIONS:
        module = _load(path, folder)
        integration_blocks.append(f"## `{path}`\n\nGuide: [{title}](../{guide}).\n")
        for name in module.exports or ():
            integration_blocks.append(_directive(f"{path}.{name}", 3) + "\n")
            rows.append(f"| [`{path}.{name}`][{path}.{name}] | Integrations | "
                        f"{_summary(module.members[name])} |")  # fmt: skip
    out["api/integrations.md"] = (
        "# Integrations\n\nThe LangChain and LlamaIndex adapters, separate packages in "
        "`integrations/`.\n\n" + "\n".join(integration_blocks)
    )
    out["api/index.md"] = (
        "# API reference\n\nEvery public name of `ragrerank` (`ragrerank.__all__`; import them "
        "from the top level, e.g. `from ragrerank import Reranker`) and of the integration "
        "packages, generated from the docstrings and type hints.\n\n"
        "| name | page | summary |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )
    return out


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the API reference pages and the committed benchmark results."""
    for src_uri, content in api_pages().items():
        files.append(File.generated(config, src_uri, content=content))
    for path in sorted((ROOT / RESULTS).iterdir()):
        if path.suffix in (".md", ".png"):
            files.append(File.generated(config, f"{RESULTS}/{path.name}", abs_src_path=str(path)))
    return files


LINK = re.compile(r"(\]\()(?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?(\))")


def _repo_path(page: Page) -> str:
    """The page's file in the repository, relative to the root (generated pages: theirs)."""
    src = page.file.abs_src_path
    if src is not None and Path(src).is_relative_to(ROOT):
        return Path(src).relative_to(ROOT).as_posix()
    return f"docs/{page.file.src_uri}"


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Rewrite repository-relative links to published files into site-relative ones."""
    here = posixpath.dirname(_repo_path(page))
    page_dir = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match[str]) -> str:
        target = match.group("target")
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        repo_target = posixpath.normpath(posixpath.join(here, target))
        src_uri = repo_target.removeprefix("docs/")
        if src_uri == repo_target and not repo_target.startswith(RESULTS + "/"):
            return match.group(0)  # not a published file: left for the link check to report
        if files.get_file_from_path(src_uri) is None:
            return match.group(0)
        new = posixpath.relpath(src_uri, page_dir or ".")
        return f"{match.group(1)}{new}{match.group('anchor') or ''}{match.group(4)}"

    return LINK.sub(rewrite, markdown)


def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    """Watch the sources that generated pages come from (``mkdocs serve``)."""
    config.watch.extend(
        str(ROOT / p) for p in (RESULTS, "ragrerank", "integrations/langchain",
                                "integrations/llama-index")
    )  # fmt: skip
    return config
