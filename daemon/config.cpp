#include "daemon/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <system_error>
#include <utility>

#include "core/duration.hpp"
#include "daemon/logging.hpp"
#include "delivery/webhook_signature.hpp"

namespace extract::daemon {
namespace {

// What is wrong with one value, or nothing when it was accepted.
using Problem = std::optional<std::string>;

constexpr std::string_view kBlanks = " \t\r\n\v\f";
constexpr std::array<std::string_view, 4> kEventTypes{"batch.created", "batch.status_changed", "batch.updated",
                                                      "batch.removed"};
// Far enough for any real setting, near enough that adding it to a time point cannot overflow.
constexpr Millis kLongestDuration{36500LL * 86'400'000};
constexpr std::size_t kMaxCredentialBytes = 64 * 1024;
constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

bool is_blank(char c) { return kBlanks.find(c) != std::string_view::npos; }

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(kBlanks);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string lowercase(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// strerror's text, without strerror's shared buffer (a reload runs beside other threads).
std::string errno_text(int error) { return std::generic_category().message(error); }

template <std::size_t N>
std::string join(const std::array<std::string_view, N>& items) {
    std::string out;
    for (const auto item : items) out += (out.empty() ? "" : ", ") + std::string(item);
    return out;
}

// Errors and warnings of one load, located in one file.
class Diagnostics {
public:
    Diagnostics(std::string file, LoadedConfig& result) : file_(std::move(file)), result_(result) {}
    void error(int line, std::string key, std::string message) {
        result_.errors.push_back(ConfigError{file_, line, std::move(key), std::move(message)});
    }
    void warn(int line, std::string key, std::string message) {
        result_.warnings.push_back(ConfigError{file_, line, std::move(key), std::move(message)}.to_string());
    }

private:
    std::string file_;
    LoadedConfig& result_;
};

// ---- files ------------------------------------------------------------------------------

struct FileContent {
    std::optional<std::string> text;  // set when read
    std::string problem;              // why it was not read
    bool missing = false;             // the path does not exist
    bool readable_by_others = false;  // group or other may read it
    unsigned mode = 0;
};

// A descriptor of `path` when it is a regular file no larger than `max_bytes`; otherwise -1,
// with `out` saying why.
int open_regular_file(const std::string& path, std::size_t max_bytes, FileContent& out) {
    // O_NONBLOCK: opening a FIFO for reading would block until a writer came (start-up and
    // --check-config hung, deaf to SIGTERM); with it the open returns and fstat refuses it. It
    // changes nothing for a regular file.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        out.missing = errno == ENOENT;
        out.problem = errno_text(errno);
        return -1;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        out.problem = "not a regular file";
    } else if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) {
        out.problem = "larger than " + std::to_string(max_bytes / 1024) + " KiB";
    } else {
        out.mode = st.st_mode & 07777;
        out.readable_by_others = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
        return fd;
    }
    ::close(fd);
    return -1;
}

FileContent read_file(const std::string& path, std::size_t max_bytes) {
    FileContent out;
    const int fd = open_regular_file(path, max_bytes, out);
    if (fd < 0) return out;
    std::string text;
    std::array<char, 8192> buf{};
    while (true) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n > 0) {
            text.append(buf.data(), static_cast<std::size_t>(n));
        } else if (n == 0) {
            out.text = std::move(text);
            break;
        } else if (errno != EINTR) {
            out.problem = errno_text(errno);
            break;
        }
    }
    ::close(fd);
    return out;
}

std::string octal(unsigned mode) {
    std::array<char, 8> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), mode, 8);
    return "0" + std::string(buf.data(), end);
}

// ---- values -----------------------------------------------------------------------------

Problem read_duration(std::string_view text, Millis& out) {
    const auto d = parse_duration(text);
    if (!d) return "must be a duration like 250ms, 10s, 5m, 2h or 3d, got " + quoted(text);
    if (*d <= Millis{0}) return "must be longer than 0, got " + quoted(text);
    if (*d > kLongestDuration) return "must be at most 36500d, got " + quoted(text);
    out = *d;
    return {};
}

