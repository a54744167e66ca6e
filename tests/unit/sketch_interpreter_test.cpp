#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/float16.hpp"
#include "sketch/diagnostics.hpp"
#include "sketch/interpreter.hpp"
#include "sketch/parser.hpp"

namespace anvil::sketch {
namespace {

using Shape = std::vector<std::int64_t>;
using Inputs = std::map<std::string, Array>;
constexpr double kInf = std::numeric_limits<double>::infinity();

Sketch parse_one(const std::string& source) {
  auto parsed = parse_sketch_source(source, "test.sketch");
  if (!parsed.ok() || parsed.file.sketches.empty()) {
    ADD_FAILURE() << render_diagnostics(parsed.diagnostics, source, "test.sketch");
    return {};
  }
  return std::move(parsed.file.sketches[0]);
}

std::map<std::string, Array> run(const std::string& source, const Inputs& inputs,
                                 const InterpretOptions& options = {}) {
  Sketch sketch = parse_one(source);
  return interpret(sketch, inputs, options);
}

Array make(ScalarType dtype, Shape shape, std::vector<double> data) {
  Array array;
  array.dtype = dtype;
  array.shape = std::move(shape);
  array.data = std::move(data);
  return array;
}

Array f32(Shape shape, std::vector<double> data) {
  for (double& x : data) x = static_cast<float>(x);
  return make(ScalarType::f32, std::move(shape), std::move(data));
}

// Deterministic f32 values in [lo, hi).
Array random_f32(Shape shape, unsigned seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<double> data(static_cast<std::size_t>(n));
  for (double& x : data) x = static_cast<float>(dist(gen));
  return make(ScalarType::f32, std::move(shape), std::move(data));
}

// The InterpretError `source` raises on `inputs` (fails the test when none is raised).
InterpretError run_error(const std::string& source, const Inputs& inputs,
                         const InterpretOptions& options = {}) {
  Sketch sketch = parse_one(source);
  try {
    interpret(sketch, inputs, options);
  } catch (const InterpretError& error) {
    return error;
  }
  ADD_FAILURE() << "expected an InterpretError";
  return InterpretError({}, "");
}

void expect_near_all(const Array& actual, const std::vector<double>& expected, double rel) {
  ASSERT_EQ(actual.data.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(actual.data[i], expected[i], rel * std::max(1.0, std::fabs(expected[i])))
        << "element " << i;
  }
}

// ---- the language reference's examples ------------------------------------------------------

// The RMSNorm example of knowledge/sketch/LANGUAGE.md (tests/fixtures/sketches/rmsnorm.sketch).
std::string read_rmsnorm_fixture() {
  std::ifstream in(std::string(ANVIL_SOURCE_DIR) + "/tests/fixtures/sketches/rmsnorm.sketch");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::string kRmsNormText = read_rmsnorm_fixture();
const char* kRmsNorm = kRmsNormText.c_str();

std::vector<double> rmsnorm_reference(const Array& x, const Array& w, double eps) {
  const auto M = x.shape[0], N = x.shape[1];
  std::vector<double> y(x.data.size());
  for (std::int64_t r = 0; r < M; ++r) {
    double sum = 0;
    for (std::int64_t c = 0; c < N; ++c) sum += x.data[r * N + c] * x.data[r * N + c];
    const double scale = 1.0 / std::sqrt(sum / static_cast<double>(N) + eps);
    for (std::int64_t c = 0; c < N; ++c) y[r * N + c] = x.data[r * N + c] * scale * w.data[c];
  }
  return y;
}

TEST(SketchInterpreter, RmsNormWithTailTiles) {
  Array x = random_f32({3, 1000}, 1);
  Array w = random_f32({1000}, 2, 0.5, 1.5);
  auto out = run(kRmsNorm, {{"x", x}, {"weight", w}});
  ASSERT_EQ(out.count("y"), 1u);
  const Array& y = out.at("y");
  EXPECT_EQ(y.dtype, ScalarType::f32);
  EXPECT_EQ(y.shape, (Shape{3, 1000}));
  expect_near_all(y, rmsnorm_reference(x, w, 1e-6), 1e-5);
  for (double v : y.data) EXPECT_EQ(v, static_cast<double>(static_cast<float>(v)));
}

TEST(SketchInterpreter, RmsNormLargeIsFast) {
  Inputs inputs{{"x", random_f32({1024, 4096}, 3)}, {"weight", random_f32({4096}, 4, 0.5, 1.5)}};
  const Array& x = inputs.at("x");
  const Array& w = inputs.at("weight");
  Sketch sketch = parse_one(kRmsNorm);
  auto begin = std::chrono::steady_clock::now();
  auto out = interpret(sketch, inputs);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::cout << "[ timing   ] interpret rmsnorm 1024x4096 BLOCK=256: " << seconds * 1000 << " ms\n";
  RecordProperty("rmsnorm_1024x4096_ms", std::to_string(seconds * 1000));
  auto expected = rmsnorm_reference(x, w, 1e-6);
  const Array& y = out.at("y");
  ASSERT_EQ(y.data.size(), expected.size());
  double worst = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    worst =
        std::max(worst, std::fabs(y.data[i] - expected[i]) / std::max(1.0, std::fabs(expected[i])));
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_LT(seconds, 20.0)
      << "generous bound so sanitizer builds pass; RelWithDebInfo is far below";
}

const char* kSoftmax = R"(
sketch softmax {
  symbols: M, N
  tensors:
    x: [M, N] f32
    y: [M, N] f32
  constexpr:
    BLOCK = 1024

  @llm_hint(parallel="grididx")
  for row in range(M):
    row_max = alloc([], llm_hint=["fastest"])
    row_max = fill(row_max, -inf)
    for start in range(0, N, BLOCK):
      tile = alloc([BLOCK], llm_hint=["fastest", "input_cache"])
      load(x[row, start:start + BLOCK] -> tile, pad=-inf)
      row_max = max(row_max, reduce_max(tile))
    total = alloc([], llm_hint=["fastest", "accumulator", "init_zero"])
    for start in range(0, N, BLOCK):
      tile = alloc([BLOCK])
      load(x[row, start:start + BLOCK] -> tile, pad=-inf)
      total = total + reduce_sum(exp(tile - row_max))
    for start in range(0, N, BLOCK):
      tile = alloc([BLOCK])
      load(x[row, start:start + BLOCK] -> tile)
      store(exp(tile - row_max) / total -> y[row, start:start + BLOCK])
}
)";

std::vector<double> softmax_reference(const Array& x) {
  const auto M = x.shape[0], N = x.shape[1];
  std::vector<double> y(x.data.size());
  for (std::int64_t r = 0; r < M; ++r) {
    double m = -kInf, sum = 0;
    for (std::int64_t c = 0; c < N; ++c) m = std::max(m, x.data[r * N + c]);
    for (std::int64_t c = 0; c < N; ++c) sum += std::exp(x.data[r * N + c] - m);
    for (std::int64_t c = 0; c < N; ++c) y[r * N + c] = std::exp(x.data[r * N + c] - m) / sum;
  }
  return y;
}

TEST(SketchInterpreter, SoftmaxOneTailTile) {
  Array x = random_f32({3, 1000}, 5, -4, 4);  // N < BLOCK: one clamped tile padded with -inf
  auto out = run(kSoftmax, {{"x", x}});
  expect_near_all(out.at("y"), softmax_reference(x), 1e-5);
}

TEST(SketchInterpreter, SoftmaxSeveralTilesWithOverriddenBlock) {
  Array x = random_f32({4, 1000}, 6, -4, 4);
  InterpretOptions options;
  options.constexpr_overrides["BLOCK"] = 256;
  auto out = run(kSoftmax, {{"x", x}}, options);
  expect_near_all(out.at("y"), softmax_reference(x), 1e-5);
  double row_sum = 0;
  for (int c = 0; c < 1000; ++c) row_sum += out.at("y").data[static_cast<std::size_t>(c)];
  EXPECT_NEAR(row_sum, 1.0, 1e-5);
}

const char* kMatmul = R"(
sketch matmul {
  symbols: M, N, K
  tensors:
    a: [M, K] f32
    b: [K, N] f32
    c: [M, N] f32
  constexpr:
    BM = 64
    BN = 64
    BK = 32

  @llm_hint(parallel="grididx")
  for m in range(0, M, BM):
    @llm_hint(parallel="blockidx")
    for n in range(0, N, BN):
      acc = alloc([BM, BN], llm_hint=["fastest", "accumulator", "init_zero"])
      @llm_hint(pipeline=2)
      for k in range(0, K, BK):
        a_tile = alloc([BM, BK], llm_hint=["fast", "input_cache"])
        b_tile = alloc([BK, BN], llm_hint=["fast", "input_cache"])
        load(a[m:m + BM, k:k + BK] -> a_tile)
        load(b[k:k + BK, n:n + BN] -> b_tile)
        acc = gemm(a_tile, b_tile, acc)
      store(acc -> c[m:m + BM, n:n + BN])
}
)";

TEST(SketchInterpreter, MatmulWithTailTilesInEveryDimension) {
  const std::int64_t M = 70, N = 100, K = 45;
  Array a = random_f32({M, K}, 7);
  Array b = random_f32({K, N}, 8);
  auto out = run(kMatmul, {{"a", a}, {"b", b}});
  const Array& c = out.at("c");
  ASSERT_EQ(c.shape, (Shape{M, N}));
  std::vector<double> expected(static_cast<std::size_t>(M * N));
  for (std::int64_t i = 0; i < M; ++i) {
    for (std::int64_t j = 0; j < N; ++j) {
      double sum = 0;
      for (std::int64_t k = 0; k < K; ++k) sum += a.data[i * K + k] * b.data[k * N + j];
      expected[static_cast<std::size_t>(i * N + j)] = sum;
    }
  }
  expect_near_all(c, expected, 1e-5);
}

// ---- elementwise, dtypes, broadcasting ------------------------------------------------------

TEST(SketchInterpreter, ElementwiseBroadcastingAndWeakLiterals) {
  const char* source = R"(
sketch bias {
  symbols: M, N
  tensors:
    x: [M, N] f32
    b: [N] f32
    col: [M, 1] f32
    y: [M, N] f32
    z: [M, N] f32
  store(x * 2 + b -> y)
  store(sub(x, col) / 4 -> z)
}
)";
  Array x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Array b = f32({3}, {10, 20, 30});
  Array col = f32({2, 1}, {1, -1});
  auto out = run(source, {{"x", x}, {"b", b}, {"col", col}});
  EXPECT_EQ(out.at("y").data, (std::vector<double>{12, 24, 36, 18, 30, 42}));
  EXPECT_EQ(out.at("z").data, (std::vector<double>{0, 0.25, 0.5, 1.25, 1.5, 1.75}));
  EXPECT_EQ(out.at("y").dtype, ScalarType::f32);
}

