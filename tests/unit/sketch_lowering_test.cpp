// The C++ lowering (src/sketch/lower_cpp.hpp) against the interpreter: every valid corpus sketch
// is lowered, compiled with the system g++, loaded and run on random inputs, and its outputs are
// compared with interpret()'s. Focused tests cover clamping, reductions across threads, gathers
// out of range, shape mismatches, f16 rounding, constexpr overrides and the prelude's math.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/float16.hpp"
#include "sketch/checker.hpp"
#include "sketch/diagnostics.hpp"
#include "sketch/interpreter.hpp"
#include "sketch/lower_cpp.hpp"
#include "sketch/parser.hpp"

namespace anvil::sketch {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::int64_t>;
using Inputs = std::map<std::string, Array>;
using Entry = int (*)(void* const*, const std::int64_t*);
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- compiling and loading lowered units --------------------------------------------------

// A scratch folder for the generated sources and libraries, removed when the tests end.
struct ScratchDir {
  fs::path path;
  ScratchDir()
      : path(fs::temp_directory_path() / ("anvil_lowering_" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

// A shared library built from `source`. It stays loaded: unloading code that OpenMP's thread
// pool has run crashes libgomp at exit.
struct Library {
  std::shared_ptr<void> handle;
  void* symbol(const std::string& name) const { return ::dlsym(handle.get(), name.c_str()); }
};

// g++ with the candidates' flags; `extra_flags` adds to them, `report` receives g++'s output.
Library compile(const std::string& source, const std::string& stem,
                const std::string& extra_flags = "", std::string* report = nullptr) {
  static int counter = 0;
  ::setenv("OMP_NUM_THREADS", "2", 0);  // before libgomp is first loaded
  const std::string name = stem + "_" + std::to_string(counter++);
  const fs::path cpp = scratch_dir() / (name + ".cpp");
  const fs::path so = scratch_dir() / (name + ".so");
  const fs::path log = scratch_dir() / (name + ".log");
  std::ofstream(cpp) << source;
  const std::string command = "g++ -std=c++20 -O2 -march=native -fopenmp -shared -fPIC " +
                              extra_flags + " -o " + so.string() + " " + cpp.string() + " > " +
                              log.string() + " 2>&1";
  const int status = std::system(command.c_str());
  if (report != nullptr) {
    std::ifstream in(log);
    *report = std::string(std::istreambuf_iterator<char>(in), {});
  }
  if (status != 0) {
    std::ifstream in(log);
    ADD_FAILURE() << "g++ failed on " << cpp << ":\n"
                  << std::string(std::istreambuf_iterator<char>(in), {});
    return {};
  }
  void* handle = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!handle) {
    ADD_FAILURE() << "dlopen: " << ::dlerror();
    return {};
  }
  return Library{std::shared_ptr<void>(handle, [](void*) {})};
}

// ---- sketches and arrays ------------------------------------------------------------------

std::vector<Sketch> parse_checked(const std::string& source, const std::string& path) {
  auto parsed = parse_sketch_source(source, path);
  if (!parsed.ok()) {
    ADD_FAILURE() << render_diagnostics(parsed.diagnostics, source, path);
    return {};
  }
  for (const auto& sketch : parsed.file.sketches) {
    auto diagnostics = check_sketch(sketch);
    if (has_errors(diagnostics)) ADD_FAILURE() << render_diagnostics(diagnostics, source, path);
  }
  return std::move(parsed.file.sketches);
}

Sketch parse_one(const std::string& source) {
  auto sketches = parse_checked(source, "test.sketch");
  return sketches.empty() ? Sketch{} : std::move(sketches[0]);
}

std::int64_t count(const Shape& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// Bytes of an array in the ABI's layout.
std::vector<unsigned char> to_bytes(const Array& array) {
  const std::size_t n = array.data.size();
  std::vector<unsigned char> bytes;
  auto put = [&](auto value) {
    const auto* p = reinterpret_cast<const unsigned char*>(&value);
    bytes.insert(bytes.end(), p, p + sizeof value);
  };
  for (std::size_t i = 0; i < n; ++i) {
    const double x = array.data[i];
    switch (array.dtype) {
      case ScalarType::f32:
        put(static_cast<float>(x));
        break;
      case ScalarType::f64:
        put(x);
        break;
      case ScalarType::f16:
        put(float_to_half(static_cast<float>(x)));
        break;
      case ScalarType::bf16:
        put(float_to_bfloat16(static_cast<float>(x)));
        break;
      case ScalarType::i64:
        put(static_cast<std::int64_t>(x));
        break;
      case ScalarType::i32:
        put(static_cast<std::int32_t>(x));
        break;
      case ScalarType::i8:
        put(static_cast<std::int8_t>(x));
        break;
      case ScalarType::boolean:
        put(static_cast<std::uint8_t>(x != 0));
        break;
    }
  }
  if (bytes.empty()) bytes.resize(8);  // never hand out a null pointer
  return bytes;
}

double element(const std::vector<unsigned char>& bytes, ScalarType dtype, std::size_t i) {
  auto get = [&](auto sample) {
    decltype(sample) value;
    std::memcpy(&value, bytes.data() + i * sizeof value, sizeof value);
    return value;
  };
  switch (dtype) {
    case ScalarType::f32:
      return get(float{});
    case ScalarType::f64:
      return get(double{});
    case ScalarType::f16:
      return half_to_float(get(std::uint16_t{}));
    case ScalarType::bf16:
      return bfloat16_to_float(get(std::uint16_t{}));
    case ScalarType::i64:
      return static_cast<double>(get(std::int64_t{}));
    case ScalarType::i32:
      return get(std::int32_t{});
    case ScalarType::i8:
      return get(std::int8_t{});
    case ScalarType::boolean:
      return get(std::uint8_t{});
  }
  return 0;
}

double tolerance(ScalarType dtype) {
  if (dtype == ScalarType::f16) return 4e-3;
  if (dtype == ScalarType::bf16) return 1.6e-2;
  if (is_float(dtype)) return 1e-4;
  return 0;
}

struct KernelRun {
  int status = -1;
  std::map<std::string, std::vector<unsigned char>> outputs;
};

// Calls the kernel on `inputs`; outputs get the shapes the interpreter gave them (zeroed).
KernelRun call(const Library& library, const CppKernel& kernel, const Sketch& sketch,
               const Inputs& inputs, const std::map<std::string, Array>& expected,
               const std::map<std::string, Shape>& dims_override = {}) {
  KernelRun run;
  auto entry = reinterpret_cast<Entry>(library.symbol(kernel.entry));
  if (!entry) {
    ADD_FAILURE() << "no symbol " << kernel.entry;
    return run;
  }
  std::vector<std::vector<unsigned char>> buffers;
  std::vector<std::int64_t> dims;
  for (const auto& decl : sketch.tensors) {
    const Array* array = nullptr;
    if (auto it = inputs.find(decl.name); it != inputs.end()) array = &it->second;
    if (auto it = expected.find(decl.name); it != expected.end()) array = &it->second;
    if (!array) {
      ADD_FAILURE() << "no array for tensor " << decl.name;
      return run;
    }
    Shape shape = array->shape;
    if (auto it = dims_override.find(decl.name); it != dims_override.end()) shape = it->second;
    dims.insert(dims.end(), shape.begin(), shape.end());
    std::vector<unsigned char> bytes = to_bytes(*array);
    if (expected.count(decl.name)) std::fill(bytes.begin(), bytes.end(), 0);
    buffers.push_back(std::move(bytes));
  }
  std::vector<void*> pointers;
  for (auto& buffer : buffers) pointers.push_back(buffer.data());
  run.status = entry(pointers.data(), dims.data());
  for (std::size_t t = 0; t < sketch.tensors.size(); ++t) {
    if (expected.count(sketch.tensors[t].name)) {
      run.outputs[sketch.tensors[t].name] = buffers[t];
    }
  }
  return run;
}

void expect_close(const std::map<std::string, Array>& expected, const KernelRun& run,
                  const std::string& context) {
  for (const auto& [name, array] : expected) {
    const auto& bytes = run.outputs.at(name);
    const double tol = tolerance(array.dtype);
    int reported = 0;
    for (std::size_t i = 0; i < array.data.size(); ++i) {
      const double want = array.data[i];
      const double got = element(bytes, array.dtype, i);
      const bool same = (std::isnan(want) && std::isnan(got)) || want == got ||
                        std::fabs(got - want) <= tol + tol * std::fabs(want);
      if (!same && reported++ < 5) {
        ADD_FAILURE() << context << ": " << name << "[" << i << "] is " << got << ", want " << want;
      }
    }
  }
}

// ---- random inputs ------------------------------------------------------------------------

// Evaluates a tensor dim over the symbols' values and the constexprs.
std::int64_t eval_dim(const Expr& expr, const std::map<std::string, std::int64_t>& names) {
  switch (expr.kind) {
    case Expr::Kind::integer:
      return expr.int_value;
    case Expr::Kind::name:
      return names.at(expr.text);
    case Expr::Kind::binary: {
      const std::int64_t a = eval_dim(*expr.operands[0], names);
      const std::int64_t b = eval_dim(*expr.operands[1], names);
      if (expr.text == "+") return a + b;
      if (expr.text == "-") return a - b;
      if (expr.text == "*") return a * b;
      if (expr.text == "//") return a / b;
      break;
    }
    default:
      break;
  }
  ADD_FAILURE() << "unsupported dim expression";
  return 1;
}

// Random inputs for every input tensor; integer inputs (gather indices) lie in [0, min symbol).
Inputs random_inputs(const Sketch& sketch, const std::map<std::string, std::int64_t>& symbols,
                     unsigned seed) {
  std::map<std::string, std::int64_t> names = symbols;
  for (const auto& c : sketch.constexprs) {
    if (c.value->kind == Expr::Kind::integer) names[c.name] = c.value->int_value;
  }
  std::int64_t smallest = std::numeric_limits<std::int64_t>::max();
  for (const auto& [name, value] : symbols) smallest = std::min(smallest, value);
  std::mt19937 gen(seed);
  const auto outputs = output_tensor_names(sketch);
  Inputs inputs;
  for (const auto& decl : sketch.tensors) {
    if (std::find(outputs.begin(), outputs.end(), decl.name) != outputs.end()) continue;
    Array array;
    array.dtype = *parse_scalar_type(decl.dtype);
    for (const auto& d : decl.shape) array.shape.push_back(eval_dim(*d, names));
    array.data.resize(static_cast<std::size_t>(count(array.shape)));
    std::uniform_real_distribution<double> real(-2.0, 2.0);
    std::uniform_int_distribution<std::int64_t> integer(0, std::max<std::int64_t>(smallest, 1) - 1);
    for (double& x : array.data) {
      if (is_float(array.dtype)) {
        x = real(gen);
        if (array.dtype == ScalarType::f32) x = static_cast<float>(x);
        if (array.dtype == ScalarType::f16) x = half_to_float(float_to_half(static_cast<float>(x)));
        if (array.dtype == ScalarType::bf16) {
          x = bfloat16_to_float(float_to_bfloat16(static_cast<float>(x)));
        }
      } else if (array.dtype == ScalarType::boolean) {
        x = static_cast<double>(gen() % 2);
      } else {
        x = static_cast<double>(integer(gen));
      }
    }
    inputs[decl.name] = std::move(array);
  }
  return inputs;
}

// Lowers, compiles and runs `sketch` on random inputs for each symbol assignment, comparing
// every output with the interpreter's.
void check_against_interpreter(const Sketch& sketch,
                               const std::vector<std::map<std::string, std::int64_t>>& cases,
                               const LowerOptions& options = {}) {
  CppKernel kernel = lower_to_cpp(sketch, options);
  Library library = compile(kernel.source, sketch.name);
  if (!library.handle) return;
  InterpretOptions interpret_options;
  interpret_options.constexpr_overrides = options.constexpr_overrides;
  unsigned seed = 1;
  for (const auto& symbols : cases) {
    std::string context = sketch.name;
    for (const auto& [name, value] : symbols) context += " " + name + "=" + std::to_string(value);
    const Inputs inputs = random_inputs(sketch, symbols, seed++);
    const auto expected = interpret(sketch, inputs, interpret_options);
    const KernelRun run = call(library, kernel, sketch, inputs, expected);
    ASSERT_EQ(run.status, 0) << context;
    expect_close(expected, run, context);
  }
}

// Symbol values that are no multiple of any tile size, a case where dims are smaller than a
// tile, and one with large rows (1024) to reach the branches for multiples of the tile.
std::vector<std::map<std::string, std::int64_t>> symbol_cases(const Sketch& sketch) {
  const std::vector<std::int64_t> primes = {37, 130, 61};
  const std::vector<std::int64_t> small = {3, 5, 7};
  std::vector<std::map<std::string, std::int64_t>> cases(3);
  for (std::size_t i = 0; i < sketch.symbols.size(); ++i) {
    const std::string& name = sketch.symbols[i].name;
    cases[0][name] = primes[i % primes.size()];
    cases[1][name] = small[i % small.size()];
    cases[2][name] = i == 0 ? 2 : 1024;
  }
  return cases;
}

// ---- the corpus ---------------------------------------------------------------------------

std::vector<std::string> sketch_paths(const fs::path& folder) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".sketch") {
      paths.push_back(entry.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::vector<std::string> valid_corpus() {
  auto paths = sketch_paths(fs::path(ANVIL_SOURCE_DIR) / "tests" / "sketch_corpus" / "valid");
  auto examples = sketch_paths(fs::path(ANVIL_SOURCE_DIR) / "knowledge" / "sketch" / "examples");
  paths.insert(paths.end(), examples.begin(), examples.end());
  return paths;
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class SketchLoweringCorpus : public testing::TestWithParam<std::string> {};

TEST_P(SketchLoweringCorpus, MatchesTheInterpreter) {
  std::ifstream in(GetParam(), std::ios::binary);
  const std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto sketches = parse_checked(source, GetParam());
  ASSERT_FALSE(sketches.empty());
  for (const auto& sketch : sketches) {
    SCOPED_TRACE(sketch.name);
    check_against_interpreter(sketch, symbol_cases(sketch));
  }
}

INSTANTIATE_TEST_SUITE_P(Files, SketchLoweringCorpus, testing::ValuesIn(valid_corpus()), test_name);

TEST(SketchLowering, CorpusIsNotEmpty) { EXPECT_GE(valid_corpus().size(), 14u); }

// ---- focused tests ------------------------------------------------------------------------

Array f32(Shape shape, std::vector<double> data) {
  Array array;
  array.dtype = ScalarType::f32;
  array.shape = std::move(shape);
  for (double& x : data) x = static_cast<float>(x);
  array.data = std::move(data);
  return array;
}

TEST(SketchLowering, TailTileIsPaddedWithMinusInfinity) {
  const Sketch sketch = parse_one(R"(sketch pad_tail {
  symbols: N
  tensors:
    x: [N] f32
    y: [8] f32
    m: [] f32
  tile = alloc([8])
  load(x[3:11] -> tile, pad=-inf)
  store(tile -> y)
  store(reduce_max(tile) -> m)
}
)");
  CppKernel kernel = lower_to_cpp(sketch);
  Library library = compile(kernel.source, "pad_tail");
  ASSERT_TRUE(library.handle);
  const Inputs inputs{{"x", f32({6}, {1, 2, 3, -4, 9, -6})}};
  const auto expected = interpret(sketch, inputs);
  const KernelRun run = call(library, kernel, sketch, inputs, expected);
  ASSERT_EQ(run.status, 0);
  expect_close(expected, run, "pad_tail");
  EXPECT_EQ(element(run.outputs.at("y"), ScalarType::f32, 1), 9.0);
  EXPECT_EQ(element(run.outputs.at("y"), ScalarType::f32, 3), -kInf);
  EXPECT_EQ(element(run.outputs.at("m"), ScalarType::f32, 0), 9.0);
}

TEST(SketchLowering, EmptyClampedSlicesLoadPaddingAndStoreNothing) {
  const Sketch sketch = parse_one(R"(sketch empty_slice {
  symbols: N
  tensors:
    x: [N] f32
    y: [N] f32
    z: [4] f32
  tile = alloc([4])
  load(x[N + 2:N + 6] -> tile, pad=5.0)
  store(tile -> z)
  store(tile -> y[N:N + 4])
  store(x * 2.0 -> y[0:N])
}
)");
  check_against_interpreter(sketch, {{{"N", 6}}, {{"N", 1}}});
}

TEST(SketchLowering, TailTilesAreStoredPartially) {
  const Sketch sketch = parse_one(R"(sketch store_tail {
  symbols: R, C
  tensors:
    x: [R, C] f32
    y: [R, C] f32
  constexpr:
    BR = 4
    BC = 16

  @llm_hint(parallel="grididx")
  for r in range(0, R, BR):
    for c in range(0, C, BC):
      tile = alloc([BR, BC])
      load(x[r:r + BR, c:c + BC] -> tile, pad=1.0)
      store(tile * tile + 1.0 -> y[r:r + BR, c:c + BC])
}
)");
  check_against_interpreter(sketch, {{{"R", 9}, {"C", 37}}, {{"R", 3}, {"C", 5}}});
}

TEST(SketchLowering, ReadOnlyTilesViewTheTensorAndPartialTilesAreCopied) {
  // `a` is only read after its load: full tiles point into x, the tail is copied with its pad.
  // `b` is written after its load and `c` comes from y, which is stored later: both are copies.
  const Sketch sketch = parse_one(R"(sketch tile_views {
  symbols: N
  tensors:
    x: [N] f32
    y: [N] f32
    z: [N] f32
  constexpr:
    B = 16

  for s in range(0, N, B):
    a = alloc([B])
    load(x[s:s + B] -> a, pad=2.0)
    b = alloc([B])
    load(x[s:s + B] -> b)
    b = b * 3.0
    c = alloc([B])
    load(y[s:s + B] -> c)
    store(a + b + c -> y[s:s + B])
    store(a * reduce_sum(a) -> z[s:s + B])
}
)");
  const CppKernel kernel = lower_to_cpp(sketch);
  EXPECT_NE(kernel.source.find("v_a_view = t_x + "), std::string::npos) << kernel.source;
  EXPECT_EQ(kernel.source.find("v_b_view"), std::string::npos) << kernel.source;
  EXPECT_EQ(kernel.source.find("v_c_view"), std::string::npos) << kernel.source;
  check_against_interpreter(sketch, {{{"N", 50}}, {{"N", 64}}, {{"N", 7}}});
}

// Outputs start at zero in the interpreter. A kernel zero-fills an output only when it may read
// an element before storing it; values staged in the output and read back need no extra pass.
TEST(SketchLowering, OutputsReadBeforeStoredAreZeroFilledOthersAreNot) {
  const std::string staged = R"(sketch staged {
  symbols: R, N
  tensors:
    x: [R, N] f32
    y: [R, N] f32
  constexpr:
    B = 16

  @llm_hint(parallel="grididx")
  for i in range(R):
    total = alloc([], dtype=f32)
    for s in range(0, N, B):
      t = alloc([B])
      load(x[i, s:s + B] -> t)
      e = exp(t)
      store(e -> y[i, s:s + B])
      total = total + reduce_sum(e)
    for s in range(0, N, B):
      u = alloc([B])
      load(y[i, s:s + B] -> u)
      store(u / total -> y[i, s:s + B])
}
)";
  const Sketch covered = parse_one(staged);
  const CppKernel fast = lower_to_cpp(covered);
  EXPECT_EQ(fast.source.find("std::memset(static_cast<void*>(t_y)"), std::string::npos);
  check_against_interpreter(covered, {{{"R", 3}, {"N", 40}}, {{"R", 2}, {"N", 16}}});

