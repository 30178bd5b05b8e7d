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
# huge values on purpose: long digit strings, floats beyond range, sizes past 64 bits or the
# element limit, tuples and loops past the limits (each must be refused quickly, and located)
HUGE = ["9" * 25, "1" * 5000, "0" * 40 + "7", "1e999", "1e-999", "1e99999999999", "4" * 400 + ".5", "2 ** 64",
        "2 ** 62 * 4", "10 ** 18 * 10", "1e308 * 10", "(-8) ** 0.5", "1099511627776", "36893488147419103232",
        "1x36893488147419103232x1", "3x1099511627776x1", "(0,) * 1000000", "((0,) * 1000,) * 1000",
        "((0,) * 1000000,) * 1000000", "range(1000000)", "range(10 ** 12)", "enumerate(range(600000))",
        "(1, 1, 1, 1, 1, 1, 1, 1, 1)", "40", "10 ** 12"]
# characters Python treats as digits, line breaks or letters that the language does not
ODD = ["²", "٣", "𝟘", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\u00a0", "\u200b", "ñame", "名前",
       "\ufeff", "\r", "\t", "\x00"]
NOISE = ["{", "}", "(", ")", "[", "]", ",", "|", "->", "=", "/", "-", "*", "**", "//", "\n", " ", "#", '"', "x",
         "conv", "repeat", "if", "else", "for", "in", "let", "block", "network", "input", "output", "as", "add",
         "concat", "identity", "0", "1", "-1", "1e400", "99999999999999999999", "3x3", "é", "\t", "\r\n", "\ufeff",
         *HUGE, *ODD]


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
            tokens[j] = rng.choice(["0", "1", "2", "7", "13", "255", "4096", "100000", "3x3", "0x0", "1x1x1",
                                    *HUGE[:16]])
    elif kind == 4:
        return text[:rng.randrange(len(text) + 1)]
    elif kind == 5:
        tokens.insert(i, rng.choice(NOISE))
    else:
        tokens[i] = rng.choice(NOISE)
    out = "".join(tokens)
    return mutate(out, rng) if rng.random() < 0.3 and out else out


# a block that doubles per level, and bodies that put a huge value where each kind of value goes
RECURSIVE = "block b(n) {\n    if n > 0 { b(n - 1), b(n - 1) } else { relu }\n}\n"
BODIES = ["let v = {v}\n    conv 3x3 v", "conv 3x3 {v}", "repeat {v} {{ relu }}", "repeat {v} {{ }}",
          "for i in range({v}) {{ relu }}", "for (a, b) in {v} {{ relu }}", "upsample {v}", "flatten, fc {v}", "b({v})",
          "concat {{ relu | repeat {v} {{ relu }} }}", "if {v} > 0 {{ relu }}", "maxpool {v}", "conv 3x3 4 groups={v}",
          "let t = {v}\n    let u = (t, t, t)\n    conv 3x3 u[0]", "dropout {v}", "split {v}"]


def hostile(rng: random.Random) -> str:
    """A program with huge values where values go, and odd characters anywhere."""
    body = "\n    ".join(rng.choice(BODIES).format(v=rng.choice(HUGE)) for _ in range(rng.randint(1, 3)))
    shape = rng.choice(["3x8x8", "1x4", "2x5x5x5", rng.choice(HUGE)])
    text = f"{RECURSIVE}network A {{\n    input {shape}\n    {body}\n}}\n"
    for _ in range(rng.randrange(3)):
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice(ODD) + text[i:]
    return text


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
