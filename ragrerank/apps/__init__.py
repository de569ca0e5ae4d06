"""Applications at the edge: the ``ragrerank`` command line and the main demo."""

__all__: list[str] = []
