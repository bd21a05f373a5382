#include "http/peer_access.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <utility>

namespace extract::http {

std::optional<ucred> peer_credentials(int fd) {
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || length != sizeof peer) return std::nullopt;
    return peer;
}

PeerAccess::PeerAccess(std::vector<uid_t> allowed_uids, std::vector<gid_t> allowed_gids, uid_t own_uid)
    : allowed_uids_(std::move(allowed_uids)), allowed_gids_(std::move(allowed_gids)), own_uid_(own_uid) {}

std::optional<std::string> PeerAccess::refusal(int fd) const {
    if (!restricted()) return std::nullopt;
    const auto peer = peer_credentials(fd);
    if (!peer) {
        return "the API cannot tell who is connecting, and [api] allowed_uids / allowed_gids restrict it";
    }
    const auto listed = [](const auto& list, auto id) { return std::find(list.begin(), list.end(), id) != list.end(); };
    if (peer->uid == 0 || peer->uid == own_uid_ || listed(allowed_uids_, peer->uid)) return std::nullopt;
    if (allowed_group(fd, peer->gid)) return std::nullopt;
    return "uid " + std::to_string(peer->uid) + " may not use this API: it is not in [api] allowed_uids, and none of " +
           "its groups is in [api] allowed_gids";
}

bool PeerAccess::allowed_group(int fd, gid_t primary) const {
    const auto listed = [this](gid_t gid) {
        return std::find(allowed_gids_.begin(), allowed_gids_.end(), gid) != allowed_gids_.end();
    };
    if (listed(primary)) return true;
    // The peer's supplementary groups, as they were when it connected.
    std::array<gid_t, 256> groups{};
    socklen_t length = sizeof groups;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) return false;
    const auto count = length / sizeof(gid_t);
    return std::any_of(groups.begin(), groups.begin() + static_cast<std::ptrdiff_t>(count), listed);
}

}  // namespace extract::http
