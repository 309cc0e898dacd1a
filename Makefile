# The two commands of the README. Both set up everything first (idempotent).
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED = 1

.PHONY: setup demo test test-all bench lint

setup:
	@bash deploy/setup.sh

demo: setup          ## the main job on the embedded default (local Ray, own redis-server, small data)
	.venv/bin/vid2act demo

test: setup          ## the test suite (real Ray, redis-server, MuJoCo; tiny sizes)
	.venv/bin/python -m pytest -q -m "not slow" tests

test-all: setup      ## also the slow end-to-end suites
	.venv/bin/python -m pytest -q tests

lint: setup
	.venv/bin/ruff check .
