#include "verify/verify_result.hpp"

#include <fmt/format.h>

namespace anvil::verify {
namespace {

nlohmann::json comparison_json(const OutputCheck& check) {
  const auto& c = check.comparison;
  nlohmann::json out{{"index", check.index},
                     {"shape", check.shape},
                     {"dtype", check.dtype},
                     {"passed", c.passed},
                     {"elements", c.elements},
                     {"over_tau", c.over_tau},
                     {"fraction_over_tau", c.fraction_over},
                     {"tau", c.tolerance.tau},
                     {"epsilon", c.tolerance.epsilon},
                     {"max_abs_error", c.max_abs_error},
                     {"max_rel_error", c.max_rel_error},
                     {"nan_inf_mismatches", c.nan_inf_mismatches}};
  if (!c.reason.empty()) out["reason"] = c.reason;
  if (c.worst_index && !c.passed) {
    out["worst"] = {{"index", index_text(check.shape, *c.worst_index)},
                    {"reference", c.worst_reference},
                    {"candidate", c.worst_generated}};
  }
  return out;
}

nlohmann::json timing_json(const TimingStats& t) {
  return {{"median_ms", t.median_ms},
          {"mean_ms", t.mean_ms},
          {"stdev_ms", t.stdev_ms},
          {"min_ms", t.min_ms},
          {"max_ms", t.max_ms},
          {"p25_ms", t.p25_ms},
          {"p75_ms", t.p75_ms},
          {"repeats", t.repeats},
          {"warmup_calls", t.warmup_calls},
          {"threads", t.threads},
          {"load_average", t.load_average}};
}

std::string dims_text(const std::map<std::string, std::int64_t>& dims) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : dims) parts.push_back(fmt::format("{}={}", name, value));
  return parts.empty() ? "" : fmt::format(" ({})", fmt::join(parts, ", "));
}

}  // namespace

nlohmann::json to_json(const VerifyResult& r) {
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& c : r.cases) {
    nlohmann::json draws = nlohmann::json::array();
    for (const auto& d : c.draws) {
      nlohmann::json outputs = nlohmann::json::array();
      for (const auto& o : d.outputs) outputs.push_back(comparison_json(o));
      draws.push_back({{"draw", d.draw}, {"passed", d.passed}, {"outputs", outputs}});
    }
    cases.push_back({{"id", c.id}, {"dims", c.dims}, {"draws", draws}});
  }
  nlohmann::json timing = nullptr;
  if (r.candidate_timing && r.reference_timing) {
    timing = {{"case", r.timing_case},
              {"candidate", timing_json(*r.candidate_timing)},
              {"reference", timing_json(*r.reference_timing)},
              {"speedup", r.speedup.value_or(0.0)},
              {"warnings", r.timing_warnings}};
  }
  return {{"status", r.passed ? "pass" : "fail"},
          {"stage", r.stage},
          {"error_class",
           r.error_class.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error_class)},
          {"message", r.message},
          {"violations", r.violations},
          {"evidence", r.evidence},
          {"cases", cases},
          {"timing", timing},
          {"speedup", r.speedup ? nlohmann::json(*r.speedup) : nlohmann::json(nullptr)},
          {"task", r.task},
          {"candidate", r.candidate},
          {"dsl", r.dsl},
          {"backend", r.backend},
          {"sandbox", r.sandbox},
          {"network_isolated", r.network_isolated},
          {"threads", r.threads},
          {"seed", r.seed},
          {"seconds", r.seconds}};
}

std::string human_report(const VerifyResult& r) {
  std::string out;
  if (r.passed) {
    out += fmt::format("PASS  {} on {}/{}\n", r.candidate, r.dsl, r.backend);
  } else {
    out += fmt::format("FAIL  at stage {} ({}): {}\n", r.stage, r.error_class, r.message);
  }
  for (const auto& v : r.violations) {
    std::string where = v.contains("line") ? fmt::format("line {}: ", v["line"].get<int>()) : "";
    out +=
        fmt::format("  violation {}: {}{}\n", v.value("rule", "?"), where, v.value("message", ""));
  }
  if (!r.evidence.empty()) {
    out += "  evidence:\n";
    std::size_t start = 0;
    int shown = 0;
    while (start < r.evidence.size() && shown++ < 25) {
      auto end = r.evidence.find('\n', start);
      out += "    " + r.evidence.substr(start, end - start) + "\n";
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  for (const auto& c : r.cases) {
    for (const auto& d : c.draws) {
      double worst = 0;
      for (const auto& o : d.outputs) worst = std::max(worst, o.comparison.fraction_over);
      out += fmt::format("  case {}{} draw {}: {} (fraction over tau {:.3g})\n", c.id,
                         dims_text(c.dims), d.draw, d.passed ? "ok" : "MISMATCH", worst);
    }
  }
  if (r.candidate_timing && r.reference_timing && r.speedup) {
    const auto& c = *r.candidate_timing;
    const auto& e = *r.reference_timing;
    out += fmt::format(
        "  timing ({} threads, case {}): candidate {:.4g} ms [p25 {:.4g}, p75 {:.4g}, n={}]  "
        "eager {:.4g} ms [p25 {:.4g}, p75 {:.4g}, n={}]  speedup {:.3f}x\n",
        c.threads, r.timing_case, c.median_ms, c.p25_ms, c.p75_ms, c.repeats, e.median_ms, e.p25_ms,
        e.p75_ms, e.repeats, *r.speedup);
  }
  for (const auto& warning : r.timing_warnings) out += "  timing warning: " + warning + "\n";
  out += fmt::format("  {} threads; sandbox: {}; seed {}; {:.1f} s\n", r.threads, r.sandbox, r.seed,
                     r.seconds);
  return out;
}

}  // namespace anvil::verify
