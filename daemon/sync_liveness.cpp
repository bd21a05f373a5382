#include "daemon/sync_liveness.hpp"

namespace extract::daemon {

void SyncLiveness::working() {
    std::lock_guard lock(mutex_);
    waiting_ = false;
    last_sign_ = clock_.steady_now();
}

void SyncLiveness::waiting() {
    std::lock_guard lock(mutex_);
    waiting_ = true;
    last_sign_ = clock_.steady_now();
}

bool SyncLiveness::alive(Millis limit) const { return silent_for() <= limit; }

Millis SyncLiveness::silent_for() const {
    std::lock_guard lock(mutex_);
    if (waiting_) return Millis{0};
    return std::chrono::duration_cast<Millis>(clock_.steady_now() - last_sign_);
}

upstream::TransportResult LivenessTransport::get(const std::string& target, const upstream::HeaderList& headers) {
    liveness_.working();
    auto result = inner_.get(target, headers);
    liveness_.working();
    return result;
}

bool LivenessSleeper::sleep_for(Millis d) {
    liveness_.waiting();
    const bool slept = inner_.sleep_for(d);
    liveness_.working();
    return slept;
}

}  // namespace extract::daemon
