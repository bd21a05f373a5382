#pragma once
// Keeps SIGPIPE from killing the process while this thread writes to a peer that may hang up.
// OpenSSL (and a pipe to a child process) write without MSG_NOSIGNAL: a write to a closed
// connection raises SIGPIPE, whose default action kills the process. For the guard's scope
// the signal is blocked in this thread and any that became pending is swallowed, so the write
// fails with EPIPE instead and that is reported. (libcurl does the same.)

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace extract {

class SigpipeBlocked {
public:
    SigpipeBlocked() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
    }
    ~SigpipeBlocked() {
        if (sigismember(&previous_, SIGPIPE) == 1) return;  // the caller blocks it anyway
        const timespec no_wait{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &no_wait) == SIGPIPE) {}
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    SigpipeBlocked(const SigpipeBlocked&) = delete;
    SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

private:
    sigset_t pipe_{};
    sigset_t previous_{};
};

}  // namespace extract
