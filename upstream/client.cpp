#include "upstream/client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "core/percent_encode.hpp"
#include "core/timefmt.hpp"
#include "upstream/text_snippet.hpp"

namespace extract::upstream {
namespace {

constexpr std::size_t kBodySnippetChars = 200;
// A Retry-After beyond this is read as this: a typo upstream must not stall the mirror for years.
constexpr std::chrono::seconds kMaxRetryAfter{24 * 3600};

std::string seconds_text(Millis d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
    return buf;
}

// Retry-After as delta seconds or an HTTP date; nullopt when absent or unreadable.
std::optional<Millis> retry_after(const HttpResponse& response, WallTime now) {
    const auto header = response.header("Retry-After");
    if (!header) return std::nullopt;
    std::string_view value = *header;
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        if (value.size() > 6) return kMaxRetryAfter;
        return std::min<Millis>(std::chrono::seconds(std::stoll(std::string(value))), kMaxRetryAfter);
    }
    if (const auto date = parse_http_date(value)) {
        const auto delta = std::chrono::ceil<Millis>(*date - now);
        return std::clamp<Millis>(delta, Millis{0}, kMaxRetryAfter);
    }
    return std::nullopt;
}

std::function<double()> default_jitter() {
    return [engine = std::mt19937_64(std::random_device{}()),
            uniform = std::uniform_real_distribution<double>(0.0, 1.0)]() mutable { return uniform(engine); };
}

}  // namespace

std::string_view to_string(FetchStatus status) {
    switch (status) {
        case FetchStatus::ok: return "ok";
        case FetchStatus::not_found: return "not_found";
        case FetchStatus::unauthorized: return "unauthorized";
        case FetchStatus::bad_response: return "bad_response";
        case FetchStatus::unavailable: return "unavailable";
        case FetchStatus::stopped: return "stopped";
    }
    return "unknown";
}

Millis backoff_delay(int failed_attempts, Millis initial_backoff, Millis max_backoff, double jitter) {
    const double cap = static_cast<double>(max_backoff.count());
    double base = static_cast<double>(initial_backoff.count());
    for (int i = 1; i < failed_attempts && base < cap; ++i) base *= 2;
    base = std::min(base, cap);
    const double factor = 0.5 + 0.5 * std::clamp(jitter, 0.0, 1.0);
    return Millis(std::llround(base * factor));
}

UpstreamClient::UpstreamClient(HttpTransport& transport, const Clock& clock, Sleeper& sleeper, ClientOptions options,
                               std::function<double()> jitter)
    : transport_(transport),
      clock_(clock),
      sleeper_(sleeper),
      page_size_(options.page_size),
      max_attempts_(std::max(1, options.max_attempts)),
      max_connect_attempts_(std::clamp(options.max_connect_attempts, 1, std::max(1, options.max_attempts))),
      initial_backoff_(options.initial_backoff),
      max_backoff_(options.max_backoff),
      request_spacing_(options.max_requests_per_second > 0
                           ? std::chrono::duration_cast<SteadyTime::duration>(
                                 std::chrono::duration<double>(1.0 / options.max_requests_per_second))
                           : SteadyTime::duration{0}),
      api_key_(std::move(options.api_key)),
      api_key_source_(std::move(options.api_key_source)),
      jitter_(jitter ? std::move(jitter) : default_jitter()) {}

void UpstreamClient::set_api_key(std::string key, std::string source) {
    std::lock_guard lock(mutex_);
    api_key_ = std::move(key);
    api_key_source_ = std::move(source);
}

std::int64_t UpstreamClient::requests_sent() const { return requests_sent_.load(std::memory_order_relaxed); }

std::map<int, std::int64_t> UpstreamClient::responses_by_code() const {
    std::lock_guard lock(mutex_);
    return responses_by_code_;
}

std::optional<SteadyTime> UpstreamClient::held_until() const {
    std::lock_guard lock(mutex_);
    if (held_until_ <= clock_.steady_now()) return std::nullopt;
    return held_until_;
}

std::optional<std::string> UpstreamClient::failing() const {
    std::lock_guard lock(mutex_);
    return failing_;
}

bool UpstreamClient::host_unresolved() const {
    std::lock_guard lock(mutex_);
    return host_unresolved_;
}