  // The second loop reads one tile further than the first stored: y's zeros are observable.
  std::string overreach = staged;
  const std::string second = "    for s in range(0, N, B):\n      u = alloc";
  const auto at = overreach.find(second);
  ASSERT_NE(at, std::string::npos);
  overreach.replace(at, second.size(), "    for s in range(0, N + B, B):\n      u = alloc");
  const Sketch uncovered = parse_one(overreach);
  const CppKernel filled = lower_to_cpp(uncovered);
  EXPECT_NE(filled.source.find("std::memset(static_cast<void*>(t_y)"), std::string::npos);
  check_against_interpreter(uncovered, {{{"R", 3}, {"N", 40}}});

  // A store under a condition covers nothing.
  std::string conditional = staged;
  const std::string store = "      store(e -> y[i, s:s + B])";
  const auto store_at = conditional.find(store);
  ASSERT_NE(store_at, std::string::npos);
  conditional.replace(store_at, store.size(), "      if s > 0:\n        store(e -> y[i, s:s + B])");
  const Sketch guarded = parse_one(conditional);
  EXPECT_NE(lower_to_cpp(guarded).source.find("std::memset(static_cast<void*>(t_y)"),
            std::string::npos);
  check_against_interpreter(guarded, {{{"R", 2}, {"N", 40}}});
}