// Comma-separated, items trimmed; an empty value is an empty list, an empty item an error.
Problem read_list(std::string_view text, std::vector<std::string>& out) {
    std::vector<std::string> items;
    if (!trim(text).empty()) {
        std::size_t pos = 0;
        while (true) {
            const auto comma = text.find(',', pos);
            const auto item = trim(text.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
            if (item.empty()) return "has an empty item in " + quoted(text) + "; remove the extra comma";
            items.emplace_back(item);
            if (comma == std::string_view::npos) break;
            pos = comma + 1;
        }
    }
    out = std::move(items);
    return {};
}

Problem read_nonempty_list(std::string_view text, std::vector<std::string>& out) {
    std::vector<std::string> items;
    if (auto problem = read_list(text, items)) return problem;
    if (items.empty()) return std::string("must list at least one value");
    out = std::move(items);
    return {};
}

Problem read_event_types(std::string_view text, std::vector<std::string>& out) {
    std::vector<std::string> items;
    if (auto problem = read_nonempty_list(text, items)) return problem;
    for (const auto& item : items) {
        if (std::find(kEventTypes.begin(), kEventTypes.end(), item) == kEventTypes.end()) {
            return "unknown event type " + quoted(item) + "; known: " + join(kEventTypes);
        }
    }
    out = std::move(items);
    return {};
}

// An empty schedule is allowed: one attempt, no retries.
Problem read_retry_schedule(std::string_view text, std::vector<Millis>& out) {
    std::vector<std::string> items;
    if (auto problem = read_list(text, items)) return problem;
    std::vector<Millis> waits(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (auto problem = read_duration(items[i], waits[i])) return "item " + std::to_string(i + 1) + ": " + *problem;
    }
    out = std::move(waits);
    return {};
}

Problem read_bool(std::string_view text, bool& out) {
    const std::string lower = lowercase(text);
    const bool is_true = lower == "true" || lower == "yes" || lower == "on" || lower == "1";
    const bool is_false = lower == "false" || lower == "no" || lower == "off" || lower == "0";
    if (!is_true && !is_false) return "must be true or false (also yes/no, on/off, 1/0), got " + quoted(text);
    out = is_true;
    return {};
}

// A size in bytes: a whole number with an optional unit B, KiB, MiB or GiB ("64MiB", "512 KiB").
Problem read_size(std::string_view text, std::size_t lowest, std::size_t highest, std::size_t& out) {
    static constexpr std::array<std::pair<std::string_view, std::size_t>, 4> kUnits{
        {{"GiB", std::size_t{1} << 30}, {"MiB", std::size_t{1} << 20}, {"KiB", std::size_t{1} << 10}, {"B", 1}}};
    std::string_view number = text;
    std::size_t unit = 1;
    for (const auto& [suffix, factor] : kUnits) {
        if (number.ends_with(suffix)) {
            number.remove_suffix(suffix.size());
            unit = factor;
            break;
        }
    }
    while (!number.empty() && number.back() == ' ') number.remove_suffix(1);
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    const auto range = [&] {
        return "must be between " + std::to_string(lowest >> 10) + " KiB and " + std::to_string(highest >> 20) +
               " MiB, got " + std::string(text);
    };
    if (number.empty() || end != number.data() + number.size() || ec == std::errc::invalid_argument) {
        return "must be a size such as 64MiB (units B, KiB, MiB, GiB), got " + quoted(text);
    }
    if (ec == std::errc::result_out_of_range || value > highest / unit) return range();
    value *= unit;
    if (value < lowest || value > highest) return range();
    out = value;
    return {};
}

// A percentage from 0% to 100%, the sign required ("50%", "12.5%").
Problem read_percent(std::string_view text, double& out) {
    const auto problem = [&] { return "must be a percentage from 0% to 100% such as 50%, got " + quoted(text); };
    if (!text.ends_with('%')) return problem();
    const std::string_view number = text.substr(0, text.size() - 1);
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc{} || end != number.data() + number.size() || !std::isfinite(value) ||
        value < 0 || value > 100) {
        return problem();
    }
    out = value;
    return {};
}

Problem read_int(std::string_view text, int lowest, int highest, int& out) {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || end != text.data() + text.size() || ec == std::errc::invalid_argument) {
        return "must be a whole number, got " + quoted(text);
    }
    if (ec == std::errc::result_out_of_range || value < lowest || value > highest) {
        return "must be between " + std::to_string(lowest) + " and " + std::to_string(highest) + ", got " +
               std::string(text);
    }
    out = value;
    return {};
}

// Always octal, as chmod reads it: 660 and 0660 are the same.
Problem read_socket_mode(std::string_view text, unsigned& out) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 0777) {
        return "must be an octal file mode like 0660, at most 0777, got " + quoted(text);
    }
    out = value;
    return {};
}

