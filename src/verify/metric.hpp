#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "verify/tensor_file.hpp"

namespace anvil::verify {

// The correctness metric of DESIGN.md (verification step 6): per element,
//   e_i = |gen - ref| / |ref|   when |ref| > epsilon,
//   e_i = |gen - ref| / |gen|   otherwise, and e_i = 0 when |gen| <= epsilon too;
// a floating output passes when the fraction of elements with e_i > tau is at most tau, and NaN
// and Inf appear at the same positions (with the same sign for Inf). Integer and bool outputs
// must match exactly.
struct Tolerance {
  double tau = 1e-3;
  double epsilon = 1e-5;
};

// float32 and float64: tau 0.001; float16: 0.004; bfloat16: 0.016 (bf16 keeps 8 significand bits
// against float16's 11, so one rounding is up to 8x coarser; 4x float16's tau still demands
// that nearly every element is within about 4 bf16 ulps). epsilon is where values become
// noise-level for the dtype: 1e-12 (f64), 1e-5 (f32), 1e-3 (f16), 1e-2 (bf16).
Tolerance default_tolerance(DType dtype);

double element_error(double reference, double generated, double epsilon);

// Exact at the boundary: `over` elements of `elements` may exceed tau when over <= tau*elements.
bool fraction_within(std::size_t over, std::size_t elements, double tau);

struct TensorComparison {
  bool passed = false;
  bool interface_mismatch = false;  // shape or dtype differ: an API error, not a numerical one
  std::string reason;               // empty when passed
  std::size_t elements = 0;
  std::size_t over_tau = 0;
  double fraction_over = 0;
  double max_abs_error = 0;
  double max_rel_error = 0;
  std::size_t nan_inf_mismatches = 0;
  std::optional<std::size_t> worst_index;  // element with the largest e_i (first on ties)
  double worst_reference = 0;
  double worst_generated = 0;
  Tolerance tolerance;
};

TensorComparison compare_tensors(const HostTensor& reference, const HostTensor& generated);

// `index` of a row-major tensor as coordinates, e.g. "[3, 17]", for reports.
std::string index_text(const std::vector<std::int64_t>& shape, std::size_t index);

}  // namespace anvil::verify
