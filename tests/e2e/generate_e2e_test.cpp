// End to end: `anvil generate` against a real HTTP server on loopback speaking the
// chat-completions protocol with scripted replies, real sketch checks, real compiles and the real
// Verifier; plus the exec and manual providers.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agents/generation.hpp"
#include "candidate_template.hpp"
#include "core/paths.hpp"
#include "core/process.hpp"
#include "core/run_dir.hpp"
#include "core/temp_dir.hpp"
#include "docs/doc_pack.hpp"
#include "exec/generate_job.hpp"
#include "llm/provider.hpp"
#include "support/fake_llm_server.hpp"

namespace {

namespace fs = std::filesystem;
using anvil::testing::FakeLlmServer;
using anvil::testing::ScriptedReply;
using nlohmann::json;

const fs::path kRoot = ANVIL_SOURCE_DIR;
const fs::path kTask = kRoot / "tests" / "fixtures" / "tasks" / "scale_add.py";

std::string read(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string good_sketch() {
  return read(kRoot / "tests" / "sketch_corpus" / "valid" / "scale_add.sketch");
}

// Checks clean but computes x * alpha - y: only running it reveals the mistake.
std::string wrong_sketch() {
  std::string text = good_sketch();
  for (auto at = text.find("xt * alpha + yt"); at != std::string::npos;
       at = text.find("xt * alpha + yt", at)) {
    text.replace(at, 15, "xt * alpha - yt");
  }
  return text;
}

std::string fenced(const std::string& language, const std::string& body) {
  return "My answer:\n```" + language + "\n" + body + (body.back() == '\n' ? "" : "\n") + "```\n";
}

std::string good_candidate() { return anvil::testing::render_candidate({}); }

std::string compile_error_candidate() {
  anvil::testing::CandidateParts parts;
  parts.kernel_body = "    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * alpha + missing_name;\n";
  return anvil::testing::render_candidate(parts);
}

std::string wrong_candidate() {
  anvil::testing::CandidateParts parts;
  parts.kernel_body = "    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * alpha - y[i];\n";
  return anvil::testing::render_candidate(parts);
}

std::string conductor(const std::string& route) {
  return fenced(
      "json",
      json{{"route", route}, {"error_class", "x"}, {"suggestions", "use the reference formula"}}
          .dump());
}

struct GenerateRun {
  int exit_code = -1;
  std::string out, err;
  fs::path run_dir;
  json summary;
};

class GenerateE2E : public ::testing::Test {
 protected:
  // The LLM settings every test uses, plus a short timeout so "never answers" is quick.
  void SetUp() override {
    std::ofstream(scratch_.path() / "anvil.toml") << "[llm]\ntimeout_s = 3\nmax_retries = 2\n"
                                                  << "[generate]\nmax_iterations = 4\n";
  }

  GenerateRun generate(std::vector<std::string> extra) {
    std::vector<std::string> args{ANVIL_BINARY,
                                  "--config",
                                  (scratch_.path() / "anvil.toml").string(),
                                  "generate",
                                  "--db",
                                  (scratch_.path() / "anvil.db").string(),
                                  "--out",
                                  (scratch_.path() / "runs").string(),
                                  "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto captured = anvil::run_captured(args, std::chrono::seconds(300));
    GenerateRun run{captured.outcome.exit_code, captured.out, captured.err, {}, nullptr};
    auto report = json::parse(captured.out, nullptr, false);
    if (report.is_array() && !report.empty()) {
      run.summary = report[0];
      run.run_dir = report[0].value("run_dir", "");
    }
    return run;
  }

  GenerateRun generate_with_server(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--task",    kTask.string(),  "--llm",       "openai",
                                  "--llm-url", llm_.base_url(), "--llm-model", "fake-model"};
    args.insert(args.end(), extra.begin(), extra.end());
    return generate(args);
  }

  std::vector<std::string> roles_in_order() const {
    std::vector<std::string> roles;
    for (const auto& r : llm_.requests()) roles.push_back(r.headers.at("x-anvil-role"));
    return roles;
  }

  static std::vector<json> trace(const fs::path& run_dir) {
    std::vector<json> events;
    std::ifstream in(run_dir / "trace.jsonl");
    for (std::string line; std::getline(in, line);) events.push_back(json::parse(line));
    return events;
  }

  static void expect_success(const GenerateRun& run) {
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_EQ(run.summary["status"], "success");
    EXPECT_TRUE(fs::exists(run.run_dir / "best" / "candidate.py"));
    auto summary = json::parse(read(run.run_dir / "summary.json"));
    EXPECT_EQ(summary["status"], "success");
    EXPECT_GT(summary["speedup"].get<double>(), 0.0);
  }

  anvil::TempDir scratch_{"anvil-generate-e2e"};
  FakeLlmServer llm_;
};

TEST_F(GenerateE2E, StraightSuccess) {
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto run = generate_with_server();
  expect_success(run);
  EXPECT_EQ(roles_in_order(), (std::vector<std::string>{"designer", "coder"}));
  EXPECT_EQ(run.summary["iterations"], 1);
  EXPECT_EQ(run.summary["calls"], 2);
  auto first = llm_.requests().at(0);
  EXPECT_EQ(first.body["model"], "fake-model");
  EXPECT_NE(first.body["messages"][0]["content"].get<std::string>().find("Unified Sketch language"),
            std::string::npos)
      << "the Designer reads the language reference";
  EXPECT_NE(
      llm_.requests().at(1).body["messages"][0]["content"].get<std::string>().find("anvil_rt"),
      std::string::npos)
      << "the Coder reads the cpp document pack";
  auto events = trace(run.run_dir);
  int llm_lines = 0, verify_lines = 0;
  for (const auto& e : events) {
    llm_lines += e["kind"] == "llm";
    verify_lines += e["kind"] == "verify";
  }
  EXPECT_EQ(llm_lines, 2);
  EXPECT_EQ(verify_lines, 1);
  EXPECT_EQ(json::parse(read(run.run_dir / "attempts" / "1" / "verify.json"))["status"], "pass");
  EXPECT_EQ(read(run.run_dir / "attempts" / "1" / "candidate.py"), good_candidate());
}

TEST_F(GenerateE2E, CompileErrorGoesToTheCoderAndIsFixed) {
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", compile_error_candidate())),
                                 ScriptedReply::text(fenced("python", good_candidate()))});
  llm_.script_for_role("conductor", {ScriptedReply::text(conductor("coder"))});
  auto run = generate_with_server();
  expect_success(run);
  EXPECT_EQ(roles_in_order(),
            (std::vector<std::string>{"designer", "coder", "conductor", "coder"}));
  EXPECT_EQ(json::parse(read(run.run_dir / "attempts" / "1" / "verify.json"))["error_class"],
            "compile");
  auto second_coder = llm_.requests().at(3).body["messages"][1]["content"].get<std::string>();
  EXPECT_NE(second_coder.find("missing_name"), std::string::npos)
      << "the compiler's output reaches the Coder";
  EXPECT_EQ(run.summary["iterations"], 2);
}

