#include "core/percent_encode.hpp"

#include <Poco/URI.h>

namespace extract {

std::string percent_encode(std::string_view text) {
    std::string out;
    // Poco encodes controls, non-ASCII bytes and its own "illegal" set; the rest of the
    // punctuation RFC 3986 reserves is named here.
    Poco::URI::encode(std::string(text), "!#$&'()*+,/:;=?@[]%\" <>\\^`{|}", out);
    return out;
}

}  // namespace extract
