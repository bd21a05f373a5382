#include "sim/slots_by_id.hpp"

#include <algorithm>
#include <bit>
#include <functional>

namespace extract::sim {

std::uint32_t SlotsById::tag_of(std::string_view id) {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(id));
}

std::optional<std::uint32_t> SlotsById::find(std::string_view id) const {
    if (table_.empty()) return std::nullopt;
    const std::uint32_t tag = tag_of(id);
    const std::size_t mask = table_.size() - 1;
    for (std::size_t i = home_of(tag);; i = (i + 1) & mask) {
        const Entry e = table_[i];
        if (e == kEmpty) return std::nullopt;
        if (tag_of(e) == tag && records_[slot_of(e)].id_view() == id) return slot_of(e);
    }
}

void SlotsById::insert(std::uint32_t slot) {
    if ((size_ + 1) * 2 > table_.size()) rebuild(std::max<std::size_t>(16, table_.size() * 2));
    place((Entry{tag_of(records_[slot].id_view())} << 32) | slot);
    ++size_;
}

void SlotsById::place(Entry e) {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = home_of(tag_of(e));
    while (table_[i] != kEmpty) i = (i + 1) & mask;
    table_[i] = e;
}

void SlotsById::erase(std::uint32_t slot) {
    if (table_.empty()) return;
    const std::size_t mask = table_.size() - 1;
    std::size_t hole = home_of(tag_of(records_[slot].id_view()));
    while (table_[hole] == kEmpty || slot_of(table_[hole]) != slot) {
        if (table_[hole] == kEmpty) return;
        hole = (hole + 1) & mask;
    }
    // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups
    // never need tombstones.
    for (std::size_t next = (hole + 1) & mask; table_[next] != kEmpty; next = (next + 1) & mask) {
        const std::size_t home = home_of(tag_of(table_[next]));
        // `next` may move to `hole` unless its home lies cyclically in (hole, next].
        const bool home_between = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
        if (!home_between) {
            table_[hole] = table_[next];
            hole = next;
        }
    }
    table_[hole] = kEmpty;
    --size_;
}

void SlotsById::reserve(std::size_t count) {
    if (count * 2 > table_.size()) rebuild(std::bit_ceil(count * 2));
}

void SlotsById::rebuild(std::size_t capacity) {
    std::vector<Entry> old(capacity, kEmpty);
    old.swap(table_);
    for (const Entry e : old) {
        if (e != kEmpty) place(e);
    }
}

}  // namespace extract::sim
