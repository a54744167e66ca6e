#include "core/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "core/error.hpp"
#include "core/temp_dir.hpp"

namespace anvil {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"ANVIL_PYTHON", "ANVIL_CONFIG", "ANVIL_CXX", "ANVIL_CXXFLAGS"})
      unsetenv(name);
  }
  std::filesystem::path write(const std::string& text) {
    auto path = dir_.path() / "anvil.toml";
    std::ofstream(path) << text;
    return path;
  }
  TempDir dir_{"anvil-test"};
};

TEST_F(ConfigTest, DefaultsWithoutFile) {
  auto settings = load_settings(write(""));
  EXPECT_EQ(settings.python, "/usr/bin/python3");
  EXPECT_EQ(settings.timeout_s, 60);
  EXPECT_EQ(settings.draws, 2);
  EXPECT_EQ(settings.cxxflags, "-O3 -march=native -fopenmp -shared -fPIC");
}

TEST_F(ConfigTest, FileValuesApply) {
  auto settings = load_settings(
      write("[python]\ninterpreter = \"/opt/py/bin/python3\"\n"
            "[verify]\ntimeout_s = 5\ndraws = 3\nsandbox = \"none\"\n"
            "[timing]\ntarget_s = 0.25\n[cpp]\nflags = \"-O2 -fopenmp -shared -fPIC\"\n"));
  EXPECT_EQ(settings.python, "/opt/py/bin/python3");
  EXPECT_EQ(settings.timeout_s, 5);
  EXPECT_EQ(settings.draws, 3);
  EXPECT_EQ(settings.sandbox, "none");
  EXPECT_DOUBLE_EQ(settings.timing.target_s, 0.25);
  EXPECT_EQ(settings.cxxflags, "-O2 -fopenmp -shared -fPIC");
}

TEST_F(ConfigTest, LlmDefaultsRolesAndGenerateLimits) {
  auto settings = load_settings(write(
      "[llm]\nprovider = \"openai\"\nbase_url = \"http://localhost:11434/v1\"\nmodel = \"qwen\"\n"
      "timeout_s = 30.0\nmax_retries = 1\n"
      "[llm.roles.coder]\nmodel = \"qwen-coder\"\n"
      "[db]\npath = \"k.db\"\nllm_cache = \"read\"\n[generate]\nmax_iterations = 7\nmax_tokens = "
      "100000\n"));
  EXPECT_EQ(*settings.llm.model, "qwen");
  EXPECT_EQ(*settings.llm.max_retries, 1);
  EXPECT_DOUBLE_EQ(*settings.llm.timeout_s, 30.0);
  EXPECT_EQ(*settings.llm_roles.at("coder").model, "qwen-coder");
  EXPECT_EQ(settings.db_path, "k.db");
  EXPECT_EQ(settings.llm_cache, "read");
  EXPECT_EQ(settings.generate.max_iterations, 7);
  EXPECT_EQ(settings.generate.max_tokens, 100000);
  EXPECT_THROW(load_settings(write("[llm.roles]\ncoder = 3\n")), UsageError);
}

TEST_F(ConfigTest, EnvironmentOverridesFile) {
  setenv("ANVIL_PYTHON", "/env/python", 1);
  auto settings = load_settings(write("[python]\ninterpreter = \"/file/python\"\n"));
  EXPECT_EQ(settings.python, "/env/python");
  unsetenv("ANVIL_PYTHON");
}

TEST_F(ConfigTest, SyntaxErrorNamesFileAndLine) {
  auto path = write("[verify]\ntimeout_s = = 3\n");
  try {
    load_settings(path);
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("anvil.toml:2:"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigTest, WrongTypesAndRangesAreRejected) {
  EXPECT_THROW(load_settings(write("[verify]\ntimeout_s = \"soon\"\n")), UsageError);
  EXPECT_THROW(load_settings(write("[verify]\ndraws = 1\n")), UsageError);
  EXPECT_THROW(load_settings(write("[verify]\nsandbox = \"docker\"\n")), UsageError);
  EXPECT_THROW(load_settings(dir_.path() / "missing.toml"), UsageError);
}

}  // namespace
}  // namespace anvil