Fetched<BatchPage> UpstreamClient::list_batches(const std::optional<std::string>& status,
                                                const std::optional<std::string>& cursor) {
    std::string target = "/v1/batches?";
    if (status) target += "status=" + percent_encode(*status) + "&";
    if (cursor) target += "cursor=" + percent_encode(*cursor) + "&";
    target += "limit=" + std::to_string(page_size_);
    // More batches than asked for is a contract error like a malformed body: an upstream that
    // ignores `limit` must not make one page hold the whole account in memory.
    const auto limit = static_cast<std::size_t>(page_size_);
    const auto parse_limited = [limit](std::string_view body) -> std::variant<BatchPage, ParseError> {
        auto parsed = parse_batch_page(body);
        if (const auto* page = std::get_if<BatchPage>(&parsed); page && page->batches.size() > limit) {
            return ParseError{"data: " + std::to_string(page->batches.size()) +
                              " batches, more than the limit=" + std::to_string(limit) + " asked for"};
        }
        return parsed;
    };
    return fetch<BatchPage>(target, false, parse_limited, {});
}

Fetched<Batch> UpstreamClient::get_batch(const std::string& id, const FetchBounds& bounds) {
    // An empty id would name the list endpoint instead of a batch.
    if (id.empty()) throw std::invalid_argument("UpstreamClient::get_batch: empty batch id");
    return fetch<Batch>("/v1/batches/" + percent_encode(id) + "?limit=1", true, parse_batch_detail, bounds);
}

// Waits until neither a 429 hold nor the rate limit stands in the way, then takes a slot.
// `stopped` when the sleeper says stop; `too_late` (no wait) when the turn comes after `give_up_at`.
UpstreamClient::Turn UpstreamClient::wait_for_turn(const std::optional<SteadyTime>& give_up_at, Sleeper& sleeper) {
    while (true) {
        SteadyTime::duration wait{};
        {
            std::lock_guard lock(mutex_);
            const SteadyTime now = clock_.steady_now();
            const SteadyTime slot = last_request_at_ ? *last_request_at_ + request_spacing_ : now;
            const SteadyTime ready = std::max({held_until_, slot, now});
            if (ready == now) {
                last_request_at_ = now;
                return Turn::go;
            }
            if (give_up_at && ready > *give_up_at) return Turn::too_late;
            wait = ready - now;
        }
        if (!sleeper.sleep_for(std::chrono::ceil<Millis>(wait))) return Turn::stopped;
    }
}

TransportResult UpstreamClient::send(const std::string& target) {
    HeaderList headers;
    {
        std::lock_guard lock(mutex_);
        headers = {{"X-API-KEY", api_key_}, {"Accept", "application/json"}, {"User-Agent", default_user_agent()}};
    }
    requests_sent_.fetch_add(1, std::memory_order_relaxed);
    TransportResult result = transport_.get(target, headers);
    std::lock_guard lock(mutex_);
    ++responses_by_code_[result.error == TransportError::none ? result.response.status : 0];
    return result;
}

void UpstreamClient::hold_after_429(const HttpResponse& response, Millis fallback) {
    const auto asked = retry_after(response, clock_.now());
    const Millis hold = asked.value_or(fallback);
    std::lock_guard lock(mutex_);
    const SteadyTime now = clock_.steady_now();
    const bool new_hold = held_until_ <= now;
    held_until_ = std::max(held_until_, now + hold);
    if (new_hold) {
        spdlog::info("upstream is rate limiting this account (HTTP 429): holding every request for {}{}",
                     seconds_text(hold), asked ? " as Retry-After asks" : " (no usable Retry-After)");
    } else {
        spdlog::debug("upstream answered HTTP 429 again: hold extended by {}", seconds_text(hold));
    }
}

void UpstreamClient::remember_failure(const std::string& cause) {
    std::lock_guard lock(mutex_);
    failing_ = cause;
}

Millis UpstreamClient::next_backoff(int failed_attempts) {
    std::lock_guard lock(mutex_);
    return backoff_delay(failed_attempts, initial_backoff_, max_backoff_, jitter_());
}

// "GET /v1/batches?limit=200: HTTP 503: <the start of the body>", the key blanked out
// should the body echo it.
std::string UpstreamClient::describe_answer(const std::string& request, const HttpResponse& response) const {
    std::string text = request + ": HTTP " + std::to_string(response.status);
    if (response.body.empty()) return text;
    // Blanked before the cut, so that no prefix of the key survives at the end of the snippet.
    std::string body = response.body;
    {
        std::lock_guard lock(mutex_);
        if (!api_key_.empty()) {
            for (auto at = body.find(api_key_); at != std::string::npos; at = body.find(api_key_, at)) {
                body.replace(at, api_key_.size(), "[redacted]");
            }
        }
    }
    return text + ": " + printable_snippet(body, kBodySnippetChars);
}

