#pragma once
// Storage trouble a test can cause and undo: a small tmpfs mounted over a directory (a disk
// that fills up), the immutable attribute on files (a database that cannot be written, even
// through descriptors already open). Each undoes itself at scope end. Both need privileges
// (CAP_SYS_ADMIN, CAP_LINUX_IMMUTABLE and a file system with the attribute): when they are
// missing, `error()` says why and the test skips, naming it.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace extract::testing {

class SizedTmpfs {
public:
    // Mounts a tmpfs of `size` (mount's syntax: "16m") over `directory`, in a mount namespace
    // of this test process and the children it starts from now on, so that nothing outlives
    // the test even if it dies.
    SizedTmpfs(std::filesystem::path directory, const std::string& size);
    ~SizedTmpfs();
    SizedTmpfs(const SizedTmpfs&) = delete;
    SizedTmpfs& operator=(const SizedTmpfs&) = delete;

    const std::string& error() const { return error_; }  // empty when mounted

    // Writes `name` until the file system answers ENOSPC; returns the bytes written.
    std::uint64_t fill(const std::string& name) const;

private:
    std::filesystem::path directory_;
    std::string error_;
};

class ImmutableFiles {
public:
    // chattr +i on each file that exists; -i again at scope end.
    explicit ImmutableFiles(std::vector<std::filesystem::path> files);
    ~ImmutableFiles();
    ImmutableFiles(const ImmutableFiles&) = delete;
    ImmutableFiles& operator=(const ImmutableFiles&) = delete;

    const std::string& error() const { return error_; }  // empty when every file is immutable
    void release();                                      // -i now

private:
    std::vector<std::filesystem::path> files_;
    std::string error_;
};

}  // namespace extract::testing
