"""The front end: grammar, parser, syntax tree with spans, source files and imports, values."""
