#include "cache/event.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

namespace extract::cache {
namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::uint64_t kLow16 = 0xFFFF;

// The 5 bits starting at bit `shift` of the 128-bit number high:low.
unsigned five_bits(std::uint64_t high, std::uint64_t low, unsigned shift) {
    std::uint64_t v = 0;
    if (shift >= 64) {
        v = high >> (shift - 64);
    } else if (shift == 0) {
        v = low;
    } else {
        v = (low >> shift) | (high << (64 - shift));
    }
    return static_cast<unsigned>(v & 31U);
}

std::uint64_t seed_from_device() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

std::string_view event_type_name(EventType type) {
    switch (type) {
        case EventType::created: return "batch.created";
        case EventType::status_changed: return "batch.status_changed";
        case EventType::updated: return "batch.updated";
        case EventType::removed: return "batch.removed";
    }
    return "batch.updated";  // unreachable: every enumerator is handled above
}

EventIdGenerator::EventIdGenerator() : random_(seed_from_device()) {}

EventIdGenerator::EventIdGenerator(std::uint64_t seed) : random_(seed) {}

std::string EventIdGenerator::next(WallTime now) {
    const auto ms_signed = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::uint64_t ms = ms_signed < 0 ? 0 : static_cast<std::uint64_t>(ms_signed);
    if (ms > last_ms_) {
        random_high_ = random_() & kLow16;
        random_low_ = random_();
    } else {
        // Same millisecond or a clock step back: keep the last time and count up, so the new
        // id still sorts after the previous one.
        ms = last_ms_;
        if (++random_low_ == 0 && ++random_high_ > kLow16) {
            random_high_ = 0;
            ++ms;
        }
    }
    last_ms_ = ms;

    const std::uint64_t high = (ms << 16) | random_high_;
    std::string id = "evt_";
    id.reserve(30);
    for (unsigned i = 0; i < 26; ++i) id += kCrockford[five_bits(high, random_low_, 125 - 5 * i)];
    return id;
}

std::string event_payload(EventType type, std::string_view timestamp, std::string_view raw,
                          std::optional<std::string_view> previous_status) {
    // Built as text so `raw` goes in verbatim; the key order follows SPEC §5's example.
    std::string out;
    out.reserve(raw.size() + 160);
    out += R"({"type":")";
    out += event_type_name(type);
    out += R"(","timestamp":")";
    out += timestamp;
    out += R"(","data":{"batch":)";
    out += raw;
    switch (type) {
        case EventType::created: out += R"(,"previous_status":null)"; break;
        case EventType::status_changed:
            out += R"(,"previous_status":)";
            // A free upstream string: escaped. None at a first sighting.
            out += previous_status ? nlohmann::json(std::string(*previous_status)).dump() : "null";
            break;
        case EventType::removed:
            out += R"(,"removed_at":")";
            out += timestamp;
            out += '"';
            break;
        case EventType::updated: break;
    }
    out += "}}";
    return out;
}

}  // namespace extract::cache
