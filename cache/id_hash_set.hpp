#pragma once
// The 64-bit hashes of a set of batch ids, in 8 bytes a slot (open addressing, at most half
// full): what a bulk load into an empty mirror keeps instead of the id index. `may_contain` is
// never false for an id that was inserted; it may be true for one that was not (two ids with
// the same hash), and the caller then asks the database.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace extract::cache {

class IdHashSet {
public:
    void insert(std::string_view id) {
        if ((size_ + 1) * 2 > slots_.size()) grow();
        place(slots_, hash(id));
        ++size_;
    }

    bool may_contain(std::string_view id) const {
        if (slots_.empty()) return false;
        const std::uint64_t h = hash(id);
        for (std::size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
            if (slots_[i] == h) return true;
            if (slots_[i] == kEmpty) return false;
        }
    }

    std::size_t size() const { return size_; }
    std::size_t bytes() const { return slots_.size() * sizeof(std::uint64_t); }

private:
    static constexpr std::uint64_t kEmpty = 0;

    static std::uint64_t hash(std::string_view id) {
        // libstdc++'s string hash is 64 bits wide; 0 marks an empty slot, so it is moved to 1.
        const auto h = static_cast<std::uint64_t>(std::hash<std::string_view>{}(id));
        return h == kEmpty ? 1 : h;
    }

    // Linear probing; a hash already present (a repeated id, or two ids of one hash) takes a slot
    // again, which may_contain does not mind.
    static void place(std::vector<std::uint64_t>& slots, std::uint64_t h) {
        std::size_t i = h & (slots.size() - 1);
        while (slots[i] != kEmpty) i = (i + 1) & (slots.size() - 1);
        slots[i] = h;
    }

    void grow() {
        std::vector<std::uint64_t> bigger(slots_.empty() ? 1024 : slots_.size() * 2, kEmpty);
        for (const std::uint64_t h : slots_) {
            if (h != kEmpty) place(bigger, h);
        }
        slots_.swap(bigger);
    }

    std::vector<std::uint64_t> slots_;
    std::size_t size_ = 0;
};

}  // namespace extract::cache