TEST(SketchLowering, ParallelScalarAccumulationBecomesAnOpenMpReduction) {
  const Sketch sketch = parse_one(R"(sketch par_sum {
  symbols: N
  tensors:
    x: [N] f32
    y: [] f32
    top: [] f32

  total = alloc([])
  best = alloc([])
  best = fill(best, -inf)
  @llm_hint(parallel="grididx")
  for i in range(N):
    v = alloc([])
    load(x[i] -> v)
    total = total + v
    best = max(best, v)
  store(total -> y)
  store(best -> top)
}
)");
  CppKernel kernel = lower_to_cpp(sketch);
  EXPECT_NE(kernel.source.find("reduction(+:v_total)"), std::string::npos) << kernel.source;
  EXPECT_NE(kernel.source.find("reduction(anvil_fmax:v_best)"), std::string::npos);
  check_against_interpreter(sketch, {{{"N", 1000}}, {{"N", 3}}});
}

TEST(SketchLowering, ParallelLoopWithACarriedValueRunsSequentially) {
  const Sketch sketch = parse_one(R"(sketch carried {
  symbols: N
  tensors:
    x: [N] f32
    y: [N] f32

  run = alloc([])
  @llm_hint(parallel="grididx")
  for i in range(N):
    v = alloc([])
    load(x[i] -> v)
    run = run * 0.5 + v
    store(run -> y[i])
}
)");
  CppKernel kernel = lower_to_cpp(sketch);
  EXPECT_EQ(kernel.source.find("omp parallel for"), std::string::npos);
  ASSERT_EQ(kernel.notes.size(), 1u);
  EXPECT_NE(kernel.notes[0].find("sequentially"), std::string::npos) << kernel.notes[0];
  check_against_interpreter(sketch, {{{"N", 100}}});
}

