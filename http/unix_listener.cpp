#include "http/unix_listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace extract::http {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
    throw std::runtime_error("api socket " + path + ": " + what + (err ? std::string(": ") + std::strerror(err) : ""));
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        fail(path, "the path must be 1 to " + std::to_string(sizeof addr.sun_path - 1) + " bytes long", 0);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// True when a process accepts connections on the socket file at `path`.
bool socket_is_live(const sockaddr_un& addr) {
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return false;
    const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 || errno == EAGAIN;
    ::close(probe);
    return live;
}

std::string octal(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

// The socket's directory must exist and be one that others cannot write to: in a directory
// its group or anyone may write to (without the sticky bit), or that another user owns, another
// user could replace the socket file and answer the daemon's clients. A missing directory (its parent existing) is
// created 0755: the socket file's own mode then decides who connects.
void check_directory(const std::string& path) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT || ::mkdir(dir.c_str(), 0755) != 0 || ::chmod(dir.c_str(), 0755) != 0 ||
            ::stat(dir.c_str(), &st) != 0) {
            fail(path, "its directory " + dir + " is missing and cannot be created", errno);
        }
    }
    if (!S_ISDIR(st.st_mode)) fail(path, dir + " is not a directory", 0);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
        const std::string who = (st.st_mode & S_IWOTH) != 0 ? "every user" : "its group";
        fail(path,
             "its directory " + dir + " is writable by " + who + " (mode " + octal(st.st_mode) +
                 ", no sticky bit), so they could replace the socket; use a directory only the daemon's user "
                 "can write to, such as /run/extract-sync",
             0);
    }
    // Its owner can always replace the socket, whatever the mode: root or the daemon's user only.
    if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
        fail(path,
             "its directory " + dir + " belongs to another user (uid " + std::to_string(st.st_uid) +
                 "), who could replace the socket; use a directory owned by the daemon's user or root",
             0);
    }
}

}  // namespace

UnixListener UnixListener::bind(const std::string& path, unsigned mode) {
    const sockaddr_un addr = address_of(path);
    check_directory(path);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) fail(path, "a file that is not a socket is in the way; refusing to replace it", 0);
        if (socket_is_live(addr)) {
            fail(path, "another process is serving this socket (is another extract-syncd running?)", 0);
        }
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(path, "cannot remove the stale socket file", errno);
    }

    UnixListener listener;
    listener.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener.fd_ < 0) fail(path, "socket() failed", errno);
    // Created 0600 and only then given `mode`, so nobody can connect in between. The umask is
    // the process's: this runs before the threads that create files start.
    const mode_t previous_umask = ::umask(0177);
    const int bound = ::bind(listener.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int bind_errno = errno;
    ::umask(previous_umask);
    if (bound != 0) fail(path, "cannot bind", bind_errno);
    listener.path_ = path;
    if (::stat(path.c_str(), &st) == 0) {
        listener.device_ = st.st_dev;
        listener.inode_ = st.st_ino;
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) fail(path, "cannot set its mode", errno);
    if (::listen(listener.fd_, SOMAXCONN) != 0) fail(path, "cannot listen", errno);
    return listener;
}

UnixListener UnixListener::adopt(int fd) {
    UnixListener listener;
    listener.fd_ = fd;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        throw std::runtime_error("api socket: the inherited descriptor " + std::to_string(fd) +
                                 " is not usable: " + std::strerror(errno));
    }
    return listener;
}

UnixListener::UnixListener(UnixListener&& other) noexcept { *this = std::move(other); }

UnixListener& UnixListener::operator=(UnixListener&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::exchange(other.path_, {});
        device_ = other.device_;
        inode_ = other.inode_;
    }
    return *this;
}

UnixListener::~UnixListener() { close(); }

void UnixListener::close() {
    if (fd_ < 0) return;
    ::close(std::exchange(fd_, -1));
    if (path_.empty()) return;
    // Leave the path alone when another process has bound its own socket there since.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_) ::unlink(path_.c_str());
    path_.clear();
}

}  // namespace extract::http