TEST_F(GenerateE2E, NumericalErrorInTheDesignGoesToTheDesignerAndIsFixed) {
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", wrong_sketch())),
                                    ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", wrong_candidate())),
                                 ScriptedReply::text(fenced("python", good_candidate()))});
  // The LLM would send it to the Coder, but the sketch itself is wrong: the rule wins.
  llm_.script_for_role("conductor", {ScriptedReply::text(conductor("coder"))});
  auto run = generate_with_server();
  expect_success(run);
  EXPECT_EQ(roles_in_order(),
            (std::vector<std::string>{"designer", "coder", "conductor", "designer", "coder"}));
  auto decision = json::parse(read(run.run_dir / "attempts" / "1" / "conductor.json"));
  EXPECT_EQ(decision["route"], "designer");
  EXPECT_TRUE(decision["forced"].get<bool>());
  auto second_designer = llm_.requests().at(3).body["messages"][1]["content"].get<std::string>();
  EXPECT_NE(second_designer.find("does NOT reproduce the reference"), std::string::npos)
      << second_designer;
}

TEST_F(GenerateE2E, InvalidSketchIsRepairedBeforeAnyCoderCall) {
  std::string broken = good_sketch();
  broken.replace(broken.find("load(y[r:r + BR"), 6, "load(yy");  // 'yy' is not defined
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", broken)),
                                    ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto run = generate_with_server();
  expect_success(run);
  EXPECT_EQ(roles_in_order(), (std::vector<std::string>{"designer", "designer", "coder"}));
  json repair = llm_.requests().at(1).body["messages"];
  EXPECT_NE(repair.back()["content"].get<std::string>().find("error: 'yy' is not defined"),
            std::string::npos)
      << repair.back().dump();
  EXPECT_EQ(run.summary["iterations"], 1);
}