constexpr const char* kGather = R"(sketch gather {
  symbols: B, C
  tensors:
    logits: [B, C] f32
    targets: [B] i64
    picked: [B] f32

  @llm_hint(parallel="grididx")
  for row in range(B):
    t = alloc([], dtype=i64)
    load(targets[row] -> t)
    p = alloc([])
    load(logits[row, t] -> p)
    store(p + logits[row, t] -> picked[row])
}
)";

TEST(SketchLowering, GatherMatchesTheInterpreter) {
  check_against_interpreter(parse_one(kGather), {{{"B", 37}, {"C", 61}}});
}

TEST(SketchLowering, GatherOutOfRangeReturnsTwo) {
  const Sketch sketch = parse_one(kGather);
  CppKernel kernel = lower_to_cpp(sketch);
  Library library = compile(kernel.source, "gather_oob");
  ASSERT_TRUE(library.handle);
  Inputs inputs = random_inputs(sketch, {{"B", 4}, {"C", 5}}, 3);
  Array picked;
  picked.dtype = ScalarType::f32;
  picked.shape = {4};
  picked.data.assign(4, 0.0);
  for (double bad : {5.0, 1e9, -1.0}) {
    inputs["targets"].data[2] = bad;
    const KernelRun run = call(library, kernel, sketch, inputs, {{"picked", picked}});
    EXPECT_EQ(run.status, 2) << "target " << bad;
  }
}