TEST(SketchInterpreter, F32RoundsAfterEachOperationWhileF64DoesNot) {
  const char* source = R"(
sketch tiny {
  tensors:
    a: [2] f32
    b: [2] f64
    c: [2] f16
    ya: [2] f32
    yb: [2] f64
    yc: [2] f16
    third: [] f32
  store(a + 1e-8 -> ya)
  store(b + 1e-8 -> yb)
  store(c + 0.0001 -> yc)
  one = alloc([])
  store(fill(one, 1) / 3 -> third)
}
)";
  auto out = run(source, {{"a", f32({2}, {1, 2})},
                          {"b", make(ScalarType::f64, {2}, {1, 2})},
                          {"c", make(ScalarType::f16, {2}, {1, 2})}});
  EXPECT_EQ(out.at("ya").data, (std::vector<double>{1, 2}));  // 1 + 1e-8 rounds back to 1 in f32
  EXPECT_EQ(out.at("yb").data[0], 1 + 1e-8);
  EXPECT_EQ(out.at("yb").data[1], 2 + 1e-8);
  EXPECT_EQ(out.at("yc").data, (std::vector<double>{1, 2}));  // below half an f16 ulp at 1.0
  EXPECT_EQ(out.at("third").data[0], static_cast<double>(1.0f / 3.0f));
  EXPECT_NE(out.at("third").data[0], 1.0 / 3.0);
}

