#include "daemon/socket_activation.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cstring>

namespace extract::daemon {
namespace {

std::optional<std::string> bound_path(int fd) {
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || addr.sun_family != AF_UNIX) return {};
    if (len <= offsetof(sockaddr_un, sun_path) || addr.sun_path[0] == '\0') return {};  // unnamed or abstract
    return std::string(addr.sun_path, strnlen(addr.sun_path, len - offsetof(sockaddr_un, sun_path)));
}

}  // namespace

InheritedSocket take_inherited_api_socket(const std::string& configured_path) {
    InheritedSocket out;
    const int count = sd_listen_fds(1);
    if (count < 0) {
        out.error = std::string("socket activation: cannot read $LISTEN_FDS: ") + std::strerror(-count);
        return out;
    }
    if (count == 0) return out;
    const int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0) {
        out.error = "socket activation: descriptor " + std::to_string(fd) +
                    " is not a listening Unix stream socket; check ListenStream= in extract-syncd.socket";
        return out;
    }
    out.fd = fd;
    const auto path = bound_path(fd);
    if (count > 1) {
        out.note = "socket activation: " + std::to_string(count) + " sockets passed, serving the first only";
    } else if (path && *path != configured_path) {
        out.note = "socket activation: serving " + *path + " as systemd passed it, not [api] socket " +
                   configured_path + "; extractctl needs --socket " + *path;
    }
    return out;
}

}  // namespace extract::daemon
