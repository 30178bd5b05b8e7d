"""Import every torchvision classification model, with the round-trip check, and write the
table of docs/import.md (line counts, blocks, time) between its markers.

    .venv/bin/python -m benchmarks.import_report
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

from cnndsl.importer import import_torchvision, importable

from .common import machine

DOCS = Path(__file__).resolve().parent.parent / "docs" / "import.md"
START, END = "<!-- table: benchmarks/import_report.py -->", "<!-- end of table -->"
TARGET = ("resnet", "wide_resnet", "resnext", "densenet", "mobilenet", "efficientnet")


def main() -> None:
    warnings.simplefilter("ignore", FutureWarning)
    rows = []
    for name, why in importable():
        if why:
            rows.append(f"| `{name}` | — | — | — | not importable: {why} |")
            continue
        start = time.perf_counter()
        text = import_torchvision(name)
        seconds = time.perf_counter() - start
        lines = len(text.splitlines())
        note = ("over the 60-line target" if lines > 60 else "") if name.startswith(TARGET) else ""
        rows.append(f"| `{name}` | {lines} | {text.count(chr(10) + 'block ')} | {seconds:.1f} | {note} |")
        print(rows[-1], flush=True)
    table = "\n".join([START, f"Measured on {machine()}; time is the whole import, with the round-trip check, "
                              "at the model's own input size.", "",
                       "| model | lines | blocks | seconds | |", "|---|---|---|---|---|", *rows, END])
    text = DOCS.read_text()
    DOCS.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda m: table, text, flags=re.S))


if __name__ == "__main__":
    main()
