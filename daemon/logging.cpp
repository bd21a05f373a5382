#include "daemon/logging.hpp"

#include <sys/stat.h>

#include <array>
#include <charconv>
#include <optional>
#include <utility>

#include <spdlog/cfg/helpers.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace extract::daemon {
namespace {

constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 5> kLevels{{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
}};

std::optional<spdlog::level::level_enum> parse_level(std::string_view name) {
    for (const auto& [text, level] : kLevels) {
        if (name == text) return level;
    }
    return std::nullopt;
}

std::string unknown_level_message(const std::string& level) {
    return "unknown log level \"" + level + "\"; use trace, debug, info, warn or error";
}

// Sets every logger to `level`, unless the operator's $SPDLOG_LEVEL, a deliberate override for
// this run (debugging a unit, say), says otherwise.
void apply_level(spdlog::level::level_enum level, const Environment& env) {
    spdlog::set_level(level);
    if (const auto from_env = env("SPDLOG_LEVEL"); from_env && !from_env->empty()) {
        spdlog::cfg::helpers::load_levels(*from_env);
    }
}

// The sd-daemon(3) prefix the journal turns into the entry's priority.
std::string_view syslog_prefix(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug: return "<7>";
        case spdlog::level::info: return "<6>";
        case spdlog::level::warn: return "<4>";
        case spdlog::level::err: return "<3>";
        case spdlog::level::critical: return "<2>";
        default: return "<6>";
    }
}

class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        const std::string_view prefix = syslog_prefix(msg.level);
        dest.append(prefix.data(), prefix.data() + prefix.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriorityFlag>(); }
};

template <class Number>
bool parse_decimal(std::string_view text, Number& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

}  // namespace

LogDestination log_destination(const Environment& env, int fd) {
    const auto stream = env("JOURNAL_STREAM");
    if (!stream) return LogDestination::stderr_text;
    const std::string_view text = *stream;
    const auto colon = text.find(':');
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (colon == std::string_view::npos || !parse_decimal(text.substr(0, colon), device) ||
        !parse_decimal(text.substr(colon + 1), inode)) {
        return LogDestination::stderr_text;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0) return LogDestination::stderr_text;
    const bool same =
        static_cast<unsigned long long>(st.st_dev) == device && static_cast<unsigned long long>(st.st_ino) == inode;
    return same ? LogDestination::journal : LogDestination::stderr_text;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(LogDestination destination) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    if (destination == LogDestination::journal) {
        formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%l %v");
    } else {
        formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
    }
    return formatter;
}

bool is_log_level(std::string_view level) { return parse_level(level).has_value(); }

bool init_logging(const std::string& level, std::string& error) {
    return init_logging(level, process_environment(), error);
}

bool init_logging(const std::string& level, const Environment& env, std::string& error) {
    auto logger = std::make_shared<spdlog::logger>("extract-sync", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_formatter(make_log_formatter(log_destination(env)));
    spdlog::set_default_logger(std::move(logger));
    const auto parsed = parse_level(level);
    apply_level(parsed.value_or(spdlog::level::info), env);
    if (!parsed) {
        error = unknown_level_message(level);
        return false;
    }
    error.clear();
    return true;
}

bool set_log_level(const std::string& level, std::string& error) {
    return set_log_level(level, process_environment(), error);
}

bool set_log_level(const std::string& level, const Environment& env, std::string& error) {
    const auto parsed = parse_level(level);
    if (!parsed) {
        error = unknown_level_message(level);
        return false;
    }
    apply_level(*parsed, env);
    error.clear();
    return true;
}

}  // namespace extract::daemon