TEST(SketchLowering, ShapeMismatchReturnsOne) {
  const Sketch sketch = parse_one(kGather);
  CppKernel kernel = lower_to_cpp(sketch);
  Library library = compile(kernel.source, "gather_shape");
  ASSERT_TRUE(library.handle);
  const Inputs inputs = random_inputs(sketch, {{"B", 4}, {"C", 5}}, 3);
  const auto expected = interpret(sketch, inputs);
  EXPECT_EQ(call(library, kernel, sketch, inputs, expected, {{"targets", {3}}}).status, 1);
  EXPECT_EQ(call(library, kernel, sketch, inputs, expected, {{"picked", {5}}}).status, 1);
  EXPECT_EQ(call(library, kernel, sketch, inputs, expected).status, 0);
}

TEST(SketchLowering, F16IsRoundedAfterEveryOperation) {
  const Sketch sketch = parse_one(R"(sketch half_round {
  symbols: N
  tensors:
    x: [N] f16
    y: [N] f16
    z: [N] f16
  store(x + 0.0004 - x -> y)
  store(x * 3.3 + x / 7.0 -> z)
}
)");
  CppKernel kernel = lower_to_cpp(sketch);
  Library library = compile(kernel.source, "half_round");
  ASSERT_TRUE(library.handle);
  Inputs inputs = random_inputs(sketch, {{"N", 257}}, 5);
  inputs["x"].data[0] = 1.0;
  const auto expected = interpret(sketch, inputs);
  const KernelRun run = call(library, kernel, sketch, inputs, expected);
  ASSERT_EQ(run.status, 0);
  EXPECT_EQ(element(run.outputs.at("y"), ScalarType::f16, 0), 0.0);  // 1 + 0.0004 rounds to 1
  int exact = 0;
  for (std::size_t i = 0; i < 257; ++i) {
    exact += element(run.outputs.at("z"), ScalarType::f16, i) == expected.at("z").data[i];
  }
  EXPECT_GE(exact, 250);
  expect_close(expected, run, "half_round");
}

