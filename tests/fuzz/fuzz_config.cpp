// Fuzzes the configuration parser (daemon parse_config on text): any file an operator may
// write must become a Config or errors naming file, line and key, never a crash. The API key
// comes from a fake environment so that a file without [upstream] can still be valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const extract::daemon::Environment env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "EXTRACT_API_KEY") return "fuzz-api-key";
        return std::nullopt;
    };
    const auto loaded = extract::daemon::parse_config(text, "fuzz.ini", env);
    // Exactly one of the two outcomes, as the header promises.
    if (loaded.ok() != loaded.config.has_value() || loaded.ok() != loaded.api_key.has_value()) std::abort();
    for (const auto& error : loaded.errors) {
        if (error.message.empty() || error.file != "fuzz.ini") std::abort();
        (void)error.to_string();
    }
    return 0;
}
