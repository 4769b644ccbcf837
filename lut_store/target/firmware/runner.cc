// The MicroNAS firmware runner: runs the compiled-in int8 model (TFLM + CMSIS-NN) on every
// compiled-in input window and streams the results as a line protocol.
//
// Protocol (version 1): every line is `<json object>|<crc32>\n`, where <crc32> is 8 lower-case hex
// digits of the CRC-32 (zlib's polynomial) of the bytes before the '|'. Records, in order:
//   {"t":"hello","proto":1,"target":..,"timer":..,"timer_hz":..,"windows":N,"arena_bytes":..}
//   {"t":"log","msg":..}                         TFLM's own messages (MicroPrintf), any time
//   {"t":"scratch","node":i,"bytes":[..]}        kernel scratch requests (when traced)
//   {"t":"arena","head":..,"tail":..,"total":..,"available":..}
//   {"t":"ops","names":[..]}                     op names in invoke order
//   {"t":"window","i":k,"ticks":..,"op_ticks":[..],"out":[..]}   one per window
//   {"t":"error","stage":..,"msg":..}            ends the run
//   {"t":"end","windows":N}                      the run is complete
// Ticks come from the board layer (board.h): on QEMU they are emulator figures, not cycles.
//
// Profile mode (the generated mn_model.h defines MN_PROFILE): many single-layer models in one
// image, each run `mn_profile_windows` times on seeded pseudo-random int8 inputs and reported on
// ONE line, so a model is either reported whole or not at all. A pass is
//   {"t":"hello","proto":1,"mode":"profile","target":..,"timer":..,"timer_hz":..,"models":M,
//    "windows":W,"arena_bytes":..,"pass":p}
//   {"t":"model","i":k,"id":..,"ops":[..],"ticks":[..],"op_ticks":[[..],..],"head":..,"tail":..}
//   {"t":"skip","i":k,"id":..,"stage":..,"msg":..}   a model that cannot run (e.g. arena too small)
//   {"t":"end","models":M,"pass":p}
// and the image runs MN_PROFILE_PASSES passes (0 = forever, the default on a board: a collector
// that lost the link picks up the models it missed on a later pass).
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <new>

#include "board.h"
#include "mn_model.h"
#include "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.h"
#include "tensorflow/lite/micro/memory_helpers.h"
#include "tensorflow/lite/micro/memory_planner/greedy_memory_planner.h"
#include "tensorflow/lite/micro/micro_arena_constants.h"
#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/micro/micro_time.h"
#include "tensorflow/lite/schema/schema_generated.h"

#ifndef MN_TARGET_NAME
#define MN_TARGET_NAME "board"
#endif
#ifndef MN_MAX_EVENTS
#define MN_MAX_EVENTS 256
#endif

// ---- line protocol writer: streams characters and their CRC, no line buffer --------------------
namespace {

uint32_t g_crc;

void raw(char c) {
  g_crc ^= static_cast<uint8_t>(c);
  for (int k = 0; k < 8; k++) g_crc = (g_crc >> 1) ^ (0xEDB88320u & (0u - (g_crc & 1u)));
  mn_putchar(c);
}
void text(const char* s) {
  while (*s) raw(*s++);
}
void begin(const char* type) {
  g_crc = 0xFFFFFFFFu;
  text("{\"t\":\"");
  text(type);
  raw('"');
}
void end() {
  raw('}');
  const uint32_t v = ~g_crc;
  mn_putchar('|');
  for (int shift = 28; shift >= 0; shift -= 4) mn_putchar("0123456789abcdef"[(v >> shift) & 15u]);
  mn_putchar('\n');
}
void number(int64_t v) {
  char buf[24];
  int n = 0;
  uint64_t u = v < 0 ? static_cast<uint64_t>(-v) : static_cast<uint64_t>(v);
  do {
    buf[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) raw('-');
  while (n) raw(buf[--n]);
}
void key(const char* k) {
  raw(',');
  raw('"');
  text(k);
  text("\":");
}
void string(const char* s) {
  raw('"');
  for (; *s; s++) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') {
      raw('\\');
      raw(static_cast<char>(c));
    } else if (c < 0x20) {
      text("\\u00");
      raw("0123456789abcdef"[c >> 4]);
      raw("0123456789abcdef"[c & 15]);
    } else {
      raw(static_cast<char>(c));
    }
  }
  raw('"');
}
void kv(const char* k, int64_t v) {
  key(k);
  number(v);
}
void kv(const char* k, const char* v) {
  key(k);
  string(v);
}

void error(const char* stage, const char* msg) {
  begin("error");
  kv("stage", stage);
  kv("msg", msg);
  end();
}