template <class T, class Parse>
Fetched<T> UpstreamClient::fetch(const std::string& target, bool not_found_is_an_answer, Parse parse,
                                 const FetchBounds& bounds) {
    Fetched<T> out;
    const int max_attempts = bounds.max_attempts > 0 ? std::min(bounds.max_attempts, max_attempts_) : max_attempts_;
    Sleeper& sleeper = bounds.sleeper ? *bounds.sleeper : sleeper_;
    const std::string request = "GET " + target;
    bool unresolved = false;  // the last attempt met a host name that does not resolve
    auto finish = [&](FetchStatus status, const std::string& message) {
        out.status = status;
        out.message = message;
        {
            std::lock_guard lock(mutex_);
            failing_.reset();  // the fetch is over: its outcome is the caller's to report
            host_unresolved_ = unresolved;
        }
        return std::move(out);
    };
    std::string last_cause;    // of the previous attempt, for a bound reached before the next
    int connect_failures = 0;  // in a row
    for (int attempt = 1;; ++attempt) {
        const Turn turn = wait_for_turn(bounds.give_up_at, sleeper);
        if (turn == Turn::stopped)
            return finish(FetchStatus::stopped, request + ": stopped before sending (shutting down)");
        if (turn == Turn::too_late) {
            std::string why = request + ": the upstream's rate limit or 429 hold would delay it past the time allowed";
            return finish(FetchStatus::unavailable, last_cause.empty() ? why : why + "; last: " + last_cause);
        }
        out.attempts = attempt;
        const TransportResult result = send(target);
        const HttpResponse& response = result.response;
        out.http_status = result.error == TransportError::none ? response.status : 0;

        // What to do with this attempt: answer now, or retry and report `give_up_as` when out of attempts.
        FetchStatus give_up_as = FetchStatus::unavailable;
        std::string cause;
        const int code = out.http_status;
        connect_failures = result.error == TransportError::connect_failed ? connect_failures + 1 : 0;
        if (result.error == TransportError::aborted) {
            return finish(FetchStatus::stopped, result.message);
        } else if (result.error != TransportError::none) {
            cause = std::string(describe(result.error)) + ": " + result.message;
            if (result.error == TransportError::unknown_host) {
                unresolved = true;
                return finish(FetchStatus::unavailable, cause + " (not retried: check [upstream] base_url and DNS)");
            }
            // Too large is the body's fault, like a malformed one: retried, then bad_response.
            if (result.error == TransportError::too_large) give_up_as = FetchStatus::bad_response;
        } else if (code >= 200 && code < 300) {
            auto parsed = parse(response.body);
            if (auto* value = std::get_if<T>(&parsed)) {
                out.value = std::move(*value);
                return finish(FetchStatus::ok, {});
            }
            give_up_as = FetchStatus::bad_response;
            cause = request + ": HTTP " + std::to_string(code) +
                    " with a body that is not the contract's JSON: " + std::get<ParseError>(parsed).message;
        } else if (code == 401 || code == 403) {
            std::string source;
            {
                std::lock_guard lock(mutex_);
                source = api_key_source_;
            }
            return finish(FetchStatus::unauthorized, "upstream rejected the API key (HTTP " + std::to_string(code) +
                                                         ")" + (source.empty() ? "" : " from " + source) +
                                                         ": check the key");
        } else if (code == 404 && not_found_is_an_answer) {
            return finish(FetchStatus::not_found, request + ": HTTP 404, the upstream does not know this batch");
        } else if (code == 429 || code >= 500) {
            cause = describe_answer(request, response);
        } else {
            return finish(FetchStatus::bad_response, describe_answer(request, response));
        }

        remember_failure(cause);
        const Millis delay = next_backoff(attempt);
        // The 429 hold is the account's, so it is set even when this fetch gives up now.
        if (code == 429) hold_after_429(response, delay);
        const bool out_of_time = bounds.give_up_at && code != 429 && clock_.steady_now() + delay > *bounds.give_up_at;
        if (attempt >= max_attempts || connect_failures >= max_connect_attempts_ || out_of_time) {
            return finish(give_up_as, "gave up after " + std::to_string(attempt) +
                                          (attempt == 1 ? " attempt" : " attempts") + "; last: " + cause);
        }
        last_cause = cause;
        // The first failure is routine (a dropped page, one 503); repeated ones an operator should see.
        const auto level = attempt == 1 ? spdlog::level::debug : spdlog::level::warn;
        // Connections that keep failing get fewer tries: say how many this one gets.
        const int limit = connect_failures > 0
                              ? std::min(max_attempts, attempt - connect_failures + max_connect_attempts_)
                              : max_attempts;
        if (code == 429) {
            spdlog::log(level, "{} (attempt {} of {}); retrying when the hold ends", cause, attempt, limit);
            continue;  // wait_for_turn() waits out the hold
        }
        spdlog::log(level, "{} (attempt {} of {}); retrying in {}", cause, attempt, limit, seconds_text(delay));
        if (!sleeper.sleep_for(delay)) return finish(FetchStatus::stopped, cause + "; stopped while waiting to retry");
    }
}

}  // namespace extract::upstream
