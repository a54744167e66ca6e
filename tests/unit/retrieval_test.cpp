// The kernel database and the hierarchical search: filters, ranking, concurrency, migrations.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <thread>

#include "core/temp_dir.hpp"
#include "docs/doc_pack.hpp"
#include "retrieval/features.hpp"
#include "retrieval/kernel_index.hpp"
#include "store/database.hpp"
#include "store/kernel_store.hpp"
#include "store/llm_cache.hpp"

namespace anvil {
namespace {

TaskSpec spec_of(const std::vector<std::string>& ops, std::vector<std::int64_t> shape) {
  TaskSpec spec;
  spec.frontend = "torch";
  spec.inputs = {{"x", "tensor", shape, "float32"}};
  spec.outputs = {{"", "tensor", shape, "float32"}};
  for (const auto& op : ops) spec.op_graph.push_back({op, spec.inputs, spec.outputs});
  return spec;
}

store::KernelRecord kernel(const std::string& name, const TaskSpec& spec,
                           const std::string& dsl = "cpp", const std::string& backend = "cpu") {
  store::KernelRecord r;
  r.task_hash = name;
  r.task_name = name;
  r.dsl = dsl;
  r.backend = backend;
  r.code = "code of " + name;
  r.source = "test";
  retrieval::describe_for_retrieval(r, spec, retrieval::features_from_spec(spec));
  return r;
}

retrieval::SearchQuery query_for(const TaskSpec& spec, int k = 5) {
  return {retrieval::features_from_spec(spec), spec.inputs, "cpp", "cpu", k, 0.25f, {}};
}

TEST(TaskFeatures, FamiliesFromTheOperatorGraph) {
  EXPECT_EQ(retrieval::features_from_spec(spec_of({"aten::addmm", "aten::relu"}, {8, 8})).op_type,
            "matmul");
  EXPECT_EQ(retrieval::features_from_spec(spec_of({"aten::_softmax"}, {8, 8})).op_name, "_softmax");
  auto rms = retrieval::features_from_spec(
      spec_of({"aten::pow", "aten::mean", "aten::add", "aten::rsqrt", "aten::mul"}, {8, 8}));
  EXPECT_EQ(rms.op_type, "normalization");
  EXPECT_EQ(rms.category, "fused");
  EXPECT_EQ(retrieval::features_from_spec(spec_of({"aten::gelu"}, {4})).op_type, "elementwise");
  EXPECT_EQ(retrieval::operator_family("numpy.cumsum"), "scan");
}

TEST(KernelIndex, ReturnsOnlyTheAskedDslAndBackend) {
  retrieval::KernelIndex index;
  auto spec = spec_of({"aten::_softmax"}, {512, 4096});
  auto mine = kernel("softmax_cpp", spec);
  mine.id = 1;
  auto other = kernel("softmax_cuda", spec, "cuda-c", "cuda");
  other.id = 2;
  index.add(mine);
  index.add(other);
  auto hits = index.search(query_for(spec));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 1);
  EXPECT_EQ(hits[0].dsl, "cpp");
  auto none = index.search(
      {retrieval::features_from_spec(spec), spec.inputs, "triton", "cuda", 5, 0.25f, {}});
  EXPECT_TRUE(none.empty());
}

TEST(KernelIndex, AStoredKernelComesFirstForItsOwnTaskAndCloserShapesRankHigher) {
  retrieval::KernelIndex index;
  std::vector<TaskSpec> specs{
      spec_of({"aten::_softmax"}, {512, 4096}), spec_of({"aten::_softmax"}, {8, 64}),
      spec_of({"aten::_log_softmax"}, {512, 4096}), spec_of({"aten::_softmax"}, {2048, 16384})};
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto r = kernel("k" + std::to_string(i), specs[i]);
    r.id = static_cast<std::int64_t>(i + 1);
    index.add(r);
  }
  auto own = index.search(query_for(specs[1]));
  ASSERT_FALSE(own.empty());
  EXPECT_EQ(own[0].id, 2) << "its own task first";
  EXPECT_FLOAT_EQ(own[0].score_logic, 1.0f);
  auto big = index.search(query_for(spec_of({"aten::_softmax"}, {1024, 8192})));
  ASSERT_GE(big.size(), 3u);
  EXPECT_NE(big[0].id, 2) << "the 8x64 kernel is the farthest in shape";
  EXPECT_EQ(big.back().id, 2);
  EXPECT_EQ(index.search(query_for(specs[0], 2)).size(), 2u) << "top k";
}