// Octal as read_socket_mode, and one of the two modes the daemon gives the mirror's files.
Problem read_mirror_file_mode(std::string_view text, unsigned& out) {
    unsigned value = 0;
    if (read_socket_mode(text, value) || (value != 0600 && value != 0640)) {
        return "must be 0600 (only the daemon's user reads the mirror) or 0640 (its group may read it too), got " +
               quoted(text);
    }
    out = value;
    return {};
}

Problem read_rate(std::string_view text, double& out) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value) || value < 0) {
        return "must be a number of requests per second, 0 or more (0: no limit), got " + quoted(text);
    }
    out = value;
    return {};
}

// http(s)://host[:port][/path…], as written.
Problem read_url(std::string_view text, std::string& out) {
    const auto problem = [&](const std::string& why) {
        return "must be an http:// or https:// URL with a host (" + why + "), got " + quoted(text);
    };
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) return problem("no scheme");
    const std::string scheme = lowercase(text.substr(0, scheme_end));
    if (scheme != "http" && scheme != "https") return problem("scheme " + quoted(scheme));
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
        return problem("white space or control characters");
    }
    const auto rest = text.substr(scheme_end + 3);
    const auto authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos) return problem("user info is not supported");
    std::string_view host = authority;
    std::optional<std::string_view> port;
    if (host.starts_with('[')) {  // [IPv6 address]
        const auto close = host.find(']');
        if (close == std::string_view::npos) return problem("unterminated [");
        const auto after = host.substr(close + 1);
        host = host.substr(0, close + 1);
        if (!after.empty() && !after.starts_with(':')) return problem("junk after ]");
        if (!after.empty()) port = after.substr(1);
    } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
        port = host.substr(colon + 1);
        host = host.substr(0, colon);
    }
    if (host.empty() || host == "[]") return problem("no host");
    int port_number = 0;
    if (port && read_int(*port, 1, 65535, port_number)) return problem("bad port");
    out = std::string(text);
    return {};
}

// A URL that paths are appended to: its trailing '/' is dropped.
Problem read_base_url(std::string_view text, std::string& out) {
    std::string url;
    if (auto problem = read_url(text, url)) return problem;
    const auto path_start = url.find('/', url.find("://") + 3);
    while (path_start != std::string::npos && url.size() > path_start && url.ends_with('/')) url.pop_back();
    out = std::move(url);
    return {};
}

// Empty means "not set"; the file is read later, with the credentials.
Problem read_optional_path(std::string_view text, std::string& out) {
    out = std::string(text);
    return {};
}

Problem read_nonempty(std::string_view text, std::string& out) {
    if (text.empty()) return std::string("must not be empty");
    out = std::string(text);
    return {};
}

// Empty, or a file that can be opened for reading now (rather than at the first TLS handshake).
Problem read_readable_file(std::string_view text, std::string& out) {
    if (!text.empty()) {
        const std::string path(text);
        FileContent file;
        const int fd = open_regular_file(path, std::numeric_limits<std::size_t>::max(), file);
        if (fd < 0) return "cannot read " + path + ": " + file.problem;
        ::close(fd);
    }
    out = std::string(text);
    return {};
}

// [api] allowed_uids / allowed_gids: numbers or names, resolved now (getpwnam / getgrnam) so
// that a misspelt name is a configuration error naming it, not a user silently locked out.
enum class IdKind { user, group };

std::optional<unsigned> id_of_name(const std::string& name, IdKind kind) {
    std::vector<char> buffer(16 * 1024);
    if (kind == IdKind::user) {
        passwd entry{};
        passwd* found = nullptr;
        if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return {};
        return found->pw_uid;
    }
    group entry{};
    group* found = nullptr;
    if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return {};
    return found->gr_gid;
}

Problem read_ids(std::string_view text, IdKind kind, std::vector<unsigned>& out) {
    std::vector<std::string> items;
    if (auto problem = read_list(text, items)) return problem;
    const std::string_view what = kind == IdKind::user ? "user" : "group";
    std::vector<unsigned> ids;
    for (const auto& item : items) {
        unsigned id = 0;
        const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
        if (ec == std::errc{} && end == item.data() + item.size()) {
            // (uid_t)-1 means "no change" to the kernel and is nobody's id.
            if (id == static_cast<unsigned>(-1))
                return "has " + quoted(item) + ", which is not a " + std::string(what) + " id";
            ids.push_back(id);
        } else if (const auto resolved = id_of_name(item, kind)) {
            ids.push_back(*resolved);
        } else {
            return "names " + std::string(what) + " " + quoted(item) + ", which does not exist on this machine; give " +
                   "an existing " + std::string(what) + " name or a numeric id";
        }
    }
    out = std::move(ids);
    return {};
}

