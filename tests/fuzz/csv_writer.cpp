// Fuzz target: CSV export. The input is split into rows at 0x1E and cells at 0x1F; the first row
// is the header. Properties: a row is written exactly when it has the header's width and valid
// UTF-8; an RFC 4180 reader gets every written cell back, neutralised cells with a leading quote.
#include <heroshhi/sanitize/csv.hpp>
#include <heroshhi/sanitize/errors.hpp>
#include <heroshhi/sanitize/utf8.hpp>

#include "../support/text_decoders.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == sep) {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace heroshhi;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto rows = split(text, '\x1e');
    const auto header = split(rows[0], '\x1f');
    for (const auto cell : header)
        if (!sanitize::validate_utf8(cell)) return 0;
    sanitize::CsvWriter csv(header);
    std::vector<std::vector<std::string_view>> written{header};
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const auto cells = split(rows[r], '\x1f');
        bool valid = cells.size() == header.size();
        for (const auto cell : cells) valid = valid && sanitize::validate_utf8(cell).has_value();
        const auto result = csv.row(cells);
        FUZZ_CHECK(result.has_value() == valid);
        if (result) written.push_back(cells);
    }
    FUZZ_CHECK(csv.rows() + 1 == written.size());
    const auto parsed = test_support::parse_csv(csv.str());
    FUZZ_CHECK(parsed.has_value());
    FUZZ_CHECK(parsed->size() == written.size());
    for (std::size_t r = 0; r < written.size(); ++r) {
        FUZZ_CHECK((*parsed)[r].size() == written[r].size());
        for (std::size_t c = 0; c < written[r].size(); ++c) {
            const std::string_view original = written[r][c];
            const std::string expected =
                sanitize::csv_cell_needs_neutralising(original) ? "'" + std::string(original) : std::string(original);
            FUZZ_CHECK((*parsed)[r][c] == expected);
        }
    }
    return 0;
}
