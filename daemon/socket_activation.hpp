#pragma once
// Socket activation: the listening API socket systemd passed (extract-syncd.socket), if any.

#include <optional>
#include <string>

namespace extract::daemon {

struct InheritedSocket {
    std::optional<int> fd;  // the listening socket to serve; nullopt: bind [api] socket ourselves
    std::string error;      // set when systemd passed something that cannot be served
    std::string note;       // worth a log line (e.g. the socket's path differs from [api] socket)
};

// Reads $LISTEN_FDS / $LISTEN_PID (sd_listen_fds) and clears them, so that triggers do not
// inherit them. The first passed descriptor must be a listening Unix stream socket.
// `configured_path` is [api] socket, compared with the inherited socket's own path.
InheritedSocket take_inherited_api_socket(const std::string& configured_path);

}  // namespace extract::daemon
