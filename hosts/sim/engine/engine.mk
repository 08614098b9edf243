# Builds matter-xs-engine (matter-xs-engine.c) against the Moddable XS sources and the xsnap
# platform layer that the npm package @agoric/xsnap ships. build.ts runs it:
#   make -f engine.mk -j2 XSNAP_PACKAGE=<package dir> XSNAP_VERSION=<version> OUT=<build dir>
# The XS configuration (mx* switches) is the one xsnap-worker is built with, so the firmware runs
# on the same engine either way; only the host program differs.

ifndef XSNAP_PACKAGE
$(error XSNAP_PACKAGE must name the @agoric/xsnap package directory)
endif
ifndef OUT
$(error OUT must name the build directory)
endif
XSNAP_VERSION ?= unknown

THIS_MAKEFILE := $(lastword $(MAKEFILE_LIST))
HERE := $(dir $(THIS_MAKEFILE))
XS_DIR := $(XSNAP_PACKAGE)/moddable/xs
MODULES_DIR := $(XSNAP_PACKAGE)/moddable/modules
PLATFORM_DIR := $(XSNAP_PACKAGE)/xsnap-native/xsnap/sources
OBJ_DIR := $(OUT)/obj
BINARY := $(OUT)/matter-xs-engine

# The XS sources probe __has_builtin, so the compiler must have it (gcc 10+, clang 10+).
CFLAGS := -O3 -fno-common \
	-DINCLUDE_XSPLATFORM '-DXSPLATFORM="xsnapPlatform.h"' '-DXSNAP_VERSION="$(XSNAP_VERSION)"' \
	-DmxLockdown=1 -DmxMetering=1 -DmxDebug=1 -UmxInstrument -DmxNoConsole=1 -DmxBoundsCheck=1 \
	-DmxParse=1 -DmxRun=1 -DmxSloppy=1 -DmxSnapshot=1 -DmxRegExpUnicodePropertyEscapes=1 \
	-DmxStringNormalize=1 -DmxMinusZero=1 \
	-I$(XS_DIR)/includes -I$(XS_DIR)/platforms -I$(XS_DIR)/sources -I$(PLATFORM_DIR) \
	-Wno-misleading-indentation -Wno-implicit-fallthrough
LIBRARIES := -ldl -lm -lpthread

XS_SOURCES := xsAll xsAPI xsArguments xsArray xsAtomics xsBigInt xsBoolean xsCode xsCommon \
	xsDataView xsDate xsDebug xsDefaults xsError xsFunction xsGenerator xsGlobal xsJSON xsLexical \
	xsLockdown xsMapSet xsMarshall xsMath xsMemory xsModule xsNumber xsObject xsPlatforms \
	xsProfile xsPromise xsProperty xsProxy xsRegExp xsRun xsScope xsScript xsSnapshot \
	xsSourceMap xsString xsSymbol xsSyntaxical xsTree xsType xsdtoa xsre xsmc
MODULE_SOURCES := textdecoder textencoder modBase64

OBJECTS := $(addprefix $(OBJ_DIR)/,$(addsuffix .o,$(XS_SOURCES) $(MODULE_SOURCES) xsnapPlatform matter-xs-engine))
HEADERS := $(wildcard $(XS_DIR)/includes/*.h $(XS_DIR)/sources/*.h $(XS_DIR)/platforms/xsPlatform.h $(PLATFORM_DIR)/*.h)

vpath %.c $(XS_DIR)/sources $(PLATFORM_DIR) $(HERE) \
	$(MODULES_DIR)/data/text/decoder $(MODULES_DIR)/data/text/encoder $(MODULES_DIR)/data/base64

$(BINARY): $(OBJECTS)
	$(CC) -rdynamic $(OBJECTS) $(LIBRARIES) -o $@.tmp
	mv -f $@.tmp $@

$(OBJ_DIR)/%.o: %.c $(HEADERS) $(THIS_MAKEFILE) | $(OBJ_DIR)
	$(CC) $(CFLAGS) -c $< -o $@

# Our own file gets the warnings the vendored sources would drown.
$(OBJ_DIR)/matter-xs-engine.o: CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers

$(OBJ_DIR):
	mkdir -p $@

.PHONY: clean
clean:
	rm -rf $(OUT)
