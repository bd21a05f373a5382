#include "http/connection_admission.hpp"

#include <algorithm>

namespace extract::http {

ConnectionQuota ConnectionQuota::derived(std::size_t max_connections, std::size_t per_uid) {
    ConnectionQuota quota;
    quota.max_connections = max_connections;
    quota.reserve = max_connections < 2 ? 0 : std::max<std::size_t>(1, max_connections / 8);
    quota.per_uid = per_uid != 0 ? per_uid : std::max<std::size_t>(1, max_connections / 4);
    return quota;
}

ConnectionAdmission::ConnectionAdmission(ConnectionQuota quota, uid_t own_uid) : quota_(quota), own_uid_(own_uid) {}

std::size_t ConnectionAdmission::held_by(uid_t uid) const {
    const auto it = held_.find(uid);
    return it == held_.end() ? 0 : it->second;
}

template <typename Eligible>
std::optional<ConnectionId> ConnectionAdmission::victim(Eligible eligible) const {
    std::optional<ConnectionId> chosen;
    std::size_t chosen_held = 0;
    for (const auto& [id, entry] : entries_) {
        if (!entry.silent || !eligible(entry)) continue;
        const std::size_t held = held_by(entry.uid);
        if (!chosen || held > chosen_held) {  // strictly more: the oldest wins a tie
            chosen = id;
            chosen_held = held;
        }
    }
    return chosen;
}

ConnectionAdmission::Decision ConnectionAdmission::decide(uid_t uid) const {
    if (held_by(uid) >= quota_.per_uid) {
        if (const auto id = victim([uid](const Entry& e) { return e.uid == uid; })) return Evict{*id};
        const std::string who =
            uid == kUnknownPeerUid ? "a peer whose uid cannot be read" : "uid " + std::to_string(uid);
        return Refuse{"too many connections to the API from " + who + ": one user may hold " +
                      std::to_string(quota_.per_uid) + " of the " + std::to_string(quota_.max_connections) +
                      "; close idle ones, or wait for them to time out, and try again"};
    }
    const bool ordinary_full = !privileged(uid) && held_by_ordinary_ >= quota_.max_connections - quota_.reserve;
    if (entries_.size() < quota_.max_connections && !ordinary_full) return Admit{};
    // Room for an ordinary user is made from ordinary users' connections when their share is
    // what is full (closing root's would not help), else from anyone's.
    const auto id = ordinary_full ? victim([this](const Entry& e) { return !privileged(e.uid); })
                                  : victim([](const Entry&) { return true; });
    if (id) return Evict{*id};
    if (privileged(uid)) {
        return Refuse{"too many connections to the API: all " + std::to_string(quota_.max_connections) +
                      " are in use; try again later"};
    }
    return Refuse{"too many connections to the API: the " + std::to_string(quota_.max_connections - quota_.reserve) +
                  " that users other than root and the daemon's own may hold are in use; try again later"};
}

void ConnectionAdmission::opened(ConnectionId id, uid_t uid) {
    if (!entries_.emplace(id, Entry{uid, true}).second) return;
    ++held_[uid];
    if (!privileged(uid)) ++held_by_ordinary_;
}

void ConnectionAdmission::spoke(ConnectionId id) {
    if (const auto it = entries_.find(id); it != entries_.end()) it->second.silent = false;
}

void ConnectionAdmission::closed(ConnectionId id) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    const uid_t uid = it->second.uid;
    entries_.erase(it);
    if (const auto held = held_.find(uid); held != held_.end() && --held->second == 0) held_.erase(held);
    if (!privileged(uid)) --held_by_ordinary_;
}

}  // namespace extract::http
