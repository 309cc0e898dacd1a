# The two commands of the README. Both set up everything first (idempotent).
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED = 1

.PHONY: setup demo test test-fast lint

setup:
	@bash deploy/setup.sh

demo: setup          ## the main job on the embedded default (local Ray, own redis-server, small data)
	.venv/bin/vid2act demo

test: setup          ## lint, import contracts, then the whole test suite (real Ray, redis-server, MuJoCo; tiny sizes)
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/python -m pytest -q tests

test-fast: setup     ## without the slow cluster suites (job submission, scaling): ~15 min on 2 cores
	.venv/bin/python -m pytest -q -m "not slow" tests

lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
