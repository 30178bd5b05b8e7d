"""`cnndsl lsp` end to end: a real LSP client (pytest-lsp) talks to the server over stdio."""

from __future__ import annotations

import sys

import pytest

pytest_lsp = pytest.importorskip("pytest_lsp", reason="pytest-lsp is not installed (the test extra)")
pytest.importorskip("pygls", reason="pygls is not installed (the lsp extra)")

from lsprotocol import types as lsp  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

from tests.conftest import ROOT  # noqa: E402

SOURCE = """\
block pair(c) {
    conv 3x3 c pad=1, relu
}

network Tiny(classes=10) {
    input 3x32x32
    stem = pair(8)
    stem -> conv 3x3 16 pad=1, add2 { identity | identity }
}
"""


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "cnndsl.cli", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"),
                                                             root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


def _uri(tmp_path) -> str:
    return (tmp_path / "tiny.cnn").as_uri()


async def _open(client: LanguageClient, uri: str, text: str) -> list[lsp.Diagnostic]:
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="cnn", version=1, text=text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return client.diagnostics[uri]


async def _change(client: LanguageClient, uri: str, text: str, version: int) -> list[lsp.Diagnostic]:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return client.diagnostics[uri]


def _range_of(text: str, needle: str) -> lsp.Range:
    """The LSP range of the first `needle` in `text` (ASCII text: columns are characters)."""
    for number, line in enumerate(text.split("\n")):
        if needle in line:
            start = line.index(needle)
            return lsp.Range(start=lsp.Position(line=number, character=start),
                             end=lsp.Position(line=number, character=start + len(needle)))
    raise AssertionError(needle)


@pytest.mark.asyncio
async def test_diagnostics_appear_with_their_range_and_clear_when_fixed(client: LanguageClient, tmp_path):
    uri = _uri(tmp_path)
    diagnostics = await _open(client, uri, SOURCE)
    assert len(diagnostics) == 1
    assert diagnostics[0].range == _range_of(SOURCE, "add2")
    assert "unknown op 'add2'" in diagnostics[0].message and "did you mean 'add'?" in diagnostics[0].message
    assert diagnostics[0].severity == lsp.DiagnosticSeverity.Error
    assert not await _change(client, uri, SOURCE.replace("add2", "add"), 2)


@pytest.mark.asyncio
async def test_an_error_in_a_block_carries_its_call_as_related_information(client: LanguageClient, tmp_path):
    uri = _uri(tmp_path)
    text = SOURCE.replace("add2", "add").replace("pad=1, relu", "pad=1, relu, maxpool 64x64")
    (diagnostic,) = await _open(client, uri, text)
    assert diagnostic.range == _range_of(text, "maxpool")
    (related,) = diagnostic.related_information
    assert related.location.uri == uri and related.location.range.start == _range_of(text, "pair(8)").start


@pytest.mark.asyncio
async def test_a_column_after_non_ascii_text_counts_utf16_units(client: LanguageClient, tmp_path):
    uri = _uri(tmp_path)
    # a syntax error after a string holding 𝜶, which is two UTF-16 code units (é is one)
    text = SOURCE.replace('pad=1, add2', 'pad="𝜶é"')
    (diagnostic,) = await _open(client, uri, text)
    line = text.split("\n")[diagnostic.range.start.line]
    before = line[:line.index(" {") + 1]
    assert diagnostic.range.start.character == len(before.encode("utf-16-le")) // 2 == len(before) + 1


@pytest.mark.asyncio
async def test_hover_shows_shape_params_and_macs_of_a_layer_and_a_block_call(client: LanguageClient, tmp_path):
    torch = pytest.importorskip("torch")
    uri = _uri(tmp_path)
    text = SOURCE.replace("add2", "add")
    await _open(client, uri, text)
    conv = torch.nn.Conv2d(8, 16, 3, padding=1)
    out = conv(torch.zeros(1, 8, 32, 32))
    weights = sum(p.numel() for p in conv.parameters())
    macs = out[0].numel() * 8 * 3 * 3  # one per weight per output position, bias not counted
    where = _range_of(text, "conv 3x3 16").start
    hover = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=where.line,
                                                                                  character=where.character + 1)))
    value = hover.contents.value
    assert "x".join(map(str, out.shape[1:])) in value and f"{weights:,}" in value and f"{macs:,}" in value
    assert hover.range.start == where
    call = _range_of(text, "pair(8)").start
    hover = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=call))
    first = torch.nn.Conv2d(3, 8, 3, padding=1)
    first_params = sum(p.numel() for p in first.parameters())
    assert "pair(8)" in hover.contents.value and f"{first_params:,}" in hover.contents.value
    assert "8x32x32" in hover.contents.value


