"""Small shared helpers with no ragrerank dependencies: JSON files, locally built models."""

__all__: list[str] = []
