"""How counts and times read in messages: "1 epoch", "3 epochs", "about 3 min". Below everything that prints
or draws one."""
from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, plural unless one (nouns that take an -s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def about(seconds: float) -> str:
    """A time as a person says it: "about 40 s", "about 3 min", "about 2 h 5 min"."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"about {minutes} min" if minutes < 60 else f"about {minutes // 60} h {minutes % 60} min"
