# plughost — every target is one or two commands; the logic lives in scripts/ and Rust.
#   make run     build everything and serve the example plugins on http://127.0.0.1:8080
#   make test    build everything from source and run every test, then check terraform/
#   make bench   dispatch latency, native vs wasm, compile vs precompiled, cold start, hot swap, memory (not part of test)

LISTEN ?= 127.0.0.1:8080

.PHONY: all run test bench plugins host tools check clean

all: plugins host

plugins:               ## every plugin and test guest -> target/wasm32-wasip2/plugin/*.wasm
	scripts/build-wasm

tools:                 ## test servers from PyPI: moto (DynamoDB, S3, Secrets Manager), cargo-lambda (Lambda emulator)
	scripts/install-moto
	scripts/install-cargo-lambda

host:                  ## the plughost binary -> target/debug/plughost
	cargo build -p plughost

run: plugins host      ## serve plughost.toml; edit a plugin, `make plugins`, see it live
	target/debug/plughost serve --manifest plughost.toml --listen $(LISTEN)

check: plugins host    ## load plughost.toml and print its routes
	target/debug/plughost check --manifest plughost.toml

test: plugins tools    ## unit, integration and end-to-end tests (moto runs on 127.0.0.1 while needed), then infrastructure checks
	cargo test --workspace --no-fail-fast
	scripts/check-terraform

bench: plugins tools   ## prints tables; see README "Performance"
	cargo bench -p plughost --bench dispatch --bench cold_start

clean:
	cargo clean