TEST(SketchLowering, ConstexprOverridesChangeTheTileSize) {
  const std::string path =
      std::string(ANVIL_SOURCE_DIR) + "/knowledge/sketch/examples/rmsnorm.sketch";
  std::ifstream in(path);
  const std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Sketch sketch = std::move(parse_checked(source, path).at(0));
  LowerOptions options;
  options.constexpr_overrides["BLOCK"] = 128;
  const CppKernel plain = lower_to_cpp(sketch);
  const CppKernel small = lower_to_cpp(sketch, options);
  EXPECT_NE(plain.source.find("c_BLOCK = 768"), std::string::npos);
  EXPECT_NE(small.source.find("c_BLOCK = 128"), std::string::npos);
  EXPECT_NE(small.source.find("[128]"), std::string::npos);
  EXPECT_EQ(small.source.find("[768]"), std::string::npos);
  check_against_interpreter(sketch, {{{"M", 5}, {"N", 300}}}, options);
  options.constexpr_overrides["NOPE"] = 1;
  EXPECT_THROW(lower_to_cpp(sketch, options), LoweringError);
}

TEST(SketchLowering, HintsBecomePragmas) {
  const Sketch sketch = parse_one(R"(sketch hints {
  symbols: N
  tensors:
    x: [N] f32
    y: [N] f32
  @llm_hint(vectorize)
  for i in range(N):
    store(x[i] * 2.0 -> y[i])
  @llm_hint(parallel="grididx")
  for i in range(N):
    store(x[i] * 3.0 -> y[i])
}
)");
  const CppKernel kernel = lower_to_cpp(sketch);
  EXPECT_EQ(kernel.entry, "anvil_sketch_hints");
  EXPECT_EQ(kernel.tensors, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(kernel.outputs, (std::vector<std::string>{"y"}));
  const auto simd = kernel.source.find("#pragma omp simd\n");
  const auto parallel = kernel.source.find("#pragma omp parallel for schedule(static)");
  ASSERT_NE(simd, std::string::npos);
  ASSERT_NE(parallel, std::string::npos);
  EXPECT_NE(kernel.source.find("for (std::int64_t i_i", simd), std::string::npos);
  check_against_interpreter(sketch, {{{"N", 37}}});
}

TEST(SketchLowering, NestedParallelLoopsCollapse) {
  const std::string path =
      std::string(ANVIL_SOURCE_DIR) + "/knowledge/sketch/examples/matmul.sketch";
  std::ifstream in(path);
  const std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const CppKernel kernel = lower_to_cpp(parse_checked(source, path).at(0));
  EXPECT_NE(kernel.source.find("collapse(2)"), std::string::npos);
}

TEST(SketchLowering, UnsupportedConstructsThrowWithALocation) {
  const Sketch sketch = parse_one(R"(sketch retype {
  tensors:
    y: [] f32
  s = 1
  s = cast(s, f32) * 2.0
  store(s -> y)
}
)");
  try {
    lower_to_cpp(sketch);
    FAIL() << "expected a LoweringError";
  } catch (const LoweringError& e) {
    EXPECT_EQ(e.loc().line, 5);
    EXPECT_NE(std::string(e.what()).find("new name"), std::string::npos) << e.what();
  }
}

// ---- vectorization ------------------------------------------------------------------------