Problem read_socket_path(std::string_view text, std::string& out) {
    constexpr std::size_t longest = sizeof(sockaddr_un::sun_path) - 1;
    if (text.size() > longest) {
        return "must be at most " + std::to_string(longest) + " bytes long (the limit of a Unix socket path), got " +
               std::to_string(text.size());
    }
    return read_nonempty(text, out);
}

Problem read_log_level(std::string_view text, std::string& out) {
    if (!is_log_level(text)) return "must be one of trace, debug, info, warn, error, got " + quoted(text);
    out = std::string(text);
    return {};
}

Problem read_command(std::string_view text, TriggerConfig& trigger) {
    std::string error;
    auto argv = split_command(text, error);
    if (!error.empty()) return error;
    if (argv.empty()) return std::string("must name a program to run");
    trigger.command = std::string(text);
    trigger.argv = std::move(argv);
    return {};
}

// ---- the INI layer ------------------------------------------------------------------------

struct IniValue {
    std::string key;
    std::string text;
    int line = 0;
};

struct IniSection {
    std::string name;
    int line = 0;
    std::vector<IniValue> values;  // in file order

    const IniValue* find(std::string_view key) const {
        const auto it = std::find_if(values.begin(), values.end(), [&](const IniValue& v) { return v.key == key; });
        return it == values.end() ? nullptr : &*it;
    }
    std::string key_label(std::string_view key) const { return name + "." + std::string(key); }
};

enum class SectionKind { upstream, sync, cache, api, log, webhook, trigger, unknown };

constexpr std::string_view kWebhookPrefix = "webhook.";
constexpr std::string_view kTriggerPrefix = "trigger.";

bool is_target_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(),
                                        [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

SectionKind section_kind(std::string_view name) {
    if (name == "upstream") return SectionKind::upstream;
    if (name == "sync") return SectionKind::sync;
    if (name == "cache") return SectionKind::cache;
    if (name == "api") return SectionKind::api;
    if (name == "log") return SectionKind::log;
    if (name.starts_with(kWebhookPrefix) && is_target_name(name.substr(kWebhookPrefix.size()))) {
        return SectionKind::webhook;
    }
    if (name.starts_with(kTriggerPrefix) && is_target_name(name.substr(kTriggerPrefix.size()))) {
        return SectionKind::trigger;
    }
    return SectionKind::unknown;
}

// Where a comment starts: ';' or '#' at the start of the line or after white space, outside
// quotes (so a trigger command may quote them).
std::size_t comment_start(std::string_view line) {
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quote != 0) {
            if (c == quote) {
                quote = 0;
            } else if (c == '\\' && quote == '"') {
                ++i;
            }
        } else if (c == '\\') {
            ++i;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if ((c == ';' || c == '#') && (i == 0 || is_blank(line[i - 1]))) {
            return i;
        }
    }
    return std::string_view::npos;
}

std::vector<IniSection> read_ini(std::string_view text, Diagnostics& diag) {
    std::vector<IniSection> sections;
    bool in_section = false;  // false before the first header and after a rejected one
    bool rejected_section = false;
    int line_number = 0;
    for (std::size_t pos = 0; pos <= text.size();) {
        const auto newline = text.find('\n', pos);
        std::string_view line = text.substr(pos, newline == std::string_view::npos ? newline : newline - pos);
        pos = newline == std::string_view::npos ? text.size() + 1 : newline + 1;
        ++line_number;
        line = trim(line.substr(0, comment_start(line)));
        if (line.empty()) continue;

        if (line.front() == '[') {
            in_section = false;
            rejected_section = true;
            if (line.back() != ']') {
                diag.error(line_number, "", "a section header must end with ']'");
                continue;
            }
            const std::string name(trim(line.substr(1, line.size() - 2)));
            const auto previous =
                std::find_if(sections.begin(), sections.end(), [&](const IniSection& s) { return s.name == name; });
            if (section_kind(name) == SectionKind::unknown) {
                diag.error(line_number, "[" + name + "]",
                           "unknown section; known: [upstream], [sync], [cache], [api], [log], [webhook.NAME], "
                           "[trigger.NAME] (NAME: letters, digits, '_' and '-')");
            } else if (previous != sections.end()) {
                diag.error(line_number, "[" + name + "]",
                           "duplicate section, first at line " + std::to_string(previous->line));
            } else {
                sections.push_back(IniSection{name, line_number, {}});
                in_section = true;
                rejected_section = false;
            }
            continue;
        }

        // Never echo a whole line or an unknown key's value: it may be a pasted secret.
        const auto equals = line.find('=');
        if (equals == std::string_view::npos) {
            diag.error(line_number, "", "expected `key = value` or a [section] header");
            continue;
        }
        const std::string key(trim(line.substr(0, equals)));
        const std::string value(trim(line.substr(equals + 1)));
        if (key.empty()) {
            diag.error(line_number, "", "a key is missing before '='");
            continue;
        }
        if (!in_section) {
            if (!rejected_section) {
                diag.error(line_number, key, "key outside any section; put it under a [section] header");
            }
            continue;
        }
        auto& section = sections.back();
        if (const auto* previous = section.find(key)) {
            diag.error(line_number, section.key_label(key),
                       "duplicate key, first set at line " + std::to_string(previous->line));
            continue;
        }
        section.values.push_back(IniValue{key, value, line_number});
    }
    return sections;
}

