#include "tests/support/storage_trouble.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace extract::testing {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// Sets or clears FS_IMMUTABLE_FL; "" or what failed.
std::string set_immutable(const std::filesystem::path& file, bool on) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_text("open " + file.string());
    std::string error;
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
        error = errno_text("FS_IOC_GETFLAGS on " + file.string());
    } else {
        flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
        if (::ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) error = errno_text("FS_IOC_SETFLAGS on " + file.string());
    }
    ::close(fd);
    return error;
}

}  // namespace

SizedTmpfs::SizedTmpfs(std::filesystem::path directory, const std::string& size) : directory_(std::move(directory)) {
    // A private mount namespace: the mount is invisible to the rest of the machine and gone
    // when this process and its children are.
    if (::unshare(CLONE_NEWNS) != 0) {
        error_ = errno_text("unshare(CLONE_NEWNS) (needs CAP_SYS_ADMIN)");
        return;
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        error_ = errno_text("making / private");
        return;
    }
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", directory_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
        error_ = errno_text("mount -t tmpfs -o " + options + " " + directory_.string());
    }
}

SizedTmpfs::~SizedTmpfs() {
    if (error_.empty()) ::umount2(directory_.c_str(), MNT_DETACH);
}

std::uint64_t SizedTmpfs::fill(const std::string& name) const {
    const int fd = ::open((directory_ / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    std::uint64_t written = 0;
    const std::string chunk(4096, 'x');
    for (std::size_t size = chunk.size(); size > 0; size /= 2) {  // whole pages, then what is left of one
        while (true) {
            const ssize_t n = ::write(fd, chunk.data(), size);
            if (n <= 0) break;
            written += static_cast<std::uint64_t>(n);
        }
    }
    ::close(fd);
    return written;
}

ImmutableFiles::ImmutableFiles(std::vector<std::filesystem::path> files) : files_(std::move(files)) {
    for (const auto& file : files_) {
        if (!std::filesystem::exists(file)) continue;
        const std::string error = set_immutable(file, true);
        if (!error.empty() && error_.empty())
            error_ = error + " (needs CAP_LINUX_IMMUTABLE and a file system with chattr +i)";
    }
}

ImmutableFiles::~ImmutableFiles() { release(); }

void ImmutableFiles::release() {
    for (const auto& file : files_) {
        if (std::filesystem::exists(file)) set_immutable(file, false);
    }
}

}  // namespace extract::testing
