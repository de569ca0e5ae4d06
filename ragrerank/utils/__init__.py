"""Shared helpers below the scorers: JSON files, where a model comes from (folder or hub
name), models built locally, what the hardware computes fast (`hardware`: dtype="auto"). They
depend only on the contract's errors."""

__all__: list[str] = []
