"""Every code block of README.md and docs/*.md works as written.

* ```python blocks run in-process, each in a fresh namespace, in a temporary working
  directory, exactly as written (line numbers in tracebacks are the markdown file's). Hub
  names resolve offline through the session's seeded hub cache (`hub_models` plus the names
  below); the Cohere blocks reach the local fake API through ``CO_API_KEY`` / ``CO_API_URL``,
  as a user's shell would set them, and docs/remote.md's a keyless fake TEI through
  ``TEI_URL``. Where a block's comment claims something checkable, a
  check below (matched by a unique substring of the block) inspects its variables.
* Every python block must define what it uses (checked statically, so also for a block that
  does not run).
* A block preceded by ``<!-- snippet: not run: REASON -->`` is compiled, its names and
  imports are checked, and it is reported as skipped with the reason; `NOT_RUN` lists the
  allowed ones.
* ```bash blocks: make targets exist, ``pip install 'ragrerank[...]'`` extras exist, and
  every ``--flag`` of a ``ragrerank`` / ``python -m`` command is in that command's ``--help``.
* ```toml blocks parse as reranker configs (`ragrerank.evaluation.config.load_config`).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import itertools
import math
import re
import shlex
import shutil
import symtable
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cohere_server import FakeCohere, FakeRerankServer
from tests.hub_cache import hub_cache, seed_hub_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN_MARK = re.compile(r"^<!--\s*snippet:\s*not run:\s*(?P<reason>.+?)\s*-->$")
COHERE_KEY = "snippet-test-key"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),  # qdrant embedded mode, transformers
]

# -- extracting blocks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    path: Path
    lang: str
    index: int  # 1-based among the file's blocks of this language
    line: int  # line of the opening fence, 1-based
    code: str
    not_run: str | None  # reason from a `<!-- snippet: not run: ... -->` line right above

    @property
    def file(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def id(self) -> str:
        return f"{self.file}:block{self.index}:L{self.line + 1}"


def extract_blocks(path: Path) -> list[Block]:
    """Fenced blocks of a markdown file (any language; the fence must start the line)."""
    blocks: list[Block] = []
    counts: dict[str, int] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^```\s*([\w+-]*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        lang = opening.group(1).lower()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{path}:{start + 1}: unclosed code fence")
        i += 1  # the closing fence
        above = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        mark = NOT_RUN_MARK.match(above)
        counts[lang] = counts.get(lang, 0) + 1
        blocks.append(
            Block(
                path, lang, counts[lang], start + 1, "\n".join(body) + "\n",
                mark.group("reason") if mark else None,
            )
        )  # fmt: skip
    return blocks


ALL_BLOCKS = [b for path in DOC_FILES for b in extract_blocks(path)]
PYTHON = [b for b in ALL_BLOCKS if b.lang in ("python", "py")]
BASH = [b for b in ALL_BLOCKS if b.lang in ("bash", "sh", "shell", "console")]
TOML = [b for b in ALL_BLOCKS if b.lang == "toml"]

# Blocks allowed to carry the not-run marker, (file, unique substring): keep this short.
NOT_RUN = {
    ("docs/training.md", "train_cross_encoder(train,"),
}


def block_for(file: str, anchor: str) -> Block | None:
    found = [b for b in PYTHON if b.file == file and anchor in b.code]
    return found[0] if len(found) == 1 else None


# -- checks of what a block claims ---------------------------------------------------------


@dataclass
class Ctx:
    """What a check gets: the block's namespace, a way to run it again, the fake Cohere."""

    block: Block
    ns: dict[str, Any]
    out: str
    cohere: FakeCohere
    rerun: Callable[[], dict[str, Any]]


Check = Callable[[Ctx], None]
CHECKS: dict[tuple[str, str], Check] = {}


def check(file: str, anchor: str) -> Callable[[Check], Check]:
    """Register a check for the python block of ``file`` containing ``anchor``."""

    def register(fn: Check) -> Check:
        CHECKS[(file, anchor)] = fn
        return fn

    return register


