"""The package layout: every import of ragrerank resolves (lazy ones included, which mypy
cannot see with ignore_missing_imports), and the public API keeps every name it had."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

import ragrerank

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["ragrerank", "integrations", "tests", "benchmarks", "cookbooks"]

# ragrerank.__all__ before the re-layout (0.1.0): each name must stay importable from ragrerank.
PUBLIC_BEFORE = [
    "AssembledContext", "BM25Encoder", "BaseScorer", "Candidate", "ChatContextSelector",
    "ContextAssembler", "CohereError", "CohereScorer", "ColBERTScorer", "CrossEncoderScorer",
    "DetailedScorer", "Document", "IndexReport", "MissingDependencyError", "PipelineResult",
    "QdrantRetriever", "RagPipeline", "RagRerankError", "RerankResult", "RerankedItem", "Reranker",
    "ScoreOutput", "ScoreTrace", "Scorer", "ScorerError", "TraceEntry", "__version__",
    "normalize_scores",
]  # fmt: skip
PUBLIC_ADDED = [
    "CachedScorer", "CascadeScorer", "CollectionOptions", "FusionScorer", "GenerativeScorer",
    "ListwiseLLMScorer", "QdrantColBERTStore", "RemoteRerankError", "RemoteRerankScorer", "evaluate",
    "MetadataBoostScorer",
    "MaxPassageScorer",
    "TokenizingScorer",
    "Calibrator",
    "BM25Scorer", "BiEncoderScorer",
    "failure_taxonomy",
    "LearnedRanker",
    "FeedbackLog", "Propensity", "SwapRandomizer",
    "Interleaver",
]  # fmt: skip


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "integrations":  # integrations/<dist>/<package>/...
        parts = parts[2:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> list[tuple[str, int, str, list[str]]]:
    """(file, line, absolute module, imported names) for every ragrerank import."""
    found = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            module = _module_name(path)
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = package.split(".")[: len(package.split(".")) - node.level + 1]
                        target = ".".join(base + ([node.module] if node.module else []))
                    else:
                        target = node.module or ""
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("ragrerank"):
                            found.append((str(path.relative_to(ROOT)), node.lineno, alias.name, []))
                    continue
                else:
                    continue
                if target.split(".")[0] == "ragrerank":
                    found.append((str(path.relative_to(ROOT)), node.lineno, target, names))
    return found


def test_every_ragrerank_import_resolves() -> None:
    broken = []
    for where, line, module, names in _imports():
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            broken.append(f"{where}:{line}: {module}: {exc}")
            continue
        for name in names:
            missing = name != "*" and not hasattr(mod, name)
            if missing and importlib.util.find_spec(f"{module}.{name}") is None:
                broken.append(f"{where}:{line}: {module} has no {name}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("name", PUBLIC_BEFORE + PUBLIC_ADDED)
def test_public_name_is_importable_from_ragrerank(name: str) -> None:
    assert name in ragrerank.__all__
    assert getattr(ragrerank, name) is not None


def test_every_subpackage_declares_its_all() -> None:
    missing = []
    for init in sorted((ROOT / "ragrerank").rglob("__init__.py")):
        module = importlib.import_module(_module_name(init))
        exported = getattr(module, "__all__", None)
        if exported is None:
            missing.append(f"{_module_name(init)}: no __all__")
            continue
        missing += [f"{_module_name(init)}.{n}" for n in exported if not hasattr(module, n)]
    assert not missing, missing


# Layers, bottom to top: a module imports only from its own layer's package or lower layers.
# scorers and composers are peers that never import each other (composers wrap any scorer).
LAYERS = {
    "errors": 0,
    "utils": 1,
    "types": 2,
    "normalize": 3,
    "fields": 3,
    "scorer": 4,
    "calibrator": 4,
    "feedback": 4.5,  # uses scorer (fingerprint) and calibrator; reranker uses it
    "reranker": 5,
    "scorers": 6,
    "composers": 6,
    "retrieval": 7,
    "rag": 8,
    "evaluation": 9,
    "train": 10,
    "apps": 11,
}


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_imports_only_run_down_the_layers() -> None:
    upward = []
    for where, line, target, _ in _imports():
        if not where.startswith("ragrerank/"):
            continue
        source = _area(_module_name(ROOT / where))
        dest = _area(target)
        if source is None or dest is None or source == dest:
            continue  # the package root re-exports everything; a layer may use itself
        if LAYERS[dest] >= LAYERS[source]:
            upward.append(f"{where}:{line}: {source} imports {target}")
    assert not upward, "\n".join(upward)


MODULE_LINES, CLASS_LINES = 400, 300


def test_modules_and_classes_stay_small_or_say_why() -> None:
    """No module over ~400 lines, no class over ~300, unless its docstring gives a ``Size:``
    reason (one class, one job: a big class usually holds two)."""
    too_big = []
    for path in sorted((ROOT / "ragrerank").rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        where = path.relative_to(ROOT)
        lines = len(text.splitlines())
        if lines > MODULE_LINES and "Size:" not in (ast.get_docstring(tree) or ""):
            too_big.append(f"{where}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > CLASS_LINES and "Size:" not in (ast.get_docstring(node) or ""):
                    too_big.append(f"{where}: class {node.name} {size} lines")
    assert not too_big, "\n".join(too_big)
