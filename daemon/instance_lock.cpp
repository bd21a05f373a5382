#include "daemon/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace extract::daemon {
namespace {

constexpr std::size_t kMaxHolderText = 4096;  // the file is ours, but read it as untrusted all the same

std::string read_holder(int fd) {
    std::string text(kMaxHolderText, '\0');
    const ssize_t n = ::pread(fd, text.data(), text.size(), 0);
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    auto field = [&text](const std::string& key) -> std::string {
        const auto at = text.find(key + "=");
        if (at == std::string::npos) return {};
        const auto start = at + key.size() + 1;
        std::string value = text.substr(start, text.find('\n', start) - start);
        for (char& c : value) {
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
        }
        return value;
    };
    const std::string pid = field("pid");
    const std::string socket = field("socket");
    return "PID " + (pid.empty() ? std::string("unknown") : pid) + ", " +
           (socket.empty() ? std::string("no socket: extract-syncd --once") : "socket " + socket);
}

}  // namespace

std::variant<InstanceLock, std::string> InstanceLock::acquire(const std::string& mirror_path,
                                                              const std::string& socket_path) {
    const std::string path = path_for(mirror_path);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return "cannot open the instance lock " + path + ": " + std::strerror(errno) +
               " (the directory of [cache] path must be writable by extract-syncd)";
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err != EWOULDBLOCK) {
            ::close(fd);
            return "cannot lock " + path + ": " + std::strerror(err);
        }
        const std::string holder = read_holder(fd);
        ::close(fd);
        return "the mirror " + mirror_path + " is in use by another extract-syncd (" + holder +
               "): one daemon per mirror; stop that one, or give this one another [cache] path";
    }
    const std::string text = "pid=" + std::to_string(::getpid()) + "\nsocket=" + socket_path + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
        // The lock holds without the note; only a second daemon's message is poorer for it.
    }
    return InstanceLock(fd);
}

InstanceLock::~InstanceLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (removing it would race a newcomer)
}

}  // namespace extract::daemon
