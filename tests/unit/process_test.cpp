#include "core/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "core/temp_dir.hpp"

namespace anvil {
namespace {

ProcessOutcome run_shell(const std::string& script, std::chrono::milliseconds timeout,
                         const TempDir& dir) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.stdout_path = dir.path() / "out";
  spec.stderr_path = dir.path() / "err";
  spec.timeout = timeout;
  return run_process(spec);
}

TEST(RunProcess, ReportsExitCodeAndOutput) {
  TempDir dir("anvil-test");
  auto outcome = run_shell("echo hello; echo oops >&2; exit 3", std::chrono::seconds(10), dir);
  EXPECT_EQ(outcome.kind, ProcessOutcome::Kind::exited);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(read_text_file(dir.path() / "out"), "hello\n");
  EXPECT_EQ(read_text_file(dir.path() / "err"), "oops\n");
}

TEST(RunProcess, ReportsSignal) {
  TempDir dir("anvil-test");
  auto outcome = run_shell("kill -SEGV $$", std::chrono::seconds(10), dir);
  EXPECT_EQ(outcome.kind, ProcessOutcome::Kind::signaled);
  EXPECT_EQ(outcome.signal, SIGSEGV);
  EXPECT_NE(outcome.describe().find("SIGSEGV"), std::string::npos);
}

TEST(RunProcess, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir("anvil-test");
  auto marker = dir.path() / "grandchild-survived";
  // The grandchild would write the marker after 2 s unless it dies with its group.
  auto script = "(sleep 2; touch " + marker.string() + ") & sleep 30";
  auto outcome = run_shell(script, std::chrono::milliseconds(300), dir);
  EXPECT_EQ(outcome.kind, ProcessOutcome::Kind::timed_out);
  EXPECT_LT(outcome.seconds, 5.0);
  sleep(3);
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(RunProcess, MissingProgramFailsToStart) {
  ProcessSpec spec;
  spec.argv = {"/nonexistent/program"};
  auto outcome = run_process(spec);
  EXPECT_EQ(outcome.kind, ProcessOutcome::Kind::failed_to_start);
  EXPECT_NE(outcome.start_error.find("No such file"), std::string::npos) << outcome.start_error;
}

TEST(RunProcess, PassesEnvironmentAndWorkingDirectory) {
  TempDir dir("anvil-test");
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo \"$ANVIL_TEST_VALUE\"; pwd"};
  spec.env = {{"ANVIL_TEST_VALUE", "forty-two"}};
  spec.cwd = dir.path();
  spec.stdout_path = dir.path() / "out";
  ASSERT_TRUE(run_process(spec).succeeded());
  EXPECT_EQ(read_text_file(dir.path() / "out"),
            "forty-two\n" + std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(RunProcess, MemoryLimitStopsAHugeAllocation) {
  TempDir dir("anvil-test");
  ProcessSpec spec;
  spec.argv = {"/usr/bin/python3", "-c", "x = bytearray(2 * 1024**3)"};
  spec.memory_limit_bytes = 512ull << 20;
  spec.stderr_path = dir.path() / "err";
  auto outcome = run_process(spec);
  EXPECT_FALSE(outcome.succeeded());
  EXPECT_NE(read_text_file(dir.path() / "err").find("MemoryError"), std::string::npos);
}

TEST(TailOfFile, KeepsLastLines) {
  TempDir dir("anvil-test");
  std::ofstream(dir.path() / "f") << "a\nb\nc\nd\n";
  EXPECT_EQ(tail_of_file(dir.path() / "f", 2), "c\nd");
  EXPECT_EQ(tail_of_file(dir.path() / "f", 10), "a\nb\nc\nd");
  EXPECT_EQ(tail_of_file(dir.path() / "missing", 3), "");
}

}  // namespace
}  // namespace anvil
