// Provider configuration, the response cache, prompt rendering and reply parsing.
#include <gtest/gtest.h>

#include "agents/prompts.hpp"
#include "core/error.hpp"
#include "core/temp_dir.hpp"
#include "llm/endpoint.hpp"
#include "llm/provider.hpp"
#include "store/database.hpp"
#include "store/llm_cache.hpp"

namespace anvil {
namespace {

TEST(LlmEndpoint, RoleOverridesFallThroughToDefaults) {
  Settings settings;
  settings.llm.provider = "openai";
  settings.llm.base_url = "https://api.deepseek.com/v1/";
  settings.llm.model = "deepseek-chat";
  settings.llm_roles["designer"].model = "deepseek-reasoner";
  auto designer = llm::provider_config_for(settings, "designer");
  auto coder = llm::provider_config_for(settings, "coder");
  EXPECT_EQ(designer.model, "deepseek-reasoner");
  EXPECT_EQ(coder.model, "deepseek-chat");
  EXPECT_EQ(coder.base_url, "https://api.deepseek.com/v1") << "a trailing slash is dropped";
}

TEST(LlmEndpoint, CommandLineBeatsTheFileForAllOrOneRole) {
  Settings settings;
  settings.llm_roles["designer"].model = "from-file";
  llm::override_endpoint(settings, "model", "everyone");
  EXPECT_EQ(llm::provider_config_for(settings, "designer").model, "everyone");
  llm::override_endpoint(settings, "model", "coder=just-the-coder");
  EXPECT_EQ(llm::provider_config_for(settings, "coder").model, "just-the-coder");
  EXPECT_EQ(llm::provider_config_for(settings, "conductor").model, "everyone");
  llm::override_endpoint(settings, "base_url", "http://host:8000/v1?x=1");
  EXPECT_EQ(llm::provider_config_for(settings, "coder").base_url, "http://host:8000/v1?x=1")
      << "an '=' in a value for every role is not a role prefix";
}

TEST(LlmProviders, UnknownProviderAndMissingSettingsAreUsageErrors) {
  llm::ProviderConfig config;
  config.kind = "carrier-pigeon";
  EXPECT_THROW(llm::make_provider(config), UsageError);
  config.kind = "openai";
  EXPECT_THROW(llm::make_provider(config), UsageError) << "no base URL";
  config.kind = "exec";
  EXPECT_THROW(llm::make_provider(config), UsageError) << "no command";
}

TEST(LlmCache, ReplayAnswersWhatALiveRunStoredAndNamesMisses) {
  TempDir dir("anvil-test");
  store::Database db(dir.path() / "anvil.db");
  store::LlmCache cache(db);
  llm::ProviderConfig live;
  live.kind = "exec";
  live.model = "m";
  live.command = "echo '```sketch' && echo hi && echo '```'";
  llm::ChatRequest request{"designer", {{"user", "design it"}}};
  auto provider = llm::with_cache(llm::make_provider(live), &cache, llm::CacheMode::read_write);
  auto first = provider->complete(request);
  EXPECT_FALSE(first.from_cache);
  EXPECT_NE(first.content.find("hi"), std::string::npos);

  llm::ProviderConfig replay = live;
  replay.kind = "replay";
  auto replaying = llm::with_cache(llm::make_provider(replay), &cache, llm::CacheMode::read);
  auto again = replaying->complete(request);
  EXPECT_TRUE(again.from_cache);
  EXPECT_EQ(again.content, first.content);
  llm::ChatRequest other{"designer", {{"user", "something else"}}};
  try {
    replaying->complete(other);
    FAIL() << "a replay miss must fail";
  } catch (const llm::ProviderError& e) {
    EXPECT_NE(std::string(e.what()).find("no cached reply for the designer request"),
              std::string::npos);
  }
}

TEST(LlmCache, SurvivesReopeningTheDatabase) {
  TempDir dir("anvil-test");
  {
    store::Database db(dir.path() / "anvil.db");
    store::LlmCache(db).put("k", "openai", "m", "coder", {"reply", 10, 5});
  }
  store::Database db(dir.path() / "anvil.db");
  EXPECT_EQ(db.schema_version(), static_cast<int>(store::schema_migrations().size()));
  auto hit = store::LlmCache(db).find("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->reply, "reply");
  EXPECT_EQ(hit->completion_tokens, 5);
}

TEST(LlmRetries, TransientErrorsAreRetriedPermanentOnesAreNot) {
  llm::ProviderConfig config;
  config.max_retries = 2;
  config.backoff_base_s = 0.01;
  int calls = 0;
  auto reply = llm::with_retries(config, [&](double&) -> llm::ChatReply {
    if (++calls < 3) throw llm::ProviderError("busy", "", true);
    return {"ok", {}, 0, 0, false, 1};
  });
  EXPECT_EQ(reply.content, "ok");
  EXPECT_EQ(reply.attempts, 3);
  calls = 0;
  EXPECT_THROW(llm::with_retries(config,
                                 [&](double&) -> llm::ChatReply {
                                   ++calls;
                                   throw llm::ProviderError("bad key", "", false);
                                 }),
               llm::ProviderError);
  EXPECT_EQ(calls, 1);
}

TEST(AgentPrompts, FencedBlocksTakeTheLastOfTheirLanguage) {
  std::string reply =
      "draft:\n```sketch\nold\n```\nfinal:\n```sketch\nnew\n```\n```python3\nnot python\n```\n";
  EXPECT_EQ(agents::fenced_block(reply, "sketch"), "new\n");
  EXPECT_FALSE(agents::fenced_block(reply, "python").has_value())
      << "```python3 is another language";
  EXPECT_FALSE(agents::fenced_block("```sketch\nunterminated", "sketch").has_value());
}

TEST(AgentPrompts, TemplatesNeedEveryValue) {
  auto text =
      agents::render_prompt("format_repair", {{"error", "no block"}, {"expected", "a block"}});
  EXPECT_NE(text.find("no block"), std::string::npos);
  EXPECT_EQ(text.find("{{"), std::string::npos);
  EXPECT_THROW(agents::render_prompt("format_repair", {{"error", "x"}}), Error);
}

}  // namespace
}  // namespace anvil
