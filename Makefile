# cnndsl — set-up, demo and tests. `make demo` and `make test` are the two entry points.
VENV    := .venv
PY      := $(VENV)/bin/python
CNNDSL  := $(VENV)/bin/cnndsl
STAMP   := $(VENV)/.installed
# torch and torchvision are pinned to the versions this kind of machine has on local disk
TORCH   := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint setup system clean gallery

setup: $(STAMP) system

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test,draw]'
	touch $(STAMP)

# System packages: Graphviz's `dot` for diagrams. Installed when we are root, else explained.
system:
	@if ! command -v dot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
	      || echo "warning: could not install graphviz; diagrams fall back to .dot files"; \
	  else echo "note: for diagrams install Graphviz: sudo apt-get install graphviz"; fi; \
	fi

demo: setup
	$(CNNDSL) list architectures/*.cnn
	@for f in architectures/*.cnn; do echo "cnndsl check $$f"; $(CNNDSL) check -q $$f || exit 1; done
	$(CNNDSL) check architectures/resnet.cnn --net ResNet18

# the SVG of every zoo network and docs/gallery/index.html
gallery: setup
	$(PY) -m cnndsl.gallery docs/gallery

lint: $(STAMP)
	$(VENV)/bin/ruff check cnndsl tests benchmarks

test: setup lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
