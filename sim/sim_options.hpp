#pragma once
// extract-sim's command line: SPEC §1 fixes --port, --batches, --api-key, --seed, --order and
// --frozen; --speed, --retention and --threads are the sim's own.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/batch_store.hpp"

namespace extract::sim {

struct SimOptions {
    std::uint16_t port = 0;  // 0: any free port
    std::size_t batches = 100;
    std::string api_key = "sim-key";
    StoreSettings store;
    int threads = 16;
    bool help = false;
    bool version = false;  // --version: print it and exit
};

struct ParsedSimOptions {
    std::optional<SimOptions> options;
    std::string error;  // what is wrong when `options` is empty
};

// `args` without the program name. Both `--flag value` and `--flag=value`; the last one wins.
ParsedSimOptions parse_sim_options(const std::vector<std::string>& args);
std::string sim_usage();

}  // namespace extract::sim