// Every element loop that calls the prelude's math must vectorize: a helper GCC leaves out of line
// (it once did, for a helper called from two loops) silently turns the loop scalar, 20x slower.
TEST(SketchLowering, ElementLoopsWithPreludeMathVectorize) {
  const Sketch sketch = parse_one(R"(sketch vector_math {
  symbols: N
  tensors:
    x: [N] f32
    y: [N] f32
    total: [] f32
  constexpr:
    BLOCK = 256
  acc = alloc([BLOCK], dtype=f32, llm_hint=["fastest", "accumulator", "init_zero"])
  @llm_hint(vectorize)
  for s in range(0, N - N % BLOCK, BLOCK):
    t = alloc([BLOCK], dtype=f32, llm_hint=["fastest", "input_cache"])
    load(x[s:s + BLOCK] -> t)
    store(gelu(t) + erf(t) + tanh(t) + sigmoid(t) + log(abs(t) + 1) + sqrt(abs(t)) -> y[s:s + BLOCK])
    acc = acc + exp(t)
  for r in range(N - N % BLOCK, N):
    v = alloc([], dtype=f32)
    load(x[r] -> v)
    store(gelu(v) + erf(v) + tanh(v) + sigmoid(v) + log(abs(v) + 1) + sqrt(abs(v)) -> y[r])
  store(reduce_sum(acc) -> total)
}
)");
  CppKernel kernel = lower_to_cpp(sketch);
  std::string report;
  Library library = compile(kernel.source, "vector_math", "-O3 -fopt-info-vec-optimized", &report);
  ASSERT_TRUE(library.handle);
  const Inputs inputs = random_inputs(sketch, {{"N", 1000}}, 11);
  const auto expected = interpret(sketch, inputs);
  const KernelRun run = call(library, kernel, sketch, inputs, expected);
  ASSERT_EQ(run.status, 0);
  expect_close(expected, run, "vector_math");

  // g++ reports "FILE:LINE:COLUMN: optimized: loop vectorized ..." for each vectorized loop.
  std::set<int> vectorized;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("loop vectorized") == std::string::npos) continue;
    const auto colon = line.find(".cpp:");
    if (colon != std::string::npos) vectorized.insert(std::atoi(line.c_str() + colon + 5));
  }
  std::vector<std::string> source;
  std::istringstream text(kernel.source);
  for (std::string line; std::getline(text, line);) source.push_back(line);
  const auto entry = std::find_if(source.begin(), source.end(), [](const std::string& line) {
    return line.find("extern \"C\" int anvil_sketch_vector_math") != std::string::npos;
  });
  ASSERT_NE(entry, source.end());
  int element_loops = 0;
  for (auto at = entry; at != source.end(); ++at) {
    if (at->find("anvil_exp(") == std::string::npos && at->find("anvil_gelu(") == std::string::npos)
      continue;
    auto loop = at;
    while (loop != entry && loop->find("for (") == std::string::npos) --loop;
    const int loop_line = static_cast<int>(loop - source.begin()) + 1;
    if (loop->find("#pragma omp simd") == std::string::npos &&
        (loop - 1)->find("#pragma omp simd") == std::string::npos)
      continue;  // the scalar tail's single element
    ++element_loops;
    // g++ places a loop at its `for` or at a statement of its body.
    const int body_line = static_cast<int>(at - source.begin()) + 1;
    const auto reported = vectorized.lower_bound(loop_line);
    EXPECT_TRUE(reported != vectorized.end() && *reported <= body_line)
        << "the loop at line " << loop_line << " was not vectorized:\n"
        << *loop << "\n"
        << *at << "\ng++ reported:\n"
        << report;
  }
  EXPECT_GE(element_loops, 2);  // the stored chain and the exp accumulation, at least
}

// ---- the prelude's math -------------------------------------------------------------------

