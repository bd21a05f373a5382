// The fast path of parse_batch_page: one pass over the body that writes each batch's canonical
// text and reads its fields without building a JSON tree. It takes what ordinary pages are made
// of and gives up (nullopt) on anything else, leaving the page to the nlohmann path, whose
// answer (a ParseError, a batch set aside, a float re-printed) is the reference: wherever this
// path answers, it answers exactly as that one would (tests/upstream/batch_page_scanner_test.cpp,
// and the batch_page fuzzer compares the two on every input).
//
// Given up on: numbers other than integers of at most 18 digits ("-0", fractions and exponents
// are re-printed by nlohmann in its own way), a repeated key in an object, nesting beyond
// kMaxBatchNesting, invalid UTF-8 or JSON, a field of the wrong type, unknown top-level shapes.
// Escapes are decoded and written again as nlohmann writes them.

#include "upstream/batch_page_scanner.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_text.hpp"

namespace extract::upstream {
namespace {

enum class Kind { string, integer, object, array, literal_true, literal_false, null };

class Scanner {
public:
    explicit Scanner(std::string_view text) : text_(text) {}

    bool at_end() {
        skip_space();
        return pos_ == text_.size();
    }
    bool consume(char c) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    char peek() {
        skip_space();
        return pos_ < text_.size() ? text_[pos_] : '\0';
    }

    // A string at the cursor, decoded into `out` (replacing it). False when it is not a valid
    // JSON string of valid UTF-8.
    bool string(std::string& out) {
        out.clear();
        if (!consume('"')) return false;
        const std::size_t start = pos_;
        // The common case: no escape, ASCII only, copied at once.
        while (pos_ < text_.size()) {
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            ++pos_;
        }
        out.assign(text_.data() + start, pos_ - start);
        while (pos_ < text_.size()) {
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (c < 0x20) return false;
            if (c == '\\') {
                if (!escape(out)) return false;
            } else if (c >= 0x80) {
                if (!utf8(out)) return false;
            } else {
                out.push_back(static_cast<char>(c));
                ++pos_;
            }
        }
        return false;
    }

    // An integer of at most 18 digits (it fits in 64 bits either way), not "-0", with nothing
    // of a fraction or an exponent after it; appended to `out` as it is written.
    bool integer(std::string& out, std::int64_t& value) {
        skip_space();
        const std::size_t start = pos_;
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        const std::size_t digits = pos_;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
        const std::size_t n = pos_ - digits;
        if (n == 0 || n > 18 || (n > 1 && text_[digits] == '0')) return false;
        if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) return false;
        const std::string_view token = text_.substr(start, pos_ - start);
        if (token == "-0") return false;
        std::from_chars(token.data(), token.data() + token.size(), value);
        out.append(token);
        return true;
    }

    bool literal(std::string_view word) {
        skip_space();
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

private:
    void skip_space() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t')) {
            ++pos_;
        }
    }