TEST(SketchInterpreter, MathFunctionsCastWhereAndComparisons) {
  const char* source = R"(
sketch mathy {
  tensors:
    x: [4] f64
    act: [4, 4] f64
    mask: [4] bool
    picked: [4] f64
    as_int: [4] i32
    half: [4] f16
  store(relu(x) -> act[0, :])
  store(sigmoid(x) -> act[1, :])
  store(gelu(x) -> act[2, :])
  store(max(x, 0.5) -> act[3, :])
  store(x > 0 -> mask)
  store(where(x > 0 and x < 2, x, -1) -> picked)
  store(cast(x * 3, i32) -> as_int)
  store(cast(x / 3, f16) -> half)
}
)";
  std::vector<double> xs{-1.5, 0, 1, 2.75};
  auto out = run(source, {{"x", make(ScalarType::f64, {4}, xs)}});
  const auto& act = out.at("act").data;
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(act[i], std::max(xs[i], 0.0));
    EXPECT_NEAR(act[4 + i], 1 / (1 + std::exp(-xs[i])), 1e-15);
    EXPECT_NEAR(act[8 + i], 0.5 * xs[i] * (1 + std::erf(xs[i] / std::sqrt(2.0))), 1e-15);
    EXPECT_EQ(act[12 + i], std::max(xs[i], 0.5));
  }
  EXPECT_EQ(out.at("mask").data, (std::vector<double>{0, 0, 1, 1}));
  EXPECT_EQ(out.at("picked").data, (std::vector<double>{-1, -1, 1, -1}));
  EXPECT_EQ(out.at("as_int").data, (std::vector<double>{-4, 0, 3, 8}));  // truncation
  EXPECT_EQ(out.at("half").data[2], half_to_float(float_to_half(1.0f / 3.0f)));
}

