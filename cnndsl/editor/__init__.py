"""Editor support: what one `.cnn` text in an editor holds (`document.py`: its diagnostics, checked
networks and summaries, definitions), the language server `cnndsl lsp` (`lsp.py`, on pygls) and the
live preview page `cnndsl serve` (`preview.py`, on the standard library's http.server). Never imports
torch."""
