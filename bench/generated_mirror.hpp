#pragma once
// A large mirror for the API benchmarks, written directly with the cache library (no sync):
// batch n has id generated_batch_id(n) (random-looking, like the upstream's), is created one second after batch n-1 (so
// higher n lists first), and takes its status from a fixed mix close to a real account's (70 % completed).

#include <cstdint>
#include <string>
#include <string_view>

#include "core/batch.hpp"

namespace extract::bench {

// The batch as the upstream would serve it, for its `raw` column: every field of `b`, and
// `options` (JSON object text; the mirror keeps it in raw only, so Batch has no field for it).
std::string upstream_json(const Batch& b, std::string_view options);

// The id of batch n: shaped like the upstream's (`bat_` and 20 letters and digits), scattered
// over the key space as the upstream's are (so lookups and inserts land all over the id-keyed
// indexes, as in a real mirror), and the same for the same n on every run.
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
