#pragma once
// The wire format of the extract API's batch resources, parsed defensively: every way a
// body can differ from the contract is a ParseError naming the field, never an exception.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/batch.hpp"

namespace extract::upstream {

// One page of GET /v1/batches.
struct BatchPage {
    std::vector<Batch> batches;
    std::optional<std::string> next_cursor;  // nullopt on the last page
};

struct ParseError {
    std::string message;  // names the field: "data[3].counts.pending: expected an integer, got string"
};

// Body of GET /v1/batches: {"object":"list","data":[...],"next_cursor":...}. An ordinary page
// is read in one pass without a JSON tree (scan_batch_page); any other goes to
// parse_batch_page_tree, which gives the same answer for every page the first one reads.
std::variant<BatchPage, ParseError> parse_batch_page(std::string_view body);
// The reference: nlohmann's tree, every field checked, every error named. For tests and the fuzzer.
std::variant<BatchPage, ParseError> parse_batch_page_tree(std::string_view body);

// Body of GET /v1/batches/{id}: the batch itself; its "items" and "next_cursor" (the items'
// paging) are not part of the batch and are left out of Batch::raw.
std::variant<Batch, ParseError> parse_batch_detail(std::string_view body);

// One BatchResource object; `where` prefixes field names in messages (e.g. "data[3]", or "").
std::variant<Batch, ParseError> parse_batch(const nlohmann::json& object, std::string_view where);

}  // namespace extract::upstream