TEST(KernelStore, RoundTripsAndKeepsDuplicatesOut) {
  TempDir dir("anvil-test");
  store::Database db(dir.path() / "k.db");
  store::KernelStore kernels(db);
  auto r = kernel("gelu", spec_of({"aten::gelu"}, {64, 1024}));
  r.speedup = 1.5;
  auto id = kernels.add(r);
  EXPECT_EQ(kernels.add(r), id) << "the same kernel is stored once";
  auto back = kernels.get(id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->op_name, "gelu");
  EXPECT_DOUBLE_EQ(*back->speedup, 1.5);
  auto index = retrieval::KernelIndex::load(kernels);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.search(query_for(spec_of({"aten::gelu"}, {64, 1024}))).at(0).id, id);
}

TEST(KernelStore, ConcurrentWritersDoNotCorruptTheDatabase) {
  TempDir dir("anvil-test");
  auto path = dir.path() / "shared.db";
  { store::Database create(path); }
  auto writer = [&](int which) {
    store::Database db(path);  // each writer its own connection, as two Anvil processes would
    store::KernelStore kernels(db);
    for (int i = 0; i < 60; ++i)
      kernels.add(kernel(fmt::format("w{}-{}", which, i), spec_of({"aten::gelu"}, {i + 1})));
  };
  std::thread a(writer, 0), b(writer, 1);
  a.join();
  b.join();
  store::Database db(path);
  EXPECT_EQ(store::KernelStore(db).count(), 120u);
  auto check = db.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
}

TEST(KernelStore, AnOlderSchemaMigratesKeepingItsData) {
  TempDir dir("anvil-test");
  auto path = dir.path() / "old.db";
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    std::string v1 = store::schema_migrations().at(0) +
                     ";PRAGMA user_version = 1;"
                     "INSERT INTO llm_cache (key, provider, model, role, reply, prompt_tokens, "
                     "completion_tokens) "
                     "VALUES ('k', 'openai', 'm', 'coder', 'kept', 1, 2);";
    ASSERT_EQ(sqlite3_exec(raw, v1.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  store::Database db(path);
  EXPECT_EQ(db.schema_version(), static_cast<int>(store::schema_migrations().size()));
  EXPECT_EQ(store::LlmCache(db).find("k")->reply, "kept");
  EXPECT_EQ(store::KernelStore(db).count(), 0u) << "the kernel tables exist after the migration";
}

TEST(DocumentSelection, StaysWithinTheBudgetAndPrefersMatchingEntries) {
  auto pack = docs::load_doc_pack(std::filesystem::path(ANVIL_SOURCE_DIR) / "knowledge", "cpp");
  ASSERT_FALSE(pack.api.empty());
  auto wide = docs::select_coder_documents(pack, {"gemm"}, 1'000'000);
  EXPECT_NE(wide.find("<!-- gemm_microkernel.md -->"), std::string::npos);
  EXPECT_EQ(wide.find("<!-- prefix_scan.md -->"), std::string::npos)
      << "entries for other functions stay out";
  auto tight = docs::select_coder_documents(pack, {"gemm", "cumsum", "exp"}, 20'000);
  auto footer = tight.find("(left out for length:");
  ASSERT_NE(footer, std::string::npos);
  EXPECT_LE(footer, 20'000u);
}

TEST(DocumentSelection, QuotedSignaturesAreUnquoted) {
  TempDir dir("anvil-test");
  auto path = dir.path() / "entry.md";
  std::ofstream(path)
      << "---\nname: k\nkind: api\nsignature: \"extern \\\"C\\\" void k(float* y)\"\n"
         "tags: [exp, gemm]\n---\nBody.\n";
  auto entry = docs::parse_doc_entry(path, "api");
  EXPECT_EQ(entry.signature, "extern \"C\" void k(float* y)");
  EXPECT_EQ(entry.tags, (std::vector<std::string>{"exp", "gemm"}));
}

TEST(DocumentSelection, LongEntriesAreShortenedWhenAShortenerIsGiven) {
  auto pack = docs::load_doc_pack(std::filesystem::path(ANVIL_SOURCE_DIR) / "knowledge", "cpp");
  int long_entries = 0;
  for (const auto& entry : pack.basic) long_entries += entry.text.size() > docs::kLongEntryChars;
  ASSERT_GT(long_entries, 0) << "the cpp pack has long basic entries";
  int calls = 0;
  auto text =
      docs::select_coder_documents(pack, {"exp"}, 1'000'000, [&](const docs::DocEntry& entry) {
        ++calls;
        return "SHORTENED " + entry.name;
      });
  EXPECT_GE(calls, long_entries);
  EXPECT_NE(text.find("SHORTENED "), std::string::npos);
  for (const auto& entry : pack.basic) {
    if (entry.text.size() <= docs::kLongEntryChars) {
      EXPECT_NE(text.find(entry.text), std::string::npos) << entry.name;
    }
  }
}

}  // namespace
}  // namespace anvil
