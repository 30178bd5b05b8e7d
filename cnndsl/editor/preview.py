"""`cnndsl serve`: a live preview page on 127.0.0.1 — the source highlighted, its diagnostics, each
network's diagram and summary table — updated when the file changes on disk or is edited in the page.

The page (`page.html`) polls `GET /state?version=N` twice a second and posts its text to `POST /source`;
edits in the page are previewed, never written to the file. Everything from the text reaches the page
escaped: highlighted by Pygments (escaped HTML), messages as text, diagrams as `<img>` data (an image runs
no script).
"""

from __future__ import annotations

import base64
import html
import json
import os
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ..analysis.costs import Summary
from ..errors import CnnError, render
from ..lang.source import MAX_FILE_BYTES, read_text
from ..render.figure import svg
from .document import Checked, check_document

PAGE = Path(__file__).with_name("page.html")


def highlight(text: str) -> str:
    """`text` as escaped HTML with Pygments' classes: the cnn lexer when cnndsl has one, else plain text."""
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers.special import TextLexer

    try:
        from ..lang.highlight import CnnLexer  # type: ignore[import-not-found]
        lexer = CnnLexer()
    except ImportError:
        lexer = TextLexer()
    return pygmentize(text, lexer, HtmlFormatter(linenos="table", cssclass="source"))


def summary_table(summary: Summary) -> str:
    """The summary's top-level rows (block calls folded) as an escaped HTML table."""
    e = html.escape
    rows = "".join(f"<tr><td>{e(r.name)}</td><td>{e(r.label)}</td><td>{e('x'.join(map(str, r.shape)))}</td>"
                   f"<td>{r.params:,}</td><td>{r.macs:,}</td></tr>" for r in summary.at_depth(0))
    total = f"<tr><th colspan=3>total</th><th>{summary.params:,}</th><th>{summary.macs:,}</th></tr>"
    return ("<table class=summary><tr><th>layer</th><th>op</th><th>output</th><th>params</th><th>MACs</th></tr>"
            f"{rows}{total}</table>")


def page_state(checked: Checked) -> dict:
    """What the page shows for one check: the highlighted source, each diagnostic as the compiler prints
    it, and each checked network's diagram (base64 SVG, None without Graphviz) and table."""
    sources = {**(checked.program.sources if checked.program else {}), checked.file: checked.text}
    diagnostics = [{"severity": d.severity, "text": render(d, sources)} for d in checked.diagnostics]
    networks = []
    for name, (net, summary) in checked.networks.items():
        picture = svg(net)
        networks.append({"name": name, "table": summary_table(summary),
                         "svg": base64.b64encode(picture.encode()).decode() if picture else None})
    return {"file": checked.file, "text": checked.text, "source": highlight(checked.text),
            "diagnostics": diagnostics, "networks": networks}


class Preview:
    """The text being previewed, its version (one more per change) and the file it follows, if any."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.lock = threading.Lock()  # guards the version and state the handlers read
        self.updating = threading.RLock()  # one update at a time, so that a newer text is never overwritten
        self.version = 0
        self.stamp: tuple[int, int] | None = None
        self.text = ""
        self.state: dict = {}
        self.poll_file()
        if file is None:
            self.set_text("")

    def poll_file(self) -> None:
        """Reload the file when its modification time or size changed (the page's edits are then replaced)."""
        if self.file is None:
            return
        with self.updating:
            self._poll_file()

    def _poll_file(self) -> None:
        try:
            st = os.stat(self.file)
        except OSError:
            return  # a file being replaced by an editor: the next poll sees the new one
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self.stamp:
            self.stamp = stamp
            try:
                self.set_text(read_text(Path(self.file)))
            except CnnError as exc:
                self.set_text("", exc)

    def set_text(self, text: str, problem: CnnError | None = None) -> None:
        """Check `text` and make it the current version."""
        with self.updating:
            checked = check_document(text, self.file or "<page>")
            if problem is not None:
                checked.diagnostics.insert(0, problem.diagnostic)
            state = page_state(checked)
            with self.lock:
                self.version += 1
                self.text, self.state = text, {**state, "version": self.version}


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet: the terminal shows only the address."""

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _state(self, known: int | None) -> None:
            with preview.lock:
                state = {"version": preview.version} if known == preview.version else preview.state
            self._send(200, json.dumps(state).encode(), "application/json")

        def _local(self) -> bool:
            """Only pages served from this address may talk to it (no DNS rebinding to the file's text)."""
            port = self.server.server_address[1]
            if self.headers.get("Host") in (f"127.0.0.1:{port}", f"localhost:{port}"):
                return True
            self._send(403, b"forbidden", "text/plain")
            return False

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            if not self._local():
                return
            if url.path == "/":
                self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
            elif url.path == "/pygments.css":
                from pygments.formatters import HtmlFormatter

                self._send(200, HtmlFormatter().get_style_defs(".source").encode(), "text/css")
            elif url.path == "/state":
                preview.poll_file()
                known = parse_qs(url.query).get("version", [""])[0]
                self._state(int(known) if known.isdigit() else None)
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            if not self._local():
                return
            header = self.headers.get("Content-Length") or "0"
            length = int(header) if header.isdigit() else -1
            if urlparse(self.path).path != "/source" or not 0 <= length <= MAX_FILE_BYTES:
                self._send(400, b"bad request", "text/plain")
                return
            preview.set_text(self.rfile.read(length).decode("utf-8", errors="replace"))
            self._state(None)

    return Handler


def make_server(file: str | None, port: int = 0) -> ThreadingHTTPServer:
    """A preview server for `file` (None: an empty text to write in the page) bound to 127.0.0.1 at `port`
    (0: a free one). Raises CnnError for a port out of range or that cannot be bound, and a file that
    cannot be read."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise CnnError(f"--port must be between 0 and 65535, got {port!r}", hint="leave it out for a free one")
    if file is not None:
        read_text(Path(file))  # a missing or unreadable file is an error now, not an empty page
    preview = Preview(file)
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(preview))
    except OSError as exc:
        raise CnnError(f"cannot listen on 127.0.0.1:{port}: {(exc.strerror or str(exc)).lower()}",
                       hint="choose another --port, or leave it out for a free one") from None
    server.daemon_threads = True
    return server


def serve(file: str | None, port: int = 0, no_browser: bool = False) -> None:
    """Serve the preview until Ctrl-C, printing its address (and opening it in a browser unless told not)."""
    server = make_server(file, port)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"cnndsl serve: {file or 'a new text'} at {url} (Ctrl-C stops)", flush=True)
    if not no_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
