# provgate — two commands: `make run` and `make test`. A fresh Debian/Ubuntu machine needs
# nothing else: the virtualenv, the Python packages (from the lock files in requirements/),
# ExifTool and the other tools the suite runs are installed on demand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config.example.toml
# pytest arguments, e.g. `make test PYTEST_ARGS="-k multipart -x"`
PYTEST_ARGS ?=
# `make test COVERAGE=0` runs the suite without measuring coverage (and without its floor).
COVERAGE ?= 1
# Worker processes the suite runs in (pytest-xdist), each with its own servers; a test
# file stays on one worker, so its module fixtures start once. `make test WORKERS=0` runs
# it in a single process. Four on two cores: while one worker waits (a licence to
# expire, a retry back-off, a browser), the others keep both cores busy — measured idle
# core time over a whole run: 113 s with three workers, 59 s with four.
# Files go out in xdist's order (the files with most tests first). Handing out the longest
# files first instead was measured: they then ran together and the run took 13:46 and
# 1527 CPU-s, against 10:57 and 1197 CPU-s.
WORKERS ?= 4
XDIST := $(if $(filter-out 0,$(WORKERS)),-n $(WORKERS) --dist loadfile)
# Python caches compiled modules in __pycache__ (git-ignored). Some machines switch that
# off for everything (PYTHONDONTWRITEBYTECODE, common in container images); then each of
# the hundreds of Python processes the suite starts would compile provgate from source
# again (~0.2 s of CPU a server) and pytest would rewrite the test modules in every worker.
unexport PYTHONDONTWRITEBYTECODE
# Debian packages are installed with apt-get (through sudo unless root).
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

.PHONY: run test exiftool ffmpeg chromium pdftoppm systemd-analyze sync-clients tools lock clean bench bench-tools profile

run: $(VENV)/.installed exiftool
	$(BIN)/provgate serve --config $(CONFIG)

# The suite under coverage: every Python process it starts writes a .coverage.* file,
# combined and reported at the end. The floor ([tool.coverage.report] fail_under) holds
# for a whole run; a run narrowed with PYTEST_ARGS reports without it. The pytest status
# wins over the report's, so a failing test is never hidden.
test: $(VENV)/.installed-test tools
ifeq ($(COVERAGE),0)
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)
else
	@rm -f .coverage .coverage.*
	@status=0; $(BIN)/coverage run -m pytest $(XDIST) $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/coverage combine -q || true; \
	$(BIN)/coverage report $(if $(strip $(PYTEST_ARGS)),--fail-under=0); report=$$?; \
	[ $$status -ne 0 ] || status=$$report; exit $$status
endif

# A Debian python3 without venv/ensurepip (package python3-venv) cannot make the venv.
$(VENV)/bin/python:
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(APT_INSTALL) python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Exact versions from the lock files; provgate itself is installed editable on top.
$(VENV)/.installed: pyproject.toml requirements/run.lock $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements/run.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml requirements/test.lock $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements/test.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(VENV)/.installed $@

# Rewrite the lock files from pyproject.toml (after changing a dependency there).
lock: $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" \
	  -q -o requirements/test.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" \
	  -q -o requirements/run.lock

# What the suite runs besides Python packages.
tools: exiftool ffmpeg pdftoppm systemd-analyze sync-clients chromium

# ExifTool reads and writes the XMP sidecars (Debian package libimage-exiftool-perl).
exiftool:
	@command -v exiftool >/dev/null 2>&1 || { $(APT_INSTALL) libimage-exiftool-perl; }

# The tests build an MP4 fixture with ffmpeg (Debian package ffmpeg); the gateway takes
# video posters with it when it is installed.
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { $(APT_INSTALL) ffmpeg; }

# The gateway renders a PDF's first page for thumbnails with pdftoppm when it is
# installed (Debian package poppler-utils); the tests check those thumbnails.
pdftoppm:
	@command -v pdftoppm >/dev/null 2>&1 || { $(APT_INSTALL) poppler-utils; }

# The review UI's browser tests drive Debian's chromium headless (Playwright launches
# that executable; it downloads no browser of its own).
chromium:
	@test -x /usr/bin/chromium || { $(APT_INSTALL) chromium; }

# The shipped systemd units are checked with `systemd-analyze verify` (Debian: systemd).
systemd-analyze:
	@command -v systemd-analyze >/dev/null 2>&1 || { $(APT_INSTALL) systemd; }

# The record-store tests sync buckets with rclone and s3cmd (Debian packages).
sync-clients:
	@command -v rclone >/dev/null 2>&1 && command -v s3cmd >/dev/null 2>&1 || { $(APT_INSTALL) rclone s3cmd; }

clean:
	rm -rf $(VENV) build *.egg-info .coverage .coverage.*

# The benchmark's one-hop baseline (Debian package nginx-light) and py-spy for
# `make profile`; neither is needed by provgate or its tests.
bench-tools: $(VENV)/.installed-test
	@[ -x /usr/sbin/nginx ] || { $(APT_INSTALL) nginx-light; }
	@[ -x $(BIN)/py-spy ] || $(BIN)/python -m pip install --quiet 'py-spy>=0.4'

# `make bench` runs `python -m bench` (BENCH_ARGS, e.g. --quick); `make profile` runs
# py-spy on the gateway during 1 MiB PNG PUTs and GETs (bench/profile.py).
BENCH_ARGS ?=
bench: bench-tools
	$(BIN)/python -m bench $(BENCH_ARGS)

profile: bench-tools
	$(BIN)/python -m bench.profile $(BENCH_ARGS)
