#include "cli/output_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace extract::cli {
namespace {

// fsync of the file or directory at `path`; false (errno set) when it could not be done.
bool sync_path(const std::filesystem::path& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
    // Beside the target, so that the rename stays within one file system; the pid keeps two
    // extractctl processes writing the same target apart.
    temporary_ = target_;
    temporary_ += ".tmp-" + std::to_string(::getpid());
    out_.open(temporary_, std::ios::binary | std::ios::trunc);
    if (!out_) {
        throw std::runtime_error("cannot create " + temporary_.string() + ": " + std::strerror(errno) +
                                 " (is the directory of " + target_.string() + " writable?)");
    }
}

AtomicFile::~AtomicFile() {
    if (committed_) return;
    out_.close();
    std::error_code ignored;
    std::filesystem::remove(temporary_, ignored);
}

void AtomicFile::commit() {
    out_.flush();
    const bool written = static_cast<bool>(out_);
    out_.close();
    if (!written || out_.fail()) {
        throw std::runtime_error("cannot write " + temporary_.string() + " (disk full?); " + target_.string() +
                                 " was left as it was");
    }
    if (!sync_path(temporary_, O_RDONLY)) {
        throw std::runtime_error("cannot sync " + temporary_.string() + ": " + std::strerror(errno));
    }
    std::error_code error;
    std::filesystem::rename(temporary_, target_, error);
    if (error)
        throw std::runtime_error("cannot rename " + temporary_.string() + " to " + target_.string() + ": " +
                                 error.message());
    committed_ = true;
    // The rename itself survives a crash once the directory is synced; a failure here loses nothing written.
    const auto directory = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
    sync_path(directory, O_RDONLY | O_DIRECTORY);
}

}  // namespace extract::cli
