"""Prompt templates of generative rerankers: parsing, the folder's own settings, and
segment-wise tokenization so that only the document is ever cut.

A template is a string with ``{query}`` and ``{document}`` (each exactly once) and optionally
``{instruction}``; literal text (chat markers such as ``<|im_start|>`` included) is tokenized
as written, each piece on its own, so the document's tokens are known before truncation.
A model folder may ship ``generative_reranker.json`` with any of ``template``,
``true_token``, ``false_token``, ``instruction``.

A folder saved by sentence-transformers (6.x ``CrossEncoder.save_pretrained`` of a decoder with
a ``LogitScore`` head) ships ``modules.json``, the head's ``<path>/config.json`` with
``true_token_id``/``false_token_id`` (ids, not tokens), and ``config_sentence_transformers.json``
with ``prompts`` and ``default_prompt_name``; sentence-transformers prepends that prompt to the
query and tokenizes the pair as ``query + document``, so it reads here as the template
``<prompt>{query}{document}``. Its chat template (``message`` modality) is not read.
Precedence: constructor arguments > ``generative_reranker.json`` > what sentence-transformers
saved > the defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ...utils.model_source import ModelSource

__all__ = [
    "DECODER_TEMPLATE", "FOLDER_FILE", "SEQ2SEQ_TEMPLATE", "Template", "read_folder",
    "read_sentence_transformers",
]  # fmt: skip

FOLDER_FILE = "generative_reranker.json"
# Qwen3-Reranker's published prompt (yes/no at the last position).
DECODER_TEMPLATE = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"
    "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
)
SEQ2SEQ_TEMPLATE = "Query: {query} Document: {document} Relevant:"  # MonoT5
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
_FIELD = re.compile(r"\{(query|document|instruction)\}")
_KEYS = {"template", "true_token", "false_token", "instruction"}
_LOGIT_SCORE = "sentence_transformers.cross_encoder.modules.logit_score.LogitScore"


@dataclass(frozen=True)
class Template:
    """A parsed template: literal ``pieces`` around the ``fields`` in order."""

    text: str
    pieces: tuple[str, ...]
    fields: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("template must be a non-empty string with {query} and {document}")
        fields = tuple(_FIELD.findall(text))
        for name in ("query", "document"):
            if fields.count(name) != 1:
                raise ValueError(
                    f"template must contain {{{name}}} exactly once, found {fields.count(name)}: "
                    f"{text!r}"
                )
        if fields.count("instruction") > 1:
            raise ValueError(f"template has {{instruction}} more than once: {text!r}")
        return cls(text, tuple(_FIELD.split(text)[0::2]), fields)

    def render(self, values: dict[str, str]) -> str:
        """The prompt as one string (for display and references)."""
        out = self.pieces[0]
        for name, piece in zip(self.fields, self.pieces[1:], strict=True):
            out += values[name] + piece
        return out

    def encode(
        self, tokenize: Any, values: dict[str, str]
    ) -> tuple[list[int], list[int], list[int]]:
        """(ids before the document, the document's ids, ids after it); each piece and value
        tokenized on its own by ``tokenize(list_of_str) -> list_of_ids``."""
        texts = [self.pieces[0]]
        for name, piece in zip(self.fields, self.pieces[1:], strict=True):
            texts += [values[name], piece]
        ids = tokenize(texts)
        at = 1 + 2 * self.fields.index("document")
        flat = [
            [i for part in ids[:at] for i in part],
            ids[at],
            [i for p in ids[at + 1 :] for i in p],
        ]
        return flat[0], flat[1], flat[2]


def read_folder(source: ModelSource) -> dict[str, str]:
    """The settings a model folder ships in ``generative_reranker.json`` (empty if none)."""
    path = source.find(FOLDER_FILE)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or set(data) - _KEYS:
        raise ValueError(f"{path}: expected an object with keys among {sorted(_KEYS)}")
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ValueError(f"{path}: {bad[0]!r} must be a string")
    return dict(data)


def _json(source: ModelSource, filename: str) -> Any:
    path = source.find(filename)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc.msg})") from None


def read_sentence_transformers(source: ModelSource) -> dict[str, Any]:
    """What a sentence-transformers save ships (module header): ``true_token``/``false_token``
    as ids (from the LogitScore head) and ``template`` (from the default prompt); empty if none."""
    out: dict[str, Any] = {}
    modules = _json(source, "modules.json")
    for module in modules if isinstance(modules, list) else []:
        if isinstance(module, dict) and module.get("type") == _LOGIT_SCORE:
            folder = str(module.get("path") or "").strip("/")
            head = _json(source, f"{folder}/config.json" if folder else "config.json")
            for key in ("true_token", "false_token"):
                value = head.get(f"{key}_id") if isinstance(head, dict) else None
                if isinstance(value, int) and not isinstance(value, bool):
                    out[key] = value
    config = _json(source, "config_sentence_transformers.json")
    if isinstance(config, dict) and isinstance(config.get("prompts"), dict):
        prompt = config["prompts"].get(config.get("default_prompt_name"))
        if isinstance(prompt, str) and prompt:
            out["template"] = prompt + "{query}{document}"
    return out
