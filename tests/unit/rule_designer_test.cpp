// The rule-based Designer on hand-made operator traces (the form `anvil describe` produces): which
// sketch it plans, that the sketch checks, and that the interpreter running it computes the
// operator. The traces are small so every sketch runs in the interpreter here.
#include "agents/rule_designer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "agents/op_graph.hpp"
#include "sketch/checker.hpp"
#include "sketch/interpreter.hpp"
#include "sketch/parser.hpp"

namespace anvil::agents {
namespace {

using json = nlohmann::json;
using Shape = std::vector<std::int64_t>;

json tensor(int id, const Shape& shape, const std::string& dtype = "float32",
            const std::string& ref = "") {
  json t = {{"kind", "tensor"}, {"id", id}, {"shape", shape}, {"dtype", dtype}};
  if (!ref.empty()) t["ref"] = ref;
  return t;
}

json scalar(const json& value) { return {{"kind", "scalar"}, {"value", value}}; }

json sequence(const std::vector<json>& items) {
  json list = json::array();
  for (const auto& i : items) list.push_back(scalar(i));
  return {{"kind", "sequence"}, {"items", list}};
}

json op(const std::string& name, const std::vector<json>& inputs, const std::vector<json>& outputs,
        const std::string& overload = "default") {
  return {
      {"op", "aten::" + name}, {"overload", overload}, {"inputs", inputs}, {"outputs", outputs}};
}

// A task description: forward's inputs (named tensors), the traced operators, the outputs.
TaskSpec spec_of(const std::string& name, const std::vector<json>& inputs,
                 const std::vector<json>& ops, const std::vector<json>& outputs) {
  // As in a real trace, every operand that is a forward input carries its name (`ref`).
  std::map<int, std::string> names;
  for (const auto& in : inputs) names[in.at("id")] = in.at("ref");
  std::function<void(json&)> name_refs = [&](json& value) {
    if (value.is_object() && value.contains("id") && names.count(value["id"]))
      value["ref"] = names[value["id"]];
    if (value.is_object() || value.is_array())
      for (auto& item : value) name_refs(item);
  };
  json traced = ops;
  name_refs(traced);
  json raw = {{"task", "tasks/" + name + ".py"},
              {"frontend", "torch"},
              {"inputs", json::array()},
              {"outputs", outputs},
              {"dynamic_dims", json::array()},
              {"parameters", json::array()},
              {"op_graph", traced}};
  for (const auto& in : inputs) {
    json entry = in;
    entry["name"] = in.at("ref");
    raw["inputs"].push_back(entry);
  }
  return parse_task_spec(raw);
}

sketch::Sketch checked(const RuleDesign& design) {
  auto parsed = sketch::parse_sketch_source(design.sketch, "designed.sketch");
  EXPECT_TRUE(parsed.ok()) << design.sketch;
  auto diagnostics = sketch::check_sketch_file(parsed.file);
  EXPECT_FALSE(sketch::has_errors(diagnostics))
      << sketch::render_diagnostics(diagnostics, design.sketch, "designed.sketch") << design.sketch;
  return std::move(parsed.file.sketches.front());
}

sketch::Array random_array(const Shape& shape, std::uint32_t seed) {
  sketch::Array a{sketch::ScalarType::f32, shape, {}};
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal;
  a.data.resize(a.size());
  for (auto& v : a.data) v = static_cast<float>(normal(gen));
  return a;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(RuleDesigner, UnsupportedOperatorIsNamedWithTheLlmHint) {
  auto spec = spec_of("conv", {tensor(0, {1, 3, 8, 8}, "float32", "x")},
                      {op("convolution", {tensor(0, {1, 3, 8, 8})}, {tensor(1, {1, 4, 6, 6})})},
                      {tensor(1, {1, 4, 6, 6})});
  try {
    design_with_rules(spec);
    FAIL() << "a convolution has no rule";
  } catch (const UnsupportedTask& e) {
    EXPECT_EQ(e.op(), "aten::convolution");
    EXPECT_NE(std::string(e.what()).find("aten::convolution"), std::string::npos);
    EXPECT_NE(e.hint().find("--llm"), std::string::npos);
  }
}

TEST(RuleDesigner, ElementwiseChainIsOneFusedPass) {
  // tanh(x * 0.5 + bias): three operators, one loop nest, one store.
  Shape shape{37, 129};
  auto spec =
      spec_of("chain", {tensor(0, shape, "float32", "x"), tensor(1, {129}, "float32", "bias")},
              {op("mul", {tensor(0, shape), scalar(0.5)}, {tensor(2, shape)}, "Tensor"),
               op("add", {tensor(2, shape), tensor(1, {129})}, {tensor(3, shape)}, "Tensor"),
               op("tanh", {tensor(3, shape)}, {tensor(4, shape)})},
              {tensor(4, shape)});
  auto design = design_with_rules(spec);
  auto sketch = checked(design);
  EXPECT_EQ(count(design.sketch, "store("), 1u) << design.sketch;
  EXPECT_EQ(count(design.sketch, "reduce_"), 0u) << design.sketch;
  EXPECT_NE(design.sketch.find("constexpr:"), std::string::npos);
  EXPECT_GE(design.configs.size(), 2u);

  auto x = random_array(shape, 1), bias = random_array({129}, 2);
  auto out = sketch::interpret(sketch, {{"x", x}, {"bias", bias}}).at("out");
  for (std::size_t i = 0; i < out.data.size(); ++i) {
    double expected = std::tanh(x.data[i] * 0.5 + bias.data[i % 129]);
    ASSERT_NEAR(out.data[i], expected, 1e-5) << "element " << i;
  }
}

TEST(RuleDesigner, PerRowValuesAreHoistedOutOfTheTileLoop) {
  // x * rsqrt(v + 1e-5) with v one value per row (batch norm's per-channel scale): the rsqrt is
  // taken once per row, before the loop over the row's tiles.
  Shape shape{6, 700}, per_row{6, 1};
  auto spec =
      spec_of("row_scale", {tensor(0, shape, "float32", "x"), tensor(1, per_row, "float32", "v")},
              {op("add", {tensor(1, per_row), scalar(1e-5)}, {tensor(2, per_row)}, "Scalar"),
               op("rsqrt", {tensor(2, per_row)}, {tensor(3, per_row)}),
               op("mul", {tensor(0, shape), tensor(3, per_row)}, {tensor(4, shape)}, "Tensor")},
              {tensor(4, shape)});
  auto design = design_with_rules(spec);
  auto sketch = checked(design);
  const auto scale = design.sketch.find("rsqrt(");
  const auto tile_loop = design.sketch.find(", BLOCK):");
  ASSERT_NE(scale, std::string::npos) << design.sketch;
  ASSERT_NE(tile_loop, std::string::npos) << design.sketch;
  EXPECT_LT(scale, tile_loop) << design.sketch;
  EXPECT_EQ(count(design.sketch, "rsqrt("), 1u) << design.sketch;

  auto x = random_array(shape, 4), v = random_array({6}, 5);  // the design views v as [K0]
  for (auto& value : v.data) value = std::fabs(value) + 0.1;
  auto out = sketch::interpret(sketch, {{"x", x}, {"v", v}}).at("out");
  for (std::size_t i = 0; i < out.data.size(); ++i)
    ASSERT_NEAR(out.data[i], x.data[i] / std::sqrt(v.data[i / 700] + 1e-5), 1e-4) << i;
}

TEST(RuleDesigner, SoftmaxIsThreePassesWithOneExpPerElementAndMatches) {
  Shape shape{5, 1300};  // not a multiple of any tile: full tiles and a scalar tail
  auto spec =
      spec_of("softmax", {tensor(0, shape, "float32", "x")},
              {op("_softmax", {tensor(0, shape), scalar(1), scalar(false)}, {tensor(1, shape)})},
              {tensor(1, shape)});
  auto design = design_with_rules(spec);
  auto sketch = checked(design);
  EXPECT_EQ(count(design.sketch, "for s in range"), 3u) << design.sketch;
  EXPECT_NE(design.sketch.find("parallel=\"grididx\""), std::string::npos);
  // exp once per element (full tiles and tail): pass 2 stores it into out, pass 3 rescales out.
  EXPECT_EQ(count(design.sketch, "exp("), 2u) << design.sketch;
  EXPECT_EQ(count(design.sketch, "load(out["), 2u) << design.sketch;

  auto x = random_array(shape, 3);
  auto y = sketch::interpret(sketch, {{"x", x}}).at("out");
  for (int row = 0; row < 5; ++row) {
    double m = -INFINITY, s = 0;
    for (int j = 0; j < 1300; ++j) m = std::max(m, x.data[row * 1300 + j]);
    for (int j = 0; j < 1300; ++j) s += std::exp(x.data[row * 1300 + j] - m);
    for (int j = 0; j < 1300; ++j)
      ASSERT_NEAR(y.data[row * 1300 + j], std::exp(x.data[row * 1300 + j] - m) / s, 1e-6);
  }
}

TEST(RuleDesigner, ColumnReductionTilesTheKeptDim) {
  // argmin over dim 0: the reduced dim is outermost, so lanes run along the kept one.
  Shape shape{41, 70};
  auto spec = spec_of("argmin0", {tensor(0, shape, "float32", "x")},
                      {op("argmin", {tensor(0, shape), scalar(0)}, {tensor(1, {70}, "int64")})},
                      {tensor(1, {70}, "int64")});
  auto design = design_with_rules(spec);
  auto sketch = checked(design);
  auto x = random_array(shape, 4);
  auto out = sketch::interpret(sketch, {{"x", x}}).at("out");
  for (int col = 0; col < 70; ++col) {
    int best = 0;
    for (int r = 1; r < 41; ++r)
      if (x.data[r * 70 + col] < x.data[best * 70 + col]) best = r;
    ASSERT_EQ(out.data[col], best) << "column " << col;
  }
}

TEST(RuleDesigner, GlobalMeanSplitsIntoChunksWithPartials) {
  Shape shape{300, 77};
  auto spec = spec_of("mse", {tensor(0, shape, "float32", "a"), tensor(1, shape, "float32", "b")},
                      {op("mse_loss", {tensor(0, shape), tensor(1, shape)}, {tensor(2, {})})},
                      {tensor(2, {})});
  auto design = design_with_rules(spec);
  auto sketch = checked(design);
  EXPECT_NE(design.sketch.find("CHUNK"), std::string::npos) << design.sketch;
  // The kernel sees both tensors flattened (the candidate views them so): one reduced dim.
  EXPECT_EQ(design.tensors[0].dims, std::vector<std::string>{"a.shape[0] * a.shape[1]"});
  auto a = random_array({300 * 77}, 5), b = random_array({300 * 77}, 6);
  auto out = sketch::interpret(sketch, {{"a", a}, {"b", b}}).at("out");
  double total = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i)
    total += (a.data[i] - b.data[i]) * (a.data[i] - b.data[i]);
  EXPECT_NEAR(out.data[0], total / static_cast<double>(a.data.size()), 1e-4);
}

TEST(RuleDesigner, ReverseScanComesFromFlipCumsumFlip) {
  Shape shape{3, 50};
  auto spec = spec_of("rev", {tensor(0, shape, "float32", "x")},
                      {op("flip", {tensor(0, shape), sequence({1})}, {tensor(1, shape)}),
                       op("cumsum", {tensor(1, shape), scalar(1)}, {tensor(2, shape)}),
                       op("flip", {tensor(2, shape), sequence({1})}, {tensor(3, shape)})},
                      {tensor(3, shape)});
  auto design = design_with_rules(spec);
  auto sketch = checked(design);
  auto x = random_array(shape, 7);
  auto out = sketch::interpret(sketch, {{"x", x}}).at("out");
  for (int row = 0; row < 3; ++row) {
    double suffix = 0;
    for (int j = 49; j >= 0; --j) {
      suffix += x.data[row * 50 + j];
      ASSERT_NEAR(out.data[row * 50 + j], suffix, 1e-4) << row << "," << j;
    }
  }
}

TEST(RuleDesigner, LinearWithActivationIsATiledGemmWithEpilogue) {
  // relu(x @ w.T + b): addmm of a transposed parameter, then relu.
  auto spec = spec_of(
      "linear", {tensor(0, {33, 20}, "float32", "x")},
      {op("t", {tensor(1, {17, 20}, "float32", "w")}, {tensor(2, {20, 17})}),
       op("addmm", {tensor(3, {17}, "float32", "b"), tensor(0, {33, 20}), tensor(2, {20, 17})},
          {tensor(4, {33, 17})}),
       op("relu", {tensor(4, {33, 17})}, {tensor(5, {33, 17})})},
      {tensor(5, {33, 17})});
  auto design = design_with_rules(spec);
  auto sketch = checked(design);
  EXPECT_NE(design.sketch.find("gemm(a_tile, b_tile, acc, trans_b=True)"), std::string::npos)
      << design.sketch;
  EXPECT_NE(design.sketch.find("relu("), std::string::npos);
  EXPECT_EQ(design.family, "fused");
  auto x = random_array({33, 20}, 8), w = random_array({17, 20}, 9), b = random_array({17}, 10);
  auto out = sketch::interpret(sketch, {{"x", x}, {"w", w}, {"b", b}}).at("out");
  for (int i = 0; i < 33; ++i) {
    for (int j = 0; j < 17; ++j) {
      double acc = b.data[j];
      for (int k = 0; k < 20; ++k) acc += x.data[i * 20 + k] * w.data[j * 20 + k];
      ASSERT_NEAR(out.data[i * 17 + j], std::max(acc, 0.0), 1e-4);
    }
  }
}

TEST(RuleDesigner, ReductionsOverDifferentDimsAreRefused) {
  Shape shape{6, 8};
  auto spec =
      spec_of("mixed", {tensor(0, shape, "float32", "x")},
              {op("sum", {tensor(0, shape), sequence({1}), scalar(true)}, {tensor(1, {6, 1})},
                  "dim_IntList"),
               op("sum", {tensor(0, shape), sequence({0}), scalar(true)}, {tensor(2, {1, 8})},
                  "dim_IntList"),
               op("add", {tensor(1, {6, 1}), tensor(2, {1, 8})}, {tensor(3, shape)}, "Tensor")},
              {tensor(3, shape)});
  EXPECT_THROW(design_with_rules(spec), UnsupportedTask);
}

}  // namespace
}  // namespace anvil::agents
