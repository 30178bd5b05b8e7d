"""Inputs for fuzzing the front end: mutations of the zoo files and the one property every
input must satisfy (shared by tests/test_fuzz.py and benchmarks/fuzz.py)."""

from __future__ import annotations

import random
import re
from pathlib import Path

from cnndsl.elaborate import Limits, elaborate
from cnndsl.errors import CnnError
from cnndsl.lang.source import program_from_text

ARCH = Path(__file__).resolve().parent.parent / "architectures"
TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_]*\(?|\d+(?:x\d+)*|\S")
# small limits keep a mutated `repeat 900000` from taking a minute; the limits are what is tested
LIMITS = Limits(max_layers=20_000, max_depth=50)
NOISE = ["{", "}", "(", ")", "[", "]", ",", "|", "->", "=", "/", "-", "*", "**", "//", "\n", " ", "#", '"', "x",
         "conv", "repeat", "if", "else", "for", "in", "let", "block", "network", "input", "output", "as", "add",
         "concat", "identity", "0", "1", "-1", "1e400", "99999999999999999999", "3x3", "é", "\t", "\r\n", "\ufeff"]


def zoo_texts() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(ARCH.glob("*.cnn"))}


def mutate(text: str, rng: random.Random) -> str:
    """Delete, duplicate, swap or replace tokens, change a number, or truncate."""
    tokens = TOKEN.findall(text)
    kind = rng.randrange(7)
    i = rng.randrange(len(tokens))
    if kind == 0:
        del tokens[i]
    elif kind == 1:
        tokens.insert(i, tokens[i])
    elif kind == 2 and i + 1 < len(tokens):
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    elif kind == 3:
        numbers = [j for j, t in enumerate(tokens) if t[0].isdigit()]
        if numbers:
            j = rng.choice(numbers)
            tokens[j] = rng.choice(["0", "1", "2", "7", "13", "255", "4096", "100000", "3x3", "0x0", "1x1x1"])
    elif kind == 4:
        return text[:rng.randrange(len(text) + 1)]
    elif kind == 5:
        tokens.insert(i, rng.choice(NOISE))
    else:
        tokens[i] = rng.choice(NOISE)
    out = "".join(tokens)
    return mutate(out, rng) if rng.random() < 0.3 and out else out


class PropertyError(AssertionError):
    """An input that broke the property: anything but a graph or a located CnnError."""


def check_all(text: str, file: str = "fuzz.cnn") -> int:
    """The property: every network in `text` elaborates, or a CnnError points into the text.
    Returns the number of networks checked."""
    try:
        program = program_from_text(text, file)
        for name in program.own_networks:
            elaborate(program, name, limits=LIMITS)
        return len(program.own_networks)
    except CnnError as exc:
        span = exc.span
        if span is None:
            raise PropertyError(f"error without a location: {exc.message}") from None
        if span.file == file:
            lines = text.removeprefix("\ufeff").split("\n")
            if not (1 <= span.line <= len(lines) + 1 and span.col >= 1):
                raise PropertyError(f"location {span.line}:{span.col} outside the text: {exc.message}") from None
        return 0
