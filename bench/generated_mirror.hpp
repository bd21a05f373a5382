#pragma once
// A large mirror for the API benchmarks, written directly with the cache library (no sync):
// batch n has id batch_id(n), is created one second after batch n-1 (so higher n lists first),
// and takes its status from a fixed mix close to a real account's (70 % completed).

#include <cstdint>
#include <string>

#include "core/batch.hpp"

namespace extract::bench {

// The batch as the upstream would serve it, for its `raw` column: every field of `b`.
std::string upstream_json(const Batch& b);

std::string generated_batch_id(std::int64_t n);
// The created_at of batch n, as the upstream writes it (microseconds, "Z").
std::string generated_created_at(std::int64_t n);
// The status of batch n.
std::string generated_status(std::int64_t n);

// Creates the mirror at `path` with `rows` batches, or does nothing when a mirror with that
// many batches is already there (building 1M rows takes a while; reruns reuse it). Throws
// std::runtime_error when a different mirror is at `path`.
void ensure_generated_mirror(const std::string& path, std::int64_t rows);

}  // namespace extract::bench
