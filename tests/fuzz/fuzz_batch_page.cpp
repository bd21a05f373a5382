// Fuzzes the upstream's page parser (upstream/batch_json): any body a server or a proxy in
// between may send must become a BatchPage or a ParseError, never a crash or an exception; and
// wherever its fast path (scan_batch_page) answers, the answer is the nlohmann tree's, to the byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "core/batch.hpp"
#include "upstream/batch_json.hpp"
#include "upstream/batch_page_scanner.hpp"

namespace {

// The deepest nesting of arrays and objects in JSON text, counted without recursion.
int nesting(std::string_view json) {
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < json.size(); ++i) {
        const char c = json[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

// What the mirror is handed is storable, or set aside with a reason: never a batch whose raw
// text nests deeper than the limit or whose id the mirror cannot key.
void check(const extract::Batch& batch) {
    if (batch.id.empty()) std::abort();
    if (batch.set_aside) {
        if (batch.set_aside->empty()) std::abort();
        return;
    }
    if (batch.raw.empty() || extract::batch_id_problem(batch.id)) std::abort();
    if (nesting(batch.raw) > extract::kMaxBatchNesting) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    using extract::upstream::BatchPage;
    const auto result = extract::upstream::parse_batch_page(body);
    const auto result_detail = extract::upstream::parse_batch_detail(body);
    if (const auto* page = std::get_if<BatchPage>(&result)) {
        // What the parser accepts, the mirror can store (or sets aside), and a next page has a
        // cursor that does not restart the listing.
        for (const auto& batch : page->batches) check(batch);
        if (page->next_cursor && page->next_cursor->empty()) std::abort();
    }
    if (const auto* batch = std::get_if<extract::Batch>(&result_detail)) check(*batch);
    if (const auto fast = extract::upstream::scan_batch_page(body)) {
        const auto tree = extract::upstream::parse_batch_page_tree(body);
        const auto* reference = std::get_if<BatchPage>(&tree);
        if (!reference || reference->batches != fast->batches || reference->next_cursor != fast->next_cursor)
            std::abort();
    }
    return 0;
}
