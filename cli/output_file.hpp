#pragma once
// A file written whole or not at all: the bytes go to a temporary file beside the target,
// which commit() flushes to disk and renames over it. Gone without commit(), the temporary
// file is removed and the target untouched (export -o, backup).

#include <filesystem>
#include <fstream>

namespace extract::cli {

class AtomicFile {
public:
    // Throws std::runtime_error naming the file when the temporary file cannot be created.
    explicit AtomicFile(std::filesystem::path target);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    std::ostream& stream() { return out_; }
    // Throws std::runtime_error naming the file when a write, the sync or the rename failed.
    void commit();

    const std::filesystem::path& target() const { return target_; }

private:
    std::filesystem::path target_;
    std::filesystem::path temporary_;
    std::ofstream out_;
    bool committed_ = false;
};

}  // namespace extract::cli