    bool hex4(std::uint32_t& value) {
        if (pos_ + 4 > text_.size()) return false;
        value = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            value <<= 4;
            if (c >= '0' && c <= '9')
                value |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                value |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                value |= static_cast<std::uint32_t>(c - 'A' + 10);
            else
                return false;
        }
        return true;
    }

    bool escape(std::string& out) {
        ++pos_;  // the backslash
        if (pos_ >= text_.size()) return false;
        const char c = text_[pos_++];
        switch (c) {
            case '"': out.push_back('"'); return true;
            case '\\': out.push_back('\\'); return true;
            case '/': out.push_back('/'); return true;
            case 'b': out.push_back('\b'); return true;
            case 'f': out.push_back('\f'); return true;
            case 'n': out.push_back('\n'); return true;
            case 'r': out.push_back('\r'); return true;
            case 't': out.push_back('\t'); return true;
            case 'u': break;
            default: return false;
        }
        std::uint32_t code = 0;
        if (!hex4(code)) return false;
        if (code >= 0xDC00 && code <= 0xDFFF) return false;  // a low surrogate alone
        if (code >= 0xD800 && code <= 0xDBFF) {
            std::uint32_t low = 0;
            if (text_.substr(pos_, 2) != "\\u") return false;
            pos_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, code);
        return true;
    }

    static void append_utf8(std::string& out, std::uint32_t code) {
        if (code < 0x80) {
            out.push_back(static_cast<char>(code));
        } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else if (code < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (code >> 18)));
            out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
    }

    // One well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
    // U+10FFFF), copied.
    bool utf8(std::string& out) {
        const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text_[i]); };
        const unsigned char lead = byte(pos_);
        std::size_t length = 0;
        unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) low = 0xA0;
            if (lead == 0xED) high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) low = 0x90;
            if (lead == 0xF4) high = 0x8F;
        } else {
            return false;
        }
        if (pos_ + length > text_.size()) return false;
        if (byte(pos_ + 1) < low || byte(pos_ + 1) > high) return false;
        for (std::size_t i = 2; i < length; ++i) {
            if (byte(pos_ + i) < 0x80 || byte(pos_ + i) > 0xBF) return false;
        }
        out.append(text_.data() + pos_, length);
        pos_ += length;
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

// A batch object's top-level fields as read, before they are checked.
struct Field {
    Kind kind = Kind::null;
    std::string text;         // a string's decoded value
    std::int64_t number = 0;  // an integer's value
    std::size_t begin = 0;    // an object's canonical text in the output
    std::size_t end = 0;
};

// A member of an object as written in input order: its key (decoded, in the object's key
// buffer) and where its text lies in the output.
struct Member {
    std::size_t key_begin, key_length;
    std::size_t begin, end;
};

struct ObjectScratch {
    std::vector<Member> members;
    std::string keys;
    std::vector<std::size_t> order;
    std::vector<std::size_t> moved_to;
    std::string text;
};

class PageReader {
public:
    // One scratch per level a batch may open (levels 1..kMaxBatchNesting), made up front: a
    // reference to one stays good while deeper levels use theirs.
    explicit PageReader(std::string_view body)
        : scan_(body), scratch_(static_cast<std::size_t>(kMaxBatchNesting) + 1) {}

    std::optional<BatchPage> page() {
        if (!scan_.consume('{')) return std::nullopt;
        BatchPage out;
        bool seen_data = false, seen_cursor = false;
        std::vector<std::string> other_keys;
        std::string key;
        std::string ignored;
        if (!scan_.consume('}')) {
            do {
                if (!scan_.string(key) || !scan_.consume(':')) return std::nullopt;
                if (key == "data") {
                    if (seen_data || !batches(out.batches)) return std::nullopt;
                    seen_data = true;
                } else if (key == "next_cursor") {
                    if (seen_cursor) return std::nullopt;
                    seen_cursor = true;
                    if (scan_.literal("null")) continue;
                    std::string cursor;
                    if (scan_.peek() != '"' || !scan_.string(cursor) || cursor.empty()) return std::nullopt;
                    out.next_cursor = std::move(cursor);
                } else {
                    // Any other key ("object": "list", or one the contract does not name yet)
                    // once, its value only checked.
                    if (std::find(other_keys.begin(), other_keys.end(), key) != other_keys.end()) return std::nullopt;
                    other_keys.push_back(key);
                    ignored.clear();
                    Kind kind{};
                    if (!value(ignored, 1, kind, nullptr)) return std::nullopt;
                }
            } while (scan_.consume(','));
            if (!scan_.consume('}')) return std::nullopt;
        }
        if (!seen_data || !scan_.at_end()) return std::nullopt;
        return out;
    }

private:
    bool batches(std::vector<Batch>& out) {
        if (!scan_.consume('[')) return false;
        if (scan_.consume(']')) return true;
        do {
            if (scan_.peek() != '{') return false;
            Batch batch;
            if (!batch_object(batch)) return false;
            if (auto problem = batch_id_problem(batch.id)) batch.set_aside = std::move(problem);
            out.push_back(std::move(batch));
        } while (scan_.consume(','));
        return scan_.consume(']');
    }