TEST_F(GenerateE2E, UnparsableReplyGetsOneRepairTurn) {
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text("Sure! I would write a kernel with OpenMP."),
                                 ScriptedReply::text(fenced("python", good_candidate()))});
  auto run = generate_with_server();
  expect_success(run);
  EXPECT_EQ(roles_in_order(), (std::vector<std::string>{"designer", "coder", "coder"}));
  auto repair = llm_.requests().at(2).body["messages"].back()["content"].get<std::string>();
  EXPECT_NE(repair.find("could not be used"), std::string::npos) << repair;
}

TEST_F(GenerateE2E, RateLimitWithRetryAfterIsRetried) {
  llm_.script_for_role("designer",
                       {ScriptedReply::error(429, "slow down").with_header("Retry-After", "1"),
                        ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto started = std::chrono::steady_clock::now();
  auto run = generate_with_server();
  expect_success(run);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(1))
      << "Retry-After was honoured";
  bool retried = false;
  for (const auto& e : trace(run.run_dir))
    retried = retried || (e["kind"] == "llm" && e.value("attempts", 0) == 2);
  EXPECT_TRUE(retried);
}

TEST_F(GenerateE2E, EndpointThatNeverAnswersFailsClearlyAndResumes) {
  // Three silent replies: the first attempt and both retries time out.
  for (int i = 0; i < 3; ++i) {
    llm_.script_for_role("designer",
                         {ScriptedReply::text("late").with_delay(std::chrono::seconds(20))});
  }
  auto failed = generate_with_server();
  EXPECT_EQ(failed.exit_code, 2) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("Timeout was reached"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("--resume"), std::string::npos) << failed.err;
  ASSERT_TRUE(fs::exists(failed.run_dir / "state.json"));

  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto resumed = generate({"--resume", failed.run_dir.string(), "--llm", "openai", "--llm-url",
                           llm_.base_url(), "--llm-model", "fake-model"});
  expect_success(resumed);
  EXPECT_EQ(resumed.run_dir, failed.run_dir);
}

TEST_F(GenerateE2E, ResumeReplaysCachedCallsWithoutAskingAgain) {
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", compile_error_candidate())),
                                 ScriptedReply::text("late").with_delay(std::chrono::seconds(20)),
                                 ScriptedReply::text("late").with_delay(std::chrono::seconds(20)),
                                 ScriptedReply::text("late").with_delay(std::chrono::seconds(20))});
  llm_.script_for_role("conductor", {ScriptedReply::text(conductor("coder"))});
  auto failed = generate_with_server();
  ASSERT_EQ(failed.exit_code, 2) << failed.out << failed.err;
  auto asked = llm_.requests().size();
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto resumed = generate({"--resume", failed.run_dir.string(), "--llm", "openai", "--llm-url",
                           llm_.base_url(), "--llm-model", "fake-model"});
  expect_success(resumed);
  EXPECT_EQ(llm_.requests().size(), asked + 1) << "only the unanswered Coder call goes out again";
}

