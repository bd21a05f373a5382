#pragma once
// The main() of a benchmark program that runs from parsed settings: its usage on stderr (exit
// 64) when the arguments do not parse, else what the run returns, or its error (exit 1).

#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <optional>
#include <string_view>

namespace extract::bench {

// Parses argv into the variables `app`'s options are bound to; false when CLI11 refuses the
// arguments (--help included), so that the caller prints its own usage.
inline bool parses(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
        return true;
    } catch (const CLI::ParseError&) {
        return false;
    }
}

template <typename Settings, typename Run>
int run_parsed(std::string_view program, const char* usage, const std::optional<Settings>& settings, Run run) {
    if (!settings) {
        std::cerr << usage;
        return 64;
    }
    try {
        return run(*settings);
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace extract::bench
