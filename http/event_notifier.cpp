#include "http/event_notifier.hpp"

#include <algorithm>

namespace extract::http {

void EventNotifier::notify(std::int64_t last_event_seq) {
    std::lock_guard lock(mutex_);
    ++generation_;
    last_event_seq_ = std::max(last_event_seq_, last_event_seq);
    changed_.notify_all();
    // Called under the lock so that remove_listener() can promise "never again" on return.
    for (auto& [id, listener] : listeners_) listener();
}

std::uint64_t EventNotifier::generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
}

std::int64_t EventNotifier::last_event_seq() const {
    std::lock_guard lock(mutex_);
    return last_event_seq_;
}

bool EventNotifier::wait_for_change(std::uint64_t seen_generation, Millis timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return generation_ != seen_generation; });
}

EventNotifier::ListenerId EventNotifier::add_listener(Listener listener) {
    std::lock_guard lock(mutex_);
    const ListenerId id = next_listener_++;
    listeners_.emplace(id, std::move(listener));
    return id;
}

void EventNotifier::remove_listener(ListenerId id) {
    std::lock_guard lock(mutex_);
    listeners_.erase(id);
}

}  // namespace extract::http