TEST_F(GenerateE2E, TheDatabaseFeedsThePromptsAndKeepsTheVerifiedKernel) {
  auto db = (scratch_.path() / "anvil.db").string();
  auto init =
      anvil::run_captured({ANVIL_BINARY, "db", "--db", db, "init"}, std::chrono::seconds(300));
  ASSERT_EQ(init.outcome.exit_code, 0) << init.out << init.err;
  auto seeded =
      json::parse(anvil::run_captured({ANVIL_BINARY, "db", "--db", db, "list", "--json"}).out)
          .size();
  EXPECT_GE(seeded, 12u) << init.out;

  // A softmax task retrieves the stored softmax kernels, its own first.
  auto search = anvil::run_captured(
      {ANVIL_BINARY, "db", "--db", db, "search", "--task",
       (kRoot / "benchmarks" / "softmax" / "softmax_rows.py").string(), "--json"});
  ASSERT_EQ(search.outcome.exit_code, 0) << search.err;
  auto hits = json::parse(search.out);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["task_name"], "softmax_rows");
  for (const auto& hit : hits) {
    EXPECT_EQ(hit["dsl"], "cpp");
    EXPECT_EQ(hit["backend"], "cpu");
    EXPECT_EQ(hit["op_type"], "softmax");
    for (const char* field : {"id", "op_name", "score_logic", "score_shape"})
      EXPECT_TRUE(hit.contains(field));
  }

  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto run = generate_with_server();
  expect_success(run);
  auto designer_prompt = llm_.requests().at(0).body["messages"][1]["content"].get<std::string>();
  EXPECT_NE(designer_prompt.find("Sketches of similar kernels"), std::string::npos)
      << designer_prompt;
  auto coder_prompt = llm_.requests().at(1).body["messages"][1]["content"].get<std::string>();
  EXPECT_NE(coder_prompt.find("from the database"), std::string::npos);

  auto listed = anvil::run_captured({ANVIL_BINARY, "db", "--db", db, "list", "--json"});
  auto kernels = json::parse(listed.out);
  ASSERT_EQ(kernels.size(), seeded + 1) << "the verified kernel joined the seeds";
  EXPECT_EQ(kernels.back()["task_name"], "scale_add");
  EXPECT_EQ(kernels.back()["source"].get<std::string>().rfind("run:", 0), 0u);

  auto exported = (scratch_.path() / "kernels.jsonl").string();
  ASSERT_EQ(
      anvil::run_captured({ANVIL_BINARY, "db", "--db", db, "export", exported}).outcome.exit_code,
      0);
  auto copy = (scratch_.path() / "copy.db").string();
  auto imported = anvil::run_captured({ANVIL_BINARY, "db", "--db", copy, "import", exported});
  EXPECT_NE(imported.out.find(fmt::format("imported {} kernels", seeded + 1)), std::string::npos)
      << imported.out << imported.err;
}

TEST_F(GenerateE2E, FeatureExtractorDescribesTheTaskWhenConfigured) {
  std::ofstream(scratch_.path() / "anvil.toml", std::ios::app)
      << "[retrieval]\nfeatures = \"llm\"\n";
  llm_.script_for_role(
      "feature_extractor",
      {ScriptedReply::text(fenced("json", json{{"op_name", "scaled_add"},
                                               {"op_type", "elementwise"},
                                               {"category", "elementwise"},
                                               {"logic", "x * alpha + y over a 2-D tensor"}}
                                              .dump()))});
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto run = generate_with_server();
  expect_success(run);
  EXPECT_EQ(roles_in_order(), (std::vector<std::string>{"feature_extractor", "designer", "coder"}));
  bool from_agent = false;
  for (const auto& e : trace(run.run_dir))
    from_agent = from_agent || (e["kind"] == "features" && e["source"] == "feature_extractor");
  EXPECT_TRUE(from_agent);
  auto listed =
      json::parse(anvil::run_captured({ANVIL_BINARY, "db", "--db",
                                       (scratch_.path() / "anvil.db").string(), "list", "--json"})
                      .out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["op_name"], "scaled_add");
  EXPECT_EQ(listed[0]["logic"], "x * alpha + y over a 2-D tensor");
}

