# provgate — two commands: `make run` and `make test`. A fresh Debian/Ubuntu machine needs
# nothing else: the virtualenv, the Python packages and ExifTool are installed on demand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config.example.toml
# pytest arguments, e.g. `make test PYTEST_ARGS="-k multipart -x"`
PYTEST_ARGS ?=

.PHONY: run test exiftool ffmpeg sync-clients clean

run: $(VENV)/.installed exiftool
	$(BIN)/provgate serve --config $(CONFIG)

test: $(VENV)/.installed-test exiftool ffmpeg sync-clients
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

# ExifTool reads and writes the XMP sidecars (Debian package libimage-exiftool-perl).
exiftool:
	@command -v exiftool >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libimage-exiftool-perl; }

# The tests build an MP4 fixture with ffmpeg (Debian package ffmpeg).
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq ffmpeg; }

# The record-store tests sync buckets with rclone and s3cmd (Debian packages).
sync-clients:
	@command -v rclone >/dev/null 2>&1 && command -v s3cmd >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq rclone s3cmd; }

clean:
	rm -rf $(VENV) build *.egg-info