// ---- TFLM's log: one protocol line per MicroPrintf line ----------------------------------------
char g_log[256];
size_t g_log_len;

void flush_log() {
  if (!g_log_len) return;
  g_log[g_log_len] = 0;
  begin("log");
  kv("msg", g_log);
  end();
  g_log_len = 0;
}

// ---- per-op ticks of one Invoke -----------------------------------------------------------------
class TickProfiler : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char* tag) override {
    if (count_ >= MN_MAX_EVENTS) return MN_MAX_EVENTS;
    tags_[count_] = tag;
    start_[count_] = mn_ticks();
    return count_++;
  }
  void EndEvent(uint32_t handle) override {
    if (handle < MN_MAX_EVENTS) ticks_[handle] = mn_ticks() - start_[handle];
  }
  void Reset() { count_ = 0; }
  uint32_t count() const { return count_; }
  const char* tag(uint32_t i) const { return tags_[i]; }
  uint32_t ticks(uint32_t i) const { return ticks_[i]; }

 private:
  const char* tags_[MN_MAX_EVENTS];
  uint32_t start_[MN_MAX_EVENTS];
  uint32_t ticks_[MN_MAX_EVENTS];
  uint32_t count_ = 0;
};

TickProfiler g_profiler;

// ---- the arena -----------------------------------------------------------------------------------
#ifdef MN_ARENA_FROM_LINKER
extern "C" uint8_t __mn_arena_start[], __mn_arena_end[];
uint8_t* arena() { return __mn_arena_start; }
size_t arena_bytes() { return static_cast<size_t>(__mn_arena_end - __mn_arena_start); }
#else
#ifndef MN_ARENA_BYTES
#define MN_ARENA_BYTES (64 * 1024)
#endif
alignas(16) uint8_t g_arena[MN_ARENA_BYTES];
uint8_t* arena() { return g_arena; }
size_t arena_bytes() { return sizeof(g_arena); }
#endif

// The allocator made the way MicroInterpreter(model, resolver, arena, size) makes it (a fresh
// arena, the greedy planner in its tail), but keeping the arena allocator for its head/tail.
uint8_t* arena_base() {
  return tflite::AlignPointerUp(arena(), tflite::MicroArenaBufferAlignment());
}
size_t usable_arena_bytes() { return static_cast<size_t>(arena() + arena_bytes() - arena_base()); }

tflite::MicroAllocator* make_allocator(tflite::SingleArenaBufferAllocator** memory_out) {
  tflite::SingleArenaBufferAllocator* memory =
      tflite::SingleArenaBufferAllocator::Create(arena_base(), usable_arena_bytes());
  uint8_t* planner_buffer = memory->AllocatePersistentBuffer(
      sizeof(tflite::GreedyMemoryPlanner), alignof(tflite::GreedyMemoryPlanner));
  tflite::MicroMemoryPlanner* planner = new (planner_buffer) tflite::GreedyMemoryPlanner();
  *memory_out = memory;
  return tflite::MicroAllocator::Create(memory, planner);
}

}  // namespace

// ---- kernel scratch requests, traced through the linker's --wrap (QEMU builds) -------------------
// MicroInterpreterContext calls MicroAllocator::RequestScratchBufferInArena across object files,
// so `-Wl,--wrap=<mangled name>` routes the call here first; FinishPrepareNodeAllocations(node)
// closes each node's Prepare. Without the wrap these functions are simply unused.
#ifdef MN_TRACE_SCRATCH
extern "C" {
TfLiteStatus __real__ZN6tflite14MicroAllocator27RequestScratchBufferInArenaEjiPi(
    tflite::MicroAllocator* self, size_t bytes, int subgraph, int* index);
TfLiteStatus __real__ZN6tflite14MicroAllocator28FinishPrepareNodeAllocationsEi(
    tflite::MicroAllocator* self, int node);

static uint32_t g_scratch[16];
static int g_scratch_n;

TfLiteStatus __wrap__ZN6tflite14MicroAllocator27RequestScratchBufferInArenaEjiPi(
    tflite::MicroAllocator* self, size_t bytes, int subgraph, int* index) {
  if (g_scratch_n < 16) g_scratch[g_scratch_n++] = static_cast<uint32_t>(bytes);
  return __real__ZN6tflite14MicroAllocator27RequestScratchBufferInArenaEjiPi(self, bytes, subgraph,
                                                                            index);
}

TfLiteStatus __wrap__ZN6tflite14MicroAllocator28FinishPrepareNodeAllocationsEi(
    tflite::MicroAllocator* self, int node) {
  if (g_scratch_n) {
    flush_log();
    begin("scratch");
    kv("node", node);
    key("bytes");
    raw('[');
    for (int i = 0; i < g_scratch_n; i++) {
      if (i) raw(',');
      number(g_scratch[i]);
    }
    raw(']');
    end();
    g_scratch_n = 0;
  }
  return __real__ZN6tflite14MicroAllocator28FinishPrepareNodeAllocationsEi(self, node);
}
}
#endif