TEST(SketchInterpreter, MaxAndMinPropagateNaN) {
  const char* source = R"(
sketch nanny {
  tensors:
    x: [3] f32
    hi: [3] f32
    lo: [3] f32
    top: [] f32
  store(max(x, 1) -> hi)
  store(min(x, 1) -> lo)
  store(reduce_max(x) -> top)
}
)";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto out = run(source, {{"x", f32({3}, {0, nan, 2})}});
  EXPECT_EQ(out.at("hi").data[0], 1);
  EXPECT_TRUE(std::isnan(out.at("hi").data[1]));
  EXPECT_EQ(out.at("hi").data[2], 2);
  EXPECT_TRUE(std::isnan(out.at("lo").data[1]));
  EXPECT_TRUE(std::isnan(out.at("top").data[0]));
}

TEST(SketchInterpreter, IntegerFloorDivisionAndModuloArePythonStyle) {
  const char* source = R"(
sketch ints {
  tensors:
    x: [4] i64
    q: [4] i64
    r: [4] i64
    chunks: [] i64
  store(x // 3 -> q)
  store(x % 3 -> r)
  store(ceil(10, 4) + max(2, 5) * min(3, 1) -> chunks)
}
)";
  auto out = run(source, {{"x", make(ScalarType::i64, {4}, {7, -7, 6, -1})}});
  EXPECT_EQ(out.at("q").data, (std::vector<double>{2, -3, 2, -1}));
  EXPECT_EQ(out.at("r").data, (std::vector<double>{1, 2, 0, 2}));
  EXPECT_EQ(out.at("chunks").data, (std::vector<double>{3 + 5}));
}

TEST(SketchInterpreter, IntegerDtypesWrapAndRejectTrueDivision) {
  const char* wrap = R"(
sketch wrap {
  tensors:
    x: [2] i8
    y: [2] i8
  store(x + 100 -> y)
}
)";
  auto out = run(wrap, {{"x", make(ScalarType::i8, {2}, {100, -100})}});
  EXPECT_EQ(out.at("y").data, (std::vector<double>{-56, 0}));

  const char* divide = R"(
sketch divide {
  symbols: N
  tensors:
    x: [N] i32
    y: [N] i32
  store(x / 2 -> y)
}
)";
  auto error = run_error(divide, {{"x", make(ScalarType::i32, {2}, {4, 6})}});
  EXPECT_NE(std::string(error.what()).find("use '//'"), std::string::npos) << error.what();
  EXPECT_EQ(error.loc().line, 7);
}

TEST(SketchInterpreter, MismatchedStrongDtypesNeedACast) {
  const char* source = R"(
sketch mixed {
  tensors:
    a: [2] f32
    b: [2] f16
    y: [2] f32
  store(a + b -> y)
}
)";
  auto error =
      run_error(source, {{"a", f32({2}, {1, 2})}, {"b", make(ScalarType::f16, {2}, {1, 2})}});
  EXPECT_NE(std::string(error.what()).find("f32 and f16"), std::string::npos) << error.what();
  EXPECT_EQ(error.loc().line, 7);

  const char* store_mismatch = R"(
sketch mixed {
  tensors:
    a: [2] f32
    y: [2] f16
  store(a -> y)
}
)";
  auto store_error = run_error(store_mismatch, {{"a", f32({2}, {1, 2})}});
  EXPECT_NE(std::string(store_error.what()).find("cast"), std::string::npos) << store_error.what();
}

// ---- load, store, clamping ------------------------------------------------------------------

TEST(SketchInterpreter, ClampedLoadPadsTheTailAndAFullyOutOfRangeTile) {
  const char* source = R"(
sketch tails {
  tensors:
    x: [10] f32
    y: [3, 4] f32
  constexpr:
    B = 4
  tile = alloc([B])
  load(x[8:8 + B] -> tile, pad=-inf)
  store(tile -> y[0, :])
  load(x[12:12 + B] -> tile, pad=-inf)
  store(tile -> y[1, :])
  load(x[6:6 + B] -> tile, pad=-inf)
  store(tile -> y[2, :])
}
)";
  std::vector<double> xs{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto out = run(source, {{"x", f32({10}, xs)}});
  EXPECT_EQ(out.at("y").data,
            (std::vector<double>{8, 9, -kInf, -kInf, -kInf, -kInf, -kInf, -kInf, 6, 7, 8, 9}));
}

TEST(SketchInterpreter, ClampedLoadIn2DPadsBothDimensionsWithZero) {
  const char* source = R"(
sketch tile2d {
  tensors:
    x: [3, 3] f32
    y: [2, 2] f32
  t = alloc([2, 2])
  load(x[2:4, 1:3] -> t)
  store(t -> y)
}
)";
  auto out = run(source, {{"x", f32({3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8})}});
  EXPECT_EQ(out.at("y").data, (std::vector<double>{7, 8, 0, 0}));
}