# -- the environment a block runs in ---------------------------------------------------------


@pytest.fixture(scope="session")
def snippet_models(
    tmp_path_factory: pytest.TempPathFactory,
    hub_models: dict[str, str],
    minilm: str,
    minilm_ce: str,
) -> Path:
    """Stand-ins for what the docs load: more hub names, and the `models/` folders that
    `ragrerank train` writes (MiniLM with a seeded head, an untrained MiniLM ColBERT)."""
    from ragrerank.train.colbert import init_colbert
    from tests.test_generative import build_tiny_qwen

    # An LLM tokenizer for exact token budgets (docs/context.md): MiniLM's stands in.
    seed_hub_model("meta-llama/Llama-3.1-8B-Instruct", minilm)
    # A generative reranker (docs/llm.md): a tiny random Qwen2 stands in for Qwen3-Reranker.
    seed_hub_model("Qwen/Qwen3-Reranker-0.6B", build_tiny_qwen(tmp_path_factory.mktemp("qwen"))[0])
    models = tmp_path_factory.mktemp("snippet_models") / "models"
    models.mkdir()
    shutil.copytree(minilm_ce, models / "ce-minilm-scifact")
    init_colbert(minilm, models / "colbert-minilm-scifact")
    return models


@pytest.fixture(scope="session")
def cohere_fake() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=COHERE_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def tei_fake() -> Iterator[FakeRerankServer]:
    with FakeRerankServer(api_key=None, api="tei") as server:
        yield server


