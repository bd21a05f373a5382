#pragma once
// The JSON text of a simulated batch as the upstream serves it. Written by hand because it
// is rebuilt on every change of every batch; nlohmann only joins in when the control API
// set free-form fields.

#include <string>
#include <string_view>

#include "sim/batch_record.hpp"

namespace extract::sim {

std::string batch_json(const BatchRecord& batch, std::string_view status_name);

// Upstream style, microseconds and `Z`: 2026-11-30T03:04:05.123456Z
std::string format_upstream_timestamp(Micros wall);
void append_upstream_timestamp(std::string& out, Micros wall);

}  // namespace extract::sim
