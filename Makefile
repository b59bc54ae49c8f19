# plughost — every target is one or two commands; the logic lives in scripts/ and Rust.
#   make run     build everything and serve the example plugins on http://127.0.0.1:8080
#   make test    build everything from source and run every test, then check terraform/
#   make test-capability CAP=kv   the fast loop: one capability's tests on embedded storage
#   make package the Lambda zip; make deploy / make destroy: the AWS stack (terraform/)
#   make bench   dispatch latency, native vs wasm, compile vs precompiled, cold start, hot swap, memory, fairness, events, messaging, outbound HTTP, observability overhead, throughput over sockets vs native axum and `wasmtime serve` (not part of test)

LISTEN ?= 127.0.0.1:8080

.PHONY: all run test test-capability bench plugins host tools check clean package deploy destroy

# make deploy / destroy: the Terraform environment and its variables (see README "Deploying").
ENV ?= dev
TF_DIR = terraform/envs/$(ENV)

all: plugins host

plugins:               ## every plugin and test guest -> target/wasm32-wasip2/plugin/*.wasm
	scripts/build-wasm

tools:                 ## test servers from PyPI: moto (DynamoDB, S3, Secrets Manager), cargo-lambda (Lambda emulator); Debian's chromium (console test)
	scripts/install-moto
	scripts/install-cargo-lambda
	scripts/install-chromium

host:                  ## the plughost binary -> target/debug/plughost
	cargo build -p plughost

run: plugins host      ## serve plughost.toml; edit a plugin, `make plugins`, see it live
	target/debug/plughost serve --manifest plughost.toml --listen $(LISTEN)

check: plugins host    ## load plughost.toml and print its routes
	target/debug/plughost check --manifest plughost.toml

test:                  ## plugins and tools, unit, integration and end-to-end tests (moto runs on 127.0.0.1 while needed), infrastructure checks; a table of each step's time at the end
	scripts/test-all

test-capability:       ## CAP=kv: one capability's unit, embedded-conformance and grant tests (the fast loop; README "Adding a capability")
	scripts/test-capability $(CAP)

bench: plugins tools   ## prints tables; see README "Performance" (the load table needs wrk and the wasmtime CLI: install-bench-tools)
	scripts/install-bench-tools
	cargo bench -p plughost --bench dispatch --bench cold_start --bench fairness --bench events --bench messaging --bench outbound --bench observability --bench load

package: tools          ## the Lambda zip: target/lambda/plughost/bootstrap.zip (+ the binary beside it: also the CLI) (x86_64; ARCH=arm64 on a machine with that target)
	target/tools/cargo-lambda/bin/cargo-lambda lambda build --release --compiler cargo --bin plughost \
	  $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) --output-format zip
	unzip -o -q target/lambda/plughost/bootstrap.zip -d target/lambda/plughost
	@ls -l target/lambda/plughost/bootstrap.zip target/lambda/plughost/bootstrap

deploy: package plugins ## terraform apply (TF_DIR; event sources and triggers from plughost.toml), then deploy plughost.toml's plugins and manifest to the stack
	terraform -chdir=$(TF_DIR) init -input=false $(if $(TF_PLUGIN_DIR),-plugin-dir=$(TF_PLUGIN_DIR))
	target/lambda/plughost/bootstrap tfvars plughost.toml > target/lambda/plughost/plughost.tfvars.json
	terraform -chdir=$(TF_DIR) apply -input=false -var package_path=$(CURDIR)/target/lambda/plughost/bootstrap.zip \
	  -var-file=$(CURDIR)/target/lambda/plughost/plughost.tfvars.json
	target/lambda/plughost/bootstrap deploy plughost.toml --manifest "$$(terraform -chdir=$(TF_DIR) output -raw plughost_manifest)"
	@echo "API: $$(terraform -chdir=$(TF_DIR) output -raw api_url)"

destroy:               ## terraform destroy (TF_DIR); the buckets go only if force_destroy is set
	terraform -chdir=$(TF_DIR) destroy -input=false -var package_path=$(CURDIR)/target/lambda/plughost/bootstrap.zip \
	  $(if $(wildcard target/lambda/plughost/plughost.tfvars.json),-var-file=$(CURDIR)/target/lambda/plughost/plughost.tfvars.json)

clean:
	cargo clean
