# The two commands a newcomer needs: `make run` and `make test` (README.md).
# Only Python 3.11+ is assumed; everything else is installed into two virtualenvs:
#   .venv      the application, exactly what production installs (requirements.txt): what
#              `make run`, `make serve` and gunicorn use;
#   .venv-dev  the same plus tests and tools (requirements-dev.txt, requirements-e2e.txt).
# Keeping the tools out of the application's environment keeps them out of its processes too
# (DRF, for one, imports Pygments whenever it is installed: 3 MB a worker).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV_VENV := .venv-dev
DEV_BIN := $(DEV_VENV)/bin
DEV_STAMP := $(DEV_VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
DEV := DJANGO_DEBUG=true

.PHONY: help install install-dev run serve test e2e client chromium lint format schema clean

help:
	@echo "make run     set up and start the development server with demo data (SQLite)"
	@echo "make test    set up, lint, run the whole suite and the schema drift check"
	@echo "make serve   production server: migrate, collect static files, gunicorn (needs env)"
	@echo "make e2e     browser, TypeScript-client and Schemathesis tests on a live server"
	@echo "make client  regenerate the TypeScript client (clients/ts) from schema.yml"
	@echo "make schema  regenerate schema.yml after an API change"
	@echo "make format  format the code with ruff"

define make_venv
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet -r $(2)
	rm -f $(1)/.installed-* && touch $@
endef

$(STAMP): requirements.txt
	$(call make_venv,$(VENV),requirements.txt)

$(DEV_STAMP): requirements.txt requirements-dev.txt
	$(call make_venv,$(DEV_VENV),requirements-dev.txt)

install: $(STAMP)

install-dev: $(DEV_STAMP)

run: install
	$(DEV) $(BIN)/python manage.py migrate --noinput
	$(DEV) $(BIN)/python manage.py create_demo_staff
	$(DEV) $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  API (browsable):  http://$(HOST):$(PORT)/api/v1/"
	@echo "  Swagger UI:       http://$(HOST):$(PORT)/api/v1/docs/"
	@echo "  ReDoc:            http://$(HOST):$(PORT)/api/v1/redoc/"
	@echo "  Admin:            http://$(HOST):$(PORT)/admin/"
	@echo "  Log in (admin, browsable API, POST /api/v1/auth/token/): admin / catalog-demo"
	@echo ""
	$(DEV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

serve: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/gunicorn --config backend/gunicorn.conf.py backend.wsgi:application

lint: install-dev
	$(DEV_BIN)/ruff check .
	$(DEV_BIN)/ruff format --check .

test: install lint
	$(DEV) $(DEV_BIN)/python manage.py makemigrations --check --dry-run
	$(DEV_BIN)/pytest

E2E_STAMP := $(DEV_VENV)/.e2e-$(shell cat requirements-e2e.txt | cksum | cut -d' ' -f1)
CLIENT := clients/ts

$(E2E_STAMP): requirements-e2e.txt $(DEV_STAMP)
	$(DEV_BIN)/python -m pip install --quiet -r requirements-e2e.txt
	rm -f $(DEV_VENV)/.e2e-* && touch $@

$(CLIENT)/node_modules/.installed: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's Chromium for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

client: $(CLIENT)/node_modules/.installed
	cd $(CLIENT) && npm run --silent generate

e2e: $(E2E_STAMP) $(CLIENT)/node_modules/.installed chromium
	cd $(CLIENT) && npm run --silent check
	$(DEV_BIN)/pytest -m e2e tests/e2e -p no:randomly

schema: install
	$(DEV) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file schema.yml

format: install-dev
	$(DEV_BIN)/ruff format .
	$(DEV_BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(DEV_VENV) staticfiles .pytest_cache .ruff_cache $(CLIENT)/node_modules
