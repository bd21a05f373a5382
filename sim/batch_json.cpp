#include "sim/batch_json.hpp"

#include <array>
#include <charconv>

#include "core/json_text.hpp"

namespace extract::sim {
namespace {

// What `flavor` picks. Variety matters more than realism: a client must cope with a null
// engine, empty and non-empty options, null metadata and a field the contract never named.
constexpr std::array<std::string_view, 3> kEngines{"standard", "fast", "vision"};
constexpr std::array<std::string_view, 4> kOptions{
    R"({"output_format":"markdown"})",
    R"({"ocr":true,"output_format":"json"})",
    R"({"output_format":"markdown","pages":"1-10"})",
    "{}",
};
constexpr std::array<std::string_view, 4> kSubmitters{"pipeline", "alice", "nightly-import", "bob"};
constexpr std::array<std::string_view, 3> kRegions{"eu-west-1", "us-east-1", "ap-south-1"};

void append_int(std::string& out, std::int64_t v) {
    std::array<char, 24> buf{};
    const auto end = std::to_chars(buf.data(), buf.data() + buf.size(), v).ptr;
    out.append(buf.data(), end);
}

void append_digits(std::string& out, std::int64_t v, int width) {
    std::array<char, 12> buf{};
    for (int i = width - 1; i >= 0; --i) {
        buf[static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
    out.append(buf.data(), static_cast<std::size_t>(width));
}

void append_nullable_timestamp(std::string& out, Micros wall) {
    if (wall == kNull) {
        out += "null";
    } else {
        out += '"';
        append_upstream_timestamp(out, wall);
        out += '"';
    }
}

void append_base_json(std::string& out, const BatchRecord& b, std::string_view status_name) {
    out += R"({"object":"batch","id":")";
    out += b.id_view();
    out += R"(","status":)";
    append_json_string(out, status_name);
    out += R"(,"counts":{"pending":)";
    append_int(out, b.counts.pending);
    out += R"(,"running":)";
    append_int(out, b.counts.running);
    out += R"(,"succeeded":)";
    append_int(out, b.counts.succeeded);
    out += R"(,"failed":)";
    append_int(out, b.counts.failed);
    out += R"(,"cancelled":)";
    append_int(out, b.counts.cancelled);
    out += R"(},"total_items":)";
    append_int(out, b.total_items);
    out += R"(,"engine":)";
    if (b.flavor % 10 == 0) {
        out += "null";
    } else {
        out += '"';
        out += kEngines[(b.flavor >> 4) % kEngines.size()];
        out += '"';
    }
    out += R"(,"options":)";
    out += kOptions[(b.flavor >> 8) % kOptions.size()];
    out += R"(,"metadata":)";
    if ((b.flavor >> 12) % 10 < 3) {
        out += "null";
    } else {
        out += R"({"project":"project-)";
        append_int(out, (b.flavor >> 16) % 50);
        out += R"(","submitted_by":")";
        out += kSubmitters[(b.flavor >> 22) % kSubmitters.size()];
        out += R"("})";
    }
    out += R"(,"created_at":)";
    append_nullable_timestamp(out, b.created_at);
    out += R"(,"started_at":)";
    append_nullable_timestamp(out, b.started_at);
    out += R"(,"completed_at":)";
    append_nullable_timestamp(out, b.completed_at);
    out += R"(,"expires_at":)";
    append_nullable_timestamp(out, b.expires_at);
    if ((b.flavor >> 26) % 5 == 0) {
        out += R"(,"region":")";
        out += kRegions[(b.flavor >> 29) % kRegions.size()];
        out += '"';
    }
    out += '}';
}

}  // namespace

std::string batch_json(const BatchRecord& batch, std::string_view status_name) {
    // Written into a buffer that keeps its capacity, then copied once at its exact size: a
    // million batches must not each carry the slack of a growing string.
    thread_local std::string scratch;
    scratch.clear();
    append_base_json(scratch, batch, status_name);
    if (!batch.overrides || batch.overrides->empty()) return scratch;
    auto merged = nlohmann::json::parse(scratch);
    for (const auto& [key, value] : batch.overrides->items()) merged[key] = value;
    return merged.dump();
}

void append_upstream_timestamp(std::string& out, Micros wall) {
    // Howard Hinnant's civil_from_days: exact for every date, no time zone database.
    Micros days = wall / 86'400'000'000;
    Micros rest = wall % 86'400'000'000;
    if (rest < 0) {
        rest += 86'400'000'000;
        days -= 1;
    }
    days += 719468;
    const Micros era = (days >= 0 ? days : days - 146096) / 146097;
    const Micros doe = days - era * 146097;
    const Micros yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const Micros doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const Micros mp = (5 * doy + 2) / 153;
    const Micros day = doy - (153 * mp + 2) / 5 + 1;
    const Micros month = mp < 10 ? mp + 3 : mp - 9;
    const Micros year = yoe + era * 400 + (month <= 2);

    append_digits(out, year, 4);
    out += '-';
    append_digits(out, month, 2);
    out += '-';
    append_digits(out, day, 2);
    out += 'T';
    append_digits(out, rest / 3'600'000'000, 2);
    out += ':';
    append_digits(out, rest / 60'000'000 % 60, 2);
    out += ':';
    append_digits(out, rest / 1'000'000 % 60, 2);
    out += '.';
    append_digits(out, rest % 1'000'000, 6);
    out += 'Z';
}

std::string format_upstream_timestamp(Micros wall) {
    std::string out;
    append_upstream_timestamp(out, wall);
    return out;
}

}  // namespace extract::sim