TEST(SketchInterpreter, ClampedStoreWritesOnlyInBounds) {
  const char* source = R"(
sketch store_tail {
  tensors:
    y: [10] f32
    z: [2, 3] f32
  constexpr:
    B = 4
  t = alloc([B])
  t = fill(t, 7)
  store(t -> y[8:8 + B])
  store(t -> y[20:20 + B])
  store(2 -> y[0:10:3])
  s = alloc([2, 2])
  s = fill(s, 5)
  store(s -> z[1:3, 2:4])
}
)";
  auto out = run(source, {});
  EXPECT_EQ(out.at("y").data, (std::vector<double>{2, 0, 0, 2, 0, 0, 2, 0, 7, 2}));
  EXPECT_EQ(out.at("z").data, (std::vector<double>{0, 0, 0, 0, 0, 5}));
}

TEST(SketchInterpreter, LoadIntoASliceOfABufferAndStoreIntoABuffer) {
  const char* source = R"(
sketch buffers {
  tensors:
    x: [6] f32
    y: [2, 4] f32
  buf = alloc([2, 4])
  load(x[0:4] -> buf[0, :])
  load(x[4:8] -> buf[1, :], pad=-1)
  store(buf[0, 1:3] * 10 -> buf[1, 2:4])
  store(buf -> y)
}
)";
  auto out = run(source, {{"x", f32({6}, {1, 2, 3, 4, 5, 6})}});
  EXPECT_EQ(out.at("y").data, (std::vector<double>{1, 2, 3, 4, 5, 6, 20, 30}));
}

TEST(SketchInterpreter, ExpressionReadsOfSlicesAreClamped) {
  const char* source = R"(
sketch reads {
  tensors:
    x: [2, 5] f32
    total: [] f32
    width: [] i64
    y: [5] f32
  part = x[1, 3:8]
  store(reduce_sum(part) -> total)
  count = reduce_sum(cast(part == part, i64))
  store(count -> width)
  store(x[1, 3:8] + 1 -> y[3:8])
}
)";
  auto out = run(source, {{"x", f32({2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}});
  EXPECT_EQ(out.at("total").data, (std::vector<double>{17}));
  EXPECT_EQ(out.at("width").data, (std::vector<double>{2}));
  EXPECT_EQ(out.at("y").data, (std::vector<double>{0, 0, 0, 9, 10}));
}

TEST(SketchInterpreter, LoadShapeMismatchNamesBothShapesAndTheLine) {
  const char* source = R"(
sketch bad {
  symbols: N
  tensors:
    x: [N] f32
    y: [N] f32
  tile = alloc([32])
  load(x[0:64] -> tile)
  store(tile -> y[0:32])
}
)";
  auto error = run_error(source, {{"x", f32({100}, std::vector<double>(100, 1))}});
  EXPECT_EQ(std::string(error.what()),
            "load: source slice 'x' is [64] but the destination buffer 'tile' is [32]");
  EXPECT_EQ(error.loc().line, 8);
}

TEST(SketchInterpreter, NegativeAndOutOfRangeIndicesAreErrors) {
  const char* negative = R"(
sketch neg {
  tensors:
    x: [8] f32
    y: [4] f32
  t = alloc([4])
  load(x[0 - 2:2] -> t)
  store(t -> y)
}
)";
  auto error = run_error(negative, {{"x", f32({8}, std::vector<double>(8, 1))}});
  EXPECT_NE(std::string(error.what()).find("negative"), std::string::npos) << error.what();
  EXPECT_EQ(error.loc().line, 7);

  const char* past = R"(
sketch past {
  tensors:
    x: [2, 4] f32
    y: [4] f32
  t = alloc([4])
  load(x[2, :] -> t)
  store(t -> y)
}
)";
  auto past_error = run_error(past, {{"x", f32({2, 4}, std::vector<double>(8, 1))}});
  EXPECT_NE(std::string(past_error.what()).find("past the end"), std::string::npos)
      << past_error.what();
}

TEST(SketchInterpreter, LoadIntoATensorIsAnError) {
  const char* source = R"(
sketch into_tensor {
  tensors:
    x: [4] f32
    y: [4] f32
  load(x -> y)
  store(x -> y)
}
)";
  auto error = run_error(source, {{"x", f32({4}, {1, 2, 3, 4})}});
  EXPECT_NE(std::string(error.what()).find("is a tensor"), std::string::npos) << error.what();
}

// ---- reductions, scans, gemm ----------------------------------------------------------------

TEST(SketchInterpreter, ReductionsWithAxisAndKeepdims) {
  const char* source = R"(
sketch reductions {
  tensors:
    x: [2, 3] f32
    col_sum: [3] f32
    row_max: [2, 1] f32
    mean_all: [] f32
    last_min: [2] f32
    prod_all: [1, 1] f32
  store(reduce_sum(x, 0) -> col_sum)
  store(reduce_max(x, axis=1, keepdims=True) -> row_max)
  store(reduce_mean(x) -> mean_all)
  store(reduce_min(x, axis=-1) -> last_min)
  store(reduce_prod(x, keepdims=True) -> prod_all)
}
)";
  auto out = run(source, {{"x", f32({2, 3}, {1, 5, 3, -4, 2, 6})}});
  EXPECT_EQ(out.at("col_sum").data, (std::vector<double>{-3, 7, 9}));
  EXPECT_EQ(out.at("row_max").data, (std::vector<double>{5, 6}));
  EXPECT_EQ(out.at("mean_all").data[0], static_cast<double>(13.0f / 6.0f));
  EXPECT_EQ(out.at("last_min").data, (std::vector<double>{1, -4}));
  EXPECT_EQ(out.at("prod_all").data, (std::vector<double>{-720}));
}

