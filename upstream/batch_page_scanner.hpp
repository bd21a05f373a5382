#pragma once
// The fast path of parse_batch_page (see batch_page_scanner.cpp): a page as the nlohmann path
// would parse it, or nullopt when the page holds anything this path leaves to that one.

#include <optional>
#include <string_view>

#include "upstream/batch_json.hpp"

namespace extract::upstream {

std::optional<BatchPage> scan_batch_page(std::string_view body);

}  // namespace extract::upstream
