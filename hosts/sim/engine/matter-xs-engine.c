/*
 * matter-xs-engine: the XS engine host that runs the firmware for the simulator, the tests and
 * the benchmarks. It is built against the Moddable XS sources and xsnapPlatform.c that the npm
 * package @agoric/xsnap ships (see engine.mk) and speaks xsnap-worker's netstring protocol, so
 * XsWorker (xsnap.ts) drives either. What it adds: heap figures (live and peak slots and chunk
 * bytes) in every reply and in the heapStats() global, resettable peaks, creation sizes and a
 * memory cap from the command line, and aborts (memory full, stack overflow, too much
 * computation) answered with an error reply before the process exits.
 *
 * Protocol: netstrings "<length>:<body>," on fd 3 (from the host) and fd 4 (to the host).
 *   e<script>   evaluate in the global scope        -> .<meter JSON>\1<result bytes> or !<error>
 *   ?<bytes>    call globalThis.handleCommand(ArrayBuffer)   (same replies)
 *   h           report the heap, run nothing         -> .<meter JSON>\1
 *   p / P       reset the heap peaks to the current figures (P collects garbage first)
 *   G<bytes>    measure from the live heap: collect garbage, give up the free chunk space,
 *               and from now on let XS take at most <bytes> more (decimal) -> .<meter JSON>\1
 *   R           ready check                          -> .
 *   q           quit
 * While e or ? runs, issueCommand(ArrayBuffer) sends ?<bytes> to the host and blocks until the
 * host answers /<bytes>. Promise jobs and setImmediate callbacks run before every reply. When
 * the script or handleCommand returns a promise, the reply carries what it settled to; a
 * returned { result } object is unwrapped as xsnap-worker does.
 */
#include "xsAll.h"
#include "xsnap.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef XSNAP_VERSION
#define XSNAP_VERSION "unknown"
#endif

enum {
	EXIT_OK = 0,
	EXIT_BAD_USAGE = 1,
	EXIT_IO_ERROR = 2,
	/* The abort codes are xsnap-worker's, so tools that know them keep working. */
	EXIT_NOT_ENOUGH_MEMORY = 11,
	EXIT_STACK_OVERFLOW = 12,
	EXIT_UNHANDLED_EXCEPTION = 15,
	EXIT_NO_MORE_KEYS = 16,
	EXIT_TOO_MUCH_COMPUTATION = 17,
	EXIT_UNKNOWN_ABORT = 18,
};

/* The largest netstring either side may send: a firmware bundle or an OTA block fits easily. */
#define MAX_FRAME_LENGTH (512 * 1024 * 1024)

typedef struct {
	FILE* fromHost;
	FILE* toHost;
	xsUnsignedValue computeLimit; /* per delivery; 0 means unlimited */
	xsUnsignedValue currentLimit; /* the limit of the delivery in progress */
	volatile int delivering;      /* a reply is owed to the host */
	double clockOrigin;
	xsSlot settle;                /* JS function attaching settlement handlers to a promise */
} Engine;

/* One engine per process: the XS callbacks below have no other way to reach it. */
static Engine gEngine;

