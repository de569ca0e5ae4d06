"""ColBERT fine-tuning: an encoder plus a linear projection, trained with MaxSim.

The model is saved in the sentence-transformers / PyLate layout (``modules.json``:
Transformer at the root, ``1_Dense`` projection; ColBERT settings in
``config_sentence_transformers.json``), which `ragrerank.ColBERTScorer` loads. Training
encodes through the scorer's own encoder (`ragrerank.scorers.colbert.encoder`: markers,
[MASK] query expansion, punctuation skiplist), so trained and served vectors are computed
the same way.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import require
from ..utils.jsonio import write_json
from ..utils.model_source import resolve_model
from .config import Sample, TrainConfig, TrainResult
from .cross_encoder import check_encoder, default_base_model, group_loss, layer_overrides
from .data import TrainingSet
from .loop import fill_negatives, fit, seed_everything

if TYPE_CHECKING:
    import torch

    from ..scorers.colbert import ColBERTScorer

__all__ = ["init_colbert", "train_colbert"]

logger = logging.getLogger(__name__)

QUERY_MARKER = "[unused0]"
DOCUMENT_MARKER = "[unused1]"
_DENSE_TYPE = "sentence_transformers.models.Dense"


def _save_colbert(
    out: Path, encoder: Any, tokenizer: Any, projection: Any, settings: Mapping[str, Any]
) -> None:
    """Write encoder, tokenizer, projection and ColBERT settings in the PyLate layout."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(out)
    tokenizer.save_pretrained(out)
    weight = projection.weight.detach().float().cpu().contiguous()
    (out / "1_Dense").mkdir(exist_ok=True)
    save_file({"linear.weight": weight}, str(out / "1_Dense" / "model.safetensors"))
    write_json(
        out / "1_Dense" / "config.json",
        {
            "in_features": int(weight.shape[1]),
            "out_features": int(weight.shape[0]),
            "bias": False,
            "activation_function": "torch.nn.modules.linear.Identity",
            # sentence-transformers >= 6 then projects every token, as ColBERT does.
            "module_input_name": "token_embeddings",
            "module_output_name": "token_embeddings",
        },
        indent=2,
    )
    write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Dense", "type": _DENSE_TYPE},
        ],
        indent=2,
    )
    write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": int(settings["document_length"]), "do_lower_case": False},
        indent=2,
    )
    write_json(out / "config_sentence_transformers.json", dict(settings), indent=2)


def init_colbert(
    base_model: str | Path,
    out: str | Path,
    *,
    dim: int = 128,
    query_length: int = 32,
    document_length: int = 256,
    num_layers: int | None = None,
    seed: int = 0,
) -> Path:
    """Save an untrained ColBERT (``base_model``'s encoder + random ``dim`` projection)."""
    source = resolve_model(base_model)
    config = check_encoder(source)
    ref, extra = source.pretrained()
    import torch
    from transformers import AutoModel, AutoTokenizer

    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an int >= 1, got {dim!r}")
    overrides = layer_overrides(config, num_layers, base_model)
    encoder = AutoModel.from_pretrained(ref, **extra, **overrides)
    tokenizer = AutoTokenizer.from_pretrained(ref, **extra)
    for marker in (QUERY_MARKER, DOCUMENT_MARKER):
        if tokenizer.convert_tokens_to_ids(marker) in (None, tokenizer.unk_token_id):
            raise ValueError(f"{base_model}: its vocabulary has no {marker} token for markers")
    # Keep the markers whole when other tools tokenize the prefix text.
    tokenizer.add_tokens([QUERY_MARKER, DOCUMENT_MARKER], special_tokens=True)
    torch.manual_seed(seed)
    projection = torch.nn.Linear(int(encoder.config.hidden_size), dim, bias=False)
    # Orthonormal rows: a random subspace that keeps the encoder's token geometry, so the
    # untrained model already ranks about like MaxSim over the raw encoder vectors.
    torch.nn.init.orthogonal_(projection.weight)
    settings = {
        "query_prefix": QUERY_MARKER,
        "document_prefix": DOCUMENT_MARKER,
        "query_length": query_length,
        "document_length": document_length,
        "do_query_expansion": True,
        "attend_to_expansion_tokens": False,
        "skiplist_words": list(string.punctuation),
        "similarity_fn_name": "MaxSim",
    }
    _save_colbert(Path(out), encoder, tokenizer, projection, settings)
    return Path(out)