// ---- sections -----------------------------------------------------------------------------

template <class Target>
struct KeyRule {
    std::string_view key;
    Problem (*apply)(Target&, std::string_view);
};

template <class Target, std::size_t N>
void apply_section(const IniSection& section, const std::array<KeyRule<Target>, N>& rules, Target& target,
                   Diagnostics& diag) {
    for (const auto& value : section.values) {
        const auto rule = std::find_if(rules.begin(), rules.end(), [&](const auto& r) { return r.key == value.key; });
        if (rule == rules.end()) {
            std::string known;
            for (const auto& r : rules) known += (known.empty() ? "" : ", ") + std::string(r.key);
            diag.error(value.line, section.key_label(value.key), "unknown key; [" + section.name + "] takes " + known);
            continue;
        }
        if (auto problem = rule->apply(target, value.text)) {
            diag.error(value.line, section.key_label(value.key), std::move(*problem));
        }
    }
}

const std::array<KeyRule<UpstreamConfig>, 8> kUpstreamKeys{{
    {"base_url", [](UpstreamConfig& c, std::string_view v) { return read_base_url(v, c.base_url); }},
    {"api_key_file", [](UpstreamConfig& c, std::string_view v) { return read_optional_path(v, c.api_key_file); }},
    {"page_size", [](UpstreamConfig& c, std::string_view v) { return read_int(v, 1, 200, c.page_size); }},
    {"request_timeout", [](UpstreamConfig& c, std::string_view v) { return read_duration(v, c.request_timeout); }},
    // 64 KiB: far below any real page; 1 GiB: what one answer may cost in memory, at most.
    {"max_response_size",
     [](UpstreamConfig& c, std::string_view v) {
         return read_size(v, 64 * 1024, 1024 * 1024 * 1024, c.max_response_size);
     }},
    {"max_requests_per_second",
     [](UpstreamConfig& c, std::string_view v) { return read_rate(v, c.max_requests_per_second); }},
    {"verify_tls", [](UpstreamConfig& c, std::string_view v) { return read_bool(v, c.verify_tls); }},
    {"ca_file", [](UpstreamConfig& c, std::string_view v) { return read_readable_file(v, c.ca_file); }},
}};

const std::array<KeyRule<SyncConfig>, 7> kSyncKeys{{
    {"poll_interval", [](SyncConfig& c, std::string_view v) { return read_duration(v, c.poll_interval); }},
    {"idle_poll_interval", [](SyncConfig& c, std::string_view v) { return read_duration(v, c.idle_poll_interval); }},
    {"full_sync_interval", [](SyncConfig& c, std::string_view v) { return read_duration(v, c.full_sync_interval); }},
    {"terminal_statuses", [](SyncConfig& c, std::string_view v) { return read_nonempty_list(v, c.terminal_statuses); }},
    {"emit_on_bootstrap", [](SyncConfig& c, std::string_view v) { return read_bool(v, c.emit_on_bootstrap); }},
    {"mass_removal_threshold",
     [](SyncConfig& c, std::string_view v) { return read_percent(v, c.mass_removal_threshold); }},
    {"mass_removal_confirm",
     [](SyncConfig& c, std::string_view v) { return read_duration(v, c.mass_removal_confirm); }},
}};