TEST(SketchInterpreter, ReductionShapesAreChecked) {
  const char* source = R"(
sketch keep {
  tensors:
    x: [2, 3] f32
    y: [2] f32
  store(reduce_sum(x, axis=1, keepdims=True) -> y)
}
)";
  // [2, 1] does not broadcast to [2].
  auto error = run_error(source, {{"x", f32({2, 3}, {1, 2, 3, 4, 5, 6})}});
  EXPECT_NE(std::string(error.what()).find("[2, 1]"), std::string::npos) << error.what();

  const char* axis = R"(
sketch axis {
  tensors:
    x: [2, 3] f32
    y: [2] f32
  store(reduce_sum(x, axis=2) -> y)
}
)";
  auto axis_error = run_error(axis, {{"x", f32({2, 3}, {1, 2, 3, 4, 5, 6})}});
  EXPECT_NE(std::string(axis_error.what()).find("out of range"), std::string::npos);
}

TEST(SketchInterpreter, ArgmaxAndArgminTakeTheFirstExtreme) {
  const char* source = R"(
sketch arg {
  tensors:
    x: [2, 4] f32
    row_argmax: [2] i64
    col_argmin: [4] i64
    flat: [] i64
  store(argmax(x, axis=1) -> row_argmax)
  store(argmin(x, 0) -> col_argmin)
  store(argmax(x) -> flat)
}
)";
  auto out = run(source, {{"x", f32({2, 4}, {3, 7, 7, 1, 9, 2, 9, 1})}});
  EXPECT_EQ(out.at("row_argmax").data, (std::vector<double>{1, 0}));
  EXPECT_EQ(out.at("col_argmin").data, (std::vector<double>{0, 1, 0, 0}));
  EXPECT_EQ(out.at("flat").data, (std::vector<double>{4}));
  EXPECT_EQ(out.at("flat").dtype, ScalarType::i64);
}

TEST(SketchInterpreter, CumsumAndCumprodAreInclusive) {
  const char* source = R"(
sketch scans {
  tensors:
    x: [2, 3] f32
    rows: [2, 3] f32
    cols: [2, 3] f32
    prods: [2, 3] f32
  store(cumsum(x) -> rows)
  store(cumsum(x, axis=0) -> cols)
  store(cumprod(x, -1) -> prods)
}
)";
  auto out = run(source, {{"x", f32({2, 3}, {1, 2, 3, 4, 5, 6})}});
  EXPECT_EQ(out.at("rows").data, (std::vector<double>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(out.at("cols").data, (std::vector<double>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(out.at("prods").data, (std::vector<double>{1, 2, 6, 4, 20, 120}));
}

TEST(SketchInterpreter, GemmWithTransposesAndAccumulator) {
  const char* source = R"(
sketch gemms {
  tensors:
    a: [2, 3] f64
    at: [3, 2] f64
    b: [3, 2] f64
    bt: [2, 3] f64
    bias: [2] f64
    plain: [2, 2] f64
    both: [2, 2] f64
    with_c: [2, 2] f64
  store(gemm(a, b) -> plain)
  store(gemm(at, bt, trans_a=True, trans_b=True) -> both)
  store(gemm(a, bt, c=bias, trans_b=True) -> with_c)
}
)";
  std::vector<double> a{1, 2, 3, 4, 5, 6};      // [2, 3]
  std::vector<double> at{1, 4, 2, 5, 3, 6};     // a transposed, [3, 2]
  std::vector<double> b{7, 8, 9, 10, 11, 12};   // [3, 2]
  std::vector<double> bt{7, 9, 11, 8, 10, 12};  // b transposed, [2, 3]
  auto out = run(source, {{"a", make(ScalarType::f64, {2, 3}, a)},
                          {"at", make(ScalarType::f64, {3, 2}, at)},
                          {"b", make(ScalarType::f64, {3, 2}, b)},
                          {"bt", make(ScalarType::f64, {2, 3}, bt)},
                          {"bias", make(ScalarType::f64, {2}, {100, 200})}});
  const std::vector<double> product{58, 64, 139, 154};
  EXPECT_EQ(out.at("plain").data, product);
  EXPECT_EQ(out.at("both").data, product);
  EXPECT_EQ(out.at("with_c").data, (std::vector<double>{158, 264, 239, 354}));
}

// ---- names, scopes, control flow ------------------------------------------------------------

TEST(SketchInterpreter, OuterAccumulatorIsUpdatedInsideLoopsAndIfs) {
  const char* source = R"(
sketch scoping {
  tensors:
    x: [10] f32
    total: [] f32
    evens: [] f32
  acc = alloc([], llm_hint=["init_zero"])
  even = alloc([], llm_hint=["init_zero"])
  for i in range(10):
    v = x[i]
    acc = acc + v
    if i % 2 == 0:
      even = even + v
    elif i == 9:
      even = even + 0
    else:
      even = even + 0
  store(acc -> total)
  store(even -> evens)
}
)";
  auto out = run(source, {{"x", f32({10}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})}});
  EXPECT_EQ(out.at("total").data, (std::vector<double>{55}));
  EXPECT_EQ(out.at("evens").data, (std::vector<double>{1 + 3 + 5 + 7 + 9}));
}

