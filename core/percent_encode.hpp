#pragma once
// RFC 3986 percent-encoding of one query value or path segment, as the upstream client and
// extractctl build their URLs: only unreserved characters (letters, digits, "-._~") stay, so
// that a "+" in a time zone or a "/" in an id survives the trip.

#include <string>
#include <string_view>

namespace extract {

std::string percent_encode(std::string_view text);

}  // namespace extract
