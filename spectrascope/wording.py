"""How counts read in messages: "1 epoch", "3 epochs". Below everything that prints or draws one."""
from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, plural unless one (nouns that take an -s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
