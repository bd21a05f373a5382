#pragma once
// Who may talk to the API: the peer's credentials (SO_PEERCRED, SO_PEERGROUPS) checked at
// accept against [api] allowed_uids / allowed_gids. Root and the daemon's own user are always
// allowed; with both lists empty the socket file's mode alone decides who connects.

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace extract::http {

// The credentials of the peer of the connected Unix socket `fd` (SO_PEERCRED, as they were at
// connect), or nullopt when the kernel does not say.
std::optional<ucred> peer_credentials(int fd);

class PeerAccess {
public:
    // `own_uid`: the daemon's effective uid (always allowed, as is 0).
    PeerAccess(std::vector<uid_t> allowed_uids, std::vector<gid_t> allowed_gids, uid_t own_uid);

    bool restricted() const { return !allowed_uids_.empty() || !allowed_gids_.empty(); }
    // Why the peer of the connected socket `fd` may not use the API (names its uid, for the
    // 403 and the log), or nullopt when it may. A peer whose credentials cannot be read is
    // refused when the lists restrict access.
    std::optional<std::string> refusal(int fd) const;
    uid_t own_uid() const { return own_uid_; }

private:
    bool allowed_group(int fd, gid_t primary) const;

    std::vector<uid_t> allowed_uids_;
    std::vector<gid_t> allowed_gids_;
    uid_t own_uid_;
};

}  // namespace extract::http