static void fatal(int code, const char* format, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fatal(int code, const char* format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	fputs("matter-xs-engine: ", stderr);
	vfprintf(stderr, format, arguments);
	fputc('\n', stderr);
	va_end(arguments);
	exit(code);
}

/* ---- netstrings ---------------------------------------------------------------------------- */

/* Reads one netstring. Returns 0 with *body malloc'd (NUL-terminated), 1 at a clean end of input,
 * or -1 on malformed input or a read error (described in *problem). */
static int readFrame(FILE* in, char** body, size_t* length, const char** problem)
{
	size_t value = 0;
	int digits = 0;
	int c;
	*body = NULL;
	*length = 0;
	while ((c = getc(in)) != EOF && c >= '0' && c <= '9') {
		value = value * 10 + (size_t)(c - '0');
		if (++digits > 10 || value > MAX_FRAME_LENGTH) {
			*problem = "netstring longer than the engine accepts";
			return -1;
		}
	}
	if (c == EOF && digits == 0 && !ferror(in))
		return 1;
	if (c != ':' || digits == 0) {
		*problem = (c == EOF) ? "input ended inside a netstring length" : "malformed netstring length";
		return -1;
	}
	char* buffer = malloc(value + 1);
	if (!buffer) {
		*problem = "cannot allocate a buffer for the netstring";
		return -1;
	}
	if (fread(buffer, 1, value, in) != value) {
		free(buffer);
		*problem = "input ended inside a netstring";
		return -1;
	}
	if (getc(in) != ',') {
		free(buffer);
		*problem = "netstring without its ',' terminator";
		return -1;
	}
	buffer[value] = 0;
	*body = buffer;
	*length = value;
	return 0;
}

/* Writes "<length>:<prefix><bytes>," and flushes; exits if the host has gone. */
static void writeFrame(FILE* out, const char* prefix, size_t prefixLength, const void* bytes, size_t length)
{
	if (fprintf(out, "%zu:", prefixLength + length) < 0
		|| fwrite(prefix, 1, prefixLength, out) != prefixLength
		|| (length && fwrite(bytes, 1, length, out) != length)
		|| fputc(',', out) == EOF
		|| fflush(out) != 0)
		fatal(EXIT_IO_ERROR, "cannot write to the host: %s", strerror(errno));
}

/* ---- heap figures -------------------------------------------------------------------------- */

/* The meter JSON that prefixes every successful reply. currentHeapCount, compute and allocate
 * keep xsnap-worker's meaning; the rest are the XS heap's own counters. Current figures grow with
 * every allocation and only drop when the collector runs; peaks are high-water marks since the
 * engine started or the last reset. */
static int formatMeter(xsMachine* the, xsUnsignedValue compute, char* buffer, size_t size)
{
	return snprintf(buffer, size,
		".{\"compute\":%u,\"allocate\":%zu,"
		"\"currentHeapCount\":%ld,\"peakHeapCount\":%ld,\"maximumHeapCount\":%ld,"
		"\"currentChunksSize\":%ld,\"peakChunksSize\":%ld,\"maximumChunksSize\":%ld,"
		"\"slotSize\":%zu}\1",
		(unsigned)compute, the->allocatedSpace,
		(long)the->currentHeapCount, (long)the->peakHeapCount, (long)the->maximumHeapCount,
		(long)the->currentChunksSize, (long)the->peakChunksSize, (long)the->maximumChunksSize,
		sizeof(txSlot));
}

static void writeOkay(xsMachine* the, xsUnsignedValue compute, const void* bytes, size_t length)
{
	char meter[512];
	int meterLength = formatMeter(the, compute, meter, sizeof(meter));
	writeFrame(gEngine.toHost, meter, (size_t)meterLength, bytes, length);
}

static void resetPeaks(xsMachine* the, int collect)
{
	if (collect)
		xsCollectGarbage();
	the->peakHeapCount = the->currentHeapCount;
	the->peakChunksSize = the->currentChunksSize;
}

/* Makes the live heap the whole heap, as far as chunks go, and caps what may be added: after a
 * full collection (which compacts the chunks to the start of their block) every block ends where
 * its data ends, and the allocation limit becomes what XS holds now plus `growth`. The space given
 * up stays mapped, but XS reaches it again only by growing, which the limit meters, so an
 * operation started now succeeds only if its own need fits in `growth` (plus the free slots, which
 * the collector keeps and the host accounts for). */
static void limitGrowth(xsMachine* the, size_t growth)
{
	xsCollectGarbage();
	for (txBlock* block = the->firstBlock; block; block = block->nextBlock) {
		the->maximumChunksSize -= (txSize)(block->limit - block->current);
		block->limit = block->current;
	}
	the->allocationLimit = the->allocatedSpace + growth;
	the->peakHeapCount = the->currentHeapCount;
	the->peakChunksSize = the->currentChunksSize;
}

/* ---- globals ------------------------------------------------------------------------------- */

static void xs_print(xsMachine* the)
{
	xsIntegerValue count = xsToInteger(xsArgc), index;
	for (index = 0; index < count; index++) {
		if (index)
			fputc(' ', stdout);
		fputs(xsToString(xsArg(index)), stdout);
	}
	fputc('\n', stdout);
	fflush(stdout);
}

static void xs_gc(xsMachine* the)
{
	xsCollectGarbage();
}

static double monotonicMilliseconds(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

static void xs_performance_now(xsMachine* the)
{
	xsResult = xsNumber(monotonicMilliseconds() - gEngine.clockOrigin);
}

/* setImmediate(callback[, ignored, argument]): the argument position is xsnap-worker's. */
static void xs_setImmediate(xsMachine* the)
{
	xsSetTimer(0, 0);
}

static void xs_issueCommand(xsMachine* the)
{
	if (xsToInteger(xsArgc) < 1 || !xsIsInstanceOf(xsArg(0), xsArrayBufferPrototype))
		xsTypeError("the request must be an ArrayBuffer");
	size_t length = (size_t)xsGetArrayBufferLength(xsArg(0));
	writeFrame(gEngine.toHost, "?", 1, xsToArrayBuffer(xsArg(0)), length);
	char* reply;
	size_t replyLength;
	const char* problem = NULL;
	int status = readFrame(gEngine.fromHost, &reply, &replyLength, &problem);
	if (status == 1)
		fatal(EXIT_IO_ERROR, "the host closed the channel while issueCommand waited for its reply");
	if (status < 0)
		fatal(EXIT_IO_ERROR, "cannot read the reply to issueCommand: %s", problem);
	if (replyLength == 0 || reply[0] != '/') {
		free(reply);
		xsUnknownError("issueCommand: the host answered with something other than a '/' reply");
	}
	xsResult = xsArrayBuffer(reply + 1, (xsIntegerValue)(replyLength - 1));
	free(reply);
}

static void setNumber(xsMachine* the, xsSlot* object, char* name, double value)
{
	xsSet(*object, xsID(name), xsNumber(value));
}

/* heapStats() -> { slots, peakSlots, chunks, peakChunks, slotSize, bytes, peakBytes, reservedSlots,
 * reservedChunks }, as HeapStats in xsnap.ts. The figures are read before the result object is
 * allocated. */
static void xs_heapStats(xsMachine* the)
{
	double slots = the->currentHeapCount, peakSlots = the->peakHeapCount;
	double chunks = the->currentChunksSize, peakChunks = the->peakChunksSize;
	double reservedSlots = the->maximumHeapCount, reservedChunks = the->maximumChunksSize;
	xsResult = xsNewObject();
	setNumber(the, &xsResult, "slots", slots);
	setNumber(the, &xsResult, "peakSlots", peakSlots);
	setNumber(the, &xsResult, "chunks", chunks);
	setNumber(the, &xsResult, "peakChunks", peakChunks);
	setNumber(the, &xsResult, "slotSize", (double)sizeof(txSlot));
	setNumber(the, &xsResult, "bytes", slots * sizeof(txSlot) + chunks);
	setNumber(the, &xsResult, "peakBytes", peakSlots * sizeof(txSlot) + peakChunks);
	setNumber(the, &xsResult, "reservedSlots", reservedSlots);
	setNumber(the, &xsResult, "reservedChunks", reservedChunks);
}

/* resetHeapPeaks(collect = true): peaks become the current figures, after a full collection
 * unless collect is false. */
static void xs_resetHeapPeaks(xsMachine* the)
{
	int collect = 1;
	if (xsToInteger(xsArgc) > 0 && xsTypeOf(xsArg(0)) != xsUndefinedType)
		collect = xsTest(xsArg(0));
	resetPeaks(the, collect);
}

extern void modInstallTextDecoder(xsMachine* the);
extern void modInstallTextEncoder(xsMachine* the);
extern void modInstallBase64(xsMachine* the);

static void defineFunction(xsMachine* the, xsSlot* target, char* name, xsCallback callback, xsIntegerValue length, xsSlot* scratch)
{
	xsIdentifier id = xsID(name);
	fxNewHostFunction(the, callback, length, id, xsNoID); /* named, so errors say where they come from */
	*scratch = fxPop();
	xsDefine(*target, id, *scratch, xsDontEnum);
}

static void installGlobals(xsMachine* machine)
{
	xsBeginHost(machine);
	{
		xsVars(2);
		defineFunction(the, &xsGlobal, "print", xs_print, 1, &xsVar(1));
		defineFunction(the, &xsGlobal, "gc", xs_gc, 0, &xsVar(1));
		defineFunction(the, &xsGlobal, "setImmediate", xs_setImmediate, 1, &xsVar(1));
		defineFunction(the, &xsGlobal, "issueCommand", xs_issueCommand, 1, &xsVar(1));
		defineFunction(the, &xsGlobal, "heapStats", xs_heapStats, 0, &xsVar(1));
		defineFunction(the, &xsGlobal, "resetHeapPeaks", xs_resetHeapPeaks, 1, &xsVar(1));
		defineFunction(the, &xsGlobal, "harden", fx_harden, 1, &xsVar(1));
		xsVar(0) = xsNewObject();
		defineFunction(the, &xsVar(0), "now", xs_performance_now, 0, &xsVar(1));
		xsDefine(xsGlobal, xsID("performance"), xsVar(0), xsDontEnum);
		modInstallTextDecoder(the);
		modInstallTextEncoder(the);
		modInstallBase64(the);
		/* Kept in a C root, not a global, so the firmware can neither see nor replace it. */
		gEngine.settle = xsCall1(xsGlobal, xsID("eval"), xsString(
			"(function (promise, record) {"
			" promise.then("
			"  function (value) { record.state = 1; record.value = value; },"
			"  function (reason) { record.state = 2; record.value = reason; });"
			"})"));
		xsRemember(gEngine.settle);
	}
	xsEndHost(machine);
}

/* ---- deliveries ---------------------------------------------------------------------------- */

static xsBooleanValue meterCallback(xsMachine* the, xsUnsignedValue index)
{
	return !(gEngine.currentLimit && index > gEngine.currentLimit);
}

/* A malloc'd copy of String(exception), followed by its stack when XS recorded one. Each string
 * is copied out before the next call into XS, which may collect and move chunks. */
static char* describeException(xsMachine* the, xsSlot* exception, xsSlot* scratch)
{
	char* volatile message = NULL;
	char* volatile stack = NULL;
	xsTry {
		message = strdup(xsToString(*exception));
		if (xsTypeOf(*exception) == xsReferenceType) {
			*scratch = xsGet(*exception, xsID("stack"));
			if (xsTypeOf(*scratch) == xsStringType)
				stack = strdup(xsToString(*scratch));
		}
	}
	xsCatch {
	}
	if (!message) {
		free(stack);
		return strdup("an exception that cannot be converted to a string");
	}
	if (!stack)
		return message;
	/* XS stacks hold only the frames; some hosts repeat the message first. */
	const char* frames = stack;
	if (strncmp(frames, message, strlen(message)) == 0)
		frames += strlen(message);
	while (*frames == '\n')
		frames++;
	size_t size = strlen(message) + 1 + strlen(frames) + 1;
	char* text = malloc(size);
	if (text)
		snprintf(text, size, "%s%s%s", message, *frames ? "\n" : "", frames);
	free(message);
	free(stack);
	return text ? text : strdup("an exception (out of memory while describing it)");
}

/* Runs one e or ? delivery and answers it. */
static void deliver(xsMachine* machine, char command, char* body, size_t length)
{
	xsUnsignedValue compute;
	gEngine.delivering = 1;
	gEngine.currentLimit = gEngine.computeLimit;
	xsSetCurrentMeter(machine, 0);
	xsBeginHost(machine);
	{
		volatile int failed = 0;
		char* volatile error = NULL;
		xsVars(5); /* 0: argument, 1: value, 2: settlement record, 3 and 4: scratch */
		xsTry {
			if (command == '?') {
				xsVar(3) = xsGet(xsGlobal, xsID("handleCommand"));
				if (!xsIsInstanceOf(xsVar(3), xsFunctionPrototype))
					xsTypeError("globalThis.handleCommand is not a function");
				xsVar(0) = xsArrayBuffer(body, (xsIntegerValue)length);
				xsVar(1) = xsCallFunction1(xsVar(3), xsGlobal, xsVar(0));
			}
			else {
				xsVar(0) = xsStringBuffer(body, (xsIntegerValue)length);
				xsVar(1) = xsCall1(xsGlobal, xsID("eval"), xsVar(0));
			}
			if (xsIsInstanceOf(xsVar(1), xsPromisePrototype)) {
				xsVar(2) = xsNewObject();
				xsSet(xsVar(2), xsID("state"), xsInteger(0));
				xsVar(3) = xsAccess(gEngine.settle);
				xsCallFunction2(xsVar(3), xsUndefined, xsVar(1), xsVar(2));
			}
		}
		xsCatch {
			failed = 1;
			xsVar(1) = xsException;
			xsException = xsUndefined;
		}
		fxRunLoop(the);
		compute = xsGetCurrentMeter(the);
		gEngine.currentLimit = 0;
		if (!failed && xsTypeOf(xsVar(2)) == xsReferenceType) {
			xsIntegerValue state = xsToInteger(xsGet(xsVar(2), xsID("state")));
			xsVar(1) = (state == 0) ? xsUndefined : xsGet(xsVar(2), xsID("value"));
			if (state == 2)
				failed = 1;
		}
		if (failed) {
			error = describeException(the, &xsVar(1), &xsVar(3));
		}
		else {
			const void* volatile bytes = NULL;
			volatile size_t byteLength = 0;
			xsTry {
				xsVar(3) = xsVar(1);
				if (xsTypeOf(xsVar(3)) == xsReferenceType && xsHas(xsVar(3), xsID("result"))
					&& !xsIsInstanceOf(xsVar(3), xsArrayBufferPrototype))
					xsVar(3) = xsGet(xsVar(3), xsID("result"));
				if (xsIsInstanceOf(xsVar(3), xsArrayBufferPrototype)) {
					byteLength = (size_t)xsGetArrayBufferLength(xsVar(3));
					bytes = xsToArrayBuffer(xsVar(3));
				}
				else if (xsTypeOf(xsVar(3)) == xsReferenceType) {
					/* A typed array or DataView: its window onto its buffer. */
					xsVar(4) = xsGet(xsGlobal, xsID("ArrayBuffer"));
					xsVar(4) = xsCall1(xsVar(4), xsID("isView"), xsVar(3));
					if (xsTest(xsVar(4))) {
						size_t offset = (size_t)xsToInteger(xsGet(xsVar(3), xsID("byteOffset")));
						byteLength = (size_t)xsToInteger(xsGet(xsVar(3), xsID("byteLength")));
						xsVar(3) = xsGet(xsVar(3), xsID("buffer"));
						bytes = (char*)xsToArrayBuffer(xsVar(3)) + offset;
					}
				}
			}
			xsCatch {
				xsVar(1) = xsException;
				xsException = xsUndefined;
				error = describeException(the, &xsVar(1), &xsVar(3));
			}
			if (!error)
				writeOkay(the, compute, bytes, byteLength); /* before anything can move the chunk */
		}
		if (error) {
			writeFrame(gEngine.toHost, "!", 1, error, strlen(error));
			free(error);
		}
	}
	xsEndHost(machine);
	gEngine.delivering = 0;
}

static void serve(xsMachine* machine)
{
	for (;;) {
		char* body;
		size_t length;
		const char* problem = NULL;
		int status = readFrame(gEngine.fromHost, &body, &length, &problem);
		if (status == 1)
			return;
		if (status < 0)
			fatal(EXIT_IO_ERROR, "cannot read from the host: %s", problem);
		char command = length ? body[0] : 0;
		switch (command) {
		case 'e':
		case '?':
			deliver(machine, command, body + 1, length - 1);
			break;
		case 'h':
			writeOkay(machine, 0, NULL, 0);
			break;
		case 'p':
		case 'P':
			xsBeginHost(machine);
			resetPeaks(the, command == 'P');
			xsEndHost(machine);
			writeOkay(machine, 0, NULL, 0);
			break;
		case 'G': {
			char* end;
			errno = 0;
			unsigned long long growth = strtoull(body + 1, &end, 10);
			if (length < 2 || body[1] < '0' || body[1] > '9' || errno || *end || growth > (unsigned long long)SIZE_MAX / 2) {
				const char* message = "G needs a decimal byte count";
				writeFrame(gEngine.toHost, "!", 1, message, strlen(message));
				break;
			}
			xsBeginHost(machine);
			limitGrowth(the, (size_t)growth);
			xsEndHost(machine);
			writeOkay(machine, 0, NULL, 0);
			break;
		}
		case 'R':
			writeFrame(gEngine.toHost, ".", 1, NULL, 0);
			break;
		case 'q':
			free(body);
			return;
		default: {
			/* A framing-level mistake by the host: say so and stay in step with it. */
			char message[64];
			int messageLength = snprintf(message, sizeof(message), "unknown command '%c' (0x%02x)",
				(command >= 0x20 && command < 0x7f) ? command : '?', (unsigned char)command);
			writeFrame(gEngine.toHost, "!", 1, message, (size_t)messageLength);
			break;
		}
		}
		free(body);
	}
}

/* ---- start-up ------------------------------------------------------------------------------ */

static void printUsage(FILE* out)
{
	fprintf(out,
		"usage: matter-xs-engine [options]   (netstrings on fds 3 and 4)\n"
		"  -v, --version                 print the XS version and exit\n"
		"  -s, --parser-buffer KB        parser buffer (default 8192)\n"
		"  --initial-chunks BYTES        chunk heap at creation (default 33554432)\n"
		"  --incremental-chunks BYTES    chunk heap growth step, 0 for a fixed heap (default 4194304)\n"
		"  --initial-slots COUNT         slots at creation (default 262144)\n"
		"  --incremental-slots COUNT     slot growth step, 0 for a fixed heap (default 131072)\n"
		"  --stack COUNT                 stack slots (default 4096)\n"
		"  --memory-limit BYTES          cap on what XS allocates for slots, chunks and stack\n"
		"                                together, creation included (default 2147483648)\n"
		"  -l, --compute-limit COUNT     per-delivery XS instruction limit (default none)\n");
}

static long long parseCount(const char* option, const char* text, long long minimum, long long maximum)
{
	char* end;
	errno = 0;
	long long value = text ? strtoll(text, &end, 10) : 0;
	if (!text || errno || *end || end == text || value < minimum || value > maximum)
		fatal(EXIT_BAD_USAGE, "%s needs a whole number from %lld to %lld", option, minimum, maximum);
	return value;
}

int main(int argc, char* argv[])
{
	xsCreation creation = {
		32 * 1024 * 1024, /* initialChunkSize */
		4 * 1024 * 1024,  /* incrementalChunkSize */
		256 * 1024,       /* initialHeapCount */
		128 * 1024,       /* incrementalHeapCount */
		4096,             /* stackCount */
		32000,            /* initialKeyCount */
		8000,             /* incrementalKeyCount */
		1993,             /* nameModulo */
		127,              /* symbolModulo */
		8192 * 1024,      /* parserBufferSize */
		1993,             /* parserTableModulo */
	};
	long long memoryLimit = 2LL * 1024 * 1024 * 1024;
	int index;

	for (index = 1; index < argc; index++) {
		const char* option = argv[index];
		const char* value = (index + 1 < argc) ? argv[index + 1] : NULL;
		if (!strcmp(option, "-h") || !strcmp(option, "--help")) {
			printUsage(stdout);
			return EXIT_OK;
		}
		else if (!strcmp(option, "-v") || !strcmp(option, "--version")) {
			char version[32];
			xsVersion(version, sizeof(version));
			printf("matter-xs-engine XS %s (sources from @agoric/xsnap %s), slot %zu bytes\n",
				version, XSNAP_VERSION, sizeof(txSlot));
			return EXIT_OK;
		}
		else if (!strcmp(option, "-s") || !strcmp(option, "--parser-buffer"))
			creation.parserBufferSize = (xsIntegerValue)parseCount(option, value, 1, 1024 * 1024) * 1024, index++;
		else if (!strcmp(option, "--initial-chunks"))
			creation.initialChunkSize = (xsIntegerValue)parseCount(option, value, 1024, INT_MAX), index++;
		else if (!strcmp(option, "--incremental-chunks"))
			creation.incrementalChunkSize = (xsIntegerValue)parseCount(option, value, 0, INT_MAX), index++;
		else if (!strcmp(option, "--initial-slots"))
			creation.initialHeapCount = (xsIntegerValue)parseCount(option, value, 64, INT_MAX / (long long)sizeof(txSlot)), index++;
		else if (!strcmp(option, "--incremental-slots"))
			creation.incrementalHeapCount = (xsIntegerValue)parseCount(option, value, 0, INT_MAX / (long long)sizeof(txSlot)), index++;
		else if (!strcmp(option, "--stack"))
			creation.stackCount = (xsIntegerValue)parseCount(option, value, 64, INT_MAX / (long long)sizeof(txSlot)), index++;
		else if (!strcmp(option, "--memory-limit"))
			memoryLimit = parseCount(option, value, 1024, LLONG_MAX), index++;
		else if (!strcmp(option, "-l") || !strcmp(option, "--compute-limit"))
			gEngine.computeLimit = (xsUnsignedValue)parseCount(option, value, 0, UINT_MAX), index++;
		else {
			printUsage(stderr);
			fatal(EXIT_BAD_USAGE, "unknown option %s", option);
		}
	}

	gEngine.clockOrigin = monotonicMilliseconds();
	if (!(gEngine.fromHost = fdopen(3, "rb")) || !(gEngine.toHost = fdopen(4, "wb")))
		fatal(EXIT_IO_ERROR, "file descriptors 3 and 4 must be open to the host");
	signal(SIGPIPE, SIG_IGN); /* a vanished host then shows up as a failed write, reported there */

	xsInitializeSharedCluster();
	xsMachine* machine = xsCreateMachine(&creation, "matter-xs", NULL);
	if (!machine)
		fatal(EXIT_NOT_ENOUGH_MEMORY, "cannot create the XS machine with these creation sizes");
	if (machine->allocatedSpace > (size_t)memoryLimit)
		fatal(EXIT_NOT_ENOUGH_MEMORY, "the creation sizes need %zu bytes, more than --memory-limit %lld",
			machine->allocatedSpace, memoryLimit);
	machine->allocationLimit = (size_t)memoryLimit;

	/* Every abort (memory full, stack overflow, too much computation, an exception thrown by a
	 * setImmediate callback) longjmps here: the machine cannot continue, so answer and exit. */
	xsUnsignedValue interval = 0;
	if (gEngine.computeLimit)
		interval = (gEngine.computeLimit < 65536) ? 1 : 4096;
	xsBeginMetering(machine, meterCallback, interval);
	{
		installGlobals(machine);
		serve(machine);
	}
	xsEndMetering(machine);

	if (machine->abortStatus) {
		int code;
		const char* reason;
		switch (machine->abortStatus) {
		case xsNotEnoughMemoryExit: code = EXIT_NOT_ENOUGH_MEMORY; reason = "not enough memory"; break;
		case xsStackOverflowExit: code = EXIT_STACK_OVERFLOW; reason = "stack overflow"; break;
		case xsNoMoreKeysExit: code = EXIT_NO_MORE_KEYS; reason = "not enough keys"; break;
		case xsTooMuchComputationExit: code = EXIT_TOO_MUCH_COMPUTATION; reason = "too much computation"; break;
		case xsUnhandledExceptionExit: code = EXIT_UNHANDLED_EXCEPTION; reason = "unhandled exception in a job"; break;
		default: code = EXIT_UNKNOWN_ABORT; reason = "unknown abort"; break;
		}
		char message[256];
		int messageLength = snprintf(message, sizeof(message),
			"XS aborted: %s (slots %ld of %ld, chunks %ld of %ld bytes, %zu bytes allocated); the engine exits",
			reason, (long)machine->currentHeapCount, (long)machine->maximumHeapCount,
			(long)machine->currentChunksSize, (long)machine->maximumChunksSize, machine->allocatedSpace);
		fprintf(stderr, "matter-xs-engine: %s\n", message);
		if (gEngine.delivering)
			writeFrame(gEngine.toHost, "!", 1, message, (size_t)messageLength);
		/* The machine is mid-abort: skip xsDeleteMachine, let the OS reclaim everything. */
		return code;
	}
	xsDeleteMachine(machine);
	xsTerminateSharedCluster();
	return EXIT_OK;
}
