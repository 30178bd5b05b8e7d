"""Syntax highlighting of `.cnn` text with Pygments: `CnnLexer`, registered as `cnn` through the
`pygments.lexers` entry point (pyproject.toml), so `pygmentize -l cnn FILE` works wherever cnndsl is
installed, and `highlight_html` for the gallery and `cnndsl serve`.

The keywords come from the grammar (cnndsl.lang.grammar.keywords) and the ops from the op registry
when the text is lexed, so ops a plugin registered are highlighted as ops too.
"""

from __future__ import annotations

from collections.abc import Iterator

from pygments.lexer import RegexLexer, bygroups
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace, _TokenType

from .grammar import keywords

Dims = Number.Dims  # `3x3`, `3x224x224`: a token type of its own, styled as a number
_CONSTANTS = {"true", "false"}
_WORD_OPERATORS = {"and", "or", "not", "in"}


class CnnLexer(RegexLexer):
    """Pygments lexer for the .cnn language (docs/language.md). Keywords are Keyword, ops Name.Builtin,
    calls Name.Function, the name a `block` or `network` defines Name.Class, other names Name."""

    name = "cnndsl"
    aliases = ["cnn", "cnndsl"]
    filenames = ["*.cnn"]
    mimetypes = ["text/x-cnn"]
    url = "https://github.com/cnndsl/cnndsl"

    tokens = {
        "root": [
            (r"[\t \f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"\ufeff", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"[^"\n]*"', String.Double),
            (r"(block|network)(\s+)([A-Za-z_][A-Za-z0-9_]*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"[A-Za-z_][A-Za-z0-9_]*(?=\()", Name.Function),
            (r"[0-9]+(x[0-9]+)+(?![A-Za-z0-9_])", Dims),
            (r"([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"->|==|!=|<=|>=|\*\*|//|[-+*/%<>=|]", Operator),
            (r"[(){}\[\],]", Punctuation),
            (r".", Text),  # anything else: shown as written (the parser reports it)
        ],
    }

    def get_tokens_unprocessed(self, text: str, stack: tuple[str, ...] = ("root",)) -> Iterator[
            tuple[int, _TokenType, str]]:
        """Pygments' token stream with bare names told apart: keywords, ops and other names."""
        from ..ops import REGISTRY  # read now: plugins may have added ops since the import

        words = keywords()
        for index, kind, value in super().get_tokens_unprocessed(text, stack):
            if kind is Name:
                if value in _CONSTANTS:
                    kind = Keyword.Constant
                elif value in _WORD_OPERATORS:
                    kind = Operator.Word
                elif value in words:
                    kind = Keyword.Namespace if value == "import" else Keyword
                elif value in REGISTRY:
                    kind = Name.Builtin
            elif kind is Name.Function and value in REGISTRY:
                kind = Name.Builtin  # `concat(a, b)`: a merge op over named tensors
            yield index, kind, value


def highlight_html(text: str) -> str:
    """`text` as highlighted HTML: a `<div class="highlight"><pre>...` block whose spans use the
    classes of `highlight_css()`."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    return highlight(text, CnnLexer(), HtmlFormatter())


def highlight_css() -> str:
    """The CSS rules for `highlight_html`'s classes (Pygments' default style), scoped to `.highlight`."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter().get_style_defs(".highlight")
