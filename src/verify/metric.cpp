#include "verify/metric.hpp"

#include <fmt/format.h>

#include <cmath>

namespace anvil::verify {
namespace {

bool special(double v) { return std::isnan(v) || std::isinf(v); }

// NaN matches NaN, Inf matches Inf of the same sign; a finite value matches neither.
bool specials_match(double reference, double generated) {
  if (std::isnan(reference) || std::isnan(generated)) {
    return std::isnan(reference) && std::isnan(generated);
  }
  return reference == generated;
}

TensorComparison compare_integers(const HostTensor& reference, const HostTensor& generated,
                                  TensorComparison result) {
  for (std::size_t i = 0; i < result.elements; ++i) {
    auto ref = reference.integer(i);
    auto gen = generated.integer(i);
    if (ref == gen) continue;
    ++result.over_tau;
    double diff = std::fabs(static_cast<double>(ref) - static_cast<double>(gen));
    if (!result.worst_index || diff > result.max_abs_error) {
      result.max_abs_error = diff;
      result.worst_index = i;
      result.worst_reference = static_cast<double>(ref);
      result.worst_generated = static_cast<double>(gen);
    }
  }
  result.fraction_over =
      result.elements ? static_cast<double>(result.over_tau) / result.elements : 0.0;
  result.passed = result.over_tau == 0;
  if (!result.passed) {
    result.reason =
        fmt::format("{} of {} integer elements differ (integer outputs must match exactly)",
                    result.over_tau, result.elements);
  }
  return result;
}

}  // namespace

Tolerance default_tolerance(DType dtype) {
  switch (dtype) {
    case DType::float16:
      return {4e-3, 1e-3};
    case DType::bfloat16:
      return {1.6e-2, 1e-2};
    case DType::float64:
      return {1e-3, 1e-12};
    default:
      return {1e-3, 1e-5};
  }
}

double element_error(double reference, double generated, double epsilon) {
  double diff = std::fabs(generated - reference);
  if (std::fabs(reference) > epsilon) return diff / std::fabs(reference);
  if (std::fabs(generated) > epsilon) return diff / std::fabs(generated);
  return 0.0;  // both at noise level for the dtype
}

bool fraction_within(std::size_t over, std::size_t elements, double tau) {
  // The relative slack absorbs tau's binary representation (0.001 is not exact in double).
  return static_cast<double>(over) <= tau * static_cast<double>(elements) * (1.0 + 1e-9);
}

TensorComparison compare_tensors(const HostTensor& reference, const HostTensor& generated) {
  TensorComparison result;
  result.tolerance = default_tolerance(reference.dtype);
  if (reference.shape != generated.shape || reference.dtype != generated.dtype) {
    result.interface_mismatch = true;
    result.reason = fmt::format("output is {} {} but the reference is {} {}",
                                dtype_name(generated.dtype), shape_text(generated.shape),
                                dtype_name(reference.dtype), shape_text(reference.shape));
    return result;
  }
  result.elements = reference.size();
  if (!is_floating(reference.dtype)) return compare_integers(reference, generated, result);

  double worst_error = -1;
  const auto [tau, epsilon] = result.tolerance;
  for (std::size_t i = 0; i < result.elements; ++i) {
    double ref = reference.value(i);
    double gen = generated.value(i);
    double error = 0;
    if (special(ref) || special(gen)) {
      if (specials_match(ref, gen)) continue;
      ++result.nan_inf_mismatches;
      error = INFINITY;
    } else {
      error = element_error(ref, gen, epsilon);
      result.max_abs_error = std::max(result.max_abs_error, std::fabs(gen - ref));
      result.max_rel_error = std::max(result.max_rel_error, error);
    }
    if (error > tau) ++result.over_tau;
    if (error > worst_error) {
      worst_error = error;
      result.worst_index = i;
      result.worst_reference = ref;
      result.worst_generated = gen;
    }
  }
  result.fraction_over =
      result.elements ? static_cast<double>(result.over_tau) / result.elements : 0.0;
  result.passed =
      result.nan_inf_mismatches == 0 && fraction_within(result.over_tau, result.elements, tau);
  if (result.nan_inf_mismatches > 0) {
    result.reason = fmt::format("{} elements differ in NaN/Inf position (NaN and Inf must match)",
                                result.nan_inf_mismatches);
  } else if (!result.passed) {
    result.reason = fmt::format(
        "{} of {} elements ({:.4g}%) have relative error above {} (at most {:.4g}% may)",
        result.over_tau, result.elements, 100.0 * result.fraction_over, tau, 100.0 * tau);
  }
  return result;
}

std::string index_text(const std::vector<std::int64_t>& shape, std::size_t index) {
  std::vector<std::int64_t> coords(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    auto extent = static_cast<std::size_t>(shape[d]);
    coords[d] = static_cast<std::int64_t>(extent ? index % extent : 0);
    index = extent ? index / extent : 0;
  }
  return shape_text(coords);
}

}  // namespace anvil::verify