const std::array<KeyRule<CacheConfig>, 3> kCacheKeys{{
    {"path", [](CacheConfig& c, std::string_view v) { return read_nonempty(v, c.path); }},
    {"event_retention", [](CacheConfig& c, std::string_view v) { return read_duration(v, c.event_retention); }},
    {"file_mode", [](CacheConfig& c, std::string_view v) { return read_mirror_file_mode(v, c.file_mode); }},
}};

const std::array<KeyRule<ApiConfig>, 4> kApiKeys{{
    {"socket", [](ApiConfig& c, std::string_view v) { return read_socket_path(v, c.socket); }},
    {"socket_mode", [](ApiConfig& c, std::string_view v) { return read_socket_mode(v, c.socket_mode); }},
    {"allowed_uids", [](ApiConfig& c, std::string_view v) { return read_ids(v, IdKind::user, c.allowed_uids); }},
    {"allowed_gids", [](ApiConfig& c, std::string_view v) { return read_ids(v, IdKind::group, c.allowed_gids); }},
}};

const std::array<KeyRule<LogConfig>, 1> kLogKeys{{
    {"level", [](LogConfig& c, std::string_view v) { return read_log_level(v, c.level); }},
}};

// Webhooks and triggers share what selects events and how failures are retried.
template <class Target>
std::array<KeyRule<Target>, 4> delivery_keys() {
    return {{
        {"events", [](Target& c, std::string_view v) { return read_event_types(v, c.events); }},
        {"statuses", [](Target& c, std::string_view v) { return read_list(v, c.statuses); }},
        {"timeout", [](Target& c, std::string_view v) { return read_duration(v, c.timeout); }},
        {"retry_schedule", [](Target& c, std::string_view v) { return read_retry_schedule(v, c.retry_schedule); }},
    }};
}

template <class Target, std::size_t A, std::size_t B>
std::array<KeyRule<Target>, A + B> concat(const std::array<KeyRule<Target>, A>& a,
                                          const std::array<KeyRule<Target>, B>& b) {
    std::array<KeyRule<Target>, A + B> out{};
    std::copy(b.begin(), b.end(), std::copy(a.begin(), a.end(), out.begin()));
    return out;
}

const auto kWebhookKeys = concat(
    std::array<KeyRule<WebhookConfig>, 3>{{
        {"url", [](WebhookConfig& c, std::string_view v) { return read_url(v, c.url); }},
        {"secret_file", [](WebhookConfig& c, std::string_view v) { return read_optional_path(v, c.secret_file); }},
        {"max_in_flight", [](WebhookConfig& c, std::string_view v) { return read_int(v, 1, 64, c.max_in_flight); }},
    }},
    delivery_keys<WebhookConfig>());

const auto kTriggerKeys =
    concat(std::array<KeyRule<TriggerConfig>, 1>{{
               {"command", [](TriggerConfig& c, std::string_view v) { return read_command(v, c); }},
           }},
           delivery_keys<TriggerConfig>());

void require_key(const IniSection& section, std::string_view key, Diagnostics& diag) {
    if (section.find(key) == nullptr) {
        diag.error(section.line, section.key_label(key), "is required in [" + section.name + "]");
    }
}

// ---- credentials --------------------------------------------------------------------------

// Messages name where a credential came from, never what it holds.
Problem check_api_key(std::string_view key) {
    if (key.empty()) return std::string("is empty");
    if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
        return std::string("has white space or control characters inside the key; it must hold the key alone");
    }
    return {};
}

void warn_if_readable_by_others(const FileContent& file, const std::string& path, int line, std::string key,
                                Diagnostics& diag) {
    if (file.readable_by_others) {
        diag.warn(line, std::move(key),
                  path + " is readable by group or others (mode " + octal(file.mode) + "); chmod 600 it");
    }
}

// A credential file found in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=), if any.
struct Credential {
    std::string path;
    FileContent file;
};

std::optional<Credential> find_credential(const Environment& env, const std::string& name) {
    const auto dir = env("CREDENTIALS_DIRECTORY");
    if (!dir || dir->empty()) return std::nullopt;
    Credential credential{*dir + "/" + name, {}};
    credential.file = read_file(credential.path, kMaxCredentialBytes);
    return credential;
}

