#include "core/batch.hpp"

#include <algorithm>

namespace extract {

std::optional<std::string> batch_id_problem(std::string_view id) {
    if (id.size() > kMaxBatchIdBytes) {
        return "its id is " + std::to_string(id.size()) + " bytes long, more than " + std::to_string(kMaxBatchIdBytes);
    }
    // NUL cuts the id short in C strings (SQLite lookups, environment variables); the other
    // control bytes forge log lines and terminal output.
    const bool control = std::any_of(id.begin(), id.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    });
    if (control) return std::string("its id contains a NUL or control byte");
    return std::nullopt;
}

}  // namespace extract
