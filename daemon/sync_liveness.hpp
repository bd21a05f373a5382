#pragma once
// Whether the sync loop is alive, for the systemd watchdog: it is while it waits (between
// cycles, or in a deliberate backoff / rate-limit / Retry-After sleep) and while a cycle keeps
// showing signs of life (each upstream request starting or answering); a cycle stuck in one
// step longer than the limit is not.

#include <mutex>
#include <string>

#include "core/clock.hpp"
#include "upstream/http_transport.hpp"

namespace extract::daemon {

// The loop's last sign of life. Thread-safe: the sync loop writes, the watchdog thread reads.
class SyncLiveness {
public:
    explicit SyncLiveness(const Clock& clock) : clock_(clock), last_sign_(clock.steady_now()) {}

    // The loop is doing work now (a cycle started, a request went out or came back).
    void working();
    // The loop waits on purpose: alive however long that takes, until the next working().
    void waiting();
    // True while waiting, or when the last sign of life is at most `limit` old.
    bool alive(Millis limit) const;
    // How long the loop has been working since its last sign of life (0 while waiting).
    Millis silent_for() const;

private:
    const Clock& clock_;
    mutable std::mutex mutex_;
    bool waiting_ = true;  // before the first cycle the loop is waiting for it
    SteadyTime last_sign_;
};

// The upstream transport, with every request's start and answer counted as a sign of life:
// a long pass that keeps getting pages is alive, a request that hangs is not.
class LivenessTransport final : public upstream::HttpTransport {
public:
    LivenessTransport(upstream::HttpTransport& inner, SyncLiveness& liveness) : inner_(inner), liveness_(liveness) {}
    upstream::TransportResult get(const std::string& target, const upstream::HeaderList& headers) override;
    void abort() override { inner_.abort(); }

private:
    upstream::HttpTransport& inner_;
    SyncLiveness& liveness_;
};

// The upstream client's sleeper, with its sleeps (backoff, rate limit, Retry-After) counted as
// waiting on purpose rather than being stuck.
class LivenessSleeper final : public Sleeper {
public:
    LivenessSleeper(Sleeper& inner, SyncLiveness& liveness) : inner_(inner), liveness_(liveness) {}
    bool sleep_for(Millis d) override;

private:
    Sleeper& inner_;
    SyncLiveness& liveness_;
};

}  // namespace extract::daemon