    // The batch object at the cursor: its canonical text into batch.raw and its fields checked
    // as parse_batch checks them.
    bool batch_object(Batch& batch) {
        raw_.clear();
        fields_.clear();
        counts_fields_.clear();
        Kind kind{};
        if (!value(raw_, 1, kind, &fields_)) return false;
        const auto field = [&](std::string_view name) -> const Field* {
            for (const auto& [key, f] : fields_) {
                if (key == name) return &f;
            }
            return nullptr;
        };
        const auto required_string = [&](std::string_view name, std::string& into) {
            const Field* f = field(name);
            if (!f || f->kind != Kind::string) return false;
            into = f->text;
            return true;
        };
        const auto optional_string = [&](std::string_view name, std::optional<std::string>& into) {
            const Field* f = field(name);
            if (!f || f->kind == Kind::null) return true;
            if (f->kind != Kind::string) return false;
            into = f->text;
            return true;
        };
        if (!required_string("id", batch.id) || batch.id.empty()) return false;
        if (const Field* object = field("object"); object && object->kind != Kind::string) return false;
        if (!required_string("status", batch.status)) return false;
        const Field* counts = field("counts");
        if (!counts || counts->kind != Kind::object) return false;
        for (const auto& [name, f] : counts_fields_) {  // only integers; a missing one is 0
            std::int64_t* slot = name == "pending"     ? &batch.counts.pending
                                 : name == "running"   ? &batch.counts.running
                                 : name == "succeeded" ? &batch.counts.succeeded
                                 : name == "failed"    ? &batch.counts.failed
                                 : name == "cancelled" ? &batch.counts.cancelled
                                                       : nullptr;
            if (!slot) continue;
            if (f.kind != Kind::integer) return false;
            *slot = f.number;
        }
        const Field* total = field("total_items");
        if (!total || total->kind != Kind::integer) return false;
        batch.total_items = total->number;
        if (!field("engine") || !optional_string("engine", batch.engine)) return false;
        const Field* options = field("options");
        if (!options || options->kind != Kind::object) return false;
        if (const Field* metadata = field("metadata"); metadata && metadata->kind != Kind::null) {
            if (metadata->kind != Kind::object) return false;
            batch.metadata = raw_.substr(metadata->begin, metadata->end - metadata->begin);
        }
        if (!required_string("created_at", batch.created_at)) return false;
        if (!optional_string("started_at", batch.started_at)) return false;
        if (!optional_string("completed_at", batch.completed_at)) return false;
        if (!required_string("expires_at", batch.expires_at)) return false;
        batch.raw = raw_;
        return true;
    }

    // Writes the canonical text of the value at the cursor to `out`. `depth` is the level of a
    // container opened here (the batch object is 1). `fields`: for the batch object (and its
    // "counts"), its members as read.
    bool value(std::string& out, int depth, Kind& kind, std::vector<std::pair<std::string, Field>>* fields) {
        switch (scan_.peek()) {
            case '"': {
                kind = Kind::string;
                if (!scan_.string(text_)) return false;
                append_json_string(out, text_);
                return true;
            }
            case '{': kind = Kind::object; return depth <= kMaxBatchNesting && object(out, depth, fields);
            case '[': {
                kind = Kind::array;
                if (depth > kMaxBatchNesting) return false;
                scan_.consume('[');
                out.push_back('[');
                if (scan_.consume(']')) {
                    out.push_back(']');
                    return true;
                }
                bool first = true;
                do {
                    if (!first) out.push_back(',');
                    first = false;
                    Kind inner{};
                    if (!value(out, depth + 1, inner, nullptr)) return false;
                } while (scan_.consume(','));
                if (!scan_.consume(']')) return false;
                out.push_back(']');
                return true;
            }
            case 't':
                kind = Kind::literal_true;
                out += "true";
                return scan_.literal("true");
            case 'f':
                kind = Kind::literal_false;
                out += "false";
                return scan_.literal("false");
            case 'n':
                kind = Kind::null;
                out += "null";
                return scan_.literal("null");
            default: kind = Kind::integer; return scan_.integer(out, number_);
        }
    }

