# Layers Uploader — the two commands a new user needs:
#   make run    inspect a generated sample folder (the app replaces this when it lands)
#   make test   install what is missing, lint, and run every test
#   make bench  build release binaries once, run every benchmark, write bench/RESULTS.md
# Both install what they need on a fresh Debian 12 machine (root, apt reachable).

CARGO ?= cargo
SAMPLE_DIR ?= $(or $(CARGO_TARGET_DIR),target)/sample-media

# Debian packages the build and the tests need: ffmpeg (probe + test media), D-Bus and
# gnome-keyring (the real OS keyring in tests), TLS/pkg-config for -sys crates.
APT_PACKAGES := ffmpeg dbus dbus-x11 gnome-keyring libsecret-1-dev libdbus-1-dev pkg-config libssl-dev \
	build-essential curl

.PHONY: deps run test lint unit sample clean-sample bench

# The benchmarks' baselines also need ImageMagick's `identify`.
BENCH_APT_PACKAGES := $(APT_PACKAGES) imagemagick

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

sample: deps
	@scripts/make-sample "$(SAMPLE_DIR)"

# The sample holds a deliberately broken file, so probe's exit 1 is expected here.
run: sample
	-$(CARGO) run --quiet --release --bin layers-upload -- probe "$(SAMPLE_DIR)"

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked --features layers-uploader/failpoints

test: deps lint
	LAYERS_REQUIRE_KEYRING=1 scripts/with-keyring $(CARGO) test --workspace --locked --features layers-uploader/failpoints

# Release binaries (and the examples the benchmarks call) are built once, then every benchmark
# runs ours and its baseline alternately; BENCH_QUICK=1 checks the suite in a few minutes.
bench:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(BENCH_APT_PACKAGES)"
	nice -n 5 $(CARGO) build --release --workspace --bins --examples --locked
	python3 bench/run_all.py
