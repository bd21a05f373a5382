#pragma once
// Which slot holds the live batch with a given id: open addressing with linear probing. An
// entry is the slot and 32 bits of the id's hash; the id itself is read from the record only
// when those bits match, so a probe rarely leaves this table's memory. Up to 2^31 entries.

#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <vector>

#include "sim/batch_record.hpp"

namespace extract::sim {

class SlotsById {
public:
    explicit SlotsById(const std::deque<BatchRecord>& records) : records_(records) {}

    std::optional<std::uint32_t> find(std::string_view id) const;
    bool contains(std::string_view id) const { return find(id).has_value(); }
    // The id is read from records[slot]; it must not be present yet.
    void insert(std::uint32_t slot);
    // Call before the record's id changes.
    void erase(std::uint32_t slot);
    // Room for `count` entries without growing.
    void reserve(std::size_t count);
    std::size_t size() const { return size_; }

private:
    // The low 32 bits of the id's hash << 32 | slot. The bucket comes from those bits too, so
    // growing and deleting never read a record.
    using Entry = std::uint64_t;
    static constexpr Entry kEmpty = UINT64_MAX;
    static std::uint32_t tag_of(std::string_view id);
    static std::uint32_t tag_of(Entry e) { return static_cast<std::uint32_t>(e >> 32); }
    static std::uint32_t slot_of(Entry e) { return static_cast<std::uint32_t>(e); }
    std::size_t home_of(std::uint32_t tag) const { return tag & (table_.size() - 1); }
    void place(Entry e);
    void rebuild(std::size_t capacity);

    const std::deque<BatchRecord>& records_;
    std::vector<Entry> table_;  // a power of two long, at most half full
    std::size_t size_ = 0;
};

}  // namespace extract::sim
