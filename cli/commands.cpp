#include "cli/commands.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <variant>

#include "cli/views.hpp"
#include "core/duration.hpp"
#include "core/untrusted_text.hpp"

namespace extract::cli {
namespace {

constexpr std::array<std::string_view, 4> kTerminalStatuses{"completed", "partially_failed", "failed", "cancelled"};
// How long one long poll may be held: short enough that a daemon restart is noticed soon.
constexpr Millis kLongPollChunk{30'000};
// A sync runs to its end before the daemon answers; a full pass of a large account takes minutes.
constexpr Millis kSyncWait{30 * 60'000};
// Page size for reading the whole event log (the API's maximum).
constexpr int kEventPage = 1000;
// An `after` beyond any seq: the answer has no events, only the feed's current last_seq.
const std::string kBeyondAnySeq = std::to_string(std::numeric_limits<std::int64_t>::max());

using View = std::string (*)(const nlohmann::json&, const OutputStyle&);

std::string text_of(const nlohmann::json& object, std::string_view key) {
    const auto& value = member(object, key);
    return value.is_string() ? value.get<std::string>() : std::string();
}

std::int64_t int_of(const nlohmann::json& object, std::string_view key, std::int64_t fallback = 0) {
    const auto& value = member(object, key);
    return value.is_number_integer() ? value.get<std::int64_t>() : fallback;
}

bool flag_of(const nlohmann::json& object, std::string_view key) {
    const auto& value = member(object, key);
    return value.is_boolean() && value.get<bool>();
}

std::string batch_target(const std::string& id) { return "/v1/batches/" + path_segment(id); }

void print_json(const CommandEnvironment& env, const nlohmann::json& body) { env.out << body.dump() << "\n"; }

// The API's JSON with --json, else the human view of it.
void print_answer(const CommandEnvironment& env, const nlohmann::json& body, View view) {
    if (env.json) {
        print_json(env, body);
    } else {
        env.out << view(body, env.style);
    }
}

// nullopt when `answer` is a usable JSON answer; otherwise the failure is reported on stderr
// and its exit code returned: 2 when the daemon rejected what the user typed (422), else 1.
// `not_found` is the message for a 404 (none: the daemon's own detail).
std::optional<int> rejected(const CommandEnvironment& env, const ApiAnswer& answer, std::string_view what,
                            std::string_view not_found = {}) {
    if (answer.status == 404 && !not_found.empty()) {
        env.err << "extractctl: " << not_found << "\n";
        return kExitNegative;
    }
    if (!answer.ok()) {
        env.err << "extractctl: " << what << ": " << escape_untrusted(error_detail(answer), 2000) << "\n";
        return answer.status == 422 ? kExitUsage : kExitNegative;
    }
    if (answer.body.is_null()) {  // another program on the socket?
        env.err << "extractctl: " << what << ": the answer from " << env.api.socket_path()
                << " is not the daemon's JSON (HTTP " << answer.status << ")\n";
        return kExitNegative;
    }
    return std::nullopt;
}

std::string no_batch(const std::string& id) { return "no batch '" + id + "' in the mirror"; }

int list_batches(const ListBatches& ls, const CommandEnvironment& env) {
    nlohmann::json rows = nlohmann::json::array();
    std::optional<std::string> cursor;
    nlohmann::json last_page;
    do {
        const auto answer = env.api.get(request_target(
            "/v1/batches", {{"status", ls.status},
                            {"created_after", ls.created_after},
                            {"limit", std::to_string(ls.limit)},
                            {"include_removed", ls.all ? std::optional<std::string>("true") : std::nullopt},
                            {"cursor", cursor}}));
        if (const auto code = rejected(env, answer, "cannot list batches")) return *code;
        for (const auto& batch : list_rows(answer.body)) rows.push_back(batch);
        const auto next = text_of(answer.body, "next_cursor");
        cursor = next.empty() ? std::nullopt : std::optional<std::string>(next);
        last_page = answer.body;
    } while (ls.all && cursor);

    if (env.json) {
        print_json(env,
                   ls.all ? nlohmann::json{{"object", "list"}, {"data", rows}, {"next_cursor", nullptr}} : last_page);
        return kExitSuccess;
    }
    env.out << render_batch_list(rows, env.style);
    if (cursor) env.err << "(more batches than shown: --all lists every one)\n";
    return kExitSuccess;
}

int show_batch(const ShowBatch& show, const CommandEnvironment& env) {
    const auto answer = env.api.get(batch_target(show.id));
    if (const auto code = rejected(env, answer, "cannot show batch " + show.id, no_batch(show.id))) return *code;
    print_answer(env, answer.body, render_batch);
    return kExitSuccess;
}

// The event feed's current end: waiting for events after it misses nothing that happens next.
std::variant<std::int64_t, int> event_feed_end(const CommandEnvironment& env) {
    const auto feed = env.api.get(request_target("/v1/events", {{"after", kBeyondAnySeq}, {"limit", "1"}}));
    if (const auto code = rejected(env, feed, "cannot read the event feed")) return *code;
    return int_of(feed.body, "last_seq");
}

int wait_for_batch(const WaitForBatch& wait, const CommandEnvironment& env) {
    const SteadyTime deadline = wait.timeout ? env.clock.steady_now() + *wait.timeout : SteadyTime::max();

    // Race-free order: note where the event feed ends, then read the batch, then wait for
    // events after that point. A change between the two reads is then an event we get.
    const auto feed_end = event_feed_end(env);
    if (const auto* code = std::get_if<int>(&feed_end)) return *code;
    std::int64_t seen_seq = std::get<std::int64_t>(feed_end);

    std::string status;
    bool removed = false;
    const auto read_batch = [&]() -> std::optional<int> {
        const auto answer = env.api.get(batch_target(wait.id));
        if (const auto code = rejected(env, answer, "cannot read batch " + wait.id, no_batch(wait.id))) return code;
        status = text_of(answer.body, "status");
        removed = is_removed(answer.body);
        return std::nullopt;
    };
    if (const auto code = read_batch()) return *code;

    while (!wait_exit_code(status)) {
        if (removed) {
            env.err << "extractctl: batch " << wait.id << " was removed upstream before it finished (last status "
                    << escape_untrusted(status) << ")\n";
            return kExitNegative;
        }
        Millis chunk = kLongPollChunk;
        if (wait.timeout) {
            const auto left = std::chrono::duration_cast<Millis>(deadline - env.clock.steady_now());
            if (left <= Millis{0}) {
                env.err << "extractctl: timed out after " << format_duration(*wait.timeout) << " waiting for batch "
                        << wait.id << " (status " << status << ")\n";
                return kExitTimeout;
            }
            chunk = std::min(chunk, left);
        }
        const auto events = env.api.get(request_target("/v1/events", {{"after", std::to_string(seen_seq)},
                                                                      {"batch_id", wait.id},
                                                                      {"wait", format_duration(chunk)}}),
                                        chunk);
        if (const auto code = rejected(env, events, "cannot read the event feed")) return *code;
        const auto page = list_rows(events.body);
        for (const auto& event : page) seen_seq = std::max(seen_seq, int_of(event, "seq"));
        if (flag_of(events.body, "truncated")) {
            // Events we had not seen were pruned. The batch, read after this page, says where
            // it is now; later changes come as events after seen_seq.
            if (const auto code = read_batch()) return *code;
            continue;
        }
        for (const auto& event : page) {
            const std::string event_status = text_of(member(member(event, "data"), "batch"), "status");
            if (!event_status.empty()) status = event_status;
            if (text_of(event, "type") == "batch.removed") removed = true;
            if (wait_exit_code(status)) break;  // the first terminal status is the outcome
        }
    }

    if (env.json) {
        const auto answer = env.api.get(batch_target(wait.id));
        if (!rejected(env, answer, "cannot read batch " + wait.id)) print_json(env, answer.body);
    } else {
        env.out << render_wait_outcome(wait.id, status, env.style);
    }
    return *wait_exit_code(status);
}

void warn_truncated(const CommandEnvironment& env) {
    env.err << "extractctl: some events after the requested seq were already pruned (event_retention)\n";
}

int list_events(const ListEvents& events, const CommandEnvironment& env) {
    std::int64_t after = events.after.value_or(0);
    const auto page_target = [&](std::optional<Millis> wait) {
        return request_target("/v1/events", {{"after", std::to_string(after)},
                                             {"type", events.type},
                                             {"limit", std::to_string(kEventPage)},
                                             {"wait", wait ? std::optional(format_duration(*wait)) : std::nullopt}});
    };

    if (!events.follow) {
        nlohmann::json rows = nlohmann::json::array();
        nlohmann::json last_page;
        bool truncated = false;
        while (true) {
            const auto answer = env.api.get(page_target(std::nullopt));
            if (const auto code = rejected(env, answer, "cannot read events")) return *code;
            truncated = truncated || flag_of(answer.body, "truncated");
            const auto page = list_rows(answer.body);
            for (const auto& event : page) rows.push_back(event);
            last_page = answer.body;
            if (page.size() < static_cast<std::size_t>(kEventPage)) break;
            after = int_of(page.back(), "seq", after);
        }
        if (truncated) warn_truncated(env);
        if (env.json) {
            nlohmann::json joined{
                {"object", "list"}, {"data", rows}, {"last_seq", int_of(last_page, "last_seq", after)}};
            if (truncated) joined["truncated"] = true;
            print_json(env, joined);
        } else {
            env.out << render_events(rows, env.style);
        }
        return kExitSuccess;
    }

    if (!events.after) {
        // Like tail -f on a log that already exists: start at its current end.
        const auto feed_end = event_feed_end(env);
        if (const auto* code = std::get_if<int>(&feed_end)) return *code;
        after = std::get<std::int64_t>(feed_end);
    }
    if (!env.json) env.out << render_event_stream_header(env.style) << std::flush;
    while (true) {
        const auto answer = env.api.get(page_target(kLongPollChunk), kLongPollChunk);
        if (const auto code = rejected(env, answer, "cannot read events")) return *code;
        if (flag_of(answer.body, "truncated")) warn_truncated(env);
        const auto page = list_rows(answer.body);
        if (page.empty()) continue;
        if (env.json) {
            for (const auto& event : page) env.out << event.dump() << "\n";
        } else {
            env.out << render_event_stream_rows(page, env.style);
        }
        env.out << std::flush;  // a pipe would otherwise hold the lines back
        after = int_of(page.back(), "seq", after);
    }
}

// The GETs whose answer is only shown: stats, deliveries.
int show_answer(const std::string& target, std::string_view what, const CommandEnvironment& env, View view) {
    const auto answer = env.api.get(target);
    if (const auto code = rejected(env, answer, what)) return *code;
    print_answer(env, answer.body, view);
    return kExitSuccess;
}

int show_health(const CommandEnvironment& env) {
    const auto answer = env.api.get("/v1/health");
    // A 503 with a status is still a health report (starting or degraded), not an error.
    const bool is_report = answer.body.is_object() && answer.body.contains("status");
    if (!is_report) return rejected(env, answer, "cannot read health").value_or(kExitNegative);
    print_answer(env, answer.body, render_health);
    return answer.ok() && text_of(answer.body, "status") == "ok" ? kExitSuccess : kExitNegative;
}

int run_sync(const RunSync& sync, const CommandEnvironment& env) {
    const auto answer =
        env.api.post(request_target("/v1/sync", {{"full", sync.full ? "true" : "false"}, {"wait", "true"}}), kSyncWait);
    if (const auto code = rejected(env, answer, "sync failed")) return *code;
    if (!env.json && !answer.body.contains("id")) {
        env.out << error_detail(answer) << "\n";  // not a run, e.g. 202 {"detail":"sync requested"}
    } else {
        print_answer(env, answer.body, render_sync_run);
    }
    return member(answer.body, "error").is_null() ? kExitSuccess : kExitNegative;
}

int list_deliveries(const ListDeliveries& list, const CommandEnvironment& env) {
    return show_answer(request_target("/v1/deliveries", {{"state", list.state}, {"target", list.target}}),
                       "cannot list deliveries", env, [](const nlohmann::json& body, const OutputStyle& style) {
                           return render_deliveries(list_rows(body), style);
                       });
}

int redeliver(const Redeliver& request, const CommandEnvironment& env) {
    const std::string target =
        request.delivery_id ? "/v1/deliveries/" + std::to_string(*request.delivery_id) + "/retry"
                            : request_target("/v1/deliveries/retry", {{"state", "failed"}, {"target", request.target}});
    const auto answer = env.api.post(target);
    const std::string not_found = request.delivery_id ? "no delivery " + std::to_string(*request.delivery_id) : "";
    if (const auto code = rejected(env, answer, "cannot redeliver", not_found)) return *code;
    print_answer(env, answer.body, render_redelivered);
    return kExitSuccess;
}

}  // namespace

bool is_terminal_status(std::string_view status) {
    return std::find(kTerminalStatuses.begin(), kTerminalStatuses.end(), status) != kTerminalStatuses.end();
}

std::optional<int> wait_exit_code(std::string_view status) {
    if (!is_terminal_status(status)) return std::nullopt;
    return status == "completed" || status == "partially_failed" ? kExitSuccess : kExitNegative;
}

int run_command(const Command& command, const CommandEnvironment& env) {
    struct Dispatch {
        const CommandEnvironment& env;
        int operator()(const ListBatches& c) const { return list_batches(c, env); }
        int operator()(const ShowBatch& c) const { return show_batch(c, env); }
        int operator()(const WaitForBatch& c) const { return wait_for_batch(c, env); }
        int operator()(const ListEvents& c) const { return list_events(c, env); }
        int operator()(const ShowStats&) const {
            return show_answer("/v1/stats", "cannot read stats", env, render_stats);
        }
        int operator()(const ShowHealth&) const { return show_health(env); }
        int operator()(const RunSync& c) const { return run_sync(c, env); }
        int operator()(const ListDeliveries& c) const { return list_deliveries(c, env); }
        int operator()(const Redeliver& c) const { return redeliver(c, env); }
        int operator()(const ShowVersion&) const {
            env.out << "extractctl " << EXTRACT_VERSION << "\n";
            return kExitSuccess;
        }
        int operator()(const ShowHelp& c) const {
            env.out << help_text(c.command);
            return kExitSuccess;
        }
    };
    return std::visit(Dispatch{env}, command);
}

}  // namespace extract::cli
