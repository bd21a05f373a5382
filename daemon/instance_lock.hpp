#pragma once
// One daemon per mirror: an exclusive flock on `<mirror>.lock`, held for the life of the
// process, with the holder's PID and socket written in it so that a second daemon can name
// the first. The kernel drops the lock when the process ends, however it ends.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace extract::daemon {

class InstanceLock {
public:
    // Takes the lock beside `mirror_path` for a daemon serving `socket_path` (empty: --once, no
    // socket). On failure: one line naming the running daemon (PID, socket), or what failed.
    static std::variant<InstanceLock, std::string> acquire(const std::string& mirror_path,
                                                           const std::string& socket_path);
    static std::string path_for(const std::string& mirror_path) { return mirror_path + ".lock"; }

    InstanceLock(InstanceLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    InstanceLock& operator=(InstanceLock&&) = delete;
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;
    ~InstanceLock();

private:
    explicit InstanceLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace extract::daemon