TEST(SketchInterpreter, NamesAssignedInABlockAreLocalToIt) {
  const char* source = R"(
sketch local {
  tensors:
    x: [4] f32
    y: [4] f32
  for i in range(2):
    tmp = x * 2
  store(tmp -> y)
}
)";
  auto error = run_error(source, {{"x", f32({4}, {1, 2, 3, 4})}});
  EXPECT_NE(std::string(error.what()).find("unknown name 'tmp'"), std::string::npos)
      << error.what();
  EXPECT_EQ(error.loc().line, 8);
}

TEST(SketchInterpreter, RangeWithStepAndStoreMutatesABufferInPlace) {
  const char* source = R"(
sketch ranges {
  tensors:
    y: [8] i32
  buf = alloc([8], dtype=i32)
  for i in range(1, 8, 3):
    store(i -> buf[i])
  for i in range(4, 8, 3):
    store(buf[i] + 100 -> buf[i])
  store(buf -> y)
}
)";
  auto out = run(source, {});
  EXPECT_EQ(out.at("y").data, (std::vector<double>{0, 1, 0, 0, 104, 0, 0, 107}));
  EXPECT_EQ(out.at("y").dtype, ScalarType::i32);

  const char* backwards = R"(
sketch backwards {
  tensors:
    y: [8] f32
  for i in range(7, 0, 0 - 1):
    store(1 -> y[i])
}
)";
  auto error = run_error(backwards, {});
  EXPECT_NE(std::string(error.what()).find("step must be positive"), std::string::npos)
      << error.what();
  EXPECT_EQ(error.loc().line, 5);
}

TEST(SketchInterpreter, WeakFloatsDoNotSilentlyTruncateIntoIntegers) {
  const char* source = R"(
sketch halves {
  tensors:
    x: [2] i32
    y: [2] i32
  store(x * 0.5 -> y)
}
)";
  auto error = run_error(source, {{"x", make(ScalarType::i32, {2}, {2, 4})}});
  EXPECT_NE(std::string(error.what()).find("cast"), std::string::npos) << error.what();
}

TEST(SketchInterpreter, Bf16RoundsEveryResult) {
  const char* source = R"(
sketch brain {
  tensors:
    x: [2] bf16
    y: [2] bf16
    s: [] bf16
  store(x / 3 -> y)
  store(reduce_sum(x) -> s)
}
)";
  auto out = run(source, {{"x", make(ScalarType::bf16, {2}, {1, 256})}});
  EXPECT_EQ(out.at("y").data[0], bfloat16_to_float(float_to_bfloat16(1.0f / 3.0f)));
  EXPECT_EQ(out.at("y").data[1], bfloat16_to_float(float_to_bfloat16(256.0f / 3.0f)));
  EXPECT_EQ(out.at("s").data[0], 256);  // 257 is not a bf16 value: rounds to 256
}

TEST(SketchInterpreter, ConditionsMustBeScalars) {
  const char* source = R"(
sketch cond {
  tensors:
    x: [2] f32
    y: [2] f32
  if x > 0:
    store(x -> y)
}
)";
  auto error = run_error(source, {{"x", f32({2}, {1, 2})}});
  EXPECT_NE(std::string(error.what()).find("scalar"), std::string::npos) << error.what();
  EXPECT_EQ(error.loc().line, 6);
}

// ---- symbols, inputs, constexprs ------------------------------------------------------------

TEST(SketchInterpreter, SymbolsAreInferredAndCheckedAgainstExpressions) {
  const char* source = R"(
sketch gates {
  symbols: B, H
  tensors:
    x: [B, 4 * H] f32
    h: [H] f32
    y: [B, H] f32
  for b in range(B):
    store(x[b, 0:H] + h -> y[b, :])
}
)";
  auto out =
      run(source, {{"x", f32({2, 8}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})},
                   {"h", f32({2}, {100, 200})}});
  EXPECT_EQ(out.at("y").shape, (Shape{2, 2}));
  EXPECT_EQ(out.at("y").data, (std::vector<double>{101, 202, 109, 210}));

  auto error = run_error(
      source, {{"x", f32({2, 8}, std::vector<double>(16, 0))}, {"h", f32({3}, {1, 2, 3})}});
  EXPECT_NE(std::string(error.what()).find("[2, 8]"), std::string::npos) << error.what();
  EXPECT_EQ(error.loc().line, 5);

  // H solved from `4 * H` alone.
  const char* solved = R"(
