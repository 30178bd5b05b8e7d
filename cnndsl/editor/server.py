"""The pygls wiring of `cnndsl lsp`: one handler per LSP request, each answered from the document's last
check (`lsp.Documents`). pygls and lsprotocol come with the `lsp` extra."""

from __future__ import annotations

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from ..version import __version__
from .document import definition_of
from .lsp import Documents, completions, formatter, from_position, hover_text, location, symbols, to_diagnostic


def build_server() -> LanguageServer:
    """A language server for `.cnn` files; formatting is registered only when a formatter exists."""
    server = LanguageServer("cnndsl", __version__)
    documents = Documents()

    def publish(uri: str) -> None:
        text = server.workspace.get_text_document(uri).source
        checked = documents.update(uri, text)
        diagnostics = [to_diagnostic(checked, uri, d) for d in checked.diagnostics]
        server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))

    def checked_at(uri: str, pos: lsp.Position):
        checked = documents.checked.get(uri) or documents.update(uri, server.workspace.get_text_document(uri).source)
        return checked, from_position(checked.text, pos)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: lsp.DidOpenTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: lsp.DidChangeTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: lsp.DidCloseTextDocumentParams) -> None:
        documents.checked.pop(params.text_document.uri, None)
        server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=params.text_document.uri,
                                                                              diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(params: lsp.HoverParams) -> lsp.Hover | None:
        checked, (line, col) = checked_at(params.text_document.uri, params.position)
        return hover_text(checked, line, col)

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(params: lsp.DefinitionParams) -> lsp.Location | None:
        uri = params.text_document.uri
        checked, (line, col) = checked_at(uri, params.position)
        span = definition_of(checked, line, col)
        return None if span is None else location(checked, uri, span)

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION)
    def completion(params: lsp.CompletionParams) -> lsp.CompletionList:
        checked, (line, col) = checked_at(params.text_document.uri, params.position)
        return lsp.CompletionList(is_incomplete=False, items=completions(checked, line, col))

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        checked, _ = checked_at(params.text_document.uri, lsp.Position(line=0, character=0))
        return symbols(checked)

    _add_formatting(server)
    return server


def _add_formatting(server: LanguageServer) -> None:
    """Register document formatting on `server`, only when a formatter exists."""
    format_text = formatter()
    if format_text is not None:
        @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
        def formatting(params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
            from ..errors import CnnError

            text = server.workspace.get_text_document(params.text_document.uri).source
            try:
                new = format_text(text)
            except CnnError:  # a text that does not parse is left as it is; its diagnostic says why
                return None
            if new == text:  # nothing to change: no edit, so the editor marks nothing modified
                return []
            lines = text.split("\n")  # the range ends at the document's real end (UTF-16 units, LSP's default)
            end = lsp.Position(line=len(lines) - 1, character=len(lines[-1].encode("utf-16-le")) // 2)
            return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end), new_text=new)]


def serve_stdio() -> None:
    """Run the server on stdin and stdout until the client exits."""
    build_server().start_io()
