"""Ranked fields: the text a scorer reads, built from a candidate's text and metadata.

`RankedFields` renders a copy of each `Candidate` whose ``text`` is either a
``text_template`` (``"{title}\\n{text}"``) or ``rank_fields`` lines (``["title", "text"]``
gives ``"title: ...\\ntext: ..."``, the YAML-style "key: value" form Cohere recommends for
structured documents). The `Reranker` scores the rendered copies and returns the caller's
candidates untouched.

Rules (one for both forms):

- ``text`` names the candidate's own text (a metadata key ``"text"`` is not read); every
  other name is a metadata key. A dotted name (``"source.title"``) looks into nested
  mappings; a key that itself contains a dot is found first.
- A field is missing when the key is absent or its value is ``None``. ``missing_field=
  "error"`` (the default) raises `ValueError` naming the document's index, id and the
  field; ``"empty"`` renders an empty string in a template and leaves out the line in
  ``rank_fields``.
- A ``str`` value is inserted as is (braces in values are text, never re-read as fields);
  any other value goes through ``format(value, spec)``, i.e. ``str(value)`` without a
  spec. Templates follow `str.format` syntax: ``{{``/``}}`` are literal braces, a format
  spec (``{votes:>5}``) and a conversion (``{title!r}``) apply; positional fields
  (``{}``, ``{0}``), attribute access and indexing (``{a.b}`` is a dotted key, not an
  attribute; ``{a[0]}`` is refused) are errors at construction.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from .types import Candidate, check_text, document_label

__all__ = ["MissingField", "RankedFields", "field_value"]

MissingField = Literal["error", "empty"]
_MISSING_POLICIES = ("error", "empty")


class _Missing(Exception):
    """A field the candidate does not have (internal)."""


_ABSENT = object()


def field_value(cand: Candidate, name: str) -> Any:
    """The value of field ``name`` of ``cand``: its text for ``"text"``, else the metadata
    key (a dotted name looks into nested mappings; a key with a dot is found first).
    ``None`` when the field is missing, the same as a ``None`` value."""
    if name == "text":
        return cand.text
    value: Any = cand.metadata
    rest = name
    while True:
        if not isinstance(value, Mapping):
            return None
        if rest in value:
            return value[rest]
        head, dot, rest = rest.partition(".")
        if not dot or head not in value:
            return None
        value = value[head]


def _lookup(cand: Candidate, name: str) -> Any:
    value = field_value(cand, name)
    if value is None:
        raise _Missing(name)
    return value


class _Formatter(string.Formatter):
    """`str.format` rendering whose field names are keys of a candidate (no indexing);
    a missing field raises `_Missing`, or renders as "" when ``empty``."""

    def __init__(self, cand: Candidate, empty: bool) -> None:
        self.cand, self.empty = cand, empty

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        try:
            return _lookup(self.cand, field_name), field_name
        except _Missing:
            if not self.empty:
                raise _Missing(field_name) from None
            return _ABSENT, field_name

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return value if value is _ABSENT else super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is _ABSENT:
            return ""
        return value if isinstance(value, str) and not format_spec else format(value, format_spec)


def _template_fields(template: str) -> list[str]:
    """The field names of ``template``; `ValueError` for positional or indexed fields."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"text_template {template!r} is not a valid format string: {exc}"
        ) from None
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if not name or name.isdigit() or "[" in name:
            raise ValueError(
                f"text_template {template!r}: field {{{name}}} must name 'text' or a metadata "
                "key (no positional fields or indexing)"
            )
        if spec and "{" in spec:
            raise ValueError(f"text_template {template!r}: nested fields in a format spec")
        names.append(name)
    if not names:
        raise ValueError(f"text_template {template!r} names no field (use '{{text}}')")
    return names


class RankedFields:
    """Build the scorer's view of each candidate from its text and metadata.

    Args:
        text_template: a `str.format` template over ``text`` and metadata keys.
        rank_fields: field names, rendered as ``"name: value"`` lines in this order.
        missing_field: ``"error"`` (a `ValueError` naming the document id) or
            ``"empty"`` (see the module docstring).

    Raises:
        ValueError: neither or both of ``text_template`` and ``rank_fields``, a bad
            template, an empty or non-str field name, or an unknown ``missing_field``.
    """

    def __init__(
        self,
        *,
        text_template: str | None = None,
        rank_fields: Sequence[str] | None = None,
        missing_field: MissingField = "error",
    ) -> None:
        if (text_template is None) == (rank_fields is None):
            raise ValueError("pass exactly one of text_template and rank_fields")
        if missing_field not in _MISSING_POLICIES:
            raise ValueError(
                f"missing_field must be one of {_MISSING_POLICIES}, got {missing_field!r}"
            )
        self.text_template = text_template
        self.rank_fields: tuple[str, ...] | None = None
        self.missing_field: MissingField = missing_field
        if text_template is not None:
            if not isinstance(text_template, str):
                raise ValueError(f"text_template must be a str, got {type(text_template).__name__}")
            _template_fields(text_template)
        else:
            if isinstance(rank_fields, (str, bytes)) or not isinstance(rank_fields, Sequence):
                raise ValueError(f"rank_fields must be a list of field names, got {rank_fields!r}")
            if not rank_fields:
                raise ValueError("rank_fields must name at least one field")
            for i, name in enumerate(rank_fields):
                if not isinstance(name, str) or not name:
                    raise ValueError(f"rank_fields[{i}] must be a non-empty str, got {name!r}")
            self.rank_fields = tuple(rank_fields)

    def __repr__(self) -> str:
        what = (
            f"text_template={self.text_template!r}"
            if self.rank_fields is None
            else f"rank_fields={list(self.rank_fields)!r}"
        )
        return f"RankedFields({what}, missing_field={self.missing_field!r})"

    def describe(self) -> dict[str, Any]:
        """The configuration, JSON-ready, for the score trace."""
        if self.rank_fields is None:
            return {"text_template": self.text_template, "missing_field": self.missing_field}
        return {"rank_fields": list(self.rank_fields), "missing_field": self.missing_field}

    def render(self, cand: Candidate, index: int) -> str:
        """The text the scorer reads for ``cand`` (input position ``index``).

        Raises:
            ValueError: a missing field under ``missing_field="error"``, a format spec that
                does not fit the value, or a rendered text that is not valid Unicode, naming
                the document's index and id.
        """
        empty = self.missing_field == "empty"
        try:
            if self.rank_fields is None:
                assert self.text_template is not None
                text = _Formatter(cand, empty).format(self.text_template)
            else:
                text = "\n".join(self._lines(cand, empty))
        except _Missing as exc:
            raise ValueError(
                f"{document_label(index, cand)}: missing field {exc.args[0]!r} for the ranked text "
                "(pass missing_field='empty' to render it as empty)"
            ) from None
        except (ValueError, TypeError) as exc:  # a format spec that does not fit the value
            raise ValueError(f"{document_label(index, cand)}: ranked text: {exc}") from None
        return check_text(text, f"{document_label(index, cand)}: ranked text")

    def _lines(self, cand: Candidate, empty: bool) -> list[str]:
        lines = []
        for name in self.rank_fields or ():
            try:
                value = _lookup(cand, name)
            except _Missing:
                if not empty:
                    raise _Missing(name) from None
                continue
            lines.append(f"{name}: {value if isinstance(value, str) else format(value)}")
        return lines

    def apply(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Copies of ``candidates`` whose text is the rendered one (id, metadata and score
        kept by reference); the originals are not modified."""
        return [replace(c, text=self.render(c, i)) for i, c in enumerate(candidates)]