    bool object(std::string& out, int depth, std::vector<std::pair<std::string, Field>>* fields) {
        scan_.consume('{');
        const std::size_t start = out.size();
        out.push_back('{');
        // Buffers kept per level, so that a page allocates them once.
        ObjectScratch& scratch = scratch_[static_cast<std::size_t>(depth)];
        std::vector<Member>& members = scratch.members;
        std::string& keys = scratch.keys;
        members.clear();
        keys.clear();
        if (!scan_.consume('}')) {
            do {
                if (!scan_.string(key_) || !scan_.consume(':')) return false;
                if (!members.empty()) out.push_back(',');
                Member member{keys.size(), key_.size(), out.size(), 0};
                keys += key_;
                append_json_string(out, key_);
                out.push_back(':');
                const std::size_t value_begin = out.size();
                // The members of the batch's "counts" are read as fields too.
                const bool is_counts = fields == &fields_ && key_ == "counts";
                Kind kind{};
                if (!value(out, depth + 1, kind, is_counts ? &counts_fields_ : nullptr)) return false;
                member.end = out.size();
                members.push_back(member);
                if (fields) {
                    Field f;
                    f.kind = kind;
                    f.begin = value_begin;
                    f.end = out.size();
                    if (kind == Kind::string) f.text = text_;
                    if (kind == Kind::integer) f.number = number_;
                    fields->emplace_back(keys.substr(member.key_begin, member.key_length), std::move(f));
                }
            } while (scan_.consume(','));
            if (!scan_.consume('}')) return false;
        }
        const auto key = [&](const Member& m) { return std::string_view(keys).substr(m.key_begin, m.key_length); };
        // nlohmann keeps an object's members in a std::map: sorted by key, bytes compared as
        // unsigned (std::char_traits<char>). A repeated key, whose later value wins there, is
        // left to that path.
        std::vector<std::size_t>& order = scratch.order;
        order.resize(members.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        const auto by_key = [&](std::size_t a, std::size_t b) { return key(members[a]) < key(members[b]); };
        if (!std::is_sorted(order.begin(), order.end(), by_key)) {
            std::sort(order.begin(), order.end(), by_key);
            std::string& text = scratch.text;
            text.assign(1, '{');
            std::vector<std::size_t>& moved_to = scratch.moved_to;
            moved_to.resize(members.size());
            for (const std::size_t i : order) {
                if (text.size() > 1) text.push_back(',');
                moved_to[i] = start + text.size();
                text.append(out, members[i].begin, members[i].end - members[i].begin);
            }
            if (fields) {  // the batch's fields, parallel to its members, moved with them
                for (std::size_t i = 0; i < members.size(); ++i) {
                    Field& f = (*fields)[i].second;
                    const std::size_t shift_from = members[i].begin;
                    f.begin = f.begin - shift_from + moved_to[i];
                    f.end = f.end - shift_from + moved_to[i];
                }
            }
            out.resize(start);
            out += text;
        }
        for (std::size_t i = 1; i < order.size(); ++i) {
            if (key(members[order[i - 1]]) == key(members[order[i]])) return false;
        }
        out.push_back('}');
        return true;
    }

    Scanner scan_;
    std::vector<ObjectScratch> scratch_;
    std::string raw_;
    std::vector<std::pair<std::string, Field>> fields_;
    std::vector<std::pair<std::string, Field>> counts_fields_;
    std::string text_;         // the last string value read
    std::int64_t number_ = 0;  // the last integer read
    std::string key_;          // the last key read
};

}  // namespace

std::optional<BatchPage> scan_batch_page(std::string_view body) { return PageReader(body).page(); }

}  // namespace extract::upstream