sketch solved {
  symbols: H
  tensors:
    x: [4 * H] f32
    y: [H] f32
  store(x[0:H] -> y)
}
)";
  auto out2 = run(solved, {{"x", f32({8}, {1, 2, 3, 4, 5, 6, 7, 8})}});
  EXPECT_EQ(out2.at("y").data, (std::vector<double>{1, 2}));
}

TEST(SketchInterpreter, SymbolBoundTwiceMissingInputAndDtypeMismatch) {
  const char* source = R"(
sketch add {
  symbols: N
  tensors:
    a: [N] f32
    b: [N] f32
    y: [N] f32
  store(a + b -> y)
}
)";
  auto twice = run_error(source, {{"a", f32({3}, {1, 2, 3})}, {"b", f32({4}, {1, 2, 3, 4})}});
  EXPECT_NE(std::string(twice.what()).find("symbol N is 3"), std::string::npos) << twice.what();
  EXPECT_EQ(twice.loc().line, 6);

  auto missing = run_error(source, {{"a", f32({3}, {1, 2, 3})}});
  EXPECT_NE(std::string(missing.what()).find("'b' was not given"), std::string::npos)
      << missing.what();

  auto dtype =
      run_error(source, {{"a", f32({3}, {1, 2, 3})}, {"b", make(ScalarType::f64, {3}, {1, 2, 3})}});
  EXPECT_NE(std::string(dtype.what()).find("declared f32"), std::string::npos) << dtype.what();

  auto rank = run_error(source, {{"a", f32({3}, {1, 2, 3})}, {"b", f32({3, 1}, {1, 2, 3})}});
  EXPECT_NE(std::string(rank.what()).find("rank 1"), std::string::npos) << rank.what();

  auto extra = run_error(
      source, {{"a", f32({3}, {1, 2, 3})}, {"b", f32({3}, {1, 2, 3})}, {"y", f32({3}, {1, 2, 3})}});
  EXPECT_NE(std::string(extra.what()).find("output"), std::string::npos) << extra.what();
}

TEST(SketchInterpreter, ConstexprOverridesReplaceValuesInOrder) {
  const char* source = R"(
sketch scaled {
  tensors:
    x: [4] f32
    y: [4] f32
    tiles: [] i64
  constexpr:
    SCALE = 2.0
    BLOCK = 2
    COUNT = 4 // BLOCK
  store(x * SCALE -> y)
  store(COUNT -> tiles)
}
)";
  Inputs inputs{{"x", f32({4}, {1, 2, 3, 4})}};
  auto plain = run(source, inputs);
  EXPECT_EQ(plain.at("y").data, (std::vector<double>{2, 4, 6, 8}));
  EXPECT_EQ(plain.at("tiles").data, (std::vector<double>{2}));

  InterpretOptions options;
  options.constexpr_overrides = {{"SCALE", 0.5}, {"BLOCK", 1}};
  auto overridden = run(source, inputs, options);
  EXPECT_EQ(overridden.at("y").data, (std::vector<double>{0.5, 1, 1.5, 2}));
  EXPECT_EQ(overridden.at("tiles").data, (std::vector<double>{4}));  // COUNT uses the new BLOCK

  InterpretOptions unknown;
  unknown.constexpr_overrides = {{"BLOK", 4}};
  auto error = run_error(source, inputs, unknown);
  EXPECT_NE(std::string(error.what()).find("'BLOK'"), std::string::npos) << error.what();

  InterpretOptions fractional;
  fractional.constexpr_overrides = {{"BLOCK", 2.5}};
  EXPECT_THROW(run(source, inputs, fractional), InterpretError);
}

TEST(SketchInterpreter, AssigningToDeclaredNamesOrLoopVariablesFails) {
  const char* loop_var = R"(
sketch loopvar {
  tensors:
    y: [4] f32
  for i in range(4):
    i = 2
    store(1 -> y[i])
}
)";
  auto error = run_error(loop_var, {});
  EXPECT_NE(std::string(error.what()).find("loop variable i"), std::string::npos) << error.what();

  const char* constant = R"(
sketch constant {
  tensors:
    y: [4] f32
  constexpr:
    B = 4
  B = 5
  store(1 -> y)
}
)";
  EXPECT_THROW(run(constant, {}), InterpretError);
}

}  // namespace
}  // namespace anvil::sketch