// The promise of the design: a DSL arrives through documents alone. The same agent code, given
// the cuda-c pack, puts that pack's documents in its prompts. (The cuda backend's verifier adapter
// does not exist yet, so the environment here only records that verification was reached.)
class RecordingEnvironment : public anvil::agents::Environment {
 public:
  explicit RecordingEnvironment(const anvil::docs::DocPack& pack) : pack_(pack) {}
  anvil::agents::Verdict verify(const fs::path&, const fs::path&) override {
    ++verifications;
    anvil::agents::Verdict verdict;
    verdict.stage = "build";
    verdict.error_class = "api";
    verdict.message = "no verifier adapter for cuda-c/cuda in this build";
    return verdict;
  }
  std::optional<anvil::agents::SketchReplay> replay_sketch(const std::string&) override {
    return std::nullopt;
  }
  std::string coder_documents(const std::vector<std::string>& functions) override {
    return anvil::docs::select_coder_documents(pack_, functions, 60'000);
  }
  int verifications = 0;

 private:
  const anvil::docs::DocPack& pack_;
};

TEST_F(GenerateE2E, ANewDslArrivesThroughDocumentsAlone) {
  auto pack = anvil::docs::load_doc_pack(kRoot / "knowledge", "cuda-c");
  auto documents = anvil::exec::documents_for(pack, "cuda");
  RecordingEnvironment environment(pack);
  anvil::agents::Providers providers;
  for (const char* role : anvil::llm::kRoles) {
    anvil::llm::ProviderConfig config;
    config.base_url = llm_.base_url();
    config.model = "fake-model";
    providers[role] = anvil::llm::make_provider(config);
  }
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder",
                       {ScriptedReply::text(fenced("python", "class ModelNew:\n    pass\n"))});
  llm_.script_for_role("conductor", {ScriptedReply::text(conductor("coder"))});
  anvil::GenerateLimits limits;
  limits.max_iterations = 1;
  auto run = anvil::RunDirectory::create(scratch_.path() / "runs", "scale_add");
  anvil::agents::GenerationTask task{kTask, "scale_add", read(kTask), "{}", "cuda-c", "cuda"};
  auto summary =
      anvil::agents::run_generation(task, providers, environment, documents, limits, run, {});
  EXPECT_EQ(summary.status, "failed");
  EXPECT_EQ(environment.verifications, 1);
  auto requests = llm_.requests();
  ASSERT_GE(requests.size(), 2u);
  auto designer = requests[0].body["messages"][1]["content"].get<std::string>();
  auto coder = requests[1].body["messages"][0]["content"].get<std::string>();
  EXPECT_NE(designer.find(read(kRoot / "knowledge" / "hardware" / "cuda.md").substr(0, 200)),
            std::string::npos)
      << "the Designer gets the GPU's hardware description";
  EXPECT_NE(coder.find("<!-- candidate_format.md -->"), std::string::npos);
  EXPECT_NE(coder.find("anvil_rt import cuda"), std::string::npos)
      << "the Coder reads the cuda-c pack";
  EXPECT_EQ(coder.find("anvil_rt import cpp"), std::string::npos) << "and not the cpp pack";
}

TEST_F(GenerateE2E, EndpointEmbeddingsWhenConfigured) {
  auto config = scratch_.path() / "embeddings.toml";
  std::ofstream(config)
      << "[llm]\nbase_url = \"" << llm_.base_url() << "\"\nmodel = \"fake-model\"\n"
      << "[retrieval]\nembeddings = \"endpoint\"\nembedding_model = \"embed-model\"\n";
  auto db = (scratch_.path() / "anvil.db").string();
  auto init =
      anvil::run_captured({ANVIL_BINARY, "--config", config.string(), "db", "--db", db, "init"},
                          std::chrono::seconds(300));
  ASSERT_EQ(init.outcome.exit_code, 0) << init.out << init.err;
  auto embedding_requests = [&] {
    int count = 0;
    for (const auto& r : llm_.requests()) {
      if (r.path == "/v1/embeddings") {
        EXPECT_EQ(r.body["model"], "embed-model");
        ++count;
      }
    }
    return count;
  };
  int seeded = embedding_requests();
  EXPECT_GE(seeded, 12) << "one embedding per seeded kernel";
  auto search = anvil::run_captured(
      {ANVIL_BINARY, "--config", config.string(), "db", "--db", db, "search", "--task",
       (kRoot / "benchmarks" / "softmax" / "softmax_rows.py").string(), "--json"});
  ASSERT_EQ(search.outcome.exit_code, 0) << search.err;
  auto hits = json::parse(search.out);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["task_name"], "softmax_rows")
      << "its own task first, in the endpoint's space too";
  EXPECT_EQ(embedding_requests(), seeded + 1) << "the query is embedded by the endpoint";
}

