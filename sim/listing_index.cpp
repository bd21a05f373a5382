#include "sim/listing_index.hpp"

#include <algorithm>
#include <iterator>

namespace extract::sim {
namespace {

// Big enough that a page rarely crosses chunks, small enough that an insertion moves little.
constexpr std::size_t kMaxChunk = 1024;
constexpr std::size_t kBulkChunk = kMaxChunk * 3 / 4;  // room to grow before the first split

}  // namespace

ListingIndex::Iterator& ListingIndex::Iterator::operator++() {
    if (++offset_ == (*chunks_)[chunk_].size()) {
        ++chunk_;
        offset_ = 0;
    }
    return *this;
}

std::size_t ListingIndex::chunk_for(const ListingPosition& position, bool strictly) const {
    const auto it =
        std::partition_point(chunks_.begin(), chunks_.end(), [&](const std::vector<ListingPosition>& chunk) {
            return strictly ? chunk.back() <= position : chunk.back() < position;
        });
    return static_cast<std::size_t>(it - chunks_.begin());
}

void ListingIndex::insert(const ListingPosition& position) {
    ++size_;
    if (chunks_.empty()) {
        chunks_.push_back({position});
        return;
    }
    const std::size_t c = std::min(chunk_for(position, false), chunks_.size() - 1);
    auto& chunk = chunks_[c];
    chunk.insert(std::lower_bound(chunk.begin(), chunk.end(), position), position);
    if (chunk.size() > kMaxChunk) {
        std::vector<ListingPosition> upper(chunk.begin() + kMaxChunk / 2, chunk.end());
        chunk.resize(kMaxChunk / 2);
        chunk.shrink_to_fit();
        chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(c) + 1, std::move(upper));
    }
}

void ListingIndex::insert_many(std::vector<ListingPosition> positions) {
    std::sort(positions.begin(), positions.end());
    std::vector<ListingPosition> merged;
    merged.reserve(size_ + positions.size());
    std::merge(begin(), end(), positions.begin(), positions.end(), std::back_inserter(merged));
    chunks_.clear();
    for (std::size_t at = 0; at < merged.size(); at += kBulkChunk) {
        const auto from = merged.begin() + static_cast<std::ptrdiff_t>(at);
        chunks_.emplace_back(from, from + static_cast<std::ptrdiff_t>(std::min(kBulkChunk, merged.size() - at)));
    }
    size_ = merged.size();
}

void ListingIndex::erase(const ListingPosition& position) {
    const std::size_t c = chunk_for(position, false);
    if (c == chunks_.size()) return;
    auto& chunk = chunks_[c];
    const auto it = std::lower_bound(chunk.begin(), chunk.end(), position);
    if (it == chunk.end() || *it != position) return;
    chunk.erase(it);
    --size_;
    if (chunk.empty()) chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c));
}

ListingIndex::Iterator ListingIndex::upper_bound(const ListingPosition& position) const {
    const std::size_t c = chunk_for(position, true);
    if (c == chunks_.size()) return end();
    const auto& chunk = chunks_[c];
    const auto it = std::upper_bound(chunk.begin(), chunk.end(), position);
    return {&chunks_, c, static_cast<std::size_t>(it - chunk.begin())};
}

}  // namespace extract::sim
