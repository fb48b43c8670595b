# Shared build rules of the plugins in this directory. A plugin's Makefile sets NAME (package)
# and CRATE (library name, with underscores), then includes this file:
#   make build            -> build/$(NAME).wasm (cargo profile `wasm`: opt-level s, LTO, panic=abort, stripped)
#   make build-optimized  -> build/$(NAME).wasm, then shrunk in place with wasm-opt -Oz
#   make clean            -> remove build/
#
# The plugins are members of the repository's cargo workspace; artifacts go to the workspace
# target directory. They are `cdylib` + `rlib` (the rlib for native tests), and cargo applies
# the profile's LTO only to a library that is not also an rlib, so the wasm is built with
# `cargo rustc --crate-type cdylib`.

TARGET      := wasm32-unknown-unknown
PROFILE     := wasm
CARGO       ?= cargo
WASM_OPT    ?= wasm-opt
TARGET_DIR  ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../target)
# rustc 1.95 emits these post-MVP features by default; binaryen 108 needs them named.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
                     --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types

.PHONY: build build-optimized clean

build:
	$(CARGO) rustc -p $(NAME) --lib --crate-type cdylib --target $(TARGET) --profile $(PROFILE) --target-dir $(TARGET_DIR)
	@mkdir -p build
	cp $(TARGET_DIR)/$(TARGET)/$(PROFILE)/$(CRATE).wasm build/$(NAME).wasm
	@echo "built build/$(NAME).wasm ($$(wc -c < build/$(NAME).wasm) bytes)"

build-optimized: build
	@command -v $(WASM_OPT) >/dev/null || { echo "wasm-opt not found: apt install binaryen (or brew install binaryen)"; exit 1; }
	$(WASM_OPT) -Oz $(WASM_OPT_FEATURES) build/$(NAME).wasm -o build/$(NAME).wasm
	@echo "optimized build/$(NAME).wasm ($$(wc -c < build/$(NAME).wasm) bytes)"

clean:
	rm -rf build
