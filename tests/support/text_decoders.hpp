// Test support: independent decoders that read heroshhi's encoded output the way a browser or a
// spreadsheet would, so tests and fuzz targets can check "renders as the original text".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heroshhi::test_support {

/// Appends code point `cp` as UTF-8.
inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// Decodes HTML character references as a browser does in text and attribute values: the named
/// references heroshhi writes (&amp; &lt; &gt; &quot;) and numeric ones (&#NN; &#xHH;). Returns
/// nullopt if the text contains `<`, `>`, `"` or `'` outside a reference (it could be markup or
/// end an attribute), or an `&` that does not start one of those references. With
/// `attribute_strict`, every ASCII byte other than letters, digits and `,.-_` outside a reference
/// is refused too (OWASP's attribute rule: inert even unquoted).
inline std::optional<std::string> decode_html(std::string_view s, bool attribute_strict = false) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        const char c = s[i];
        if (c == '<' || c == '>' || c == '"' || c == '\'') return std::nullopt;
        if (attribute_strict && c != '&' && static_cast<unsigned char>(c) < 0x80) {
            const bool safe = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ',' ||
                              c == '.' || c == '-' || c == '_';
            if (!safe) return std::nullopt;
        }
        if (c != '&') {
            out += c;
            ++i;
            continue;
        }
        const std::size_t semi = s.find(';', i);
        if (semi == std::string_view::npos) return std::nullopt;
        const std::string_view ref = s.substr(i + 1, semi - i - 1);
        if (ref == "amp") out += '&';
        else if (ref == "lt") out += '<';
        else if (ref == "gt") out += '>';
        else if (ref == "quot") out += '"';
        else if (ref.size() >= 2 && ref[0] == '#') {
            std::uint32_t cp = 0;
            const bool hex = ref[1] == 'x' || ref[1] == 'X';
            const std::string_view digits = ref.substr(hex ? 2 : 1);
            if (digits.empty() || digits.size() > 6) return std::nullopt;
            for (const char d : digits) {
                int v = -1;
                if (d >= '0' && d <= '9') v = d - '0';
                else if (hex && d >= 'a' && d <= 'f') v = d - 'a' + 10;
                else if (hex && d >= 'A' && d <= 'F') v = d - 'A' + 10;
                if (v < 0) return std::nullopt;
                cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
            }
            append_utf8(out, cp);
        } else {
            return std::nullopt;
        }
        i = semi + 1;
    }
    return out;
}

/// Reads an RFC 4180 document (CRLF or LF line ends, quoted fields with doubled quotes) the way a
/// spreadsheet imports it. Returns nullopt for a malformed document (a stray quote, an
/// unterminated quoted field).
inline std::optional<std::vector<std::vector<std::string>>> parse_csv(std::string_view s) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string cell;
    std::size_t i = 0;
    bool row_open = false;
    while (i < s.size()) {
        row_open = true;
        if (s[i] == '"') {
            ++i;
            for (;;) {
                if (i >= s.size()) return std::nullopt;
                if (s[i] == '"') {
                    if (i + 1 < s.size() && s[i + 1] == '"') {
                        cell += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                cell += s[i++];
            }
            if (i < s.size() && s[i] != ',' && s[i] != '\r' && s[i] != '\n') return std::nullopt;
        } else {
            while (i < s.size() && s[i] != ',' && s[i] != '\r' && s[i] != '\n') {
                if (s[i] == '"') return std::nullopt;
                cell += s[i++];
            }
        }
        if (i < s.size() && s[i] == ',') {
            row.push_back(std::move(cell));
            cell.clear();
            ++i;
            if (i == s.size()) row_open = true;
            continue;
        }
        row.push_back(std::move(cell));
        cell.clear();
        rows.push_back(std::move(row));
        row.clear();
        row_open = false;
        if (i < s.size() && s[i] == '\r') ++i;
        if (i < s.size() && s[i] == '\n') ++i;
    }
    if (row_open) {
        row.push_back(std::move(cell));
        rows.push_back(std::move(row));
    }
    return rows;
}

}  // namespace heroshhi::test_support