std::optional<ApiKey> resolve_api_key(const IniSection* upstream, const UpstreamConfig& config, const Environment& env,
                                      Diagnostics& diag) {
    const IniValue* entry = upstream ? upstream->find("api_key_file") : nullptr;
    const int line = entry ? entry->line : 0;
    const std::string key_label = "upstream.api_key_file";

    const auto key_from = [&](const FileContent& file, const std::string& path,
                              std::string source) -> std::optional<ApiKey> {
        if (!file.text) {
            diag.error(line, key_label, "cannot read the API key from " + path + ": " + file.problem);
            return std::nullopt;
        }
        warn_if_readable_by_others(file, path, line, key_label, diag);
        const std::string value(trim(*file.text));
        if (auto problem = check_api_key(value)) {
            diag.error(line, key_label, "the API key in " + path + " " + *problem);
            return std::nullopt;
        }
        return ApiKey{value, std::move(source)};
    };

    if (!config.api_key_file.empty()) {
        return key_from(read_file(config.api_key_file, kMaxCredentialBytes), config.api_key_file,
                        "api_key_file " + config.api_key_file);
    }
    if (const auto from_env = env("EXTRACT_API_KEY")) {
        const std::string value(trim(*from_env));
        if (auto problem = check_api_key(value)) {
            diag.error(line, key_label, "the API key in $EXTRACT_API_KEY " + *problem);
            return std::nullopt;
        }
        return ApiKey{value, "$EXTRACT_API_KEY"};
    }
    const auto credential = find_credential(env, "api_key");
    if (credential && !credential->file.missing) {
        return key_from(credential->file, credential->path, "$CREDENTIALS_DIRECTORY/api_key");
    }
    diag.error(line, key_label,
               "no API key: api_key_file is not set, $EXTRACT_API_KEY is not set, and " +
                   (credential ? credential->path + " does not exist" : "$CREDENTIALS_DIRECTORY is not set") +
                   "; provide one of the three (under systemd: LoadCredential=api_key:/etc/extract-sync/api_key)");
    return std::nullopt;
}

// The file holds whsec_ values separated by white space: several mean rotation.
void resolve_webhook_secrets(const IniSection& section, WebhookConfig& hook, const Environment& env,
                             Diagnostics& diag) {
    const IniValue* entry = section.find("secret_file");
    const int line = entry ? entry->line : section.line;
    const std::string key_label = section.key_label("secret_file");

    std::string path = hook.secret_file;
    std::string source = "secret_file " + path;
    FileContent file;
    if (!path.empty()) {
        file = read_file(path, kMaxCredentialBytes);
    } else {
        const std::string name = "webhook." + hook.name;
        auto credential = find_credential(env, name);
        if (!credential || credential->file.missing) {
            diag.error(line, key_label,
                       "no secret: set secret_file, or provide the credential " + name + " (systemd: LoadCredential=" +
                           name + ":PATH)" + (credential ? "; " + credential->path + " does not exist" : ""));
            return;
        }
        path = credential->path;
        source = "$CREDENTIALS_DIRECTORY/" + name;
        file = std::move(credential->file);
    }
    if (!file.text) {
        diag.error(line, key_label, "cannot read the webhook secret from " + path + ": " + file.problem);
        return;
    }
    warn_if_readable_by_others(file, path, line, key_label, diag);

    std::vector<std::string> secrets;
    const std::string_view text = *file.text;
    for (auto pos = text.find_first_not_of(kBlanks); pos != std::string_view::npos;) {
        const auto end = text.find_first_of(kBlanks, pos);
        secrets.emplace_back(text.substr(pos, end == std::string_view::npos ? end : end - pos));
        pos = end == std::string_view::npos ? end : text.find_first_not_of(kBlanks, end);
    }
    if (secrets.empty()) {
        diag.error(line, key_label, path + " holds no secret; it must hold whsec_<base64>");
        return;
    }
    for (std::size_t i = 0; i < secrets.size(); ++i) {
        if (delivery::webhook_secret_key(secrets[i])) continue;
        const std::string which = secrets.size() == 1
                                      ? "the secret"
                                      : "secret " + std::to_string(i + 1) + " of " + std::to_string(secrets.size());
        const char* why =
            secrets[i].starts_with("whsec_") ? " is not valid base64 after whsec_" : " does not start with whsec_";
        diag.error(line, key_label, which + " in " + path + why);
    }
    hook.secrets = std::move(secrets);
    hook.secret_source = std::move(source);
}

}  // namespace

std::string ConfigError::to_string() const {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
    if (!key.empty()) {
        const auto dot = key.rfind('.');
        if (key.front() == '[' || dot == std::string::npos) {
            out += key;
        } else {
            out += "[" + key.substr(0, dot) + "] " + key.substr(dot + 1);
        }
        out += ": ";
    }
    return out + message;
}

