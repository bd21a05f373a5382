#pragma once
// Fetches batches from the extract API and classifies every answer: retries what is
// transient (5xx, 429, timeouts, broken bodies) with backoff, paces requests to the account's
// rate limit, and hands back an outcome the sync must look at. Knows nothing of the mirror.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/batch.hpp"
#include "core/clock.hpp"
#include "upstream/batch_json.hpp"
#include "upstream/http_transport.hpp"

namespace extract::upstream {

enum class FetchStatus {
    ok,
    not_found,     // get_batch: 404, the upstream forgot the batch
    unauthorized,  // 401/403: the API key is wrong; retrying does not help
    bad_response,  // another 4xx, or a body that stayed malformed through every attempt
    unavailable,   // 5xx, 429, timeouts, broken connections through every attempt
    stopped,       // shutdown cut the fetch short
};

std::string_view to_string(FetchStatus status);

template <class T>
struct Fetched {
    FetchStatus status = FetchStatus::ok;
    std::optional<T> value;  // set when status == ok
    int http_status = 0;     // of the last attempt; 0 when it got no HTTP answer
    std::string message;     // for operators when status != ok; never holds the API key
    int attempts = 0;        // HTTP attempts made for this fetch
};

struct ClientOptions {
    std::string api_key;
    std::string api_key_source;  // e.g. "api_key_file /etc/extract-sync/api_key"; for messages only
    int page_size = 200;
    double max_requests_per_second = 5;  // <= 0: unlimited
    int max_attempts = 8;
    // A fetch whose connections keep failing (refused, unreachable) gives up after this many in a
    // row: the server is not there, and the sync's own schedule waits longer between tries than a
    // fetch should. An unknown host gives up at once.
    int max_connect_attempts = 3;
    Millis initial_backoff{1000};
    Millis max_backoff{300000};
};

// Bounds on one fetch tighter than the client's own (a refresh a user waits for): fewer
// attempts, and no attempt, backoff or 429 hold that would run past `give_up_at`.
struct FetchBounds {
    int max_attempts = 0;  // 0: the client's max_attempts
    std::optional<SteadyTime> give_up_at;
    Sleeper* sleeper = nullptr;  // this fetch's waits, when not the client's (another thread's fetch)
};

// The wait after the n-th failed attempt (n >= 1): min(max_backoff, initial_backoff * 2^(n-1))
// scaled by 0.5 + 0.5 * jitter, jitter in [0, 1).
Millis backoff_delay(int failed_attempts, Millis initial_backoff, Millis max_backoff, double jitter);

class UpstreamClient {
public:
    // `jitter` returns uniform values in [0, 1); by default a seeded std::mt19937_64.
    UpstreamClient(HttpTransport& transport, const Clock& clock, Sleeper& sleeper, ClientOptions options,
                   std::function<double()> jitter = {});

    int page_size() const { return page_size_; }
    // GET /v1/batches?status=&cursor=&limit=page_size
    Fetched<BatchPage> list_batches(const std::optional<std::string>& status, const std::optional<std::string>& cursor);
    // GET /v1/batches/{id}?limit=1 ; 404 -> not_found. With `bounds`, out of attempts or time
    // is `unavailable` naming the last cause.
    Fetched<Batch> get_batch(const std::string& id, const FetchBounds& bounds = {});

    // SIGHUP: a new key (and where it came from) for the next request. Thread-safe.
    void set_api_key(std::string key, std::string source);

    // Every HTTP attempt so far, for sync_runs.requests.
    std::int64_t requests_sent() const;
    // Attempts by HTTP status; 0 counts attempts that got no HTTP answer.
    std::map<int, std::int64_t> responses_by_code() const;
    // The steady time before which a 429 holds every request; nullopt when not held.
    std::optional<SteadyTime> held_until() const;
    // The cause of the latest failed attempt while the fetch it belongs to is still retrying;
    // nullopt when no fetch is retrying. Health shows it at once, not when the fetch gives up
    // (the fetch's outcome then reports it). Thread-safe.
    std::optional<std::string> failing() const;
    // Whether the last fetch ended because the upstream's host name does not resolve: trying the
    // same again in seconds does not help (extract-syncd --once stops at once). Thread-safe.
    bool host_unresolved() const;

private:
    template <class T, class Parse>
    Fetched<T> fetch(const std::string& target, bool not_found_is_an_answer, Parse parse, const FetchBounds& bounds);
    TransportResult send(const std::string& target);
    enum class Turn { go, stopped, too_late };
    Turn wait_for_turn(const std::optional<SteadyTime>& give_up_at, Sleeper& sleeper);
    void hold_after_429(const HttpResponse& response, Millis fallback);
    Millis next_backoff(int failed_attempts);
    void remember_failure(const std::string& cause);
    std::string describe_answer(const std::string& request, const HttpResponse& response) const;

    HttpTransport& transport_;
    const Clock& clock_;
    Sleeper& sleeper_;
    const int page_size_;
    const int max_attempts_;
    const int max_connect_attempts_;
    const Millis initial_backoff_;
    const Millis max_backoff_;
    const SteadyTime::duration request_spacing_;  // 1 / max_requests_per_second; 0: unlimited

    mutable std::mutex mutex_;  // guards everything below
    std::string api_key_;
    std::string api_key_source_;
    std::optional<SteadyTime> last_request_at_;  // the rate limiter's last slot taken
    SteadyTime held_until_{};                    // set by a 429
    std::function<double()> jitter_;
    std::map<int, std::int64_t> responses_by_code_;
    std::optional<std::string> failing_;
    bool host_unresolved_ = false;
    std::atomic<std::int64_t> requests_sent_{0};
};

}  // namespace extract::upstream