TEST(SketchLowering, PreludeMathIsAccurateAndMatchesStdAtTheEdges) {
  const std::string source = cpp_prelude() + R"(
#define WRAP(NAME) extern "C" void test_##NAME(const float* x, float* y, long n) { \
  _Pragma("omp simd") for (long i = 0; i < n; ++i) y[i] = anvil_##NAME(x[i]); }
WRAP(exp) WRAP(log) WRAP(tanh) WRAP(erf) WRAP(sigmoid) WRAP(gelu) WRAP(sqrt) WRAP(rsqrt)
extern "C" void test_dexp(const double* x, double* y, long n) {
  for (long i = 0; i < n; ++i) y[i] = anvil_exp(x[i]); }
extern "C" void test_dlog(const double* x, double* y, long n) {
  for (long i = 0; i < n; ++i) y[i] = anvil_log(x[i]); }
extern "C" void test_dsqrt(const double* x, double* y, long n) {
  for (long i = 0; i < n; ++i) y[i] = anvil_sqrt(x[i]); }
extern "C" void test_half(const float* x, float* y, long n) {
  for (long i = 0; i < n; ++i) y[i] = anvil_h2f(anvil_f2h(x[i])) + anvil_bf2f(anvil_f2bf(x[i])); }
)";
  Library library = compile(source, "prelude_math");
  ASSERT_TRUE(library.handle);
  using FloatFn = void (*)(const float*, float*, long);
  using DoubleFn = void (*)(const double*, double*, long);
  std::vector<float> inputs = {0.0f,  -0.0f, 1e-45f, 1e-38f,  1e-10f,  0.5f,  1.0f,   2.0f,
                               88.0f, 89.0f, -87.0f, -104.0f, -110.0f, 1e30f, -1e30f, 3.4e38f};
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> wide(-20.0f, 20.0f);
  std::uniform_real_distribution<float> exponent(-40.0f, 38.0f);
  for (int i = 0; i < 200000; ++i) inputs.push_back(wide(gen));
  for (int i = 0; i < 200000; ++i) {
    const float magnitude = std::pow(10.0f, exponent(gen));
    inputs.push_back(i % 2 ? magnitude : -magnitude);
  }
  const std::vector<float> edges = {std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::quiet_NaN()};
  inputs.insert(inputs.end(), edges.begin(), edges.end());
  const auto n = static_cast<long>(inputs.size());
  struct Case {
    const char* name;
    std::function<double(double)> reference;
    double max_error;
  };
  const std::vector<Case> cases = {
      {"exp", [](double x) { return std::exp(x); }, 2e-7},
      {"log", [](double x) { return std::log(x); }, 2e-7},
      {"tanh", [](double x) { return std::tanh(x); }, 2e-7},
      {"erf", [](double x) { return std::erf(x); }, 2.5e-7},
      {"sigmoid", [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, 2e-7},
      // The far negative tail is ill-conditioned: erfc(s) scales the rounding of s = x / sqrt 2
      // by 2 s^2, which reaches 1e-5 near x = -12.
      {"gelu", [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }, 2e-5},
      {"sqrt", [](double x) { return std::sqrt(x); }, 6e-8},
      {"rsqrt", [](double x) { return 1.0 / std::sqrt(x); }, 1.2e-7},
  };
  std::vector<float> out(inputs.size());
  for (const auto& c : cases) {
    auto fn = reinterpret_cast<FloatFn>(library.symbol(std::string("test_") + c.name));
    ASSERT_TRUE(fn) << c.name;
    fn(inputs.data(), out.data(), n);
    double worst = 0;
    float worst_x = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const double want_d = c.reference(inputs[i]);
      const auto want = static_cast<float>(want_d);  // what a float result can be at best
      const double got = out[i];
      if (std::isnan(want) || std::isinf(want) || want == 0.0f) {
        const bool same = (std::isnan(want) && std::isnan(got)) || got == want ||
                          (want == 0.0f && std::fabs(got) < 1e-37);
        EXPECT_TRUE(same) << c.name << "(" << inputs[i] << ") = " << got << ", want " << want;
        continue;
      }
      if (std::fabs(want) < 1e-30) continue;  // near-subnormal results carry fewer bits
      const double error = std::fabs(got - want_d) / std::fabs(want_d);
      if (error > worst) {
        worst = error;
        worst_x = inputs[i];
      }
    }
    EXPECT_LE(worst, c.max_error) << c.name << " at " << worst_x;
  }
  // Double versions: exp and log to a few ulps, sqrt correctly rounded in practice.
  std::vector<double> xd;
  for (double x = -745.0; x < 709.0; x += 0.0731) xd.push_back(x);
  std::vector<double> yd(xd.size());
  reinterpret_cast<DoubleFn>(library.symbol("test_dexp"))(xd.data(), yd.data(),
                                                          static_cast<long>(xd.size()));
  for (std::size_t i = 0; i < xd.size(); ++i) {
    const double want = std::exp(xd[i]);
    if (want > 1e-300) {
      EXPECT_NEAR(yd[i] / want, 1.0, 1e-14) << "exp(" << xd[i] << ")";
    }
  }
  xd.clear();
  for (double x = 1e-300; x < 1e300; x *= 1.37) xd.push_back(x);
  yd.resize(xd.size());
  reinterpret_cast<DoubleFn>(library.symbol("test_dlog"))(xd.data(), yd.data(),
                                                          static_cast<long>(xd.size()));
  for (std::size_t i = 0; i < xd.size(); ++i) {
    EXPECT_NEAR(yd[i], std::log(xd[i]), 1e-15 * std::max(1.0, std::fabs(std::log(xd[i]))));
  }
  reinterpret_cast<DoubleFn>(library.symbol("test_dsqrt"))(xd.data(), yd.data(),
                                                           static_cast<long>(xd.size()));
  for (std::size_t i = 0; i < xd.size(); ++i) {
    EXPECT_NEAR(yd[i] / std::sqrt(xd[i]), 1.0, 3e-16) << xd[i];
  }
  // f16 / bf16 conversions agree with src/core/float16.
  std::vector<float> halves;
  for (std::uint32_t bits = 0; bits < 0x10000; bits += 3)
    halves.push_back(half_to_float(static_cast<std::uint16_t>(bits)));
  for (int i = 0; i < 20000; ++i) halves.push_back(wide(gen) * 5000.0f);
  std::vector<float> rounded(halves.size());
  reinterpret_cast<FloatFn>(library.symbol("test_half"))(halves.data(), rounded.data(),
                                                         static_cast<long>(halves.size()));
  for (std::size_t i = 0; i < halves.size(); ++i) {
    const float x = halves[i];
    const float want = half_to_float(float_to_half(x)) + bfloat16_to_float(float_to_bfloat16(x));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(rounded[i]));
    } else {
      EXPECT_EQ(rounded[i], want) << x;
    }
  }
}

}  // namespace
}  // namespace anvil::sketch