Environment process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

LoadedConfig load_config(const std::string& path, const Environment& env) {
    const auto file = read_file(path, kMaxConfigBytes);
    if (!file.text) {
        LoadedConfig result;
        Diagnostics(path, result).error(0, "", "cannot read the configuration file: " + file.problem);
        return result;
    }
    return parse_config(*file.text, path, env);
}

LoadedConfig parse_config(std::string_view text, const std::string& file_name, const Environment& env) {
    LoadedConfig result;
    Diagnostics diag(file_name, result);
    const auto sections = read_ini(text, diag);

    Config config;
    config.file = file_name;
    const IniSection* upstream = nullptr;
    for (const auto& section : sections) {
        switch (section_kind(section.name)) {
            case SectionKind::upstream:
                upstream = &section;
                apply_section(section, kUpstreamKeys, config.upstream, diag);
                break;
            case SectionKind::sync: apply_section(section, kSyncKeys, config.sync, diag); break;
            case SectionKind::cache: apply_section(section, kCacheKeys, config.cache, diag); break;
            case SectionKind::api: apply_section(section, kApiKeys, config.api, diag); break;
            case SectionKind::log: apply_section(section, kLogKeys, config.log, diag); break;
            case SectionKind::webhook: {
                WebhookConfig hook;
                hook.name = section.name.substr(kWebhookPrefix.size());
                apply_section(section, kWebhookKeys, hook, diag);
                require_key(section, "url", diag);
                resolve_webhook_secrets(section, hook, env, diag);
                config.webhooks.push_back(std::move(hook));
                break;
            }
            case SectionKind::trigger: {
                TriggerConfig trigger;
                trigger.name = section.name.substr(kTriggerPrefix.size());
                apply_section(section, kTriggerKeys, trigger, diag);
                require_key(section, "command", diag);
                config.triggers.push_back(std::move(trigger));
                break;
            }
            case SectionKind::unknown: break;  // reported by read_ini
        }
    }
    auto api_key = resolve_api_key(upstream, config.upstream, env, diag);
    // In file order, as an operator fixes them; errors tied to no line last.
    std::stable_sort(result.errors.begin(), result.errors.end(), [](const ConfigError& a, const ConfigError& b) {
        const auto order = [](const ConfigError& e) { return e.line > 0 ? e.line : std::numeric_limits<int>::max(); };
        return order(a) < order(b);
    });
    if (result.ok()) {
        result.config = std::move(config);
        result.api_key = std::move(api_key);
    }
    return result;
}

std::vector<std::string> sections_needing_restart(const Config& running, const Config& reloaded) {
    std::vector<std::string> sections;
    // A SIGHUP reads the API key again, so where it comes from may change without a restart.
    UpstreamConfig running_upstream = running.upstream;
    UpstreamConfig reloaded_upstream = reloaded.upstream;
    running_upstream.api_key_file.clear();
    reloaded_upstream.api_key_file.clear();
    if (running_upstream != reloaded_upstream) sections.emplace_back("upstream");
    if (running.cache != reloaded.cache) sections.emplace_back("cache");
    if (running.api != reloaded.api) sections.emplace_back("api");
    return sections;
}

std::vector<std::string> split_command(std::string_view command, std::string& error) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;  // "" is a word, so emptiness alone cannot tell
    error.clear();
    for (std::size_t i = 0; i < command.size(); ++i) {
        const char c = command[i];
        if (is_blank(c)) {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
            continue;
        }
        in_word = true;
        if (c == '\\') {
            if (++i == command.size()) {
                error = "ends with a backslash that escapes nothing";
                return {};
            }
            word += command[i];
        } else if (c == '\'') {
            const auto close = command.find('\'', i + 1);
            if (close == std::string_view::npos) {
                error = "has an unterminated ' quote";
                return {};
            }
            word += command.substr(i + 1, close - i - 1);
            i = close;
        } else if (c == '"') {
            for (++i;; ++i) {
                if (i == command.size()) {
                    error = "has an unterminated \" quote";
                    return {};
                }
                const char d = command[i];
                if (d == '"') break;
                if (d == '\\' && i + 1 < command.size() &&
                    std::string_view("\"\\$`").find(command[i + 1]) != std::string_view::npos) {
                    word += command[++i];
                } else {
                    word += d;
                }
            }
        } else {
            word += c;
        }
    }
    if (in_word) words.push_back(std::move(word));
    return words;
}

}  // namespace extract::daemon
