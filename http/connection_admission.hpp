#pragma once
// Who gets one of the API's connection slots (issue 15): one user (uid) holds at most a
// quarter of them, a reserve is kept that only root and the daemon's own user may take, and
// when a limit is reached the oldest connection that has sent nothing since it was accepted
// is closed to make room before the newcomer is refused. Pure bookkeeping, driven by
// ConnectionLoop on its thread, so its tests need no sockets.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>

namespace extract::http {

using ConnectionId = std::uint64_t;

// The peer of a connection whose credentials cannot be read: an ordinary user of its own.
inline constexpr uid_t kUnknownPeerUid = static_cast<uid_t>(-1);

struct ConnectionQuota {
    std::size_t max_connections = 512;
    std::size_t per_uid = 128;  // what one uid may hold, root and the daemon's own uid included
    std::size_t reserve = 64;   // of max_connections, only for root and the daemon's own uid

    // Derived from max_connections: per_uid a quarter (or `per_uid` when not 0), the reserve an
    // eighth; each at least 1 once there are 2 slots.
    static ConnectionQuota derived(std::size_t max_connections, std::size_t per_uid = 0);
};

class ConnectionAdmission {
public:
    ConnectionAdmission(ConnectionQuota quota, uid_t own_uid);

    struct Admit {};
    struct Evict {  // close this never-spoken connection, tell closed(), and decide again
        ConnectionId victim;
    };
    struct Refuse {
        std::string reason;  // for the 503's detail
    };
    using Decision = std::variant<Admit, Evict, Refuse>;

    // For a newcomer from `uid`.
    Decision decide(uid_t uid) const;
    // The table as the loop changes it. A connection is "silent" from opened() to spoke().
    void opened(ConnectionId id, uid_t uid);
    void spoke(ConnectionId id);
    void closed(ConnectionId id);

    std::size_t open_connections() const { return entries_.size(); }
    const ConnectionQuota& quota() const { return quota_; }

private:
    struct Entry {
        uid_t uid = kUnknownPeerUid;
        bool silent = true;
    };
    bool privileged(uid_t uid) const { return uid == 0 || uid == own_uid_; }
    std::size_t held_by(uid_t uid) const;
    // The silent connection to close for room: among those `eligible` accepts, one of the uid
    // holding the most connections, the oldest of them.
    template <typename Eligible>
    std::optional<ConnectionId> victim(Eligible eligible) const;

    ConnectionQuota quota_;
    uid_t own_uid_;
    std::map<ConnectionId, Entry> entries_;  // ids grow: oldest first
    std::unordered_map<uid_t, std::size_t> held_;
    std::size_t held_by_ordinary_ = 0;
};

}  // namespace extract::http
