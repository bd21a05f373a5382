#pragma once
// What a handler answers instead of a reply when it has nothing yet for a long poll.

#include <cstdint>

#include "core/clock.hpp"

namespace extract::http {

// No event yet for a long poll: keep the connection, free the worker, and ask again when
// an event is committed (the notifier's generation moved past `seen_generation`) or at
// `deadline`, whichever comes first.
struct ParkForEvents {
    SteadyTime deadline;
    std::uint64_t seen_generation = 0;
};

}  // namespace extract::http