extern "C" void DebugLog(const char* format, va_list args) {
  char chunk[160];
  vsnprintf(chunk, sizeof(chunk), format, args);
  for (const char* p = chunk; *p; p++) {
    if (*p == '\n') {
      flush_log();
    } else if (*p != '\r' && g_log_len < sizeof(g_log) - 1) {
      g_log[g_log_len++] = *p;
    }
  }
}

extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

// TFLM's own timer hooks (MicroProfiler, TicksToMs) read the board's tick counter too.
namespace tflite {
uint32_t ticks_per_second() { return mn_ticks_per_second(); }
uint32_t GetCurrentTimeTicks() { return mn_ticks(); }
}  // namespace tflite

#ifndef MN_PROFILE
extern "C" int micronas_run(void) {
  mn_board_init();
  begin("hello");
  kv("proto", 1);
  kv("target", MN_TARGET_NAME);
  kv("timer", mn_timer_name());
  kv("timer_hz", mn_ticks_per_second());
  kv("windows", mn_num_windows);
  kv("arena_bytes", static_cast<int64_t>(arena_bytes()));
  end();

  const tflite::Model* model = tflite::GetModel(mn_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    error("model", "the model's schema version is not the one TFLM was built with");
    return 1;
  }
  const tflite::MicroOpResolver* resolver = mn_op_resolver();
  if (resolver == nullptr) {
    flush_log();
    error("resolver", "an op could not be registered");
    return 1;
  }

  tflite::SingleArenaBufferAllocator* memory = nullptr;
  tflite::MicroAllocator* allocator = make_allocator(&memory);

  static tflite::MicroInterpreter interpreter(model, *resolver, allocator, nullptr, &g_profiler);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    flush_log();
    error("allocate", "AllocateTensors failed (see the log lines before)");
    return 1;
  }
  flush_log();
  begin("arena");
  kv("head", static_cast<int64_t>(memory->GetNonPersistentUsedBytes()));
  kv("tail", static_cast<int64_t>(memory->GetPersistentUsedBytes()));
  kv("total", static_cast<int64_t>(memory->GetUsedBytes()));
  kv("used", static_cast<int64_t>(interpreter.arena_used_bytes()));
  kv("available", static_cast<int64_t>(usable_arena_bytes()));
  end();

  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  if (input->bytes != mn_input_bytes || input->type != kTfLiteInt8 ||
      output->type != kTfLiteInt8) {
    error("io", "the compiled-in windows do not match the model's int8 input/output");
    return 1;
  }

  for (uint32_t k = 0; k < mn_num_windows; k++) {
    memcpy(input->data.int8, mn_inputs + k * mn_input_bytes, mn_input_bytes);
    g_profiler.Reset();
    const uint32_t t0 = mn_ticks();
    const TfLiteStatus status = interpreter.Invoke();
    const uint32_t ticks = mn_ticks() - t0;
    flush_log();
    if (status != kTfLiteOk) {
      error("invoke", "Invoke failed (see the log lines before)");
      return 1;
    }
    if (k == 0) {
      begin("ops");
      key("names");
      raw('[');
      for (uint32_t i = 0; i < g_profiler.count(); i++) {
        if (i) raw(',');
        string(g_profiler.tag(i) ? g_profiler.tag(i) : "?");
      }
      raw(']');
      end();
    }
    begin("window");
    kv("i", k);
    kv("ticks", ticks);
    key("op_ticks");
    raw('[');
    for (uint32_t i = 0; i < g_profiler.count(); i++) {
      if (i) raw(',');
      number(g_profiler.ticks(i));
    }
    raw(']');
    key("out");
    raw('[');
    for (size_t i = 0; i < output->bytes; i++) {
      if (i) raw(',');
      number(output->data.int8[i]);
    }
    raw(']');
    end();
  }
  begin("end");
  kv("windows", mn_num_windows);
  end();
  return 0;
}
#else  // MN_PROFILE

#ifndef MN_PROFILE_PASSES
#define MN_PROFILE_PASSES 0
#endif

