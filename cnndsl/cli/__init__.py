"""The `cnndsl` command line: `main` parses the arguments and runs one command module."""

from .main import main

__all__ = ["main"]
