#pragma once
// The batches of one listing (all of them, or those of one status) in listing order, as
// sorted chunks of positions: a page reads contiguous memory, an insertion moves at most
// one chunk, and an entry costs 16 bytes instead of a 48-byte tree node.

#include <cstddef>
#include <iterator>
#include <vector>

#include "sim/listing_position.hpp"

namespace extract::sim {

class ListingIndex {
public:
    class Iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = ListingPosition;
        using difference_type = std::ptrdiff_t;
        using pointer = const ListingPosition*;
        using reference = const ListingPosition&;

        const ListingPosition& operator*() const { return (*chunks_)[chunk_][offset_]; }
        const ListingPosition* operator->() const { return &**this; }
        Iterator& operator++();
        Iterator operator++(int) {
            Iterator before = *this;
            ++*this;
            return before;
        }
        bool operator==(const Iterator&) const = default;

    private:
        friend class ListingIndex;
        Iterator(const std::vector<std::vector<ListingPosition>>* chunks, std::size_t chunk, std::size_t offset)
            : chunks_(chunks), chunk_(chunk), offset_(offset) {}
        const std::vector<std::vector<ListingPosition>>* chunks_;
        std::size_t chunk_;
        std::size_t offset_;
    };

    void insert(const ListingPosition& position);
    // Many at once (sorted or not, none present yet): one merge instead of many insertions.
    void insert_many(std::vector<ListingPosition> positions);
    void erase(const ListingPosition& position);  // no-op when absent
    std::size_t size() const { return size_; }

    Iterator begin() const { return {&chunks_, 0, 0}; }
    Iterator end() const { return {&chunks_, chunks_.size(), 0}; }
    // The first position after `position`.
    Iterator upper_bound(const ListingPosition& position) const;

private:
    // The first chunk whose last position is >= `position` (or > with `strictly`).
    std::size_t chunk_for(const ListingPosition& position, bool strictly) const;

    std::vector<std::vector<ListingPosition>> chunks_;  // each sorted, none empty, in order
    std::size_t size_ = 0;
};

}  // namespace extract::sim
