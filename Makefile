# okta-ingest: build, run locally, test, benchmark, deploy.
# `make demo` and `make test` are the two commands a fresh clone needs (see README).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
PYTHON ?= python3
# tests/sam_local.rs runs SAM CLI's code with the Python that `make tools` installed it for.
export PYTHON
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools build demo fakes test lint unit template bench sam-build package clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

tools: ## install what the tests need (moto server, cfn-lint, SAM CLI, cargo-lambda) if missing
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
	@command -v moto_server >/dev/null || $(PYTHON) -m pip install --quiet 'moto[server]'
	@command -v cfn-lint >/dev/null || $(PYTHON) -m pip install --quiet cfn-lint
	@command -v sam >/dev/null || $(PYTHON) -m pip install --quiet aws-sam-cli
	@command -v cargo-lambda >/dev/null || $(PYTHON) -m pip install --quiet cargo-lambda
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

build: ## compile the function binaries (debug)
	$(CARGO) build --workspace --bins

demo: tools build ## run okta-push locally on events/ against moto and a local destination
	$(CARGO) run --quiet -p okta-ingest-testkit --bin okta-ingest-demo

fakes: tools build ## the local fakes for `cargo lambda watch` (docs/configuration.md, Running locally)
	$(CARGO) run --quiet -p okta-ingest-testkit --bin okta-ingest-fakes

test: tools lint build unit template ## everything: format, lints, unit and integration tests, template checks

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The property tests draw the same inputs on every `make test` (a red CI is then always a
# change, never a draw); `PROPTEST_RNG_SEED=<n> make unit` explores others.
unit:
	PROPTEST_RNG_SEED=$${PROPTEST_RNG_SEED:-20261203} $(CARGO) test --workspace

template:
	scripts/lint-template.sh

bench: tools ## hot path, memory, the release binary end to end, pull pacing, the ledger at scale, the directory, the Security Lake path (release build)
	$(CARGO) build --release --workspace --bins
	$(CARGO) bench -p okta-ingest --bench push
	$(CARGO) bench -p okta-ingest --bench pull
	$(CARGO) bench -p okta-ingest --bench ledger
	$(CARGO) bench -p okta-ingest --bench directory
	$(CARGO) bench -p okta-ingest --bench lake

sam-build: ## build the Lambda artifacts for deployment (needs cargo-lambda and zig)
	@command -v cargo-lambda >/dev/null || $(PYTHON) -m pip install --quiet cargo-lambda ziglang
	sam build --beta-features

package: sam-build ## build the arm64 artifacts and upload them: make package PACKAGE_BUCKET=<bucket>
	@test -n "$(PACKAGE_BUCKET)" || { echo "set PACKAGE_BUCKET to an S3 bucket for the artifacts, e.g. make package PACKAGE_BUCKET=my-artifacts" >&2; exit 2; }
	sam package --s3-bucket "$(PACKAGE_BUCKET)" --output-template-file packaged.yaml
	@echo "packaged.yaml is ready: sam deploy --template-file packaged.yaml --guided (no Rust needed), or sam publish --template packaged.yaml"

clean:
	$(CARGO) clean
	rm -rf .aws-sam
