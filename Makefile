# cnndsl — set-up, demo and tests. `make demo` and `make test` are the two entry points.
VENV    := .venv
PY      := $(VENV)/bin/python
CNNDSL  := $(VENV)/bin/cnndsl
STAMP   := $(VENV)/.installed
# torch and torchvision are pinned to the versions this kind of machine has on local disk
TORCH   := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint setup system clean gallery docs

setup: $(STAMP) system

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test,draw,train,lsp]'
	touch $(STAMP)

# System packages: Graphviz's `dot` for diagrams, pdflatex with TikZ and the standalone class (and
# poppler's pdftoppm for PNG) for block figures, the real Fashion-MNIST for training, headless
# Chromium and its driver for the test of `cnndsl serve`'s page (tests/test_serve.py), npm for VS Code's
# tokeniser in tests/test_highlighting.py.
# Installed when we are root, else the command to run is printed.
system:
	@missing=""; command -v dot >/dev/null 2>&1 || missing="graphviz"; \
	[ "$$(kpsewhich standalone.cls tikz.sty 2>/dev/null | wc -l)" = 2 ] || \
	  missing="$$missing texlive-latex-base texlive-latex-extra texlive-pictures"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "warning: could not install $$missing"; \
	  else echo "note: install the system packages with: sudo apt-get install $$missing"; fi; \
	fi

# the main job: check the zoo, then train d2l's LeNet with batch norm on the real Fashion-MNIST
# for one epoch on the CPU, print its summary table and test accuracy, and draw it
demo: setup
	$(CNNDSL) list architectures/*.cnn
	@for f in architectures/*.cnn; do echo "cnndsl check $$f"; $(CNNDSL) check -q $$f || exit 1; done
	$(CNNDSL) summary architectures/lenet.cnn --net LeNetBN
	$(CNNDSL) train architectures/lenet.cnn --net LeNetBN --epochs 1 --device cpu --out runs/demo
	$(CNNDSL) draw architectures/lenet.cnn --net LeNetBN --full -o runs/demo/LeNetBN.svg

# every zoo network as graph, print-ready graph and block figure, and docs/gallery/index.html (docs/figures.md)
gallery: setup
	$(PY) -m cnndsl.render.gallery docs/gallery

# the docs' generated parts (the op table, the MAC conventions) from the op registry
docs: $(STAMP)
	$(PY) -m cnndsl.ops.docs
	$(PY) -m cnndsl.lang.textmate

# VS Code's own tokeniser (npm's vscode-textmate, vscode-oniguruma) for tests/test_highlighting.py;
# without npm those tests are skipped
editors/vscode/node_modules: editors/vscode/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  (cd editors/vscode && npm ci --no-audit --no-fund --silent) && touch $@; \
	else echo "note: npm is absent: the VS Code grammar tests will be skipped"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check cnndsl tests benchmarks

test: setup lint editors/vscode/node_modules
	$(PY) -m pytest

clean:
	rm -rf $(VENV) editors/vscode/node_modules build dist *.egg-info .pytest_cache .ruff_cache