@pytest.mark.asyncio
async def test_definition_of_a_block_a_named_tensor_and_an_import(client: LanguageClient, tmp_path):
    (tmp_path / "lib.cnn").write_text("block stage(c) {\n    conv 3x3 c pad=1\n}\n")
    text = 'import "lib.cnn"\n' + SOURCE.replace("add2", "add").replace("stem -> conv 3x3 16 pad=1", "stem -> stage(4)")
    uri = _uri(tmp_path)
    await _open(client, uri, text)

    async def definition(needle: str) -> lsp.Location:
        where = _range_of(text, needle).start
        return await client.text_document_definition_async(lsp.DefinitionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=where))

    block = await definition("pair(8)")
    assert block.uri == uri and block.range.start == lsp.Position(line=1, character=0)
    tensor = await definition("stem ->")
    assert tensor.uri == uri and tensor.range == _range_of(text, "stem")
    imported = await definition("stage(4)")
    assert imported.uri == (tmp_path / "lib.cnn").as_uri() and imported.range.start.line == 0
    file = await definition('"lib.cnn"')
    assert file.uri == (tmp_path / "lib.cnn").as_uri()


@pytest.mark.asyncio
async def test_completion_offers_ops_with_signatures_blocks_keywords_and_the_ops_keywords(client: LanguageClient,
                                                                                          tmp_path):
    from cnndsl.ops import REGISTRY

    uri = _uri(tmp_path)
    text = SOURCE.replace("add2", "add")
    await _open(client, uri, text)
    where = _range_of(text, "3x3 16").end
    result = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=where.line,
                                                                                  character=where.character + 1)))
    items = {item.label: item for item in result.items}
    assert items["conv"].detail == REGISTRY["conv"].signature()
    assert set(REGISTRY) <= set(items)
    assert items["pair"].kind == lsp.CompletionItemKind.Class and "network" in items
    keywords = [p.name + "=" for p in REGISTRY["conv"].params if not p.positional]
    assert keywords and all(k in items for k in keywords)
    assert min(result.items, key=lambda i: i.sort_text).label in keywords


@pytest.mark.asyncio
async def test_document_symbols_are_the_networks_and_blocks(client: LanguageClient, tmp_path):
    uri = _uri(tmp_path)
    text = SOURCE.replace("add2", "add")
    await _open(client, uri, text)
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri)))
    assert [(s.name, s.kind) for s in symbols] == [("pair", lsp.SymbolKind.Function), ("Tiny", lsp.SymbolKind.Class)]
    assert symbols[1].selection_range == _range_of(text, "Tiny")
    assert symbols[1].range.end.line == text.split("\n").index("}", 4)


@pytest.mark.asyncio
async def test_an_error_in_an_imported_file_is_shown_at_the_import(client: LanguageClient, tmp_path):
    (tmp_path / "lib.cnn").write_text("block stage(c) {\n    conv 3x3 c pad=1,\n}\n")
    text = 'import "lib.cnn"\n' + SOURCE.replace("add2", "add")
    uri = _uri(tmp_path)
    (diagnostic,) = await _open(client, uri, text)
    assert diagnostic.range.start == lsp.Position(line=0, character=0)
    # where in the imported file (the line the ',' ends too soon), then the message
    assert "lib.cnn:2:22:" in diagnostic.message.split(" ")[0]
    (related, *_) = diagnostic.related_information
    assert related.location.uri == (tmp_path / "lib.cnn").as_uri() and related.location.range.start.line == 1


def test_formatting_is_offered_exactly_when_a_formatter_exists():
    import importlib.util

    from cnndsl.editor.lsp import formatter
    from cnndsl.editor.server import build_server

    has_formatter = importlib.util.find_spec("cnndsl.lang.format") is not None
    assert (formatter() is not None) == has_formatter
    features = build_server().protocol.fm.features
    assert (lsp.TEXT_DOCUMENT_FORMATTING in features) == has_formatter
    assert {lsp.TEXT_DOCUMENT_HOVER, lsp.TEXT_DOCUMENT_DEFINITION, lsp.TEXT_DOCUMENT_COMPLETION} <= set(features)


@pytest.mark.asyncio
async def test_formatting_gives_the_formatters_text(client: LanguageClient, tmp_path):
    """textDocument/formatting through the client: the edits turn the document into what
    `cnndsl fmt` writes (cnndsl.lang.format.format_text)."""
    from cnndsl.lang.format import format_text

    uri = _uri(tmp_path)
    messy = SOURCE.replace("add2", "add").replace("    input 3x32x32", "  input   3x32x32").replace(
        "conv 3x3 c pad=1, relu", "conv 3x3 c pad = 1 ,relu")
    await _open(client, uri, messy)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), options=lsp.FormattingOptions(tab_size=4,
                                                                                          insert_spaces=True)))
    assert edits, "the messy document needs formatting"
    lines = messy.split("\n")
    assert all(e.range.end.line < len(lines) and e.range.end.character <= len(lines[e.range.end.line])
               for e in edits), "every edit ends inside the document"
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start, end = edit.range.start, edit.range.end
        before = "\n".join(lines[:start.line] + [lines[start.line][:start.character]])
        after = "\n".join([lines[end.line][end.character:]] + lines[end.line + 1:]) if end.line < len(lines) else ""
        lines = (before + edit.new_text + after).split("\n")
    assert "\n".join(lines) == format_text(messy) != messy
    tidy = format_text(messy)
    tidy_uri = (tmp_path / "tidy.cnn").as_uri()
    await _open(client, tidy_uri, tidy)
    same = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=lsp.TextDocumentIdentifier(uri=tidy_uri), options=lsp.FormattingOptions(
            tab_size=4, insert_spaces=True)))
    assert not same, "a tidy document gets no edit"
