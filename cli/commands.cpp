#include "cli/commands.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "cli/history.hpp"
#include "cli/unix_http_client.hpp"
#include "cli/views.hpp"
#include "core/batch.hpp"
#include "core/duration.hpp"
#include "core/untrusted_text.hpp"

namespace extract::cli {
namespace {

// How long one long poll may be held: short enough that a daemon restart is noticed soon.
constexpr Millis kLongPollChunk{30'000};
// wait, while neither the mirror nor the upstream could be asked about the batch: how often to look again.
constexpr Millis kUnknownBatchChunk{5'000};
// POST /v1/batches/{id}/refresh answers within the daemon's bound (20 s, docs/api.md); some room beyond.
constexpr Millis kRefreshWait{25'000};
// A sync runs to its end before the daemon answers; a full pass of a large account takes minutes.
constexpr Millis kSyncWait{30 * 60'000};
// Page size for reading the whole event log (the API's maximum).
constexpr int kEventPage = 1000;
// Page size for deliveries --all (the API's maximum).
constexpr const char* kDeliveryPage = "1000";
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

std::string no_batch(const std::string& id) { return "no batch '" + id + "' in the mirror"; }

// The rows of a cursor-paged list: one page, or with `all` every page joined.
struct PagedRows {
    nlohmann::json rows = nlohmann::json::array();
    nlohmann::json last_page;
    std::optional<std::string> next_cursor;  // set when pages were left unread
};

std::variant<PagedRows, int> read_pages(const CommandEnvironment& env, bool all, std::string_view what,
                                        const std::function<std::string(const std::optional<std::string>&)>& target) {
    PagedRows paged;
    do {
        const auto answer = env.api.get(target(paged.next_cursor));
        if (const auto code = rejected(env, answer, what)) return *code;
        for (const auto& row : list_rows(answer.body)) paged.rows.push_back(row);
        const auto next = text_of(answer.body, "next_cursor");
        paged.next_cursor = next.empty() ? std::nullopt : std::optional<std::string>(next);
        paged.last_page = answer.body;
    } while (all && paged.next_cursor);
    return paged;
}

// A cursor-paged list shown: the API's JSON (one page as answered, or with `all` every
// page joined), or the table `render` makes, with `more` on stderr when pages were left.
int show_pages(const CommandEnvironment& env, bool all, std::string_view what,
               const std::function<std::string(const std::optional<std::string>&)>& target,
               const std::function<std::string(const nlohmann::json&)>& render,
               const std::function<std::string(std::size_t shown)>& more) {
    const auto read = read_pages(env, all, what, target);
    if (const auto* code = std::get_if<int>(&read)) return *code;
    const auto& paged = std::get<PagedRows>(read);
    if (env.json) {
        print_json(env, all ? nlohmann::json{{"object", "list"}, {"data", paged.rows}, {"next_cursor", nullptr}}
                            : paged.last_page);
        return kExitSuccess;
    }
    env.out << render(paged.rows);
    if (paged.next_cursor) env.err << more(paged.rows.size()) << "\n";
    return kExitSuccess;
}

int list_batches(const ListBatches& ls, const CommandEnvironment& env) {
    return show_pages(
        env, ls.all, "cannot list batches",
        [&](const std::optional<std::string>& cursor) {
            QueryParams params{{"status", ls.status},
                               {"engine", ls.engine},
                               {"created_after", ls.created_after},
                               {"created_before", ls.created_before},
                               {"limit", std::to_string(ls.limit)},
                               {"include_removed",
                                ls.all || ls.removed ? std::optional<std::string>("true") : std::nullopt},
                               {"cursor", cursor}};
            for (const auto& [key, value] : ls.metadata) params.emplace_back("metadata." + key, value);
            return request_target("/v1/batches", params);
        },
        [&](const nlohmann::json& rows) { return render_batch_list(rows, env.style); },
        [](std::size_t) { return std::string("(more batches than shown: --all lists every one)"); });
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

// The daemon as `wait` talks to it: a daemon lost after the first answer (a restart, a socket
// briefly gone, "the daemon is stopping") is called again until the deadline, and stderr says
// so once. A daemon never reached is ConnectError at once, as for every command.
class ReconnectingDaemon {
public:
    ReconnectingDaemon(const CommandEnvironment& env, SteadyTime deadline) : env_(env), deadline_(deadline) {}

    // The answer; nullopt when the daemon stayed unreachable past the deadline (said on stderr).
    std::optional<ApiAnswer> get(const std::string& target, Millis long_poll = Millis{0}) {
        return call([&] { return env_.api.get(target, long_poll); });
    }
    std::optional<ApiAnswer> post(const std::string& target, Millis long_poll = Millis{0}) {
        return call([&] { return env_.api.post(target, long_poll); });
    }

private:
    template <class Request>
    std::optional<ApiAnswer> call(const Request& request) {
        Millis pause{100};
        while (true) {
            std::string lost;
            try {
                ApiAnswer answer = request();
                if (answer.status != 503 || error_detail(answer) != kStopping) {
                    reached_ = true;
                    return answer;
                }
                lost = env_.api.socket_path() + " answered: " + std::string(kStopping);
            } catch (const ConnectError& e) {
                if (!reached_) throw;
                lost = e.what();
            }
            const SteadyTime now = env_.clock.steady_now();
            if (now >= deadline_) {
                env_.err << "extractctl: " << lost << "; still unreachable at the timeout\n";
                return std::nullopt;
            }
            if (!announced_) {
                env_.err << "extractctl: lost the daemon at " << env_.api.socket_path() << ", reconnecting "
                         << (deadline_ == SteadyTime::max() ? "until it is back (no --timeout)" : "until the timeout")
                         << "\n";
                announced_ = true;
            }
            std::this_thread::sleep_for(std::min(pause, std::chrono::duration_cast<Millis>(deadline_ - now)));
            pause = std::min(pause * 2, kMaxReconnectPause);
        }
    }

    static constexpr std::string_view kStopping = "the daemon is stopping";
    static constexpr Millis kMaxReconnectPause{1000};
    const CommandEnvironment& env_;
    const SteadyTime deadline_;
    bool reached_ = false;
    bool announced_ = false;
};

int wait_for_batch(const WaitForBatch& wait, const CommandEnvironment& env) {
    const SteadyTime deadline = wait.timeout ? env.clock.steady_now() + *wait.timeout : SteadyTime::max();
    ReconnectingDaemon daemon(env, deadline);
    const bool progress = env.progress && !env.json;
    const auto clear_progress = [&] {
        if (progress) env.err << "\r\x1b[K" << std::flush;
    };

    // Race-free order: note where the event feed ends, then read the batch, then wait for
    // events after that point. A change between the two reads is then an event we get.
    const auto feed = daemon.get(request_target("/v1/events", {{"after", kBeyondAnySeq}, {"limit", "1"}}));
    if (!feed) return kExitUnreachable;
    if (const auto code = rejected(env, *feed, "cannot read the event feed")) return *code;
    std::int64_t seen_seq = int_of(feed->body, "last_seq");

    nlohmann::json batch;  // the last answer of GET /v1/batches/{id}; null while no one knows it
    bool told_unrefreshed = false;
    // Reads the batch; when the mirror lacks it, asks the daemon to fetch it from upstream now.
    // An exit code when waiting must end.
    const auto read_batch = [&]() -> std::optional<int> {
        const auto answer = daemon.get(batch_target(wait.id));
        if (!answer) return kExitUnreachable;
        if (answer->status != 404) {
            if (const auto code = rejected(env, *answer, "cannot read batch " + wait.id)) return code;
            batch = answer->body;
            return std::nullopt;
        }
        const auto refreshed = daemon.post(batch_target(wait.id) + "/refresh", kRefreshWait);
        if (!refreshed) return kExitUnreachable;
        if (refreshed->status == 404) {
            clear_progress();
            env.err << "extractctl: no batch " << wait.id << " in the mirror or upstream\n";
            return kExitNoSuchBatch;
        }
        if (refreshed->status == 503 || refreshed->status == 504) {
            // The upstream cannot be asked now; the sync mirrors the batch once it can.
            if (!told_unrefreshed) {
                clear_progress();
                env.err << "extractctl: cannot fetch batch " << wait.id << " from upstream now ("
                        << error_detail(*refreshed) << "); waiting for the sync to mirror it\n";
                told_unrefreshed = true;
            }
            return std::nullopt;
        }
        if (const auto code = rejected(env, *refreshed, "cannot fetch batch " + wait.id)) return code;
        batch = refreshed->body;
        return std::nullopt;
    };
    const auto status = [&] { return text_of(batch, "status"); };

    if (const auto code = read_batch()) return *code;
    while (batch.is_null() || !wait_exit_code(status())) {
        if (!batch.is_null() && is_removed(batch)) {
            clear_progress();
            env.err << "extractctl: batch " << wait.id << " was removed upstream before it finished (last status "
                    << escape_untrusted(status()) << ")\n";
            return kExitNegative;
        }
        if (progress && !batch.is_null()) env.err << "\r\x1b[K" << render_wait_progress(batch, env.style) << std::flush;
        // While no one knows the batch yet, look again soon rather than only on an event.
        Millis chunk = batch.is_null() ? kUnknownBatchChunk : kLongPollChunk;
        if (wait.timeout) {
            const auto left = std::chrono::duration_cast<Millis>(deadline - env.clock.steady_now());
            if (left <= Millis{0}) {
                clear_progress();
                env.err << "extractctl: timed out after " << format_duration(*wait.timeout) << " waiting for batch "
                        << wait.id << " (" << (batch.is_null() ? "not mirrored yet" : "status " + status()) << ")\n";
                return kExitTimeout;
            }
            chunk = std::min(chunk, left);
        }
        const auto events = daemon.get(request_target("/v1/events", {{"after", std::to_string(seen_seq)},
                                                                     {"batch_id", wait.id},
                                                                     {"wait", format_duration(chunk)}}),
                                       chunk);
        if (!events) return kExitUnreachable;
        if (const auto code = rejected(env, *events, "cannot read the event feed")) return *code;
        const auto page = list_rows(events->body);
        // last_seq is where to go on from: past the events returned, or past those the filter skipped
        // (and past pruned ones: the batch read below says where it is now).
        seen_seq = std::max(seen_seq, int_of(events->body, "last_seq", seen_seq));
        for (const auto& event : page) seen_seq = std::max(seen_seq, int_of(event, "seq"));
        // Any event of this batch (whatever its type) means: look at the batch again.
        if (!page.empty() || flag_of(events->body, "truncated") || batch.is_null()) {
            if (const auto code = read_batch()) return *code;
        }
    }

    clear_progress();
    if (env.json) {
        print_json(env, batch);
    } else {
        env.out << render_wait_outcome(wait.id, status(), env.style);
    }
    return *wait_exit_code(status());
}

void warn_truncated(const CommandEnvironment& env) {
    env.err << "extractctl: some events after the requested seq were already pruned (event_retention)\n";
}

int list_events(const ListEvents& events, const CommandEnvironment& env) {
    std::int64_t after = events.after.value_or(0);
    const std::int64_t page_size = std::min<std::int64_t>(kEventPage, events.limit.value_or(kEventPage));
    const auto page_target = [&](std::optional<Millis> wait) {
        return request_target("/v1/events", {{"after", std::to_string(after)},
                                             {"type", events.type},
                                             {"batch_id", events.batch_id},
                                             {"limit", std::to_string(page_size)},
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
            if (events.limit && static_cast<std::int64_t>(rows.size()) >= *events.limit) {
                // The last page may hold more than asked for: keep N, and let last_seq say where they end.
                rows.erase(rows.begin() + *events.limit, rows.end());
                last_page["last_seq"] = int_of(rows.back(), "seq", after);
                break;
            }
            if (page.size() < static_cast<std::size_t>(page_size)) break;
            after = int_of(page.back(), "seq", after);
        }
        if (truncated) warn_truncated(env);
        if (env.json) {
            nlohmann::json joined{{"object", "list"},
                                  {"data", rows},
                                  {"last_seq", int_of(last_page, "last_seq", after)}};
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
    const Millis wait = sync.timeout.value_or(kSyncWait);
    const std::optional<std::string> confirm =
        sync.confirm_removals ? std::optional<std::string>("true") : std::nullopt;
    const auto answer = env.api.post(request_target("/v1/sync", {{"full", sync.full ? "true" : "false"},
                                                                 {"confirm_removals", confirm},
                                                                 {"wait", "true"},
                                                                 {"timeout", format_duration(wait)}}),
                                     wait);
    if (answer.status == 504) {  // the daemon stopped waiting at `timeout`; the sync itself goes on
        env.err << "extractctl: timed out: " << error_detail(answer) << "\n";
        return kExitTimeout;
    }
    if (const auto code = rejected(env, answer, "sync failed")) return *code;
    if (!env.json && !answer.body.contains("id")) {
        env.out << error_detail(answer) << "\n";  // not a run, e.g. 202 {"detail":"sync requested"}
    } else {
        print_answer(env, answer.body, render_sync_run);
    }
    return member(answer.body, "error").is_null() ? kExitSuccess : kExitNegative;
}

int list_deliveries(const ListDeliveries& list, const CommandEnvironment& env) {
    return show_pages(
        env, list.all, "cannot list deliveries",
        [&](const std::optional<std::string>& cursor) {
            return request_target("/v1/deliveries",
                                  {{"state", list.state},
                                   {"target", list.target},
                                   {"limit", list.all ? std::optional<std::string>(kDeliveryPage) : std::nullopt},
                                   {"cursor", cursor}});
        },
        [&](const nlohmann::json& rows) { return render_deliveries(rows, env.style); },
        [](std::size_t shown) {
            return "(only the newest " + std::to_string(shown) + " deliveries shown: --all lists every one)";
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

std::optional<int> rejected(const CommandEnvironment& env, const ApiAnswer& answer, std::string_view what,
                            std::string_view not_found) {
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

bool is_terminal_status(std::string_view status) {
    return std::find(kDefaultTerminalStatuses.begin(), kDefaultTerminalStatuses.end(), status) !=
           kDefaultTerminalStatuses.end();
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
        int operator()(const ExportRows& c) const { return export_rows(c, env); }
        int operator()(const ShowReport& c) const { return show_report(c, env); }
        int operator()(const TakeBackup& c) const { return take_backup(c, env); }
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
