"""Hypothesis pieces the loaders' property tests share (grids and jobs)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Loading a file takes milliseconds; 150 of them per property is enough.
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutated(
    seeds: Sequence[str], tokens: Sequence[str], *, longest_cut: int
) -> st.SearchStrategy[str]:
    """A valid file from ``seeds`` after one to four edits: a cut of up to
    ``longest_cut`` characters, one of ``tokens`` put in, or two parts swapped."""

    @st.composite
    def edits(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(seeds))
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(text)))
            action = draw(st.sampled_from(["delete", "insert", "swap"]))
            if action == "delete":
                end = min(len(text), pos + draw(st.integers(1, longest_cut)))
                text = text[:pos] + text[end:]
            elif action == "insert":
                text = text[:pos] + draw(st.sampled_from(tokens)) + text[pos:]
            else:
                other = draw(st.integers(0, len(text)))
                a, b = sorted((pos, other))
                text = text[:a] + text[b:] + text[a:b]
        return text

    return edits()
