# erfkit: everything from a fresh clone with two commands.
#
#   make demo          create .venv, install, start the dashboard (the main job)
#   make test          create .venv with the dev extras, run the whole test suite
#
# Also: make checkpoints (re-train the shipped models), make bench (benchmarks
# into BENCHMARKS.md), make figures, make clean.
#
# torch is installed first from TORCH_SPEC (the CPU wheel by default). On a GPU
# machine: make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PIP_FLAGS ?= --quiet
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYNTH ?= data/synth
TRACKS ?= data/tracks
PORT ?= 8501

.PHONY: demo test checkpoints checkpoints-lite0 checkpoints-sprites checkpoints-tracks bench figures browser clean help

help:
	@sed -n '1,16p' Makefile

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(PIP) install $(PIP_FLAGS) $(TORCH_SPEC)
	@touch $@

$(VENV)/.run: pyproject.toml $(VENV)/.torch
	$(PIP) install $(PIP_FLAGS) -e ".[dashboard]"
	@touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	$(PIP) install $(PIP_FLAGS) -e ".[dashboard,dev]"
	@touch $@ $(VENV)/.run

# Debian's Chromium, for the real-browser dashboard test (Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser test"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# The dashboard on the demo's two real DAVIS videos (demo/davis2017-real) and the default pair (stm-lite0).
demo: $(VENV)/.run
	$(PY) -m erfkit dashboard --port $(PORT)

test: $(VENV)/.dev browser
	$(PY) -m pytest

# Re-train the shipped checkpoints (each pair: same data, seed, budget and data order).
checkpoints: checkpoints-lite0 checkpoints-sprites

# The default pair: stm-lite0 (ImageNet EfficientNet-Lite0 encoders) on the 'tracks' benchmark, in two stages
# (preset cpu-lite0, then cpu-lite0-clips from its checkpoint: 5-frame clips). Each stage runs the two trainings
# side by side (one thread each): on two cores about 45 + 47 min (baseline) and 68 + 64 min (cyclic).
# An interrupted training continues with the same command plus --resume.
checkpoints-lite0: $(VENV)/.run
	$(PY) -m erfkit synth $(TRACKS) --preset tracks --force
	rm -rf runs/stm-lite0-baseline runs/stm-lite0-cyclic runs/stm-lite0-baseline-clips runs/stm-lite0-cyclic-clips
	OMP_NUM_THREADS=1 $(PY) -m erfkit train --data $(TRACKS) --preset cpu-lite0 --mode baseline --seed 0 --out runs/stm-lite0-baseline --label stm-lite0-baseline & b=$$!; \
	OMP_NUM_THREADS=1 $(PY) -m erfkit train --data $(TRACKS) --preset cpu-lite0 --mode cyclic --seed 0 --out runs/stm-lite0-cyclic --label stm-lite0-cyclic; c=$$?; \
	wait $$b && [ $$c = 0 ]
	OMP_NUM_THREADS=1 $(PY) -m erfkit train --data $(TRACKS) --preset cpu-lite0-clips --init runs/stm-lite0-baseline --mode baseline --seed 0 --out runs/stm-lite0-baseline-clips --label stm-lite0-baseline & b=$$!; \
	OMP_NUM_THREADS=1 $(PY) -m erfkit train --data $(TRACKS) --preset cpu-lite0-clips --init runs/stm-lite0-cyclic --mode cyclic --seed 0 --out runs/stm-lite0-cyclic-clips --label stm-lite0-cyclic; c=$$?; \
	wait $$b && [ $$c = 0 ]
	mkdir -p checkpoints/stm-lite0-baseline checkpoints/stm-lite0-cyclic
	cp runs/stm-lite0-baseline-clips/model.safetensors checkpoints/stm-lite0-baseline/model.safetensors
	cp runs/stm-lite0-cyclic-clips/model.safetensors checkpoints/stm-lite0-cyclic/model.safetensors

checkpoints-sprites: $(VENV)/.run
	$(PY) -m erfkit synth $(SYNTH) --preset default --force
	rm -rf runs/stm-tiny-baseline runs/stm-tiny-cyclic
	$(PY) -m erfkit train --data $(SYNTH) --preset cpu-tiny --mode baseline --seed 0 --out runs/stm-tiny-baseline --label stm-tiny-baseline
	$(PY) -m erfkit train --data $(SYNTH) --preset cpu-tiny --mode cyclic --seed 0 --out runs/stm-tiny-cyclic --label stm-tiny-cyclic
	mkdir -p checkpoints/stm-tiny-baseline checkpoints/stm-tiny-cyclic
	cp runs/stm-tiny-baseline/model.safetensors checkpoints/stm-tiny-baseline/model.safetensors
	cp runs/stm-tiny-cyclic/model.safetensors checkpoints/stm-tiny-cyclic/model.safetensors

# The pair trained on the 'tracks' benchmark (real objects' shapes and motion; not shipped, they do not track: README,
# "On real video"): about 1 h + 1.6 h on two cores.
# An interrupted training continues with: $(PY) -m erfkit train ... --resume (the same command plus --resume).
checkpoints-tracks: $(VENV)/.run
	$(PY) -m erfkit synth $(TRACKS) --preset tracks --force
	rm -rf runs/tracks-baseline runs/tracks-cyclic
	$(PY) -m erfkit train --data $(TRACKS) --preset cpu-tiny --set clips_per_video=4 --mode baseline --seed 0 --out runs/tracks-baseline --label stm-tiny-tracks-baseline
	$(PY) -m erfkit train --data $(TRACKS) --preset cpu-tiny --set clips_per_video=4 --mode cyclic --seed 0 --out runs/tracks-cyclic --label stm-tiny-tracks-cyclic
	mkdir -p checkpoints/stm-tiny-tracks-baseline checkpoints/stm-tiny-tracks-cyclic
	cp runs/tracks-baseline/model.safetensors checkpoints/stm-tiny-tracks-baseline/model.safetensors
	cp runs/tracks-cyclic/model.safetensors checkpoints/stm-tiny-tracks-cyclic/model.safetensors

bench: $(VENV)/.dev
	$(PY) -m benchmarks.run_all

figures: $(VENV)/.run
	$(PY) -m erfkit experiment fig1,fig6,fig5,fig3,fig4,table3,table4,table5 --out figures

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
