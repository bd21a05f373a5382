#pragma once
// The API's listening Unix socket: bound at a path with a mode, replacing a stale socket file
// but never one another process still answers on, and removed again when closed.

#include <sys/types.h>

#include <string>

namespace extract::http {

class UnixListener {
public:
    UnixListener() = default;  // owns nothing
    // Binds and listens (non-blocking). Throws std::runtime_error naming the path when it
    // cannot: a live socket (another daemon), a file that is not a socket, a path too long,
    // a directory that is not writable, or one every user may write to without the sticky bit
    // (anyone could replace the socket). A missing directory whose parent exists is created
    // 0755. The socket is created 0600 and then given `mode`.
    static UnixListener bind(const std::string& path, unsigned mode);
    // Socket activation: serve an already listening socket; closing it leaves the path alone.
    static UnixListener adopt(int fd);

    UnixListener(UnixListener&& other) noexcept;
    UnixListener& operator=(UnixListener&& other) noexcept;
    UnixListener(const UnixListener&) = delete;
    UnixListener& operator=(const UnixListener&) = delete;
    ~UnixListener();

    int fd() const { return fd_; }
    // Closes the socket and unlinks its path if the file there is still the one we bound.
    void close();

private:
    int fd_ = -1;
    std::string path_;  // empty when adopted
    dev_t device_ = 0;
    ino_t inode_ = 0;
};

}  // namespace extract::http
