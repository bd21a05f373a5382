#pragma once
// A directory under $TMPDIR (or /tmp) that is removed with everything in it at scope end.

#include <filesystem>
#include <string>

namespace extract::testing {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
    // Writes `content` to a file in the directory and returns its path.
    std::filesystem::path write(const std::string& name, const std::string& content) const;

private:
    std::filesystem::path path_;
};

}  // namespace extract::testing