@pytest.fixture
def snippet_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    snippet_models: Path,
    cohere_fake: FakeCohere,
    tei_fake: FakeRerankServer,
) -> Iterator[Path]:
    """A fresh working directory with `models/`, the user's environment variables set, and
    LlamaIndex's global `Settings` restored afterwards."""
    (tmp_path / "models").symlink_to(snippet_models, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAGRERANK_CACHE", str(tmp_path / ".cache" / "ragrerank"))
    monkeypatch.setenv("CO_API_KEY", COHERE_KEY)
    monkeypatch.setenv("CO_API_URL", cohere_fake.url)
    monkeypatch.setenv("TEI_URL", tei_fake.url)
    monkeypatch.delenv("TEI_API_KEY", raising=False)
    # LlamaIndex's HuggingFaceEmbedding looks up hub names in its own cache folder
    monkeypatch.setenv("LLAMA_INDEX_CACHE_DIR", str(hub_cache()))
    import llama_index.core

    # tiktoken's BPE files, shipped inside llama-index-core (tiktoken would download them)
    monkeypatch.setenv(
        "TIKTOKEN_CACHE_DIR",
        str(Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"),
    )
    cohere_fake.reset()
    tei_fake.reset()
    from llama_index.core import Settings

    saved = dict(vars(Settings))
    try:
        yield tmp_path
    finally:
        vars(Settings).update(saved)


def run_block(block: Block) -> dict[str, Any]:
    """Run ``block`` as a script would, in a fresh namespace; returns the namespace."""
    ns: dict[str, Any] = {"__name__": "__snippet__"}
    code = "\n" * block.line + block.code  # tracebacks name the markdown file's lines
    try:
        exec(compile(code, str(block.path), "exec"), ns)
    finally:  # close what holds connections (to the fake Cohere) or files (Qdrant path=)
        from ragrerank import QdrantRetriever, Reranker
        from ragrerank.scorers.remote import RemoteScorer

        values = list(ns.values())
        values += [v.scorer for v in values if isinstance(v, Reranker)]
        for value in values:
            if isinstance(value, (RemoteScorer, QdrantRetriever)):
                value.close()
    return ns


def undefined_names(code: str) -> list[str]:
    """Names the code reads but neither binds nor imports (nor are builtins)."""
    top = symtable.symtable(code, "<snippet>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for sym in table.get_symbols():
            if sym.is_referenced() and (table is top or sym.is_global()):
                used.add(sym.get_name())
        for child in table.get_children():
            walk(child)

    walk(top)
    return sorted(used - bound - set(dir(builtins)))


# -- python blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block(
    block: Block,
    snippet_env: Path,
    cohere_fake: FakeCohere,
    capsys: pytest.CaptureFixture[str],
) -> None:
    compile(block.code, block.id, "exec")
    missing = undefined_names(block.code)
    assert not missing, f"{block.id} uses names it never defines: {missing}"
    if block.not_run is not None:
        # what it imports must exist, even though it does not run
        imports: list[ast.stmt] = [
            node for node in ast.parse(block.code).body
            if isinstance(node, (ast.Import, ast.ImportFrom))
        ]  # fmt: skip
        exec(compile(ast.Module(body=imports, type_ignores=[]), block.id, "exec"), {})
        pytest.skip(f"not run: {block.not_run}")
    ns = run_block(block)
    out = capsys.readouterr().out
    for (file, anchor), fn in CHECKS.items():
        if file == block.file and anchor in block.code:
            fn(Ctx(block, ns, out, cohere_fake, lambda: run_block(block)))


def test_checks_and_markers_match_blocks() -> None:
    """Every check and every allowed not-run marker names exactly one block (no stale ones),
    and only the allowed blocks carry the marker."""
    for file, anchor in [*CHECKS, *NOT_RUN]:
        assert block_for(file, anchor) is not None, (
            f"no single python block of {file} contains {anchor!r}"
        )
    marked = {b.id for b in PYTHON if b.not_run is not None}
    allowed = {b.id for file, anchor in NOT_RUN if (b := block_for(file, anchor))}
    assert marked == allowed, f"not-run markers on {sorted(marked - allowed)}"
    assert len(PYTHON) > 20, "code blocks were not found"


# -- toml blocks -----------------------------------------------------------------------------


@pytest.mark.parametrize("block", TOML, ids=lambda b: b.id)
def test_toml_block(block: Block, tmp_path: Path) -> None:
    from ragrerank.evaluation.config import load_config

    path = tmp_path / "rerankers.toml"
    path.write_text(block.code)
    specs = load_config(path)
    assert specs and all(s.name for s in specs)


# -- bash blocks -----------------------------------------------------------------------------


def shell_commands(code: str) -> list[list[str]]:
    """Commands of a shell block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", code)
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", text, flags=re.MULTILINE))


def help_text(run: Callable[[], object]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        run()
    assert exit_info.value.code in (0, None), out.getvalue()
    return out.getvalue()


def command_help(module: str, args: list[str]) -> tuple[str, list[str]]:
    """``--help`` of a ``ragrerank`` / ``python -m`` command, and the options it was given."""
    import importlib

    if module == "ragrerank" and args[:1] == ["train"]:
        module, args = "ragrerank.train", args[1:]
    if module == "ragrerank":
        from ragrerank.apps.cli import main

        sub = args[:1]
        return help_text(lambda: main([*sub, "--help"])), args[1:]
    if module == "ragrerank.train":
        from ragrerank.train.cli import main as train_main

        sub = args[:1]
        return help_text(lambda: train_main([*sub, "--help"])), args[1:]
    main = importlib.import_module(module).main
    return help_text(lambda: main(["--help"])), args


def check_options(where: str, help_: str, args: list[str]) -> None:
    for arg in args:
        if arg.startswith("--") and " " not in arg:
            flag = arg.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_), (
                f"{where}: {flag} is not an option of this command"
            )


@pytest.mark.parametrize("block", BASH, ids=lambda b: b.id)
def test_shell_block(block: Block) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    commands = shell_commands(block.code)
    assert commands
    for argv in commands:
        where = f"{block.id}: {shlex.join(argv)}"
        prog, args = Path(argv[0]).name, argv[1:]
        if prog == "make":
            unknown = set(args) - make_targets()
            assert not unknown, f"{where}: no make target {sorted(unknown)}"
        elif prog == "pip":
            assert args[0] == "install", where
            for req in args[1:]:
                if m := re.fullmatch(r"ragrerank\[([\w,-]+)\]", req):
                    assert set(m.group(1).split(",")) <= set(extras), f"{where}: unknown extra"
                else:
                    from importlib.metadata import distribution

                    distribution(req)  # a dev dependency of the project: installed here
        elif prog == "export":
            assert all(re.fullmatch(r"\w+=.*", a) for a in args), where
        elif prog == "ragrerank":
            help_, options = command_help("ragrerank", args)
            check_options(where, help_, options)
        elif prog.startswith("python") and args[:1] == ["-m"]:
            help_, options = command_help(args[1], args[2:])
            check_options(where, help_, options)
        elif prog == "torchrun" or (prog == "accelerate" and args[:1] == ["launch"]):
            # A launcher's own options are its own; the module after -m is checked.
            assert "-m" in args, f"{where}: launch a module with -m"
            at = args.index("-m")
            help_, options = command_help(args[at + 1], args[at + 2 :])
            check_options(where, help_, options)
        elif prog.startswith("python") and args[0].endswith(".py"):
            script = ROOT / args[0]
            assert script.is_file(), f"{where}: no such script"
            source = script.read_text()
            for flag in (a for a in args[1:] if a.startswith("--")):
                assert f'"{flag}"' in source, f"{where}: {flag} is not an option of the script"
        else:
            raise AssertionError(f"{where}: no check for this command; add one")


# -- what the blocks claim ------------------------------------------------------------------


def ranked(scores: list[float]) -> bool:
    return all(a >= b for a, b in itertools.pairwise(scores))


@check("README.md", 'normalize="softmax"')
def _readme_core(ctx: Ctx) -> None:
    result = ctx.ns["result"]
    assert [item.rank for item in result] == [1, 2]
    assert len(result.trace.entries) == 2  # every candidate, kept or not
    assert math.isclose(sum(item.normalized_score for item in result), 1.0, rel_tol=1e-6)


@check("README.md", "langchain_classic")
def _readme_langchain(ctx: Ctx) -> None:
    docs = ctx.ns["docs"]
    assert len(docs) == 3  # top_n
    assert ranked([d.metadata["relevance_score"] for d in docs])
    assert all(isinstance(d.metadata["rerank_score"], float) for d in docs)
    assert set(d.page_content for d in docs) <= set(ctx.ns["texts"])


@check("README.md", "llama_index")
def _readme_llama_index(ctx: Ctx) -> None:
    nodes = ctx.ns["response"].source_nodes
    assert len(nodes) == 3
    assert ranked([n.score for n in nodes])
    assert all("retrieval_score" in n.node.metadata for n in nodes)


@check("README.md", 'CohereScorer("rerank-v3.5")')
def _readme_cohere(ctx: Ctx) -> None:
    """Scored by the (fake) API; and when the API fails, the fallback note is set."""
    assert ctx.ns["result"].trace.notes.get("fallback") is None
    assert len(ctx.cohere.rerank_requests) == 1
    ctx.cohere.reset(always="unauthorized")  # a 401: not retried, handed to the fallback
    result = ctx.rerun()["result"]
    assert result.trace.notes["fallback"]["kind"] == "auth"
    assert len(result) == 3


@check("README.md", "encode_documents(texts)")
def _readme_colbert(ctx: Ctx) -> None:
    """'only the query is encoded now': every document's vectors came from the metadata."""
    sources = ctx.ns["result"].trace.notes["vector_sources"]
    assert sources == {"metadata": 3, "store": 0, "cache": 0, "encoded": 0}
    assert str(sources) in ctx.out


@check("README.md", "RagPipeline(")
def _readme_pipeline(ctx: Ctx) -> None:
    out = ctx.ns["out"]
    assert out.context.items and "[1]" in out.context.text
    assert set(out.timings_ms) >= {"retrieve", "rerank", "assemble", "total"}


@check("docs/cohere.md", "billed_search_units")
def _cohere_doc(ctx: Ctx) -> None:
    notes = ctx.ns["result"].trace.notes["cohere"]
    assert (notes["requests"], notes["attempts"], notes["retries"]) == (1, 1, 0)
    assert notes["billed_search_units"] == ctx.ns["cohere"].billed_search_units > 0
    assert "fallback" not in ctx.ns["result"].trace.notes


@check("docs/remote.md", 'api="tei"')
def _remote_doc(ctx: Ctx) -> None:
    """The fake TEI scored it (no fallback): the two aspirin passages, best first."""
    notes = ctx.ns["result"].trace.notes
    assert "fallback" not in notes
    assert (notes["remote"]["api"], notes["remote"]["server_truncation"]) == ("tei", "possible")
    assert set(ctx.out.splitlines()[0].strip("[]").split(", ")) == {"0", "2"}


def printed_literals(ctx: Ctx) -> list[Any]:
    """The values a block's ``# {...}`` comment lines show, in order."""
    return [
        ast.literal_eval(line.strip()[1:].strip())
        for line in ctx.block.code.splitlines()
        if line.strip().startswith("# {")
    ]


@check("docs/colbert.md", "is aspirin safe for older adults?")
def _colbert_cache(ctx: Ctx) -> None:
    """The notes shown in the comments: encoded at first sight, then from the cache."""
    shown = printed_literals(ctx)
    *sources, dtype = ctx.out.splitlines()
    assert [ast.literal_eval(line) for line in sources] == shown
    assert shown[1]["cache"] == 3
    assert dtype == ctx.ns["scorer"].resolved_dtype and dtype in ("bfloat16", "float32")


@check("docs/colbert.md", "batch_size=64, show_progress=True")
def _colbert_encode(ctx: Ctx) -> None:
    import numpy as np

    scorer, vectors = ctx.ns["scorer"], ctx.ns["vectors"]
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in vectors)
    assert [v.shape[1] for v in vectors] == [scorer.dim] * 3
    assert vectors[2].shape == (0, scorer.dim) and vectors[0].shape[0] > 0
    assert len(scorer.cache) == 0  # encode_documents neither reads nor fills the cache


@check("docs/colbert.md", "excluded_llm_metadata_keys")
def _colbert_llama_nodes(ctx: Ctx) -> None:
    from llama_index.core.schema import MetadataMode

    assert len(ctx.ns["scorer"].cache) == 0, "documents were encoded: metadata vectors unused"
    assert ctx.ns["reranked"][0].node.text in ctx.ns["texts"]
    for node in ctx.ns["nodes"]:
        for mode in (MetadataMode.LLM, MetadataMode.EMBED):
            assert "colbert_vectors" not in node.get_content(metadata_mode=mode)


@check("docs/colbert.md", "QdrantColBERTStore(client")
def _colbert_qdrant(ctx: Ctx) -> None:
    """Both store modes give the in-process ranking; nothing is encoded on the fly."""
    from ragrerank import Reranker

    ns = ctx.ns
    local = [item.id for item in Reranker(ns["scorer"]).rerank(ns["query"], ns["candidates"])]
    for scorer in (ns["fetching"], ns["on_server"]):
        result = Reranker(scorer).rerank(ns["query"], ns["candidates"])
        assert [item.id for item in result] == local
        assert result.trace.notes["vector_sources"]["store"] == 3
    assert [p.payload["text"] for p in ns["points"]] == [
        ns["texts"][ns["ids"].index(i)] for i in local
    ]


@check("docs/context.md", "Answer from the sources")
def _context_assemble(ctx: Ctx) -> None:
    context = ctx.ns["context"]
    assert "(source: guidelines.pdf)" in context.text and "(source: 4983)" in context.text
    assert len(context.items) + len(context.dropped) == 3
    assert context.tokens <= 1500 and ctx.out.strip().endswith(ctx.ns["query"])


@check("docs/context.md", "tiktoken")
def _context_counters(ctx: Ctx) -> None:
    text = "Low-dose aspirin is used for secondary prevention."
    assert ctx.ns["enc"].encode(text) and ctx.ns["tok"](text).input_ids


@check("docs/context.md", "ChatContextSelector(")
def _context_chat(ctx: Ctx) -> None:
    chat = ctx.ns["chat"]
    assert chat.query == "Does aspirin prevent heart attacks?\nAnd in older adults?"
    assert len(chat.reranked) == 3 and chat.context.items


@check("docs/context.md", "run_chat(")
def _context_pipeline(ctx: Ctx) -> None:
    out = ctx.ns["out"]
    assert out.query == "Does aspirin prevent heart attacks?\nAnd in older adults?"
    assert out.context.items and (Path(".cache") / "qdrant").is_dir()


@check("docs/core.md", "class Scorer(Protocol)")
def _core_protocol(ctx: Ctx) -> None:
    """The protocol shown is ragrerank.Scorer's."""
    import inspect

    import ragrerank

    for name in ("score", "ascore"):
        shown = inspect.signature(getattr(ctx.ns["Scorer"], name))
        real = inspect.signature(getattr(ragrerank.Scorer, name))
        assert list(shown.parameters) == list(real.parameters)
    assert inspect.iscoroutinefunction(ctx.ns["Scorer"].ascore)


@check("docs/core.md", "blend = FusionScorer(")
def _core_fusion(ctx: Ctx) -> None:
    result = ctx.ns["result"]
    assert len(result) == 2 and ranked([item.score for item in result])
    assert all(0 < item.score <= 3 / 61 for item in result)  # three rankings, k = 60


@check("docs/core.md", "BM25Scorer(corpus=corpus)")
def _core_members(ctx: Ctx) -> None:
    """BM25 gives the document without a query term 0.0; cosines lie in [-1, 1]; both rank
    an aspirin document above the Eiffel Tower."""
    lexical, cosines = ctx.ns["lexical"], ctx.ns["cosines"]
    assert lexical[1] == 0.0 and lexical[0] > 0 and lexical[2] > 0
    assert all(-1.0 <= c <= 1.0 for c in cosines) and min(cosines[0], cosines[2]) > cosines[1]
    assert "Eiffel" not in ctx.out.splitlines()[-2] + ctx.out.splitlines()[-1]


@check("docs/core.md", "MetadataBoostScorer(")
def _core_boosts(ctx: Ctx) -> None:
    result, docs = ctx.ns["result"], ctx.ns["docs"]
    assert len(result) == 2 and ranked([item.score for item in result])
    assert all(item.document is docs[item.index] for item in result)  # the caller's objects
    assert "0.500 None" in ctx.out  # the 30-day-old document: one half-life
    by_id = {e.id: e.details["boosts"] for e in result.trace.entries}
    assert by_id["c"][1]["missing"] == "bottom" and by_id["c"][1]["boost"] == 0.0
    assert result.trace.notes["ranked_fields"]["text_template"] == "{title}\n{text}"


@check("docs/evaluation.md", "evaluate(")
def _evaluation(ctx: Ctx) -> None:
    report = ctx.ns["report"]
    assert report.n_queries == 2 and set(report.systems) == {"first stage (bm25)", "ce"}
    recall = {name: s.metrics["R@100"] for name, s in report.systems.items()}
    assert len(set(recall.values())) == 1  # reranking cannot change the first stage's recall
    assert set(report.slices["has number"]) == {"yes", "no"}
    written = {p.name for p in Path("results/aspirin").iterdir()}
    assert written == {
        "report.json",
        "summary.md",
        "lift_by_slice.png",
        "latency_vs_candidates.png",
        "failure_taxonomy.png",
        "per_query_taxonomy.csv",
        "traces",
    }


@check("docs/evaluation.md", "failure_taxonomy(qrels")
def _taxonomy(ctx: Ctx) -> None:
    assert ctx.out.splitlines() == [
        "q1 success 1",
        "q2 candidate_failure None",
        "q3 scoring_failure 2",
    ]


@check("docs/qdrant.md", 'top_n=50, mode="hybrid"')
def _qdrant_quick(ctx: Ctx) -> None:
    result = ctx.ns["result"]
    assert {item.id for item in result} == {"a1", "b2", "c3"}
    assert all(item.first_stage_score is not None for item in result)


@check("docs/qdrant.md", "aretrieve_batch")
def _qdrant_retrieval(ctx: Ctx) -> None:
    ns = ctx.ns
    assert [c.id for c in ns["async_hits"]] == [c.id for c in ns["hits"]]
    assert [[c.id for c in r] for r in ns["async_per_query"]] == [
        [c.id for c in r] for r in ns["per_query"]
    ]
    assert len(ns["per_query"]) == 2 and ns["per_query"][1][0].id == "c3"
    assert ctx.out.splitlines()[-1] == "['a1']"


@check("docs/training.md", "CrossEncoder(")
def _training_ce_folder(ctx: Ctx) -> None:
    """'same ranking (sigmoid)': sentence-transformers' scores are the sigmoid of ours."""
    for raw, prob in zip(ctx.ns["scores"], ctx.ns["probabilities"], strict=True):
        assert math.isclose(1 / (1 + math.exp(-raw)), float(prob), abs_tol=1e-4)


@check("docs/training.md", "MultiVectorEncoder(")
def _training_colbert_folder(ctx: Ctx) -> None:
    vectors, tokens = ctx.ns["vectors"][0], ctx.ns["tokens"][0].float().numpy()
    assert vectors.ndim == tokens.ndim == 2 and vectors.shape[0] > 0
    assert vectors.shape == tokens.shape  # the same tokens kept, the same projection


@check("docs/index.md", "item.first_stage_rank")
def _index_example(ctx: Ctx) -> None:
    """The best two of three, each the caller's Candidate; the trace has all three."""
    result, candidates = ctx.ns["result"], ctx.ns["candidates"]
    assert len(result) == 2 and ranked([item.score for item in result])
    assert all(item.document is candidates[item.index] for item in result)
    assert [item.first_stage_rank for item in result] == [item.index + 1 for item in result]
    assert len(result.trace.entries) == 3 and ctx.out.count("\n") > 3


@check("docs/cross-encoder.md", "token_count(query, documents)")
def _cross_encoder_page(ctx: Ctx) -> None:
    """'the long document was cut, and counted'; the configuration round-trips."""
    scorer, result = ctx.ns["scorer"], ctx.ns["result"]
    lengths = scorer.token_count(ctx.ns["query"], ctx.ns["documents"])
    assert lengths[0] > 256 >= lengths[1]
    assert result.trace.truncated == 1 and [e.truncated for e in result.trace.entries] == [
        True,
        False,
    ]
    assert ctx.ns["same"].to_dict() == scorer.to_dict()


@check("docs/langchain.md", "compress_documents(docs")
def _langchain_page(ctx: Ctx) -> None:
    """New Documents with both scores and the original metadata; the inputs untouched."""
    docs, reranked = ctx.ns["docs"], ctx.ns["reranked"]
    assert len(reranked) == 2 and ranked([d.metadata["rerank_score"] for d in reranked])
    by_text = {d.page_content: d for d in docs}
    for d in reranked:
        assert d.metadata["src"] == by_text[d.page_content].metadata["src"]
    assert all(set(d.metadata) == {"src"} for d in docs)


@check("docs/llama-index.md", "postprocess_nodes(nodes")
def _llama_index_page(ctx: Ctx) -> None:
    """score = normalized rerank score; the retriever's score kept in metadata."""
    nodes, reranked = ctx.ns["nodes"], ctx.ns["reranked"]
    assert len(reranked) == 2 and ranked([n.score for n in reranked])
    first_stage = {n.node.get_content(): n.score for n in nodes}
    for n in reranked:
        assert n.node.metadata["retrieval_score"] == first_stage[n.node.get_content()]
    assert all(n.node.metadata == {} for n in nodes)