namespace {

alignas(tflite::MicroInterpreter) uint8_t g_interpreter[sizeof(tflite::MicroInterpreter)];

void skip(uint32_t k, const char* id, const char* stage, const char* msg) {
  flush_log();
  begin("skip");
  kv("i", k);
  kv("id", id);
  kv("stage", stage);
  kv("msg", msg);
  end();
}

// One model on a fresh allocator over the whole arena: every model is measured alone.
void profile_model(uint32_t k, const tflite::MicroOpResolver* resolver) {
  const mn_profile_model& m = mn_profile_models[k];
  const tflite::Model* model = tflite::GetModel(m.data);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    skip(k, m.id, "model", "the model's schema version is not the one TFLM was built with");
    return;
  }
  tflite::SingleArenaBufferAllocator* memory = nullptr;
  tflite::MicroAllocator* allocator = make_allocator(&memory);
  tflite::MicroInterpreter* interpreter = new (g_interpreter)
      tflite::MicroInterpreter(model, *resolver, allocator, nullptr, &g_profiler);
  struct Done {  // the interpreter is destroyed on every path before the arena is reused
    tflite::MicroInterpreter* p;
    ~Done() { p->~MicroInterpreter(); }
  } done{interpreter};
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    skip(k, m.id, "allocate", "AllocateTensors failed (see the log lines before)");
    return;
  }
  TfLiteTensor* input = interpreter->input(0);
  if (input->type != kTfLiteInt8) {
    skip(k, m.id, "io", "the model's input is not int8");
    return;
  }
  uint32_t ticks[16];
  uint32_t op_ticks[16][8];
  const uint32_t windows = mn_profile_windows < 16 ? mn_profile_windows : 16;
  uint32_t ops = 0;
  uint32_t rng = m.seed;
  for (uint32_t w = 0; w < windows; w++) {
    for (size_t i = 0; i < input->bytes; i++) {  // seeded LCG: no windows in flash
      rng = rng * 1664525u + 1013904223u;
      input->data.int8[i] = static_cast<int8_t>(rng >> 24);
    }
    g_profiler.Reset();
    const uint32_t t0 = mn_ticks();
    const TfLiteStatus status = interpreter->Invoke();
    ticks[w] = mn_ticks() - t0;
    if (status != kTfLiteOk) {
      skip(k, m.id, "invoke", "Invoke failed (see the log lines before)");
      return;
    }
    ops = g_profiler.count() < 8 ? g_profiler.count() : 8;
    for (uint32_t i = 0; i < ops; i++) op_ticks[w][i] = g_profiler.ticks(i);
  }
  flush_log();
  begin("model");
  kv("i", k);
  kv("id", m.id);
  key("ops");
  raw('[');
  for (uint32_t i = 0; i < ops; i++) {
    if (i) raw(',');
    string(g_profiler.tag(i) ? g_profiler.tag(i) : "?");
  }
  raw(']');
  key("ticks");
  raw('[');
  for (uint32_t w = 0; w < windows; w++) {
    if (w) raw(',');
    number(ticks[w]);
  }
  raw(']');
  key("op_ticks");
  raw('[');
  for (uint32_t w = 0; w < windows; w++) {
    if (w) raw(',');
    raw('[');
    for (uint32_t i = 0; i < ops; i++) {
      if (i) raw(',');
      number(op_ticks[w][i]);
    }
    raw(']');
  }
  raw(']');
  kv("head", static_cast<int64_t>(memory->GetNonPersistentUsedBytes()));
  kv("tail", static_cast<int64_t>(memory->GetPersistentUsedBytes()));
  end();
}

}  // namespace

extern "C" int micronas_run(void) {
  mn_board_init();
  const tflite::MicroOpResolver* resolver = mn_op_resolver();
  for (uint32_t pass = 0; MN_PROFILE_PASSES == 0 || pass < MN_PROFILE_PASSES; pass++) {
    begin("hello");
    kv("proto", 1);
    kv("mode", "profile");
    kv("target", MN_TARGET_NAME);
    kv("timer", mn_timer_name());
    kv("timer_hz", mn_ticks_per_second());
    kv("models", mn_profile_count);
    kv("windows", mn_profile_windows);
    kv("arena_bytes", static_cast<int64_t>(arena_bytes()));
    kv("pass", pass);
    end();
    if (resolver == nullptr) {
      flush_log();
      error("resolver", "an op could not be registered");
      return 1;
    }
    for (uint32_t k = 0; k < mn_profile_count; k++) profile_model(k, resolver);
    begin("end");
    kv("models", mn_profile_count);
    kv("pass", pass);
    end();
  }
  return 0;
}
#endif  // MN_PROFILE

extern "C" void mn_fault(const char* what) {
  error("fault", what);
  mn_exit(3);
}

#ifdef MN_DEFINE_MAIN
int main(void) { return micronas_run(); }
#endif
