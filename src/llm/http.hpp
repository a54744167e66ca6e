#pragma once

#include <map>
#include <string>

namespace anvil::llm {

struct HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names
};

// One HTTPS/HTTP POST through libcurl. Throws ProviderError (transient) when the connection fails
// or times out; any HTTP status is returned for the caller to judge.
HttpResponse http_post(const std::string& url, const std::map<std::string, std::string>& headers,
                       const std::string& body, double connect_timeout_s, double timeout_s);

}  // namespace anvil::llm
