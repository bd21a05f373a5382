// Fuzzes the upstream's page parser (upstream/batch_json): any body a server or a proxy in
// between may send must become a BatchPage or a ParseError, never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "upstream/batch_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    using extract::upstream::BatchPage;
    const auto result = extract::upstream::parse_batch_page(body);
    if (const auto* page = std::get_if<BatchPage>(&result)) {
        // What the parser accepts, the mirror can store: every batch has an id and raw JSON,
        // and a next page has a cursor that does not restart the listing.
        for (const auto& batch : page->batches) {
            if (batch.id.empty() || batch.raw.empty()) std::abort();
        }
        if (page->next_cursor && page->next_cursor->empty()) std::abort();
    }
    (void)extract::upstream::parse_batch_detail(body);
    return 0;
}
