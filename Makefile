# Layers Uploader — the two commands a new user needs:
#   make run    build and open the desktop app (offline sandbox until you add a Layers key)
#   make test   install what is missing, lint, and run every test
#   make bench  build release binaries once, run every benchmark, write bench/RESULTS.md
# Also: make run-cli (the CLI inspecting a generated sample folder), make ui-test.
# Both install what they need on a fresh Debian 12 machine (root, apt reachable).

CARGO ?= cargo
SAMPLE_DIR ?= $(or $(CARGO_TARGET_DIR),target)/sample-media

# Debian packages the build and the tests need: ffmpeg (probe + test media), D-Bus and
# gnome-keyring (the real OS keyring in tests), TLS/pkg-config for -sys crates; WebKitGTK, the
# tray (appindicator), SVG icons (rsvg) and xdo for the Tauri app; node runs the UI unit tests.
APT_PACKAGES := ffmpeg dbus dbus-x11 gnome-keyring libsecret-1-dev libdbus-1-dev pkg-config libssl-dev \
	build-essential curl libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev file \
	postgresql openssl
# postgresql: the shared-queue tests start their own throwaway clusters (no system service:
# `deps` tells Debian not to create its default cluster when it installs the server); openssl
# makes their TLS certificates.
# The GUI end-to-end tests: a virtual display, WebKit's WebDriver, real pointer/keyboard input
# and a GTK drag source (xdotool, PyGObject), display screenshots (ImageMagick's import).
APT_PACKAGES += xvfb webkit2gtk-driver xdotool python3-gi gir1.2-gtk-3.0 imagemagick
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: deps run run-cli app test lint unit ui-test sample clean-sample e2e tauri-driver bench dist dist-test cargo-deb

# The benchmarks' baselines also need ImageMagick's `identify` (already in the list above).
BENCH_APT_PACKAGES := $(APT_PACKAGES)

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  case "$$missing" in *postgresql*) \
	    $$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
	    echo 'create_main_cluster = false' | $$SUDO tee /etc/postgresql-common/createcluster.d/layers-uploader-tests.conf >/dev/null;; \
	  esac; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

sample: deps
	@scripts/make-sample "$(SAMPLE_DIR)"

# The app, with its data in the default data dir (the CLI shares it). With no Layers key it
# starts the embedded sandbox, so every step works offline.
app: deps
	$(CARGO) build --locked -p layers-uploader-app

run: app
	$(or $(CARGO_TARGET_DIR),target)/debug/layers-uploader-app

# The sample holds a deliberately broken file, so probe's exit 1 is expected here.
run-cli: sample
	-$(CARGO) run --quiet --release --bin layers-upload -- probe "$(SAMPLE_DIR)"

# The UI's pure logic (figures, ETA, caption counter, list windowing): node's own test runner.
ui-test:
	@command -v node >/dev/null || { echo "node (20+) is needed for the UI tests"; exit 1; }
	node --test ui/test/

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked --features layers-uploader/failpoints

test: deps lint ui-test
	LAYERS_REQUIRE_KEYRING=1 scripts/with-keyring $(CARGO) test --workspace --locked --features layers-uploader/failpoints
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory dist-test

# Release binaries (and the examples the benchmarks call) are built once, then every benchmark
# runs ours and its baseline alternately; BENCH_QUICK=1 checks the suite in a few minutes.
bench:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(BENCH_APT_PACKAGES)"
	nice -n 5 $(CARGO) build --release --workspace --bins --examples --locked
	python3 bench/run_all.py

# The Debian package: dist/layers-uploader_<version>_amd64.deb — the app (/usr/bin/layers-uploader),
# the CLI (/usr/bin/layers-upload), its man pages and completions, the .desktop entry and icons,
# and the systemd user unit for `watch`. Made by cargo-deb (chosen over Tauri's bundler: see
# README "Install"); one release build serves the package and the benchmarks.
DIST_APT_PACKAGES := dpkg-dev
dist: deps cargo-deb
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(DIST_APT_PACKAGES)"
	$(CARGO) build --release --locked -p layers-uploader-app -p layers-uploader --bins
	scripts/dist-assets "$(TARGET_DIR)/release"
	mkdir -p dist
	cargo deb -p layers-uploader-app --no-build --locked -o dist/
	@ls -l dist/*.deb

cargo-deb:
	@command -v cargo-deb >/dev/null 2>&1 || [ -x "$$HOME/.cargo/bin/cargo-deb" ] || \
	  $(CARGO) install cargo-deb --version '^3' --locked

# Installs the package as root, runs what it installed (CLI, app under Xvfb, the service's
# command line), checks the unit file, and removes the package again.
dist-test: dist
	python3 tests/dist/check_package.py dist/layers-uploader_*_amd64.deb

# tauri-driver 2 (not the 3.0 alpha) bridges WebDriver to WebKitWebDriver; built once.
tauri-driver:
	@command -v tauri-driver >/dev/null 2>&1 || [ -x "$$HOME/.cargo/bin/tauri-driver" ] || \
	  $(CARGO) install tauri-driver --version '^2' --locked

# The GUI end-to-end tests: the real app in sandbox mode under Xvfb (tests/e2e/run.py).
# Screenshots of every step land in $(TARGET_DIR)/e2e-artifacts.
e2e: deps tauri-driver
	$(CARGO) build --locked -p layers-uploader-app
	python3 tests/e2e/run.py --app "$(TARGET_DIR)/debug/layers-uploader-app" \
	  --artifacts "$(TARGET_DIR)/e2e-artifacts"