class ColBERTTask:
    """Trains the encoder and projection of a loaded `ColBERTScorer` in place."""

    def __init__(self, scorer: ColBERTScorer, temperature: float = 1.0) -> None:
        encoder = scorer._loaded()
        checkpoint = encoder.checkpoint
        projection = checkpoint.projection
        if projection is None:
            raise ValueError(f"{scorer.model_name}: no projection to train")
        self.scorer = scorer
        self.checkpoint = checkpoint
        self.encoder = encoder
        self.projection = projection
        self.temperature = temperature
        self.settings = json.loads(
            (Path(scorer.model_name) / "config_sentence_transformers.json").read_text()
        )

    def named_parameters(self) -> Any:
        yield from self.checkpoint.transformer.auto_model.named_parameters()
        for name, p in self.projection.named_parameters():
            yield f"projection.{name}", p

    def train_mode(self, on: bool) -> None:
        self.checkpoint.model.train(on)

    def encode_queries(self, queries: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[batch, tokens, dim]`` query vectors and a ``[batch, tokens]`` use mask
        (expansion tokens are used even when not attended)."""
        features = self.encoder.features(queries, is_query=True)
        return self.encoder.forward(features, is_query=True)

    def encode_documents(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[batch, tokens, dim]`` document vectors and the mask of kept tokens."""
        features = self.encoder.features(texts, is_query=False)
        return self.encoder.forward(features, is_query=False)

    def loss(self, samples: Sequence[Sample], loss: str) -> torch.Tensor:
        import torch.nn.functional as F

        groups = len(samples[0].texts)
        q, q_use = self.encode_queries([x.query for x in samples])
        d, d_keep = self.encode_documents([t for x in samples for t in x.texts])
        scores = maxsim_matrix(q, q_use, d, d_keep)  # [queries, all documents of the batch]
        if loss == "listwise":
            # Contrastive: each query against every document of the batch (its positive,
            # its hard negatives and the other queries' documents).
            import torch

            target = torch.arange(len(samples)) * groups
            return F.cross_entropy(scores / self.temperature, target)
        own = scores.view(len(samples), len(samples), groups)
        own = own[range(len(samples)), range(len(samples))]
        return group_loss(own, loss, samples)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return self.scorer.score(query, texts)

    def save(self, out: Path) -> None:
        encoder = self.checkpoint.transformer.auto_model
        _save_colbert(out, encoder, self.checkpoint.tokenizer, self.projection, self.settings)


def maxsim_matrix(
    q: torch.Tensor, q_use: torch.Tensor, d: torch.Tensor, d_keep: torch.Tensor
) -> torch.Tensor:
    """``[n_queries, n_docs]`` MaxSim: sum over used query tokens of the best kept doc token."""
    import torch

    sim = torch.einsum("qid,njd->qnij", q, d)
    sim = sim.masked_fill(~d_keep[None, :, None, :], -1e4)
    best = sim.max(dim=-1).values  # [queries, docs, query tokens]
    best = best.masked_fill(~q_use[:, None, :], 0.0)
    return best.sum(dim=-1)


def train_colbert(
    train: TrainingSet,
    out: str | Path,
    *,
    base_model: str | Path | None = None,
    val: TrainingSet | None = None,
    config: TrainConfig | None = None,
    dim: int = 128,
    query_length: int = 32,
    num_layers: int | None = None,
    temperature: float = 1.0,
    teacher: Mapping[str, Mapping[str, float]] | None = None,
    info: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Fine-tune a ColBERT model from an encoder checkpoint (or a ColBERT folder).

    ``base_model``: a plain encoder (a random ``dim`` projection is added) or a folder
    written by this trainer (training continues). ``loss="listwise"`` is the contrastive
    loss over in-batch and hard negatives; ``"margin_mse"`` distils ``teacher`` scores.
    Documents are cut to ``config.max_length`` tokens, queries to ``query_length``.
    """
    require("torch", "local")
    from ..scorers.colbert import ColBERTScorer

    config = config if config is not None else TrainConfig()
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    base = str(base_model) if base_model is not None else default_base_model()
    seed_everything(config.seed)
    out = Path(out)
    if (Path(base) / "config_sentence_transformers.json").is_file() and (
        Path(base) / "1_Dense"
    ).is_dir():
        start = base
    else:
        start = str(
            init_colbert(
                base,
                out,
                dim=dim,
                query_length=query_length,
                document_length=config.max_length,
                num_layers=num_layers,
                seed=config.seed,
            )
        )
    # Trained in float32 weights (mixed precision is the loop's job), whatever dtype="auto"
    # would pick for scoring on this machine.
    scorer = ColBERTScorer(start, device="cpu", dtype="float32", cache_max_bytes=0, batch_size=64)
    task = ColBERTTask(scorer, temperature)
    if teacher is None:
        train = fill_negatives(train, config.negatives, config.seed)
    log = {
        "kind": "colbert",
        "base_model": base,
        "dim": scorer.dim,
        "num_layers": int(task.checkpoint.transformer.auto_model.config.num_hidden_layers),
        "parameters": sum(p.numel() for _, p in task.named_parameters()),
        "temperature": temperature,
        **dict(info or {}),
    }
    logger.info("training ColBERT from %s: %s", base, asdict(config))
    return fit(task, train, val, out, config, info=log, teacher=teacher)