TEST_F(GenerateE2E, SeveralTasksRunConcurrently) {
  auto tasks = scratch_.path() / "tasks";
  fs::create_directories(tasks);
  fs::copy_file(kTask, tasks / "first.py");
  fs::copy_file(kTask, tasks / "second.py");
  for (int i = 0; i < 2; ++i) {
    llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
    llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  }
  auto captured = anvil::run_captured(
      {ANVIL_BINARY, "--config", (scratch_.path() / "anvil.toml").string(), "generate", "--tasks",
       tasks.string(), "--jobs", "2", "--db", (scratch_.path() / "anvil.db").string(), "--out",
       (scratch_.path() / "runs").string(), "--json", "--llm-url", llm_.base_url(), "--llm-model",
       "fake-model"},
      std::chrono::seconds(300));
  ASSERT_EQ(captured.outcome.exit_code, 0) << captured.out << captured.err;
  auto report = json::parse(captured.out);
  ASSERT_EQ(report.size(), 2u);
  EXPECT_NE(report[0]["run_dir"], report[1]["run_dir"]);
  for (const auto& task : report) EXPECT_EQ(task["status"], "success") << task.dump();
}

TEST_F(GenerateE2E, AnthropicProviderDrivesARun) {
  llm_.script_for_role("designer", {ScriptedReply::text(fenced("sketch", good_sketch()))});
  llm_.script_for_role("coder", {ScriptedReply::text(fenced("python", good_candidate()))});
  auto run = generate({"--task", kTask.string(), "--llm", "anthropic", "--llm-url", llm_.base_url(),
                       "--llm-model", "claude-test"});
  expect_success(run);
  auto request = llm_.requests().at(0);
  EXPECT_EQ(request.path, "/v1/messages");
  EXPECT_EQ(request.headers.at("anthropic-version"), "2023-06-01");
  EXPECT_TRUE(request.body.contains("system")) << "system prompts go in the top-level field";
}

TEST_F(GenerateE2E, ExecProviderDrivesARun) {
  auto replies = scratch_.path() / "replies";
  fs::create_directories(replies);
  std::ofstream(replies / "designer.txt") << fenced("sketch", good_sketch());
  std::ofstream(replies / "coder.txt") << fenced("python", good_candidate());
  auto script = scratch_.path() / "responder.py";
  std::ofstream(script) << "import json, sys\nrequest = json.load(sys.stdin)\n"
                        << "assert request['messages'] and request['model'] == 'local'\n"
                        << "print(open('" << replies.string()
                        << "/' + request['role'] + '.txt').read())\n";
  auto run = generate({"--task", kTask.string(), "--llm", "exec", "--llm-model", "local",
                       "--llm-cmd", "/usr/bin/python3 " + script.string()});
  expect_success(run);
}

TEST_F(GenerateE2E, ManualProviderDrivesARun) {
  GenerateRun run;
  std::thread generator([&] { run = generate({"--task", kTask.string(), "--llm", "manual"}); });
  // Play the person: answer each prompt file as it appears.
  auto manual_dir = [&]() -> fs::path {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(scratch_.path() / "runs", ec)) {
      if (fs::exists(entry.path() / "manual")) return entry.path() / "manual";
    }
    return {};
  };
  auto answer = [&](const std::string& role, const std::string& reply) {
    for (int waited = 0; waited < 1200;
         ++waited, std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
      auto dir = manual_dir();
      if (dir.empty()) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        auto name = entry.path().filename().string();
        if (name.find("-" + role + ".prompt.md") == std::string::npos) continue;
        auto reply_path = dir / (name.substr(0, name.size() - 10) + ".reply.md");
        if (fs::exists(reply_path)) continue;
        std::ofstream(reply_path) << reply;
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(answer("designer", fenced("sketch", good_sketch())));
  EXPECT_TRUE(answer("coder", fenced("python", good_candidate())));
  generator.join();
  expect_success(run);
}

}  // namespace
